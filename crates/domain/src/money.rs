//! Money: integer minor units and an ISO 4217 currency. There are no floats anywhere in Holdfast.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, Rejection};

/// An ISO 4217 alphabetic code in upper case, checked against the list of active codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Every code [`Currency::parse`] accepts, sorted.
    pub const CODES: &'static [&'static str] = ISO_4217;

    /// Parses an upper-case ISO 4217 code; anything else (lower case, unknown, wrong length) is `None`.
    pub fn parse(code: &str) -> Option<Currency> {
        let bytes: [u8; 3] = code.as_bytes().try_into().ok()?;
        ISO_4217.binary_search(&code).ok()?;
        Some(Currency(bytes))
    }

    /// Parses the code given in the request field `param`, refusing anything but an upper-case
    /// ISO 4217 code with `INVALID_PARAMETER`.
    pub fn parse_param(code: &str, param: &str) -> Result<Currency, Rejection> {
        Currency::parse(code).ok_or_else(|| {
            Rejection::param(
                ErrorCode::InvalidParameter,
                param,
                format!("{code:?} is not an upper-case ISO 4217 currency code"),
            )
        })
    }

    pub fn as_str(&self) -> &str {
        // The bytes came from a `&str` in `ISO_4217`, so they are ASCII.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::parse(&value).ok_or(value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.as_str().to_owned()
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount in minor units of a currency (cents for USD, yen for JPY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

impl Money {
    pub const fn new(amount: i64, currency: Currency) -> Money {
        Money { amount, currency }
    }

    pub const fn zero(currency: Currency) -> Money {
        Money {
            amount: 0,
            currency,
        }
    }
}

/// A money amount as it arrives in a request, before anything is known about it: the wire edge's
/// type. Only [`RawMoney::check`] turns it into [`Money`]; past it everything is typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMoney {
    pub amount: i64,
    pub currency: String,
}

impl RawMoney {
    /// The amount as money, if its currency code is a real one; for comparing with an amount
    /// already settled (a replayed capture, the balance a pay call expects).
    pub fn money(&self) -> Option<Money> {
        Currency::parse(&self.currency).map(|currency| Money::new(self.amount, currency))
    }

    /// The one check of an amount a command is given: see [`AmountRules`].
    pub fn check(
        &self,
        param: &str,
        limits: Limits,
        rules: &AmountRules,
    ) -> Result<Money, Rejection> {
        check_amount(self.amount, Err(&self.currency), param, limits, rules)
    }
}

impl Money {
    /// The same check as [`RawMoney::check`], for an amount that is already money (a scheduled
    /// capture's, checked when it was scheduled, runs against the hold as it is when it runs).
    pub fn check(
        self,
        param: &str,
        limits: Limits,
        rules: &AmountRules,
    ) -> Result<Money, Rejection> {
        check_amount(self.amount, Ok(self.currency), param, limits, rules)
    }
}

/// What a command's amount must be, in its state: the currency it must be in (`None`, any real
/// one) and the most it may be (`None`, no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub currency: Option<Currency>,
    pub max: Option<i64>,
}

