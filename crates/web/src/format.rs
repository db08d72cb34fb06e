//! How the dashboard writes money, time and durations for people, and reads amounts they type.
//!
//! The API speaks integer minor units only. People think in major units (98.00), so the dashboard
//! converts at its edge, with each currency's number of decimals, and never through a float.

use holdfast_domain::{Currency, Timestamp};

/// Decimals of a currency's minor unit (ISO 4217): 0 for JPY, 3 for KWD, 2 for most.
pub fn decimals(currency: Currency) -> u32 {
    match currency.as_str() {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `12900` USD → `129.00`; thousands are grouped (`1,234.50`).
pub fn major(amount: i64, currency: Currency) -> String {
    let places = decimals(currency);
    let scale = 10_i64.pow(places);
    let negative = amount < 0;
    let abs = amount.unsigned_abs();
    let scale = scale.unsigned_abs();
    let (whole, fraction) = (abs / scale, abs % scale);
    let digits = whole.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if negative { "-" } else { "" };
    if places == 0 {
        format!("{sign}{grouped}")
    } else {
        format!(
            "{sign}{grouped}.{fraction:0width$}",
            width = places as usize
        )
    }
}

/// `129.00 USD`.
pub fn money(amount: i64, currency: Currency) -> String {
    format!("{} {currency}", major(amount, currency))
}

/// `12900` USD → `129.00`, as an input field's value: no grouping, so it reads back.
pub fn major_plain(amount: i64, currency: Currency) -> String {
    major(amount, currency).replace(',', "")
}

/// Reads an amount typed in major units (`98`, `98.5`, `1,098.00`) into minor units. Refuses
/// negative amounts, more decimals than the currency has, and anything that is not a number.
pub fn parse_major(typed: &str, currency: Currency) -> Result<i64, String> {
    let places = decimals(currency);
    let cleaned: String = typed
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != ' ')
        .collect();
    let example = if places == 0 {
        "an amount such as 980".to_owned()
    } else {
        format!("an amount such as 98.{}", "0".repeat(places as usize))
    };
    let bad = || format!("Enter {example} in {currency}.");
    if cleaned.is_empty() || cleaned.starts_with('-') {
        return Err(bad());
    }
    let (whole, fraction) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(bad());
    }
    if !whole.chars().all(|c| c.is_ascii_digit()) || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    if fraction.len() > places as usize {
        return Err(if places == 0 {
            format!("{currency} has no minor unit: enter a whole amount.")
        } else {
            format!("{currency} has {places} decimals: enter {example}.")
        });
    }
    let too_large = || format!("That amount is too large for {currency}.");
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let padded = format!("{fraction:0<width$}", width = places as usize);
    let fraction: i64 = if padded.is_empty() {
        0
    } else {
        padded.parse().map_err(|_| bad())?
    };
    whole
        .checked_mul(10_i64.pow(places))
        .and_then(|w| w.checked_add(fraction))
        .ok_or_else(too_large)
}

/// `2026-07-03 02:57:20 UTC`.
pub fn datetime(t: Timestamp) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp(t.seconds())
        .ok()
        .and_then(|d| d.format(format).ok())
        .unwrap_or_else(|| t.seconds().to_string())
}

/// `2026-07-03T02:57:20Z`: the machine-readable form, for `<time datetime>`.
pub fn rfc3339(t: Timestamp) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(t.seconds())
        .ok()
        .and_then(|d| d.format(format).ok())
        .unwrap_or_else(|| t.seconds().to_string())
}

/// `2026-07-03T02:57`: a `datetime-local` input's value, in UTC.
pub fn datetime_local(t: Timestamp) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp(t.seconds())
        .ok()
        .and_then(|d| d.format(format).ok())
        .unwrap_or_default()
}

/// Reads a `datetime-local` value (`2026-07-03T02:57`, seconds optional) as UTC.
pub fn parse_datetime_local(value: &str) -> Option<Timestamp> {
    let value = value.trim();
    let with_seconds = if value.len() == 16 {
        format!("{value}:00")
    } else {
        value.to_owned()
    };
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let parsed = time::PrimitiveDateTime::parse(&with_seconds, format).ok()?;
    Some(Timestamp(parsed.assume_utc().unix_timestamp()))
}

/// `2026-07-03`: the UTC day a time falls on.
pub fn day(t: Timestamp) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp(t.seconds())
        .ok()
        .and_then(|d| d.format(format).ok())
        .unwrap_or_default()
}

