//! Orders: line items, a total, and the payments against it, so the order tracks its authorization,
//! its settlement and its refunds in one place.
//!
//! An order's money follows one rule: `amount_due = total - paid`, never negative. While a hold on
//! the order is active its financials are locked (`PAYMENT_ATTEMPT_IN_PROGRESS`); once anything is
//! paid they stay locked. Each payment step on an order-linked intent has an order counterpart
//! here (`apply_hold`, `apply_capture`, `apply_release`) that the service commits together with
//! the intent's own transition.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, Rejection};
use crate::event_type::EventType;
use crate::intent::{
    self, Capture, CaptureMethod, CreateRequest, NewIntent, PaymentIntent, PaymentSource, Status,
    TEXT_CHARS_MAX, Transition,
};
use crate::metadata::{self, Metadata};
use crate::money::{AmountRules, Currency, Limits, Money, RawMoney};
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

/// How an order checks the prices, tips and discounts it is given: a real currency code, the
/// order's currency, then zero or more.
const ORDER_AMOUNT: AmountRules = AmountRules {
    unknown_currency: Some(ErrorCode::InvalidParameter),
    other_currency: (
        ErrorCode::OrderCurrencyMismatch,
        "every amount on the order is in its currency",
    ),
    zero_allowed: true,
    too_small: (
        ErrorCode::InvalidParameter,
        "amounts on an order are zero or more",
    ),
    too_large: (ErrorCode::InvalidParameter, |amount, max| {
        format!("{amount} is more than {max}")
    }),
};

/// How a pay call checks each intent's share: as an order's amounts, but greater than zero.
const SHARE_AMOUNT: AmountRules = AmountRules {
    zero_allowed: false,
    too_small: (
        ErrorCode::InvalidParameter,
        "each share is greater than zero",
    ),
    ..ORDER_AMOUNT
};

fn in_order_currency(currency: Currency) -> Limits {
    Limits {
        currency: Some(currency),
        max: None,
    }
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

/// One money field of an order as a request leaves it: given (to be checked) or kept as stored
/// (already checked).
#[derive(Debug, Clone, Copy)]
enum Field<'a, Given: ?Sized, Kept: ?Sized> {
    Given(&'a Given),
    Kept(&'a Kept),
}

impl<G, K> Field<'_, [G], [K]> {
    fn len(&self) -> usize {
        match self {
            Field::Given(items) => items.len(),
            Field::Kept(items) => items.len(),
        }
    }
}

/// Checks the money fields of an order, in order: the counts, each line item, the tip, each
/// discount; the running total must not overflow at any step.
fn check_financials(
    line_items: Field<'_, [LineItemRequest], [LineItem]>,
    tip: Field<'_, Option<RawMoney>, i64>,
    discounts: Field<'_, [DiscountRequest], [Discount]>,
    currency: Currency,
) -> Result<CheckedFinancials, Rejection> {
    if line_items.len() == 0 || line_items.len() > LINE_ITEMS_MAX {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "line_items",
            format!("an order has 1 to {LINE_ITEMS_MAX} line items"),
        ));
    }
    if discounts.len() > LINE_ITEMS_MAX {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "discounts",
            format!("an order has at most {LINE_ITEMS_MAX} discounts"),
        ));
    }
    let overflow = || {
        Rejection::param(
            ErrorCode::InvalidParameter,
            "line_items",
            "the order total is too large",
        )
    };
    let mut sum: i64 = 0;
    let mut checked_items = Vec::with_capacity(line_items.len());
    for i in 0..line_items.len() {
        let item = match line_items {
            Field::Given(items) => check_line_item(i, &items[i], currency)?,
            Field::Kept(items) => items[i].clone(),
        };
        let line = item
            .quantity
            .checked_mul(item.unit_price.amount)
            .ok_or_else(overflow)?;
        sum = sum.checked_add(line).ok_or_else(overflow)?;
        checked_items.push(item);
    }
    let tip = match tip {
        Field::Given(None) => 0,
        Field::Given(Some(raw)) => {
            raw.check("tip_money", in_order_currency(currency), &ORDER_AMOUNT)?
                .amount
        }
        Field::Kept(tip) => *tip,
    };
    sum = sum.checked_add(tip).ok_or_else(overflow)?;
    let mut checked_discounts = Vec::with_capacity(discounts.len());
    for i in 0..discounts.len() {
        let discount = match discounts {
            Field::Given(given) => {
                let d = &given[i];
                let param = format!("discounts[{i}]");
                text(&d.name, &format!("{param}.name"), true)?;
                let amount = d.amount.check(
                    &format!("{param}.amount_money"),
                    in_order_currency(currency),
                    &ORDER_AMOUNT,
                )?;
                Discount {
                    name: d.name.clone(),
                    amount,
                }
            }
            Field::Kept(kept) => kept[i].clone(),
        };
        sum = sum
            .checked_sub(discount.amount.amount)
            .ok_or_else(overflow)?;
        checked_discounts.push(discount);
    }
    Ok(CheckedFinancials {
        line_items: checked_items,
        tip,
        discounts: checked_discounts,
        // Discounts larger than the rest bring the total to zero, never below.
        total: sum.max(0),
    })
}