/// How one command checks an amount it is given: in which order, and with which error code (and
/// words) each refusal answers. A refusal names `<param>.amount` or `<param>.currency`.
///
/// The checks are always the same four: a real currency code, the currency the command works in,
/// an amount above zero (or zero, where allowed), and no more than the limit. Only their codes and
/// the place of the currency checks differ between commands: a command that treats an unknown code
/// as a malformed field checks the currency first (creation, orders); one that treats it as the
/// wrong currency checks the amount first (capture, refund, in the contract's order).
#[derive(Debug, Clone, Copy)]
pub struct AmountRules {
    /// `Some`: an unknown currency code is its own refusal, with this code, checked before the
    /// amount. `None`: it is the wrong currency, checked after the amount.
    pub unknown_currency: Option<ErrorCode>,
    /// Not the command's currency; the message ends with that currency.
    pub other_currency: (ErrorCode, &'static str),
    /// Zero is a valid amount (the prices, tips and discounts of an order).
    pub zero_allowed: bool,
    pub too_small: (ErrorCode, &'static str),
    /// Above the limit; the message is made from the amount asked and the limit.
    pub too_large: (ErrorCode, fn(i64, i64) -> String),
}

/// The money check behind [`RawMoney::check`] and [`Money::check`]. `currency` is the parsed
/// currency, or the code as given when it is not known to be real yet.
fn check_amount(
    amount: i64,
    currency: Result<Currency, &str>,
    param: &str,
    limits: Limits,
    rules: &AmountRules,
) -> Result<Money, Rejection> {
    let currency_param = || format!("{param}.currency");
    let amount_param = || format!("{param}.amount");
    let check_currency = || -> Result<Currency, Rejection> {
        let parsed = match (currency, rules.unknown_currency) {
            (Ok(currency), _) => Some(currency),
            (Err(given), None) => Currency::parse(given),
            (Err(given), Some(code)) => Some(
                Currency::parse_param(given, &currency_param())
                    .map_err(|r| Rejection { code, ..r })?,
            ),
        };
        match (parsed, limits.currency) {
            (Some(parsed), None) => Ok(parsed),
            (Some(parsed), Some(wanted)) if parsed == wanted => Ok(parsed),
            _ => {
                let (code, message) = rules.other_currency;
                let message = match limits.currency {
                    Some(wanted) => format!("{message}, {wanted}"),
                    None => message.to_owned(),
                };
                Err(Rejection::param(code, &currency_param(), message))
            }
        }
    };
    let check_size = || -> Result<(), Rejection> {
        if amount < 0 || (amount == 0 && !rules.zero_allowed) {
            let (code, message) = rules.too_small;
            return Err(Rejection::param(code, &amount_param(), message));
        }
        Ok(())
    };
    let currency = if rules.unknown_currency.is_some() {
        let currency = check_currency()?;
        check_size()?;
        currency
    } else {
        check_size()?;
        check_currency()?
    };
    if let Some(max) = limits.max
        && amount > max
    {
        let (code, message) = rules.too_large;
        return Err(Rejection::param(
            code,
            &amount_param(),
            message(amount, max),
        ));
    }
    Ok(Money::new(amount, currency))
}

/// Active ISO 4217 alphabetic codes, sorted for binary search.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_list_is_sorted_so_binary_search_works() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn parse_accepts_upper_case_known_codes_only() {
        assert_eq!(
            Currency::parse("USD").map(|c| c.to_string()),
            Some("USD".into())
        );
        assert_eq!(
            Currency::parse("JPY").map(|c| c.to_string()),
            Some("JPY".into())
        );
        for bad in ["usd", "US", "USDD", "XYZ", "", "ÜSD"] {
            assert_eq!(Currency::parse(bad), None, "{bad}");
        }
    }

    fn raw(amount: i64, currency: &str) -> RawMoney {
        RawMoney {
            amount,
            currency: currency.into(),
        }
    }

    fn usd() -> Currency {
        Currency::parse("USD").expect("USD")
    }

    /// Checks the currency first (an unknown code is a malformed field) and allows zero.
    const CURRENCY_FIRST: AmountRules = AmountRules {
        unknown_currency: Some(ErrorCode::InvalidParameter),
        other_currency: (ErrorCode::OrderCurrencyMismatch, "in the order's currency"),
        zero_allowed: true,
        too_small: (ErrorCode::InvalidParameter, "zero or more"),
        too_large: (ErrorCode::OrderAmountMismatch, |amount, max| {
            format!("{amount} > {max}")
        }),
    };

    /// Checks the amount first (an unknown code is the wrong currency), above zero.
    const AMOUNT_FIRST: AmountRules = AmountRules {
        unknown_currency: None,
        other_currency: (ErrorCode::CaptureCurrencyMismatch, "in the hold's currency"),
        zero_allowed: false,
        too_small: (ErrorCode::InvalidCaptureAmount, "above zero"),
        too_large: (ErrorCode::CaptureAmountExceedsAuthorized, |amount, max| {
            format!("{amount} > {max}")
        }),
    };

