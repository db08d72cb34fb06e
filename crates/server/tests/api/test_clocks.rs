//! Test clocks, on both backends: the `/v1/test-clocks` routes, intents living on a clock's time,
//! and advancing a clock, which runs every expiry, warning and scheduled action due on its intents,
//! in deadline order, before it answers.

use holdfast_domain::Timestamp;
use holdfast_service::Outcome;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Res, T0, T0_RFC3339, TestApp, assert_money, fire, rfc3339, usd};

both_backends!(
    test_clock_lifecycle,
    test_clocks_are_test_mode_only,
    intents_on_a_clock_take_every_timestamp_from_it,
    advancing_runs_due_work_in_deadline_order,
    advancing_to_the_deadline_and_one_second_past_it,
    wall_clock_worker_leaves_clock_intents_alone,
    listing_filters_clock_intents_by_their_own_time,
    scheduled_action_on_a_clock_uses_the_clock_time,
    advance_after_a_processor_timeout_can_be_repeated,
    concurrent_advances_run_due_work_once_and_never_move_the_clock_back,
);

/// The sandbox hold: seven days less one second.
const HOLD: i64 = 7 * 86_400 - 1;
const LEAD: i64 = 86_400;
/// 2030-01-01T00:00:00Z: a clock far from the harness clock, so either time shows if misused.
const C0: i64 = 1_893_456_000;
const C0_RFC3339: &str = "2030-01-01T00:00:00Z";

