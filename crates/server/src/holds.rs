//! `holdfast holds`: the operator's list of open holds, soonest deadline first.

use std::fmt::Write;

use holdfast_domain::Timestamp;
use holdfast_service::Holdfast;

/// Rows printed at most; the soonest deadlines come first, so these are the ones that matter.
pub const ROWS_MAX: u32 = 1_000;

/// The table, one hold a line: id, merchant, mode, amount, deadline, time left, scheduled action.
pub async fn table(app: &Holdfast, expiring_within: Option<i64>) -> anyhow::Result<String> {
    let now = app.now();
    let before = expiring_within.map(|s| now.plus_seconds(s));
    let holds = app.store.open_holds(before, ROWS_MAX).await?;
    let mut rows = vec![[
        "PAYMENT INTENT".to_owned(),
        "MERCHANT".to_owned(),
        "MODE".to_owned(),
        "CAPTURABLE".to_owned(),
        "DEADLINE".to_owned(),
        "TIME LEFT".to_owned(),
        "SCHEDULED".to_owned(),
    ]];
    for hold in &holds {
        let deadline = hold.authorization_expires_at.unwrap_or(now);
        let scheduled = hold.scheduled_action.as_ref().map_or("-".to_owned(), |s| {
            let at = s.at.map_or("after confirm".to_owned(), rfc3339);
            format!("{} at {at}", s.kind.as_str())
        });
        rows.push([
            hold.id.clone(),
            hold.scope.merchant_id.clone(),
            if hold.scope.livemode { "live" } else { "test" }.to_owned(),
            format!("{} {}", hold.capturable, hold.currency()),
            rfc3339(deadline),
            time_left(deadline.seconds() - now.seconds()),
            scheduled,
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    let _ = writeln!(out, "{} open hold(s)", holds.len());
    Ok(out)
}

fn rfc3339(t: Timestamp) -> String {
    holdfast_http::dto::rfc3339(t)
}

/// `6d 23h`, `4h 10m`, `59s`; `expired` once the deadline passed.
pub fn time_left(seconds: i64) -> String {
    if seconds < 0 {
        return "expired".into();
    }
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}
