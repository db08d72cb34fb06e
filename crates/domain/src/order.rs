//! Orders: line items, a total, and the payments against it, so the order tracks its authorization,
//! its settlement and its refunds in one place.
//!
//! An order's money follows one rule: `amount_due = total - paid`, never negative. While a hold on
//! the order is active its financials are locked (`PAYMENT_ATTEMPT_IN_PROGRESS`); once anything is
//! paid they stay locked. Each payment step on an order-linked intent has an order counterpart
//! here (`apply_hold`, `apply_capture`, `apply_release`) that the service commits together with
//! the intent's own transition.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, Rejection};
use crate::event_type::EventType;
use crate::intent::{CaptureMethod, PaymentIntent, RawMoney, Status, TEXT_CHARS_MAX};
use crate::metadata::{self, Metadata};
use crate::money::{Currency, Money};
use crate::{Scope, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Open,
    Paid,
    Canceled,
}

impl OrderStatus {
    pub const ALL: &'static [OrderStatus] =
        &[OrderStatus::Open, OrderStatus::Paid, OrderStatus::Canceled];

    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Open => "open",
            OrderStatus::Paid => "paid",
            OrderStatus::Canceled => "canceled",
        }
    }

    pub fn parse(name: &str) -> Option<OrderStatus> {
        OrderStatus::ALL
            .iter()
            .copied()
            .find(|s| s.as_str() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InventoryTracking {
    None,
    /// Stock is committed at payment: such items cannot sit behind a hold.
    Strict,
}

impl InventoryTracking {
    pub const ALL: &'static [InventoryTracking] =
        &[InventoryTracking::None, InventoryTracking::Strict];

    pub const fn as_str(self) -> &'static str {
        match self {
            InventoryTracking::None => "none",
            InventoryTracking::Strict => "strict",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub name: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub sku: Option<String>,
    pub inventory_tracking: InventoryTracking,
}

impl LineItem {
    pub fn total(&self) -> i64 {
        self.quantity.saturating_mul(self.unit_price.amount)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discount {
    pub name: String,
    pub amount: Money,
}

/// An active authorization on the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderHold {
    pub payment_intent_id: String,
    pub authorized: i64,
    pub capturable: i64,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub scope: Scope,
    pub version: u64,
    pub status: OrderStatus,
    pub currency: Currency,
    pub line_items: Vec<LineItem>,
    pub tip: i64,
    pub discounts: Vec<Discount>,
    pub reference: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    /// Line items plus tip less discounts, never negative.
    pub total: i64,
    pub paid: i64,
    pub refunded: i64,
    pub holds: Vec<OrderHold>,
    /// Every intent created on the order, oldest first.
    pub payment_intent_ids: Vec<String>,
    pub canceled_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Order {
    pub fn money(&self, amount: i64) -> Money {
        Money::new(amount, self.currency)
    }

    /// What is still to be paid.
    pub fn amount_due(&self) -> i64 {
        (self.total - self.paid).max(0)
    }

    pub fn authorized(&self) -> i64 {
        self.holds.iter().map(|h| h.authorized).sum()
    }

    pub fn capturable(&self) -> i64 {
        self.holds.iter().map(|h| h.capturable).sum()
    }

    /// The earliest deadline among the active holds.
    pub fn hold_expires_at(&self) -> Option<Timestamp> {
        self.holds.iter().map(|h| h.expires_at).min()
    }

    pub fn has_strict_inventory(&self) -> bool {
        self.line_items
            .iter()
            .any(|i| i.inventory_tracking == InventoryTracking::Strict)
    }

    fn next_version(&self, now: Timestamp) -> Order {
        let mut next = self.clone();
        next.version += 1;
        next.updated_at = now;
        next
    }
}

/// What an order event reports besides the order itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OrderEventDetail {
    pub payment_intent_id: String,
    pub authorized: Option<i64>,
    pub capturable: Option<i64>,
    pub authorization_expires_at: Option<Timestamp>,
    pub captured: Option<i64>,
    pub released: Option<i64>,
    #[serde(default)]
    pub refunded: Option<i64>,
}

/// The next order and the events (with what each reports) to record with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTransition {
    pub order: Order,
    pub events: Vec<(EventType, OrderEventDetail)>,
}

// ---- Creating and editing ----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItemRequest {
    pub name: String,
    pub quantity: i64,
    pub unit_price: RawMoney,
    pub sku: Option<String>,
    pub inventory_tracking: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscountRequest {
    pub name: String,
    pub amount: RawMoney,
}

/// The money fields of an order as asked for: what create takes and what PATCH replaces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Financials {
    pub line_items: Vec<LineItemRequest>,
    pub tip: Option<RawMoney>,
    pub discounts: Vec<DiscountRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateOrder {
    pub currency: String,
    pub financials: Financials,
    pub reference: Option<String>,
    pub metadata: Metadata,
}

/// `PATCH /v1/orders/{id}`: each field given replaces the stored one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateOrder {
    pub line_items: Option<Vec<LineItemRequest>>,
    pub tip: Option<Option<RawMoney>>,
    pub discounts: Option<Vec<DiscountRequest>>,
    pub reference: Option<Option<String>>,
    pub metadata: Option<Metadata>,
}

impl UpdateOrder {
    fn touches_money(&self) -> bool {
        self.line_items.is_some() || self.tip.is_some() || self.discounts.is_some()
    }
}

fn in_currency(raw: &RawMoney, currency: Currency, param: &str) -> Result<Money, Rejection> {
    let parsed = Currency::parse(&raw.currency).ok_or_else(|| {
        Rejection::param(
            ErrorCode::InvalidParameter,
            &format!("{param}.currency"),
            format!(
                "{:?} is not an upper-case ISO 4217 currency code",
                raw.currency
            ),
        )
    })?;
    if parsed != currency {
        return Err(Rejection::param(
            ErrorCode::OrderCurrencyMismatch,
            &format!("{param}.currency"),
            format!("every amount on the order is in its currency, {currency}"),
        ));
    }
    if raw.amount < 0 {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            &format!("{param}.amount"),
            "amounts on an order are zero or more",
        ));
    }
    Ok(Money::new(raw.amount, currency))
}

