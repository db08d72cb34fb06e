//! Payment intents end to end: create, retrieve, list, confirm with every sandbox card, 3D Secure,
//! capture (full, partial, refused), cancel, expiry, actions, events, client secrets and saved
//! cards. Every answer is checked field by field against the contract.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Res, T0_RFC3339, TestApp, assert_money, usd};

both_backends!(
    saved_cards_belong_to_the_intents_customer,
    contract_hold_confirm_partial_capture,
    contract_full_capture_with_empty_body_or_empty_object,
    contract_void_the_hold,
    contract_authorization_expiry,
    expiry_is_recorded_as_a_canceled_event_and_an_expiry_action,
    create_answers_201_with_the_whole_intent_and_a_client_secret,
    create_stores_description_reference_and_metadata,
    create_checks_metadata_limits,
    create_rejects_bad_capture_method_and_auto_confirm,
    auto_confirm_with_automatic_capture_charges_in_one_call,
    auto_confirm_decline_and_bad_token,
    confirm_manual_with_each_approving_card,
    confirm_automatic_succeeds_with_captured_at,
    declines_leave_the_intent_waiting_with_last_payment_error,
    three_d_secure_success_and_failure,
    confirm_refusals,
    capture_amount_checks,
    capture_refused_outside_requires_capture,
    capture_reference_and_metadata_live_on_the_action,
    cancel_from_each_cancelable_status,
    cancel_refusals,
    actions_record_every_money_movement_with_request_ids,
    list_filters_and_pagination,
    list_default_and_largest_page,
    events_for_each_state_change,
    events_pagination_and_filters,
    client_secret_may_only_get_and_confirm_its_intent,
    customers_and_saved_payment_methods,
    unknown_ids_are_404_on_every_route,
    money_invariant_holds_for_every_intent,
);

/// The sandbox hold: seven days less one second.
const HOLD_SECONDS: i64 = 7 * 86_400 - 1;
/// The deadline of a hold placed at T0.
const DEADLINE: &str = "2026-07-10T02:57:19Z";

fn pi_path(id: &str, action: &str) -> String {
    if action.is_empty() {
        format!("/v1/payment-intents/{id}")
    } else {
        format!("/v1/payment-intents/{id}/{action}")
    }
}

/// A just-created intent, as every route shows it, created at T0.
fn fresh(id: &str, amount: i64, capture_method: &str) -> Value {
    json!({
        "payment_intent_id": id,
        "status": "requires_payment_method",
        "amount_money": usd(amount),
        "capture_method": capture_method,
        "payment_method_types": ["card"],
        "authorized_amount_money": usd(0),
        "capturable_amount_money": usd(0),
        "captured_amount_money": usd(0),
        "released_amount_money": usd(0),
        "refunded_amount_money": usd(0),
        "authorized_at": null,
        "authorization_expires_at": null,
        "captured_at": null,
        "canceled_at": null,
        "cancellation_reason": null,
        "payment_method_brand": null,
        "payment_method_last_four": null,
        "payment_method_id": null,
        "customer_id": null,
        "last_payment_error": null,
        "next_action": null,
        "description": null,
        "reference": null,
        "metadata": {},
        "source": "api",
        "scheduled_action": null,
        "order_id": null,
        "test_clock": null,
        "multicapture": false,
        "incremental_authorization": false,
        "livemode": false,
        "created_at": T0_RFC3339,
        "updated_at": T0_RFC3339,
        "version": 1,
    })
}

/// A manual intent created and confirmed at T0 with an approving card.
fn held(id: &str, amount: i64, brand: &str, last_four: &str) -> Value {
    let mut v = fresh(id, amount, "manual");
    v["status"] = json!("requires_capture");
    v["authorized_amount_money"] = usd(amount);
    v["capturable_amount_money"] = usd(amount);
    v["authorized_at"] = json!(T0_RFC3339);
    v["authorization_expires_at"] = json!(DEADLINE);
    v["payment_method_brand"] = json!(brand);
    v["payment_method_last_four"] = json!(last_four);
    v["version"] = json!(2);
    v
}

