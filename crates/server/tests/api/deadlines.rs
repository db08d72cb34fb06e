//! Deadlines end to end, on both backends: expiry (seen before any worker runs, recorded once by
//! it), capture racing expiry at the deadline, bounded and leased worker passes, scheduled captures
//! and voids, the expiring-soon warning, the operator's views (the deadline-ordered list and
//! `holdfast holds`), real background workers, and several nodes on one PostgreSQL database.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use holdfast_domain::Timestamp;
use holdfast_service::{Clock, Outcome, Settings, SystemClock};
use serde_json::{Value, json};
use tokio::sync::{Barrier, Semaphore};

use crate::both_backends;
use crate::helpers::{Backend, Database, Res, T0, TestApp, assert_money, rfc3339, usd};

both_backends!(
    expiry_is_visible_before_any_worker_runs,
    a_worker_pass_expires_every_due_hold_exactly_once,
    capture_at_the_deadline_second_wins_and_one_second_later_expiry_does,
    captures_racing_a_worker_at_the_deadline_resolve_each_hold_once,
    worker_passes_are_bounded_and_leases_keep_claims_apart,
    scheduled_action_validation,
    scheduled_capture_runs_once_when_due,
    scheduled_void_runs_once_when_due,
    scheduled_action_missed_until_past_the_deadline_gives_way_to_expiry,
    scheduled_capture_is_retried_after_a_processor_timeout_once_the_lease_ends,
    scheduled_action_is_replaced_cleared_and_dropped_by_capture_or_cancel,
    scheduled_action_at_creation_runs_an_offset_before_the_deadline,
    expiring_soon_warning_fires_once_for_open_holds_only,
    operator_list_orders_holds_by_deadline_with_a_cursor,
);

/// Tests that start their own server (workers on, other settings) or run the binary.
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await;
            }
        }
    )*};
}

per_backend!(
    background_worker_records_expiry_within_seconds,
    expiry_warning_lead_is_configurable,
    holds_command_lists_open_holds_soonest_first,
    worker_command_expires_due_holds,
);

/// The sandbox hold: seven days less one second.
const HOLD: i64 = 7 * 86_400 - 1;
/// The default lead of the expiring-soon warning.
const LEAD: i64 = 86_400;
/// The deadline of a hold placed at T0: the last second it can be captured.
const DEADLINE: i64 = T0 + HOLD;
const DEADLINE_RFC3339: &str = "2026-07-10T02:57:19Z";

fn pi_path(id: &str, action: &str) -> String {
    format!("/v1/payment-intents/{id}/{action}")
}

async fn capture(app: &TestApp, id: &str, body: Value) -> Res {
    app.post(&pi_path(id, "capture"), body).await
}

async fn cancel(app: &TestApp, id: &str, body: Value) -> Res {
    app.post(&pi_path(id, "cancel"), body).await
}

async fn schedule(app: &TestApp, id: &str, body: Value) -> Res {
    app.post(&pi_path(id, "scheduled-action"), body).await
}

/// One pass of the deadline worker, as the background worker runs it.
async fn pass(app: &TestApp, batch: u32) -> Outcome {
    app.app.run_due_once(batch).await.expect("worker pass")
}

/// Runs passes until one finds nothing due; returns how many intents they worked on.
async fn drain(app: &TestApp) -> usize {
    let mut worked = 0;
    for _ in 0..50 {
        match pass(app, 100).await {
            Outcome::Worked(n) => worked += n,
            Outcome::Idle => return worked,
        }
    }
    panic!("the worker never ran out of due work");
}

/// `n` holds of `amount`, placed concurrently at the clock's current time, in no given order.
async fn holds(app: &TestApp, n: usize, amount: i64) -> Vec<String> {
    let remote = app.remote();
    let gate = Arc::new(Semaphore::new(8));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let remote = remote.clone();
            let gate = Arc::clone(&gate);
            tokio::spawn(async move {
                let _permit = gate.acquire().await.expect("semaphore");
                let body = json!({"amount_money": usd(amount), "capture_method": "manual"});
                let res = remote.post("/v1/payment-intents", None, Some(&body)).await;
                assert_eq!(res.status, 201, "{}", res.text);
                let id = res.json["data"]["payment_intent"]["payment_intent_id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let res = remote
                    .post(
                        &format!("/v1/payment-intents/{id}/confirm"),
                        None,
                        Some(&json!({"payment_source_token": "pm_card_visa"})),
                    )
                    .await;
                assert_eq!(res.status, 200, "{}", res.text);
                assert_eq!(res.json["data"]["status"], "requires_capture");
                id
            })
        })
        .collect();
    let mut ids = Vec::with_capacity(n);
    for task in tasks {
        ids.push(task.await.expect("hold task"));
    }
    ids
}

/// Every event of one type, across pages, newest first.
async fn events_of_type(app: &TestApp, kind: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let path = match &cursor {
            Some(c) => format!("/v1/events?type={kind}&limit=100&cursor={c}"),
            None => format!("/v1/events?type={kind}&limit=100"),
        };
        let res = app.get(&path).await;
        assert_eq!(res.status, 200, "{}", res.text);
        events.extend(res.json["data"].as_array().unwrap().iter().cloned());
        if res.json["has_more"] != true {
            return events;
        }
        cursor = Some(res.json["next_cursor"].as_str().unwrap().to_owned());
    }
    panic!("more than 100 pages of {kind}");
}

