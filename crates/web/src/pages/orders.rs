//! Orders: the list, one order with its authorization and settlement amounts and its intents, and
//! capture or void of an order's hold through the order (as the API's order routes do).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use holdfast_domain::intent::{PaymentIntent, RawMoney};
use holdfast_domain::order::{Order, OrderStatus};
use holdfast_domain::user::Permission;
use holdfast_store::OrderFilter;
use serde::Deserialize;

use crate::Web;
use crate::actions::{self, Done, new_key};
use crate::auth::{Act, Signed};
use crate::error::{WebError, encode};
use crate::format;
use crate::pages::intent::{
    CaptureDialogQuery, CaptureReviewForm, CaptureTarget, capture_form, reuse_key, review,
    void_form,
};
use crate::pages::{clock_times, done, html, notice_text, page_request, refused_status, time_of};
use crate::views::{Badge, Chrome, IntentRow, Section};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct OrdersQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Debug)]
struct OrderRow {
    id: String,
    href: String,
    status: Badge,
    reference: String,
    total: String,
    authorized: String,
    paid: String,
    due: String,
    created: String,
}

fn order_badge(status: OrderStatus) -> Badge {
    Badge {
        text: format::humanize(status.as_str()),
        class: match status {
            OrderStatus::Open => "badge-pending",
            OrderStatus::Paid => "badge-ok",
            OrderStatus::Canceled => "badge-muted",
        },
    }
}

fn order_row(signed: &Signed, o: &Order) -> OrderRow {
    let m = |amount| format::money(amount, o.currency);
    OrderRow {
        id: o.id.clone(),
        href: signed.href(&format!("/orders/{}", o.id)),
        status: order_badge(o.status),
        reference: o.reference.clone().unwrap_or_default(),
        total: m(o.total),
        authorized: m(o.authorized()),
        paid: m(o.paid),
        due: m(o.amount_due()),
        created: format::datetime(o.created_at),
    }
}

#[derive(Template)]
#[template(path = "orders.html")]
struct OrdersPage {
    chrome: Chrome,
    rows: Vec<OrderRow>,
    statuses: Vec<(&'static str, bool)>,
    next_href: Option<String>,
}

pub(crate) async fn list(
    State(web): State<Web>,
    signed: Signed,
    Query(query): Query<OrdersQuery>,
) -> Result<Response, WebError> {
    let status = OrderStatus::parse(&query.status);
    let page = web
        .app
        .list_orders(
            &signed.scope(),
            OrderFilter {
                status,
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
                "/orders?status={}&cursor={}",
                encode(&query.status),
                encode(c)
            ))
        });
    let page = OrdersPage {
        chrome: signed.chrome("Orders", Section::Orders),
        rows: page.data.iter().map(|o| order_row(&signed, o)).collect(),
        statuses: OrderStatus::ALL
            .iter()
            .map(|s| (s.as_str(), Some(*s) == status))
            .collect(),
        next_href,
    };
    html(&page)
}

#[derive(Debug)]
struct LineView {
    name: String,
    quantity: i64,
    unit_price: String,
    total: String,
}