fn ids(res: &Res) -> Vec<String> {
    res.json["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", res.text))
        .iter()
        .map(|i| {
            i["payment_intent_id"]
                .as_str()
                .or_else(|| i["id"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[track_caller]
fn assert_ids(res: &Res, expected: &[&String]) {
    let got = ids(res);
    assert_eq!(got.iter().collect::<Vec<_>>(), expected, "{}", res.text);
}

fn request_id(res: &Res) -> String {
    res.header("x-request-id").expect("x-request-id").to_owned()
}

async fn create(app: &TestApp, body: Value) -> Res {
    app.post("/v1/payment-intents", body).await
}

async fn create_automatic(app: &TestApp, amount: i64) -> String {
    let res = create(app, json!({"amount_money": usd(amount)})).await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn confirm(app: &TestApp, id: &str, token: &str) -> Res {
    app.post(
        &pi_path(id, "confirm"),
        json!({"payment_source_token": token}),
    )
    .await
}

async fn capture(app: &TestApp, id: &str, body: Value) -> Res {
    app.post(&pi_path(id, "capture"), body).await
}

async fn cancel(app: &TestApp, id: &str, body: Value) -> Res {
    app.post(&pi_path(id, "cancel"), body).await
}

// ---- The contract's walkthrough ------------------------------------------------------------

async fn contract_hold_confirm_partial_capture(app: &TestApp) {
    let res = app
        .request(Method::POST, "/v1/payment-intents")
        .idem("hold-camera-rental-001")
        .json(&json!({
            "amount_money": {"amount": 12900, "currency": "USD"},
            "payment_method_types": ["card"],
            "capture_method": "manual"
        }))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let id = res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(id.starts_with("pi_"), "{id}");
    assert_eq!(
        res.json["data"]["payment_intent"],
        fresh(&id, 12900, "manual")
    );

    let res = app
        .request(Method::POST, &pi_path(&id, "confirm"))
        .idem("confirm-camera-rental-001")
        .json(&json!({"payment_source_token": "pm_card_visa"}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json, json!({"data": held(&id, 12900, "visa", "4242")}));
    assert_money(res.intent(), 12900, 12900, 0, 0);

    // The rental came back a day early: settle $98.00 of the $129.00 hold, 20 s later.
    app.clock.advance(20);
    let res = app
        .request(Method::POST, &pi_path(&id, "capture"))
        .idem("capture-camera-rental-001")
        .json(&json!({"amount_money": {"amount": 9800, "currency": "USD"}}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut expected = held(&id, 12900, "visa", "4242");
    expected["status"] = json!("succeeded");
    expected["amount_money"] = usd(9800);
    expected["capturable_amount_money"] = usd(0);
    expected["captured_amount_money"] = usd(9800);
    expected["released_amount_money"] = usd(3100);
    expected["captured_at"] = json!("2026-07-03T02:57:40Z");
    expected["updated_at"] = json!("2026-07-03T02:57:40Z");
    expected["version"] = json!(3);
    assert_eq!(res.json, json!({"data": expected}));
    assert_money(res.intent(), 12900, 0, 9800, 3100);
    // After capture, amount_money is what settled.
    assert_eq!(
        res.intent()["amount_money"],
        res.intent()["captured_amount_money"]
    );
    assert_eq!(app.intent(&id).await, expected);

    // One hold, one capture: there is no second bite, whatever the amount.
    for body in [json!({}), json!({"amount_money": usd(100)})] {
        capture(app, &id, body)
            .await
            .assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
    }
    assert_eq!(app.intent(&id).await, expected);
}

async fn contract_full_capture_with_empty_body_or_empty_object(app: &TestApp) {
    let no_body = app.hold(12900).await;
    let empty_object = app.hold(12900).await;
    app.clock.advance(20);
    let a = app
        .request(Method::POST, &pi_path(&no_body, "capture"))
        .idem("capture-no-body")
        .send()
        .await;
    let b = app
        .request(Method::POST, &pi_path(&empty_object, "capture"))
        .idem("capture-camera-rental-001")
        .json(&json!({}))
        .send()
        .await;
    for (id, res) in [(&no_body, a), (&empty_object, b)] {
        assert_eq!(res.status, 200, "{}", res.text);
        let mut expected = held(id, 12900, "visa", "4242");
        expected["status"] = json!("succeeded");
        expected["capturable_amount_money"] = usd(0);
        expected["captured_amount_money"] = usd(12900);
        expected["captured_at"] = json!("2026-07-03T02:57:40Z");
        expected["updated_at"] = json!("2026-07-03T02:57:40Z");
        expected["version"] = json!(3);
        assert_eq!(res.json, json!({"data": expected}));
        assert_money(res.intent(), 12900, 0, 12900, 0);
        assert_eq!(app.intent(id).await, expected);
    }
}

async fn contract_void_the_hold(app: &TestApp) {
    let id = app.hold(12900).await;
    let res = app
        .request(Method::POST, &pi_path(&id, "cancel"))
        .idem("void-camera-rental-001")
        .json(&json!({"cancellation_reason": "requested_by_customer"}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut expected = held(&id, 12900, "visa", "4242");
    expected["status"] = json!("canceled");
    expected["cancellation_reason"] = json!("requested_by_customer");
    expected["canceled_at"] = json!(T0_RFC3339);
    expected["capturable_amount_money"] = usd(0);
    expected["released_amount_money"] = usd(12900);
    expected["version"] = json!(3);
    assert_eq!(res.json, json!({"data": expected}));
    assert_money(res.intent(), 12900, 0, 0, 12900);
    assert_eq!(app.intent(&id).await, expected);
    let types: Vec<_> = app
        .actions_of(&id)
        .await
        .iter()
        .map(|a| (a["type"].clone(), a["amount_money"].clone()))
        .collect();
    assert_eq!(
        types,
        vec![
            (json!("authorization"), usd(12900)),
            (json!("void"), usd(12900))
        ]
    );
    // The voided hold cannot be captured.
    capture(app, &id, json!({}))
        .await
        .assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
}

async fn contract_authorization_expiry(app: &TestApp) {
    let on_time = app.hold(12900).await;
    let voided_on_time = app.hold(12900).await;
    let late = app.hold(12900).await;
    assert_eq!(
        app.intent(&late).await["authorization_expires_at"],
        DEADLINE
    );

    // At the deadline itself the hold still stands: it lists, captures and voids.
    app.clock.advance(HOLD_SECONDS);
    let res = app.intent(&late).await;
    assert_eq!(res["status"], "requires_capture");
    assert_money(&res, 12900, 12900, 0, 0);
    let res = app.get("/v1/payment-intents?status=requires_capture").await;
    assert_eq!(ids(&res).len(), 3, "{}", res.text);
    let res = app.get("/v1/payment-intents?status=expired").await;
    assert_eq!(ids(&res), Vec::<String>::new());
    let res = cancel(app, &voided_on_time, json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent()["canceled_at"], DEADLINE);
    assert_money(res.intent(), 12900, 0, 0, 12900);
    let res = capture(app, &on_time, json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent()["captured_at"], DEADLINE);
    assert_money(res.intent(), 12900, 0, 12900, 0);

    // One second past it the hold is gone.
    app.clock.advance(1);
    let expired = app.intent(&late).await;
    assert_eq!(expired["status"], "expired", "{expired}");
    assert_eq!(expired["cancellation_reason"], "authorization_expired");
    assert_eq!(expired["canceled_at"], "2026-07-10T02:57:20Z");
    assert_eq!(expired["captured_at"], Value::Null);
    assert_eq!(expired["authorization_expires_at"], DEADLINE);
    assert_money(&expired, 12900, 0, 0, 12900);

    for body in [json!({}), json!({"amount_money": usd(100)})] {
        capture(app, &late, body)
            .await
            .assert_error(400, "PAYMENT_AUTHORIZATION_EXPIRED", None);
    }
    cancel(
        app,
        &late,
        json!({"cancellation_reason": "requested_by_customer"}),
    )
    .await
    .assert_error(400, "CANNOT_CANCEL_EXPIRED_PAYMENT", None);
    let res = app
        .request(Method::POST, &pi_path(&late, "cancel"))
        .send()
        .await;
    res.assert_error(400, "CANNOT_CANCEL_EXPIRED_PAYMENT", None);
    // Nothing above changed it.
    assert_eq!(app.intent(&late).await, expired);

    // The list agrees with the intent.
    let res = app.get("/v1/payment-intents?status=expired").await;
    assert_eq!(ids(&res), vec![late.clone()]);
    assert_eq!(res.json["data"][0], expired);
    let res = app.get("/v1/payment-intents?status=requires_capture").await;
    assert_eq!(ids(&res), Vec::<String>::new());
    let res = app.get("/v1/payment-intents?status=succeeded").await;
    assert_eq!(ids(&res), vec![on_time.clone()]);

    // Expiry is never a payment_intent.expired (or .captured) event.
    for id in [&on_time, &late] {
        for t in app.event_types_of(id).await {
            assert!(
                t != "payment_intent.expired" && t != "payment_intent.captured",
                "{t}"
            );
        }
    }
    app.get("/v1/events?type=payment_intent.expired")
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("type"));
}

/// The contract: `payment_intent.canceled` fires when "the hold was voided or expired", with
/// `cancellation_reason` `authorization_expired`; and the released hold is a money movement.
async fn expiry_is_recorded_as_a_canceled_event_and_an_expiry_action(app: &TestApp) {
    let id = app.hold(12900).await;
    app.clock.advance(HOLD_SECONDS + 1);
    assert_eq!(app.intent(&id).await["status"], "expired");
    // The harness runs no background worker: one pass of it records the expiry.
    let pass = app.app.run_due_once(100).await.unwrap();
    assert_eq!(pass, holdfast_service::Outcome::Worked(1));
    let events = app.events_of(&id).await;
    let canceled: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "payment_intent.canceled")
        .collect();
    assert_eq!(canceled.len(), 1, "one canceled event: {events:?}");
    let canceled = canceled[0];
    let object = &canceled["data"]["object"];
    assert_eq!(object["status"], "expired");
    assert_eq!(object["cancellation_reason"], "authorization_expired");
    assert_money(object, 12900, 0, 0, 12900);
    let actions = app.actions_of(&id).await;
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert_eq!(actions[1]["type"], "expiry");
    assert_eq!(actions[1]["amount_money"], usd(12900));
}

// ---- Create ----------------------------------------------------------------------------------

async fn create_answers_201_with_the_whole_intent_and_a_client_secret(app: &TestApp) {
    let res = create(
        app,
        json!({"amount_money": usd(12900), "capture_method": "manual"}),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let data = res.json["data"].as_object().unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        vec!["client_confirmation", "payment_intent"]
    );
    let id = data["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap();
    assert!(id.starts_with("pi_") && id.len() > 3, "{id}");
    assert_eq!(data["payment_intent"], fresh(id, 12900, "manual"));
    let secret = data["client_confirmation"]["client_secret"]
        .as_str()
        .unwrap();
    assert!(
        secret.starts_with(&format!("{id}_secret_")) && secret.len() > id.len() + 8,
        "{secret}"
    );
    // Retrieval shows the same object.
    assert_eq!(app.intent(id).await, data["payment_intent"]);
    // A second intent gets its own id and its own secret.
    let other = create(app, json!({"amount_money": usd(12900)})).await;
    assert_eq!(other.status, 201);
    let other_id = other.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap();
    assert_ne!(other_id, id);
    assert_ne!(
        other.json["data"]["client_confirmation"]["client_secret"],
        secret
    );
    // No capture_method means automatic; payment_method_types defaults to ["card"].
    assert_eq!(
        other.json["data"]["payment_intent"],
        fresh(other_id, 12900, "automatic")
    );
    assert_eq!(
        app.event_types_of(id).await,
        vec!["payment_intent.created".to_owned()]
    );
}

async fn create_stores_description_reference_and_metadata(app: &TestApp) {
    let res = create(
        app,
        json!({
            "amount_money": {"amount": 4500, "currency": "EUR"},
            "payment_method_types": ["card"],
            "capture_method": "manual",
            "description": "Camera rental, 3 days",
            "reference": "booking-881",
            "metadata": {"store": "berlin", "desk": "7"}
        }),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let pi = &res.json["data"]["payment_intent"];
    assert_eq!(
        pi["amount_money"],
        json!({"amount": 4500, "currency": "EUR"})
    );
    assert_eq!(pi["description"], "Camera rental, 3 days");
    assert_eq!(pi["reference"], "booking-881");
    assert_eq!(pi["metadata"], json!({"store": "berlin", "desk": "7"}));
    // Money fields are in the intent's currency.
    assert_eq!(
        pi["authorized_amount_money"],
        json!({"amount": 0, "currency": "EUR"})
    );
    let id = pi["payment_intent_id"].as_str().unwrap();
    assert_eq!(app.intent(id).await, *pi);
    // They survive confirmation and capture.
    let res = confirm(app, id, "pm_card_visa").await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = capture(
        app,
        id,
        json!({"amount_money": {"amount": 4000, "currency": "EUR"}}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let pi = res.intent();
    assert_eq!(pi["description"], "Camera rental, 3 days");
    assert_eq!(pi["reference"], "booking-881");
    assert_eq!(pi["metadata"], json!({"store": "berlin", "desk": "7"}));
    assert_eq!(
        pi["released_amount_money"],
        json!({"amount": 500, "currency": "EUR"})
    );
    // Capturing in USD against a EUR hold is a currency mismatch (checked on a fresh hold).
    let eur = create(
        app,
        json!({"amount_money": {"amount": 4500, "currency": "EUR"}, "capture_method": "manual"}),
    )
    .await;
    let eur = eur.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(confirm(app, &eur, "pm_card_visa").await.status, 200);
    capture(app, &eur, json!({"amount_money": usd(100)}))
        .await
        .assert_error(
            400,
            "CAPTURE_CURRENCY_MISMATCH",
            Some("amount_money.currency"),
        );
}

async fn create_checks_metadata_limits(app: &TestApp) {
    // At the limits: 50 keys, a 40-character key, a 500-character value.
    let fifty: serde_json::Map<String, Value> =
        (0..50).map(|i| (format!("k{i}"), json!("v"))).collect();
    let res = create(app, json!({"amount_money": usd(100), "metadata": fifty})).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(
        res.json["data"]["payment_intent"]["metadata"]
            .as_object()
            .unwrap()
            .len(),
        50
    );
    let key40 = "k".repeat(40);
    let value500 = "v".repeat(500);
    let res = create(
        app,
        json!({"amount_money": usd(100), "metadata": {key40.clone(): value500.clone()}}),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(
        res.json["data"]["payment_intent"]["metadata"],
        json!({key40: value500})
    );
    // Past them.
    let res = create(
        app,
        json!({"amount_money": usd(100), "metadata": {"note": "v".repeat(501)}}),
    )
    .await;
    res.assert_error(400, "INVALID_PARAMETER", Some("metadata.note"));
    let fifty_one: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    create(
        app,
        json!({"amount_money": usd(100), "metadata": fifty_one}),
    )
    .await
    .assert_error(400, "INVALID_PARAMETER", Some("metadata"));
    create(
        app,
        json!({"amount_money": usd(100), "description": "d".repeat(501)}),
    )
    .await
    .assert_error(400, "INVALID_PARAMETER", Some("description"));
    let res = app.get("/v1/payment-intents").await;
    assert_eq!(ids(&res).len(), 2, "refused requests created nothing");
}

async fn create_rejects_bad_capture_method_and_auto_confirm(app: &TestApp) {
    for method in ["later", "Manual", ""] {
        create(
            app,
            json!({"amount_money": usd(100), "capture_method": method}),
        )
        .await
        .assert_error(400, "INVALID_CAPTURE_METHOD", Some("capture_method"));
    }
    for body in [
        json!({"amount_money": usd(100), "capture_method": "manual", "auto_confirm": true}),
        json!({"amount_money": usd(100), "capture_method": "manual", "auto_confirm": true,
               "payment_source_token": "pm_card_visa"}),
    ] {
        create(app, body).await.assert_error(
            400,
            "MANUAL_CAPTURE_NOT_ALLOWED_WITH_AUTO_CONFIRM",
            Some("auto_confirm"),
        );
    }
    // auto_confirm with automatic capture needs the card to charge.
    create(app, json!({"amount_money": usd(100), "auto_confirm": true}))
        .await
        .assert_error(400, "MISSING_PARAMETER", Some("payment_source_token"));
    // Nothing was created, and no event written.
    assert_eq!(ids(&app.get("/v1/payment-intents").await).len(), 0);
    assert_eq!(app.get("/v1/events").await.json["data"], json!([]));
    // auto_confirm false with manual is fine.
    let res = create(
        app,
        json!({"amount_money": usd(100), "capture_method": "manual", "auto_confirm": false}),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
}

async fn auto_confirm_with_automatic_capture_charges_in_one_call(app: &TestApp) {
    let res = create(
        app,
        json!({"amount_money": usd(5000), "capture_method": "automatic", "auto_confirm": true,
               "payment_source_token": "pm_card_amex"}),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let pi = &res.json["data"]["payment_intent"];
    let id = pi["payment_intent_id"].as_str().unwrap();
    let mut expected = fresh(id, 5000, "automatic");
    expected["status"] = json!("succeeded");
    expected["authorized_amount_money"] = usd(5000);
    expected["captured_amount_money"] = usd(5000);
    expected["authorized_at"] = json!(T0_RFC3339);
    expected["captured_at"] = json!(T0_RFC3339);
    expected["payment_method_brand"] = json!("amex");
    expected["payment_method_last_four"] = json!("8431");
    assert_eq!(*pi, expected);
    assert_money(pi, 5000, 0, 5000, 0);
    assert!(
        res.json["data"]["client_confirmation"]["client_secret"]
            .as_str()
            .is_some()
    );
    assert_eq!(app.intent(id).await, expected);
    assert_eq!(
        app.event_types_of(id).await,
        vec!["payment_intent.created", "payment_intent.succeeded"]
    );
    // Each event carries the intent as it was at that step.
    let events = app.events_of(id).await;
    // Stored first as confirmed (version 1); the created event's snapshot, never stored, is 0.
    let mut created = fresh(id, 5000, "automatic");
    created["version"] = json!(0);
    assert_eq!(events[0]["data"]["object"], created);
    assert_eq!(events[1]["data"]["object"], expected);
    let actions = app.actions_of(id).await;
    let kinds: Vec<_> = actions.iter().map(|a| a["type"].clone()).collect();
    assert_eq!(kinds, vec![json!("authorization"), json!("capture")]);
    for a in &actions {
        assert_eq!(a["amount_money"], usd(5000));
        assert_eq!(a["status"], "succeeded");
        assert_eq!(a["request_id"], request_id(&res));
    }
    // Already succeeded: neither confirm nor capture nor cancel applies.
    confirm(app, id, "pm_card_visa")
        .await
        .assert_error(400, "INVALID_STATUS_FOR_CONFIRM", None);
    capture(app, id, json!({}))
        .await
        .assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
    cancel(app, id, json!({}))
        .await
        .assert_error(400, "CANNOT_CANCEL_SUCCEEDED_PAYMENT", None);
}

async fn auto_confirm_decline_and_bad_token(app: &TestApp) {
    let res = create(
        app,
        json!({"amount_money": usd(5000), "auto_confirm": true,
               "payment_source_token": "pm_card_chargeDeclined"}),
    )
    .await;
    res.assert_error(402, "CARD_DECLINED", None);
    assert_eq!(res.json["error"]["decline_code"], "generic_decline");
    let id = res.json["error"]["payment_intent_id"].as_str().unwrap();
    let pi = app.intent(id).await;
    assert_eq!(pi["status"], "requires_payment_method");
    assert_eq!(pi["last_payment_error"]["code"], "CARD_DECLINED");
    assert_eq!(pi["last_payment_error"]["decline_code"], "generic_decline");
    assert_money(&pi, 0, 0, 0, 0);
    assert_eq!(
        app.event_types_of(id).await,
        vec!["payment_intent.created", "payment_intent.payment_failed"]
    );

    create(
        app,
        json!({"amount_money": usd(5000), "auto_confirm": true,
               "payment_source_token": "pm_card_unknown"}),
    )
    .await
    .assert_error(
        400,
        "INVALID_PAYMENT_SOURCE_TOKEN",
        Some("payment_source_token"),
    );
    assert_eq!(
        ids(&app.get("/v1/payment-intents").await),
        vec![id.to_owned()]
    );

    // A card that wants 3D Secure stops at requires_action, still answered 201.
    let res = create(
        app,
        json!({"amount_money": usd(5000), "auto_confirm": true,
               "payment_source_token": "pm_card_threeDSecure2Required"}),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let pi = &res.json["data"]["payment_intent"];
    assert_eq!(pi["status"], "requires_action");
    assert_eq!(pi["next_action"]["type"], "redirect_to_url");
    assert_money(pi, 0, 0, 0, 0);
    let id = pi["payment_intent_id"].as_str().unwrap();
    assert_eq!(
        app.event_types_of(id).await,
        vec!["payment_intent.created", "payment_intent.requires_action"]
    );
}

// ---- Confirm -----------------------------------------------------------------------------------

async fn confirm_manual_with_each_approving_card(app: &TestApp) {
    for (token, brand, last_four) in [
        ("pm_card_visa", "visa", "4242"),
        ("pm_card_mastercard", "mastercard", "4444"),
        ("pm_card_amex", "amex", "8431"),
    ] {
        let id = app.create_manual(2500).await;
        let res = confirm(app, &id, token).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.json, json!({"data": held(&id, 2500, brand, last_four)}));
        assert_eq!(app.intent(&id).await, held(&id, 2500, brand, last_four));
        assert_eq!(
            app.event_types_of(&id).await,
            vec!["payment_intent.created", "payment_intent.requires_capture"]
        );
        let event = &app.events_of(&id).await[1];
        assert_eq!(event["data"]["object"], held(&id, 2500, brand, last_four));
    }
}

async fn confirm_automatic_succeeds_with_captured_at(app: &TestApp) {
    let id = create_automatic(app, 3000).await;
    app.clock.advance(5);
    let res = confirm(app, &id, "pm_card_mastercard").await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut expected = fresh(&id, 3000, "automatic");
    expected["status"] = json!("succeeded");
    expected["authorized_amount_money"] = usd(3000);
    expected["captured_amount_money"] = usd(3000);
    expected["authorized_at"] = json!("2026-07-03T02:57:25Z");
    expected["captured_at"] = json!("2026-07-03T02:57:25Z");
    expected["updated_at"] = json!("2026-07-03T02:57:25Z");
    expected["payment_method_brand"] = json!("mastercard");
    expected["payment_method_last_four"] = json!("4444");
    expected["version"] = json!(2);
    assert_eq!(res.json, json!({"data": expected}));
    assert_money(res.intent(), 3000, 0, 3000, 0);
    assert_eq!(
        app.event_types_of(&id).await,
        vec!["payment_intent.created", "payment_intent.succeeded"]
    );
}

async fn declines_leave_the_intent_waiting_with_last_payment_error(app: &TestApp) {
    for (token, decline_code, last_four) in [
        ("pm_card_chargeDeclined", "generic_decline", "0002"),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
            "9995",
        ),
    ] {
        let id = app.create_manual(12900).await;
        let res = confirm(app, &id, token).await;
        res.assert_error(402, "CARD_DECLINED", None);
        assert_eq!(res.json["error"]["decline_code"], decline_code);
        assert_eq!(res.json["error"]["payment_intent_id"], id);
        let pi = app.intent(&id).await;
        assert_eq!(pi["status"], "requires_payment_method");
        assert_eq!(pi["last_payment_error"]["code"], "CARD_DECLINED");
        assert_eq!(pi["last_payment_error"]["decline_code"], decline_code);
        assert!(
            pi["last_payment_error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert_eq!(pi["payment_method_last_four"], last_four);
        assert_eq!(pi["authorized_at"], Value::Null);
        assert_eq!(pi["authorization_expires_at"], Value::Null);
        assert_money(&pi, 0, 0, 0, 0);
        assert_eq!(
            app.event_types_of(&id).await,
            vec!["payment_intent.created", "payment_intent.payment_failed"]
        );
        assert_eq!(
            app.events_of(&id).await[1]["data"]["object"]["last_payment_error"]["decline_code"],
            decline_code
        );
        // No money moved.
        for action in app.actions_of(&id).await {
            assert_eq!(action["status"], "failed", "{action}");
        }
        // Nothing to capture; the buyer may try another card.
        capture(app, &id, json!({}))
            .await
            .assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
        let res = confirm(app, &id, "pm_card_visa").await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.intent()["status"], "requires_capture");
        assert_eq!(res.intent()["last_payment_error"], Value::Null);
        assert_eq!(res.intent()["payment_method_last_four"], "4242");
        assert_money(res.intent(), 12900, 12900, 0, 0);
    }
}

async fn three_d_secure_success_and_failure(app: &TestApp) {
    // Manual capture: requires_action, then the hold.
    let id = app.create_manual(12900).await;
    let res = confirm(app, &id, "pm_card_threeDSecure2Required").await;
    assert_eq!(res.status, 200, "{}", res.text);
    let pi = res.intent();
    assert_eq!(pi["status"], "requires_action");
    assert_eq!(pi["next_action"]["type"], "redirect_to_url");
    let url = pi["next_action"]["redirect_to_url"]["url"]
        .as_str()
        .unwrap();
    assert!(url.starts_with("https://"), "{url}");
    assert_eq!(
        pi["next_action"].as_object().unwrap().len(),
        2,
        "{}",
        pi["next_action"]
    );
    assert_money(pi, 0, 0, 0, 0);
    assert_eq!(pi["authorization_expires_at"], Value::Null);
    // Not capturable yet.
    capture(app, &id, json!({}))
        .await
        .assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
    app.clock.advance(30);
    let res = app
        .post(
            &format!("/v1/test-helpers/payment-intents/{id}/authenticate"),
            json!({"result": "success"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let pi = res.intent();
    assert_eq!(pi["status"], "requires_capture");
    assert_eq!(pi["next_action"], Value::Null);
    assert_eq!(pi["authorized_at"], "2026-07-03T02:57:50Z");
    assert_eq!(pi["authorization_expires_at"], "2026-07-10T02:57:49Z");
    assert_money(pi, 12900, 12900, 0, 0);
    assert_eq!(
        app.event_types_of(&id).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_action",
            "payment_intent.requires_capture"
        ]
    );
    // Authenticating again is refused.
    app.post(
        &format!("/v1/test-helpers/payment-intents/{id}/authenticate"),
        json!({"result": "success"}),
    )
    .await
    .assert_error(400, "INVALID_STATUS_FOR_AUTHENTICATION", None);

    // Automatic capture: requires_action, then succeeded.
    let auto = create_automatic(app, 800).await;
    let res = confirm(app, &auto, "pm_card_threeDSecure2Required").await;
    assert_eq!(res.intent()["status"], "requires_action");
    let res = app
        .post(
            &format!("/v1/test-helpers/payment-intents/{auto}/authenticate"),
            json!({"result": "success"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent()["status"], "succeeded");
    assert_eq!(res.intent()["captured_at"], "2026-07-03T02:57:50Z");
    assert_money(res.intent(), 800, 0, 800, 0);
    assert_eq!(
        app.event_types_of(&auto).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_action",
            "payment_intent.succeeded"
        ]
    );

    // Failure: back to requires_payment_method with last_payment_error.
    let failing = app.create_manual(12900).await;
    confirm(app, &failing, "pm_card_threeDSecure2Required").await;
    app.post(
        &format!("/v1/test-helpers/payment-intents/{failing}/authenticate"),
        json!({"result": "maybe"}),
    )
    .await
    .assert_error(400, "INVALID_PARAMETER", Some("result"));
    let res = app
        .post(
            &format!("/v1/test-helpers/payment-intents/{failing}/authenticate"),
            json!({"result": "failure"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let pi = res.intent();
    assert_eq!(pi["status"], "requires_payment_method");
    assert_eq!(pi["next_action"], Value::Null);
    assert!(pi["last_payment_error"]["code"].as_str().is_some(), "{pi}");
    assert!(
        pi["last_payment_error"]["decline_code"].as_str().is_some(),
        "{pi}"
    );
    assert_money(pi, 0, 0, 0, 0);
    assert_eq!(app.intent(&failing).await, *pi);
    assert_eq!(
        app.event_types_of(&failing).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_action",
            "payment_intent.payment_failed"
        ]
    );
    // And a new card places the hold.
    let res = confirm(app, &failing, "pm_card_visa").await;
    assert_eq!(res.intent()["status"], "requires_capture");
    assert_eq!(res.intent()["last_payment_error"], Value::Null);
}

async fn confirm_refusals(app: &TestApp) {
    let id = app.create_manual(12900).await;
    for token in ["pm_card_nope", "tok_visa", "", "pm_card_Visa"] {
        confirm(app, &id, token).await.assert_error(
            400,
            "INVALID_PAYMENT_SOURCE_TOKEN",
            Some("payment_source_token"),
        );
    }
    app.post(&pi_path(&id, "confirm"), json!({}))
        .await
        .assert_error(400, "MISSING_PARAMETER", Some("payment_source_token"));
    app.post(
        &pi_path(&id, "confirm"),
        json!({"payment_source_token": "pm_card_visa", "payment_method_id": "pm_x"}),
    )
    .await
    .assert_error(400, "INVALID_PARAMETER", Some("payment_method_id"));
    // None of that changed anything or wrote an event.
    assert_eq!(app.intent(&id).await, fresh(&id, 12900, "manual"));
    assert_eq!(
        app.event_types_of(&id).await,
        vec!["payment_intent.created"]
    );
    assert_eq!(app.actions_of(&id).await, Vec::<Value>::new());
    // Confirm once; a second confirm is refused and keeps the hold as it is.
    assert_eq!(confirm(app, &id, "pm_card_visa").await.status, 200);
    confirm(app, &id, "pm_card_mastercard").await.assert_error(
        400,
        "INVALID_STATUS_FOR_CONFIRM",
        None,
    );
    assert_eq!(app.intent(&id).await, held(&id, 12900, "visa", "4242"));
    // Canceled: nothing more to confirm.
    let canceled = app.create_manual(100).await;
    assert_eq!(cancel(app, &canceled, json!({})).await.status, 200);
    confirm(app, &canceled, "pm_card_visa").await.assert_error(
        400,
        "INVALID_STATUS_FOR_CONFIRM",
        None,
    );
}

// ---- Capture -----------------------------------------------------------------------------------

async fn capture_amount_checks(app: &TestApp) {
    let id = app.hold(12900).await;
    let cases = [
        (
            json!({"amount_money": usd(0)}),
            "INVALID_CAPTURE_AMOUNT",
            "amount_money.amount",
        ),
        (
            json!({"amount_money": usd(-100)}),
            "INVALID_CAPTURE_AMOUNT",
            "amount_money.amount",
        ),
        // The checks run in the contract's order: amount, then currency, then the ceiling.
        (
            json!({"amount_money": {"amount": 0, "currency": "EUR"}}),
            "INVALID_CAPTURE_AMOUNT",
            "amount_money.amount",
        ),
        (
            json!({"amount_money": {"amount": 9800, "currency": "EUR"}}),
            "CAPTURE_CURRENCY_MISMATCH",
            "amount_money.currency",
        ),
        (
            json!({"amount_money": {"amount": 99999, "currency": "EUR"}}),
            "CAPTURE_CURRENCY_MISMATCH",
            "amount_money.currency",
        ),
        (
            json!({"amount_money": usd(12901)}),
            "CAPTURE_AMOUNT_EXCEEDS_AUTHORIZED",
            "amount_money.amount",
        ),
        (
            json!({"amount_money": usd(i64::MAX)}),
            "CAPTURE_AMOUNT_EXCEEDS_AUTHORIZED",
            "amount_money.amount",
        ),
    ];
    for (body, code, param) in cases {
        capture(app, &id, body.clone())
            .await
            .assert_error(400, code, Some(param));
    }
    capture(app, &id, json!({"reference": "r".repeat(501)}))
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("reference"));
    let fifty_one: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    capture(app, &id, json!({"metadata": fifty_one}))
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("metadata"));
    // Every refusal left the hold untouched.
    assert_eq!(app.intent(&id).await, held(&id, 12900, "visa", "4242"));
    assert_eq!(app.actions_of(&id).await.len(), 1);
    // Exactly the authorized amount is fine.
    let res = capture(app, &id, json!({"amount_money": usd(12900)})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_money(res.intent(), 12900, 0, 12900, 0);
    assert_eq!(res.intent()["amount_money"], usd(12900));
    // And one cent.
    let one = app.hold(12900).await;
    let res = capture(app, &one, json!({"amount_money": usd(1)})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_money(res.intent(), 12900, 0, 1, 12899);
    assert_eq!(res.intent()["amount_money"], usd(1));
}

async fn capture_refused_outside_requires_capture(app: &TestApp) {
    let waiting = app.create_manual(1000).await;
    let automatic = create_automatic(app, 1000).await;
    let canceled = app.hold(1000).await;
    assert_eq!(cancel(app, &canceled, json!({})).await.status, 200);
    let action = app.create_manual(1000).await;
    confirm(app, &action, "pm_card_threeDSecure2Required").await;
    for id in [&waiting, &automatic, &canceled, &action] {
        let before = app.intent(id).await;
        for body in [json!({}), json!({"amount_money": usd(500)})] {
            capture(app, id, body)
                .await
                .assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
        }
        assert_eq!(app.intent(id).await, before);
    }
}

async fn capture_reference_and_metadata_live_on_the_action(app: &TestApp) {
    let id = app.hold(12900).await;
    let res = capture(
        app,
        &id,
        json!({"amount_money": usd(9800), "reference": "return-5521",
               "metadata": {"inspector": "kim", "damage": "none"}}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    // The intent's own reference and metadata are not touched.
    assert_eq!(res.intent()["reference"], Value::Null);
    assert_eq!(res.intent()["metadata"], json!({}));
    let actions = app.actions_of(&id).await;
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert_eq!(actions[0]["reference"], Value::Null);
    assert_eq!(actions[0]["metadata"], json!({}));
    assert_eq!(actions[1]["type"], "capture");
    assert_eq!(actions[1]["amount_money"], usd(9800));
    assert_eq!(actions[1]["reference"], "return-5521");
    assert_eq!(
        actions[1]["metadata"],
        json!({"inspector": "kim", "damage": "none"})
    );
}

// ---- Cancel ------------------------------------------------------------------------------------

async fn cancel_from_each_cancelable_status(app: &TestApp) {
    // requires_payment_method: nothing held, nothing released.
    let waiting = app.create_manual(12900).await;
    app.clock.advance(10);
    let res = cancel(app, &waiting, json!({"cancellation_reason": "duplicate"})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut expected = fresh(&waiting, 12900, "manual");
    expected["status"] = json!("canceled");
    expected["cancellation_reason"] = json!("duplicate");
    expected["canceled_at"] = json!("2026-07-03T02:57:30Z");
    expected["updated_at"] = json!("2026-07-03T02:57:30Z");
    expected["version"] = json!(2);
    assert_eq!(res.json, json!({"data": expected}));
    assert_eq!(app.actions_of(&waiting).await, Vec::<Value>::new());

    // requires_action: nothing held either.
    let action = app.create_manual(12900).await;
    confirm(app, &action, "pm_card_threeDSecure2Required").await;
    let res = cancel(app, &action, json!({"cancellation_reason": "fraudulent"})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent()["status"], "canceled");
    assert_eq!(res.intent()["cancellation_reason"], "fraudulent");
    assert_eq!(res.intent()["next_action"], Value::Null);
    assert_money(res.intent(), 0, 0, 0, 0);
    app.post(
        &format!("/v1/test-helpers/payment-intents/{action}/authenticate"),
        json!({"result": "success"}),
    )
    .await
    .assert_error(400, "INVALID_STATUS_FOR_AUTHENTICATION", None);

    // requires_capture: the whole hold is released.
    let hold = app.hold(12900).await;
    let res = cancel(app, &hold, json!({"cancellation_reason": "abandoned"})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent()["status"], "canceled");
    assert_eq!(res.intent()["cancellation_reason"], "abandoned");
    assert_money(res.intent(), 12900, 0, 0, 12900);

    // No reason at all (an empty body) is fine; the reason stays empty.
    let bare = app.hold(700).await;
    let res = app
        .request(Method::POST, &pi_path(&bare, "cancel"))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent()["status"], "canceled");
    assert_eq!(res.intent()["cancellation_reason"], Value::Null);
    assert_money(res.intent(), 700, 0, 0, 700);

    for id in [&waiting, &action, &hold, &bare] {
        let events = app.events_of(id).await;
        let last = events.last().unwrap();
        assert_eq!(last["type"], "payment_intent.canceled");
        assert_eq!(last["data"]["object"], app.intent(id).await);
    }
}

async fn cancel_refusals(app: &TestApp) {
    let id = app.hold(12900).await;
    for reason in [
        "changed_mind",
        "authorization_expired",
        "REQUESTED_BY_CUSTOMER",
        "",
    ] {
        cancel(app, &id, json!({"cancellation_reason": reason}))
            .await
            .assert_error(
                400,
                "INVALID_CANCELLATION_REASON",
                Some("cancellation_reason"),
            );
    }
    assert_eq!(app.intent(&id).await, held(&id, 12900, "visa", "4242"));

    let captured = app.hold(12900).await;
    assert_eq!(capture(app, &captured, json!({})).await.status, 200);
    cancel(app, &captured, json!({})).await.assert_error(
        400,
        "CANNOT_CANCEL_SUCCEEDED_PAYMENT",
        None,
    );
    cancel(
        app,
        &captured,
        json!({"cancellation_reason": "requested_by_customer"}),
    )
    .await
    .assert_error(400, "CANNOT_CANCEL_SUCCEEDED_PAYMENT", None);
    assert_eq!(app.intent(&captured).await["status"], "succeeded");

    assert_eq!(
        cancel(app, &id, json!({"cancellation_reason": "duplicate"}))
            .await
            .status,
        200
    );
    let canceled = app.intent(&id).await;
    for body in [
        json!({}),
        json!({"cancellation_reason": "requested_by_customer"}),
    ] {
        cancel(app, &id, body)
            .await
            .assert_error(400, "PAYMENT_ALREADY_CANCELED", None);
    }
    // The first reason stands.
    assert_eq!(app.intent(&id).await, canceled);
    assert_eq!(canceled["cancellation_reason"], "duplicate");
    // One void, one canceled event.
    let kinds: Vec<_> = app
        .actions_of(&id)
        .await
        .iter()
        .map(|a| a["type"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("authorization"), json!("void")]);
    assert_eq!(
        app.event_types_of(&id).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.canceled"
        ]
    );
}

// ---- Actions ----------------------------------------------------------------------------------

async fn actions_record_every_money_movement_with_request_ids(app: &TestApp) {
    let id = app.create_manual(12900).await;
    assert_eq!(app.actions_of(&id).await, Vec::<Value>::new());
    let confirmed = confirm(app, &id, "pm_card_visa").await;
    app.clock.advance(60);
    let captured = app
        .request(Method::POST, &pi_path(&id, "capture"))
        .idem("capture-actions")
        .json(&json!({"amount_money": usd(9800), "reference": "r-1"}))
        .send()
        .await;
    assert_eq!(captured.status, 200, "{}", captured.text);
    let res = app.get(&pi_path(&id, "actions")).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let actions = res.json["data"].as_array().unwrap();
    assert_eq!(actions.len(), 2, "{}", res.text);
    let auth = &actions[0];
    assert!(auth["action_id"].as_str().unwrap().starts_with("act_"));
    assert_eq!(auth["payment_intent_id"], id);
    assert_eq!(auth["type"], "authorization");
    assert_eq!(auth["amount_money"], usd(12900));
    assert_eq!(auth["status"], "succeeded");
    assert_eq!(auth["created_at"], T0_RFC3339);
    assert_eq!(auth["request_id"], request_id(&confirmed));
    let cap = &actions[1];
    assert!(cap["action_id"].as_str().unwrap().starts_with("act_"));
    assert_ne!(cap["action_id"], auth["action_id"]);
    assert_eq!(cap["type"], "capture");
    assert_eq!(cap["amount_money"], usd(9800));
    assert_eq!(cap["status"], "succeeded");
    assert_eq!(cap["reference"], "r-1");
    assert_eq!(cap["created_at"], "2026-07-03T02:58:20Z");
    assert_eq!(cap["request_id"], request_id(&captured));

    // A replayed capture is not a second movement.
    let replay = app
        .request(Method::POST, &pi_path(&id, "capture"))
        .idem("capture-actions")
        .json(&json!({"amount_money": usd(9800), "reference": "r-1"}))
        .send()
        .await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.actions_of(&id).await, *actions);

    // Voids too.
    let voided = app.hold(500).await;
    let res = cancel(app, &voided, json!({})).await;
    let actions = app.actions_of(&voided).await;
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[1]["type"], "void");
    assert_eq!(actions[1]["amount_money"], usd(500));
    assert_eq!(actions[1]["status"], "succeeded");
    assert_eq!(actions[1]["request_id"], request_id(&res));
}

// ---- Listing -----------------------------------------------------------------------------------

async fn list_filters_and_pagination(app: &TestApp) {
    // A at T0 (manual, waiting), B at +60 (automatic, waiting), C at +120 (manual hold),
    // D at +180 (automatic, succeeded), E at +240 (manual, canceled hold).
    let a = app.create_manual(100).await;
    app.clock.advance(60);
    let b = create_automatic(app, 200).await;
    app.clock.advance(60);
    let c = app.hold(300).await;
    app.clock.advance(60);
    let d = create(
        app,
        json!({"amount_money": usd(400), "auto_confirm": true, "payment_source_token": "pm_card_visa"}),
    )
    .await;
    let d = d.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance(60);
    let e = app.hold(500).await;
    assert_eq!(cancel(app, &e, json!({})).await.status, 200);

    let all = app.get("/v1/payment-intents").await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_ids(&all, &[&e, &d, &c, &b, &a]);
    assert_eq!(all.json["has_more"], false);
    assert_eq!(all.json["next_cursor"], Value::Null);
    assert_eq!(
        all.json.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["data", "has_more", "next_cursor"]
    );
    // Listed objects are the objects.
    assert_eq!(all.json["data"][2], app.intent(&c).await);

    let cases: Vec<(String, Vec<&String>)> = vec![
        ("status=requires_payment_method".into(), vec![&b, &a]),
        ("status=requires_capture".into(), vec![&c]),
        ("status=succeeded".into(), vec![&d]),
        ("status=canceled".into(), vec![&e]),
        ("status=requires_action".into(), vec![]),
        ("status=expired".into(), vec![]),
        ("capture_method=manual".into(), vec![&e, &c, &a]),
        ("capture_method=automatic".into(), vec![&d, &b]),
        ("created_after=2026-07-03T02:57:50Z".into(), vec![&e, &d, &c, &b]),
        ("created_before=2026-07-03T02:59:50Z".into(), vec![&c, &b, &a]),
        (
            "created_after=2026-07-03T02:57:50Z&created_before=2026-07-03T02:59:50Z".into(),
            vec![&c, &b],
        ),
        (
            "created_after=2026-07-03T02:57:50Z&created_before=2026-07-03T02:59:50Z&capture_method=manual"
                .into(),
            vec![&c],
        ),
        // C's hold (placed at 02:59:20) expires 2026-07-10T02:59:19Z; E's at 03:01:19Z.
        ("expires_before=2026-07-10T03:00:00Z".into(), vec![&c]),
        ("expires_before=2026-07-10T00:00:00Z".into(), vec![]),
        (
            "expires_before=2026-07-10T03:00:00Z&status=requires_capture".into(),
            vec![&c],
        ),
        ("created_after=2026-07-04T00:00:00Z".into(), vec![]),
    ];
    for (query, expected) in cases {
        let res = app.get(&format!("/v1/payment-intents?{query}")).await;
        assert_eq!(res.status, 200, "{query}: {}", res.text);
        assert_ids(&res, &expected);
        assert_eq!(res.json["has_more"], false, "{query}");
    }

    // Pages of two, newest first, each cursor the last id of its page.
    let page1 = app.get("/v1/payment-intents?limit=2").await;
    assert_ids(&page1, &[&e, &d]);
    assert_eq!(page1.json["has_more"], true);
    assert_eq!(page1.json["next_cursor"], d);
    let page2 = app
        .get(&format!("/v1/payment-intents?limit=2&cursor={d}"))
        .await;
    assert_ids(&page2, &[&c, &b]);
    assert_eq!(page2.json["has_more"], true);
    assert_eq!(page2.json["next_cursor"], b);
    let page3 = app
        .get(&format!("/v1/payment-intents?limit=2&cursor={b}"))
        .await;
    assert_ids(&page3, &[&a]);
    assert_eq!(page3.json["has_more"], false);
    assert_eq!(page3.json["next_cursor"], Value::Null);
    // A cursor with a filter.
    let res = app
        .get(&format!(
            "/v1/payment-intents?capture_method=manual&limit=1&cursor={e}"
        ))
        .await;
    assert_ids(&res, &[&c]);
    assert_eq!(res.json["has_more"], true);
    assert_eq!(res.json["next_cursor"], c);
    // Exactly `limit` left: no more.
    let res = app
        .get(&format!("/v1/payment-intents?limit=3&cursor={d}"))
        .await;
    assert_ids(&res, &[&c, &b, &a]);
    assert_eq!(res.json["has_more"], false);
    assert_eq!(res.json["next_cursor"], Value::Null);

    // Another mode, another merchant: not listed, and their cursors mean nothing here.
    let other = app.app.create_merchant("Elsewhere").await.unwrap();
    let res = app
        .request(Method::GET, "/v1/payment-intents")
        .key(&other.test_key)
        .send()
        .await;
    assert_eq!(res.json["data"], json!([]));
    let res = app
        .request(Method::GET, &format!("/v1/payment-intents?cursor={c}"))
        .key(&other.test_key)
        .send()
        .await;
    res.assert_error(400, "INVALID_PARAMETER", Some("cursor"));
}

async fn list_default_and_largest_page(app: &TestApp) {
    let mut created = Vec::new();
    for i in 0..21 {
        created.push(app.create_manual(100 + i).await);
    }
    created.reverse();
    let res = app.get("/v1/payment-intents").await;
    assert_eq!(ids(&res), created[..20].to_vec());
    assert_eq!(res.json["has_more"], true);
    assert_eq!(res.json["next_cursor"], created[19]);
    let res = app
        .get(&format!("/v1/payment-intents?cursor={}", created[19]))
        .await;
    assert_eq!(ids(&res), created[20..].to_vec());
    assert_eq!(res.json["has_more"], false);
    let res = app.get("/v1/payment-intents?limit=100").await;
    assert_eq!(ids(&res), created);
    assert_eq!(res.json["has_more"], false);
    let res = app.get("/v1/payment-intents?limit=1").await;
    assert_eq!(ids(&res), created[..1].to_vec());
    assert_eq!(res.json["has_more"], true);
    for bad in ["0", "101", "-1", "1.5"] {
        app.get(&format!("/v1/payment-intents?limit={bad}"))
            .await
            .assert_error(400, "INVALID_PARAMETER", Some("limit"));
    }
    app.get("/v1/payment-intents?expires_before=soon")
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("expires_before"));
    app.get("/v1/payment-intents?created_before=2026-07-03")
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("created_before"));
}

// ---- Events ------------------------------------------------------------------------------------

async fn events_for_each_state_change(app: &TestApp) {
    let created = create(
        app,
        json!({"amount_money": usd(12900), "capture_method": "manual"}),
    )
    .await;
    let id = created.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let confirmed = confirm(app, &id, "pm_card_visa").await;
    app.clock.advance(20);
    let captured = capture(app, &id, json!({"amount_money": usd(9800)})).await;
    assert_eq!(captured.status, 200);

    let events = app.events_of(&id).await;
    let expected = [
        (
            "payment_intent.created",
            T0_RFC3339,
            &created.json["data"]["payment_intent"],
        ),
        (
            "payment_intent.requires_capture",
            T0_RFC3339,
            confirmed.intent(),
        ),
        (
            "payment_intent.succeeded",
            "2026-07-03T02:57:40Z",
            captured.intent(),
        ),
    ];
    assert_eq!(events.len(), expected.len(), "{events:?}");
    let mut seen = std::collections::HashSet::new();
    for (event, (kind, at, object)) in events.iter().zip(expected) {
        let event_id = event["id"].as_str().unwrap();
        assert!(event_id.starts_with("evt_"), "{event_id}");
        assert!(seen.insert(event_id.to_owned()), "ids are unique");
        assert_eq!(event["type"], kind);
        assert_eq!(event["created_at"], at);
        assert_eq!(event["livemode"], false);
        assert_eq!(event["data"]["object"], *object, "{kind}");
        // The single-event route shows the same event.
        let one = app.get(&format!("/v1/events/{event_id}")).await;
        assert_eq!(one.status, 200, "{}", one.text);
        assert_eq!(one.json["data"], *event);
    }

    // A voided hold: payment_intent.canceled with the reason on the object.
    let voided = app.hold(100).await;
    cancel(app, &voided, json!({"cancellation_reason": "fraudulent"})).await;
    let events = app.events_of(&voided).await;
    let last = events.last().unwrap();
    assert_eq!(last["type"], "payment_intent.canceled");
    assert_eq!(last["data"]["object"]["status"], "canceled");
    assert_eq!(last["data"]["object"]["cancellation_reason"], "fraudulent");
    assert_money(&last["data"]["object"], 100, 0, 0, 100);

    // Never payment_intent.captured or .expired.
    let all = app.get("/v1/events?limit=100").await;
    for event in all.json["data"].as_array().unwrap() {
        let t = event["type"].as_str().unwrap();
        assert!(
            [
                "payment_intent.created",
                "payment_intent.requires_action",
                "payment_intent.requires_capture",
                "payment_intent.succeeded",
                "payment_intent.canceled",
                "payment_intent.payment_failed",
            ]
            .contains(&t),
            "{t}"
        );
    }
    app.get("/v1/events/evt_000000000000000000000000")
        .await
        .assert_error(404, "EVENT_NOT_FOUND", None);
}

async fn events_pagination_and_filters(app: &TestApp) {
    let a = app.hold(100).await; // created, requires_capture
    let b = app.create_manual(200).await; // created
    confirm(app, &b, "pm_card_chargeDeclined").await; // payment_failed
    assert_eq!(capture(app, &a, json!({})).await.status, 200); // succeeded

    let all = app.get("/v1/events").await;
    assert_eq!(all.status, 200);
    let types: Vec<_> = all.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["data"]["object"]["payment_intent_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let ev = |t: &str, id: &String| (t.to_owned(), id.clone());
    assert_eq!(
        types,
        vec![
            ev("payment_intent.succeeded", &a),
            ev("payment_intent.payment_failed", &b),
            ev("payment_intent.created", &b),
            ev("payment_intent.requires_capture", &a),
            ev("payment_intent.created", &a),
        ]
    );
    assert_eq!(all.json["has_more"], false);
    assert_eq!(all.json["next_cursor"], Value::Null);
    let all_ids = ids(&all);

    let res = app.get("/v1/events?type=payment_intent.created").await;
    assert_eq!(ids(&res), vec![all_ids[2].clone(), all_ids[4].clone()]);
    let res = app.get(&format!("/v1/events?payment_intent_id={b}")).await;
    assert_eq!(ids(&res), vec![all_ids[1].clone(), all_ids[2].clone()]);
    let res = app
        .get(&format!(
            "/v1/events?payment_intent_id={a}&type=payment_intent.succeeded"
        ))
        .await;
    assert_eq!(ids(&res), vec![all_ids[0].clone()]);
    let res = app.get("/v1/events?payment_intent_id=pi_nobody").await;
    assert_eq!(res.json["data"], json!([]));

    let page1 = app.get("/v1/events?limit=2").await;
    assert_eq!(ids(&page1), all_ids[..2].to_vec());
    assert_eq!(page1.json["has_more"], true);
    assert_eq!(page1.json["next_cursor"], all_ids[1]);
    let page2 = app
        .get(&format!("/v1/events?limit=2&cursor={}", all_ids[1]))
        .await;
    assert_eq!(ids(&page2), all_ids[2..4].to_vec());
    assert_eq!(page2.json["has_more"], true);
    let page3 = app
        .get(&format!("/v1/events?limit=2&cursor={}", all_ids[3]))
        .await;
    assert_eq!(ids(&page3), all_ids[4..].to_vec());
    assert_eq!(page3.json["has_more"], false);
    assert_eq!(page3.json["next_cursor"], Value::Null);
    let res = app
        .get(&format!(
            "/v1/events?type=payment_intent.created&limit=1&cursor={}",
            all_ids[2]
        ))
        .await;
    assert_eq!(ids(&res), vec![all_ids[4].clone()]);
    assert_eq!(res.json["has_more"], false);
}

// ---- Client secrets --------------------------------------------------------------------------

async fn client_secret_may_only_get_and_confirm_its_intent(app: &TestApp) {
    let res = create(
        app,
        json!({"amount_money": usd(12900), "capture_method": "manual"}),
    )
    .await;
    let id = res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = res.json["data"]["client_confirmation"]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app.create_manual(500).await;

    // Its own intent: retrieve and confirm.
    let res = app
        .request(Method::GET, &pi_path(&id, ""))
        .key(&secret)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent(), &fresh(&id, 12900, "manual"));
    let res = app
        .request(Method::POST, &pi_path(&id, "confirm"))
        .key(&secret)
        .idem("secret-confirm-1")
        .json(&json!({"payment_source_token": "pm_card_visa"}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json, json!({"data": held(&id, 12900, "visa", "4242")}));

    // Everything else is refused.
    let forbidden: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, pi_path(&id, "capture"), Some(json!({}))),
        (Method::POST, pi_path(&id, "cancel"), Some(json!({}))),
        (Method::GET, pi_path(&id, "actions"), None),
        (Method::GET, "/v1/payment-intents".into(), None),
        (
            Method::POST,
            "/v1/payment-intents".into(),
            Some(json!({"amount_money": usd(100)})),
        ),
        (Method::GET, pi_path(&other, ""), None),
        (
            Method::POST,
            pi_path(&other, "confirm"),
            Some(json!({"payment_source_token": "pm_card_visa"})),
        ),
        (Method::GET, "/v1/events".into(), None),
        (Method::POST, "/v1/customers".into(), Some(json!({}))),
        (
            Method::POST,
            format!("/v1/test-helpers/payment-intents/{id}/authenticate"),
            Some(json!({"result": "success"})),
        ),
    ];
    for (method, path, body) in forbidden {
        let mut req = app.request(method.clone(), &path).key(&secret);
        if let Some(body) = &body {
            req = req.json(body);
        }
        let res = req.send().await;
        assert_eq!(res.status, 403, "{method} {path}: {}", res.text);
        res.assert_error(403, "CLIENT_SECRET_NOT_ALLOWED", None);
    }
    // Neither intent was touched.
    assert_eq!(app.intent(&id).await, held(&id, 12900, "visa", "4242"));
    assert_eq!(app.intent(&other).await, fresh(&other, 500, "manual"));

    // A forged secret for the right intent is no credential at all.
    let forged = format!("{id}_secret_{}", "x".repeat(24));
    app.request(Method::GET, &pi_path(&id, ""))
        .key(&forged)
        .send()
        .await
        .assert_error(401, "INVALID_API_KEY", None);
}

// ---- Customers and saved cards -----------------------------------------------------------------

async fn customers_and_saved_payment_methods(app: &TestApp) {
    let res = app
        .post(
            "/v1/customers",
            json!({"email": "ada@example.com", "name": "Ada"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let customer = res.json["data"]["customer_id"].as_str().unwrap().to_owned();
    assert!(customer.starts_with("cus_"), "{customer}");
    assert_eq!(res.json["data"]["email"], "ada@example.com");
    assert_eq!(res.json["data"]["livemode"], false);

    let res = app
        .post(
            &format!("/v1/customers/{customer}/payment-methods"),
            json!({"payment_source_token": "pm_card_mastercard"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let pm = res.json["data"]["payment_method_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(pm.starts_with("pm_") && !pm.starts_with("pm_card_"), "{pm}");
    assert_eq!(res.json["data"]["customer_id"], customer);
    assert_eq!(res.json["data"]["brand"], "mastercard");
    assert_eq!(res.json["data"]["last_four"], "4444");

    // Confirming with the saved card places the hold on it.
    let id = app.create_manual(12900).await;
    let res = app
        .post(&pi_path(&id, "confirm"), json!({"payment_method_id": pm}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut expected = held(&id, 12900, "mastercard", "4444");
    expected["payment_method_id"] = json!(pm);
    assert_eq!(res.json, json!({"data": expected}));

    // Another merchant cannot use it.
    let other = app.app.create_merchant("Other Shop").await.unwrap();
    let res = app
        .request(Method::POST, "/v1/payment-intents")
        .key(&other.test_key)
        .json(&json!({"amount_money": usd(100), "capture_method": "manual"}))
        .send()
        .await;
    let theirs = res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .request(Method::POST, &pi_path(&theirs, "confirm"))
        .key(&other.test_key)
        .json(&json!({"payment_method_id": pm}))
        .send()
        .await;
    res.assert_error(404, "PAYMENT_METHOD_NOT_FOUND", Some("payment_method_id"));
    // Nor can our own live mode.
    let res = app
        .request(Method::POST, "/v1/payment-intents")
        .key(&app.live_key)
        .json(&json!({"amount_money": usd(100), "capture_method": "manual"}))
        .send()
        .await;
    let live = res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .request(Method::POST, &pi_path(&live, "confirm"))
        .key(&app.live_key)
        .json(&json!({"payment_method_id": pm}))
        .send()
        .await;
    res.assert_error(404, "PAYMENT_METHOD_NOT_FOUND", Some("payment_method_id"));
    // An unknown id is the same 404.
    let fresh_id = app.create_manual(100).await;
    app.post(
        &pi_path(&fresh_id, "confirm"),
        json!({"payment_method_id": "pm_000000000000000000000000"}),
    )
    .await
    .assert_error(404, "PAYMENT_METHOD_NOT_FOUND", Some("payment_method_id"));
    assert_eq!(
        app.intent(&fresh_id).await["status"],
        "requires_payment_method"
    );

    // Saving needs a real test token and a real customer.
    app.post(
        &format!("/v1/customers/{customer}/payment-methods"),
        json!({"payment_source_token": "pm_card_bogus"}),
    )
    .await
    .assert_error(
        400,
        "INVALID_PAYMENT_SOURCE_TOKEN",
        Some("payment_source_token"),
    );
    app.post(
        "/v1/customers/cus_000000000000000000000000/payment-methods",
        json!({"payment_source_token": "pm_card_visa"}),
    )
    .await
    .assert_error(404, "CUSTOMER_NOT_FOUND", None);

    // A saved card that declines declines.
    let res = app
        .post(
            &format!("/v1/customers/{customer}/payment-methods"),
            json!({"payment_source_token": "pm_card_chargeDeclinedInsufficientFunds"}),
        )
        .await;
    let declining = res.json["data"]["payment_method_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            &pi_path(&fresh_id, "confirm"),
            json!({"payment_method_id": declining}),
        )
        .await;
    res.assert_error(402, "CARD_DECLINED", None);
    assert_eq!(res.json["error"]["decline_code"], "insufficient_funds");
}

// ---- Not found ---------------------------------------------------------------------------------

async fn unknown_ids_are_404_on_every_route(app: &TestApp) {
    let missing = "pi_000000000000000000000000";
    for path in [pi_path(missing, ""), pi_path(missing, "actions")] {
        app.get(&path)
            .await
            .assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);
    }
    for (action, body) in [
        ("confirm", json!({"payment_source_token": "pm_card_visa"})),
        ("capture", json!({})),
        ("capture", json!({"amount_money": usd(100)})),
        ("cancel", json!({"cancellation_reason": "duplicate"})),
    ] {
        app.post(&pi_path(missing, action), body)
            .await
            .assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);
    }
    app.post(
        &format!("/v1/test-helpers/payment-intents/{missing}/authenticate"),
        json!({"result": "success"}),
    )
    .await
    .assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);
    // Someone else's hold, too, for every mutation.
    let other = app.app.create_merchant("Other Shop").await.unwrap();
    let res = app
        .request(Method::POST, "/v1/payment-intents")
        .key(&other.test_key)
        .json(&json!({"amount_money": usd(100), "capture_method": "manual"}))
        .send()
        .await;
    let theirs = res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .request(Method::POST, &pi_path(&theirs, "confirm"))
        .key(&other.test_key)
        .json(&json!({"payment_source_token": "pm_card_visa"}))
        .send()
        .await;
    assert_eq!(res.status, 200);
    for (action, body) in [
        ("capture", json!({})),
        ("cancel", json!({})),
        ("confirm", json!({"payment_source_token": "pm_card_visa"})),
    ] {
        app.post(&pi_path(&theirs, action), body)
            .await
            .assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);
    }
    let res = app
        .request(Method::GET, &pi_path(&theirs, ""))
        .key(&other.test_key)
        .send()
        .await;
    assert_eq!(res.intent()["status"], "requires_capture");
    assert_money(res.intent(), 100, 100, 0, 0);
}

// ---- The money invariant ---------------------------------------------------------------------

async fn money_invariant_holds_for_every_intent(app: &TestApp) {
    app.create_manual(100).await;
    app.hold(200).await;
    let partial = app.hold(300).await;
    capture(app, &partial, json!({"amount_money": usd(120)})).await;
    let full = app.hold(400).await;
    capture(app, &full, json!({})).await;
    let voided = app.hold(500).await;
    cancel(app, &voided, json!({})).await;
    let declined = app.create_manual(600).await;
    confirm(app, &declined, "pm_card_chargeDeclined").await;
    let action = app.create_manual(700).await;
    confirm(app, &action, "pm_card_threeDSecure2Required").await;
    create(
        app,
        json!({"amount_money": usd(800), "auto_confirm": true, "payment_source_token": "pm_card_visa"}),
    )
    .await;
    let expiring = app.hold(900).await;
    app.clock.advance(HOLD_SECONDS + 1);
    assert_eq!(app.intent(&expiring).await["status"], "expired");

    let res = app.get("/v1/payment-intents?limit=100").await;
    let intents = res.json["data"].as_array().unwrap();
    assert_eq!(intents.len(), 9);
    for pi in intents {
        let amount = |field: &str| pi[field]["amount"].as_i64().unwrap();
        let (authorized, capturable, captured, released) = (
            amount("authorized_amount_money"),
            amount("capturable_amount_money"),
            amount("captured_amount_money"),
            amount("released_amount_money"),
        );
        assert!(
            authorized >= 0 && capturable >= 0 && captured >= 0 && released >= 0,
            "{pi}"
        );
        assert_eq!(captured + released + capturable, authorized, "{pi}");
        for field in [
            "authorized_amount_money",
            "capturable_amount_money",
            "captured_amount_money",
            "released_amount_money",
        ] {
            assert_eq!(pi[field]["currency"], "USD");
        }
        // And in every event snapshot.
        let id = pi["payment_intent_id"].as_str().unwrap();
        for event in app.events_of(id).await {
            let o = &event["data"]["object"];
            let amount = |field: &str| o[field]["amount"].as_i64().unwrap();
            assert_eq!(
                amount("captured_amount_money")
                    + amount("released_amount_money")
                    + amount("capturable_amount_money"),
                amount("authorized_amount_money"),
                "{event}"
            );
        }
    }
}

/// A saved card is usable only for its own customer's intents; a browser holding just a client
/// secret may use one only when the intent names that customer.
async fn saved_cards_belong_to_the_intents_customer(app: &TestApp) {
    let customer = |name: &str| {
        let body = json!({ "name": name });
        async move {
            let res = app.post("/v1/customers", body).await;
            assert_eq!(res.status, 201, "{}", res.text);
            res.json["data"]["customer_id"].as_str().unwrap().to_owned()
        }
    };
    let ada = customer("Ada").await;
    let bob = customer("Bob").await;
    let res = app
        .post(
            &format!("/v1/customers/{ada}/payment-methods"),
            json!({"payment_source_token": "pm_card_visa"}),
        )
        .await;
    let ada_card = res.json["data"]["payment_method_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let create = |customer: Option<&str>| {
        let mut body = json!({"amount_money": usd(5000), "capture_method": "manual"});
        if let Some(c) = customer {
            body["customer_id"] = json!(c);
        }
        async move {
            let res = app.post("/v1/payment-intents", body).await;
            assert_eq!(res.status, 201, "{}", res.text);
            let data = &res.json["data"];
            (
                data["payment_intent"]["payment_intent_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                data["client_confirmation"]["client_secret"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        }
    };
    let confirm = |id: String, key: String| {
        let body = json!({ "payment_method_id": ada_card });
        async move {
            app.request(Method::POST, &format!("/v1/payment-intents/{id}/confirm"))
                .key(&key)
                .json(&body)
                .send()
                .await
        }
    };

    // Bob's intent cannot use Ada's card, whoever asks.
    let (bobs, bobs_secret) = create(Some(&bob)).await;
    confirm(bobs.clone(), app.test_key.clone())
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("payment_method_id"));
    confirm(bobs.clone(), bobs_secret).await.assert_error(
        400,
        "INVALID_PARAMETER",
        Some("payment_method_id"),
    );
    assert_eq!(app.intent(&bobs).await["status"], "requires_payment_method");

    // An intent with no customer: the secret key may use any of the merchant's cards, a client
    // secret may not.
    let (anyone, anyone_secret) = create(None).await;
    confirm(anyone.clone(), anyone_secret).await.assert_error(
        400,
        "INVALID_PARAMETER",
        Some("payment_method_id"),
    );
    let res = confirm(anyone, app.test_key.clone()).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["payment_method_id"], ada_card);

    // Ada's own intent, confirmed from her browser with her saved card.
    let (adas, adas_secret) = create(Some(&ada)).await;
    let res = confirm(adas, adas_secret).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["status"], "requires_capture");
    assert_eq!(res.json["data"]["customer_id"], ada);
    assert_money(&res.json["data"], 5000, 5000, 0, 0);
}