/// Time left until a deadline: `6 h 12 min`, `2 d 4 h`, `45 min`, `under a minute`; `expired`
/// once it has passed.
pub fn time_left(seconds: i64) -> String {
    if seconds < 0 {
        return "expired".into();
    }
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
    );
    match (d, h, m) {
        (0, 0, 0) => "under a minute".into(),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// How urgent a deadline is: under 24 hours, under 72 hours, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    Expired,
    Within24h,
    Within72h,
    Later,
}

impl Band {
    pub fn of(seconds_left: i64) -> Band {
        match seconds_left {
            s if s < 0 => Band::Expired,
            s if s < 24 * 3600 => Band::Within24h,
            s if s < 72 * 3600 => Band::Within72h,
            _ => Band::Later,
        }
    }

    /// The CSS class that colours a row.
    pub fn class(self) -> &'static str {
        match self {
            Band::Expired => "band-expired",
            Band::Within24h => "band-24",
            Band::Within72h => "band-72",
            Band::Later => "",
        }
    }

    /// The words beside the colour, so the band is not told by colour alone.
    pub fn label(self) -> &'static str {
        match self {
            Band::Expired => "Expired",
            Band::Within24h => "Under 24 h",
            Band::Within72h => "Under 72 h",
            Band::Later => "",
        }
    }
}

/// `requires_capture` → `Requires capture`.
pub fn humanize(snake: &str) -> String {
    let mut words = snake.replace(['_', '.'], " ");
    if let Some(first) = words.get(..1) {
        let upper = first.to_uppercase();
        words.replace_range(..1, &upper);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn major_units_by_currency() {
        assert_eq!(money(12_900, c("USD")), "129.00 USD");
        assert_eq!(money(9_800, c("USD")), "98.00 USD");
        assert_eq!(money(123_456_789, c("USD")), "1,234,567.89 USD");
        assert_eq!(money(5, c("USD")), "0.05 USD");
        assert_eq!(money(12_900, c("JPY")), "12,900 JPY");
        assert_eq!(money(1_500, c("KWD")), "1.500 KWD");
        assert_eq!(money(-3_100, c("EUR")), "-31.00 EUR");
        assert_eq!(major_plain(123_456_789, c("USD")), "1234567.89");
    }

    #[test]
    fn typed_amounts_read_back_exactly() {
        let usd = c("USD");
        assert_eq!(parse_major("98", usd), Ok(9_800));
        assert_eq!(parse_major("98.00", usd), Ok(9_800));
        assert_eq!(parse_major("98.5", usd), Ok(9_850));
        assert_eq!(parse_major(" 1,098.07 ", usd), Ok(109_807));
        assert_eq!(parse_major(".5", usd), Ok(50));
        assert_eq!(parse_major("0.1", usd), Ok(10));
        assert_eq!(parse_major("129.00", usd), Ok(12_900));
        assert_eq!(parse_major("980", c("JPY")), Ok(980));
        assert_eq!(parse_major("1.5", c("KWD")), Ok(1_500));
        for bad in [
            "",
            "-1",
            "abc",
            "1.2.3",
            "98.001",
            "1e3",
            ".",
            "9999999999999999999",
        ] {
            assert!(parse_major(bad, usd).is_err(), "{bad}");
        }
        assert!(parse_major("9.5", c("JPY")).unwrap_err().contains("whole"));
    }

    #[test]
    fn times_and_durations() {
        assert_eq!(
            datetime(Timestamp(1_783_047_440)),
            "2026-07-03 02:57:20 UTC"
        );
        assert_eq!(rfc3339(Timestamp(1_783_047_440)), "2026-07-03T02:57:20Z");
        assert_eq!(datetime_local(Timestamp(1_783_047_440)), "2026-07-03T02:57");
        assert_eq!(
            parse_datetime_local("2026-07-03T02:57"),
            Some(Timestamp(1_783_047_420))
        );
        assert_eq!(parse_datetime_local("tomorrow"), None);
        assert_eq!(time_left(6 * 3600 + 12 * 60 + 5), "6 h 12 min");
        assert_eq!(time_left(2 * 86_400 + 4 * 3600), "2 d 4 h");
        assert_eq!(time_left(45 * 60), "45 min");
        assert_eq!(time_left(30), "under a minute");
        assert_eq!(time_left(-1), "expired");
        assert_eq!(Band::of(23 * 3600), Band::Within24h);
        assert_eq!(Band::of(24 * 3600), Band::Within72h);
        assert_eq!(Band::of(72 * 3600), Band::Later);
        assert_eq!(humanize("requires_capture"), "Requires capture");
    }
}
