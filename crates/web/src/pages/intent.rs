//! A payment intent: its money fields, times, card, actions timeline, events and their webhook
//! deliveries; and the dialogs that act on it (capture, void, refund, schedule, clear schedule).
//!
//! The buttons shown depend on the intent's status, but nothing here decides whether an action is
//! allowed: the service answers every submitted dialog, and a refusal is shown in the dialog with
//! the contract's message and code.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use holdfast_domain::intent::{CaptureRequest, PaymentIntent, RawMoney, ScheduleRequest, Status};
use holdfast_domain::refund::RefundRequest;
use holdfast_domain::{Currency, Timestamp};
use holdfast_store::{EventFilter, PageRequest, RefundFilter};
use serde::Deserialize;

use crate::Web;
use crate::actions::{self, Done, new_key};
use crate::auth::{Act, Signed};
use crate::error::WebError;
use crate::format::{self, Band};
use crate::pages::{ShownRefusal, dialog, done, html, notice_text, refused_status};
use crate::views::{self, Badge, Chrome, EventRow, Section, status_badge};
use holdfast_domain::user::Permission;

#[derive(Debug, Deserialize)]
pub(crate) struct IdPath {
    pub(crate) id: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

#[derive(Debug)]
struct Fact {
    label: &'static str,
    value: String,
    mono: bool,
}

#[derive(Debug)]
struct ActionRow {
    created: String,
    kind: String,
    amount: String,
    status: String,
    actor: String,
    request_id: String,
    reference: String,
}

#[derive(Debug)]
struct DeliveryRow {
    endpoint_id: String,
    endpoint_href: String,
    status: String,
    attempts: u32,
    last_answer: String,
    next_attempt: String,
}

#[derive(Debug)]
struct EventBlock {
    event: EventRow,
    deliveries: Vec<DeliveryRow>,
    resend_key: String,
}

#[derive(Debug)]
struct RefundRow {
    id: String,
    amount: String,
    status: String,
    reason: String,
    created: String,
}

#[derive(Template)]
#[template(path = "intent.html")]
struct IntentPage {
    chrome: Chrome,
    id: String,
    base: String,
    status: Badge,
    amount: String,
    description: String,
    authorized: String,
    capturable: String,
    captured: String,
    released: String,
    refunded: String,
    deadline: String,
    time_left: String,
    band_class: &'static str,
    band_label: &'static str,
    scheduled: String,
    facts: Vec<Fact>,
    actions: Vec<ActionRow>,
    events: Vec<EventBlock>,
    refunds: Vec<RefundRow>,
    can_capture: bool,
    can_void: bool,
    void_label: &'static str,
    can_refund: bool,
    can_schedule: bool,
    can_clear_schedule: bool,
    clear_key: String,
    /// Where capture and void go: the intent's own routes, or its order's.
    capture_href: String,
    void_href: String,
}

/// Loads an intent and the time it lives on.
async fn load(
    web: &Web,
    signed: &Signed,
    id: &str,
) -> Result<(PaymentIntent, Timestamp), WebError> {
    let scope = signed.scope();
    let intent = web.app.get_intent(&scope, id).await?;
    let now = match &intent.test_clock_id {
        Some(clock) => match web.app.get_test_clock(&scope, clock).await {
            Ok(found) => found.frozen_time,
            Err(_) => web.app.now(),
        },
        None => web.app.now(),
    };
    Ok((intent, now))
}

pub(crate) async fn page(
    State(web): State<Web>,
    signed: Signed,
    Path(IdPath { id }): Path<IdPath>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let (intent, now) = load(&web, &signed, &id).await?;
    let scope = signed.scope();
    let currency = intent.currency();
    let money = |amount| format::money(amount, currency);
    let base = signed.href(&format!("/payment-intents/{}", intent.id));
    let holding = intent.status == Status::RequiresCapture;
    let (deadline, time_left, band) = match intent.authorization_expires_at {
        Some(at) => {
            let left = at.seconds() - now.seconds();
            let band = if holding { Band::of(left) } else { Band::Later };
            (
                format::datetime(at),
                if holding {
                    format::time_left(left)
                } else {
                    String::new()
                },
                band,
            )
        }
        None => (String::new(), String::new(), Band::Later),
    };

    let mut facts = vec![Fact {
        label: "Status",
        value: format::humanize(intent.status.as_str()),
        mono: false,
    }];
    let mut fact = |label, value: Option<String>, mono| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            facts.push(Fact { label, value, mono });
        }
    };
    fact(
        "Card",
        intent
            .card
            .as_ref()
            .map(|c| format!("{} •••• {}", format::humanize(&c.brand), c.last_four)),
        false,
    );
    fact(
        "Capture method",
        Some(intent.capture_method.as_str().into()),
        false,
    );
    fact("Customer", intent.customer_id.clone(), true);
    fact("Reference", intent.reference.clone(), false);
    fact("Order", intent.order_id.clone(), true);
    fact("Test clock", intent.test_clock_id.clone(), true);
    fact("Created", Some(format::datetime(intent.created_at)), false);
    fact(
        "Authorized",
        intent.authorized_at.map(format::datetime),
        false,
    );
    fact(
        "Capture before",
        intent.authorization_expires_at.map(format::datetime),
        false,
    );
    fact("Captured", intent.captured_at.map(format::datetime), false);
    fact("Canceled", intent.canceled_at.map(format::datetime), false);
    fact(
        "Cancellation reason",
        intent
            .cancellation_reason
            .map(|r| format::humanize(r.as_str())),
        false,
    );
    fact(
        "Last payment error",
        intent
            .last_payment_error
            .as_ref()
            .map(|e| format!("{} ({})", e.message, e.decline_code)),
        false,
    );
    fact("Updated", Some(format::datetime(intent.updated_at)), false);

    let actions = intent
        .actions
        .iter()
        .rev()
        .map(|a| ActionRow {
            created: format::datetime(a.created_at),
            kind: format::humanize(a.kind.as_str()),
            amount: format::money(a.amount.amount, a.amount.currency),
            status: format::humanize(a.status.as_str()),
            actor: views::actor_text(
                a.kind,
                a.actor.as_deref(),
                a.request_id.as_deref(),
                a.reference.as_deref(),
            ),
            request_id: a.request_id.clone().unwrap_or_default(),
            reference: a.reference.clone().unwrap_or_default(),
        })
        .collect();

    let events_page = web
        .app
        .list_events(
            &scope,
            EventFilter {
                kind: None,
                payment_intent_id: Some(intent.id.clone()),
                page: PageRequest {
                    limit: 100,
                    cursor: None,
                },
            },
        )
        .await?;
    let mut events = Vec::with_capacity(events_page.data.len());
    for event in &events_page.data {
        let deliveries = web
            .app
            .event_deliveries(&scope, &event.id)
            .await?
            .into_iter()
            .map(|d| delivery_row(&signed, &d))
            .collect();
        events.push(EventBlock {
            event: EventRow::new(&signed, event),
            deliveries,
            resend_key: new_key(),
        });
    }

    let refunds = web
        .app
        .list_refunds(
            &scope,
            RefundFilter {
                payment_intent_id: Some(intent.id.clone()),
                page: PageRequest {
                    limit: 100,
                    cursor: None,
                },
            },
        )
        .await?
        .data
        .iter()
        .map(|r| RefundRow {
            id: r.id.clone(),
            amount: format::money(r.amount.amount, r.amount.currency),
            status: format::humanize(r.status.as_str()),
            reason: r
                .reason
                .map(|r| format::humanize(r.as_str()))
                .unwrap_or_default(),
            created: format::datetime(r.created_at),
        })
        .collect();

    let operator = signed.can(Permission::MoveMoney);
    let open = matches!(
        intent.status,
        Status::RequiresPaymentMethod | Status::RequiresAction | Status::RequiresCapture
    );
    let (capture_href, void_href) = match &intent.order_id {
        Some(order) => (
            signed.href(&format!(
                "/orders/{order}/payment-intents/{}/capture",
                intent.id
            )),
            signed.href(&format!(
                "/orders/{order}/payment-intents/{}/void",
                intent.id
            )),
        ),
        None => (format!("{base}/capture"), format!("{base}/void")),
    };
    let page = IntentPage {
        chrome: signed
            .chrome(intent.id.clone(), Section::Holds)
            .with_notice(notice_text(query.notice.as_deref())),
        id: intent.id.clone(),
        status: status_badge(intent.status),
        amount: money(intent.amount.amount),
        description: intent.description.clone().unwrap_or_default(),
        authorized: money(intent.authorized),
        capturable: money(intent.capturable),
        captured: money(intent.captured),
        released: money(intent.released),
        refunded: money(intent.refunded),
        deadline,
        time_left,
        band_class: band.class(),
        band_label: band.label(),
        scheduled: views::scheduled_text(&intent),
        facts,
        actions,
        events,
        refunds,
        can_capture: operator && holding,
        can_void: operator && open && intent.order_id.as_ref().is_none_or(|_| holding),
        void_label: if holding { "Void" } else { "Cancel" },
        can_refund: operator && intent.refundable() > 0,
        can_schedule: operator && open,
        can_clear_schedule: operator && intent.scheduled_action.is_some(),
        clear_key: new_key(),
        capture_href,
        void_href,
        base,
    };
    html(&page)
}