/// How many events of `kind` each payment intent has.
fn count_by_intent(events: &[Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for event in events {
        let id = event["data"]["object"]["payment_intent_id"]
            .as_str()
            .unwrap()
            .to_owned();
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

fn action_types(actions: &[Value]) -> Vec<String> {
    actions
        .iter()
        .map(|a| a["type"].as_str().unwrap().to_owned())
        .collect()
}

fn ids_of(res: &Res) -> Vec<String> {
    res.json["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", res.text))
        .iter()
        .map(|i| i["payment_intent_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts the single `payment_intent.canceled` event and `expiry` action expiry records.
async fn assert_recorded_expiry(app: &TestApp, id: &str, amount: i64, deadline: i64) {
    let events = app.events_of(id).await;
    let canceled: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "payment_intent.canceled")
        .collect();
    assert_eq!(canceled.len(), 1, "one canceled event for {id}: {events:?}");
    let object = &canceled[0]["data"]["object"];
    assert_eq!(object["status"], "expired", "{object}");
    assert_eq!(object["cancellation_reason"], "authorization_expired");
    assert_eq!(object["canceled_at"], rfc3339(deadline + 1));
    assert_eq!(object["authorization_expires_at"], rfc3339(deadline));
    assert_money(object, amount, 0, 0, amount);
    assert_eq!(canceled[0]["request_id"], Value::Null);
    assert!(
        !events
            .iter()
            .any(|e| e["type"] == "payment_intent.succeeded"),
        "{events:?}"
    );
    let actions = app.actions_of(id).await;
    assert_eq!(
        action_types(&actions),
        vec!["authorization", "expiry"],
        "{actions:?}"
    );
    let expiry = &actions[1];
    assert_eq!(expiry["amount_money"], usd(amount));
    assert_eq!(expiry["status"], "succeeded");
    assert_eq!(expiry["created_at"], rfc3339(deadline + 1));
    assert_eq!(expiry["reference"], Value::Null);
    assert_eq!(expiry["request_id"], Value::Null);
}

// ---- Expiry ----------------------------------------------------------------------------------

async fn expiry_is_visible_before_any_worker_runs(app: &TestApp) {
    let id = app.hold(12_900).await;
    app.clock.set(Timestamp(DEADLINE + 1));

    capture(app, &id, json!({}))
        .await
        .assert_error(400, "PAYMENT_AUTHORIZATION_EXPIRED", None);
    capture(app, &id, json!({"amount_money": usd(100)}))
        .await
        .assert_error(400, "PAYMENT_AUTHORIZATION_EXPIRED", None);
    cancel(app, &id, json!({}))
        .await
        .assert_error(400, "CANNOT_CANCEL_EXPIRED_PAYMENT", None);
    cancel(app, &id, json!({"cancellation_reason": "abandoned"}))
        .await
        .assert_error(400, "CANNOT_CANCEL_EXPIRED_PAYMENT", None);

    let before = app.intent(&id).await;
    assert_eq!(before["status"], "expired", "{before}");
    assert_eq!(before["cancellation_reason"], "authorization_expired");
    assert_eq!(before["canceled_at"], "2026-07-10T02:57:20Z");
    assert_eq!(before["captured_at"], Value::Null);
    assert_eq!(before["authorization_expires_at"], DEADLINE_RFC3339);
    assert_money(&before, 12_900, 0, 0, 12_900);
    // Nothing is recorded yet: no worker has run.
    assert_eq!(
        app.event_types_of(&id).await,
        vec!["payment_intent.created", "payment_intent.requires_capture"]
    );
    assert_eq!(
        action_types(&app.actions_of(&id).await),
        vec!["authorization"]
    );

    // Recorded a day later, the hold reads the same; only updated_at moves.
    app.clock.set(Timestamp(DEADLINE + 86_400));
    assert_eq!(pass(app, 100).await, Outcome::Worked(1));
    let after = app.intent(&id).await;
    assert_eq!(after["updated_at"], rfc3339(DEADLINE + 86_400));
    let mut expected = before.clone();
    expected["updated_at"] = after["updated_at"].clone();
    expected["version"] = json!(3);
    assert_eq!(after, expected);
    assert_recorded_expiry(app, &id, 12_900, DEADLINE).await;
    capture(app, &id, json!({}))
        .await
        .assert_error(400, "PAYMENT_AUTHORIZATION_EXPIRED", None);
    cancel(app, &id, json!({}))
        .await
        .assert_error(400, "CANNOT_CANCEL_EXPIRED_PAYMENT", None);
}

async fn a_worker_pass_expires_every_due_hold_exactly_once(app: &TestApp) {
    let due: Vec<String> = {
        let mut ids = Vec::new();
        for amount in [1000, 2000, 3000, 4000, 5000] {
            ids.push(app.hold(amount).await);
        }
        ids
    };
    let captured = app.hold(6000).await;
    assert_eq!(capture(app, &captured, json!({})).await.status, 200);
    let voided = app.hold(7000).await;
    assert_eq!(cancel(app, &voided, json!({})).await.status, 200);
    let unconfirmed = app.create_manual(8000).await;
    // Placed an hour later: its deadline is an hour after the others'.
    app.clock.set(Timestamp(T0 + 3600));
    let late = app.hold(9000).await;

    // Past the first five deadlines; `late` is within a day of its own, so its warning is due.
    app.clock.set(Timestamp(DEADLINE + 1));
    assert_eq!(pass(app, 100).await, Outcome::Worked(6));
    for _ in 0..3 {
        assert_eq!(pass(app, 100).await, Outcome::Idle);
    }
    for (id, amount) in due.iter().zip([1000, 2000, 3000, 4000, 5000]) {
        assert_eq!(
            app.event_types_of(id).await,
            vec![
                "payment_intent.created",
                "payment_intent.requires_capture",
                "payment_intent.canceled"
            ]
        );
        assert_recorded_expiry(app, id, amount, DEADLINE).await;
        let pi = app.intent(id).await;
        assert_eq!(pi["status"], "expired");
        assert_money(&pi, amount, 0, 0, amount);
    }
    assert_eq!(
        app.event_types_of(&captured).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.succeeded"
        ]
    );
    assert_eq!(app.intent(&captured).await["status"], "succeeded");
    assert_eq!(
        app.event_types_of(&voided).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.canceled"
        ]
    );
    assert_eq!(app.intent(&voided).await["status"], "canceled");
    assert_eq!(
        app.event_types_of(&unconfirmed).await,
        vec!["payment_intent.created"]
    );
    assert_eq!(
        app.event_types_of(&late).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.authorization_expiring"
        ]
    );
    assert_eq!(app.intent(&late).await["status"], "requires_capture");
    // Five expiries and one void: six canceled events in all.
    let canceled = events_of_type(app, "payment_intent.canceled").await;
    assert_eq!(canceled.len(), 6);

    // `late` at its own deadline and after.
    app.clock.set(Timestamp(DEADLINE + 3600));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    app.clock.set(Timestamp(DEADLINE + 3601));
    assert_eq!(pass(app, 100).await, Outcome::Worked(1));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    assert_recorded_expiry(app, &late, 9000, DEADLINE + 3600).await;
    let counts = count_by_intent(&events_of_type(app, "payment_intent.canceled").await);
    assert_eq!(counts.len(), 7);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
}

async fn capture_at_the_deadline_second_wins_and_one_second_later_expiry_does(app: &TestApp) {
    let on_time = app.hold(12_900).await;
    let late = app.hold(12_900).await;
    app.clock.set(Timestamp(DEADLINE - LEAD));
    assert_eq!(pass(app, 100).await, Outcome::Worked(2), "the two warnings");

    // The deadline second: the worker has nothing to expire, and capture works.
    app.clock.set(Timestamp(DEADLINE));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    let res = app.intent(&late).await;
    assert_eq!(res["status"], "requires_capture");
    assert_money(&res, 12_900, 12_900, 0, 0);
    let res = capture(app, &on_time, json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent()["status"], "succeeded");
    assert_eq!(res.intent()["captured_at"], DEADLINE_RFC3339);
    assert_money(res.intent(), 12_900, 0, 12_900, 0);

    // One second later expiry wins: capture is refused, the worker records it.
    app.clock.set(Timestamp(DEADLINE + 1));
    capture(app, &late, json!({}))
        .await
        .assert_error(400, "PAYMENT_AUTHORIZATION_EXPIRED", None);
    assert_eq!(pass(app, 100).await, Outcome::Worked(1));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    assert_recorded_expiry(app, &late, 12_900, DEADLINE).await;
    assert_eq!(
        app.event_types_of(&on_time).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.authorization_expiring",
            "payment_intent.succeeded"
        ]
    );
    assert_eq!(
        action_types(&app.actions_of(&on_time).await),
        vec!["authorization", "capture"]
    );
}