fn check_line_item(
    i: usize,
    item: &LineItemRequest,
    currency: Currency,
) -> Result<LineItem, Rejection> {
    let param = format!("line_items[{i}]");
    text(&item.name, &format!("{param}.name"), true)?;
    if item.quantity < 1 {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            &format!("{param}.quantity"),
            "quantity is 1 or more",
        ));
    }
    let unit_price = item.unit_price.check(
        &format!("{param}.unit_price_money"),
        in_order_currency(currency),
        &ORDER_AMOUNT,
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
    Ok(LineItem {
        name: item.name.clone(),
        quantity: item.quantity,
        unit_price,
        sku: item.sku.clone(),
        inventory_tracking,
    })
}

pub fn create_order(
    id: String,
    scope: Scope,
    req: CreateOrder,
    now: Timestamp,
) -> Result<Order, Rejection> {
    let currency = Currency::parse_param(&req.currency, "currency")?;
    let f = check_financials(
        Field::Given(&req.financials.line_items),
        Field::Given(&req.financials.tip),
        Field::Given(&req.financials.discounts),
        currency,
    )?;
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
        let tip = req.tip.as_ref();
        let f = check_financials(
            req.line_items
                .as_deref()
                .map_or(Field::Kept(&order.line_items[..]), Field::Given),
            tip.map_or(Field::Kept(&order.tip), Field::Given),
            req.discounts
                .as_deref()
                .map_or(Field::Kept(&order.discounts[..]), Field::Given),
            order.currency,
        )?;
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

/// Creates an intent that pays the order `req.order_id` names, checking in order: such an intent
/// is not auto-confirmed (it pays through the order's pay route), the order exists (`order` is the
/// one the service found, its lapsed holds settled), the intent takes no amount of its own and can
/// pay the order, then creation's own rules. The intent starts with the balance due, replaced by
/// its share when the order is paid. Returns it, and the order (at `order_now`, the wall clock's
/// time) with the intent recorded.
pub fn create_intent(
    order: Option<&Order>,
    new: NewIntent,
    req: CreateRequest,
    order_now: Timestamp,
) -> Result<(Transition, Order), Rejection> {
    if req.auto_confirm {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "auto_confirm",
            "an order-linked intent is paid through POST /v1/orders/{id}/pay",
        ));
    }
    let order = order
        .ok_or_else(|| Rejection::param(ErrorCode::OrderNotFound, "order_id", "no such order"))?;
    if req.amount.is_some() {
        return Err(Rejection::param(
            ErrorCode::OrderLinkedAmountNotAllowed,
            "amount_money",
            "an order-linked intent takes no amount; it is derived from the order balance",
        ));
    }
    if req.capture_method.as_deref() == Some(CaptureMethod::Manual.as_str())
        && order.has_strict_inventory()
    {
        return Err(strict_inventory());
    }
    if order.status != OrderStatus::Open || order.amount_due() == 0 {
        return Err(not_payable(order));
    }
    let created = intent::create_for(new, req, order.money(order.amount_due()))?;
    let linked = link_intent(order, &created.intent.id, order_now);
    Ok((created, linked))
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