fn delivery_row(signed: &Signed, d: &holdfast_store::DeliveryRecord) -> DeliveryRow {
    let last = d.log.last();
    let last_answer = match last {
        None => "Not attempted yet".to_owned(),
        Some(a) => {
            let status = a
                .status_code
                .map_or_else(|| "no answer".to_owned(), |c| format!("HTTP {c}"));
            let error = a
                .error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            format!("{status} in {} ms{error}", a.latency_ms)
        }
    };
    DeliveryRow {
        endpoint_id: d.endpoint_id.clone(),
        endpoint_href: signed.href(&format!("/webhooks/{}", d.endpoint_id)),
        status: format::humanize(&d.status),
        attempts: d.attempts,
        last_answer,
        next_attempt: d.next_attempt_at.map(format::datetime).unwrap_or_default(),
    }
}

// ---- Capture ------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "capture.html")]
struct CaptureDialog {
    standalone: bool,
    csrf: String,
    key: String,
    review_action: String,
    back: String,
    id: String,
    authorized: String,
    capturable: String,
    currency: String,
    amount: String,
    error: Option<ShownRefusal>,
}

#[derive(Template)]
#[template(path = "capture_review.html")]
struct CaptureReview {
    standalone: bool,
    csrf: String,
    key: String,
    action: String,
    edit_href: String,
    id: String,
    amount_minor: i64,
    amount: String,
    typed: String,
    capturable: String,
    released: String,
    whole: bool,
    exceeds: bool,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CaptureDialogQuery {
    #[serde(default)]
    pub(crate) key: Option<String>,
    #[serde(default)]
    pub(crate) amount: Option<String>,
}

/// Where a capture dialog posts, and what it is about: an intent alone or through its order.
pub(crate) struct CaptureTarget {
    pub(crate) action: String,
    pub(crate) back: String,
}

pub(crate) fn capture_form(
    signed: &Signed,
    intent: &PaymentIntent,
    target: &CaptureTarget,
    key: String,
    typed: Option<String>,
    error: Option<ShownRefusal>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let currency = intent.currency();
    let amount = typed.unwrap_or_else(|| format::major_plain(intent.capturable, currency));
    dialog(signed, status, Section::Holds, "Capture", |standalone| {
        CaptureDialog {
            standalone,
            csrf: signed.session.csrf_token.clone(),
            key: key.clone(),
            review_action: format!("{}/review", target.action),
            back: target.back.clone(),
            id: intent.id.clone(),
            authorized: format::money(intent.authorized, currency),
            capturable: format::money(intent.capturable, currency),
            currency: currency.to_string(),
            amount: amount.clone(),
            error: error.clone(),
        }
        .render()
    })
}

pub(crate) async fn capture_dialog(
    State(web): State<Web>,
    signed: Signed,
    Path(IdPath { id }): Path<IdPath>,
    Query(query): Query<CaptureDialogQuery>,
) -> Result<Response, WebError> {
    signed.require(Permission::MoveMoney)?;
    let (intent, _) = load(&web, &signed, &id).await?;
    let base = signed.href(&format!("/payment-intents/{}", intent.id));
    let target = CaptureTarget {
        action: format!("{base}/capture"),
        back: base,
    };
    capture_form(
        &signed,
        &intent,
        &target,
        reuse_key(query.key),
        query.amount,
        None,
        StatusCode::OK,
    )
}

/// The key a "back" link carried, if it is one of ours; else a fresh one.
pub(crate) fn reuse_key(key: Option<String>) -> String {
    key.filter(|k| {
        k.strip_prefix("dash_")
            .is_some_and(|r| r.len() == 24 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
    })
    .unwrap_or_else(new_key)
}

#[derive(Debug, Deserialize)]
pub(crate) struct CaptureReviewForm {
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    amount: String,
}

pub(crate) async fn capture_review(
    State(web): State<Web>,
    Path(IdPath { id }): Path<IdPath>,
    act: Act<CaptureReviewForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::MoveMoney)?;
    let (intent, _) = load(&web, signed, &id).await?;
    let base = signed.href(&format!("/payment-intents/{}", intent.id));
    let target = CaptureTarget {
        action: format!("{base}/capture"),
        back: base,
    };
    review(signed, &intent, &target, act.form)
}

/// Shows back a typed capture amount before it is confirmed.
pub(crate) fn review(
    signed: &Signed,
    intent: &PaymentIntent,
    target: &CaptureTarget,
    form: CaptureReviewForm,
) -> Result<Response, WebError> {
    let currency = intent.currency();
    let minor = match format::parse_major(&form.amount, currency) {
        Ok(minor) => minor,
        Err(why) => {
            let refusal = ShownRefusal {
                message: why,
                code: "INVALID_PARAMETER".into(),
            };
            return capture_form(
                signed,
                intent,
                target,
                reuse_key(Some(form.idempotency_key)),
                Some(form.amount),
                Some(refusal),
                StatusCode::BAD_REQUEST,
            );
        }
    };
    let key = reuse_key(Some(form.idempotency_key));
    let edit_href = format!(
        "{}?key={key}&amount={}",
        target.action,
        crate::error::encode(&form.amount)
    );
    dialog(
        signed,
        StatusCode::OK,
        Section::Holds,
        "Review capture",
        |standalone| {
            CaptureReview {
                standalone,
                csrf: signed.session.csrf_token.clone(),
                key: key.clone(),
                action: target.action.clone(),
                edit_href: edit_href.clone(),
                id: intent.id.clone(),
                amount_minor: minor,
                amount: format::money(minor, currency),
                typed: form.amount.clone(),
                capturable: format::money(intent.capturable, currency),
                released: format::money((intent.capturable - minor).max(0), currency),
                whole: minor == intent.capturable,
                exceeds: minor > intent.capturable,
            }
            .render()
        },
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct CaptureForm {
    #[serde(default)]
    idempotency_key: String,
    amount_minor: i64,
    #[serde(default)]
    typed: String,
}

pub(crate) async fn capture(
    State(web): State<Web>,
    Path(IdPath { id }): Path<IdPath>,
    act: Act<CaptureForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::MoveMoney)?;
    let (intent, _) = load(&web, signed, &id).await?;
    let currency = intent.currency();
    let amount = act.form.amount_minor;
    let req = CaptureRequest {
        amount: Some(RawMoney {
            amount,
            currency: currency.to_string(),
        }),
        reference: None,
        metadata: Default::default(),
        final_capture: None,
    };
    let what = format!("capture {id} {amount} {currency}");
    let app = &web.app;
    let ctx = actions::context(signed, &act.form.idempotency_key, &what)?;
    let outcome = actions::run(
        &web,
        &ctx,
        || app.capture_intent(&ctx, &id, req.clone()),
        |i: &PaymentIntent| Done {
            object: i.id.clone(),
            ..Done::default()
        },
    )
    .await;
    let base = signed.href(&format!("/payment-intents/{id}"));
    match outcome {
        Ok(d) => Ok(done(
            signed,
            &base,
            if d.replayed { "replayed" } else { "captured" },
        )),
        Err(refusal) => {
            let status = refused_status(&refusal);
            let target = CaptureTarget {
                action: format!("{base}/capture"),
                back: base,
            };
            let typed = if act.form.typed.is_empty() {
                format::major_plain(amount, currency)
            } else {
                act.form.typed.clone()
            };
            capture_form(
                signed,
                &intent,
                &target,
                new_key(),
                Some(typed),
                Some(refusal.into()),
                status,
            )
        }
    }
}

// ---- Void ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "void.html")]
struct VoidDialog {
    standalone: bool,
    csrf: String,
    key: String,
    action: String,
    back: String,
    id: String,
    holding: bool,
    capturable: String,
    reasons: Vec<(&'static str, &'static str, bool)>,
    /// Through an order, a void takes no reason.
    with_reason: bool,
    error: Option<ShownRefusal>,
}

const VOID_REASONS: &[(&str, &str)] = &[
    ("", "No reason given"),
    ("requested_by_customer", "Requested by customer"),
    ("duplicate", "Duplicate"),
    ("fraudulent", "Fraudulent"),
    ("abandoned", "Abandoned"),
];

pub(crate) fn void_form(
    signed: &Signed,
    intent: &PaymentIntent,
    target: &CaptureTarget,
    reason: Option<&str>,
    error: Option<ShownRefusal>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let key = new_key();
    let with_reason = reason.is_some();
    let reason = reason.unwrap_or("");
    dialog(signed, status, Section::Holds, "Void", |standalone| {
        VoidDialog {
            standalone,
            csrf: signed.session.csrf_token.clone(),
            key: key.clone(),
            action: target.action.clone(),
            back: target.back.clone(),
            id: intent.id.clone(),
            holding: intent.status == Status::RequiresCapture,
            capturable: format::money(intent.capturable, intent.currency()),
            reasons: VOID_REASONS
                .iter()
                .map(|(v, l)| (*v, *l, *v == reason))
                .collect(),
            with_reason,
            error: error.clone(),
        }
        .render()
    })
}

pub(crate) async fn void_dialog(
    State(web): State<Web>,
    signed: Signed,
    Path(IdPath { id }): Path<IdPath>,
) -> Result<Response, WebError> {
    signed.require(Permission::MoveMoney)?;
    let (intent, _) = load(&web, &signed, &id).await?;
    let base = signed.href(&format!("/payment-intents/{}", intent.id));
    let target = CaptureTarget {
        action: format!("{base}/void"),
        back: base,
    };
    void_form(&signed, &intent, &target, Some(""), None, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub(crate) struct VoidForm {
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    reason: String,
}

pub(crate) async fn void(
    State(web): State<Web>,
    Path(IdPath { id }): Path<IdPath>,
    act: Act<VoidForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::MoveMoney)?;
    let (intent, _) = load(&web, signed, &id).await?;
    let reason = (!act.form.reason.is_empty()).then(|| act.form.reason.clone());
    let what = format!("void {id} {}", act.form.reason);
    let app = &web.app;
    let ctx = actions::context(signed, &act.form.idempotency_key, &what)?;
    let outcome = actions::run(
        &web,
        &ctx,
        || app.cancel_intent(&ctx, &id, reason.clone()),
        |i: &PaymentIntent| Done {
            object: i.id.clone(),
            ..Done::default()
        },
    )
    .await;
    let base = signed.href(&format!("/payment-intents/{id}"));
    match outcome {
        Ok(d) => Ok(done(
            signed,
            &base,
            if d.replayed { "replayed" } else { "voided" },
        )),
        Err(refusal) => {
            let status = refused_status(&refusal);
            let target = CaptureTarget {
                action: format!("{base}/void"),
                back: base,
            };
            void_form(
                signed,
                &intent,
                &target,
                Some(&act.form.reason),
                Some(refusal.into()),
                status,
            )
        }
    }
}

// ---- Refund -------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "refund.html")]
struct RefundDialog {
    standalone: bool,
    csrf: String,
    key: String,
    action: String,
    back: String,
    id: String,
    captured: String,
    refunded: String,
    refundable: String,
    currency: String,
    amount: String,
    reasons: Vec<(&'static str, &'static str, bool)>,
    error: Option<ShownRefusal>,
}

const REFUND_REASONS: &[(&str, &str)] = &[
    ("", "No reason given"),
    ("requested_by_customer", "Requested by customer"),
    ("duplicate", "Duplicate"),
    ("fraudulent", "Fraudulent"),
];

fn refund_form(
    signed: &Signed,
    intent: &PaymentIntent,
    typed: Option<String>,
    reason: &str,
    error: Option<ShownRefusal>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let key = new_key();
    let currency = intent.currency();
    let base = signed.href(&format!("/payment-intents/{}", intent.id));
    let amount = typed.unwrap_or_else(|| format::major_plain(intent.refundable(), currency));
    dialog(signed, status, Section::Holds, "Refund", |standalone| {
        RefundDialog {
            standalone,
            csrf: signed.session.csrf_token.clone(),
            key: key.clone(),
            action: format!("{base}/refund"),
            back: base.clone(),
            id: intent.id.clone(),
            captured: format::money(intent.captured, currency),
            refunded: format::money(intent.refunded + intent.refund_pending, currency),
            refundable: format::money(intent.refundable(), currency),
            currency: currency.to_string(),
            amount: amount.clone(),
            reasons: REFUND_REASONS
                .iter()
                .map(|(v, l)| (*v, *l, *v == reason))
                .collect(),
            error: error.clone(),
        }
        .render()
    })
}

pub(crate) async fn refund_dialog(
    State(web): State<Web>,
    signed: Signed,
    Path(IdPath { id }): Path<IdPath>,
) -> Result<Response, WebError> {
    signed.require(Permission::MoveMoney)?;
    let (intent, _) = load(&web, &signed, &id).await?;
    refund_form(&signed, &intent, None, "", None, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub(crate) struct RefundForm {
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
}

pub(crate) async fn refund(
    State(web): State<Web>,
    Path(IdPath { id }): Path<IdPath>,
    act: Act<RefundForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::MoveMoney)?;
    let (intent, _) = load(&web, signed, &id).await?;
    let currency = intent.currency();
    let amount = match format::parse_major(&act.form.amount, currency) {
        Ok(minor) => minor,
        Err(why) => {
            let refusal = ShownRefusal {
                message: why,
                code: "INVALID_PARAMETER".into(),
            };
            return refund_form(
                signed,
                &intent,
                Some(act.form.amount.clone()),
                &act.form.reason,
                Some(refusal),
                StatusCode::BAD_REQUEST,
            );
        }
    };
    let req = RefundRequest {
        amount: Some(RawMoney {
            amount,
            currency: currency.to_string(),
        }),
        reason: (!act.form.reason.is_empty()).then(|| act.form.reason.clone()),
        reference: None,
        metadata: Default::default(),
    };
    let what = format!("refund {id} {amount} {currency} {}", act.form.reason);
    let app = &web.app;
    let ctx = actions::context(signed, &act.form.idempotency_key, &what)?;
    let outcome = actions::run(
        &web,
        &ctx,
        || app.create_refund(&ctx, &id, req.clone()),
        |r: &holdfast_domain::refund::Refund| Done {
            object: r.id.clone(),
            ..Done::default()
        },
    )
    .await;
    let base = signed.href(&format!("/payment-intents/{id}"));
    match outcome {
        Ok(d) => Ok(done(
            signed,
            &base,
            if d.replayed { "replayed" } else { "refunded" },
        )),
        Err(refusal) => {
            let status = refused_status(&refusal);
            refund_form(
                signed,
                &intent,
                Some(act.form.amount.clone()),
                &act.form.reason,
                Some(refusal.into()),
                status,
            )
        }
    }
}

// ---- Schedule -----------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "schedule.html")]
struct ScheduleDialog {
    standalone: bool,
    csrf: String,
    key: String,
    action: String,
    back: String,
    id: String,
    deadline: String,
    capture_checked: bool,
    at: String,
    amount: String,
    currency: String,
    error: Option<ShownRefusal>,
}

fn schedule_form(
    signed: &Signed,
    intent: &PaymentIntent,
    form: Option<&ScheduleForm>,
    error: Option<ShownRefusal>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let key = new_key();
    let base = signed.href(&format!("/payment-intents/{}", intent.id));
    let currency = intent.currency();
    // By default, an hour before the deadline (or, before confirm, nothing).
    let suggested = intent
        .authorization_expires_at
        .map(|at| format::datetime_local(at.plus_seconds(-3600)))
        .unwrap_or_default();
    dialog(signed, status, Section::Holds, "Schedule", |standalone| {
        ScheduleDialog {
            standalone,
            csrf: signed.session.csrf_token.clone(),
            key: key.clone(),
            action: format!("{base}/schedule"),
            back: base.clone(),
            id: intent.id.clone(),
            deadline: intent
                .authorization_expires_at
                .map(format::datetime)
                .unwrap_or_default(),
            capture_checked: form.is_none_or(|f| f.kind != "void"),
            at: form.map_or_else(|| suggested.clone(), |f| f.at.clone()),
            amount: form.map(|f| f.amount.clone()).unwrap_or_default(),
            currency: currency.to_string(),
            error: error.clone(),
        }
        .render()
    })
}

pub(crate) async fn schedule_dialog(
    State(web): State<Web>,
    signed: Signed,
    Path(IdPath { id }): Path<IdPath>,
) -> Result<Response, WebError> {
    signed.require(Permission::MoveMoney)?;
    let (intent, _) = load(&web, &signed, &id).await?;
    schedule_form(&signed, &intent, None, None, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ScheduleForm {
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    at: String,
    #[serde(default)]
    amount: String,
}

pub(crate) async fn schedule(
    State(web): State<Web>,
    Path(IdPath { id }): Path<IdPath>,
    act: Act<ScheduleForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::MoveMoney)?;
    let (intent, _) = load(&web, signed, &id).await?;
    let form = &act.form;
    let currency: Currency = intent.currency();
    let bad = |message: String| {
        schedule_form(
            signed,
            &intent,
            Some(form),
            Some(ShownRefusal {
                message,
                code: "INVALID_PARAMETER".into(),
            }),
            StatusCode::BAD_REQUEST,
        )
    };
    let Some(at) = format::parse_datetime_local(&form.at) else {
        return bad("Enter the date and time (UTC) at which it should run.".into());
    };
    let amount = match form.amount.trim() {
        "" => None,
        typed if form.kind == "capture" => match format::parse_major(typed, currency) {
            Ok(minor) => Some(RawMoney {
                amount: minor,
                currency: currency.to_string(),
            }),
            Err(why) => return bad(why),
        },
        _ => None,
    };
    let req = ScheduleRequest {
        kind: form.kind.clone(),
        at: Some(at),
        offset_before_expiry_seconds: None,
        amount,
    };
    let what = format!(
        "schedule {id} {} {} {:?}",
        form.kind,
        at.seconds(),
        req.amount.as_ref().map(|m| m.amount)
    );
    let app = &web.app;
    let ctx = actions::context(signed, &form.idempotency_key, &what)?;
    let outcome = actions::run(
        &web,
        &ctx,
        || app.set_scheduled_action(&ctx, &id, req.clone()),
        |i: &PaymentIntent| Done {
            object: i.id.clone(),
            ..Done::default()
        },
    )
    .await;
    let base = signed.href(&format!("/payment-intents/{id}"));
    match outcome {
        Ok(d) => Ok(done(
            signed,
            &base,
            if d.replayed { "replayed" } else { "scheduled" },
        )),
        Err(refusal) => {
            let status = refused_status(&refusal);
            schedule_form(signed, &intent, Some(form), Some(refusal.into()), status)
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct KeyForm {
    #[serde(default)]
    pub(crate) idempotency_key: String,
}

pub(crate) async fn clear_schedule(
    State(web): State<Web>,
    Path(IdPath { id }): Path<IdPath>,
    act: Act<KeyForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::MoveMoney)?;
    let what = format!("clear-schedule {id}");
    let app = &web.app;
    let ctx = actions::context(signed, &act.form.idempotency_key, &what)?;
    let outcome = actions::run(
        &web,
        &ctx,
        || app.clear_scheduled_action(&ctx, &id),
        |i: &PaymentIntent| Done {
            object: i.id.clone(),
            ..Done::default()
        },
    )
    .await;
    let base = signed.href(&format!("/payment-intents/{id}"));
    match outcome {
        Ok(_) => Ok(done(signed, &base, "schedule-cleared")),
        Err(refusal) => Err(WebError::Refused(refusal)),
    }
}
