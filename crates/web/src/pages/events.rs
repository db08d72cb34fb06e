//! Events: the newest first, filtered by type or intent; one event with its payload summary and its
//! webhook deliveries; and resending an event to its endpoints.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use holdfast_domain::EventType;
use holdfast_domain::event::EventObject;
use holdfast_domain::user::Permission;
use holdfast_store::EventFilter;
use serde::Deserialize;

use crate::Web;
use crate::actions::{self, Done, new_key};
use crate::auth::{Act, Signed};
use crate::error::{WebError, encode};
use crate::format;
use crate::pages::intent::IdPath;
use crate::pages::{done, html, notice_text, page_request};
use crate::views::{Chrome, EventRow, Section};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventsQuery {
    #[serde(default)]
    r#type: String,
    #[serde(default)]
    payment_intent: String,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    chrome: Chrome,
    rows: Vec<EventRow>,
    types: Vec<(&'static str, bool)>,
    payment_intent: String,
    next_href: Option<String>,
    filter_error: Option<String>,
}

pub(crate) async fn list(
    State(web): State<Web>,
    signed: Signed,
    Query(query): Query<EventsQuery>,
) -> Result<Response, WebError> {
    let mut filter_error = None;
    let kind = match query.r#type.as_str() {
        "" => None,
        name => match EventType::parse(name) {
            Some(kind) => Some(kind),
            None => {
                filter_error = Some(format!("{name:?} is not an event type."));
                None
            }
        },
    };
    let intent = query.payment_intent.trim();
    let page = web
        .app
        .list_events(
            &signed.scope(),
            EventFilter {
                kind,
                payment_intent_id: (!intent.is_empty()).then(|| intent.to_owned()),
                page: page_request(query.cursor.as_ref()),
            },
        )
        .await?;
    let next_href = page
        .next_cursor
        .as_ref()
        .filter(|_| page.has_more)
        .map(|c| {
            signed.href(&format!(
                "/events?type={}&payment_intent={}&cursor={}",
                encode(&query.r#type),
                encode(intent),
                encode(c)
            ))
        });
    let page = EventsPage {
        chrome: signed.chrome("Events", Section::Events),
        rows: page
            .data
            .iter()
            .map(|e| EventRow::new(&signed, e))
            .collect(),
        types: EventType::ALL
            .iter()
            .map(|t| (t.as_str(), t.as_str() == query.r#type))
            .collect(),
        payment_intent: intent.to_owned(),
        next_href,
        filter_error,
    };
    html(&page)
}

#[derive(Debug)]
struct DeliveryView {
    endpoint_id: String,
    endpoint_href: String,
    status: String,
    attempts: u32,
    next_attempt: String,
    log: Vec<AttemptView>,
}

#[derive(Debug)]
struct AttemptView {
    attempt: u32,
    at: String,
    answer: String,
    latency: String,
    error: String,
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    chrome: Chrome,
    event: EventRow,
    summary: Vec<(&'static str, String)>,
    deliveries: Vec<DeliveryView>,
    resend_key: String,
    base: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

pub(crate) async fn page(
    State(web): State<Web>,
    signed: Signed,
    Path(IdPath { id }): Path<IdPath>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let scope = signed.scope();
    let event = web.app.get_event(&scope, &id).await?;
    let deliveries = web
        .app
        .event_deliveries(&scope, &id)
        .await?
        .into_iter()
        .map(|d| DeliveryView {
            endpoint_href: signed.href(&format!("/webhooks/{}", d.endpoint_id)),
            endpoint_id: d.endpoint_id,
            status: format::humanize(&d.status),
            attempts: d.attempts,
            next_attempt: d.next_attempt_at.map(format::datetime).unwrap_or_default(),
            log: d
                .log
                .iter()
                .map(|a| AttemptView {
                    attempt: a.attempt,
                    at: format::datetime(a.attempted_at),
                    answer: a
                        .status_code
                        .map_or_else(|| "No answer".to_owned(), |c| format!("HTTP {c}")),
                    latency: format!("{} ms", a.latency_ms),
                    error: a.error.clone().unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    let summary = match &event.object {
        EventObject::PaymentIntent(intent) => {
            let c = intent.currency();
            vec![
                ("Status", format::humanize(intent.status.as_str())),
                ("Authorized", format::money(intent.authorized, c)),
                ("Capturable", format::money(intent.capturable, c)),
                ("Captured", format::money(intent.captured, c)),
                ("Released", format::money(intent.released, c)),
                ("Refunded", format::money(intent.refunded, c)),
            ]
        }
        EventObject::Order { order, detail } => {
            let c = order.currency;
            let mut rows = vec![
                ("Order status", format::humanize(order.status.as_str())),
                ("Payment intent", detail.payment_intent_id.clone()),
                ("Order total", format::money(order.total, c)),
            ];
            for (label, value) in [
                ("Authorized", detail.authorized),
                ("Captured", detail.captured),
                ("Released", detail.released),
                ("Refunded", detail.refunded),
            ] {
                if let Some(amount) = value {
                    rows.push((label, format::money(amount, c)));
                }
            }
            rows
        }
        EventObject::Refund(refund) => vec![
            ("Refund", refund.id.clone()),
            ("Status", format::humanize(refund.status.as_str())),
            (
                "Amount",
                format::money(refund.amount.amount, refund.amount.currency),
            ),
        ],
        EventObject::CheckoutSession(session) => vec![
            ("Checkout session", session.id.clone()),
            ("Status", format::humanize(session.status.as_str())),
            (
                "Amount",
                format::money(session.amount.amount, session.amount.currency),
            ),
            (
                "Payment intent",
                session
                    .payment_intent_id
                    .clone()
                    .unwrap_or_else(|| "—".into()),
            ),
        ],
    };
    let base = signed.href(&format!("/events/{id}"));
    let page = EventPage {
        chrome: signed
            .chrome(event.kind.as_str(), Section::Events)
            .with_notice(notice_text(query.notice.as_deref())),
        event: EventRow::new(&signed, &event),
        summary,
        deliveries,
        resend_key: new_key(),
        base,
    };
    html(&page)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResendForm {
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    return_to: String,
}

pub(crate) async fn resend(
    State(web): State<Web>,
    Path(IdPath { id }): Path<IdPath>,
    act: Act<ResendForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::ResendEvents)?;
    let scope = signed.scope();
    let what = format!("resend {id}");
    let ctx = actions::context(signed, &act.form.idempotency_key, &what)?;
    let app = &web.app;
    // Resending queues delivery rows; it changes no object, so its unit holds only the stored
    // answer. A double submit replays that answer instead of queueing the event twice.
    let outcome = actions::run(
        &web,
        &ctx,
        || async {
            let queued = app.resend_event(&scope, &id).await?;
            Ok(holdfast_service::Decision::answer(
                holdfast_store::UnitOfWork::default(),
                queued,
            ))
        },
        |_: &u64| Done {
            object: id.clone(),
            ..Done::default()
        },
    )
    .await;
    let mode_root = signed.href("/");
    let back = if act.form.return_to.starts_with(&mode_root) && !act.form.return_to.contains("//") {
        act.form.return_to.clone()
    } else {
        signed.href(&format!("/events/{id}"))
    };
    match outcome {
        Ok(_) => Ok(done(signed, &back, "resent")),
        Err(refusal) => Err(WebError::Refused(refusal)),
    }
}