fn text(value: &str, param: &str, required: bool) -> Result<(), Rejection> {
    if (required && value.trim().is_empty()) || value.chars().count() > TEXT_CHARS_MAX {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            param,
            format!("{param} is 1 to {TEXT_CHARS_MAX} characters"),
        ));
    }
    Ok(())
}

/// Line items, tip and discounts, checked, with the total they make.
struct CheckedFinancials {
    line_items: Vec<LineItem>,
    tip: i64,
    discounts: Vec<Discount>,
    total: i64,
}

/// Most line items and discounts on one order.
pub const LINE_ITEMS_MAX: usize = 500;

fn check_financials(f: &Financials, currency: Currency) -> Result<CheckedFinancials, Rejection> {
    if f.line_items.is_empty() || f.line_items.len() > LINE_ITEMS_MAX {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "line_items",
            format!("an order has 1 to {LINE_ITEMS_MAX} line items"),
        ));
    }
    if f.discounts.len() > LINE_ITEMS_MAX {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "discounts",
            format!("an order has at most {LINE_ITEMS_MAX} discounts"),
        ));
    }
    let mut line_items = Vec::with_capacity(f.line_items.len());
    let mut sum: i64 = 0;
    let overflow = || {
        Rejection::param(
            ErrorCode::InvalidParameter,
            "line_items",
            "the order total is too large",
        )
    };
    for (i, item) in f.line_items.iter().enumerate() {
        let param = format!("line_items[{i}]");
        text(&item.name, &format!("{param}.name"), true)?;
        if item.quantity < 1 {
            return Err(Rejection::param(
                ErrorCode::InvalidParameter,
                &format!("{param}.quantity"),
                "quantity is 1 or more",
            ));
        }
        let unit_price = in_currency(
            &item.unit_price,
            currency,
            &format!("{param}.unit_price_money"),
        )?;
        let inventory_tracking = match item.inventory_tracking.as_deref() {
            None | Some("none") => InventoryTracking::None,
            Some("strict") => InventoryTracking::Strict,
            Some(_) => {
                return Err(Rejection::param(
                    ErrorCode::InvalidParameter,
                    &format!("{param}.inventory_tracking"),
                    "inventory_tracking takes none or strict",
                ));
            }
        };
        if let Some(sku) = &item.sku {
            text(sku, &format!("{param}.sku"), true)?;
        }
        let line = item
            .quantity
            .checked_mul(unit_price.amount)
            .ok_or_else(overflow)?;
        sum = sum.checked_add(line).ok_or_else(overflow)?;
        line_items.push(LineItem {
            name: item.name.clone(),
            quantity: item.quantity,
            unit_price,
            sku: item.sku.clone(),
            inventory_tracking,
        });
    }
    let tip = match &f.tip {
        None => 0,
        Some(raw) => in_currency(raw, currency, "tip_money")?.amount,
    };
    sum = sum.checked_add(tip).ok_or_else(overflow)?;
    let mut discounts = Vec::with_capacity(f.discounts.len());
    for (i, d) in f.discounts.iter().enumerate() {
        let param = format!("discounts[{i}]");
        text(&d.name, &format!("{param}.name"), true)?;
        let amount = in_currency(&d.amount, currency, &format!("{param}.amount_money"))?;
        sum = sum.checked_sub(amount.amount).ok_or_else(overflow)?;
        discounts.push(Discount {
            name: d.name.clone(),
            amount,
        });
    }
    Ok(CheckedFinancials {
        line_items,
        tip,
        discounts,
        // Discounts larger than the rest bring the total to zero, never below.
        total: sum.max(0),
    })
}