#[derive(Debug)]
struct OrderIntent {
    row: IntentRow,
    authorized: String,
    captured: String,
    released: String,
    capture_href: String,
    void_href: String,
    holding: bool,
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    chrome: Chrome,
    base: String,
    id: String,
    status: Badge,
    reference: String,
    total: String,
    authorized: String,
    capturable: String,
    hold_expires: String,
    paid: String,
    due: String,
    refunded: String,
    tip: String,
    lines: Vec<LineView>,
    discounts: Vec<(String, String)>,
    intents: Vec<OrderIntent>,
    created: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct OrderPath {
    id: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

pub(crate) async fn page(
    State(web): State<Web>,
    signed: Signed,
    Path(OrderPath { id }): Path<OrderPath>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let scope = signed.scope();
    let order = web.app.get_order(&scope, &id).await?;
    let mut loaded = Vec::with_capacity(order.payment_intent_ids.len());
    for pid in &order.payment_intent_ids {
        loaded.push(web.app.get_intent(&scope, pid).await?);
    }
    let now = web.app.now();
    let times = clock_times(&web, &scope, &loaded).await;
    let base = signed.href(&format!("/orders/{}", order.id));
    let operator = signed.can(Permission::MoveMoney);
    let intents = loaded
        .iter()
        .map(|i| {
            let c = i.currency();
            OrderIntent {
                row: IntentRow::new(&signed, i, time_of(&times, i, now)),
                authorized: format::money(i.authorized, c),
                captured: format::money(i.captured, c),
                released: format::money(i.released, c),
                capture_href: format!("{base}/payment-intents/{}/capture", i.id),
                void_href: format!("{base}/payment-intents/{}/void", i.id),
                holding: operator && i.status == holdfast_domain::intent::Status::RequiresCapture,
            }
        })
        .collect();
    let m = |amount| format::money(amount, order.currency);
    let page = OrderPage {
        chrome: signed
            .chrome(order.id.clone(), Section::Orders)
            .with_notice(notice_text(query.notice.as_deref())),
        base,
        id: order.id.clone(),
        status: order_badge(order.status),
        reference: order.reference.clone().unwrap_or_default(),
        total: m(order.total),
        authorized: m(order.authorized()),
        capturable: m(order.capturable()),
        hold_expires: order
            .hold_expires_at()
            .map(format::datetime)
            .unwrap_or_default(),
        paid: m(order.paid),
        due: m(order.amount_due()),
        refunded: m(order.refunded),
        tip: m(order.tip),
        lines: order
            .line_items
            .iter()
            .map(|l| LineView {
                name: l.name.clone(),
                quantity: l.quantity,
                unit_price: format::money(l.unit_price.amount, l.unit_price.currency),
                total: m(l.total()),
            })
            .collect(),
        discounts: order
            .discounts
            .iter()
            .map(|d| {
                (
                    d.name.clone(),
                    format::money(d.amount.amount, d.amount.currency),
                )
            })
            .collect(),
        intents,
        created: format::datetime(order.created_at),
    };
    html(&page)
}

#[derive(Debug, Deserialize)]
pub(crate) struct OrderIntentPath {
    id: String,
    pid: String,
}

/// An order and one of its intents, or 404 when the intent is not the order's.
async fn load(
    web: &Web,
    signed: &Signed,
    order_id: &str,
    intent_id: &str,
) -> Result<(Order, PaymentIntent), WebError> {
    let scope = signed.scope();
    let order = web.app.get_order(&scope, order_id).await?;
    if !order.payment_intent_ids.iter().any(|p| p == intent_id) {
        return Err(WebError::NotFound);
    }
    let intent = web.app.get_intent(&scope, intent_id).await?;
    Ok((order, intent))
}

fn target(signed: &Signed, order_id: &str, intent_id: &str, verb: &str) -> CaptureTarget {
    let back = signed.href(&format!("/orders/{order_id}"));
    CaptureTarget {
        action: format!("{back}/payment-intents/{intent_id}/{verb}"),
        back,
    }
}

pub(crate) async fn capture_dialog(
    State(web): State<Web>,
    signed: Signed,
    Path(OrderIntentPath { id, pid }): Path<OrderIntentPath>,
    Query(query): Query<CaptureDialogQuery>,
) -> Result<Response, WebError> {
    signed.require(Permission::MoveMoney)?;
    let (_, intent) = load(&web, &signed, &id, &pid).await?;
    capture_form(
        &signed,
        &intent,
        &target(&signed, &id, &pid, "capture"),
        reuse_key(query.key),
        query.amount,
        None,
        StatusCode::OK,
    )
}

pub(crate) async fn capture_review(
    State(web): State<Web>,
    Path(OrderIntentPath { id, pid }): Path<OrderIntentPath>,
    act: Act<CaptureReviewForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::MoveMoney)?;
    let (_, intent) = load(&web, signed, &id, &pid).await?;
    review(
        signed,
        &intent,
        &target(signed, &id, &pid, "capture"),
        act.form,
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
    Path(OrderIntentPath { id, pid }): Path<OrderIntentPath>,
    act: Act<CaptureForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::MoveMoney)?;
    let (_, intent) = load(&web, signed, &id, &pid).await?;
    let currency = intent.currency();
    let amount = act.form.amount_minor;
    let raw = RawMoney {
        amount,
        currency: currency.to_string(),
    };
    let what = format!("order-capture {id} {pid} {amount} {currency}");
    let ctx = actions::context(signed, &act.form.idempotency_key, &what)?;
    let app = &web.app;
    let outcome = actions::run(
        &web,
        &ctx,
        || app.capture_order_intent(&ctx, &id, &pid, Some(raw.clone()), None, None),
        |o: &Order| Done {
            object: o.id.clone(),
            ..Done::default()
        },
    )
    .await;
    let back = signed.href(&format!("/orders/{id}"));
    match outcome {
        Ok(d) => Ok(done(
            signed,
            &back,
            if d.replayed { "replayed" } else { "captured" },
        )),
        Err(refusal) => {
            let status = refused_status(&refusal);
            let typed = if act.form.typed.is_empty() {
                format::major_plain(amount, currency)
            } else {
                act.form.typed.clone()
            };
            capture_form(
                signed,
                &intent,
                &target(signed, &id, &pid, "capture"),
                new_key(),
                Some(typed),
                Some(refusal.into()),
                status,
            )
        }
    }
}

pub(crate) async fn void_dialog(
    State(web): State<Web>,
    signed: Signed,
    Path(OrderIntentPath { id, pid }): Path<OrderIntentPath>,
) -> Result<Response, WebError> {
    signed.require(Permission::MoveMoney)?;
    let (_, intent) = load(&web, &signed, &id, &pid).await?;
    void_form(
        &signed,
        &intent,
        &target(&signed, &id, &pid, "void"),
        None,
        None,
        StatusCode::OK,
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct VoidForm {
    #[serde(default)]
    idempotency_key: String,
}

pub(crate) async fn void(
    State(web): State<Web>,
    Path(OrderIntentPath { id, pid }): Path<OrderIntentPath>,
    act: Act<VoidForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::MoveMoney)?;
    let (_, intent) = load(&web, signed, &id, &pid).await?;
    // The order route records no cancellation reason (as the API's order void takes none).
    let what = format!("order-void {id} {pid}");
    let ctx = actions::context(signed, &act.form.idempotency_key, &what)?;
    let app = &web.app;
    let outcome = actions::run(
        &web,
        &ctx,
        || app.void_order_intent(&ctx, &id, &pid, None),
        |o: &Order| Done {
            object: o.id.clone(),
            ..Done::default()
        },
    )
    .await;
    let back = signed.href(&format!("/orders/{id}"));
    match outcome {
        Ok(d) => Ok(done(
            signed,
            &back,
            if d.replayed { "replayed" } else { "voided" },
        )),
        Err(refusal) => {
            let status = refused_status(&refusal);
            void_form(
                signed,
                &intent,
                &target(signed, &id, &pid, "void"),
                None,
                Some(refusal.into()),
                status,
            )
        }
    }
}