    #[test]
    fn the_money_check_answers_each_rule_with_the_codes_it_is_given_in_its_order() {
        use ErrorCode as E;
        let limits = Limits {
            currency: Some(usd()),
            max: Some(100),
        };
        let code = |m: RawMoney, rules: &AmountRules| {
            m.check("amount_money", limits, rules)
                .map_err(|r| (r.code, r.param.unwrap_or_default()))
        };
        let at = |code: E, field: &str| Err((code, format!("amount_money.{field}")));
        #[rustfmt::skip]
        let rows = [
            // The currency first: an unknown code, then another currency, then the size.
            (raw(-1, "usd"), &CURRENCY_FIRST, at(E::InvalidParameter, "currency")),
            (raw(-1, "EUR"), &CURRENCY_FIRST, at(E::OrderCurrencyMismatch, "currency")),
            (raw(-1, "USD"), &CURRENCY_FIRST, at(E::InvalidParameter, "amount")),
            (raw(0, "USD"), &CURRENCY_FIRST, Ok(Money::new(0, usd()))),
            (raw(101, "USD"), &CURRENCY_FIRST, at(E::OrderAmountMismatch, "amount")),
            // The amount first: zero and below whatever the currency, then the currency (an
            // unknown code is just another one), then the limit.
            (raw(0, "usd"), &AMOUNT_FIRST, at(E::InvalidCaptureAmount, "amount")),
            (raw(-1, "EUR"), &AMOUNT_FIRST, at(E::InvalidCaptureAmount, "amount")),
            (raw(101, "usd"), &AMOUNT_FIRST, at(E::CaptureCurrencyMismatch, "currency")),
            (raw(101, "EUR"), &AMOUNT_FIRST, at(E::CaptureCurrencyMismatch, "currency")),
            (raw(101, "USD"), &AMOUNT_FIRST, at(E::CaptureAmountExceedsAuthorized, "amount")),
            (raw(100, "USD"), &AMOUNT_FIRST, Ok(Money::new(100, usd()))),
            (raw(1, "USD"), &AMOUNT_FIRST, Ok(Money::new(1, usd()))),
        ];
        for (m, rules, expect) in rows {
            assert_eq!(code(m.clone(), rules), expect, "{m:?}");
        }
    }

    #[test]
    fn money_already_checked_goes_through_the_same_check() {
        let hold = |max| Limits {
            currency: Some(usd()),
            max: Some(max),
        };
        let m = Money::new(100, usd());
        assert_eq!(m.check("amount_money", hold(100), &AMOUNT_FIRST), Ok(m));
        let r = m
            .check("amount_money", hold(99), &AMOUNT_FIRST)
            .expect_err("over the limit");
        assert_eq!(r.code, ErrorCode::CaptureAmountExceedsAuthorized);
        let yen = Money::new(100, Currency::parse("JPY").expect("JPY"));
        let r = yen
            .check("amount_money", hold(100), &AMOUNT_FIRST)
            .expect_err("another currency");
        assert_eq!(r.code, ErrorCode::CaptureCurrencyMismatch);
    }

    #[test]
    fn any_currency_is_any_real_one() {
        let any = Limits {
            currency: None,
            max: None,
        };
        assert_eq!(
            raw(5, "JPY").check("amount_money", any, &CURRENCY_FIRST),
            Ok(Money::new(5, Currency::parse("JPY").expect("JPY")))
        );
        let r = raw(5, "XYZ")
            .check("amount_money", any, &CURRENCY_FIRST)
            .expect_err("not a currency");
        assert_eq!(
            (r.code, r.param.as_deref()),
            (ErrorCode::InvalidParameter, Some("amount_money.currency"))
        );
        assert_eq!(raw(5, "XYZ").money(), None);
        assert_eq!(raw(5, "USD").money(), Some(Money::new(5, usd())));
    }
}
