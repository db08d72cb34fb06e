//! Orders end to end, on both backends: create, read, list, edit and cancel; intents created on an
//! order; pay (one card, automatic, split tender, declines); capture and void through the order;
//! expiry of an order's hold; the order events; races; tenancy. Every answer is checked against the
//! contract's "Manual Capture on Orders" section and its Webhooks and Errors tables.

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::both_backends;
use crate::helpers::{Res, T0_RFC3339, TestApp, assert_money, fire, fire_on, usd};

both_backends!(
    contract_walkthrough_hold_then_capture_through_the_order,
    create_computes_the_total_and_shows_every_field,
    create_refuses_bad_input_with_the_exact_param,
    list_filters_by_status_and_pages_with_a_cursor,
    patch_replaces_the_fields_it_names,
    financials_lock_while_a_hold_is_active_and_after_payment,
    cancel_an_open_unpaid_order,
    intents_on_an_order_take_the_balance_due,
    pay_with_the_wrong_expected_amount_changes_nothing,
    pay_refuses_bad_intents_and_tokens,
    an_automatic_intent_pays_the_order,
    split_tender_places_two_holds,
    split_tender_decline_holds_nothing,
    partial_capture_leaves_the_difference_due,
    a_repeated_capture_replays_with_the_same_amount_only,
    void_through_the_order_releases_the_hold,
    order_routes_name_only_the_orders_own_intents,
    voiding_an_unpaid_order_intent_is_answered_consistently,
    standalone_routes_refuse_order_linked_intents,
    an_expired_order_hold_releases_the_order,
    order_commands_after_the_deadline_record_the_expiry_first,
    reading_an_order_past_its_deadline_shows_no_hold,
    thirty_concurrent_captures_through_the_order,
    concurrent_captures_and_voids_through_the_order,
    concurrent_order_commands_after_the_deadline_record_the_expiry_once,
    concurrent_pays_of_one_order_place_one_hold,
    other_merchants_and_live_mode_see_no_orders,
);

/// The sandbox hold: seven days less one second.
const HOLD_SECONDS: i64 = 7 * 86_400 - 1;
/// The deadline of a hold placed at T0.
const DEADLINE: &str = "2026-07-10T02:57:19Z";

// ---- Requests --------------------------------------------------------------------------------

fn item(name: &str, quantity: i64, unit: i64) -> Value {
    json!({"name": name, "quantity": quantity, "unit_price_money": usd(unit)})
}

fn lens() -> Value {
    json!({"name": "Lens", "quantity": 1, "unit_price_money": usd(3500), "sku": "LENS-50"})
}

/// The contract's order: $185.00 in two line items.
fn rental() -> Value {
    json!({"currency": "USD", "line_items": [item("Camera rental", 3, 5000), lens()]})
}

/// The rental as every route shows it right after its creation at T0.
fn fresh_rental(id: &str) -> Value {
    json!({
        "order_id": id,
        "status": "open",
        "currency": "USD",
        "line_items": [
            {
                "name": "Camera rental",
                "quantity": 3,
                "unit_price_money": usd(5000),
                "total_money": usd(15000),
                "sku": null,
                "inventory_tracking": "none",
            },
            {
                "name": "Lens",
                "quantity": 1,
                "unit_price_money": usd(3500),
                "total_money": usd(3500),
                "sku": "LENS-50",
                "inventory_tracking": "none",
            },
        ],
        "tip_money": usd(0),
        "discounts": [],
        "total_money": usd(18500),
        "authorization_amounts": {
            "authorized_money": usd(0),
            "capturable_money": usd(0),
            "expires_at": null,
        },
        "settlement_amounts": {
            "paid_money": usd(0),
            "amount_due_money": usd(18500),
            "refunded_money": usd(0),
        },
        "payment_intent_ids": [],
        "reference": null,
        "metadata": {},
        "livemode": false,
        "canceled_at": null,
        "created_at": T0_RFC3339,
        "updated_at": T0_RFC3339,
        "version": 1,
    })
}

fn order_path(id: &str, action: &str) -> String {
    if action.is_empty() {
        format!("/v1/orders/{id}")
    } else {
        format!("/v1/orders/{id}/{action}")
    }
}

fn capture_path(order_id: &str, intent_id: &str) -> String {
    format!("/v1/orders/{order_id}/payment-intents/{intent_id}/capture")
}

fn void_path(order_id: &str, intent_id: &str) -> String {
    format!("/v1/orders/{order_id}/payment-intents/{intent_id}/void")
}

fn code(res: &Res) -> &str {
    res.json["error"]["code"].as_str().unwrap_or("")
}

fn statuses(answers: &[Res]) -> Vec<(u16, String)> {
    answers
        .iter()
        .map(|r| (r.status, code(r).to_owned()))
        .collect()
}

/// The order ids of a list answer, in its order.
fn order_ids(res: &Res) -> Vec<&String> {
    assert_eq!(res.status, 200, "{}", res.text);
    res.json["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", res.text))
        .iter()
        .map(|o| match &o["order_id"] {
            Value::String(id) => id,
            other => panic!("an order id: {other}"),
        })
        .collect()
}

async fn create_order(app: &TestApp, body: Value) -> String {
    let res = app.post("/v1/orders", body).await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.json["data"]["order_id"].as_str().unwrap().to_owned()
}

async fn create_linked(app: &TestApp, order_id: &str, capture_method: &str) -> Res {
    app.post(
        "/v1/payment-intents",
        json!({"order_id": order_id, "capture_method": capture_method}),
    )
    .await
}

/// An intent on the order; returns its id.
async fn linked(app: &TestApp, order_id: &str, capture_method: &str) -> String {
    let res = create_linked(app, order_id, capture_method).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let pi = &res.json["data"]["payment_intent"];
    assert_eq!(pi["order_id"], order_id);
    pi["payment_intent_id"].as_str().unwrap().to_owned()
}

/// A pay body: each intent with its token and (optionally) its share.
fn pay_body(shares: &[(&str, &str, Option<i64>)], expected: i64) -> Value {
    let ids: Vec<&str> = shares.iter().map(|s| s.0).collect();
    let tokens: Map<String, Value> = shares
        .iter()
        .map(|(id, token, _)| ((*id).to_owned(), json!(token)))
        .collect();
    let amounts: Map<String, Value> = shares
        .iter()
        .filter_map(|(id, _, amount)| amount.map(|a| ((*id).to_owned(), usd(a))))
        .collect();
    let mut body = json!({
        "payment_intent_ids": ids,
        "payment_source_tokens": tokens,
        "expected_amount_money": usd(expected),
    });
    if !amounts.is_empty() {
        body["payment_amounts"] = Value::Object(amounts);
    }
    body
}

async fn pay(
    app: &TestApp,
    order_id: &str,
    shares: &[(&str, &str, Option<i64>)],
    expected: i64,
) -> Res {
    app.post(&order_path(order_id, "pay"), pay_body(shares, expected))
        .await
}

/// The rental (18500) with a manual hold of all of it, placed now with `pm_card_visa`.
async fn held_order(app: &TestApp) -> (String, String) {
    let order_id = create_order(app, rental()).await;
    let intent_id = linked(app, &order_id, "manual").await;
    let res = pay(app, &order_id, &[(&intent_id, "pm_card_visa", None)], 18500).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["status"], "open");
    assert_order_money(&res.json["data"], 18500, 18500, 0, 18500);
    (order_id, intent_id)
}

async fn capture(app: &TestApp, order_id: &str, intent_id: &str, body: Value) -> Res {
    app.post(&capture_path(order_id, intent_id), body).await
}

async fn capture_with_key(
    app: &TestApp,
    order_id: &str,
    intent_id: &str,
    key: &str,
    body: &Value,
) -> Res {
    app.request(Method::POST, &capture_path(order_id, intent_id))
        .idem(key)
        .json(body)
        .send()
        .await
}

/// The order route's void, with an empty body.
async fn void(app: &TestApp, order_id: &str, intent_id: &str) -> Res {
    app.request(Method::POST, &void_path(order_id, intent_id))
        .send()
        .await
}

async fn cancel_order(app: &TestApp, order_id: &str) -> Res {
    app.request(Method::POST, &order_path(order_id, "cancel"))
        .send()
        .await
}

/// The order's authorization and settlement amounts: authorized, capturable, paid, due.
#[track_caller]
fn assert_order_money(order: &Value, authorized: i64, capturable: i64, paid: i64, due: i64) {
    let auth = &order["authorization_amounts"];
    let settlement = &order["settlement_amounts"];
    assert_eq!(
        auth["authorized_money"],
        usd(authorized),
        "authorized: {order}"
    );
    assert_eq!(
        auth["capturable_money"],
        usd(capturable),
        "capturable: {order}"
    );
    assert_eq!(settlement["paid_money"], usd(paid), "paid: {order}");
    assert_eq!(settlement["amount_due_money"], usd(due), "due: {order}");
    assert_eq!(settlement["refunded_money"], usd(0), "refunded: {order}");
    if authorized == 0 {
        assert_eq!(
            auth["expires_at"],
            Value::Null,
            "no hold, no deadline: {order}"
        );
    } else {
        assert!(
            auth["expires_at"].is_string(),
            "a hold has a deadline: {order}"
        );
    }
}

fn amount(v: &Value) -> i64 {
    v["amount"].as_i64().unwrap_or_else(|| panic!("money: {v}"))
}

/// The order as stored agrees with its intents: its holds are exactly its intents awaiting
/// capture, what it was paid is what they captured, and what is due follows. Returns the order.
async fn assert_order_agrees_with_its_intents(app: &TestApp, order_id: &str) -> Value {
    let order = app.order(order_id).await;
    let (mut authorized, mut capturable, mut captured) = (0, 0, 0);
    let mut deadlines = Vec::new();
    for id in order["payment_intent_ids"].as_array().unwrap() {
        let pi = app.intent(id.as_str().unwrap()).await;
        assert_eq!(pi["order_id"], order["order_id"], "{pi}");
        if pi["status"] == "requires_capture" {
            authorized += amount(&pi["authorized_amount_money"]);
            capturable += amount(&pi["capturable_amount_money"]);
            deadlines.push(pi["authorization_expires_at"].as_str().unwrap().to_owned());
        }
        captured += amount(&pi["captured_amount_money"]);
    }
    let total = amount(&order["total_money"]);
    assert_order_money(
        &order,
        authorized,
        capturable,
        captured,
        (total - captured).max(0),
    );
    let earliest = deadlines.into_iter().min().map_or(Value::Null, Value::from);
    assert_eq!(order["authorization_amounts"]["expires_at"], earliest);
    if order["status"] == "paid" {
        assert!(captured >= total && authorized == 0, "{order}");
    }
    order
}