/// A clock at `frozen_time`; returns its id.
async fn new_clock(app: &TestApp, frozen_time: i64) -> String {
    let res = app
        .post(
            "/v1/test-clocks",
            json!({"frozen_time": rfc3339(frozen_time)}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.json["data"]["test_clock_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn advance(app: &TestApp, clock: &str, to: i64) -> Res {
    app.post(
        &format!("/v1/test-clocks/{clock}/advance"),
        json!({"frozen_time": rfc3339(to)}),
    )
    .await
}

#[track_caller]
fn assert_advanced(res: &Res, to: i64) {
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["frozen_time"], rfc3339(to), "{}", res.text);
}

/// Creates a manual intent on `clock` (none: the wall clock).
async fn create_on(app: &TestApp, clock: Option<&str>, amount: i64) -> Res {
    let mut body = json!({"amount_money": usd(amount), "capture_method": "manual"});
    if let Some(clock) = clock {
        body["test_clock"] = json!(clock);
    }
    app.post("/v1/payment-intents", body).await
}

async fn confirm(app: &TestApp, id: &str, token: &str) -> Res {
    app.post(
        &format!("/v1/payment-intents/{id}/confirm"),
        json!({"payment_source_token": token}),
    )
    .await
}

/// A hold of `amount` on `clock`, placed at the clock's current time.
async fn hold_on(app: &TestApp, clock: &str, amount: i64) -> String {
    hold_on_with(app, clock, amount, "pm_card_visa").await
}

async fn hold_on_with(app: &TestApp, clock: &str, amount: i64, token: &str) -> String {
    let res = create_on(app, Some(clock), amount).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let id = res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = confirm(app, &id, token).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent()["status"], "requires_capture");
    id
}

fn pi_path(id: &str, action: &str) -> String {
    format!("/v1/payment-intents/{id}/{action}")
}

fn ids_of(res: &Res) -> Vec<String> {
    res.json["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", res.text))
        .iter()
        .map(|i| {
            i["payment_intent_id"]
                .as_str()
                .or_else(|| i["test_clock_id"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn action_types(actions: &[Value]) -> Vec<String> {
    actions
        .iter()
        .map(|a| a["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn test_clock_lifecycle(app: &TestApp) {
    let res = app
        .post(
            "/v1/test-clocks",
            json!({"frozen_time": C0_RFC3339, "name": "Rental flow"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let first = res.json["data"]["test_clock_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(first.starts_with("clock_") && first.len() > 6, "{first}");
    let first_body = json!({
        "test_clock_id": first,
        "name": "Rental flow",
        "frozen_time": C0_RFC3339,
        "status": "ready",
        "livemode": false,
        "created_at": T0_RFC3339,
    });
    assert_eq!(res.json, json!({"data": first_body}));

    // Without a time, the clock starts at the server's now.
    let res = app.post("/v1/test-clocks", json!({})).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let second = res.json["data"]["test_clock_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second_body = json!({
        "test_clock_id": second,
        "name": null,
        "frozen_time": T0_RFC3339,
        "status": "ready",
        "livemode": false,
        "created_at": T0_RFC3339,
    });
    assert_eq!(res.json, json!({"data": second_body}));
    app.post("/v1/test-clocks", json!({"frozen_time": "soon"}))
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("frozen_time"));

    let res = app.get(&format!("/v1/test-clocks/{first}")).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json, json!({"data": first_body}));

    // Listed newest first, with a cursor.
    let res = app.get("/v1/test-clocks").await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.json,
        json!({"data": [second_body, first_body], "has_more": false, "next_cursor": null})
    );
    let res = app.get("/v1/test-clocks?limit=1").await;
    assert_eq!(
        res.json,
        json!({"data": [second_body], "has_more": true, "next_cursor": second})
    );
    let res = app
        .get(&format!("/v1/test-clocks?limit=1&cursor={second}"))
        .await;
    assert_eq!(
        res.json,
        json!({"data": [first_body], "has_more": false, "next_cursor": null})
    );

    // Deleted: gone from every route.
    let res = app.delete(&format!("/v1/test-clocks/{first}")).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.json,
        json!({"data": {"test_clock_id": first, "deleted": true}})
    );
    app.get(&format!("/v1/test-clocks/{first}"))
        .await
        .assert_error(404, "TEST_CLOCK_NOT_FOUND", None);
    app.delete(&format!("/v1/test-clocks/{first}"))
        .await
        .assert_error(404, "TEST_CLOCK_NOT_FOUND", None);
    advance(app, &first, C0 + 60)
        .await
        .assert_error(404, "TEST_CLOCK_NOT_FOUND", None);
    let res = app.get("/v1/test-clocks").await;
    assert_eq!(ids_of(&res), vec![second.clone()]);
    app.get("/v1/test-clocks/clock_unknown")
        .await
        .assert_error(404, "TEST_CLOCK_NOT_FOUND", None);
    advance(app, "clock_unknown", C0)
        .await
        .assert_error(404, "TEST_CLOCK_NOT_FOUND", None);
}

async fn test_clocks_are_test_mode_only(app: &TestApp) {
    let clock = new_clock(app, C0).await;
    let live = |method: Method, path: &str| app.request(method, path).key(&app.live_key);
    let refused = |res: Res| {
        res.assert_error(
            400,
            "TEST_CLOCK_NOT_ALLOWED_IN_LIVE_MODE",
            Some("test_clock"),
        )
    };

    refused(
        live(Method::POST, "/v1/test-clocks")
            .json(&json!({}))
            .send()
            .await,
    );
    refused(
        live(Method::POST, "/v1/test-clocks")
            .json(&json!({"frozen_time": C0_RFC3339}))
            .send()
            .await,
    );
    refused(live(Method::GET, "/v1/test-clocks").send().await);
    refused(
        live(Method::GET, &format!("/v1/test-clocks/{clock}"))
            .send()
            .await,
    );
    refused(
        live(Method::POST, &format!("/v1/test-clocks/{clock}/advance"))
            .json(&json!({"frozen_time": rfc3339(C0 + 60)}))
            .send()
            .await,
    );
    refused(
        live(Method::DELETE, &format!("/v1/test-clocks/{clock}"))
            .send()
            .await,
    );
    for test_clock in [clock.as_str(), "clock_unknown"] {
        refused(
            live(Method::POST, "/v1/payment-intents")
                .json(
                    &json!({"amount_money": usd(100), "capture_method": "manual",
                              "test_clock": test_clock}),
                )
                .send()
                .await,
        );
    }
    // None of that touched the clock.
    let res = app.get(&format!("/v1/test-clocks/{clock}")).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["frozen_time"], C0_RFC3339);
    let res = app
        .request(Method::GET, "/v1/payment-intents")
        .key(&app.live_key)
        .send()
        .await;
    assert_eq!(res.json["data"], json!([]), "{}", res.text);
}

async fn intents_on_a_clock_take_every_timestamp_from_it(app: &TestApp) {
    let clock = new_clock(app, C0).await;
    let res = create_on(app, Some(&clock), 10_000).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let pi = &res.json["data"]["payment_intent"];
    assert_eq!(pi["test_clock"], clock.as_str());
    assert_eq!(pi["created_at"], C0_RFC3339);
    assert_eq!(pi["updated_at"], C0_RFC3339);
    let captured = pi["payment_intent_id"].as_str().unwrap().to_owned();
    create_on(app, Some("clock_unknown"), 100)
        .await
        .assert_error(404, "TEST_CLOCK_NOT_FOUND", Some("test_clock"));

    let res = confirm(app, &captured, "pm_card_visa").await;
    assert_eq!(res.status, 200, "{}", res.text);
    let pi = res.intent();
    assert_eq!(pi["authorized_at"], C0_RFC3339);
    assert_eq!(pi["authorization_expires_at"], rfc3339(C0 + HOLD));
    assert_eq!(pi["authorization_expires_at"], "2030-01-07T23:59:59Z");
    assert_eq!(pi["updated_at"], C0_RFC3339);

    assert_advanced(&advance(app, &clock, C0 + 3600).await, C0 + 3600);
    let res = app
        .post(
            &pi_path(&captured, "capture"),
            json!({"amount_money": usd(4000)}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent()["captured_at"], rfc3339(C0 + 3600));
    assert_eq!(res.intent()["updated_at"], rfc3339(C0 + 3600));
    assert_eq!(res.intent()["created_at"], C0_RFC3339);
    assert_money(res.intent(), 10_000, 0, 4000, 6000);

    let canceled = hold_on(app, &clock, 2000).await;
    let res = app
        .post(
            &pi_path(&canceled, "cancel"),
            json!({"cancellation_reason": "abandoned"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let pi = res.intent();
    assert_eq!(pi["created_at"], rfc3339(C0 + 3600));
    assert_eq!(pi["authorized_at"], rfc3339(C0 + 3600));
    assert_eq!(pi["authorization_expires_at"], rfc3339(C0 + 3600 + HOLD));
    assert_eq!(pi["canceled_at"], rfc3339(C0 + 3600));

    // Events and actions carry the clock's time too.
    let created_at = |values: Vec<Value>| -> Vec<Value> {
        values.iter().map(|v| v["created_at"].clone()).collect()
    };
    assert_eq!(
        created_at(app.events_of(&captured).await),
        vec![
            json!(C0_RFC3339),
            json!(C0_RFC3339),
            json!(rfc3339(C0 + 3600))
        ]
    );
    assert_eq!(
        created_at(app.actions_of(&captured).await),
        vec![json!(C0_RFC3339), json!(rfc3339(C0 + 3600))]
    );

    // A deleted clock takes no new intents; its intents keep the time it showed.
    let kept = hold_on(app, &clock, 3000).await;
    assert_eq!(
        app.delete(&format!("/v1/test-clocks/{clock}")).await.status,
        200
    );
    create_on(app, Some(&clock), 100).await.assert_error(
        404,
        "TEST_CLOCK_NOT_FOUND",
        Some("test_clock"),
    );
    let pi = app.intent(&kept).await;
    assert_eq!(pi["status"], "requires_capture");
    assert_eq!(pi["test_clock"], clock.as_str());
    let res = app.post(&pi_path(&kept, "capture"), json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent()["captured_at"], rfc3339(C0 + 3600));
}

async fn advancing_runs_due_work_in_deadline_order(app: &TestApp) {
    let clock = new_clock(app, C0).await;
    let voided = hold_on(app, &clock, 1000).await;
    let res = app
        .post(
            &pi_path(&voided, "scheduled-action"),
            json!({"type": "void", "at": rfc3339(C0 + 2 * 86_400)}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let captured = hold_on(app, &clock, 5000).await;
    let res = app
        .post(
            &pi_path(&captured, "scheduled-action"),
            json!({"type": "capture", "at": rfc3339(C0 + 86_400), "amount_money": usd(4000)}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_advanced(&advance(app, &clock, C0 + 3600).await, C0 + 3600);
    let lapsed = hold_on(app, &clock, 3000).await;
    // Not on this clock: a wall-clock hold and a hold on another clock, both long due by then.
    let other_clock = new_clock(app, C0).await;
    let elsewhere = hold_on(app, &other_clock, 700).await;
    let wall = app.hold(800).await;
    let setup_events = app.get("/v1/events?limit=100").await.json["data"]
        .as_array()
        .unwrap()
        .len();

    let target = C0 + 8 * 86_400;
    assert_advanced(&advance(app, &clock, target).await, target);

    // Everything due ran, in deadline order, each at its own moment.
    let res = app.get("/v1/events?limit=100").await;
    let mut events = res.json["data"].as_array().unwrap().clone();
    events.reverse();
    let ran: Vec<(String, String, Value)> = events[setup_events..]
        .iter()
        .map(|e| {
            (
                e["data"]["object"]["payment_intent_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                e["type"].as_str().unwrap().to_owned(),
                e["created_at"].clone(),
            )
        })
        .collect();
    let lapsed_deadline = C0 + 3600 + HOLD;
    assert_eq!(
        ran,
        vec![
            (
                captured.clone(),
                "payment_intent.succeeded".to_owned(),
                json!(rfc3339(C0 + 86_400))
            ),
            (
                voided.clone(),
                "payment_intent.canceled".to_owned(),
                json!(rfc3339(C0 + 2 * 86_400))
            ),
            (
                lapsed.clone(),
                "payment_intent.authorization_expiring".to_owned(),
                json!(rfc3339(lapsed_deadline - LEAD))
            ),
            (
                lapsed.clone(),
                "payment_intent.canceled".to_owned(),
                json!(rfc3339(lapsed_deadline + 1))
            ),
        ]
    );

    let pi = app.intent(&captured).await;
    assert_eq!(pi["status"], "succeeded");
    assert_eq!(pi["captured_at"], rfc3339(C0 + 86_400));
    assert_money(&pi, 5000, 0, 4000, 1000);
    let actions = app.actions_of(&captured).await;
    assert_eq!(action_types(&actions), vec!["authorization", "capture"]);
    assert_eq!(actions[1]["reference"], "scheduled");
    assert_eq!(actions[1]["created_at"], rfc3339(C0 + 86_400));

    let pi = app.intent(&voided).await;
    assert_eq!(pi["status"], "canceled");
    assert_eq!(pi["canceled_at"], rfc3339(C0 + 2 * 86_400));
    assert_money(&pi, 1000, 0, 0, 1000);
    let actions = app.actions_of(&voided).await;
    assert_eq!(action_types(&actions), vec!["authorization", "void"]);
    assert_eq!(actions[1]["reference"], "scheduled");

    let pi = app.intent(&lapsed).await;
    assert_eq!(pi["status"], "expired");
    assert_eq!(pi["cancellation_reason"], "authorization_expired");
    assert_eq!(pi["canceled_at"], rfc3339(lapsed_deadline + 1));
    assert_eq!(pi["updated_at"], rfc3339(lapsed_deadline + 1));
    assert_money(&pi, 3000, 0, 0, 3000);
    let actions = app.actions_of(&lapsed).await;
    assert_eq!(action_types(&actions), vec!["authorization", "expiry"]);
    assert_eq!(actions[1]["created_at"], rfc3339(lapsed_deadline + 1));

    // The other clock's hold and the wall-clock hold were not touched.
    for id in [&elsewhere, &wall] {
        assert_eq!(
            app.event_types_of(id).await,
            vec!["payment_intent.created", "payment_intent.requires_capture"]
        );
        assert_eq!(app.intent(id).await["status"], "requires_capture");
    }

    // Nothing runs twice; the clock moves forward only.
    let count = app.get("/v1/events?limit=100").await.json["data"]
        .as_array()
        .unwrap()
        .len();
    assert_advanced(&advance(app, &clock, target).await, target);
    assert_advanced(
        &advance(app, &clock, target + 86_400).await,
        target + 86_400,
    );
    let after = app.get("/v1/events?limit=100").await.json["data"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, count);
    advance(app, &clock, target).await.assert_error(
        400,
        "TEST_CLOCK_CANNOT_MOVE_BACKWARDS",
        Some("frozen_time"),
    );
    app.post(
        &format!("/v1/test-clocks/{clock}/advance"),
        json!({"frozen_time": "next week"}),
    )
    .await
    .assert_error(400, "INVALID_PARAMETER", Some("frozen_time"));
    let res = app.get(&format!("/v1/test-clocks/{clock}")).await;
    assert_eq!(res.json["data"]["frozen_time"], rfc3339(target + 86_400));
    let res = app.get(&format!("/v1/test-clocks/{other_clock}")).await;
    assert_eq!(res.json["data"]["frozen_time"], C0_RFC3339);
}

async fn advancing_to_the_deadline_and_one_second_past_it(app: &TestApp) {
    let clock = new_clock(app, C0).await;
    let on_time = hold_on(app, &clock, 12_900).await;
    let late = hold_on(app, &clock, 12_900).await;
    let deadline = C0 + HOLD;

    assert_advanced(&advance(app, &clock, deadline).await, deadline);
    for id in [&on_time, &late] {
        let pi = app.intent(id).await;
        assert_eq!(pi["status"], "requires_capture", "{pi}");
        assert_money(&pi, 12_900, 12_900, 0, 0);
        assert_eq!(
            app.event_types_of(id).await,
            vec![
                "payment_intent.created",
                "payment_intent.requires_capture",
                "payment_intent.authorization_expiring"
            ]
        );
    }
    let res = app.post(&pi_path(&on_time, "capture"), json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent()["captured_at"], rfc3339(deadline));

    assert_advanced(&advance(app, &clock, deadline + 1).await, deadline + 1);
    let pi = app.intent(&late).await;
    assert_eq!(pi["status"], "expired", "{pi}");
    assert_eq!(pi["canceled_at"], rfc3339(deadline + 1));
    assert_money(&pi, 12_900, 0, 0, 12_900);
    app.post(&pi_path(&late, "capture"), json!({}))
        .await
        .assert_error(400, "PAYMENT_AUTHORIZATION_EXPIRED", None);
    app.post(&pi_path(&late, "cancel"), json!({}))
        .await
        .assert_error(400, "CANNOT_CANCEL_EXPIRED_PAYMENT", None);
    assert_advanced(&advance(app, &clock, deadline + 100).await, deadline + 100);
    let types = app.event_types_of(&late).await;
    assert_eq!(
        types,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.authorization_expiring",
            "payment_intent.canceled"
        ]
    );
    assert_eq!(
        action_types(&app.actions_of(&late).await),
        vec!["authorization", "expiry"]
    );
    assert_eq!(app.event_types_of(&on_time).await.len(), 4);
}

async fn wall_clock_worker_leaves_clock_intents_alone(app: &TestApp) {
    let clock = new_clock(app, T0).await;
    let on_clock = hold_on(app, &clock, 12_900).await;
    let wall = app.hold(12_900).await;
    let deadline = T0 + HOLD;
    assert_eq!(
        app.intent(&on_clock).await["authorization_expires_at"],
        rfc3339(deadline)
    );

    // Thirty days on the wall clock: the wall-clock hold expires, the clock's hold does not.
    app.clock.set(Timestamp(T0 + 30 * 86_400));
    assert_eq!(app.app.run_due_once(100).await.unwrap(), Outcome::Worked(1));
    for _ in 0..3 {
        assert_eq!(app.app.run_due_once(100).await.unwrap(), Outcome::Idle);
    }
    assert_eq!(app.intent(&wall).await["status"], "expired");
    let pi = app.intent(&on_clock).await;
    assert_eq!(pi["status"], "requires_capture", "{pi}");
    assert_money(&pi, 12_900, 12_900, 0, 0);
    assert_eq!(
        app.event_types_of(&on_clock).await,
        vec!["payment_intent.created", "payment_intent.requires_capture"]
    );

    // Its own clock's advance expires it.
    assert_advanced(&advance(app, &clock, deadline + 1).await, deadline + 1);
    let pi = app.intent(&on_clock).await;
    assert_eq!(pi["status"], "expired", "{pi}");
    assert_eq!(pi["canceled_at"], rfc3339(deadline + 1));
    let types = app.event_types_of(&on_clock).await;
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "payment_intent.canceled")
            .count(),
        1,
        "{types:?}"
    );
    assert_eq!(app.app.run_due_once(100).await.unwrap(), Outcome::Idle);
}

/// A list filtered by status agrees with what each intent shows: an intent on a test clock is
/// judged on its clock's time, not the wall clock's (`GET` and the list's display already do so).
async fn listing_filters_clock_intents_by_their_own_time(app: &TestApp) {
    let clock = new_clock(app, T0).await;
    let on_clock = hold_on(app, &clock, 12_900).await;
    // Thirty days on the wall clock; the intent's clock still reads T0.
    app.clock.set(Timestamp(T0 + 30 * 86_400));
    let shown = app.intent(&on_clock).await;
    assert_eq!(shown["status"], "requires_capture");

    let lists = [
        ("status=requires_capture", vec![on_clock.clone()]),
        (
            "status=requires_capture&order=authorization_expires_at",
            vec![on_clock.clone()],
        ),
        ("status=expired", vec![]),
    ];
    let mut wrong = Vec::new();
    for (query, expected) in lists {
        let res = app.get(&format!("/v1/payment-intents?{query}")).await;
        assert_eq!(res.status, 200, "{}", res.text);
        if ids_of(&res) != expected {
            wrong.push(format!("{query}: expected {expected:?}, got {}", res.text));
        }
    }
    assert!(
        wrong.is_empty(),
        "lists disagree with GET (status requires_capture):\n{}",
        wrong.join("\n")
    );
}

async fn scheduled_action_on_a_clock_uses_the_clock_time(app: &TestApp) {
    let clock = new_clock(app, C0).await;
    let id = hold_on(app, &clock, 10_000).await;
    let path = pi_path(&id, "scheduled-action");
    // In the wall clock's future but the intent's past.
    app.post(&path, json!({"type": "capture", "at": rfc3339(T0 + 3600)}))
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("at"));
    app.post(&path, json!({"type": "capture", "at": rfc3339(C0)}))
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("at"));
    app.post(&path, json!({"type": "capture", "at": rfc3339(C0 + HOLD)}))
        .await
        .assert_error(400, "SCHEDULED_ACTION_AFTER_EXPIRY", Some("at"));
    let res = app
        .post(
            &path,
            json!({"type": "capture", "at": rfc3339(C0 + 60), "amount_money": usd(2500)}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent()["updated_at"], C0_RFC3339);

    // The wall-clock worker, long past that moment, leaves it to the clock.
    app.clock.set(Timestamp(C0 + 3600));
    assert_eq!(app.app.run_due_once(100).await.unwrap(), Outcome::Idle);
    assert_eq!(app.intent(&id).await["status"], "requires_capture");

    assert_advanced(&advance(app, &clock, C0 + 59).await, C0 + 59);
    assert_eq!(app.intent(&id).await["status"], "requires_capture");
    assert_advanced(&advance(app, &clock, C0 + 60).await, C0 + 60);
    let pi = app.intent(&id).await;
    assert_eq!(pi["status"], "succeeded", "{pi}");
    assert_eq!(pi["captured_at"], rfc3339(C0 + 60));
    assert_money(&pi, 10_000, 0, 2500, 7500);
    assert_eq!(pi["scheduled_action"], Value::Null);
}

async fn advance_after_a_processor_timeout_can_be_repeated(app: &TestApp) {
    let clock = new_clock(app, C0).await;
    let id = hold_on_with(app, &clock, 10_000, "pm_card_captureTimeoutOnce").await;
    let res = app
        .post(
            &pi_path(&id, "scheduled-action"),
            json!({"type": "capture", "at": rfc3339(C0 + 60)}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);

    // The processor times out on the first capture: the advance says so and nothing is recorded.
    let res = advance(app, &clock, C0 + 120).await;
    res.assert_error(502, "PROCESSOR_UNAVAILABLE", None);
    let pi = app.intent(&id).await;
    assert_eq!(pi["status"], "requires_capture", "{pi}");
    assert_money(&pi, 10_000, 10_000, 0, 0);
    assert_eq!(pi["scheduled_action"]["at"], rfc3339(C0 + 60));

    // Repeated, it completes: one capture, at its scheduled moment.
    assert_advanced(&advance(app, &clock, C0 + 120).await, C0 + 120);
    let pi = app.intent(&id).await;
    assert_eq!(pi["status"], "succeeded", "{pi}");
    assert_eq!(pi["captured_at"], rfc3339(C0 + 60));
    assert_money(&pi, 10_000, 0, 10_000, 0);
    assert_eq!(
        app.event_types_of(&id).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.succeeded"
        ]
    );
    assert_eq!(
        action_types(&app.actions_of(&id).await),
        vec!["authorization", "capture"]
    );
}

async fn concurrent_advances_run_due_work_once_and_never_move_the_clock_back(app: &TestApp) {
    let clock = new_clock(app, C0).await;
    let mut scheduled = Vec::new();
    for i in 1..=6 {
        let id = hold_on(app, &clock, 1000 * i).await;
        let at = C0 + i * 3600;
        let res = app
            .post(
                &pi_path(&id, "scheduled-action"),
                json!({"type": "capture", "at": rfc3339(at)}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        scheduled.push((id, i * 1000, at));
    }
    let lapsed = hold_on(app, &clock, 500).await;

    // Twelve advances at once, to targets spread over eight days, in no particular order.
    let targets: Vec<i64> = (0..12)
        .map(|i| C0 + ((i * 7) % 12 + 1) * 16 * 3600)
        .collect();
    let last = *targets.iter().max().unwrap();
    assert_eq!(last, C0 + 8 * 86_400);
    let calls = targets
        .iter()
        .map(|to| {
            let path = format!("/v1/test-clocks/{clock}/advance");
            (path, None, Some(json!({"frozen_time": rfc3339(*to)})))
        })
        .collect();
    for (res, to) in fire(app, calls).await.into_iter().zip(&targets) {
        if res.status == 200 {
            assert_eq!(
                res.json["data"]["frozen_time"],
                rfc3339(*to),
                "{}",
                res.text
            );
        } else {
            res.assert_error(400, "TEST_CLOCK_CANNOT_MOVE_BACKWARDS", Some("frozen_time"));
        }
    }

    // However they interleaved, each due action ran once, at its moment, and the clock shows the
    // latest time any advance reached (a clock only moves forward). Every departure is collected,
    // so one run shows them all.
    let mut problems = Vec::new();
    for (id, amount, at) in &scheduled {
        let pi = app.intent(id).await;
        assert_eq!(pi["status"], "succeeded", "{pi}");
        assert_money(&pi, *amount, 0, *amount, 0);
        assert_eq!(
            app.event_types_of(id).await,
            vec![
                "payment_intent.created",
                "payment_intent.requires_capture",
                "payment_intent.succeeded"
            ]
        );
        assert_eq!(
            action_types(&app.actions_of(id).await),
            vec!["authorization", "capture"]
        );
        if pi["captured_at"] != rfc3339(*at) {
            problems.push(format!(
                "{id} scheduled for {} was captured_at {}",
                rfc3339(*at),
                pi["captured_at"]
            ));
        }
    }
    assert_eq!(
        app.event_types_of(&lapsed).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.authorization_expiring",
            "payment_intent.canceled"
        ]
    );
    let res = app.get(&format!("/v1/test-clocks/{clock}")).await;
    if res.json["data"]["frozen_time"] != rfc3339(last) {
        problems.push(format!(
            "the clock moved back to {} after advances up to {}",
            res.json["data"]["frozen_time"],
            rfc3339(last)
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