pub fn create_order(
    id: String,
    scope: Scope,
    req: CreateOrder,
    now: Timestamp,
) -> Result<Order, Rejection> {
    let currency = Currency::parse(&req.currency).ok_or_else(|| {
        Rejection::param(
            ErrorCode::InvalidParameter,
            "currency",
            format!(
                "{:?} is not an upper-case ISO 4217 currency code",
                req.currency
            ),
        )
    })?;
    let f = check_financials(&req.financials, currency)?;
    if let Some(reference) = &req.reference {
        text(reference, "reference", false)?;
    }
    metadata::validate(&req.metadata, "metadata")?;
    Ok(Order {
        id,
        scope,
        version: 1,
        status: OrderStatus::Open,
        currency,
        line_items: f.line_items,
        tip: f.tip,
        discounts: f.discounts,
        reference: req.reference,
        metadata: req.metadata,
        total: f.total,
        paid: 0,
        refunded: 0,
        holds: Vec::new(),
        payment_intent_ids: Vec::new(),
        canceled_at: None,
        created_at: now,
        updated_at: now,
    })
}

/// Why the order's financials cannot change now, if they cannot.
fn financials_locked(order: &Order) -> Option<Rejection> {
    if !order.holds.is_empty() {
        return Some(Rejection::new(
            ErrorCode::PaymentAttemptInProgress,
            "the order's financials are locked while a hold is active; capture or void it first",
        ));
    }
    if order.status != OrderStatus::Open || order.paid > 0 {
        return Some(Rejection::new(
            ErrorCode::OrderNotEditable,
            format!(
                "the order is {} with {} paid; its financials can no longer change",
                order.status.as_str(),
                order.paid
            ),
        ));
    }
    None
}

