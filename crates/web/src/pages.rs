//! The pages, one module per section, and what they share: rendering, dialogs, and the answer to
//! a finished action.

pub(crate) mod admin;
pub(crate) mod events;
pub(crate) mod holds;
pub(crate) mod intent;
pub(crate) mod orders;
pub(crate) mod overview;
pub(crate) mod test_clocks;
pub(crate) mod webhooks;

use std::collections::HashMap;

use askama::Template;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use holdfast_domain::intent::PaymentIntent;
use holdfast_domain::{Scope, Timestamp};
use holdfast_store::PageRequest;

use crate::Web;
use crate::actions::Refusal;
use crate::auth::Signed;
use crate::error::{WebError, encode};
use crate::views::{Chrome, Section};

/// Rows per page of a list.
pub(crate) const PAGE_ROWS: u32 = 50;

/// `/dashboard`: the holds of live mode (the sign-in page first, if need be).
pub(crate) async fn home() -> Redirect {
    Redirect::to("/dashboard/live/holds")
}

pub(crate) async fn not_found() -> WebError {
    WebError::NotFound
}

pub(crate) fn html(template: &impl Template) -> Result<Response, WebError> {
    Ok(Html(template.render()?).into_response())
}

pub(crate) fn html_status(
    status: StatusCode,
    template: &impl Template,
) -> Result<Response, WebError> {
    Ok((status, Html(template.render()?)).into_response())
}

/// A page that only frames a dialog: what a dialog's link shows without JavaScript.
#[derive(Template)]
#[template(path = "dialog_page.html")]
struct DialogPage {
    chrome: Chrome,
    body: String,
}

/// Shows a dialog: the fragment alone for htmx (the page opens it as a modal), or framed in a
/// page when the link was followed without JavaScript.
pub(crate) fn dialog(
    signed: &Signed,
    status: StatusCode,
    section: Section,
    title: &str,
    render: impl Fn(bool) -> Result<String, askama::Error>,
) -> Result<Response, WebError> {
    if signed.htmx {
        return Ok((status, Html(render(false)?)).into_response());
    }
    let page = DialogPage {
        chrome: signed.chrome(title, section),
        body: render(true)?,
    };
    html_status(status, &page)
}

/// The answer to an action that worked: back to `to` (a page that shows the result), with a
/// notice. htmx follows `HX-Redirect`; a plain form follows the 303.
pub(crate) fn done(signed: &Signed, to: &str, notice: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    let location = format!("{to}{sep}notice={}", encode(notice));
    if signed.htmx {
        let mut response = StatusCode::NO_CONTENT.into_response();
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert("hx-redirect", value);
        }
        return response;
    }
    Redirect::to(&location).into_response()
}

/// The words for a notice code in a page's query (only these; never text from the URL).
pub(crate) fn notice_text(code: Option<&str>) -> Option<String> {
    let text = match code? {
        "captured" => "Captured. The money fields below show the result.",
        "voided" => "Voided. The whole hold was released to the buyer.",
        "refunded" => "Refund submitted.",
        "scheduled" => "Scheduled. Holdfast will run it at the time set, before the deadline.",
        "schedule-cleared" => "Schedule cleared.",
        "resent" => "Queued again for every endpoint that wants it.",
        "clock-created" => "Test clock created.",
        "clock-advanced" => "Test clock advanced. Everything that fell due has run.",
        "endpoint-disabled" => "Endpoint disabled. Nothing more is delivered to it.",
        "endpoint-enabled" => "Endpoint enabled.",
        "key-revoked" => "API key revoked. Requests made with it now fail.",
        "user-disabled" => "User disabled. Their sessions have ended.",
        "user-enabled" => "User enabled.",
        "replayed" => "This form was already submitted: nothing was done twice.",
        _ => return None,
    };
    Some(text.to_owned())
}

/// What a dialog shows when its action was refused: the contract's message and code.
#[derive(Debug, Clone)]
pub(crate) struct ShownRefusal {
    pub(crate) message: String,
    pub(crate) code: String,
}

impl From<Refusal> for ShownRefusal {
    fn from(r: Refusal) -> ShownRefusal {
        ShownRefusal {
            message: r.message,
            code: r.code,
        }
    }
}

/// The status to answer a refused action with: the API's for the same code.
pub(crate) fn refused_status(r: &Refusal) -> StatusCode {
    StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST)
}

/// A page request of `PAGE_ROWS` after `cursor`.
pub(crate) fn page_request(cursor: Option<&String>) -> PageRequest {
    PageRequest {
        limit: PAGE_ROWS,
        cursor: cursor.filter(|c| !c.is_empty()).cloned(),
    }
}

/// The time each intent lives on: its test clock's, or the wall clock's. Looks each clock up once.
pub(crate) async fn clock_times(
    web: &Web,
    scope: &Scope,
    intents: &[PaymentIntent],
) -> HashMap<String, Timestamp> {
    let mut times = HashMap::new();
    for clock in intents.iter().filter_map(|i| i.test_clock_id.as_ref()) {
        if times.contains_key(clock) {
            continue;
        }
        if let Ok(found) = web.app.get_test_clock(scope, clock).await {
            times.insert(clock.clone(), found.frozen_time);
        }
    }
    times
}

pub(crate) fn time_of(
    times: &HashMap<String, Timestamp>,
    intent: &PaymentIntent,
    now: Timestamp,
) -> Timestamp {
    intent
        .test_clock_id
        .as_ref()
        .and_then(|c| times.get(c).copied())
        .unwrap_or(now)
}