/// `POST /v1/orders/{id}/pay` as the domain sees it.
#[derive(Debug, Clone)]
pub struct PayCommand {
    pub payment_intent_ids: Vec<String>,
    /// Each intent's card, by intent id.
    pub payment_source_tokens: BTreeMap<String, String>,
    /// The balance due, as the caller believes it to be.
    pub expected_amount: RawMoney,
    /// Each intent's share; may be left out when a single intent pays the whole balance.
    pub payment_amounts: BTreeMap<String, RawMoney>,
}

/// One intent's part of a pay call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayShare {
    /// The intent as it pays its share: its amount is the share.
    pub intent: PaymentIntent,
    /// The card to authorize the share on.
    pub source: PaymentSource,
}

/// Checks a pay call, in order, and returns each intent's share. `intents` are the intents the call
/// names, as the service found them: in the order named, each once, up to the first that does not
/// exist; `order` was read after them.
///
/// The order: each id named once and existing; no token or amount for an intent not named; the
/// order payable, with no active hold, and its balance due what the caller expects; at least one
/// intent; each intent on this order, waiting for a payment method, and not a manual one on an order
/// with strict inventory; the shares (a single intent may leave its share out and pay it all), each
/// greater than zero in the order's currency, adding up to the balance; a token for each intent.
pub fn decide_pay(
    order: &Order,
    cmd: &PayCommand,
    intents: &[PaymentIntent],
) -> Result<Vec<PayShare>, Rejection> {
    let mut named: Vec<&PaymentIntent> = Vec::with_capacity(cmd.payment_intent_ids.len());
    for id in &cmd.payment_intent_ids {
        if named.iter().any(|i| &i.id == id) {
            return Err(Rejection::param(
                ErrorCode::InvalidParameter,
                "payment_intent_ids",
                format!("{id} is listed twice"),
            ));
        }
        let intent = intents.iter().find(|i| &i.id == id).ok_or_else(|| {
            Rejection::param(
                ErrorCode::PaymentIntentNotFound,
                "payment_intent_ids",
                "no such payment intent",
            )
        })?;
        named.push(intent);
    }
    for key in cmd
        .payment_source_tokens
        .keys()
        .chain(cmd.payment_amounts.keys())
    {
        if !cmd.payment_intent_ids.contains(key) {
            return Err(Rejection::param(
                ErrorCode::InvalidParameter,
                "payment_intent_ids",
                format!("{key} has a token or amount but is not in payment_intent_ids"),
            ));
        }
    }
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
    if cmd.expected_amount.money() != Some(order.money(due)) {
        return Err(Rejection::param(
            ErrorCode::OrderAmountMismatch,
            "expected_amount_money",
            format!(
                "the balance due is {due} {}; nothing was charged",
                order.currency
            ),
        ));
    }
    if named.is_empty() {
        return Err(Rejection::param(
            ErrorCode::MissingParameter,
            "payment_intent_ids",
            "name at least one payment intent",
        ));
    }
    for intent in &named {
        if intent.order_id.as_deref() != Some(order.id.as_str()) {
            return Err(Rejection::param(
                ErrorCode::InvalidParameter,
                "payment_intent_ids",
                format!("{} does not belong to this order", intent.id),
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
    let amounts = if named.len() == 1 && cmd.payment_amounts.is_empty() {
        vec![order.money(due)]
    } else {
        let mut amounts = Vec::with_capacity(named.len());
        for intent in &named {
            let param = format!("payment_amounts.{}", intent.id);
            let raw = cmd.payment_amounts.get(&intent.id).ok_or_else(|| {
                Rejection::param(
                    ErrorCode::MissingParameter,
                    &param,
                    "with several intents, each needs its amount in payment_amounts",
                )
            })?;
            amounts.push(raw.check(&param, in_order_currency(order.currency), &SHARE_AMOUNT)?);
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
    named
        .into_iter()
        .zip(amounts)
        .map(|(intent, amount)| {
            let param = format!("payment_source_tokens.{}", intent.id);
            let token = cmd.payment_source_tokens.get(&intent.id).ok_or_else(|| {
                Rejection::param(
                    ErrorCode::MissingParameter,
                    &param,
                    "each intent needs its payment source token",
                )
            })?;
            let mut share = intent.clone();
            share.amount = amount;
            Ok(PayShare {
                intent: share,
                source: PaymentSource {
                    token: token.clone(),
                    payment_method_id: None,
                    param,
                },
            })
        })
        .collect()
}

/// Where one intent's authorization leaves its pay call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayStep {
    /// The hold is placed (or the share charged): the call goes on.
    Placed,
    /// The card was declined: the call stops and answers with the decline.
    Declined,
}

/// Judges one intent's authorization in a pay call (`authorized` is the intent after it). A card
/// that wants the buyer to authenticate (3D Secure) is refused, blaming the card's field: a pay
/// call places all its holds at once and cannot wait for a buyer.
pub fn judge_pay_step(share: &PayShare, authorized: &PaymentIntent) -> Result<PayStep, Rejection> {
    match authorized.status {
        Status::RequiresPaymentMethod => Ok(PayStep::Declined),
        Status::RequiresAction => Err(Rejection::param(
            ErrorCode::InvalidPaymentSourceToken,
            &share.source.param,
            "this card needs the buyer to authenticate, which an order payment cannot wait for",
        )),
        _ => Ok(PayStep::Placed),
    }
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

/// A capture through the order's route, as decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderCapture {
    /// The intent is already captured for this amount: the retry replays with the order.
    Replay,
    /// Capture this much.
    Capture(Money),
}

/// Decides a capture through the order's route. Once the intent is captured, the same amount
/// replays and any other is refused (`None` stands for the full authorization); before, the
/// intent's own capture rules decide.
pub fn decide_capture<'a>(
    intent: &PaymentIntent,
    capture: impl Into<Capture<'a>>,
    now: Timestamp,
) -> Result<OrderCapture, Rejection> {
    let capture = capture.into();
    if intent.status != Status::Succeeded {
        return intent::decide_capture(intent, capture, now).map(OrderCapture::Capture);
    }
    let asked = match capture {
        Capture::Requested(req) => req.amount.as_ref().map(RawMoney::money),
        Capture::Scheduled(amount) => amount.map(Some),
    };
    let captured = Some(intent.money(intent.captured));
    let same = match asked {
        None => intent.authorized == intent.captured,
        Some(asked) => asked == captured,
    };
    if same {
        return Ok(OrderCapture::Replay);
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

/// Through an order's routes, an intent of another order (or of none) does not exist.
pub fn check_on_order(order: &Order, intent: &PaymentIntent) -> Result<(), Rejection> {
    if intent.order_id.as_deref() == Some(order.id.as_str()) {
        return Ok(());
    }
    Err(Rejection::new(
        ErrorCode::PaymentIntentNotFound,
        "no such payment intent on this order",
    ))
}

/// The order side of a capture of one of its holds (`before` and `after` the capture): what it
/// captured is paid. A capture that ends the hold removes it; a non-final multicapture capture
/// leaves it with what is still capturable, so the order stays locked while it lasts.
pub fn apply_capture(
    order: &Order,
    before: &PaymentIntent,
    after: &PaymentIntent,
    now: Timestamp,
) -> OrderTransition {
    let captured = after.captured - before.captured;
    let released = after.released - before.released;
    let mut next = order.next_version(now);
    if after.status == Status::RequiresCapture {
        for hold in next
            .holds
            .iter_mut()
            .filter(|h| h.payment_intent_id == after.id)
        {
            hold.capturable = after.capturable;
        }
    } else {
        next.holds.retain(|h| h.payment_intent_id != after.id);
    }
    next.paid += captured;
    let intent = after;
    let mut events = vec![(
        EventType::OrderPaymentCaptured,
        OrderEventDetail {
            payment_intent_id: intent.id.clone(),
            captured: Some(captured),
            released: Some(released),
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
fn link_intent(order: &Order, intent_id: &str, now: Timestamp) -> Order {
    let mut next = order.next_version(now);
    next.payment_intent_ids.push(intent_id.to_owned());
    next
}

#[cfg(test)]
mod tests;
