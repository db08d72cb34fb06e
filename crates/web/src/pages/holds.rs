//! Holds, the home page: open holds soonest deadline first, the money at risk at the top, and
//! filters (expiring within, status, currency and amount range, search by id or reference).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use holdfast_domain::Currency;
use holdfast_domain::intent::Status;
use holdfast_service::IntentSearch;
use holdfast_store::{IntentFilter, IntentOrder};
use serde::Deserialize;

use crate::Web;
use crate::auth::Signed;
use crate::error::{WebError, encode};
use crate::format::{self, Band};
use crate::pages::{clock_times, html, notice_text, page_request, time_of};
use crate::views::{Chrome, IntentRow, Section};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct HoldsQuery {
    #[serde(default)]
    expiring: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    min: String,
    #[serde(default)]
    max: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

/// One "money at risk" tile: the holds whose deadline falls within a horizon, per currency.
#[derive(Debug)]
struct RiskTile {
    title: &'static str,
    class: &'static str,
    lines: Vec<RiskLine>,
}

#[derive(Debug)]
struct RiskLine {
    count: String,
    amount: String,
}

#[derive(Debug)]
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

fn choices(options: &[(&'static str, &'static str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, label)| Choice {
            value,
            label,
            selected: *value == current,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "holds.html")]
struct HoldsPage {
    chrome: Chrome,
    risk: Vec<RiskTile>,
    rows: Vec<IntentRow>,
    expiring: Vec<Choice>,
    statuses: Vec<Choice>,
    currency: String,
    min: String,
    max: String,
    q: String,
    /// Why the filters could not be applied, if they could not.
    filter_error: Option<String>,
    next_href: Option<String>,
    /// Open holds only: the list is soonest deadline first and shows time left.
    holds_only: bool,
}

const EXPIRING: &[(&str, &str)] = &[
    ("", "Any time"),
    ("24h", "24 hours"),
    ("72h", "72 hours"),
    ("7d", "7 days"),
];

const STATUSES: &[(&str, &str)] = &[
    ("", "Open holds"),
    ("all", "All payments"),
    ("requires_payment_method", "Requires payment method"),
    ("requires_action", "Requires action"),
    ("succeeded", "Succeeded"),
    ("canceled", "Canceled"),
    ("expired", "Expired"),
];

pub(crate) async fn page(
    State(web): State<Web>,
    signed: Signed,
    Query(query): Query<HoldsQuery>,
) -> Result<Response, WebError> {
    let scope = signed.scope();
    let now = web.app.now();
    let mut filter_error = None;
    let status = match query.status.as_str() {
        "" => Some(Status::RequiresCapture),
        "all" => None,
        other => match Status::parse(other) {
            Some(s) => Some(s),
            None => {
                filter_error = Some(format!("{other:?} is not a status."));
                Some(Status::RequiresCapture)
            }
        },
    };
    let holds_only = status == Some(Status::RequiresCapture);
    let window = match query.expiring.as_str() {
        "24h" => Some(24 * 3600),
        "72h" => Some(72 * 3600),
        "7d" => Some(7 * 86_400),
        _ => None,
    };
    let currency = match query.currency.trim() {
        "" => None,
        code => match Currency::parse(&code.to_uppercase()) {
            Some(c) => Some(c),
            None => {
                filter_error = Some(format!("{code:?} is not an ISO 4217 currency code."));
                None
            }
        },
    };
    let mut amount = |typed: &str| -> Option<i64> {
        let typed = typed.trim();
        if typed.is_empty() {
            return None;
        }
        let Some(currency) = currency else {
            filter_error = Some("Choose the currency the amounts are in.".into());
            return None;
        };
        match format::parse_major(typed, currency) {
            Ok(minor) => Some(minor),
            Err(why) => {
                filter_error = Some(why);
                None
            }
        }
    };
    let amount_min = amount(&query.min);
    let amount_max = amount(&query.max);
    let q = query.q.trim().to_owned();

    let intents = if q.starts_with("pi_") {
        // An id names one intent: show it whatever the other filters say.
        match web.app.get_intent(&scope, &q).await {
            Ok(intent) => vec![intent],
            Err(_) => Vec::new(),
        }
    } else {
        let filter = IntentFilter {
            status,
            capture_method: None,
            created_after: None,
            created_before: None,
            expires_before: window.map(|w| now.plus_seconds(w)),
            order: if holds_only {
                IntentOrder::ExpiresAsc
            } else {
                IntentOrder::CreatedDesc
            },
            now,
            page: page_request(query.cursor.as_ref()),
        };
        let search = IntentSearch {
            currency,
            amount_min,
            amount_max,
            reference: (!q.is_empty()).then(|| q.clone()),
            test_clock: None,
        };
        let page = web.app.search_intents(&scope, filter, search).await?;
        if page.has_more
            && let Some(cursor) = &page.next_cursor
        {
            let next = next_href(&signed, &query, cursor);
            return render(
                &web,
                &signed,
                &query,
                page.data,
                Some(next),
                filter_error,
                holds_only,
            )
            .await;
        }
        page.data
    };
    render(
        &web,
        &signed,
        &query,
        intents,
        None,
        filter_error,
        holds_only,
    )
    .await
}

async fn render(
    web: &Web,
    signed: &Signed,
    query: &HoldsQuery,
    intents: Vec<holdfast_domain::intent::PaymentIntent>,
    next_href: Option<String>,
    filter_error: Option<String>,
    holds_only: bool,
) -> Result<Response, WebError> {
    let scope = signed.scope();
    let now = web.app.now();
    let times = clock_times(web, &scope, &intents).await;
    let rows = intents
        .iter()
        .map(|i| IntentRow::new(signed, i, time_of(&times, i, now)))
        .collect();
    let at_risk = web.app.money_at_risk(&scope).await?;
    let tile = |title, band: Band, pick: fn(&holdfast_store::AtRisk) -> (u64, i64)| RiskTile {
        title,
        class: band.class(),
        lines: at_risk
            .iter()
            .map(|r| (r.currency, pick(r)))
            .filter(|(_, (count, _))| *count > 0)
            .map(|(currency, (count, sum))| RiskLine {
                count: format!("{count} hold{}", if count == 1 { "" } else { "s" }),
                amount: format::money(sum, currency),
            })
            .collect(),
    };
    let risk = vec![
        tile("Expiring within 24 h", Band::Within24h, |r| {
            (r.within_24h_count, r.within_24h_amount)
        }),
        tile("Expiring within 72 h", Band::Within72h, |r| {
            (r.within_72h_count, r.within_72h_amount)
        }),
    ];
    let page = HoldsPage {
        chrome: signed
            .chrome("Holds", Section::Holds)
            .with_notice(notice_text(query.notice.as_deref())),
        risk,
        rows,
        expiring: choices(EXPIRING, &query.expiring),
        statuses: choices(STATUSES, &query.status),
        currency: query.currency.clone(),
        min: query.min.clone(),
        max: query.max.clone(),
        q: query.q.clone(),
        filter_error,
        next_href,
        holds_only,
    };
    html(&page)
}

fn next_href(signed: &Signed, query: &HoldsQuery, cursor: &str) -> String {
    let pairs = [
        ("expiring", &query.expiring),
        ("status", &query.status),
        ("currency", &query.currency),
        ("min", &query.min),
        ("max", &query.max),
        ("q", &query.q),
    ];
    let mut href = signed.href("/holds?");
    for (name, value) in pairs {
        if !value.is_empty() {
            href.push_str(&format!("{name}={}&", encode(value)));
        }
    }
    href.push_str(&format!("cursor={}", encode(cursor)));
    href
}