/// Applies a PATCH. Money fields are refused while locked; `reference` and `metadata` stay
/// editable.
pub fn update_order(order: &Order, req: UpdateOrder, now: Timestamp) -> Result<Order, Rejection> {
    if req.touches_money()
        && let Some(locked) = financials_locked(order)
    {
        return Err(locked);
    }
    let mut next = order.next_version(now);
    if req.touches_money() {
        let financials = Financials {
            line_items: req
                .line_items
                .unwrap_or_else(|| requests_of(&order.line_items)),
            tip: match req.tip {
                Some(tip) => tip,
                None => (order.tip > 0).then(|| raw(order.money(order.tip))),
            },
            discounts: req.discounts.unwrap_or_else(|| {
                order
                    .discounts
                    .iter()
                    .map(|d| DiscountRequest {
                        name: d.name.clone(),
                        amount: raw(d.amount),
                    })
                    .collect()
            }),
        };
        let f = check_financials(&financials, order.currency)?;
        next.line_items = f.line_items;
        next.tip = f.tip;
        next.discounts = f.discounts;
        next.total = f.total;
    }
    if let Some(reference) = req.reference {
        if let Some(r) = &reference {
            text(r, "reference", false)?;
        }
        next.reference = reference;
    }
    if let Some(metadata) = req.metadata {
        metadata::validate(&metadata, "metadata")?;
        next.metadata = metadata;
    }
    Ok(next)
}

fn raw(m: Money) -> RawMoney {
    RawMoney {
        amount: m.amount,
        currency: m.currency.to_string(),
    }
}

fn requests_of(items: &[LineItem]) -> Vec<LineItemRequest> {
    items
        .iter()
        .map(|i| LineItemRequest {
            name: i.name.clone(),
            quantity: i.quantity,
            unit_price: raw(i.unit_price),
            sku: i.sku.clone(),
            inventory_tracking: Some(i.inventory_tracking.as_str().to_owned()),
        })
        .collect()
}

/// Cancels an open order with no active hold and nothing paid.
pub fn cancel_order(order: &Order, now: Timestamp) -> Result<Order, Rejection> {
    if let Some(locked) = financials_locked(order) {
        return Err(locked);
    }
    let mut next = order.next_version(now);
    next.status = OrderStatus::Canceled;
    next.canceled_at = Some(now);
    Ok(next)
}

// ---- Paying ------------------------------------------------------------------------------------

/// Checks an intent about to be created on the order; returns the amount it will carry (the
/// balance due) to be replaced by its share when the order is paid.
pub fn check_new_intent(
    order: &Order,
    amount_given: bool,
    capture_method: Option<&str>,
) -> Result<Money, Rejection> {
    if amount_given {
        return Err(Rejection::param(
            ErrorCode::OrderLinkedAmountNotAllowed,
            "amount_money",
            "an order-linked intent takes no amount; it is derived from the order balance",
        ));
    }
    if capture_method == Some(CaptureMethod::Manual.as_str()) && order.has_strict_inventory() {
        return Err(strict_inventory());
    }
    if order.status != OrderStatus::Open || order.amount_due() == 0 {
        return Err(not_payable(order));
    }
    Ok(order.money(order.amount_due()))
}

fn strict_inventory() -> Rejection {
    Rejection::param(
        ErrorCode::StrictInventoryDelayedCaptureUnsupported,
        "capture_method",
        "the order holds strict-inventory line items, which cannot sit behind a hold; use automatic capture",
    )
}

fn not_payable(order: &Order) -> Rejection {
    Rejection::new(
        ErrorCode::OrderNotPayable,
        format!(
            "the order is {} with {} due; there is nothing to pay",
            order.status.as_str(),
            order.amount_due()
        ),
    )
}

/// One intent's share of a pay call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayShare {
    pub payment_intent_id: String,
    /// `None`: the whole balance (allowed for a single intent only).
    pub amount: Option<RawMoney>,
}

