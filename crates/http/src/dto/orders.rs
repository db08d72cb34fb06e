//! `/v1/orders`: line items, totals, and the bodies that pay, capture and void through an order.

use std::collections::BTreeMap;

use holdfast_domain::order::Order;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::common::{MoneyIn, MoneyOut, present, rfc3339};
use crate::openapi::schemas;

#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListOrdersQuery {
    #[param(value_type = Option<schemas::OrderStatus>)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineItemIn {
    /// Not blank.
    #[schema(min_length = 1, max_length = 500)]
    pub name: String,
    #[schema(minimum = 1)]
    pub quantity: i64,
    pub unit_price_money: MoneyIn,
    pub sku: Option<String>,
    /// `none` (the default) or `strict`.
    #[schema(value_type = Option<schemas::InventoryTracking>)]
    pub inventory_tracking: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscountIn {
    /// Not blank.
    #[schema(min_length = 1, max_length = 500)]
    pub name: String,
    pub amount_money: MoneyIn,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"currency": "USD", "line_items": [{"name": "Camera", "quantity": 1, "unit_price_money": {"amount": 12900, "currency": "USD"}}]})))]
pub struct CreateOrderBody {
    /// Every amount of the order is in this currency.
    #[schema(value_type = schemas::Currency)]
    pub currency: String,
    #[schema(min_items = 1, max_items = 500)]
    pub line_items: Vec<LineItemIn>,
    pub tip_money: Option<MoneyIn>,
    #[serde(default)]
    pub discounts: Vec<DiscountIn>,
    pub reference: Option<String>,
    #[serde(default)]
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
}

/// `PATCH`: an absent field is kept; `null` clears a clearable one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"reference": "order-1001"})))]
pub struct UpdateOrderBody {
    /// Replaces every line item. Money fields are locked while a hold is active or once
    /// anything is paid.
    #[schema(min_items = 1, max_items = 500)]
    pub line_items: Option<Vec<LineItemIn>>,
    /// `null` removes the tip.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<MoneyIn>)]
    pub tip_money: Option<Option<MoneyIn>>,
    pub discounts: Option<Vec<DiscountIn>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub reference: Option<Option<String>>,
    /// Replaces the whole map.
    #[schema(value_type = Option<schemas::Metadata>)]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Places the holds (or charges) for every intent, or for none.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayOrderBody {
    /// The order's intents that pay it, each in `requires_payment_method`.
    #[schema(min_items = 1)]
    pub payment_intent_ids: Vec<String>,
    /// Each intent's card token, by intent id.
    #[serde(default)]
    pub payment_source_tokens: BTreeMap<String, String>,
    /// Must equal the order's balance due, or nothing is charged.
    pub expected_amount_money: MoneyIn,
    /// Split tender: each intent's share, by intent id. Required with several intents.
    #[serde(default)]
    pub payment_amounts: BTreeMap<String, MoneyIn>,
}

/// An empty body captures the whole hold.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderCaptureBody {
    /// Part of the hold: the rest is released, unless `final_capture` is `false`.
    pub amount_money: Option<MoneyIn>,
    pub reference: Option<String>,
    /// `false` keeps the rest of the hold capturable (an intent created with `multicapture`
    /// only); the order's `paid_money` grows with each capture. Default `true`.
    pub final_capture: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LineItem)]
pub struct LineItemOut {
    pub name: String,
    pub quantity: i64,
    pub unit_price_money: MoneyOut,
    /// `quantity × unit_price_money`.
    pub total_money: MoneyOut,
    pub sku: Option<String>,
    #[schema(value_type = schemas::InventoryTracking)]
    pub inventory_tracking: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Discount)]
pub struct DiscountOut {
    pub name: String,
    pub amount_money: MoneyOut,
}

/// The order's active holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationAmounts {
    pub authorized_money: MoneyOut,
    pub capturable_money: MoneyOut,
    /// The soonest deadline of the order's holds.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// What the order's intents settled: `amount_due = total - paid`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementAmounts {
    pub paid_money: MoneyOut,
    pub amount_due_money: MoneyOut,
    pub refunded_money: MoneyOut,
}

/// An order: line items, a total, and the intents that pay it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Order)]
pub struct OrderOut {
    /// `ord_…`
    pub order_id: String,
    #[schema(value_type = schemas::OrderStatus)]
    pub status: &'static str,
    #[schema(value_type = schemas::Currency)]
    pub currency: String,
    pub line_items: Vec<LineItemOut>,
    pub tip_money: MoneyOut,
    pub discounts: Vec<DiscountOut>,
    pub total_money: MoneyOut,
    pub authorization_amounts: AuthorizationAmounts,
    pub settlement_amounts: SettlementAmounts,
    pub payment_intent_ids: Vec<String>,
    pub reference: Option<String>,
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
    pub livemode: bool,
    #[schema(format = DateTime)]
    pub canceled_at: Option<String>,
    /// Grows with every change to the order, starting at 1. An event carries the order as it was
    /// after its change, version included: of two snapshots, the one with the higher version is
    /// the later (events can arrive out of order).
    pub version: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Order> for OrderOut {
    fn from(o: &Order) -> OrderOut {
        let money = |amount| MoneyOut::new(o.money(amount));
        OrderOut {
            order_id: o.id.clone(),
            status: o.status.as_str(),
            currency: o.currency.to_string(),
            line_items: o
                .line_items
                .iter()
                .map(|i| LineItemOut {
                    name: i.name.clone(),
                    quantity: i.quantity,
                    unit_price_money: MoneyOut::new(i.unit_price),
                    total_money: money(i.total()),
                    sku: i.sku.clone(),
                    inventory_tracking: i.inventory_tracking.as_str(),
                })
                .collect(),
            tip_money: money(o.tip),
            discounts: o
                .discounts
                .iter()
                .map(|d| DiscountOut {
                    name: d.name.clone(),
                    amount_money: MoneyOut::new(d.amount),
                })
                .collect(),
            total_money: money(o.total),
            authorization_amounts: AuthorizationAmounts {
                authorized_money: money(o.authorized()),
                capturable_money: money(o.capturable()),
                expires_at: o.hold_expires_at().map(rfc3339),
            },
            settlement_amounts: SettlementAmounts {
                paid_money: money(o.paid),
                amount_due_money: money(o.amount_due()),
                refunded_money: money(o.refunded),
            },
            payment_intent_ids: o.payment_intent_ids.clone(),
            reference: o.reference.clone(),
            metadata: o.metadata.clone(),
            livemode: o.scope.livemode,
            canceled_at: o.canceled_at.map(rfc3339),
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
            version: o.version,
        }
    }
}