async fn captures_racing_a_worker_at_the_deadline_resolve_each_hold_once(app: &TestApp) {
    const N: usize = 40;
    let ids = holds(app, N, 10_000).await;
    app.clock.set(Timestamp(DEADLINE - LEAD));
    assert_eq!(drain(app).await, N, "the warnings");
    app.clock.set(Timestamp(DEADLINE));

    // Captures go out over ~20 ms; the clock ticks past the deadline after ~8 ms and the worker
    // runs at once, while captures are still in flight.
    let barrier = Arc::new(Barrier::new(N + 1));
    let remote = app.remote();
    let captures: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (remote, barrier, path) =
                (remote.clone(), Arc::clone(&barrier), pi_path(id, "capture"));
            tokio::spawn(async move {
                barrier.wait().await;
                tokio::time::sleep(Duration::from_millis((i % 10) as u64 * 2)).await;
                remote.post(&path, None, Some(&json!({}))).await
            })
        })
        .collect();
    let worker = {
        let (service, clock, barrier) = (
            Arc::clone(&app.app),
            Arc::clone(&app.clock),
            Arc::clone(&barrier),
        );
        tokio::spawn(async move {
            barrier.wait().await;
            tokio::time::sleep(Duration::from_millis(8)).await;
            clock.advance(1);
            for _ in 0..5 {
                service.run_due_once(100).await.expect("worker pass");
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    let mut answers = Vec::with_capacity(N);
    for task in captures {
        answers.push(task.await.expect("capture task"));
    }
    worker.await.expect("worker task");
    drain(app).await;

    let (mut captured, mut expired) = (0, 0);
    for (id, res) in ids.iter().zip(&answers) {
        let pi = app.intent(id).await;
        let types = app.event_types_of(id).await;
        let actions = action_types(&app.actions_of(id).await);
        let succeeded = types
            .iter()
            .filter(|t| *t == "payment_intent.succeeded")
            .count();
        let canceled = types
            .iter()
            .filter(|t| *t == "payment_intent.canceled")
            .count();
        assert_eq!(
            succeeded + canceled,
            1,
            "exactly one outcome for {id}: {types:?}"
        );
        if res.status == 200 {
            captured += 1;
            assert_eq!(pi["status"], "succeeded", "{pi}");
            assert_eq!(*res.intent(), pi);
            // A capture only ever succeeds at the deadline second, never after it.
            assert_eq!(pi["captured_at"], DEADLINE_RFC3339);
            assert_money(&pi, 10_000, 0, 10_000, 0);
            assert_eq!(succeeded, 1);
            assert_eq!(actions, vec!["authorization", "capture"]);
        } else {
            expired += 1;
            res.assert_error(400, "PAYMENT_AUTHORIZATION_EXPIRED", None);
            assert_eq!(pi["status"], "expired", "{pi}");
            assert_money(&pi, 10_000, 0, 0, 10_000);
            assert_eq!(canceled, 1);
            assert_eq!(actions, vec!["authorization", "expiry"]);
            assert_recorded_expiry(app, id, 10_000, DEADLINE).await;
        }
    }
    eprintln!("capture vs expiry at the deadline: {captured} captured, {expired} expired");
    assert_eq!(pass(app, 100).await, Outcome::Idle);
}

// ---- Bounded work and leases ----------------------------------------------------------------

async fn worker_passes_are_bounded_and_leases_keep_claims_apart(app: &TestApp) {
    let ids = holds(app, 120, 500).await;
    let now = DEADLINE + 1;
    app.clock.set(Timestamp(now));

    // Another worker claims 30 and goes quiet: they stay leased to it for 60 s.
    let claimed = app
        .app
        .store
        .claim_due(Timestamp(now), Timestamp(now + 60), 30)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 30);
    let all: BTreeSet<&String> = ids.iter().collect();
    let leased: BTreeSet<String> = claimed.iter().map(|i| i.id.clone()).collect();
    assert_eq!(leased.len(), 30);
    assert!(leased.iter().all(|id| all.contains(id)));

    assert_eq!(pass(app, 50).await, Outcome::Worked(50));
    assert_eq!(pass(app, 50).await, Outcome::Worked(40));
    assert_eq!(pass(app, 50).await, Outcome::Idle);
    let counts = count_by_intent(&events_of_type(app, "payment_intent.canceled").await);
    assert_eq!(counts.len(), 90);
    assert!(
        counts.keys().all(|id| !leased.contains(id)),
        "a leased intent was worked"
    );

    // At lease_until the lease still holds; one second later the intents are claimable again.
    app.clock.set(Timestamp(now + 60));
    assert_eq!(pass(app, 50).await, Outcome::Idle);
    app.clock.set(Timestamp(now + 61));
    assert_eq!(pass(app, 50).await, Outcome::Worked(30));
    assert_eq!(pass(app, 50).await, Outcome::Idle);

    let counts = count_by_intent(&events_of_type(app, "payment_intent.canceled").await);
    assert_eq!(counts.len(), 120);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    let expired: BTreeSet<&String> = counts.keys().collect();
    assert_eq!(expired, all);
}

// ---- Scheduled actions ----------------------------------------------------------------------

async fn scheduled_action_validation(app: &TestApp) {
    let id = app.hold(10_000).await;
    let before = app.intent(&id).await;
    let refusals: Vec<(Value, &str, Option<&str>)> = vec![
        (
            json!({"type": "capture", "at": rfc3339(T0 - 1)}),
            "INVALID_PARAMETER",
            Some("at"),
        ),
        (
            json!({"type": "capture", "at": rfc3339(T0)}),
            "INVALID_PARAMETER",
            Some("at"),
        ),
        (
            json!({"type": "void", "at": "tomorrow"}),
            "INVALID_PARAMETER",
            Some("at"),
        ),
        (
            json!({"type": "capture", "at": DEADLINE_RFC3339}),
            "SCHEDULED_ACTION_AFTER_EXPIRY",
            Some("at"),
        ),
        (
            json!({"type": "void", "at": rfc3339(DEADLINE + 3600)}),
            "SCHEDULED_ACTION_AFTER_EXPIRY",
            Some("at"),
        ),
        (
            json!({"type": "void", "at": rfc3339(T0 + 60), "amount_money": usd(100)}),
            "INVALID_PARAMETER",
            Some("amount_money"),
        ),
        (
            json!({"type": "capture", "at": rfc3339(T0 + 60), "amount_money": usd(10_001)}),
            "CAPTURE_AMOUNT_EXCEEDS_AUTHORIZED",
            Some("amount_money.amount"),
        ),
        (
            json!({"type": "refund", "at": rfc3339(T0 + 60)}),
            "INVALID_PARAMETER",
            Some("type"),
        ),
    ];
    for (body, code, param) in refusals {
        let res = schedule(app, &id, body.clone()).await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
        res.assert_error(400, code, param);
    }
    assert_eq!(app.intent(&id).await, before, "refusals change nothing");
    schedule(
        app,
        "pi_unknown",
        json!({"type": "void", "at": rfc3339(T0 + 60)}),
    )
    .await
    .assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);

    // The last second before the deadline is accepted, and so is the whole hold.
    let res = schedule(
        app,
        &id,
        json!({"type": "capture", "at": rfc3339(DEADLINE - 1), "amount_money": usd(10_000)}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let expected = json!({"type": "capture", "at": rfc3339(DEADLINE - 1),
                          "amount_money": usd(10_000), "offset_before_expiry_seconds": null});
    assert_eq!(res.intent()["scheduled_action"], expected);
    assert_eq!(res.intent()["status"], "requires_capture");
    assert_eq!(app.intent(&id).await, *res.intent());
    // Setting a schedule is not a state change: no event.
    assert_eq!(
        app.event_types_of(&id).await,
        vec!["payment_intent.created", "payment_intent.requires_capture"]
    );

    // Resolved intents take no schedule: captured, canceled, expired (recorded or not).
    let at = json!({"type": "void", "at": rfc3339(T0 + 60)});
    assert_eq!(capture(app, &id, json!({})).await.status, 200);
    schedule(app, &id, at.clone()).await.assert_error(
        400,
        "INVALID_STATUS_FOR_SCHEDULED_ACTION",
        None,
    );
    let canceled = app.hold(10_000).await;
    assert_eq!(cancel(app, &canceled, json!({})).await.status, 200);
    schedule(app, &canceled, at.clone()).await.assert_error(
        400,
        "INVALID_STATUS_FOR_SCHEDULED_ACTION",
        None,
    );
    let lapsed = app.hold(10_000).await;
    app.clock.set(Timestamp(DEADLINE + 1));
    let at = json!({"type": "void", "at": rfc3339(DEADLINE + 60)});
    schedule(app, &lapsed, at.clone()).await.assert_error(
        400,
        "INVALID_STATUS_FOR_SCHEDULED_ACTION",
        None,
    );
    drain(app).await;
    schedule(app, &lapsed, at)
        .await
        .assert_error(400, "INVALID_STATUS_FOR_SCHEDULED_ACTION", None);
}

async fn scheduled_capture_runs_once_when_due(app: &TestApp) {
    let id = app.hold(10_000).await;
    let at = T0 + 3600;
    let res = schedule(
        app,
        &id,
        json!({"type": "capture", "at": rfc3339(at), "amount_money": usd(6000)}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);

    app.clock.set(Timestamp(at - 1));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    assert_eq!(app.intent(&id).await["status"], "requires_capture");

    app.clock.set(Timestamp(at));
    assert_eq!(pass(app, 100).await, Outcome::Worked(1));
    let pi = app.intent(&id).await;
    assert_eq!(pi["status"], "succeeded", "{pi}");
    assert_money(&pi, 10_000, 0, 6000, 4000);
    assert_eq!(pi["amount_money"], usd(6000));
    assert_eq!(pi["captured_at"], rfc3339(at));
    assert_eq!(pi["updated_at"], rfc3339(at));
    assert_eq!(pi["scheduled_action"], Value::Null);
    // Exactly what a capture through the API records: one succeeded event, one capture action.
    let events = app.events_of(&id).await;
    let types: Vec<_> = events.iter().map(|e| e["type"].clone()).collect();
    assert_eq!(
        types,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.succeeded"
        ]
    );
    assert_eq!(events[2]["data"]["object"], pi);
    assert_eq!(events[2]["created_at"], rfc3339(at));
    assert_eq!(events[2]["request_id"], Value::Null);
    let actions = app.actions_of(&id).await;
    assert_eq!(action_types(&actions), vec!["authorization", "capture"]);
    assert_eq!(actions[1]["amount_money"], usd(6000));
    assert_eq!(actions[1]["status"], "succeeded");
    assert_eq!(actions[1]["reference"], "scheduled");
    assert_eq!(actions[1]["created_at"], rfc3339(at));
    assert_eq!(actions[1]["request_id"], Value::Null);

    // Once: later passes, even past the deadline, find nothing.
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    app.clock.set(Timestamp(DEADLINE + 1));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    assert_eq!(app.events_of(&id).await.len(), 3);
    assert_eq!(app.intent(&id).await, pi);
}

async fn scheduled_void_runs_once_when_due(app: &TestApp) {
    let id = app.hold(10_000).await;
    let at = T0 + 2 * 86_400;
    let res = schedule(app, &id, json!({"type": "void", "at": rfc3339(at)})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.intent()["scheduled_action"],
        json!({"type": "void", "at": rfc3339(at), "amount_money": null,
               "offset_before_expiry_seconds": null})
    );

    app.clock.set(Timestamp(at - 1));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    app.clock.set(Timestamp(at + 5));
    assert_eq!(pass(app, 100).await, Outcome::Worked(1));
    let pi = app.intent(&id).await;
    assert_eq!(pi["status"], "canceled", "{pi}");
    assert_money(&pi, 10_000, 0, 0, 10_000);
    assert_eq!(pi["cancellation_reason"], Value::Null);
    assert_eq!(pi["canceled_at"], rfc3339(at + 5));
    assert_eq!(pi["scheduled_action"], Value::Null);
    let events = app.events_of(&id).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[2]["type"], "payment_intent.canceled");
    assert_eq!(events[2]["data"]["object"], pi);
    let actions = app.actions_of(&id).await;
    assert_eq!(action_types(&actions), vec!["authorization", "void"]);
    assert_eq!(actions[1]["amount_money"], usd(10_000));
    assert_eq!(actions[1]["reference"], "scheduled");
    assert_eq!(actions[1]["created_at"], rfc3339(at + 5));

    assert_eq!(pass(app, 100).await, Outcome::Idle);
    app.clock.set(Timestamp(DEADLINE + 1));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    assert_eq!(app.events_of(&id).await.len(), 3);
    assert_eq!(app.intent(&id).await, pi);
}

/// A scheduled capture the worker did not get to before the deadline cannot run after it: the
/// hold expires instead, like a capture through the API would be refused.
async fn scheduled_action_missed_until_past_the_deadline_gives_way_to_expiry(app: &TestApp) {
    let id = app.hold(10_000).await;
    let res = schedule(
        app,
        &id,
        json!({"type": "capture", "at": rfc3339(T0 + 3600)}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    // The worker was down from before the schedule until past the deadline.
    app.clock.set(Timestamp(DEADLINE + 1));
    assert_eq!(pass(app, 100).await, Outcome::Worked(1));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    let pi = app.intent(&id).await;
    assert_eq!(pi["status"], "expired", "{pi}");
    assert_eq!(pi["captured_at"], Value::Null);
    assert_eq!(pi["scheduled_action"], Value::Null);
    assert_money(&pi, 10_000, 0, 0, 10_000);
    assert_eq!(
        app.event_types_of(&id).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.canceled"
        ]
    );
    assert_recorded_expiry(app, &id, 10_000, DEADLINE).await;
}

/// The processor times out on a scheduled capture: nothing is recorded, the intent stays leased
/// to the worker that tried, and the next pass after the lease captures it, once.
async fn scheduled_capture_is_retried_after_a_processor_timeout_once_the_lease_ends(app: &TestApp) {
    let id = app.hold_with(10_000, "pm_card_captureTimeoutOnce").await;
    let at = T0 + 60;
    let res = schedule(app, &id, json!({"type": "capture", "at": rfc3339(at)})).await;
    assert_eq!(res.status, 200, "{}", res.text);

    app.clock.set(Timestamp(at));
    assert_eq!(pass(app, 100).await, Outcome::Worked(1));
    let pi = app.intent(&id).await;
    assert_eq!(pi["status"], "requires_capture", "{pi}");
    assert_money(&pi, 10_000, 10_000, 0, 0);
    assert_eq!(pi["scheduled_action"]["at"], rfc3339(at));
    assert_eq!(app.events_of(&id).await.len(), 2);
    // Leased for 60 s to the worker whose attempt failed.
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    app.clock.set(Timestamp(at + 60));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    app.clock.set(Timestamp(at + 61));
    assert_eq!(pass(app, 100).await, Outcome::Worked(1));
    let pi = app.intent(&id).await;
    assert_eq!(pi["status"], "succeeded", "{pi}");
    assert_money(&pi, 10_000, 0, 10_000, 0);
    assert_eq!(pi["captured_at"], rfc3339(at + 61));
    assert_eq!(pi["scheduled_action"], Value::Null);
    assert_eq!(
        app.event_types_of(&id).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.succeeded"
        ]
    );
    let actions = app.actions_of(&id).await;
    assert_eq!(action_types(&actions), vec!["authorization", "capture"]);
    assert_eq!(actions[1]["reference"], "scheduled");
    assert_eq!(pass(app, 100).await, Outcome::Idle);
}

async fn scheduled_action_is_replaced_cleared_and_dropped_by_capture_or_cancel(app: &TestApp) {
    let replaced = app.hold(1000).await;
    let cleared = app.hold(2000).await;
    let captured = app.hold(3000).await;
    let canceled = app.hold(4000).await;
    let capture_at = |id: &str| {
        let id = id.to_owned();
        async move {
            let res = schedule(
                app,
                &id,
                json!({"type": "capture", "at": rfc3339(T0 + 100)}),
            )
            .await;
            assert_eq!(res.status, 200, "{}", res.text);
        }
    };
    for id in [&replaced, &cleared, &captured, &canceled] {
        capture_at(id).await;
    }

    // Replaced: the void at T0 + 200 stands, the capture at T0 + 100 is gone.
    let res = schedule(
        app,
        &replaced,
        json!({"type": "void", "at": rfc3339(T0 + 200)}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.intent()["scheduled_action"],
        json!({"type": "void", "at": rfc3339(T0 + 200), "amount_money": null,
               "offset_before_expiry_seconds": null})
    );
    // Cleared, twice: the second DELETE finds nothing and answers the same.
    for _ in 0..2 {
        let res = app.delete(&pi_path(&cleared, "scheduled-action")).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.intent()["scheduled_action"], Value::Null);
        assert_eq!(res.intent()["status"], "requires_capture");
    }
    // A capture or cancel through the API clears the schedule first.
    let res = capture(app, &captured, json!({"amount_money": usd(1000)})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent()["scheduled_action"], Value::Null);
    let res = cancel(app, &canceled, json!({"cancellation_reason": "abandoned"})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent()["scheduled_action"], Value::Null);
    let snapshot = [
        app.intent(&cleared).await,
        app.intent(&captured).await,
        app.intent(&canceled).await,
    ];

    app.clock.set(Timestamp(T0 + 100));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    assert_eq!(app.intent(&replaced).await["status"], "requires_capture");
    app.clock.set(Timestamp(T0 + 200));
    assert_eq!(pass(app, 100).await, Outcome::Worked(1));
    let pi = app.intent(&replaced).await;
    assert_eq!(pi["status"], "canceled", "{pi}");
    assert_money(&pi, 1000, 0, 0, 1000);
    assert_eq!(
        action_types(&app.actions_of(&replaced).await),
        vec!["authorization", "void"]
    );
    assert_eq!(pass(app, 100).await, Outcome::Idle);

    // The others were left alone.
    let now = [
        app.intent(&cleared).await,
        app.intent(&captured).await,
        app.intent(&canceled).await,
    ];
    assert_eq!(now, snapshot);
    assert_eq!(
        app.event_types_of(&cleared).await,
        vec!["payment_intent.created", "payment_intent.requires_capture"]
    );
    let actions = app.actions_of(&captured).await;
    assert_eq!(action_types(&actions), vec!["authorization", "capture"]);
    assert_eq!(actions[1]["reference"], Value::Null);
    assert_eq!(actions[1]["amount_money"], usd(1000));
    assert_eq!(
        action_types(&app.actions_of(&canceled).await),
        vec!["authorization", "void"]
    );
    assert_eq!(app.event_types_of(&canceled).await.len(), 3);
}

async fn scheduled_action_at_creation_runs_an_offset_before_the_deadline(app: &TestApp) {
    let create = |body: Value| app.post("/v1/payment-intents", body);
    // Refused shapes first.
    create(json!({"amount_money": usd(100), "capture_method": "manual",
                  "scheduled_action": {"type": "capture", "offset_before_expiry_seconds": 0}}))
    .await
    .assert_error(
        400,
        "INVALID_PARAMETER",
        Some("scheduled_action.offset_before_expiry_seconds"),
    );
    create(json!({"amount_money": usd(100), "capture_method": "manual",
                  "scheduled_action": {"type": "refund", "offset_before_expiry_seconds": 60}}))
    .await
    .assert_error(400, "INVALID_PARAMETER", Some("scheduled_action.type"));
    create(json!({"amount_money": usd(100),
                  "scheduled_action": {"type": "capture", "offset_before_expiry_seconds": 60}}))
    .await
    .assert_error(400, "INVALID_PARAMETER", Some("scheduled_action"));

    let res = create(json!({"amount_money": usd(12_900), "capture_method": "manual",
                            "scheduled_action": {"type": "capture", "offset_before_expiry_seconds": 3600}}))
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let pi = &res.json["data"]["payment_intent"];
    assert_eq!(
        pi["scheduled_action"],
        json!({"type": "capture", "at": null, "amount_money": null,
               "offset_before_expiry_seconds": 3600})
    );
    let id = pi["payment_intent_id"].as_str().unwrap().to_owned();
    // Before confirm there is no deadline, so nothing is ever due.
    app.clock.set(Timestamp(T0 + 600));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    app.clock.set(Timestamp(T0));
    let res = app
        .post(
            &pi_path(&id, "confirm"),
            json!({"payment_source_token": "pm_card_visa"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let at = DEADLINE - 3600;
    assert_eq!(rfc3339(at), "2026-07-10T01:57:19Z");
    assert_eq!(
        res.intent()["scheduled_action"],
        json!({"type": "capture", "at": "2026-07-10T01:57:19Z", "amount_money": null,
               "offset_before_expiry_seconds": 3600})
    );

    app.clock.set(Timestamp(DEADLINE - LEAD));
    assert_eq!(pass(app, 100).await, Outcome::Worked(1), "the warning");
    app.clock.set(Timestamp(at - 1));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    app.clock.set(Timestamp(at));
    assert_eq!(pass(app, 100).await, Outcome::Worked(1));
    let pi = app.intent(&id).await;
    assert_eq!(pi["status"], "succeeded", "{pi}");
    assert_money(&pi, 12_900, 0, 12_900, 0);
    assert_eq!(pi["captured_at"], "2026-07-10T01:57:19Z");
    assert_eq!(pi["scheduled_action"], Value::Null);
    let actions = app.actions_of(&id).await;
    assert_eq!(action_types(&actions), vec!["authorization", "capture"]);
    assert_eq!(actions[1]["reference"], "scheduled");
    assert_eq!(
        app.event_types_of(&id).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.authorization_expiring",
            "payment_intent.succeeded"
        ]
    );
    app.clock.set(Timestamp(DEADLINE + 1));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
}

// ---- The expiring-soon warning --------------------------------------------------------------

async fn expiring_soon_warning_fires_once_for_open_holds_only(app: &TestApp) {
    let open = app.hold(12_900).await;
    let captured = app.hold(1000).await;
    let voided = app.hold(2000).await;
    app.clock.set(Timestamp(T0 + 10));
    assert_eq!(capture(app, &captured, json!({})).await.status, 200);
    assert_eq!(cancel(app, &voided, json!({})).await.status, 200);
    app.clock.set(Timestamp(T0 + 7200));
    let later = app.hold(3000).await;

    let warn_at = DEADLINE - LEAD;
    assert_eq!(rfc3339(warn_at), "2026-07-09T02:57:19Z");
    app.clock.set(Timestamp(warn_at - 1));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    app.clock.set(Timestamp(warn_at));
    assert_eq!(pass(app, 100).await, Outcome::Worked(1));
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    let events = app.events_of(&open).await;
    assert_eq!(events.len(), 3, "{events:?}");
    let warning = &events[2];
    assert_eq!(warning["type"], "payment_intent.authorization_expiring");
    assert_eq!(warning["created_at"], rfc3339(warn_at));
    assert_eq!(warning["request_id"], Value::Null);
    let object = &warning["data"]["object"];
    assert_eq!(object["payment_intent_id"], open.as_str());
    assert_eq!(object["status"], "requires_capture");
    assert_eq!(object["authorization_expires_at"], DEADLINE_RFC3339);
    assert_money(object, 12_900, 12_900, 0, 0);
    // The warning is a message, not a state change.
    let pi = app.intent(&open).await;
    assert_eq!(pi["status"], "requires_capture");
    assert_money(&pi, 12_900, 12_900, 0, 0);

    app.clock.set(Timestamp(warn_at + 7200));
    assert_eq!(
        pass(app, 100).await,
        Outcome::Worked(1),
        "the later hold's warning"
    );
    assert_eq!(pass(app, 100).await, Outcome::Idle);
    let object = &app.events_of(&later).await[2]["data"]["object"];
    assert_eq!(object["authorization_expires_at"], rfc3339(DEADLINE + 7200));

    // Past the deadline: expiry, and no second warning.
    app.clock.set(Timestamp(DEADLINE + 1));
    assert_eq!(pass(app, 100).await, Outcome::Worked(1));
    assert_eq!(
        app.event_types_of(&open).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.authorization_expiring",
            "payment_intent.canceled"
        ]
    );
    for id in [&captured, &voided] {
        let types = app.event_types_of(id).await;
        assert!(
            !types.contains(&"payment_intent.authorization_expiring".to_owned()),
            "{types:?}"
        );
    }
    let warnings =
        count_by_intent(&events_of_type(app, "payment_intent.authorization_expiring").await);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(warnings.get(&open), Some(&1));
    assert_eq!(warnings.get(&later), Some(&1));

    // A warning whose moment passed with the hold (the worker was down) is not sent late.
    app.clock.set(Timestamp(T0 + 30 * 86_400));
    let missed = app.hold(500).await;
    app.clock.set(Timestamp(T0 + 30 * 86_400 + HOLD + 1));
    assert_eq!(
        pass(app, 100).await,
        Outcome::Worked(2),
        "`later` and `missed` expire"
    );
    assert_eq!(
        app.event_types_of(&missed).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.canceled"
        ]
    );
}

async fn expiry_warning_lead_is_configurable(backend: Backend) {
    let Some(db) = Database::for_backend(backend).await else {
        return;
    };
    let options = holdfast::Options {
        settings: Settings {
            expiry_warning_lead_seconds: 3600,
            ..Settings::default()
        },
        without_workers: true,
        ..holdfast::Options::default()
    };
    let app = TestApp::start_with(backend, db, options).await;
    let id = app.hold(12_900).await;
    app.clock.set(Timestamp(DEADLINE - LEAD));
    assert_eq!(pass(&app, 100).await, Outcome::Idle);
    app.clock.set(Timestamp(DEADLINE - 3601));
    assert_eq!(pass(&app, 100).await, Outcome::Idle);
    app.clock.set(Timestamp(DEADLINE - 3600));
    assert_eq!(pass(&app, 100).await, Outcome::Worked(1));
    let events = app.events_of(&id).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[2]["type"], "payment_intent.authorization_expiring");
    assert_eq!(events[2]["created_at"], "2026-07-10T01:57:19Z");
    assert_eq!(pass(&app, 100).await, Outcome::Idle);
}

// ---- The operator's views -------------------------------------------------------------------

async fn operator_list_orders_holds_by_deadline_with_a_cursor(app: &TestApp) {
    // Created in one order, confirmed in another: the deadline order is the confirm order.
    let mut created = Vec::new();
    for amount in [100, 200, 300, 400, 500, 600, 700] {
        created.push(app.create_manual(amount).await);
    }
    let [p1, p2, p3, p4, p5, p6, p7] = <[String; 7]>::try_from(created).unwrap();
    for (id, offset) in [
        (&p3, 10),
        (&p1, 20),
        (&p5, 30),
        (&p2, 40),
        (&p4, 50),
        (&p6, 60),
    ] {
        app.clock.set(Timestamp(T0 + offset));
        let res = app
            .post(
                &pi_path(id, "confirm"),
                json!({"payment_source_token": "pm_card_visa"}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(
            res.intent()["authorization_expires_at"],
            rfc3339(DEADLINE + offset)
        );
    }
    // Captured: no longer an open hold.
    assert_eq!(capture(app, &p6, json!({})).await.status, 200);
    // An hour later: outside the window asked for below.
    app.clock.set(Timestamp(T0 + 3600));
    let res = app
        .post(
            &pi_path(&p7, "confirm"),
            json!({"payment_source_token": "pm_card_visa"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);

    let query = format!(
        "/v1/payment-intents?status=requires_capture&expires_before={}&order=authorization_expires_at",
        rfc3339(DEADLINE + 100)
    );
    let res = app.get(&query).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        ids_of(&res),
        vec![
            p3.as_str(),
            p1.as_str(),
            p5.as_str(),
            p2.as_str(),
            p4.as_str()
        ]
    );
    assert_eq!(res.json["has_more"], false);
    assert_eq!(res.json["next_cursor"], Value::Null);
    let deadlines: Vec<_> = res.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pi| pi["authorization_expires_at"].clone())
        .collect();
    assert_eq!(
        deadlines,
        [10, 20, 30, 40, 50]
            .iter()
            .map(|o| json!(rfc3339(DEADLINE + o)))
            .collect::<Vec<_>>()
    );

    // Two at a time, following the cursor.
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let path = match &cursor {
            Some(c) => format!("{query}&limit=2&cursor={c}"),
            None => format!("{query}&limit=2"),
        };
        let res = app.get(&path).await;
        assert_eq!(res.status, 200, "{}", res.text);
        let ids = ids_of(&res);
        let more = res.json["has_more"] == true;
        if more {
            assert_eq!(res.json["next_cursor"], ids.last().unwrap().as_str());
        } else {
            assert_eq!(res.json["next_cursor"], Value::Null);
        }
        pages.push(ids);
        if !more {
            break;
        }
        cursor = Some(res.json["next_cursor"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        pages,
        vec![
            vec![p3.clone(), p1.clone()],
            vec![p5.clone(), p2.clone()],
            vec![p4.clone()]
        ]
    );

    // Without the window, the later hold comes last; the captured one is not open.
    let res = app
        .get("/v1/payment-intents?status=requires_capture&order=authorization_expires_at")
        .await;
    assert_eq!(
        ids_of(&res),
        vec![
            p3.as_str(),
            p1.as_str(),
            p5.as_str(),
            p2.as_str(),
            p4.as_str(),
            p7.as_str()
        ]
    );
    // The default order is still newest first.
    let res = app
        .get("/v1/payment-intents?status=requires_capture&order=created_at")
        .await;
    assert_eq!(
        ids_of(&res),
        vec![
            p7.as_str(),
            p5.as_str(),
            p4.as_str(),
            p3.as_str(),
            p2.as_str(),
            p1.as_str()
        ]
    );
    let res = app.get("/v1/payment-intents?status=requires_capture").await;
    assert_eq!(
        ids_of(&res),
        vec![
            p7.as_str(),
            p5.as_str(),
            p4.as_str(),
            p3.as_str(),
            p2.as_str(),
            p1.as_str()
        ]
    );

    app.get("/v1/payment-intents?order=bogus")
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("order"));
    app.get("/v1/payment-intents?order=authorization_expires_at&expires_before=soon")
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("expires_before"));
}

async fn holds_command_lists_open_holds_soonest_first(backend: Backend) {
    let Some(db) = Database::for_backend(backend).await else {
        return;
    };
    let app = TestApp::start(backend, db).await;
    // The command reads the system clock, so the holds are placed relative to it.
    let real = SystemClock.now().seconds();
    let place = |deadline_in: i64| {
        app.clock.set(Timestamp(real + deadline_in - HOLD));
        app.hold(12_900)
    };
    let in_1h = place(3600).await;
    let in_10m = place(600).await;
    let in_20h = place(20 * 3600).await;
    let in_7d = place(HOLD).await;
    let captured = place(1800).await;
    assert_eq!(capture(&app, &captured, json!({})).await.status, 200);
    let scheduled_at = real + 3600 - 60;
    let res = schedule(
        &app,
        &in_1h,
        json!({"type": "capture", "at": rfc3339(scheduled_at)}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);

    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_holdfast"))
            .args(args)
            .arg("--database-url")
            .arg(&app.db.url)
            .env("HOLDFAST_LOG", "warn")
            .output()
            .expect("run holdfast");
        assert!(
            output.status.success(),
            "stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let listed = |stdout: &str| -> Vec<String> {
        let lines: Vec<&str> = stdout.lines().collect();
        assert!(lines[0].starts_with("PAYMENT INTENT"), "{stdout}");
        lines[1..lines.len() - 1]
            .iter()
            .map(|l| l.split_whitespace().next().unwrap().to_owned())
            .collect()
    };

    let stdout = run(&["holds", "--expiring-within", "24h"]);
    assert_eq!(
        listed(&stdout),
        vec![in_10m.as_str(), in_1h.as_str(), in_20h.as_str()],
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("3 open hold(s)"), "{stdout}");
    for line in stdout.lines().skip(1).take(3) {
        assert!(line.contains(&app.merchant_id), "{line}");
        assert!(line.contains(" test "), "{line}");
        assert!(line.contains("12900 USD"), "{line}");
    }
    let row = |id: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap()
            .to_owned()
    };
    assert!(row(&in_10m).contains(&rfc3339(real + 600)), "{stdout}");
    assert!(
        row(&in_1h).contains(&format!("capture at {}", rfc3339(scheduled_at))),
        "{stdout}"
    );
    assert!(row(&in_20h).trim_end().ends_with(" -"), "{stdout}");

    let stdout = run(&["holds"]);
    assert_eq!(
        listed(&stdout),
        vec![
            in_10m.as_str(),
            in_1h.as_str(),
            in_20h.as_str(),
            in_7d.as_str()
        ],
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("4 open hold(s)"), "{stdout}");

    let stdout = run(&["holds", "--expiring-within", "5m"]);
    assert_eq!(listed(&stdout), Vec::<String>::new(), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("0 open hold(s)"), "{stdout}");
}

// ---- Real workers ---------------------------------------------------------------------------

async fn background_worker_records_expiry_within_seconds(backend: Backend) {
    let Some(db) = Database::for_backend(backend).await else {
        return;
    };
    let options = holdfast::Options {
        without_workers: false,
        ..holdfast::Options::default()
    };
    let app = TestApp::start_with(backend, db, options).await;
    let id = app.hold(12_900).await;
    let path = format!("/v1/events?type=payment_intent.canceled&payment_intent_id={id}");
    // The worker is running; nothing is due yet.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let res = app.get(&path).await;
    assert_eq!(res.json["data"], json!([]), "{}", res.text);

    app.clock.set(Timestamp(DEADLINE + 1));
    let started = std::time::Instant::now();
    let mut recorded = false;
    while started.elapsed() < Duration::from_secs(5) {
        let res = app.get(&path).await;
        assert_eq!(res.status, 200, "{}", res.text);
        if !res.json["data"].as_array().unwrap().is_empty() {
            recorded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        recorded,
        "the background worker did not record the expiry within 5 s"
    );
    eprintln!(
        "expiry recorded {:?} after the deadline passed",
        started.elapsed()
    );
    // Later polls of the worker do not record it again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_recorded_expiry(&app, &id, 12_900, DEADLINE).await;
    assert_eq!(
        app.event_types_of(&id).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.canceled"
        ]
    );
}

/// A child process, killed (by its own handle) when the test ends, pass or fail.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `holdfast worker` as its own process beside the API server: it reads the system clock, so the
/// harness's holds placed at T0 (July 2026) are long due to it, and a hold placed now is not.
async fn worker_command_expires_due_holds(backend: Backend) {
    let Some(db) = Database::for_backend(backend).await else {
        return;
    };
    let app = TestApp::start(backend, db).await;
    let due = holds(&app, 3, 4200).await;
    let res = app
        .post("/v1/test-clocks", json!({"frozen_time": rfc3339(T0)}))
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let clock = res.json["data"]["test_clock_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            "/v1/payment-intents",
            json!({"amount_money": usd(100), "capture_method": "manual", "test_clock": clock}),
        )
        .await;
    let on_clock = res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            &pi_path(&on_clock, "confirm"),
            json!({"payment_source_token": "pm_card_visa"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    app.clock.set(SystemClock.now());
    let fresh = app.hold(300).await;

    let _worker = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_holdfast"))
            .args(["worker", "--database-url", &app.db.url])
            // A key of the test's own: never a key file in the working directory.
            .args([
                "--secrets-key",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ])
            .env("HOLDFAST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start holdfast worker"),
    );
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if events_of_type(&app, "payment_intent.canceled").await.len() >= due.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give it a few more passes: nothing is recorded twice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let counts = count_by_intent(&events_of_type(&app, "payment_intent.canceled").await);
    assert_eq!(
        counts.keys().collect::<BTreeSet<_>>(),
        due.iter().collect::<BTreeSet<_>>(),
        "only the due holds expire, within 10 s"
    );
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    for id in &due {
        assert_recorded_expiry(&app, id, 4200, DEADLINE).await;
    }
    for id in [&fresh, &on_clock] {
        assert_eq!(
            app.event_types_of(id).await,
            vec!["payment_intent.created", "payment_intent.requires_capture"]
        );
        assert_eq!(app.intent(id).await["status"], "requires_capture");
    }
}

// ---- Several nodes on one PostgreSQL database -----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_postgres_expire_each_of_1000_holds_once() {
    const N: usize = 1000;
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    let ids = holds(&app, N, 1000).await;
    app.clock.set(Timestamp(DEADLINE + 1));
    let clock: Arc<dyn Clock> = app.clock.clone();
    let other = holdfast::build(&app.db.url, clock, Settings::default())
        .await
        .expect("second node");
    let nodes = [Arc::clone(&app.app), other];
    // Two workers per node, released together.
    let barrier = Arc::new(Barrier::new(2 * nodes.len()));
    let workers: Vec<_> = nodes
        .iter()
        .chain(nodes.iter())
        .map(|node| {
            let (node, barrier) = (Arc::clone(node), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                let mut worked = 0;
                for _ in 0..1000 {
                    match node.run_due_once(50).await.expect("worker pass") {
                        Outcome::Worked(n) => worked += n,
                        Outcome::Idle => return worked,
                    }
                }
                panic!("the worker never ran out of due work");
            })
        })
        .collect();
    assert_eq!(workers.len(), 4);
    let mut claimed = 0;
    for worker in workers {
        claimed += worker.await.expect("worker task");
    }
    // Each hold was claimed once, by one node, and finished in that visit.
    assert_eq!(claimed, N);
    assert_eq!(nodes[0].run_due_once(50).await.unwrap(), Outcome::Idle);
    assert_eq!(nodes[1].run_due_once(50).await.unwrap(), Outcome::Idle);

    let canceled = events_of_type(&app, "payment_intent.canceled").await;
    assert_eq!(canceled.len(), N);
    let counts = count_by_intent(&canceled);
    let expected: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(counts.keys().collect::<BTreeSet<_>>(), expected);
    assert!(counts.values().all(|n| *n == 1));

    // And one expiry action each, written once (created, confirmed, expired: version 3).
    let scope = holdfast_domain::Scope {
        merchant_id: app.merchant_id.clone(),
        livemode: false,
    };
    let mut seen = 0;
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let filter = holdfast_store::IntentFilter {
            status: None,
            capture_method: None,
            created_after: None,
            created_before: None,
            expires_before: None,
            order: holdfast_store::IntentOrder::CreatedDesc,
            now: Timestamp(DEADLINE + 1),
            page: holdfast_store::PageRequest {
                limit: 100,
                cursor: cursor.clone(),
            },
        };
        let page = app.app.store.list_intents(&scope, &filter).await.unwrap();
        for pi in &page.data {
            seen += 1;
            assert_eq!(
                pi.status,
                holdfast_domain::intent::Status::Expired,
                "{}",
                pi.id
            );
            assert_eq!(pi.version, 3, "{}", pi.id);
            let expiries = pi
                .actions
                .iter()
                .filter(|a| a.kind == holdfast_domain::intent::ActionType::Expiry)
                .count();
            assert_eq!(expiries, 1, "{}", pi.id);
            assert!(pi.money_invariant_holds(), "{}", pi.id);
        }
        if !page.has_more {
            break;
        }
        cursor = page.next_cursor;
    }
    assert_eq!(seen, N);
}