/// Checks a pay call against the order and its intents (in `shares` order) and returns each
/// intent's amount. The expected amount must equal the balance due; shares must add up to it.
pub fn decide_pay(
    order: &Order,
    intents: &[PaymentIntent],
    shares: &[PayShare],
    expected: &RawMoney,
) -> Result<Vec<Money>, Rejection> {
    if order.status != OrderStatus::Open || order.amount_due() == 0 {
        return Err(not_payable(order));
    }
    if !order.holds.is_empty() {
        return Err(Rejection::new(
            ErrorCode::PaymentAttemptInProgress,
            "a hold on this order is active; capture or void it before paying again",
        ));
    }
    let due = order.amount_due();
    let expected_currency = Currency::parse(&expected.currency);
    if expected.amount != due || expected_currency != Some(order.currency) {
        return Err(Rejection::param(
            ErrorCode::OrderAmountMismatch,
            "expected_amount_money",
            format!(
                "the balance due is {due} {}; nothing was charged",
                order.currency
            ),
        ));
    }
    if shares.is_empty() {
        return Err(Rejection::param(
            ErrorCode::MissingParameter,
            "payment_intent_ids",
            "name at least one payment intent",
        ));
    }
    for (share, intent) in shares.iter().zip(intents) {
        if intent.order_id.as_deref() != Some(order.id.as_str()) {
            return Err(Rejection::param(
                ErrorCode::InvalidParameter,
                "payment_intent_ids",
                format!("{} does not belong to this order", share.payment_intent_id),
            ));
        }
        if intent.status != Status::RequiresPaymentMethod {
            return Err(Rejection::param(
                ErrorCode::InvalidStatusForConfirm,
                "payment_intent_ids",
                format!(
                    "{} is {}; only requires_payment_method can pay",
                    intent.id,
                    intent.status.as_str()
                ),
            ));
        }
        if intent.capture_method == CaptureMethod::Manual && order.has_strict_inventory() {
            return Err(strict_inventory());
        }
    }
    let amounts = if shares.len() == 1 && shares[0].amount.is_none() {
        vec![order.money(due)]
    } else {
        let mut amounts = Vec::with_capacity(shares.len());
        for share in shares {
            let param = format!("payment_amounts.{}", share.payment_intent_id);
            let raw = share.amount.as_ref().ok_or_else(|| {
                Rejection::param(
                    ErrorCode::MissingParameter,
                    &param,
                    "with several intents, each needs its amount in payment_amounts",
                )
            })?;
            let amount = in_currency(raw, order.currency, &param)?;
            if amount.amount == 0 {
                return Err(Rejection::param(
                    ErrorCode::InvalidParameter,
                    &format!("{param}.amount"),
                    "each share is greater than zero",
                ));
            }
            amounts.push(amount);
        }
        let sum = amounts
            .iter()
            .try_fold(0i64, |acc, m| acc.checked_add(m.amount));
        if sum != Some(due) {
            return Err(Rejection::param(
                ErrorCode::OrderAmountMismatch,
                "payment_amounts",
                format!("the shares must add up to the balance due, {due}"),
            ));
        }
        amounts
    };
    Ok(amounts)
}

/// Records the intents a pay call authorized or charged: holds for manual capture, payment for
/// automatic. `intents` are the intents after their authorization.
pub fn apply_pay(order: &Order, intents: &[PaymentIntent], now: Timestamp) -> OrderTransition {
    let mut next = order.next_version(now);
    let mut events = Vec::new();
    for intent in intents {
        match intent.status {
            Status::RequiresCapture => {
                let expires_at = intent.authorization_expires_at.unwrap_or(now);
                next.holds.push(OrderHold {
                    payment_intent_id: intent.id.clone(),
                    authorized: intent.authorized,
                    capturable: intent.capturable,
                    expires_at,
                });
                events.push((
                    EventType::OrderPaymentAuthorized,
                    OrderEventDetail {
                        payment_intent_id: intent.id.clone(),
                        authorized: Some(intent.authorized),
                        capturable: Some(intent.capturable),
                        authorization_expires_at: Some(expires_at),
                        ..OrderEventDetail::default()
                    },
                ));
            }
            Status::Succeeded => {
                next.paid += intent.captured;
                events.push((
                    EventType::OrderPaymentCaptured,
                    OrderEventDetail {
                        payment_intent_id: intent.id.clone(),
                        captured: Some(intent.captured),
                        ..OrderEventDetail::default()
                    },
                ));
            }
            _ => {}
        }
    }
    settle(
        &mut next,
        &mut events,
        intents.first().map(|i| i.id.as_str()),
    );
    OrderTransition {
        order: next,
        events,
    }
}

