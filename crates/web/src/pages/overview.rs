//! Overview: for the last 30 days, a chart per currency of the amounts authorized, captured,
//! released by void, released by expiry and refunded each day, and the expiry rate: the share of
//! resolved holds that lapsed instead of being captured or voided. That share is the number an
//! operations team works to drive to zero.
//!
//! The chart is an SVG drawn here (no script), with the same numbers in a table beside it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use holdfast_domain::{Currency, Timestamp};
use holdfast_store::DailyTotals;

use crate::Web;
use crate::auth::Signed;
use crate::error::WebError;
use crate::format;
use crate::pages::html;
use crate::views::{Chrome, Section};

/// Days the overview covers, today included.
pub(crate) const DAYS: i64 = 30;

/// The five series, in the order they are drawn: (class, label).
const SERIES: [(&str, &str); 5] = [
    ("authorized", "Authorized"),
    ("captured", "Captured"),
    ("released_void", "Released by void"),
    ("released_expiry", "Released by expiry"),
    ("refunded", "Refunded"),
];

#[derive(Debug)]
struct TableRow {
    day: String,
    values: [String; 5],
}

#[derive(Debug)]
struct CurrencyChart {
    currency: String,
    svg: String,
    totals: [String; 5],
    rows: Vec<TableRow>,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    charts: Vec<CurrencyChart>,
    series: [(&'static str, &'static str); 5],
    rate: String,
    rate_class: &'static str,
    /// What the rate is made of, in words.
    summary: String,
    from: String,
    to: String,
}

pub(crate) async fn page(State(web): State<Web>, signed: Signed) -> Result<Response, WebError> {
    let now = web.app.now();
    let today = now.seconds().div_euclid(86_400);
    let first = today - (DAYS - 1);
    let totals = web
        .app
        .daily_totals(&signed.scope(), Timestamp(first * 86_400), now)
        .await?;
    let mut by_currency: BTreeMap<String, (Currency, BTreeMap<i64, &DailyTotals>)> =
        BTreeMap::new();
    for t in &totals {
        by_currency
            .entry(t.currency.to_string())
            .or_insert_with(|| (t.currency, BTreeMap::new()))
            .1
            .insert(t.day, t);
    }
    let charts = by_currency
        .into_values()
        .map(|(currency, days)| chart(currency, &days, first))
        .collect();
    let expired: u64 = totals.iter().map(|t| t.holds_expired).sum();
    let captured_holds: u64 = totals.iter().map(|t| t.holds_captured).sum();
    let voided_holds: u64 = totals.iter().map(|t| t.holds_voided).sum();
    let resolved = expired + captured_holds + voided_holds;
    // Tenths of a percent, in integers.
    let (rate, rate_class) = match (expired * 1000 + resolved / 2).checked_div(resolved) {
        None => ("–".to_owned(), ""),
        Some(tenths) => (
            format!("{}.{}%", tenths / 10, tenths % 10),
            if expired == 0 { "good" } else { "bad" },
        ),
    };
    let summary = if resolved == 0 {
        "No hold was captured, voided or expired in these 30 days.".to_owned()
    } else {
        format!(
            "{expired} of {resolved} resolved holds expired instead of being captured ({captured_holds}) or voided ({voided_holds})."
        )
    };
    let page = OverviewPage {
        chrome: signed.chrome("Overview", Section::Overview),
        charts,
        series: SERIES,
        rate,
        rate_class,
        summary,
        from: format::day(Timestamp(first * 86_400)),
        to: format::day(now),
    };
    html(&page)
}

fn values(t: Option<&&DailyTotals>) -> [i64; 5] {
    t.map_or([0; 5], |t| {
        [
            t.authorized,
            t.captured,
            t.released_by_void,
            t.released_by_expiry,
            t.refunded,
        ]
    })
}

/// One currency's chart: 30 groups of five bars, a y-axis scaled to the largest bar.
fn chart(currency: Currency, days: &BTreeMap<i64, &DailyTotals>, first: i64) -> CurrencyChart {
    const WIDTH: i64 = 960;
    const HEIGHT: i64 = 240;
    const LEFT: i64 = 70;
    const BOTTOM: i64 = 24;
    const TOP: i64 = 10;
    let plot_w = WIDTH - LEFT - 10;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let max = (0..DAYS)
        .flat_map(|d| values(days.get(&(first + d))))
        .max()
        .unwrap_or(0)
        .max(1);
    let group = plot_w / DAYS;
    let bar = (group - 4) / 5;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="Daily amounts in {currency}, last {DAYS} days">"#
    );
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{y}" x2="{x2}" y2="{y}" stroke-width="1"/>"#,
        y = TOP + plot_h,
        x2 = WIDTH - 10
    );
    let _ = write!(
        svg,
        r#"<text x="{x}" y="{y}" text-anchor="end">{label}</text><text x="{x}" y="{y0}" text-anchor="end">0</text>"#,
        x = LEFT - 6,
        y = TOP + 10,
        y0 = TOP + plot_h,
        label = format::major(max, currency)
    );
    let mut totals = [0i64; 5];
    let mut rows = Vec::new();
    for d in 0..DAYS {
        let day = first + d;
        let v = values(days.get(&day));
        let x0 = LEFT + d * group + 2;
        for (i, (class, label)) in SERIES.iter().enumerate() {
            totals[i] += v[i];
            if v[i] == 0 {
                continue;
            }
            let h = ((v[i] as i128 * plot_h as i128) / max as i128).max(1) as i64;
            let x = x0 + i as i64 * bar;
            let y = TOP + plot_h - h;
            let _ = write!(
                svg,
                r#"<rect class="{class}" x="{x}" y="{y}" width="{bar}" height="{h}"><title>{} {label}: {}</title></rect>"#,
                format::day(Timestamp(day * 86_400)),
                format::money(v[i], currency)
            );
        }
        if d % 5 == 0 || d == DAYS - 1 {
            let date = format::day(Timestamp(day * 86_400));
            let _ = write!(
                svg,
                r#"<text x="{x}" y="{y}" text-anchor="middle">{}</text>"#,
                date.get(5..).unwrap_or(&date),
                x = x0 + group / 2,
                y = HEIGHT - 6
            );
        }
        if v.iter().any(|x| *x != 0) {
            rows.push(TableRow {
                day: format::day(Timestamp(day * 86_400)),
                values: v.map(|x| format::major(x, currency)),
            });
        }
    }
    svg.push_str("</svg>");
    CurrencyChart {
        currency: currency.to_string(),
        svg,
        totals: totals.map(|x| format::money(x, currency)),
        rows,
    }
}