/// The keys of an event's `data`, sorted.
fn data_keys(event: &Value) -> Vec<String> {
    let mut keys: Vec<String> = event["data"]
        .as_object()
        .unwrap_or_else(|| panic!("event data: {event}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// The one event of `kind` among an intent's events.
fn only<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = events.iter().filter(|e| e["type"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind}: {events:?}");
    found[0]
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// Checks the detail of an `order.payment_authorized` event.
#[track_caller]
fn assert_authorized_event(event: &Value, intent_id: &str, amount: i64, expires_at: &str) {
    assert_eq!(event["type"], "order.payment_authorized");
    assert_eq!(
        data_keys(event),
        vec![
            "authorization_expires_at",
            "authorized_money",
            "capturable_money",
            "object",
            "payment_intent_id"
        ],
        "{event}"
    );
    assert_eq!(event["data"]["payment_intent_id"], intent_id);
    assert_eq!(event["data"]["authorized_money"], usd(amount));
    assert_eq!(event["data"]["capturable_money"], usd(amount));
    assert_eq!(event["data"]["authorization_expires_at"], expires_at);
}

/// Checks the detail of an `order.payment_captured` event: `captured_money` and nothing of an
/// authorization.
#[track_caller]
fn assert_captured_event(event: &Value, intent_id: &str, captured: i64, released: i64) {
    assert_eq!(event["type"], "order.payment_captured");
    let keys = data_keys(event);
    for key in ["object", "payment_intent_id", "captured_money"] {
        assert!(keys.iter().any(|k| k == key), "{key}: {event}");
    }
    for key in &keys {
        assert!(
            [
                "object",
                "payment_intent_id",
                "captured_money",
                "released_money"
            ]
            .contains(&key.as_str()),
            "unexpected {key}: {event}"
        );
    }
    assert_eq!(event["data"]["payment_intent_id"], intent_id);
    assert_eq!(event["data"]["captured_money"], usd(captured));
    if keys.iter().any(|k| k == "released_money") {
        assert_eq!(event["data"]["released_money"], usd(released), "{event}");
    }
}

/// Checks the detail of an event that reports `released_money` only (voided, expired).
#[track_caller]
fn assert_released_event(event: &Value, kind: &str, intent_id: &str, released: i64) {
    assert_eq!(event["type"], kind);
    assert_eq!(
        data_keys(event),
        vec!["object", "payment_intent_id", "released_money"],
        "{event}"
    );
    assert_eq!(event["data"]["payment_intent_id"], intent_id);
    assert_eq!(event["data"]["released_money"], usd(released));
}

#[track_caller]
fn assert_succeeded_event(event: &Value, intent_id: &str, paid: i64) {
    assert_eq!(event["type"], "order.payment_succeeded");
    assert_eq!(
        data_keys(event),
        vec!["captured_money", "object", "payment_intent_id"],
        "{event}"
    );
    assert_eq!(event["data"]["payment_intent_id"], intent_id);
    assert_eq!(event["data"]["captured_money"], usd(paid));
    assert_eq!(event["data"]["object"]["status"], "paid");
}

// ---- The contract's walkthrough ------------------------------------------------------------

async fn contract_walkthrough_hold_then_capture_through_the_order(app: &TestApp) {
    let res = app
        .request(Method::POST, "/v1/orders")
        .idem("order-rental-001")
        .json(&rental())
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let oid = res.json["data"]["order_id"].as_str().unwrap().to_owned();
    assert!(oid.starts_with("ord_") && oid.len() > 4, "{oid}");
    assert_eq!(res.json, json!({"data": fresh_rental(&oid)}));
    assert_eq!(app.order(&oid).await, fresh_rental(&oid));

    // An order-linked intent takes no amount: it is the order balance.
    let res = app
        .request(Method::POST, "/v1/payment-intents")
        .idem("pi-order-rental-001")
        .json(&json!({"order_id": oid, "capture_method": "manual"}))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let created = res.json["data"]["payment_intent"].clone();
    let pid = created["payment_intent_id"].as_str().unwrap().to_owned();
    assert!(pid.starts_with("pi_"), "{pid}");
    assert_eq!(created["status"], "requires_payment_method");
    assert_eq!(created["amount_money"], usd(18500));
    assert_eq!(created["capture_method"], "manual");
    assert_eq!(created["order_id"], oid.as_str());
    assert_money(&created, 0, 0, 0, 0);
    assert_eq!(app.intent(&pid).await, created);
    let mut expected = fresh_rental(&oid);
    expected["payment_intent_ids"] = json!([pid]);
    expected["version"] = json!(2);
    assert_eq!(app.order(&oid).await, expected);

    // The buyer pays 67 s later, so the hold's deadline is the contract's own example.
    app.clock.advance(67);
    let pay_req = json!({
        "payment_intent_ids": [pid],
        "payment_source_tokens": {pid.as_str(): "pm_card_visa"},
        "expected_amount_money": {"amount": 18500, "currency": "USD"},
    });
    let res = app
        .request(Method::POST, &order_path(&oid, "pay"))
        .idem("pay-order-rental-001")
        .json(&pay_req)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    expected["authorization_amounts"] = json!({
        "authorized_money": {"amount": 18500, "currency": "USD"},
        "capturable_money": {"amount": 18500, "currency": "USD"},
        "expires_at": "2026-07-10T02:58:26Z",
    });
    expected["version"] = json!(3);
    expected["updated_at"] = json!("2026-07-03T02:58:27Z");
    assert_eq!(res.json, json!({"data": expected}));
    let after_pay = expected.clone();
    // The order stays open with nothing paid.
    assert_eq!(res.json["data"]["status"], "open");
    assert_eq!(res.json["data"]["settlement_amounts"]["paid_money"], usd(0));
    assert_eq!(
        res.json["data"]["settlement_amounts"]["amount_due_money"],
        usd(18500)
    );
    assert_eq!(app.order(&oid).await, expected);
    let held = app.intent(&pid).await;
    assert_eq!(held["status"], "requires_capture");
    assert_eq!(held["amount_money"], usd(18500));
    assert_eq!(held["authorized_at"], "2026-07-03T02:58:27Z");
    assert_eq!(held["authorization_expires_at"], "2026-07-10T02:58:26Z");
    assert_eq!(held["payment_method_brand"], "visa");
    assert_money(&held, 18500, 18500, 0, 0);
    // The pay call replays under its key.
    let again = app
        .request(Method::POST, &order_path(&oid, "pay"))
        .idem("pay-order-rental-001")
        .json(&pay_req)
        .send()
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.text, res.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    // A day later: capture the whole hold through the order's route.
    app.clock.advance(86_400);
    let res = capture_with_key(app, &oid, &pid, "capture-order-rental-001", &json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    expected["status"] = json!("paid");
    expected["authorization_amounts"] = json!({
        "authorized_money": usd(0),
        "capturable_money": usd(0),
        "expires_at": null,
    });
    expected["settlement_amounts"] = json!({
        "paid_money": {"amount": 18500, "currency": "USD"},
        "amount_due_money": {"amount": 0, "currency": "USD"},
        "refunded_money": usd(0),
    });
    expected["version"] = json!(4);
    expected["updated_at"] = json!("2026-07-04T02:58:27Z");
    assert_eq!(res.json, json!({"data": expected}));
    assert_eq!(app.order(&oid).await, expected);
    let captured = app.intent(&pid).await;
    assert_eq!(captured["status"], "succeeded");
    assert_eq!(captured["captured_at"], "2026-07-04T02:58:27Z");
    assert_money(&captured, 18500, 0, 18500, 0);
    assert_order_agrees_with_its_intents(app, &oid).await;

    // Each transition is recorded once, in order, intent events before the order's.
    let events = app.events_of(&pid).await;
    assert_eq!(
        types(&events),
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "order.payment_authorized",
            "payment_intent.succeeded",
            "order.payment_captured",
            "order.payment_succeeded",
        ]
    );
    assert_eq!(events[0]["data"]["object"], created);
    assert_eq!(events[1]["data"]["object"], held);
    assert_authorized_event(&events[2], &pid, 18500, "2026-07-10T02:58:26Z");
    assert_eq!(events[2]["data"]["object"], after_pay);
    assert_eq!(events[2]["created_at"], "2026-07-03T02:58:27Z");
    assert_eq!(events[3]["data"]["object"], captured);
    assert_captured_event(&events[4], &pid, 18500, 0);
    assert_eq!(events[4]["data"]["object"], expected);
    assert_succeeded_event(&events[5], &pid, 18500);
    assert_eq!(events[5]["data"]["object"], expected);
    for event in &events[2..] {
        assert_eq!(event["livemode"], false);
        assert!(event["request_id"].as_str().unwrap().starts_with("req_"));
    }
    // The merchant has no other order events.
    let all = app.get("/v1/events?limit=100").await;
    let order_events = all.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("order."))
        .count();
    assert_eq!(order_events, 3);
}

// ---- Create, read, list --------------------------------------------------------------------

async fn create_computes_the_total_and_shows_every_field(app: &TestApp) {
    // 2 × 12.50 + 9.99 + 5.00 tip − 3.00 − 0.99 = 36.00
    let res = app
        .post(
            "/v1/orders",
            json!({
                "currency": "USD",
                "line_items": [
                    item("Coffee", 2, 1250),
                    {
                        "name": "Mug",
                        "quantity": 1,
                        "unit_price_money": usd(999),
                        "sku": "MUG-1",
                        "inventory_tracking": "strict",
                    },
                    {"name": "Sticker", "quantity": 4, "unit_price_money": usd(0), "inventory_tracking": "none"},
                ],
                "tip_money": usd(500),
                "discounts": [
                    {"name": "Loyalty", "amount_money": usd(300)},
                    {"name": "Coupon", "amount_money": usd(99)},
                ],
                "reference": "table-7",
                "metadata": {"server": "ann"},
            }),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let oid = res.json["data"]["order_id"].as_str().unwrap().to_owned();
    let expected = json!({
        "order_id": oid,
        "status": "open",
        "currency": "USD",
        "line_items": [
            {"name": "Coffee", "quantity": 2, "unit_price_money": usd(1250), "total_money": usd(2500), "sku": null, "inventory_tracking": "none"},
            {"name": "Mug", "quantity": 1, "unit_price_money": usd(999), "total_money": usd(999), "sku": "MUG-1", "inventory_tracking": "strict"},
            {"name": "Sticker", "quantity": 4, "unit_price_money": usd(0), "total_money": usd(0), "sku": null, "inventory_tracking": "none"},
        ],
        "tip_money": usd(500),
        "discounts": [
            {"name": "Loyalty", "amount_money": usd(300)},
            {"name": "Coupon", "amount_money": usd(99)},
        ],
        "total_money": usd(3600),
        "authorization_amounts": {"authorized_money": usd(0), "capturable_money": usd(0), "expires_at": null},
        "settlement_amounts": {"paid_money": usd(0), "amount_due_money": usd(3600), "refunded_money": usd(0)},
        "payment_intent_ids": [],
        "reference": "table-7",
        "metadata": {"server": "ann"},
        "livemode": false,
        "canceled_at": null,
        "created_at": T0_RFC3339,
        "updated_at": T0_RFC3339,
        "version": 1,
    });
    assert_eq!(res.json, json!({"data": expected}));
    assert_eq!(app.order(&oid).await, expected);

    // Discounts larger than the rest bring the total to zero, never below; nothing is then due.
    let free = create_order(
        app,
        json!({
            "currency": "USD",
            "line_items": [item("Sample", 1, 1000)],
            "tip_money": usd(100),
            "discounts": [{"name": "Launch", "amount_money": usd(2500)}],
        }),
    )
    .await;
    let free = app.order(&free).await;
    assert_eq!(free["total_money"], usd(0));
    assert_order_money(&free, 0, 0, 0, 0);

    // Another currency: every amount in it.
    let res = app
        .post(
            "/v1/orders",
            json!({
                "currency": "JPY",
                "line_items": [{"name": "Ramen", "quantity": 2, "unit_price_money": {"amount": 1200, "currency": "JPY"}}],
                "tip_money": {"amount": 100, "currency": "JPY"},
            }),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let jpy = &res.json["data"];
    assert_eq!(jpy["currency"], "JPY");
    assert_eq!(
        jpy["total_money"],
        json!({"amount": 2500, "currency": "JPY"})
    );
    assert_eq!(
        jpy["settlement_amounts"]["amount_due_money"],
        json!({"amount": 2500, "currency": "JPY"})
    );
    assert_eq!(
        jpy["authorization_amounts"]["authorized_money"],
        json!({"amount": 0, "currency": "JPY"})
    );

    // Every order has its own id; an unknown one is 404.
    let other = create_order(app, rental()).await;
    assert_ne!(other, oid);
    app.get("/v1/orders/ord_000000000000000000000000")
        .await
        .assert_error(404, "ORDER_NOT_FOUND", None);
}

async fn create_refuses_bad_input_with_the_exact_param(app: &TestApp) {
    let with_items = |items: Value| json!({"currency": "USD", "line_items": items});
    let eur = json!({"amount": 100, "currency": "EUR"});
    let cases: Vec<(Value, &str, &str)> = vec![
        (with_items(json!([])), "INVALID_PARAMETER", "line_items"),
        (
            with_items(json!([item("A", 0, 100)])),
            "INVALID_PARAMETER",
            "line_items[0].quantity",
        ),
        (
            with_items(json!([item("A", 1, 100), item("B", -2, 100)])),
            "INVALID_PARAMETER",
            "line_items[1].quantity",
        ),
        (
            with_items(json!([item("A", 1, -1)])),
            "INVALID_PARAMETER",
            "line_items[0].unit_price_money.amount",
        ),
        (
            with_items(json!([
                item("A", 1, 100),
                {"name": "B", "quantity": 1, "unit_price_money": usd(100), "inventory_tracking": "loose"},
            ])),
            "INVALID_PARAMETER",
            "line_items[1].inventory_tracking",
        ),
        (
            with_items(json!([
                {"name": "A", "quantity": 1, "unit_price_money": usd(100), "inventory_tracking": "STRICT"},
            ])),
            "INVALID_PARAMETER",
            "line_items[0].inventory_tracking",
        ),
        (
            with_items(json!([item("", 1, 100)])),
            "INVALID_PARAMETER",
            "line_items[0].name",
        ),
        (
            json!({"currency": "USD", "line_items": [item("A", 1, 100)], "tip_money": usd(-5)}),
            "INVALID_PARAMETER",
            "tip_money.amount",
        ),
        (
            json!({
                "currency": "USD",
                "line_items": [item("A", 1, 100)],
                "discounts": [{"name": "D", "amount_money": usd(-5)}],
            }),
            "INVALID_PARAMETER",
            "discounts[0].amount_money.amount",
        ),
        (
            json!({"currency": "usd", "line_items": [item("A", 1, 100)]}),
            "INVALID_PARAMETER",
            "currency",
        ),
        (
            with_items(json!([{"name": "A", "quantity": 1, "unit_price_money": eur}])),
            "ORDER_CURRENCY_MISMATCH",
            "line_items[0].unit_price_money.currency",
        ),
        (
            with_items(json!([
                item("A", 1, 100),
                {"name": "B", "quantity": 1, "unit_price_money": eur},
            ])),
            "ORDER_CURRENCY_MISMATCH",
            "line_items[1].unit_price_money.currency",
        ),
        (
            json!({"currency": "USD", "line_items": [item("A", 1, 100)], "tip_money": eur}),
            "ORDER_CURRENCY_MISMATCH",
            "tip_money.currency",
        ),
        (
            json!({
                "currency": "USD",
                "line_items": [item("A", 1, 100)],
                "discounts": [
                    {"name": "D", "amount_money": usd(10)},
                    {"name": "E", "amount_money": eur},
                ],
            }),
            "ORDER_CURRENCY_MISMATCH",
            "discounts[1].amount_money.currency",
        ),
        (
            json!({
                "currency": "EUR",
                "line_items": [{"name": "A", "quantity": 1, "unit_price_money": eur}],
                "tip_money": usd(100),
            }),
            "ORDER_CURRENCY_MISMATCH",
            "tip_money.currency",
        ),
    ];
    for (body, error, param) in cases {
        let res = app.post("/v1/orders", body.clone()).await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
        res.assert_error(400, error, Some(param));
    }
    // Nothing was created.
    let list = app.get("/v1/orders").await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.json["data"], json!([]));
}

async fn list_filters_by_status_and_pages_with_a_cursor(app: &TestApp) {
    // A open, B paid, C canceled, D open (with a hold), oldest first.
    let a = create_order(app, rental()).await;
    app.clock.advance(60);
    let b = create_order(app, rental()).await;
    let b_pi = linked(app, &b, "automatic").await;
    assert_eq!(
        pay(app, &b, &[(&b_pi, "pm_card_visa", None)], 18500)
            .await
            .status,
        200
    );
    app.clock.advance(60);
    let c = create_order(app, rental()).await;
    assert_eq!(cancel_order(app, &c).await.status, 200);
    app.clock.advance(60);
    let (d, _) = held_order(app).await;

    let all = app.get("/v1/orders").await;
    assert_eq!(order_ids(&all), [&d, &c, &b, &a]);
    assert_eq!(all.json["has_more"], false);
    assert_eq!(all.json["next_cursor"], Value::Null);
    assert_eq!(
        all.json.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["data", "has_more", "next_cursor"]
    );
    // Listed orders are the orders.
    for (i, id) in [&d, &c, &b, &a].into_iter().enumerate() {
        assert_eq!(all.json["data"][i], app.order(id).await);
    }
    for (query, expected) in [
        ("status=open", vec![&d, &a]),
        ("status=paid", vec![&b]),
        ("status=canceled", vec![&c]),
    ] {
        let res = app.get(&format!("/v1/orders?{query}")).await;
        assert_eq!(order_ids(&res), expected, "{query}");
        assert_eq!(res.json["has_more"], false);
    }

    let page1 = app.get("/v1/orders?limit=2").await;
    assert_eq!(order_ids(&page1), [&d, &c]);
    assert_eq!(page1.json["has_more"], true);
    assert_eq!(page1.json["next_cursor"], c.as_str());
    let page2 = app.get(&format!("/v1/orders?limit=2&cursor={c}")).await;
    assert_eq!(order_ids(&page2), [&b, &a]);
    assert_eq!(page2.json["has_more"], false);
    assert_eq!(page2.json["next_cursor"], Value::Null);
    let res = app
        .get(&format!("/v1/orders?status=open&limit=1&cursor={d}"))
        .await;
    assert_eq!(order_ids(&res), [&a]);
    assert_eq!(res.json["has_more"], false);
    let res = app.get("/v1/orders?status=open&limit=1").await;
    assert_eq!(order_ids(&res), [&d]);
    assert_eq!(res.json["has_more"], true);
    assert_eq!(res.json["next_cursor"], d.as_str());

    app.get("/v1/orders?status=pending").await.assert_error(
        400,
        "INVALID_PARAMETER",
        Some("status"),
    );
    app.get("/v1/orders?limit=0")
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("limit"));
    app.get("/v1/orders?limit=101")
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("limit"));
    app.get("/v1/orders?cursor=ord_000000000000000000000000")
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("cursor"));
}

// ---- Edit and cancel -------------------------------------------------------------------------

async fn patch_replaces_the_fields_it_names(app: &TestApp) {
    let oid = create_order(app, rental()).await;
    app.clock.advance(10);
    let res = app
        .patch(
            &order_path(&oid, ""),
            json!({
                "line_items": [item("Camera rental", 2, 5000)],
                "tip_money": usd(700),
                "discounts": [{"name": "Repeat customer", "amount_money": usd(200)}],
                "reference": "R-1",
                "metadata": {"a": "1"},
            }),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut expected = fresh_rental(&oid);
    expected["line_items"] = json!([{
        "name": "Camera rental",
        "quantity": 2,
        "unit_price_money": usd(5000),
        "total_money": usd(10000),
        "sku": null,
        "inventory_tracking": "none",
    }]);
    expected["tip_money"] = usd(700);
    expected["discounts"] = json!([{"name": "Repeat customer", "amount_money": usd(200)}]);
    expected["total_money"] = usd(10500);
    expected["settlement_amounts"]["amount_due_money"] = usd(10500);
    expected["reference"] = json!("R-1");
    expected["metadata"] = json!({"a": "1"});
    expected["updated_at"] = json!("2026-07-03T02:57:30Z");
    expected["version"] = json!(2);
    assert_eq!(res.json, json!({"data": expected}));
    assert_eq!(app.order(&oid).await, expected);

    // Fields left out are kept; null clears the tip and the reference.
    let res = app
        .patch(
            &order_path(&oid, ""),
            json!({"tip_money": null, "reference": null}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    expected["tip_money"] = usd(0);
    expected["reference"] = Value::Null;
    expected["total_money"] = usd(9800);
    expected["settlement_amounts"]["amount_due_money"] = usd(9800);
    expected["version"] = json!(3);
    assert_eq!(res.json["data"], expected);

    // Metadata and discounts are replaced whole.
    let res = app
        .patch(
            &order_path(&oid, ""),
            json!({"metadata": {"b": "2"}, "discounts": []}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    expected["metadata"] = json!({"b": "2"});
    expected["discounts"] = json!([]);
    expected["total_money"] = usd(10000);
    expected["settlement_amounts"]["amount_due_money"] = usd(10000);
    expected["version"] = json!(4);
    assert_eq!(res.json["data"], expected);

    // Bad input is refused with its param and changes nothing.
    let eur = json!({"amount": 100, "currency": "EUR"});
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"line_items": []}), "INVALID_PARAMETER", "line_items"),
        (
            json!({"line_items": [item("A", 0, 100)]}),
            "INVALID_PARAMETER",
            "line_items[0].quantity",
        ),
        (
            json!({"line_items": [item("A", 1, -100)]}),
            "INVALID_PARAMETER",
            "line_items[0].unit_price_money.amount",
        ),
        (
            json!({"line_items": [{"name": "A", "quantity": 1, "unit_price_money": usd(1), "inventory_tracking": "maybe"}]}),
            "INVALID_PARAMETER",
            "line_items[0].inventory_tracking",
        ),
        (
            json!({"tip_money": usd(-1)}),
            "INVALID_PARAMETER",
            "tip_money.amount",
        ),
        (
            json!({"tip_money": eur}),
            "ORDER_CURRENCY_MISMATCH",
            "tip_money.currency",
        ),
        (
            json!({"discounts": [{"name": "D", "amount_money": eur}]}),
            "ORDER_CURRENCY_MISMATCH",
            "discounts[0].amount_money.currency",
        ),
        (
            json!({"line_items": [{"name": "A", "quantity": 1, "unit_price_money": eur}], "metadata": {"c": "3"}}),
            "ORDER_CURRENCY_MISMATCH",
            "line_items[0].unit_price_money.currency",
        ),
    ];
    for (body, error, param) in cases {
        let res = app.patch(&order_path(&oid, ""), body.clone()).await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
        res.assert_error(400, error, Some(param));
    }
    assert_eq!(app.order(&oid).await, expected);
    app.patch(
        "/v1/orders/ord_000000000000000000000000",
        json!({"metadata": {}}),
    )
    .await
    .assert_error(404, "ORDER_NOT_FOUND", None);
}

async fn financials_lock_while_a_hold_is_active_and_after_payment(app: &TestApp) {
    let (oid, pid) = held_order(app).await;
    let before = app.order(&oid).await;
    let money_edits = [
        json!({"line_items": [item("Camera rental", 1, 5000)]}),
        json!({"tip_money": usd(1000)}),
        json!({"tip_money": null}),
        json!({"discounts": []}),
        json!({"discounts": [{"name": "Late", "amount_money": usd(500)}]}),
        json!({"line_items": [item("Camera rental", 1, 5000)], "metadata": {"k": "v"}, "reference": "X"}),
    ];
    for body in &money_edits {
        let res = app.patch(&order_path(&oid, ""), body.clone()).await;
        res.assert_error(409, "PAYMENT_ATTEMPT_IN_PROGRESS", None);
    }
    assert_eq!(app.order(&oid).await, before);

    // The text fields stay editable under the hold.
    app.clock.advance(5);
    let res = app
        .patch(
            &order_path(&oid, ""),
            json!({"reference": "REF-9", "metadata": {"note": "deposit"}}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut expected = before.clone();
    expected["reference"] = json!("REF-9");
    expected["metadata"] = json!({"note": "deposit"});
    expected["updated_at"] = json!("2026-07-03T02:57:25Z");
    expected["version"] = json!(4);
    assert_eq!(res.json["data"], expected);
    assert_order_money(&res.json["data"], 18500, 18500, 0, 18500);

    // Neither cancel nor a second pay while the hold stands.
    cancel_order(app, &oid)
        .await
        .assert_error(409, "PAYMENT_ATTEMPT_IN_PROGRESS", None);
    pay(app, &oid, &[(&pid, "pm_card_visa", None)], 18500)
        .await
        .assert_error(409, "PAYMENT_ATTEMPT_IN_PROGRESS", None);
    assert_eq!(app.order(&oid).await, expected);
    assert_eq!(app.intent(&pid).await["status"], "requires_capture");

    // Voided, the order is editable again, and payable for its new balance.
    let res = void(app, &oid, &pid).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_order_money(&res.json["data"], 0, 0, 0, 18500);
    let res = app
        .patch(
            &order_path(&oid, ""),
            json!({"line_items": [item("Camera rental", 2, 5000), lens()], "tip_money": usd(1000)}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["total_money"], usd(14500));
    assert_order_money(&res.json["data"], 0, 0, 0, 14500);
    let second = linked(app, &oid, "manual").await;
    assert_eq!(app.intent(&second).await["amount_money"], usd(14500));
    let res = pay(app, &oid, &[(&second, "pm_card_mastercard", None)], 14500).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_order_money(&res.json["data"], 14500, 14500, 0, 14500);
    assert_eq!(res.json["data"]["payment_intent_ids"], json!([pid, second]));
    for body in &money_edits {
        app.patch(&order_path(&oid, ""), body.clone())
            .await
            .assert_error(409, "PAYMENT_ATTEMPT_IN_PROGRESS", None);
    }

    // Paid, the financials stay locked for good; the text fields do not.
    let res = capture(app, &oid, &second, json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["status"], "paid");
    let paid = res.json["data"].clone();
    for body in &money_edits {
        app.patch(&order_path(&oid, ""), body.clone())
            .await
            .assert_error(409, "ORDER_NOT_EDITABLE", None);
    }
    cancel_order(app, &oid)
        .await
        .assert_error(409, "ORDER_NOT_EDITABLE", None);
    assert_eq!(app.order(&oid).await, paid);
    let res = app
        .patch(&order_path(&oid, ""), json!({"metadata": {"filed": "yes"}}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["metadata"], json!({"filed": "yes"}));
    assert_eq!(res.json["data"]["status"], "paid");
    assert_order_money(&res.json["data"], 0, 0, 14500, 0);
    assert_order_agrees_with_its_intents(app, &oid).await;
}

async fn cancel_an_open_unpaid_order(app: &TestApp) {
    let oid = create_order(app, rental()).await;
    // An intent that never paid does not hold the order open.
    let pid = linked(app, &oid, "manual").await;
    app.clock.advance(30);
    let res = cancel_order(app, &oid).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut expected = fresh_rental(&oid);
    expected["status"] = json!("canceled");
    expected["canceled_at"] = json!("2026-07-03T02:57:50Z");
    expected["updated_at"] = json!("2026-07-03T02:57:50Z");
    expected["payment_intent_ids"] = json!([pid]);
    expected["version"] = json!(3);
    assert_eq!(res.json, json!({"data": expected}));
    assert_eq!(app.order(&oid).await, expected);

    // A canceled order is done: no cancel again, no edits of its money, no payment.
    cancel_order(app, &oid)
        .await
        .assert_error(409, "ORDER_NOT_EDITABLE", None);
    app.patch(&order_path(&oid, ""), json!({"tip_money": usd(100)}))
        .await
        .assert_error(409, "ORDER_NOT_EDITABLE", None);
    create_linked(app, &oid, "manual")
        .await
        .assert_error(409, "ORDER_NOT_PAYABLE", None);
    pay(app, &oid, &[(&pid, "pm_card_visa", None)], 18500)
        .await
        .assert_error(409, "ORDER_NOT_PAYABLE", None);
    assert_eq!(app.order(&oid).await, expected);
    assert_eq!(app.intent(&pid).await["status"], "requires_payment_method");
    cancel_order(app, "ord_000000000000000000000000")
        .await
        .assert_error(404, "ORDER_NOT_FOUND", None);
}

// ---- Intents on an order -----------------------------------------------------------------------

async fn intents_on_an_order_take_the_balance_due(app: &TestApp) {
    let oid = create_order(app, rental()).await;
    let res = app
        .post("/v1/payment-intents", json!({"order_id": oid}))
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let auto = res.json["data"]["payment_intent"].clone();
    assert_eq!(auto["amount_money"], usd(18500));
    assert_eq!(auto["capture_method"], "automatic");
    assert_eq!(auto["order_id"], oid.as_str());
    let auto = auto["payment_intent_id"].as_str().unwrap().to_owned();
    let manual = linked(app, &oid, "manual").await;
    assert_eq!(app.intent(&manual).await["amount_money"], usd(18500));
    let listed = app.order(&oid).await;
    assert_eq!(listed["payment_intent_ids"], json!([auto, manual]));

    // Refusals.
    for body in [
        json!({"order_id": oid, "amount_money": usd(18500)}),
        json!({"order_id": oid, "amount_money": usd(100), "capture_method": "manual"}),
    ] {
        app.post("/v1/payment-intents", body).await.assert_error(
            400,
            "ORDER_LINKED_AMOUNT_NOT_ALLOWED",
            Some("amount_money"),
        );
    }
    for missing in ["ord_000000000000000000000000", "nope"] {
        app.post(
            "/v1/payment-intents",
            json!({"order_id": missing, "capture_method": "manual"}),
        )
        .await
        .assert_error(404, "ORDER_NOT_FOUND", Some("order_id"));
    }
    app.post(
        "/v1/payment-intents",
        json!({"order_id": oid, "auto_confirm": true, "payment_source_token": "pm_card_visa"}),
    )
    .await
    .assert_error(400, "INVALID_PARAMETER", Some("auto_confirm"));
    // None of them created an intent or touched the order.
    assert_eq!(app.order(&oid).await, listed);
    let all = app.get("/v1/payment-intents?limit=100").await;
    assert_eq!(
        all.json["data"].as_array().unwrap().len(),
        2,
        "{}",
        all.text
    );

    // Strict inventory cannot sit behind a hold; automatic capture can pay it.
    let strict = create_order(
        app,
        json!({
            "currency": "USD",
            "line_items": [
                item("Poster", 1, 2000),
                {"name": "Limited print", "quantity": 1, "unit_price_money": usd(5000), "inventory_tracking": "strict"},
            ],
        }),
    )
    .await;
    create_linked(app, &strict, "manual").await.assert_error(
        400,
        "STRICT_INVENTORY_DELAYED_CAPTURE_UNSUPPORTED",
        Some("capture_method"),
    );
    assert_eq!(app.order(&strict).await["payment_intent_ids"], json!([]));
    let auto_strict = linked(app, &strict, "automatic").await;
    let res = pay(app, &strict, &[(&auto_strict, "pm_card_visa", None)], 7000).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["status"], "paid");
    assert_order_money(&res.json["data"], 0, 0, 7000, 0);

    // A manual intent made before strict items were added cannot pay the order.
    let later = create_order(app, rental()).await;
    let early = linked(app, &later, "manual").await;
    let res = app
        .patch(
            &order_path(&later, ""),
            json!({"line_items": [{"name": "Limited print", "quantity": 1, "unit_price_money": usd(5000), "inventory_tracking": "strict"}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let before = app.order(&later).await;
    let res = pay(app, &later, &[(&early, "pm_card_visa", None)], 5000).await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert_eq!(code(&res), "STRICT_INVENTORY_DELAYED_CAPTURE_UNSUPPORTED");
    assert_eq!(app.order(&later).await, before);
    let intent = app.intent(&early).await;
    assert_eq!(intent["status"], "requires_payment_method");
    assert_money(&intent, 0, 0, 0, 0);
    // An intent created now takes the new balance.
    let fresh = linked(app, &later, "automatic").await;
    assert_eq!(app.intent(&fresh).await["amount_money"], usd(5000));

    // Nothing is due on a fully discounted order: no intent for it.
    let free = create_order(
        app,
        json!({
            "currency": "USD",
            "line_items": [item("Sample", 1, 1000)],
            "discounts": [{"name": "Launch", "amount_money": usd(1000)}],
        }),
    )
    .await;
    create_linked(app, &free, "automatic")
        .await
        .assert_error(409, "ORDER_NOT_PAYABLE", None);
}

// ---- Pay ---------------------------------------------------------------------------------------

async fn pay_with_the_wrong_expected_amount_changes_nothing(app: &TestApp) {
    let oid = create_order(app, rental()).await;
    let pid = linked(app, &oid, "manual").await;
    let before = app.order(&oid).await;
    let intent_before = app.intent(&pid).await;
    for expected in [18400, 18600, 0, 1] {
        pay(app, &oid, &[(&pid, "pm_card_visa", None)], expected)
            .await
            .assert_error(409, "ORDER_AMOUNT_MISMATCH", Some("expected_amount_money"));
    }
    let mut body = pay_body(&[(&pid, "pm_card_visa", None)], 18500);
    body["expected_amount_money"] = json!({"amount": 18500, "currency": "EUR"});
    app.post(&order_path(&oid, "pay"), body).await.assert_error(
        409,
        "ORDER_AMOUNT_MISMATCH",
        Some("expected_amount_money"),
    );
    // With a key, the refusal is kept and replayed; still nothing happened.
    let keyed = app
        .request(Method::POST, &order_path(&oid, "pay"))
        .idem("pay-wrong-total")
        .json(&pay_body(&[(&pid, "pm_card_visa", None)], 18000))
        .send()
        .await;
    keyed.assert_error(409, "ORDER_AMOUNT_MISMATCH", Some("expected_amount_money"));

    assert_eq!(app.order(&oid).await, before);
    let intent = app.intent(&pid).await;
    assert_eq!(intent, intent_before);
    assert_eq!(intent["status"], "requires_payment_method");
    assert_eq!(intent["last_payment_error"], Value::Null);
    assert_eq!(
        app.event_types_of(&pid).await,
        vec!["payment_intent.created"]
    );
    assert_eq!(app.actions_of(&pid).await, Vec::<Value>::new());
    assert_eq!(
        app.events_of_type("order.payment_authorized").await.len(),
        0
    );

    // The balance is what counts at pay time: after an edit, the old total is wrong.
    let res = app
        .patch(
            &order_path(&oid, ""),
            json!({"line_items": [item("Camera rental", 2, 5000)]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    pay(app, &oid, &[(&pid, "pm_card_visa", None)], 18500)
        .await
        .assert_error(409, "ORDER_AMOUNT_MISMATCH", Some("expected_amount_money"));
    let res = pay(app, &oid, &[(&pid, "pm_card_visa", None)], 10000).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_order_money(&res.json["data"], 10000, 10000, 0, 10000);
    let held = app.intent(&pid).await;
    assert_eq!(held["amount_money"], usd(10000));
    assert_money(&held, 10000, 10000, 0, 0);
    assert_order_agrees_with_its_intents(app, &oid).await;
}

async fn pay_refuses_bad_intents_and_tokens(app: &TestApp) {
    let oid = create_order(app, rental()).await;
    let pid = linked(app, &oid, "manual").await;
    let other_order = create_order(app, rental()).await;
    let foreign = linked(app, &other_order, "manual").await;
    let standalone = app.create_manual(18500).await;
    let before = app.order(&oid).await;

    pay(app, &oid, &[(&foreign, "pm_card_visa", None)], 18500)
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("payment_intent_ids"));
    pay(app, &oid, &[(&standalone, "pm_card_visa", None)], 18500)
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("payment_intent_ids"));
    pay(
        app,
        &oid,
        &[("pi_000000000000000000000000", "pm_card_visa", None)],
        18500,
    )
    .await
    .assert_error(404, "PAYMENT_INTENT_NOT_FOUND", Some("payment_intent_ids"));
    let mut body = pay_body(&[(&pid, "pm_card_visa", None)], 18500);
    body["payment_source_tokens"] = json!({});
    let param = format!("payment_source_tokens.{pid}");
    app.post(&order_path(&oid, "pay"), body).await.assert_error(
        400,
        "MISSING_PARAMETER",
        Some(param.as_str()),
    );
    pay(app, &oid, &[(&pid, "tok_bogus", None)], 18500)
        .await
        .assert_error(400, "INVALID_PAYMENT_SOURCE_TOKEN", Some(param.as_str()));
    let body = json!({
        "payment_intent_ids": [],
        "payment_source_tokens": {},
        "expected_amount_money": usd(18500),
    });
    app.post(&order_path(&oid, "pay"), body).await.assert_error(
        400,
        "MISSING_PARAMETER",
        Some("payment_intent_ids"),
    );
    app.post(
        "/v1/orders/ord_000000000000000000000000/pay",
        pay_body(&[(&pid, "pm_card_visa", None)], 18500),
    )
    .await
    .assert_error(404, "ORDER_NOT_FOUND", None);

    assert_eq!(app.order(&oid).await, before);
    assert_eq!(app.intent(&pid).await["status"], "requires_payment_method");
    assert_eq!(
        app.intent(&foreign).await["status"],
        "requires_payment_method"
    );
    assert_eq!(
        app.intent(&standalone).await["status"],
        "requires_payment_method"
    );
    assert_eq!(
        app.events_of_type("order.payment_authorized").await.len(),
        0
    );
}

async fn an_automatic_intent_pays_the_order(app: &TestApp) {
    let oid = create_order(app, rental()).await;
    let pid = linked(app, &oid, "automatic").await;
    app.clock.advance(15);
    let res = pay(app, &oid, &[(&pid, "pm_card_amex", None)], 18500).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut expected = fresh_rental(&oid);
    expected["status"] = json!("paid");
    expected["payment_intent_ids"] = json!([pid]);
    expected["settlement_amounts"]["paid_money"] = usd(18500);
    expected["settlement_amounts"]["amount_due_money"] = usd(0);
    expected["updated_at"] = json!("2026-07-03T02:57:35Z");
    expected["version"] = json!(3);
    assert_eq!(res.json, json!({"data": expected}));
    assert_eq!(app.order(&oid).await, expected);
    let intent = app.intent(&pid).await;
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["payment_method_brand"], "amex");
    assert_money(&intent, 18500, 0, 18500, 0);
    assert_order_agrees_with_its_intents(app, &oid).await;

    let events = app.events_of(&pid).await;
    assert_eq!(
        types(&events),
        vec![
            "payment_intent.created",
            "payment_intent.succeeded",
            "order.payment_captured",
            "order.payment_succeeded",
        ]
    );
    assert_captured_event(&events[2], &pid, 18500, 0);
    assert_eq!(events[2]["data"]["object"], expected);
    assert_succeeded_event(&events[3], &pid, 18500);
    assert_eq!(events[3]["data"]["object"], expected);

    // Nothing is left to pay.
    pay(app, &oid, &[(&pid, "pm_card_visa", None)], 18500)
        .await
        .assert_error(409, "ORDER_NOT_PAYABLE", None);
    create_linked(app, &oid, "automatic")
        .await
        .assert_error(409, "ORDER_NOT_PAYABLE", None);
    assert_eq!(app.order(&oid).await, expected);
}

async fn split_tender_places_two_holds(app: &TestApp) {
    let oid = create_order(app, rental()).await;
    let a = linked(app, &oid, "manual").await;
    let b = linked(app, &oid, "manual").await;

    // Shares that do not add up to the balance are refused; nothing happens.
    let before = app.order(&oid).await;
    for (share_a, share_b) in [(10000, 8000), (10000, 9000), (18500, 18500)] {
        pay(
            app,
            &oid,
            &[
                (&a, "pm_card_visa", Some(share_a)),
                (&b, "pm_card_mastercard", Some(share_b)),
            ],
            18500,
        )
        .await
        .assert_error(409, "ORDER_AMOUNT_MISMATCH", Some("payment_amounts"));
    }
    // With several intents each needs its share.
    let param = format!("payment_amounts.{b}");
    pay(
        app,
        &oid,
        &[
            (&a, "pm_card_visa", Some(18500)),
            (&b, "pm_card_mastercard", None),
        ],
        18500,
    )
    .await
    .assert_error(400, "MISSING_PARAMETER", Some(param.as_str()));
    assert_eq!(app.order(&oid).await, before);
    for id in [&a, &b] {
        assert_eq!(app.event_types_of(id).await, vec!["payment_intent.created"]);
    }

    app.clock.advance(40);
    let res = pay(
        app,
        &oid,
        &[
            (&a, "pm_card_visa", Some(10000)),
            (&b, "pm_card_mastercard", Some(8500)),
        ],
        18500,
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let after_pay = res.json["data"].clone();
    assert_eq!(after_pay["status"], "open");
    assert_order_money(&after_pay, 18500, 18500, 0, 18500);
    let deadline = "2026-07-10T02:57:59Z";
    assert_eq!(after_pay["authorization_amounts"]["expires_at"], deadline);
    assert_eq!(app.order(&oid).await, after_pay);
    for (id, share, brand) in [(&a, 10000, "visa"), (&b, 8500, "mastercard")] {
        let pi = app.intent(id).await;
        assert_eq!(pi["status"], "requires_capture");
        assert_eq!(pi["amount_money"], usd(share));
        assert_eq!(pi["payment_method_brand"], brand);
        assert_eq!(pi["authorization_expires_at"], deadline);
        assert_money(&pi, share, share, 0, 0);
        let events = app.events_of(id).await;
        assert_eq!(
            types(&events),
            vec![
                "payment_intent.created",
                "payment_intent.requires_capture",
                "order.payment_authorized",
            ]
        );
        assert_authorized_event(&events[2], id, share, deadline);
        assert_eq!(events[2]["data"]["object"], after_pay);
    }
    assert_order_agrees_with_its_intents(app, &oid).await;

    // Capturing one hold pays its share; the order is paid only with the second.
    app.clock.advance(60);
    let res = capture(app, &oid, &a, json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["status"], "open");
    assert_order_money(&res.json["data"], 8500, 8500, 10000, 8500);
    assert_order_agrees_with_its_intents(app, &oid).await;
    let events = app.events_of(&a).await;
    assert_eq!(
        types(&events[3..]),
        vec!["payment_intent.succeeded", "order.payment_captured"]
    );
    assert_captured_event(&events[4], &a, 10000, 0);
    assert_eq!(app.events_of_type("order.payment_succeeded").await.len(), 0);
    // Money fields stay locked: something is paid and a hold stands.
    app.patch(&order_path(&oid, ""), json!({"tip_money": usd(100)}))
        .await
        .assert_error(409, "PAYMENT_ATTEMPT_IN_PROGRESS", None);

    let res = capture(app, &oid, &b, json!({"amount_money": usd(8500)})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["status"], "paid");
    assert_order_money(&res.json["data"], 0, 0, 18500, 0);
    assert_order_agrees_with_its_intents(app, &oid).await;
    let events = app.events_of(&b).await;
    assert_eq!(
        types(&events[3..]),
        vec![
            "payment_intent.succeeded",
            "order.payment_captured",
            "order.payment_succeeded"
        ]
    );
    assert_captured_event(&events[4], &b, 8500, 0);
    assert_succeeded_event(&events[5], &b, 18500);
    assert_eq!(app.events_of_type("order.payment_captured").await.len(), 2);
    assert_eq!(app.events_of_type("order.payment_succeeded").await.len(), 1);
}

async fn split_tender_decline_holds_nothing(app: &TestApp) {
    let oid = create_order(app, rental()).await;
    let a = linked(app, &oid, "manual").await;
    let b = linked(app, &oid, "manual").await;
    let before = app.order(&oid).await;
    let a_before = app.intent(&a).await;

    app.clock.advance(20);
    let res = app
        .request(Method::POST, &order_path(&oid, "pay"))
        .idem("split-declined")
        .json(&pay_body(
            &[
                (&a, "pm_card_visa", Some(10000)),
                (&b, "pm_card_chargeDeclined", Some(8500)),
            ],
            18500,
        ))
        .send()
        .await;
    res.assert_error(402, "CARD_DECLINED", None);
    assert_eq!(res.json["error"]["decline_code"], "generic_decline");
    assert_eq!(res.json["error"]["payment_intent_id"], b.as_str());

    // Nothing is held afterwards: the order is as it was, the approved share was released.
    assert_eq!(app.order(&oid).await, before);
    assert_order_money(&before, 0, 0, 0, 18500);
    let first = app.intent(&a).await;
    assert_eq!(first["status"], "requires_payment_method");
    assert_money(&first, 0, 0, 0, 0);
    assert_eq!(first["authorization_expires_at"], Value::Null);
    assert_eq!(first, a_before);
    assert_eq!(app.event_types_of(&a).await, vec!["payment_intent.created"]);
    let declined = app.intent(&b).await;
    assert_eq!(declined["status"], "requires_payment_method");
    assert_money(&declined, 0, 0, 0, 0);
    assert_eq!(declined["last_payment_error"]["code"], "CARD_DECLINED");
    assert_eq!(
        declined["last_payment_error"]["decline_code"],
        "generic_decline"
    );
    assert_eq!(
        app.event_types_of(&b).await,
        vec!["payment_intent.created", "payment_intent.payment_failed"]
    );
    for kind in [
        "order.payment_authorized",
        "order.payment_captured",
        "order.payment_succeeded",
        "order.payment_authorization_voided",
    ] {
        assert_eq!(app.events_of_type(kind).await.len(), 0, "{kind}");
    }
    // The key replays the decline.
    let again = app
        .request(Method::POST, &order_path(&oid, "pay"))
        .idem("split-declined")
        .json(&pay_body(
            &[
                (&a, "pm_card_visa", Some(10000)),
                (&b, "pm_card_chargeDeclined", Some(8500)),
            ],
            18500,
        ))
        .send()
        .await;
    assert_eq!(again.status, 402);
    assert_eq!(again.text, res.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    // The first card declining stops the call too.
    let res = pay(
        app,
        &oid,
        &[
            (&a, "pm_card_chargeDeclinedInsufficientFunds", Some(10000)),
            (&b, "pm_card_visa", Some(8500)),
        ],
        18500,
    )
    .await;
    res.assert_error(402, "CARD_DECLINED", None);
    assert_eq!(res.json["error"]["decline_code"], "insufficient_funds");
    assert_eq!(app.order(&oid).await, before);
    assert_eq!(app.intent(&b).await["status"], "requires_payment_method");
    assert_money(&app.intent(&b).await, 0, 0, 0, 0);

    // The buyer tries other cards: both holds are placed.
    let res = pay(
        app,
        &oid,
        &[
            (&a, "pm_card_visa", Some(10000)),
            (&b, "pm_card_mastercard", Some(8500)),
        ],
        18500,
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_order_money(&res.json["data"], 18500, 18500, 0, 18500);
    let first = app.intent(&a).await;
    assert_money(&first, 10000, 10000, 0, 0);
    assert_eq!(first["last_payment_error"], Value::Null);
    let second = app.intent(&b).await;
    assert_money(&second, 8500, 8500, 0, 0);
    assert_eq!(second["last_payment_error"], Value::Null);
    assert_order_agrees_with_its_intents(app, &oid).await;
    assert_eq!(
        app.events_of_type("order.payment_authorized").await.len(),
        2
    );
}

// ---- Capture and void through the order --------------------------------------------------------

async fn partial_capture_leaves_the_difference_due(app: &TestApp) {
    let (oid, pid) = held_order(app).await;
    app.clock.advance(3600);
    let first = capture_with_key(
        app,
        &oid,
        &pid,
        "partial-001",
        &json!({"amount_money": usd(15000)}),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let order = first.json["data"].clone();
    assert_eq!(order["status"], "open");
    assert_order_money(&order, 0, 0, 15000, 3500);
    assert_eq!(order["updated_at"], "2026-07-03T03:57:20Z");
    assert_eq!(app.order(&oid).await, order);
    let intent = app.intent(&pid).await;
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["amount_money"], usd(15000));
    assert_money(&intent, 18500, 0, 15000, 3500);
    assert_order_agrees_with_its_intents(app, &oid).await;
    let events = app.events_of(&pid).await;
    assert_eq!(
        types(&events),
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "order.payment_authorized",
            "payment_intent.succeeded",
            "order.payment_captured",
        ]
    );
    assert_captured_event(&events[4], &pid, 15000, 3500);
    assert_eq!(events[4]["data"]["object"], order);
    assert_eq!(app.events_of_type("order.payment_succeeded").await.len(), 0);

    // A retry replays with the same amount and is refused with any other, or with none.
    for key in [None, Some("partial-002")] {
        let body = json!({"amount_money": usd(15000)});
        let res = match key {
            Some(k) => capture_with_key(app, &oid, &pid, k, &body).await,
            None => capture(app, &oid, &pid, body).await,
        };
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.json, first.json);
        for (i, body) in [
            json!({}),
            json!({"amount_money": usd(18500)}),
            json!({"amount_money": usd(14000)}),
        ]
        .into_iter()
        .enumerate()
        {
            let res = match key {
                Some(k) => capture_with_key(app, &oid, &pid, &format!("{k}-{i}"), &body).await,
                None => capture(app, &oid, &pid, body).await,
            };
            res.assert_error(409, "CAPTURE_AMOUNT_MISMATCH", Some("amount_money"));
        }
    }
    let again = capture_with_key(
        app,
        &oid,
        &pid,
        "partial-001",
        &json!({"amount_money": usd(15000)}),
    )
    .await;
    assert_eq!(again.text, first.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.event_types_of(&pid).await.len(), 5);
    assert_eq!(app.order(&oid).await, order);

    // Something is paid: the money fields are locked for good.
    app.patch(&order_path(&oid, ""), json!({"tip_money": usd(100)}))
        .await
        .assert_error(409, "ORDER_NOT_EDITABLE", None);
    cancel_order(app, &oid)
        .await
        .assert_error(409, "ORDER_NOT_EDITABLE", None);

    // The remainder is collected deliberately, with a new payment.
    let rest = linked(app, &oid, "automatic").await;
    assert_eq!(app.intent(&rest).await["amount_money"], usd(3500));
    let res = pay(app, &oid, &[(&rest, "pm_card_visa", None)], 3500).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["status"], "paid");
    assert_order_money(&res.json["data"], 0, 0, 18500, 0);
    assert_order_agrees_with_its_intents(app, &oid).await;
    let events = app.events_of(&rest).await;
    assert_eq!(
        types(&events),
        vec![
            "payment_intent.created",
            "payment_intent.succeeded",
            "order.payment_captured",
            "order.payment_succeeded",
        ]
    );
    assert_captured_event(&events[2], &rest, 3500, 0);
    assert_succeeded_event(&events[3], &rest, 18500);
}

async fn a_repeated_capture_replays_with_the_same_amount_only(app: &TestApp) {
    let (oid, pid) = held_order(app).await;
    app.clock.advance(60);
    let first = capture_with_key(app, &oid, &pid, "full-001", &json!({})).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["data"]["status"], "paid");
    assert_order_money(&first.json["data"], 0, 0, 18500, 0);
    let events_before = app.events_of(&pid).await;
    app.clock.advance(60);

    for (i, body) in [json!({}), json!({"amount_money": usd(18500)})]
        .into_iter()
        .enumerate()
    {
        let res = capture(app, &oid, &pid, body.clone()).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.json, first.json);
        assert_eq!(res.header("idempotent-replayed"), None);
        let res = capture_with_key(app, &oid, &pid, &format!("full-retry-{i}"), &body).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.json, first.json);
    }
    // No body at all is the full amount too.
    let res = app
        .request(Method::POST, &capture_path(&oid, &pid))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json, first.json);

    for (i, body) in [
        json!({"amount_money": usd(15000)}),
        json!({"amount_money": usd(18499)}),
        json!({"amount_money": usd(20000)}),
        json!({"amount_money": {"amount": 18500, "currency": "EUR"}}),
    ]
    .into_iter()
    .enumerate()
    {
        capture(app, &oid, &pid, body.clone()).await.assert_error(
            409,
            "CAPTURE_AMOUNT_MISMATCH",
            Some("amount_money"),
        );
        capture_with_key(app, &oid, &pid, &format!("full-mismatch-{i}"), &body)
            .await
            .assert_error(409, "CAPTURE_AMOUNT_MISMATCH", Some("amount_money"));
    }
    // The original key replays the original answer.
    let again = capture_with_key(app, &oid, &pid, "full-001", &json!({})).await;
    assert_eq!(again.text, first.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    // Nothing moved twice.
    assert_eq!(app.events_of(&pid).await, events_before);
    let captures = app
        .actions_of(&pid)
        .await
        .into_iter()
        .filter(|a| a["type"] == "capture")
        .count();
    assert_eq!(captures, 1);
    assert_eq!(app.order(&oid).await, first.json["data"]);
    assert_order_agrees_with_its_intents(app, &oid).await;
}

async fn void_through_the_order_releases_the_hold(app: &TestApp) {
    let (oid, pid) = held_order(app).await;
    let held = app.order(&oid).await;
    app.clock.advance(120);
    let res = void(app, &oid, &pid).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut expected = held.clone();
    expected["authorization_amounts"] = json!({
        "authorized_money": usd(0),
        "capturable_money": usd(0),
        "expires_at": null,
    });
    expected["updated_at"] = json!("2026-07-03T02:59:20Z");
    expected["version"] = json!(4);
    assert_eq!(res.json, json!({"data": expected}));
    assert_eq!(app.order(&oid).await, expected);
    let intent = app.intent(&pid).await;
    assert_eq!(intent["status"], "canceled");
    assert_eq!(intent["canceled_at"], "2026-07-03T02:59:20Z");
    assert_money(&intent, 18500, 0, 0, 18500);
    let events = app.events_of(&pid).await;
    assert_eq!(
        types(&events),
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "order.payment_authorized",
            "payment_intent.canceled",
            "order.payment_authorization_voided",
        ]
    );
    assert_eq!(events[3]["data"]["object"], intent);
    assert_released_event(
        &events[4],
        "order.payment_authorization_voided",
        &pid,
        18500,
    );
    assert_eq!(events[4]["data"]["object"], expected);

    // The hold is gone: no second void, no capture.
    void(app, &oid, &pid)
        .await
        .assert_error(400, "PAYMENT_ALREADY_CANCELED", None);
    capture(app, &oid, &pid, json!({}))
        .await
        .assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
    assert_eq!(app.order(&oid).await, expected);
    assert_eq!(app.events_of(&pid).await.len(), 5);

    // Editable and payable again; the voided intent cannot pay.
    let res = app
        .patch(
            &order_path(&oid, ""),
            json!({"discounts": [{"name": "Sorry", "amount_money": usd(1500)}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_order_money(&res.json["data"], 0, 0, 0, 17000);
    pay(app, &oid, &[(&pid, "pm_card_visa", None)], 17000)
        .await
        .assert_error(
            400,
            "INVALID_STATUS_FOR_CONFIRM",
            Some("payment_intent_ids"),
        );
    let again = linked(app, &oid, "manual").await;
    let res = pay(app, &oid, &[(&again, "pm_card_visa", None)], 17000).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_order_money(&res.json["data"], 17000, 17000, 0, 17000);
    assert_eq!(res.json["data"]["payment_intent_ids"], json!([pid, again]));
    let res = capture(app, &oid, &again, json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["status"], "paid");
    assert_order_money(&res.json["data"], 0, 0, 17000, 0);
    assert_order_agrees_with_its_intents(app, &oid).await;
    assert_eq!(
        app.events_of_type("order.payment_authorization_voided")
            .await
            .len(),
        1
    );
}

async fn order_routes_name_only_the_orders_own_intents(app: &TestApp) {
    let (oid, pid) = held_order(app).await;
    let (other_order, other_pid) = held_order(app).await;
    let standalone = app.hold(5000).await;
    let before = app.order(&oid).await;
    for intent in [
        other_pid.as_str(),
        standalone.as_str(),
        "pi_000000000000000000000000",
    ] {
        capture(app, &oid, intent, json!({})).await.assert_error(
            404,
            "PAYMENT_INTENT_NOT_FOUND",
            None,
        );
        void(app, &oid, intent)
            .await
            .assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);
    }
    for path in [
        capture_path("ord_000000000000000000000000", &pid),
        void_path("ord_000000000000000000000000", &pid),
    ] {
        app.post(&path, json!({}))
            .await
            .assert_error(404, "ORDER_NOT_FOUND", None);
    }
    assert_eq!(app.order(&oid).await, before);
    assert_eq!(app.intent(&other_pid).await["status"], "requires_capture");
    assert_eq!(app.intent(&standalone).await["status"], "requires_capture");
    assert_order_agrees_with_its_intents(app, &other_order).await;
}

/// An order intent that never paid has no hold to capture or void. The order route says so
/// without a server error, and what it answers matches what it did.
async fn voiding_an_unpaid_order_intent_is_answered_consistently(app: &TestApp) {
    let oid = create_order(app, rental()).await;
    let pid = linked(app, &oid, "manual").await;
    capture(app, &oid, &pid, json!({}))
        .await
        .assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
    let intent_before = app.intent(&pid).await;
    let order_before = app.order(&oid).await;
    let res = void(app, &oid, &pid).await;
    let intent_after = app.intent(&pid).await;
    let order_after = app.order(&oid).await;
    assert!(
        res.status < 500,
        "voiding an order intent without a hold answers {} {}; the intent is now {}",
        res.status,
        res.text,
        intent_after["status"]
    );
    if res.status == 200 {
        // Accepted: the intent is canceled and the answer is the (unchanged) order.
        assert_eq!(intent_after["status"], "canceled");
        assert_money(&intent_after, 0, 0, 0, 0);
        assert_eq!(res.json["data"], order_after);
        assert_order_money(&order_after, 0, 0, 0, 18500);
    } else {
        // Refused: nothing changed.
        assert_eq!(res.status / 100, 4, "{}", res.text);
        assert_eq!(intent_after, intent_before);
        assert_eq!(order_after, order_before);
        assert_eq!(
            app.event_types_of(&pid).await,
            vec!["payment_intent.created"]
        );
    }
    assert_eq!(
        app.events_of_type("order.payment_authorization_voided")
            .await
            .len(),
        0
    );
    assert_order_agrees_with_its_intents(app, &oid).await;
}

async fn standalone_routes_refuse_order_linked_intents(app: &TestApp) {
    let oid = create_order(app, rental()).await;
    let pid = linked(app, &oid, "manual").await;
    let path = |action: &str| format!("/v1/payment-intents/{pid}/{action}");
    let before = app.intent(&pid).await;
    for (action, body) in [
        ("confirm", json!({"payment_source_token": "pm_card_visa"})),
        ("capture", json!({})),
        ("cancel", json!({})),
    ] {
        app.post(&path(action), body)
            .await
            .assert_error(409, "ORDER_LINKED_PAYMENT_INTENT", None);
    }
    assert_eq!(app.intent(&pid).await, before);

    let res = pay(app, &oid, &[(&pid, "pm_card_visa", None)], 18500).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let held_order = res.json["data"].clone();
    let held = app.intent(&pid).await;
    let events = app.events_of(&pid).await;
    for (action, body) in [
        ("confirm", json!({"payment_source_token": "pm_card_visa"})),
        ("capture", json!({})),
        ("capture", json!({"amount_money": usd(100)})),
        ("cancel", json!({})),
        ("cancel", json!({"cancellation_reason": "abandoned"})),
    ] {
        app.post(&path(action), body)
            .await
            .assert_error(409, "ORDER_LINKED_PAYMENT_INTENT", None);
    }
    // Also with no body and with a key.
    app.request(Method::POST, &path("capture"))
        .idem("standalone-capture")
        .send()
        .await
        .assert_error(409, "ORDER_LINKED_PAYMENT_INTENT", None);
    assert_eq!(app.intent(&pid).await, held);
    assert_eq!(app.order(&oid).await, held_order);
    assert_eq!(app.events_of(&pid).await, events);

    // After the order captures it, the standalone routes still refuse it.
    assert_eq!(capture(app, &oid, &pid, json!({})).await.status, 200);
    for action in ["capture", "cancel"] {
        app.post(&path(action), json!({})).await.assert_error(
            409,
            "ORDER_LINKED_PAYMENT_INTENT",
            None,
        );
    }
}

// ---- Expiry ------------------------------------------------------------------------------------

async fn an_expired_order_hold_releases_the_order(app: &TestApp) {
    let (oid, pid) = held_order(app).await;
    let held = app.order(&oid).await;
    assert_eq!(held["authorization_amounts"]["expires_at"], DEADLINE);

    // At the deadline itself the hold still stands.
    app.clock.advance(HOLD_SECONDS);
    assert_eq!(app.intent(&pid).await["status"], "requires_capture");
    assert_eq!(app.order(&oid).await, held);

    // One second past it, a worker pass records the expiry on the intent and the order.
    app.clock.advance(1);
    let pass = app.app.run_due_once(100).await.unwrap();
    assert_eq!(pass, holdfast_service::Outcome::Worked(1));
    let intent = app.intent(&pid).await;
    assert_eq!(intent["status"], "expired");
    assert_eq!(intent["cancellation_reason"], "authorization_expired");
    assert_money(&intent, 18500, 0, 0, 18500);
    let order = app.order(&oid).await;
    let mut expected = held.clone();
    expected["authorization_amounts"] = json!({
        "authorized_money": usd(0),
        "capturable_money": usd(0),
        "expires_at": null,
    });
    expected["updated_at"] = json!("2026-07-10T02:57:20Z");
    expected["version"] = json!(4);
    assert_eq!(order, expected);
    assert_eq!(order["status"], "open");
    assert_order_money(&order, 0, 0, 0, 18500);
    assert_order_agrees_with_its_intents(app, &oid).await;

    let events = app.events_of(&pid).await;
    let canceled = only(&events, "payment_intent.canceled");
    assert_eq!(canceled["data"]["object"], intent);
    let expired = only(&events, "order.payment_authorization_expired");
    assert_released_event(expired, "order.payment_authorization_expired", &pid, 18500);
    assert_eq!(expired["data"]["object"], expected);
    assert_eq!(expired["created_at"], "2026-07-10T02:57:20Z");
    assert_eq!(
        types(&events).last(),
        Some(&"order.payment_authorization_expired")
    );
    assert_eq!(
        app.events_of_type("order.payment_authorization_voided")
            .await
            .len(),
        0
    );

    // A second pass finds nothing; the order routes see the hold gone.
    let pass = app.app.run_due_once(100).await.unwrap();
    assert_eq!(pass, holdfast_service::Outcome::Idle);
    capture(app, &oid, &pid, json!({})).await.assert_error(
        400,
        "PAYMENT_AUTHORIZATION_EXPIRED",
        None,
    );
    void(app, &oid, &pid)
        .await
        .assert_error(400, "CANNOT_CANCEL_EXPIRED_PAYMENT", None);
    assert_eq!(app.events_of(&pid).await, events);
    assert_eq!(app.order(&oid).await, expected);

    // Editable and payable again.
    let res = app
        .patch(&order_path(&oid, ""), json!({"tip_money": usd(1500)}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_order_money(&res.json["data"], 0, 0, 0, 20000);
    let again = linked(app, &oid, "manual").await;
    let res = pay(app, &oid, &[(&again, "pm_card_visa", None)], 20000).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_order_money(&res.json["data"], 20000, 20000, 0, 20000);
    assert_eq!(
        res.json["data"]["authorization_amounts"]["expires_at"],
        "2026-07-17T02:57:19Z"
    );
    assert_order_agrees_with_its_intents(app, &oid).await;
}

/// Each order command, right after the deadline and before any worker pass, first records the
/// expiry (once), then acts on the order as it now stands.
async fn order_commands_after_the_deadline_record_the_expiry_first(app: &TestApp) {
    let (patched, patched_pi) = held_order(app).await;
    let (canceled, canceled_pi) = held_order(app).await;
    let (repaid, repaid_pi) = held_order(app).await;
    let (captured, captured_pi) = held_order(app).await;
    let (voided, voided_pi) = held_order(app).await;
    app.clock.advance(HOLD_SECONDS + 1);

    let res = app
        .patch(&order_path(&patched, ""), json!({"tip_money": usd(500)}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["total_money"], usd(19000));
    assert_order_money(&res.json["data"], 0, 0, 0, 19000);

    let res = cancel_order(app, &canceled).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["status"], "canceled");
    assert_order_money(&res.json["data"], 0, 0, 0, 18500);

    let again = linked(app, &repaid, "manual").await;
    let res = pay(app, &repaid, &[(&again, "pm_card_visa", None)], 18500).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_order_money(&res.json["data"], 18500, 18500, 0, 18500);
    assert_eq!(
        res.json["data"]["authorization_amounts"]["expires_at"],
        "2026-07-17T02:57:19Z"
    );

    capture(app, &captured, &captured_pi, json!({}))
        .await
        .assert_error(400, "PAYMENT_AUTHORIZATION_EXPIRED", None);
    void(app, &voided, &voided_pi)
        .await
        .assert_error(400, "CANNOT_CANCEL_EXPIRED_PAYMENT", None);

    // The worker then finds nothing left to do, and every expiry was recorded exactly once.
    let pass = app.app.run_due_once(100).await.unwrap();
    assert_eq!(pass, holdfast_service::Outcome::Idle);
    let pairs = [
        (&patched, &patched_pi),
        (&canceled, &canceled_pi),
        (&repaid, &repaid_pi),
        (&captured, &captured_pi),
        (&voided, &voided_pi),
    ];
    for (order_id, intent_id) in pairs {
        let intent = app.intent(intent_id).await;
        assert_eq!(intent["status"], "expired", "{intent}");
        assert_money(&intent, 18500, 0, 0, 18500);
        let events = app.events_of(intent_id).await;
        assert_eq!(
            types(&events),
            vec![
                "payment_intent.created",
                "payment_intent.requires_capture",
                "order.payment_authorized",
                "payment_intent.canceled",
                "order.payment_authorization_expired",
            ],
            "{order_id}"
        );
        assert_released_event(
            &events[4],
            "order.payment_authorization_expired",
            intent_id,
            18500,
        );
        // The event shows the order as the expiry left it, before the command that noticed.
        let object = &events[4]["data"]["object"];
        assert_eq!(object["status"], "open");
        assert_eq!(object["total_money"], usd(18500));
        assert_order_money(object, 0, 0, 0, 18500);
        assert_order_agrees_with_its_intents(app, order_id).await;
    }
    assert_eq!(
        app.events_of_type("order.payment_authorization_expired")
            .await
            .len(),
        5
    );
    // A second command changes nothing about the expiry.
    let res = app
        .patch(&order_path(&patched, ""), json!({"tip_money": usd(600)}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        app.events_of_type("order.payment_authorization_expired")
            .await
            .len(),
        5
    );
}

/// Past its deadline a hold is gone whether or not a worker noticed: the intent already reads as
/// expired, and the order must not go on showing the hold as live.
async fn reading_an_order_past_its_deadline_shows_no_hold(app: &TestApp) {
    let (oid, pid) = held_order(app).await;
    app.clock.advance(HOLD_SECONDS + 1);
    let intent = app.intent(&pid).await;
    assert_eq!(intent["status"], "expired");
    assert_money(&intent, 18500, 0, 0, 18500);
    let order = app.order(&oid).await;
    assert_order_money(&order, 0, 0, 0, 18500);
    let listed = app.get("/v1/orders").await;
    assert_eq!(listed.json["data"][0], order);
}

// ---- Races -------------------------------------------------------------------------------------

/// Two servers on one PostgreSQL database, captures and voids of one order hold through both:
/// one effect, and every success shows the order as the race left it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_one_order_effect() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    let (other, task) = app.second_server().await;
    let (oid, pid) = held_order(&app).await;
    let calls = (0..30usize)
        .map(|i| {
            let remote = if i.is_multiple_of(2) {
                app.remote()
            } else {
                other.clone()
            };
            let call = if i % 3 == 0 {
                (void_path(&oid, &pid), Some(format!("void-{i}")), None)
            } else {
                (
                    capture_path(&oid, &pid),
                    Some(format!("capture-{i}")),
                    Some(json!({})),
                )
            };
            (remote, call)
        })
        .collect();
    let answers = fire_on(calls).await;
    let order = assert_order_agrees_with_its_intents(&app, &oid).await;
    let intent = app.intent(&pid).await;
    let events = app.events_of(&pid).await;
    if intent["status"] == "succeeded" {
        assert_order_money(&order, 0, 0, 18500, 0);
        for (i, res) in answers.iter().enumerate() {
            if i % 3 == 0 {
                res.assert_error(400, "CANNOT_CANCEL_SUCCEEDED_PAYMENT", None);
            } else {
                assert_eq!(res.status, 200, "{:?}", statuses(&answers));
            }
        }
        assert_eq!(
            types(&events[3..]),
            vec![
                "payment_intent.succeeded",
                "order.payment_captured",
                "order.payment_succeeded"
            ]
        );
    } else {
        assert_eq!(intent["status"], "canceled", "{intent}");
        assert_order_money(&order, 0, 0, 0, 18500);
        let winners = answers.iter().filter(|r| r.status == 200).count();
        assert_eq!(winners, 1, "{:?}", statuses(&answers));
        for (i, res) in answers.iter().enumerate() {
            if res.status == 200 {
                assert_eq!(i % 3, 0, "the winner is a void");
            } else if i % 3 == 0 {
                res.assert_error(400, "PAYMENT_ALREADY_CANCELED", None);
            } else {
                res.assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
            }
        }
        assert_eq!(
            types(&events[3..]),
            vec![
                "payment_intent.canceled",
                "order.payment_authorization_voided"
            ]
        );
    }
    assert_eq!(app.actions_of(&pid).await.len(), 2);
    assert_all_show(&answers, &order, "capture or void");
    task.abort();
}

async fn thirty_concurrent_captures_through_the_order(app: &TestApp) {
    let (oid, pid) = held_order(app).await;
    let path = capture_path(&oid, &pid);
    let body = |i: usize| {
        if i.is_multiple_of(2) {
            json!({})
        } else {
            json!({"amount_money": usd(18500)})
        }
    };
    let calls = (0..30)
        .map(|i| (path.clone(), Some(format!("capture-{i}")), Some(body(i))))
        .collect();
    let answers = fire(app, calls).await;
    let ok = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        30,
        "every capture answers 200: {:?}",
        statuses(&answers)
    );

    // One effect.
    let order = assert_order_agrees_with_its_intents(app, &oid).await;
    assert_eq!(order["status"], "paid");
    assert_order_money(&order, 0, 0, 18500, 0);
    let intent = app.intent(&pid).await;
    assert_money(&intent, 18500, 0, 18500, 0);
    let captures = app
        .actions_of(&pid)
        .await
        .into_iter()
        .filter(|a| a["type"] == "capture")
        .count();
    assert_eq!(captures, 1);
    let events = app.events_of(&pid).await;
    assert_eq!(
        types(&events),
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "order.payment_authorized",
            "payment_intent.succeeded",
            "order.payment_captured",
            "order.payment_succeeded",
        ]
    );
    assert_captured_event(&events[4], &pid, 18500, 0);
    assert_eq!(app.events_of_type("order.payment_captured").await.len(), 1);
    assert_eq!(app.events_of_type("order.payment_succeeded").await.len(), 1);

    // Each key replays its own answer.
    for (i, res) in answers.iter().enumerate() {
        let again = capture_with_key(app, &oid, &pid, &format!("capture-{i}"), &body(i)).await;
        assert_eq!(again.status, res.status);
        assert_eq!(again.text, res.text);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
    }

    // Every 200 is the captured order: a capture answered (and kept under its key) with the order
    // as it was before the capture would tell the client the hold still stands.
    assert_all_show(&answers, &order, "capture");
}

/// Asserts every 200 among `answers` carries `order`; names the ones that do not.
#[track_caller]
fn assert_all_show(answers: &[Res], order: &Value, what: &str) {
    let stale: Vec<String> = answers
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == 200 && r.json["data"] != *order)
        .map(|(i, r)| {
            format!(
                "#{i}: status {} paid {} capturable {}",
                r.json["data"]["status"],
                r.json["data"]["settlement_amounts"]["paid_money"]["amount"],
                r.json["data"]["authorization_amounts"]["capturable_money"]["amount"]
            )
        })
        .collect();
    let ok = answers.iter().filter(|r| r.status == 200).count();
    assert!(
        stale.is_empty(),
        "{} of {ok} successful {what} answers show another order than the order after the race \
         (status {}): {stale:?}",
        stale.len(),
        order["status"]
    );
}

async fn concurrent_captures_and_voids_through_the_order(app: &TestApp) {
    let mut captures_won = 0;
    let mut all_answers = Vec::new();
    for round in 0..3 {
        let (oid, pid) = held_order(app).await;
        let calls = (0..20usize)
            .map(|i| {
                if i.is_multiple_of(2) {
                    (
                        capture_path(&oid, &pid),
                        Some(format!("r{round}-capture-{i}")),
                        Some(json!({})),
                    )
                } else {
                    (
                        void_path(&oid, &pid),
                        Some(format!("r{round}-void-{i}")),
                        None,
                    )
                }
            })
            .collect();
        let answers = fire(app, calls).await;
        let order = assert_order_agrees_with_its_intents(app, &oid).await;
        let intent = app.intent(&pid).await;
        let capture_won = intent["status"] == "succeeded";
        let events = app.events_of(&pid).await;
        if capture_won {
            captures_won += 1;
            assert_eq!(order["status"], "paid");
            assert_order_money(&order, 0, 0, 18500, 0);
            assert_money(&intent, 18500, 0, 18500, 0);
            for (i, res) in answers.iter().enumerate() {
                if i.is_multiple_of(2) {
                    assert_eq!(res.status, 200, "{:?}", statuses(&answers));
                } else {
                    res.assert_error(400, "CANNOT_CANCEL_SUCCEEDED_PAYMENT", None);
                }
            }
            assert_eq!(
                types(&events[3..]),
                vec![
                    "payment_intent.succeeded",
                    "order.payment_captured",
                    "order.payment_succeeded"
                ]
            );
        } else {
            assert_eq!(intent["status"], "canceled", "{intent}");
            assert_eq!(order["status"], "open");
            assert_order_money(&order, 0, 0, 0, 18500);
            assert_money(&intent, 18500, 0, 0, 18500);
            let winners: Vec<&Res> = answers.iter().filter(|r| r.status == 200).collect();
            assert_eq!(winners.len(), 1, "{:?}", statuses(&answers));
            assert_eq!(winners[0].json["data"], order);
            for (i, res) in answers.iter().enumerate() {
                if res.status == 200 {
                    assert!(!i.is_multiple_of(2), "the winner is a void");
                } else if i.is_multiple_of(2) {
                    res.assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
                } else {
                    res.assert_error(400, "PAYMENT_ALREADY_CANCELED", None);
                }
            }
            assert_eq!(
                types(&events[3..]),
                vec![
                    "payment_intent.canceled",
                    "order.payment_authorization_voided"
                ]
            );
            assert_released_event(
                &events[4],
                "order.payment_authorization_voided",
                &pid,
                18500,
            );
        }
        assert_eq!(app.actions_of(&pid).await.len(), 2);
        all_answers.push((answers, order));
    }
    let total = app.events_of_type("order.payment_captured").await.len()
        + app
            .events_of_type("order.payment_authorization_voided")
            .await
            .len();
    assert_eq!(total, 3, "one effect per round ({captures_won} captures)");
    // Every 200 is the order after the race.
    for (answers, order) in &all_answers {
        assert_all_show(answers, order, "capture or void");
    }
}

/// Many intents created on one order right after its hold's deadline, while a worker pass runs:
/// every creation lands on the order, and the expiry is recorded exactly once.
async fn concurrent_order_commands_after_the_deadline_record_the_expiry_once(app: &TestApp) {
    let (oid, pid) = held_order(app).await;
    app.clock.advance(HOLD_SECONDS + 1);
    let body = json!({"order_id": oid, "capture_method": "manual"});
    let calls = (0..8)
        .map(|i| {
            (
                "/v1/payment-intents".to_owned(),
                Some(format!("late-create-{i}")),
                Some(body.clone()),
            )
        })
        .collect();
    let (answers, pass) = tokio::join!(fire(app, calls), app.app.run_due_once(100));
    pass.unwrap();
    for res in &answers {
        assert_eq!(res.status, 201, "{:?}", statuses(&answers));
        assert_eq!(
            res.json["data"]["payment_intent"]["amount_money"],
            usd(18500)
        );
    }
    let order = assert_order_agrees_with_its_intents(app, &oid).await;
    assert_order_money(&order, 0, 0, 0, 18500);
    let mut linked_ids: Vec<String> = order["payment_intent_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(linked_ids[0], pid);
    let mut created: Vec<String> = answers
        .iter()
        .map(|r| {
            r.json["data"]["payment_intent"]["payment_intent_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    created.sort();
    linked_ids.remove(0);
    linked_ids.sort();
    assert_eq!(
        linked_ids, created,
        "every new intent is on the order, once"
    );
    let events = app.events_of(&pid).await;
    only(&events, "payment_intent.canceled");
    only(&events, "order.payment_authorization_expired");
    assert_eq!(
        app.events_of_type("order.payment_authorization_expired")
            .await
            .len(),
        1
    );
    assert_eq!(
        app.app.run_due_once(100).await.unwrap(),
        holdfast_service::Outcome::Idle
    );
}

/// Several intents of one order paid at once: one hold is placed, the others are refused, and
/// the order shows exactly that hold.
async fn concurrent_pays_of_one_order_place_one_hold(app: &TestApp) {
    let oid = create_order(app, rental()).await;
    let mut intents = Vec::new();
    for _ in 0..10 {
        intents.push(linked(app, &oid, "manual").await);
    }
    let calls = intents
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (
                order_path(&oid, "pay"),
                Some(format!("pay-{i}")),
                Some(pay_body(&[(id, "pm_card_visa", None)], 18500)),
            )
        })
        .collect();
    let answers = fire(app, calls).await;
    let winners: Vec<usize> = (0..answers.len())
        .filter(|i| answers[*i].status == 200)
        .collect();
    assert_eq!(winners.len(), 1, "{:?}", statuses(&answers));
    for (i, res) in answers.iter().enumerate() {
        if i != winners[0] {
            res.assert_error(409, "PAYMENT_ATTEMPT_IN_PROGRESS", None);
        }
    }
    let order = assert_order_agrees_with_its_intents(app, &oid).await;
    assert_order_money(&order, 18500, 18500, 0, 18500);
    assert_eq!(answers[winners[0]].json["data"], order);
    for (i, id) in intents.iter().enumerate() {
        let pi = app.intent(id).await;
        if i == winners[0] {
            assert_eq!(pi["status"], "requires_capture");
            assert_money(&pi, 18500, 18500, 0, 0);
        } else {
            assert_eq!(pi["status"], "requires_payment_method");
            assert_money(&pi, 0, 0, 0, 0);
            assert_eq!(app.event_types_of(id).await, vec!["payment_intent.created"]);
        }
    }
    assert_eq!(
        app.events_of_type("order.payment_authorized").await.len(),
        1
    );
}

// ---- Tenancy -----------------------------------------------------------------------------------

async fn other_merchants_and_live_mode_see_no_orders(app: &TestApp) {
    let (oid, pid) = held_order(app).await;
    let before = app.order(&oid).await;
    let intent_before = app.intent(&pid).await;
    let other = app.app.create_merchant("Other Shop").await.unwrap();
    for key in [&other.test_key, &other.live_key, &app.live_key] {
        let send = |method: Method, path: String, body: Option<Value>| {
            let mut req = app.request(method, &path).key(key);
            if let Some(body) = body {
                req = req.json(&body);
            }
            req.send()
        };
        let cases = [
            (Method::GET, order_path(&oid, ""), None),
            (
                Method::PATCH,
                order_path(&oid, ""),
                Some(json!({"metadata": {"x": "y"}})),
            ),
            (
                Method::PATCH,
                order_path(&oid, ""),
                Some(json!({"tip_money": usd(1)})),
            ),
            (Method::POST, order_path(&oid, "cancel"), None),
            (
                Method::POST,
                order_path(&oid, "pay"),
                Some(pay_body(&[(&pid, "pm_card_visa", None)], 18500)),
            ),
            (Method::POST, capture_path(&oid, &pid), Some(json!({}))),
            (
                Method::POST,
                capture_path(&oid, &pid),
                Some(json!({"amount_money": usd(100)})),
            ),
            (Method::POST, void_path(&oid, &pid), None),
        ];
        for (method, path, body) in cases {
            let res = send(method.clone(), path.clone(), body).await;
            assert_eq!(res.status, 404, "{method} {path}: {}", res.text);
            res.assert_error(404, "ORDER_NOT_FOUND", None);
        }
        let res = send(Method::GET, "/v1/orders".to_owned(), None).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.json["data"], json!([]));
        let res = send(
            Method::POST,
            "/v1/payment-intents".to_owned(),
            Some(json!({"order_id": oid, "capture_method": "manual"})),
        )
        .await;
        res.assert_error(404, "ORDER_NOT_FOUND", Some("order_id"));
        let res = send(Method::GET, format!("/v1/payment-intents/{pid}"), None).await;
        res.assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);
    }
    // Nothing anyone else sent touched the order or its hold.
    assert_eq!(app.order(&oid).await, before);
    assert_eq!(app.intent(&pid).await, intent_before);
    assert_eq!(app.event_types_of(&pid).await.len(), 3);
    // Its owner still captures it.
    let res = capture(app, &oid, &pid, json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["status"], "paid");
}