/// Marks the order paid once nothing is due, with `order.payment_succeeded`.
fn settle(next: &mut Order, events: &mut Vec<(EventType, OrderEventDetail)>, intent: Option<&str>) {
    if next.status == OrderStatus::Open && next.paid >= next.total && next.holds.is_empty() {
        next.status = OrderStatus::Paid;
        events.push((
            EventType::OrderPaymentSucceeded,
            OrderEventDetail {
                payment_intent_id: intent.unwrap_or_default().to_owned(),
                captured: Some(next.paid),
                ..OrderEventDetail::default()
            },
        ));
    }
}

// ---- After the hold ----------------------------------------------------------------------------

/// A capture through the order route once the intent is already captured: the same amount
/// replays, any other is refused. `None` stands for the full authorization.
pub fn check_recapture(intent: &PaymentIntent, amount: Option<&RawMoney>) -> Result<(), Rejection> {
    let asked = amount.map_or(intent.authorized, |m| m.amount);
    let same_currency =
        amount.is_none_or(|m| Currency::parse(&m.currency) == Some(intent.currency()));
    if asked == intent.captured && same_currency {
        return Ok(());
    }
    Err(Rejection::param(
        ErrorCode::CaptureAmountMismatch,
        "amount_money",
        format!(
            "this authorization was already captured for {}; a retry only replays with the same amount",
            intent.captured
        ),
    ))
}

/// The order side of a capture of one of its holds (`intent` is the intent after capture).
pub fn apply_capture(order: &Order, intent: &PaymentIntent, now: Timestamp) -> OrderTransition {
    let mut next = order.next_version(now);
    next.holds.retain(|h| h.payment_intent_id != intent.id);
    next.paid += intent.captured;
    let mut events = vec![(
        EventType::OrderPaymentCaptured,
        OrderEventDetail {
            payment_intent_id: intent.id.clone(),
            captured: Some(intent.captured),
            released: Some(intent.released),
            ..OrderEventDetail::default()
        },
    )];
    settle(&mut next, &mut events, Some(&intent.id));
    OrderTransition {
        order: next,
        events,
    }
}

/// The order side of a hold released without capture: voided (`expired` false) or expired.
pub fn apply_release(
    order: &Order,
    intent: &PaymentIntent,
    expired: bool,
    now: Timestamp,
) -> Option<OrderTransition> {
    let hold = order
        .holds
        .iter()
        .find(|h| h.payment_intent_id == intent.id)?;
    let released = hold.capturable;
    let mut next = order.next_version(now);
    next.holds.retain(|h| h.payment_intent_id != intent.id);
    let kind = if expired {
        EventType::OrderPaymentAuthorizationExpired
    } else {
        EventType::OrderPaymentAuthorizationVoided
    };
    Some(OrderTransition {
        order: next,
        events: vec![(
            kind,
            OrderEventDetail {
                payment_intent_id: intent.id.clone(),
                released: Some(released),
                ..OrderEventDetail::default()
            },
        )],
    })
}

/// The order side of a refund that succeeded on one of its intents.
pub fn apply_refund(
    order: &Order,
    payment_intent_id: &str,
    refunded: i64,
    now: Timestamp,
) -> OrderTransition {
    let mut next = order.next_version(now);
    next.refunded += refunded;
    OrderTransition {
        order: next,
        events: vec![(
            EventType::OrderPaymentRefunded,
            OrderEventDetail {
                payment_intent_id: payment_intent_id.to_owned(),
                refunded: Some(refunded),
                ..OrderEventDetail::default()
            },
        )],
    }
}

/// Records a new intent on the order (creation of an order-linked intent).
pub fn link_intent(order: &Order, intent_id: &str, now: Timestamp) -> Order {
    let mut next = order.next_version(now);
    next.payment_intent_ids.push(intent_id.to_owned());
    next
}

/// The intent as it pays its share of the order: its amount becomes the share.
pub fn share_of(intent: &PaymentIntent, amount: Money) -> PaymentIntent {
    let mut share = intent.clone();
    share.amount = amount;
    share
}
