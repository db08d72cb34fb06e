//! Refunds end to end, on both backends: `POST /v1/refunds` (full, partial, refused with the exact
//! code and parameter), retrieval and listing, the intent's `refunded_amount_money` and refund
//! actions, order-linked refunds, the refund-failing sandbox card, events, idempotent replays and
//! races that must never refund more than was captured.
//!
//! Pending refunds: the sandbox answers every refund call at once, and these tests never write to
//! the store behind the API's back, so there is no deterministic way to make one. The only pending
//! refunds the API yields are those a 503 under contention leaves behind;
//! `contended_refunds_settle_at_the_capture_after_retries_and_the_worker` has the worker
//! (`resolve_stale_refunds_once`) resolve whatever the race left pending, if anything.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Remote, Res, T0, TestApp, assert_money, fire_on, rfc3339, usd};

both_backends!(
    full_refund_answers_201_with_the_whole_refund,
    partial_refunds_add_up_to_the_captured_amount,
    released_remainder_is_never_refundable,
    automatic_capture_payments_are_refundable,
    uncaptured_intents_are_not_refundable,
    refund_amount_currency_and_reason_checks,
    refusals_are_checked_in_the_documented_order,
    unknown_and_foreign_ids_are_404,
    retrieve_and_list_newest_first_with_cursors,
    refunds_are_actions_of_the_intent,
    refund_events_once_each_with_the_refund_as_object,
    failing_refunds_give_the_amount_back,
    order_linked_refunds_follow_on_the_order,
    order_linked_failing_refund_leaves_the_order_alone,
    fifty_concurrent_partial_refunds_never_exceed_the_capture,
    fifty_concurrent_full_refunds_one_wins,
    contended_refunds_settle_at_the_capture_after_retries_and_the_worker,
    concurrent_refunds_and_failing_refunds_mixed,
    same_key_same_body_replays_the_refund,
    sixty_four_identical_refunds_with_one_key,
);

const FAIL_REASON: &str = "The card issuer declined the refund; the amount stays refundable.";

fn refund_path(id: &str) -> String {
    format!("/v1/refunds/{id}")
}

fn code(res: &Res) -> &str {
    res.json["error"]["code"].as_str().unwrap_or("")
}

fn request_id(res: &Res) -> String {
    res.header("x-request-id").expect("x-request-id").to_owned()
}

fn refund_id(res: &Res) -> String {
    res.json["data"]["refund_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a refund: {}", res.text))
        .to_owned()
}

/// The refund as the API must show it, for a refund created and resolved at `at`.
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per field of the contract"
)]
fn refund_json(
    id: &str,
    intent: &str,
    order: Option<&str>,
    amount: i64,
    status: &str,
    reason: Option<&str>,
    reference: Option<&str>,
    metadata: Value,
    at: &str,
) -> Value {
    json!({
        "refund_id": id,
        "payment_intent_id": intent,
        "order_id": order,
        "amount_money": usd(amount),
        "status": status,
        "reason": reason,
        "failure_reason": if status == "failed" { json!(FAIL_REASON) } else { Value::Null },
        "reference": reference,
        "metadata": metadata,
        "livemode": false,
        "created_at": at,
        "updated_at": at,
        // Created, then resolved: two changes.
        "version": if status == "pending" { 1 } else { 2 },
    })
}

/// Refunds `amount` (none: everything refundable) of `intent`; asserts a 201 and returns it.
async fn refund_ok(app: &TestApp, intent: &str, amount: Option<i64>) -> Res {
    let mut body = json!({"payment_intent_id": intent});
    if let Some(amount) = amount {
        body["amount_money"] = usd(amount);
    }
    let res = app.refund(body).await;
    assert_eq!(res.status, 201, "{}", res.text);
    res
}

#[track_caller]
fn assert_refunded(intent: &Value, refunded: i64) {
    assert_eq!(
        intent["refunded_amount_money"],
        usd(refunded),
        "refunded: {intent}"
    );
}

/// The refund actions of an intent, in order.
async fn refund_actions(app: &TestApp, id: &str) -> Vec<Value> {
    app.actions_of(id)
        .await
        .into_iter()
        .filter(|a| a["type"] == "refund")
        .collect()
}

/// All refunds of an intent, newest first (at most 100).
async fn refunds_of(app: &TestApp, id: &str) -> Vec<Value> {
    let res = app
        .get(&format!("/v1/refunds?payment_intent_id={id}&limit=100"))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["has_more"], false, "{}", res.text);
    res.json["data"].as_array().unwrap().clone()
}

/// How many events of `kind` the merchant has (at most 100).
async fn count_events(app: &TestApp, kind: &str) -> usize {
    let res = app.get(&format!("/v1/events?type={kind}&limit=100")).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["has_more"], false);
    res.json["data"].as_array().unwrap().len()
}

/// Sends every `POST /v1/refunds` (`Idempotency-Key` and body) at once, spread over `remotes` in
/// turn; answers in the calls' order.
async fn fire_refunds(remotes: &[Remote], calls: Vec<(Option<String>, Value)>) -> Vec<Res> {
    let calls = calls
        .into_iter()
        .enumerate()
        .map(|(i, (idem, body))| {
            let remote = remotes[i % remotes.len()].clone();
            (remote, ("/v1/refunds".to_owned(), idem, Some(body)))
        })
        .collect();
    fire_on(calls).await
}

/// How many answers of each status and code.
fn summary(answers: &[Res]) -> std::collections::BTreeMap<(u16, String), usize> {
    let mut counts = std::collections::BTreeMap::new();
    for r in answers {
        *counts.entry((r.status, code(r).to_owned())).or_insert(0) += 1;
    }
    counts
}

/// What a race left behind, for failure messages: the answers, the intent's refunded amount and
/// how many of its refunds are in each status.
async fn race_report(app: &TestApp, id: &str, answers: &[Res]) -> String {
    let mut statuses = std::collections::BTreeMap::new();
    for r in refunds_of(app, id).await {
        *statuses
            .entry(r["status"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    format!(
        "answers {:?}; refunded {}; refunds by status {statuses:?}",
        summary(answers),
        app.intent(id).await["refunded_amount_money"]
    )
}

// ---- Creating ----------------------------------------------------------------------------------

async fn full_refund_answers_201_with_the_whole_refund(app: &TestApp) {
    let id = app.captured_with(12_900, 12_900, "pm_card_visa").await;
    app.clock.advance(60);
    let at = rfc3339(T0 + 60);
    let res = app
        .refund(
            json!({"payment_intent_id": id, "reason": "requested_by_customer",
                       "reference": "rma-1", "metadata": {"ticket": "T-1"}}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let rid = refund_id(&res);
    assert!(rid.starts_with("re_"), "{rid}");
    assert_eq!(
        res.json,
        json!({"data": refund_json(&rid, &id, None, 12_900, "succeeded", Some("requested_by_customer"),
                                   Some("rma-1"), json!({"ticket": "T-1"}), &at)})
    );
    assert!(
        res.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        res.headers
    );

    // Retrieval shows the same refund.
    let got = app.get(&refund_path(&rid)).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json, res.json);

    // The intent: money as captured, everything refunded, nothing else moved.
    let pi = app.intent(&id).await;
    assert_eq!(pi["status"], "succeeded");
    assert_money(&pi, 12_900, 0, 12_900, 0);
    assert_refunded(&pi, 12_900);
    assert_eq!(pi["amount_money"], usd(12_900));
    assert_eq!(pi["updated_at"], at);

    // Nothing is left to refund, with or without an amount.
    for body in [
        json!({"payment_intent_id": id}),
        json!({"payment_intent_id": id, "amount_money": usd(1)}),
    ] {
        app.refund(body).await.assert_error(
            400,
            "REFUND_AMOUNT_EXCEEDS_CAPTURED",
            Some("amount_money.amount"),
        );
    }
    assert_eq!(refunds_of(app, &id).await, vec![res.json["data"].clone()]);
    assert_refunded(&app.intent(&id).await, 12_900);
}

async fn partial_refunds_add_up_to_the_captured_amount(app: &TestApp) {
    let id = app.captured_with(12_900, 12_900, "pm_card_visa").await;
    let first = refund_ok(app, &id, Some(3000)).await;
    assert_eq!(first.json["data"]["amount_money"], usd(3000));
    assert_eq!(first.json["data"]["status"], "succeeded");
    assert_refunded(&app.intent(&id).await, 3000);

    let second = app
        .refund(json!({"payment_intent_id": id, "amount_money": usd(5000), "reason": "duplicate"}))
        .await;
    assert_eq!(second.status, 201, "{}", second.text);
    assert_eq!(second.json["data"]["reason"], "duplicate");
    assert_refunded(&app.intent(&id).await, 8000);

    // 4900 is left: one more than that is refused, and changes nothing.
    let over = app
        .refund(json!({"payment_intent_id": id, "amount_money": usd(4901)}))
        .await;
    over.assert_error(
        400,
        "REFUND_AMOUNT_EXCEEDS_CAPTURED",
        Some("amount_money.amount"),
    );
    assert_refunded(&app.intent(&id).await, 8000);

    let third = app
        .refund(json!({"payment_intent_id": id, "amount_money": usd(4899), "reason": "fraudulent"}))
        .await;
    assert_eq!(third.status, 201, "{}", third.text);
    assert_eq!(third.json["data"]["reason"], "fraudulent");
    // The last minor unit, by omitting the amount.
    let last = refund_ok(app, &id, None).await;
    assert_eq!(last.json["data"]["amount_money"], usd(1));

    let pi = app.intent(&id).await;
    assert_money(&pi, 12_900, 0, 12_900, 0);
    assert_refunded(&pi, 12_900);
    app.refund(json!({"payment_intent_id": id, "amount_money": usd(1)}))
        .await
        .assert_error(
            400,
            "REFUND_AMOUNT_EXCEEDS_CAPTURED",
            Some("amount_money.amount"),
        );

    let listed: Vec<i64> = refunds_of(app, &id)
        .await
        .iter()
        .map(|r| r["amount_money"]["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, vec![1, 4899, 5000, 3000], "newest first");
}

async fn released_remainder_is_never_refundable(app: &TestApp) {
    // Capture 9800 of a 12900 hold: 3100 is released, never charged, never refundable.
    let id = app.captured_with(12_900, 9800, "pm_card_visa").await;
    let pi = app.intent(&id).await;
    assert_money(&pi, 12_900, 0, 9800, 3100);
    assert_refunded(&pi, 0);
    for amount in [12_900, 9801, 3100 + 9800] {
        app.refund(json!({"payment_intent_id": id, "amount_money": usd(amount)}))
            .await
            .assert_error(
                400,
                "REFUND_AMOUNT_EXCEEDS_CAPTURED",
                Some("amount_money.amount"),
            );
    }
    // Everything refundable is the captured amount, to the minor unit.
    let all = refund_ok(app, &id, None).await;
    assert_eq!(all.json["data"]["amount_money"], usd(9800));
    let pi = app.intent(&id).await;
    assert_money(&pi, 12_900, 0, 9800, 3100);
    assert_refunded(&pi, 9800);
    app.refund(json!({"payment_intent_id": id, "amount_money": usd(1)}))
        .await
        .assert_error(
            400,
            "REFUND_AMOUNT_EXCEEDS_CAPTURED",
            Some("amount_money.amount"),
        );

    // Partial refunds on a partial capture stop at the capture, too.
    let id = app.captured_with(12_900, 9800, "pm_card_mastercard").await;
    refund_ok(app, &id, Some(9000)).await;
    app.refund(json!({"payment_intent_id": id, "amount_money": usd(801)}))
        .await
        .assert_error(
            400,
            "REFUND_AMOUNT_EXCEEDS_CAPTURED",
            Some("amount_money.amount"),
        );
    refund_ok(app, &id, Some(800)).await;
    let pi = app.intent(&id).await;
    assert_money(&pi, 12_900, 0, 9800, 3100);
    assert_refunded(&pi, 9800);
}

async fn automatic_capture_payments_are_refundable(app: &TestApp) {
    let res = app
        .post(
            "/v1/payment-intents",
            json!({"amount_money": usd(4200), "auto_confirm": true,
                   "payment_source_token": "pm_card_amex"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let id = res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(res.json["data"]["payment_intent"]["status"], "succeeded");
    refund_ok(app, &id, Some(200)).await;
    let rest = refund_ok(app, &id, None).await;
    assert_eq!(rest.json["data"]["amount_money"], usd(4000));
    let pi = app.intent(&id).await;
    assert_money(&pi, 4200, 0, 4200, 0);
    assert_refunded(&pi, 4200);
}

async fn uncaptured_intents_are_not_refundable(app: &TestApp) {
    let mut cases: Vec<(&str, String)> = Vec::new();
    cases.push(("requires_payment_method", app.create_manual(12_900).await));

    let declined = app.create_manual(12_900).await;
    app.post(
        &format!("/v1/payment-intents/{declined}/confirm"),
        json!({"payment_source_token": "pm_card_chargeDeclined"}),
    )
    .await
    .assert_error(402, "CARD_DECLINED", None);
    cases.push(("requires_payment_method", declined));

    let three_ds = app.create_manual(12_900).await;
    let res = app
        .post(
            &format!("/v1/payment-intents/{three_ds}/confirm"),
            json!({"payment_source_token": "pm_card_threeDSecure2Required"}),
        )
        .await;
    assert_eq!(
        res.json["data"]["status"], "requires_action",
        "{}",
        res.text
    );
    cases.push(("requires_action", three_ds));

    cases.push(("requires_capture", app.hold(12_900).await));

    let canceled = app.hold(12_900).await;
    let res = app
        .post(
            &format!("/v1/payment-intents/{canceled}/cancel"),
            json!({"cancellation_reason": "requested_by_customer"}),
        )
        .await;
    assert_eq!(res.json["data"]["status"], "canceled", "{}", res.text);
    cases.push(("canceled", canceled));

    for (status, id) in &cases {
        assert_not_refundable(app, status, id).await;
    }

    // Holds that lapsed: one only read as expired, one the worker has recorded. (Created now,
    // after the checks above, since moving the clock a week would expire the hold above too.)
    let read_expired = app.hold(12_900).await;
    let recorded = app.hold(12_900).await;
    app.clock.advance(7 * 86_400);
    assert_not_refundable(app, "expired", &read_expired).await;
    app.app.run_due_once(100).await.unwrap();
    assert_not_refundable(app, "expired", &recorded).await;
    assert_eq!(count_events(app, "refund.created").await, 0);
}

/// Every kind of refund of `id` (in `status`) is refused as not refundable, changing nothing.
async fn assert_not_refundable(app: &TestApp, status: &str, id: &str) {
    let before = app.intent(id).await;
    assert_eq!(before["status"], status, "{before}");
    for body in [
        json!({"payment_intent_id": id}),
        json!({"payment_intent_id": id, "amount_money": usd(100)}),
        json!({"payment_intent_id": id, "amount_money": usd(1), "reason": "duplicate"}),
        json!({"payment_intent_id": id, "amount_money": usd(0), "reason": "nope"}),
    ] {
        app.refund(body).await.assert_error(
            400,
            "PAYMENT_INTENT_NOT_REFUNDABLE",
            Some("payment_intent_id"),
        );
    }
    let after = app.intent(id).await;
    assert_eq!(after, before, "{status}");
    assert_refunded(&after, 0);
    assert!(refund_actions(app, id).await.is_empty());
    assert!(refunds_of(app, id).await.is_empty());
}

async fn refund_amount_currency_and_reason_checks(app: &TestApp) {
    let id = app.captured_with(12_900, 9800, "pm_card_visa").await;
    let post = |body: Value| app.refund(body);

    for amount in [0, -1, -9800, i64::MIN] {
        post(json!({"payment_intent_id": id, "amount_money": usd(amount)}))
            .await
            .assert_error(400, "INVALID_REFUND_AMOUNT", Some("amount_money.amount"));
    }
    for currency in ["EUR", "JPY", "usd", "XXX"] {
        post(json!({"payment_intent_id": id,
                    "amount_money": {"amount": 100, "currency": currency}}))
        .await
        .assert_error(
            400,
            "REFUND_CURRENCY_MISMATCH",
            Some("amount_money.currency"),
        );
    }
    for amount in [9801, 12_900, i64::MAX] {
        post(json!({"payment_intent_id": id, "amount_money": usd(amount)}))
            .await
            .assert_error(
                400,
                "REFUND_AMOUNT_EXCEEDS_CAPTURED",
                Some("amount_money.amount"),
            );
    }
    for reason in [
        "abandoned",
        "authorization_expired",
        "Duplicate",
        "",
        "changed_my_mind",
    ] {
        post(json!({"payment_intent_id": id, "amount_money": usd(100), "reason": reason}))
            .await
            .assert_error(400, "INVALID_PARAMETER", Some("reason"));
    }
    post(json!({"payment_intent_id": id, "amount_money": usd(100),
                "reference": "r".repeat(501)}))
    .await
    .assert_error(400, "INVALID_PARAMETER", Some("reference"));
    post(json!({"amount_money": usd(100)})).await.assert_error(
        400,
        "MISSING_PARAMETER",
        Some("payment_intent_id"),
    );
    post(json!({"payment_intent_id": id, "amount": 100}))
        .await
        .assert_error(400, "UNKNOWN_PARAMETER", Some("amount"));

    // None of that refunded anything.
    let pi = app.intent(&id).await;
    assert_refunded(&pi, 0);
    assert_money(&pi, 12_900, 0, 9800, 3100);
    assert!(refunds_of(app, &id).await.is_empty());
    assert!(refund_actions(app, &id).await.is_empty());
    assert_eq!(count_events(app, "refund.created").await, 0);

    // Every valid reason, a 500-character reference and metadata are accepted and kept.
    for (reason, amount) in [
        ("requested_by_customer", 100),
        ("duplicate", 200),
        ("fraudulent", 300),
    ] {
        let res = post(json!({"payment_intent_id": id, "amount_money": usd(amount),
                              "reason": reason, "reference": "r".repeat(500),
                              "metadata": {"k": "v"}}))
        .await;
        assert_eq!(res.status, 201, "{}", res.text);
        assert_eq!(res.json["data"]["reason"], reason);
        assert_eq!(res.json["data"]["reference"], "r".repeat(500));
        assert_eq!(res.json["data"]["metadata"], json!({"k": "v"}));
    }
    assert_refunded(&app.intent(&id).await, 600);
}

/// The contract's order: refundable at all, then the amount (> 0, currency, <= refundable), then
/// the reason.
async fn refusals_are_checked_in_the_documented_order(app: &TestApp) {
    let held = app.hold(5000).await;
    let id = app.captured_with(5000, 5000, "pm_card_visa").await;
    let eur = |amount: i64| json!({"amount": amount, "currency": "EUR"});
    // Not refundable beats everything else.
    app.refund(json!({"payment_intent_id": held, "amount_money": eur(0), "reason": "nope"}))
        .await
        .assert_error(
            400,
            "PAYMENT_INTENT_NOT_REFUNDABLE",
            Some("payment_intent_id"),
        );
    // A non-positive amount beats the currency, the ceiling and the reason.
    app.refund(json!({"payment_intent_id": id, "amount_money": eur(0), "reason": "nope"}))
        .await
        .assert_error(400, "INVALID_REFUND_AMOUNT", Some("amount_money.amount"));
    // The currency beats the ceiling and the reason.
    app.refund(json!({"payment_intent_id": id, "amount_money": eur(9_999_999), "reason": "nope"}))
        .await
        .assert_error(
            400,
            "REFUND_CURRENCY_MISMATCH",
            Some("amount_money.currency"),
        );
    // The ceiling beats the reason, with an amount or without one once nothing is left.
    app.refund(json!({"payment_intent_id": id, "amount_money": usd(5001), "reason": "nope"}))
        .await
        .assert_error(
            400,
            "REFUND_AMOUNT_EXCEEDS_CAPTURED",
            Some("amount_money.amount"),
        );
    app.refund(json!({"payment_intent_id": id, "amount_money": usd(5000), "reason": "nope"}))
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("reason"));
    refund_ok(app, &id, None).await;
    app.refund(json!({"payment_intent_id": id, "reason": "nope"}))
        .await
        .assert_error(
            400,
            "REFUND_AMOUNT_EXCEEDS_CAPTURED",
            Some("amount_money.amount"),
        );
}

async fn unknown_and_foreign_ids_are_404(app: &TestApp) {
    let missing = "pi_000000000000000000000000";
    app.refund(json!({"payment_intent_id": missing}))
        .await
        .assert_error(404, "PAYMENT_INTENT_NOT_FOUND", Some("payment_intent_id"));
    app.refund(json!({"payment_intent_id": missing, "amount_money": usd(0), "reason": "x"}))
        .await
        .assert_error(404, "PAYMENT_INTENT_NOT_FOUND", Some("payment_intent_id"));
    app.get(&refund_path("re_000000000000000000000000"))
        .await
        .assert_error(404, "REFUND_NOT_FOUND", None);

    // A test-mode payment and its refund do not exist for the live key, nor for another merchant.
    let id = app.captured_with(1000, 1000, "pm_card_visa").await;
    let rid = refund_id(&refund_ok(app, &id, Some(100)).await);
    let other = app.app.create_merchant("Other Shop").await.unwrap();
    for key in [app.live_key.clone(), other.test_key.clone()] {
        app.request(Method::POST, "/v1/refunds")
            .key(&key)
            .json(&json!({"payment_intent_id": id}))
            .send()
            .await
            .assert_error(404, "PAYMENT_INTENT_NOT_FOUND", Some("payment_intent_id"));
        app.request(Method::GET, &refund_path(&rid))
            .key(&key)
            .send()
            .await
            .assert_error(404, "REFUND_NOT_FOUND", None);
        let list = app
            .request(Method::GET, &format!("/v1/refunds?payment_intent_id={id}"))
            .key(&key)
            .send()
            .await;
        assert_eq!(list.status, 200, "{}", list.text);
        assert_eq!(list.json["data"], json!([]));
    }
    assert_refunded(&app.intent(&id).await, 100);
    // Without a key there is no refund at all.
    app.request(Method::POST, "/v1/refunds")
        .no_key()
        .json(&json!({"payment_intent_id": id}))
        .send()
        .await
        .assert_error(401, "MISSING_API_KEY", None);
}

async fn retrieve_and_list_newest_first_with_cursors(app: &TestApp) {
    let a = app.captured_with(10_000, 10_000, "pm_card_visa").await;
    let b = app.captured_with(10_000, 10_000, "pm_card_visa").await;
    let mut on_a = Vec::new();
    let mut all = Vec::new();
    for i in 0..5i64 {
        app.clock.advance(60);
        let res = refund_ok(app, &a, Some(100 + i)).await;
        assert_eq!(res.json["data"]["created_at"], rfc3339(T0 + 60 * (i + 1)));
        on_a.push(res.json["data"].clone());
        all.push(res.json["data"].clone());
        let res = refund_ok(app, &b, Some(200 + i)).await;
        all.push(res.json["data"].clone());
    }
    on_a.reverse();
    all.reverse();

    // Everything about one intent, newest first.
    assert_eq!(refunds_of(app, &a).await, on_a);
    // Each is retrievable as listed.
    for refund in &on_a {
        let got = app
            .get(&refund_path(refund["refund_id"].as_str().unwrap()))
            .await;
        assert_eq!(got.json["data"], *refund);
    }

    // Pages of two, by cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/refunds?payment_intent_id={a}&limit=2&cursor={c}"),
            None => format!("/v1/refunds?payment_intent_id={a}&limit=2"),
        };
        let page = app.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let data = page.json["data"].as_array().unwrap().clone();
        assert!(data.len() <= 2);
        seen.extend(data.iter().cloned());
        if page.json["has_more"] == true {
            assert_eq!(
                page.json["next_cursor"],
                data.last().unwrap()["refund_id"],
                "{}",
                page.text
            );
            cursor = Some(page.json["next_cursor"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(page.json["next_cursor"], Value::Null, "{}", page.text);
            break;
        }
    }
    assert_eq!(seen, on_a);

    // Without a filter: every refund of the merchant, newest first; the default page is 20.
    let res = app.get("/v1/refunds").await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"], json!(all));
    assert_eq!(res.json["has_more"], false);
    let res = app.get("/v1/refunds?limit=3").await;
    assert_eq!(res.json["data"], json!(all[..3]));
    assert_eq!(res.json["has_more"], true);

    // An intent with no refunds, and an unknown one, list nothing.
    let none = app.captured_with(500, 500, "pm_card_visa").await;
    assert!(refunds_of(app, &none).await.is_empty());
    assert!(
        refunds_of(app, "pi_000000000000000000000000")
            .await
            .is_empty()
    );

    // Bad page parameters are refused with their parameter.
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=", "cursor"),
    ] {
        app.get(&format!("/v1/refunds?{query}")).await.assert_error(
            400,
            "INVALID_PARAMETER",
            Some(param),
        );
    }
    app.get("/v1/refunds?status=succeeded").await.assert_error(
        400,
        "UNKNOWN_PARAMETER",
        Some("status"),
    );
}

async fn refunds_are_actions_of_the_intent(app: &TestApp) {
    let id = app.captured_with(12_900, 9800, "pm_card_visa").await;
    app.clock.advance(120);
    let first = app
        .request(Method::POST, "/v1/refunds")
        .idem("refund-actions-1")
        .json(&json!({"payment_intent_id": id, "amount_money": usd(1500),
                      "reference": "rma-7", "metadata": {"line": "2"}}))
        .send()
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    app.clock.advance(60);
    let second = refund_ok(app, &id, Some(500)).await;

    let actions = app.actions_of(&id).await;
    let kinds: Vec<_> = actions.iter().map(|a| a["type"].clone()).collect();
    assert_eq!(
        kinds,
        vec!["authorization", "capture", "refund", "refund"],
        "{actions:?}"
    );
    let r1 = &actions[2];
    assert!(r1["action_id"].as_str().unwrap().starts_with("act_"));
    assert_eq!(r1["payment_intent_id"], id);
    assert_eq!(r1["amount_money"], usd(1500));
    assert_eq!(r1["status"], "succeeded");
    assert_eq!(r1["reference"], "rma-7");
    assert_eq!(r1["metadata"], json!({"line": "2"}));
    assert_eq!(r1["request_id"], request_id(&first));
    assert_eq!(r1["created_at"], rfc3339(T0 + 120));
    let r2 = &actions[3];
    assert_eq!(r2["amount_money"], usd(500));
    assert_eq!(r2["status"], "succeeded");
    assert_eq!(r2["reference"], Value::Null);
    assert_eq!(r2["metadata"], json!({}));
    assert_eq!(r2["request_id"], request_id(&second));
    assert_eq!(r2["created_at"], rfc3339(T0 + 180));

    // A replay is not a second movement.
    let replay = app
        .request(Method::POST, "/v1/refunds")
        .idem("refund-actions-1")
        .json(&json!({"payment_intent_id": id, "amount_money": usd(1500),
                      "reference": "rma-7", "metadata": {"line": "2"}}))
        .send()
        .await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.actions_of(&id).await, actions);
    // Refused refunds are no movement either.
    app.refund(json!({"payment_intent_id": id, "amount_money": usd(7801)}))
        .await
        .assert_error(
            400,
            "REFUND_AMOUNT_EXCEEDS_CAPTURED",
            Some("amount_money.amount"),
        );
    assert_eq!(app.actions_of(&id).await, actions);
    let pi = app.intent(&id).await;
    assert_money(&pi, 12_900, 0, 9800, 3100);
    assert_refunded(&pi, 2000);
}

async fn refund_events_once_each_with_the_refund_as_object(app: &TestApp) {
    let id = app.captured_with(12_900, 12_900, "pm_card_visa").await;
    app.clock.advance(30);
    let one = refund_ok(app, &id, Some(2900)).await;
    app.clock.advance(30);
    let two = app
        .refund(json!({"payment_intent_id": id, "reason": "duplicate"}))
        .await;
    assert_eq!(two.status, 201, "{}", two.text);
    assert_eq!(two.json["data"]["amount_money"], usd(10_000));

    assert_eq!(
        app.event_types_of(&id).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.succeeded",
            "refund.created",
            "refund.succeeded",
            "refund.created",
            "refund.succeeded",
        ]
    );
    let events = app.events_of(&id).await;
    for (res, created, succeeded) in [
        (&one, &events[3], &events[4]),
        (&two, &events[5], &events[6]),
    ] {
        let refund = &res.json["data"];
        // refund.created carries the refund as it was reserved: pending.
        let mut pending = refund.clone();
        pending["status"] = json!("pending");
        pending["version"] = json!(1);
        assert_eq!(created["data"], json!({"object": pending}), "{created}");
        assert_eq!(succeeded["data"], json!({"object": refund}), "{succeeded}");
        for event in [created, succeeded] {
            assert!(event["id"].as_str().unwrap().starts_with("evt_"));
            assert_eq!(event["request_id"], request_id(res));
            assert_eq!(event["livemode"], false);
            assert_eq!(event["created_at"], refund["created_at"]);
            // Retrievable on its own.
            let got = app
                .get(&format!("/v1/events/{}", event["id"].as_str().unwrap()))
                .await;
            assert_eq!(got.json["data"], *event);
        }
    }
    assert_eq!(count_events(app, "refund.created").await, 2);
    assert_eq!(count_events(app, "refund.succeeded").await, 2);
    assert_eq!(count_events(app, "refund.failed").await, 0);
    assert_eq!(count_events(app, "order.payment_refunded").await, 0);
    // A refused refund emits nothing.
    app.refund(json!({"payment_intent_id": id}))
        .await
        .assert_error(
            400,
            "REFUND_AMOUNT_EXCEEDS_CAPTURED",
            Some("amount_money.amount"),
        );
    assert_eq!(app.events_of(&id).await, events);
}

async fn failing_refunds_give_the_amount_back(app: &TestApp) {
    let id = app.captured_with(12_900, 9800, "pm_card_refundFails").await;
    let pi = app.intent(&id).await;
    assert_eq!(pi["payment_method_last_four"], "5556");
    assert_money(&pi, 12_900, 0, 9800, 3100);

    app.clock.advance(60);
    let at = rfc3339(T0 + 60);
    let first = app
        .refund(json!({"payment_intent_id": id, "amount_money": usd(5000),
                       "reason": "requested_by_customer", "reference": "rma-f"}))
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let rid = refund_id(&first);
    assert_eq!(
        first.json["data"],
        refund_json(
            &rid,
            &id,
            None,
            5000,
            "failed",
            Some("requested_by_customer"),
            Some("rma-f"),
            json!({}),
            &at
        )
    );
    assert_eq!(app.get(&refund_path(&rid)).await.json, first.json);
    assert_refunded(&app.intent(&id).await, 0);

    // The amount was given back: the same amount is accepted by the rules again (and fails again),
    // and so is everything captured.
    let second = refund_ok(app, &id, Some(5000)).await;
    assert_eq!(second.json["data"]["status"], "failed");
    assert_ne!(refund_id(&second), rid);
    let all = refund_ok(app, &id, None).await;
    assert_eq!(all.json["data"]["status"], "failed");
    assert_eq!(all.json["data"]["amount_money"], usd(9800));
    assert_eq!(all.json["data"]["failure_reason"], FAIL_REASON);
    // The ceiling is still the capture.
    app.refund(json!({"payment_intent_id": id, "amount_money": usd(9801)}))
        .await
        .assert_error(
            400,
            "REFUND_AMOUNT_EXCEEDS_CAPTURED",
            Some("amount_money.amount"),
        );

    let pi = app.intent(&id).await;
    assert_money(&pi, 12_900, 0, 9800, 3100);
    assert_refunded(&pi, 0);
    let actions = refund_actions(app, &id).await;
    let summary: Vec<_> = actions
        .iter()
        .map(|a| {
            (
                a["amount_money"]["amount"].as_i64().unwrap(),
                a["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (5000, json!("failed")),
            (5000, json!("failed")),
            (9800, json!("failed"))
        ]
    );
    assert_eq!(actions[0]["reference"], "rma-f");
    assert_eq!(actions[0]["request_id"], request_id(&first));
    let listed = refunds_of(app, &id).await;
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|r| r["status"] == "failed"), "{listed:?}");

    // refund.created then refund.failed for each, never refund.succeeded.
    let types = app.event_types_of(&id).await;
    assert_eq!(
        types[3..],
        [
            "refund.created",
            "refund.failed",
            "refund.created",
            "refund.failed",
            "refund.created",
            "refund.failed",
        ]
    );
    let events = app.events_of(&id).await;
    assert_eq!(events[4]["data"]["object"], first.json["data"]);
    assert_eq!(events[3]["data"]["object"]["status"], "pending");
    assert_eq!(events[3]["data"]["object"]["failure_reason"], Value::Null);
    assert_eq!(count_events(app, "refund.succeeded").await, 0);
    assert_eq!(count_events(app, "refund.failed").await, 3);
}

// ---- Orders ------------------------------------------------------------------------------------

/// An order of `total` USD cents paid by one manual-capture intent with `token`, whose hold is
/// then captured in full through the order route; returns (order id, intent id).
async fn paid_order(app: &TestApp, total: i64, token: &str) -> (String, String) {
    let res = app
        .post(
            "/v1/orders",
            json!({"currency": "USD", "line_items": [
                {"name": "Tent", "quantity": 1, "unit_price_money": usd(total)}]}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let order = res.json["data"]["order_id"].as_str().unwrap().to_owned();
    let res = app
        .post(
            "/v1/payment-intents",
            json!({"order_id": order, "capture_method": "manual"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let pi = res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            &format!("/v1/orders/{order}/pay"),
            json!({"payment_intent_ids": [pi], "payment_source_tokens": {&pi: token},
                   "expected_amount_money": usd(total)}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = app
        .post(
            &format!("/v1/orders/{order}/payment-intents/{pi}/capture"),
            json!({}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["status"], "paid", "{}", res.text);
    (order, pi)
}

async fn get_order(app: &TestApp, id: &str) -> Value {
    let res = app.get(&format!("/v1/orders/{id}")).await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.json["data"].clone()
}

async fn order_linked_refunds_follow_on_the_order(app: &TestApp) {
    let (order, pi) = paid_order(app, 12_900, "pm_card_visa").await;
    let before = get_order(app, &order).await;
    assert_eq!(before["settlement_amounts"]["refunded_money"], usd(0));
    assert_eq!(before["settlement_amounts"]["paid_money"], usd(12_900));

    app.clock.advance(60);
    let first = app
        .refund(json!({"payment_intent_id": pi, "amount_money": usd(4000), "reason": "requested_by_customer"}))
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.json["data"]["order_id"], order);
    let after = get_order(app, &order).await;
    assert_eq!(after["settlement_amounts"]["refunded_money"], usd(4000));
    assert_eq!(after["settlement_amounts"]["paid_money"], usd(12_900));
    assert_eq!(after["status"], "paid");
    assert_eq!(after["updated_at"], rfc3339(T0 + 60));
    assert_refunded(&app.intent(&pi).await, 4000);

    let second = refund_ok(app, &pi, None).await;
    assert_eq!(second.json["data"]["amount_money"], usd(8900));
    assert_eq!(second.json["data"]["order_id"], order);
    let after = get_order(app, &order).await;
    assert_eq!(after["settlement_amounts"]["refunded_money"], usd(12_900));
    let intent = app.intent(&pi).await;
    assert_refunded(&intent, 12_900);
    assert_money(&intent, 12_900, 0, 12_900, 0);
    app.refund(json!({"payment_intent_id": pi, "amount_money": usd(1)}))
        .await
        .assert_error(
            400,
            "REFUND_AMOUNT_EXCEEDS_CAPTURED",
            Some("amount_money.amount"),
        );

    // order.payment_refunded once per succeeded refund, right after its refund.succeeded, with the
    // amount of that refund and the order as it stood.
    let events = app.events_of(&pi).await;
    let types: Vec<_> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let tail = &types[types.len() - 6..];
    assert_eq!(
        tail,
        [
            "refund.created",
            "refund.succeeded",
            "order.payment_refunded",
            "refund.created",
            "refund.succeeded",
            "order.payment_refunded",
        ],
        "{types:?}"
    );
    let refunded: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "order.payment_refunded")
        .collect();
    assert_eq!(refunded.len(), 2);
    for (event, amount, total) in [(refunded[0], 4000, 4000), (refunded[1], 8900, 12_900)] {
        assert_eq!(event["data"]["payment_intent_id"], pi);
        assert_eq!(event["data"]["refunded_money"], usd(amount), "{event}");
        assert_eq!(event["data"]["object"]["order_id"], order);
        assert_eq!(
            event["data"]["object"]["settlement_amounts"]["refunded_money"],
            usd(total)
        );
        for absent in ["captured_money", "released_money", "authorized_money"] {
            assert!(event["data"].get(absent).is_none(), "{event}");
        }
    }
    assert_eq!(refunded[0]["request_id"], request_id(&first));
    assert_eq!(refunded[1]["data"]["object"], after);
    assert_eq!(count_events(app, "order.payment_refunded").await, 2);
}

async fn order_linked_failing_refund_leaves_the_order_alone(app: &TestApp) {
    let (order, pi) = paid_order(app, 5000, "pm_card_refundFails").await;
    let before = get_order(app, &order).await;
    let res = refund_ok(app, &pi, Some(2000)).await;
    assert_eq!(res.json["data"]["status"], "failed");
    assert_eq!(res.json["data"]["order_id"], order);
    assert_eq!(res.json["data"]["failure_reason"], FAIL_REASON);
    assert_eq!(get_order(app, &order).await, before);
    assert_refunded(&app.intent(&pi).await, 0);
    assert_eq!(count_events(app, "order.payment_refunded").await, 0);
    assert_eq!(count_events(app, "refund.failed").await, 1);
}

// ---- Races -------------------------------------------------------------------------------------

async fn fifty_concurrent_partial_refunds_never_exceed_the_capture(app: &TestApp) {
    let id = app.captured_with(12_900, 9800, "pm_card_visa").await;
    let calls = (0..50)
        .map(|i| {
            (
                Some(format!("partial-{i}")),
                json!({"payment_intent_id": id, "amount_money": usd(300)}),
            )
        })
        .collect();
    let answers = fire_refunds(&[app.remote()], calls).await;
    let report = race_report(app, &id, &answers).await;
    eprintln!("50 partial refunds: {report}");
    let won: Vec<_> = answers.iter().filter(|r| r.status == 201).collect();
    assert_eq!(won.len(), 32, "{report}");
    for res in &won {
        assert_eq!(res.json["data"]["status"], "succeeded", "{}", res.text);
        assert_eq!(res.json["data"]["amount_money"], usd(300));
    }
    for res in answers.iter().filter(|r| r.status != 201) {
        res.assert_error(
            400,
            "REFUND_AMOUNT_EXCEEDS_CAPTURED",
            Some("amount_money.amount"),
        );
    }
    let pi = app.intent(&id).await;
    assert_refunded(&pi, 9600);
    assert_money(&pi, 12_900, 0, 9800, 3100);
    let listed = refunds_of(app, &id).await;
    assert_eq!(listed.len(), 32);
    assert!(listed.iter().all(|r| r["status"] == "succeeded"));
    let mut listed_ids: Vec<_> = listed.iter().map(|r| r["refund_id"].clone()).collect();
    let mut won_ids: Vec<_> = won
        .iter()
        .map(|r| r.json["data"]["refund_id"].clone())
        .collect();
    listed_ids.sort_by_key(Value::to_string);
    won_ids.sort_by_key(Value::to_string);
    assert_eq!(listed_ids, won_ids);
    assert_eq!(refund_actions(app, &id).await.len(), 32);
    assert_eq!(count_events(app, "refund.created").await, 32);
    assert_eq!(count_events(app, "refund.succeeded").await, 32);
    // 200 are still refundable, and no more.
    app.refund(json!({"payment_intent_id": id, "amount_money": usd(201)}))
        .await
        .assert_error(
            400,
            "REFUND_AMOUNT_EXCEEDS_CAPTURED",
            Some("amount_money.amount"),
        );
    let rest = refund_ok(app, &id, None).await;
    assert_eq!(rest.json["data"]["amount_money"], usd(200));
    assert_refunded(&app.intent(&id).await, 9800);
    // Every key replays its own answer.
    for (i, res) in answers.iter().enumerate() {
        let again = app
            .remote()
            .post(
                "/v1/refunds",
                Some(&format!("partial-{i}")),
                Some(&json!({"payment_intent_id": id, "amount_money": usd(300)})),
            )
            .await;
        assert_eq!((again.status, &again.text), (res.status, &res.text));
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
    }
    assert_refunded(&app.intent(&id).await, 9800);
}

async fn fifty_concurrent_full_refunds_one_wins(app: &TestApp) {
    let id = app.captured_with(12_900, 9800, "pm_card_visa").await;
    let calls = (0..50)
        .map(|i| (Some(format!("full-{i}")), json!({"payment_intent_id": id})))
        .collect();
    let answers = fire_refunds(&[app.remote()], calls).await;
    let report = race_report(app, &id, &answers).await;
    eprintln!("50 full refunds: {report}");
    let won: Vec<_> = answers.iter().filter(|r| r.status == 201).collect();
    assert_eq!(won.len(), 1, "{report}");
    assert_eq!(won[0].json["data"]["amount_money"], usd(9800));
    assert_eq!(won[0].json["data"]["status"], "succeeded");
    for res in answers.iter().filter(|r| r.status != 201) {
        res.assert_error(
            400,
            "REFUND_AMOUNT_EXCEEDS_CAPTURED",
            Some("amount_money.amount"),
        );
    }
    assert_refunded(&app.intent(&id).await, 9800);
    assert_eq!(
        refunds_of(app, &id).await,
        vec![won[0].json["data"].clone()]
    );
    assert_eq!(count_events(app, "refund.created").await, 1);
    assert_eq!(count_events(app, "refund.succeeded").await, 1);
}

/// Whatever a race answers, retrying every 503 under its own key (as the 503 says) and letting the
/// worker resolve what was left pending must settle exactly at the capture: money is never
/// refunded twice nor past the capture, even where the race itself answered badly. (This is the
/// only way the API yields pending refunds: a 503 after the reservation was committed.)
async fn contended_refunds_settle_at_the_capture_after_retries_and_the_worker(app: &TestApp) {
    let id = app.captured_with(12_900, 9800, "pm_card_visa").await;
    let body = json!({"payment_intent_id": id, "amount_money": usd(300)});
    let calls = (0..50)
        .map(|i| (Some(format!("settle-{i}")), body.clone()))
        .collect();
    let mut answers = fire_refunds(&[app.remote()], calls).await;
    let report = race_report(app, &id, &answers).await;
    eprintln!("50 partial refunds before retries: {report}");
    for res in &answers {
        match res.status {
            201 => assert_eq!(res.json["data"]["status"], "succeeded", "{}", res.text),
            400 => res.assert_error(
                400,
                "REFUND_AMOUNT_EXCEEDS_CAPTURED",
                Some("amount_money.amount"),
            ),
            _ => res.assert_error(503, "SERVICE_UNAVAILABLE", None),
        }
    }
    // Reservations never add up past the capture, even mid-flight.
    let listed = refunds_of(app, &id).await;
    let pending = listed.iter().filter(|r| r["status"] == "pending").count();
    let succeeded = listed.iter().filter(|r| r["status"] == "succeeded").count();
    assert_eq!(pending + succeeded, listed.len(), "{report}");
    assert!(listed.len() <= 32, "{report}");
    let pi = app.intent(&id).await;
    assert_refunded(&pi, 300 * i64::try_from(succeeded).unwrap());

    // A minute later the worker answers for every refund still pending.
    app.clock.advance(61);
    let resolved = app.app.resolve_stale_refunds_once(100).await.unwrap();
    assert_eq!(resolved, pending, "{report}");
    let listed = refunds_of(app, &id).await;
    assert!(
        listed.iter().all(|r| r["status"] == "succeeded"),
        "{listed:?}"
    );

    // Each 503 retried under its key: a reserved refund is resumed, not made twice.
    for (i, res) in answers.iter_mut().enumerate() {
        for _ in 0..5 {
            if res.status != 503 {
                break;
            }
            *res = app
                .remote()
                .post("/v1/refunds", Some(&format!("settle-{i}")), Some(&body))
                .await;
        }
    }
    let counts = summary(&answers);
    assert_eq!(
        counts,
        [
            ((201, String::new()), 32),
            ((400, "REFUND_AMOUNT_EXCEEDS_CAPTURED".to_owned()), 18)
        ]
        .into(),
        "{report}"
    );
    let pi = app.intent(&id).await;
    assert_refunded(&pi, 9600);
    assert_money(&pi, 12_900, 0, 9800, 3100);
    let listed = refunds_of(app, &id).await;
    assert_eq!(listed.len(), 32);
    assert!(listed.iter().all(|r| r["status"] == "succeeded"));
    assert_eq!(refund_actions(app, &id).await.len(), 32);
    assert_eq!(count_events(app, "refund.created").await, 32);
    assert_eq!(count_events(app, "refund.succeeded").await, 32);
    // Nothing is left pending for a later pass.
    app.clock.advance(61);
    assert_eq!(app.app.resolve_stale_refunds_once(100).await.unwrap(), 0);
}

/// Refunds racing on a card whose refunds fail: every reservation is given back, so each one is
/// accepted by the rules and none of them refunds anything.
async fn concurrent_refunds_and_failing_refunds_mixed(app: &TestApp) {
    let failing = app.captured_with(1000, 1000, "pm_card_refundFails").await;
    let good = app.captured_with(2000, 2000, "pm_card_visa").await;
    let calls = (0..40)
        .map(|i| {
            let intent = if i % 2 == 0 { &failing } else { &good };
            (
                Some(format!("mixed-{i}")),
                json!({"payment_intent_id": intent, "amount_money": usd(100)}),
            )
        })
        .collect();
    let answers = fire_refunds(&[app.remote()], calls).await;
    eprintln!(
        "mixed refunds: {}; {}",
        race_report(app, &failing, &answers).await,
        race_report(app, &good, &[]).await
    );
    let mut good_wins = 0;
    for (i, res) in answers.iter().enumerate() {
        if i % 2 == 0 {
            // A failing refund holds its reservation only until the processor answers, so a racing
            // refund may find it reserved; no other refusal is possible.
            if res.status != 201 {
                res.assert_error(
                    400,
                    "REFUND_AMOUNT_EXCEEDS_CAPTURED",
                    Some("amount_money.amount"),
                );
            } else {
                assert_eq!(res.json["data"]["status"], "failed", "{}", res.text);
            }
        } else {
            assert_eq!(res.status, 201, "{}", res.text);
            assert_eq!(res.json["data"]["status"], "succeeded");
            good_wins += 1;
        }
    }
    assert_eq!(good_wins, 20);
    assert_refunded(&app.intent(&failing).await, 0);
    assert_refunded(&app.intent(&good).await, 2000);
    // Nothing stays reserved: the failing payment's whole capture is refundable again.
    let all = refund_ok(app, &failing, None).await;
    assert_eq!(all.json["data"]["amount_money"], usd(1000));
    assert_eq!(all.json["data"]["status"], "failed");
    let listed = refunds_of(app, &failing).await;
    assert!(listed.iter().all(|r| r["status"] == "failed"));
}

// ---- Idempotency -------------------------------------------------------------------------------

async fn same_key_same_body_replays_the_refund(app: &TestApp) {
    let id = app.captured_with(12_900, 12_900, "pm_card_visa").await;
    let body = json!({"payment_intent_id": id, "amount_money": usd(2500), "reason": "duplicate",
                      "metadata": {"a": "1"}});
    let send = |key: &'static str, body: Value| {
        app.request(Method::POST, "/v1/refunds")
            .idem(key)
            .json(&body)
            .send()
    };
    let first = send("refund-key-1", body.clone()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.header("idempotent-replayed"), None);

    app.clock.advance(600);
    // The same body, even formatted differently (key order), replays byte for byte.
    let reordered = json!({"metadata": {"a": "1"}, "reason": "duplicate",
                           "amount_money": {"currency": "USD", "amount": 2500},
                           "payment_intent_id": id});
    for again in [body.clone(), reordered] {
        let res = send("refund-key-1", again).await;
        assert_eq!(res.status, 201, "{}", res.text);
        assert_eq!(res.text, first.text);
        assert_eq!(res.header("idempotent-replayed"), Some("true"));
    }
    assert_eq!(refunds_of(app, &id).await.len(), 1);
    assert_refunded(&app.intent(&id).await, 2500);
    assert_eq!(count_events(app, "refund.created").await, 1);

    // The same key with another body is refused and does nothing.
    for other in [
        json!({"payment_intent_id": id, "amount_money": usd(2501), "reason": "duplicate",
               "metadata": {"a": "1"}}),
        json!({"payment_intent_id": id}),
    ] {
        send("refund-key-1", other)
            .await
            .assert_error(422, "IDEMPOTENCY_KEY_REUSED", None);
    }
    assert_eq!(refunds_of(app, &id).await.len(), 1);
    assert_refunded(&app.intent(&id).await, 2500);

    // A new key is a new refund.
    let second = send("refund-key-2", body.clone()).await;
    assert_eq!(second.status, 201, "{}", second.text);
    assert_ne!(refund_id(&second), refund_id(&first));
    assert_refunded(&app.intent(&id).await, 5000);

    // A refusal is replayed too, whatever happened since.
    let too_much = json!({"payment_intent_id": id, "amount_money": usd(7901)});
    let refused = send("refund-key-3", too_much.clone()).await;
    refused.assert_error(
        400,
        "REFUND_AMOUNT_EXCEEDS_CAPTURED",
        Some("amount_money.amount"),
    );
    refund_ok(app, &id, Some(5000)).await;
    // 2900 left: the same key still answers the stored refusal, byte for byte.
    let replay = send("refund-key-3", too_much).await;
    assert_eq!((replay.status, &replay.text), (400, &refused.text));
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_refunded(&app.intent(&id).await, 10_000);

    // A failed refund replays as failed, without a second processor call.
    let failing = app.captured_with(1000, 1000, "pm_card_refundFails").await;
    let body = json!({"payment_intent_id": failing, "amount_money": usd(400)});
    let failed = send("refund-key-4", body.clone()).await;
    assert_eq!(failed.json["data"]["status"], "failed", "{}", failed.text);
    let again = send("refund-key-4", body).await;
    assert_eq!(again.text, failed.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(refunds_of(app, &failing).await.len(), 1);
    assert_eq!(refund_actions(app, &failing).await.len(), 1);
}

/// Checks answers to one request under one key: the one 201 body or 409 `IDEMPOTENCY_KEY_IN_USE`,
/// exactly one of them fresh. Returns the body.
fn one_answer_or_in_use(answers: &[Res]) -> String {
    let successes: Vec<_> = answers.iter().filter(|r| r.status == 201).collect();
    assert!(!successes.is_empty(), "{:?}", summary(answers));
    let body = successes[0].text.clone();
    for res in &successes {
        assert_eq!(res.text, body, "every success is the same answer");
    }
    for res in answers.iter().filter(|r| r.status != 201) {
        res.assert_error(409, "IDEMPOTENCY_KEY_IN_USE", None);
    }
    let fresh = successes
        .iter()
        .filter(|r| r.header("idempotent-replayed").is_none())
        .count();
    assert_eq!(fresh, 1, "exactly one answer is not a replay");
    body
}

async fn sixty_four_identical_refunds_with_one_key(app: &TestApp) {
    let id = app.captured_with(12_900, 9800, "pm_card_visa").await;
    let body = json!({"payment_intent_id": id, "amount_money": usd(1000)});
    let calls = (0..64)
        .map(|_| (Some("refund-64".to_owned()), body.clone()))
        .collect();
    let answers = fire_refunds(&[app.remote()], calls).await;
    let text = one_answer_or_in_use(&answers);
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["data"]["status"], "succeeded");
    assert_eq!(refunds_of(app, &id).await, vec![answer["data"].clone()]);
    assert_refunded(&app.intent(&id).await, 1000);
    assert_eq!(refund_actions(app, &id).await.len(), 1);
    assert_eq!(count_events(app, "refund.created").await, 1);
    assert_eq!(count_events(app, "refund.succeeded").await, 1);
    let again = app
        .remote()
        .post("/v1/refunds", Some("refund-64"), Some(&body))
        .await;
    assert_eq!((again.status, &again.text), (201, &text));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
}

// ---- Two servers, one PostgreSQL database ------------------------------------------------------

/// Across processes there is no in-flight set: a racing twin must replay the winner's answer
/// (the idempotency module's promise), never refund twice, and never answer a refusal for a
/// refund that happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_one_key_one_refund() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    let (other, task) = app.second_server().await;
    let id = app.captured_with(12_900, 9800, "pm_card_visa").await;
    // No amount: the whole capture, so that a twin deciding afresh could only be refused.
    let body = json!({"payment_intent_id": id});
    let calls = (0..64)
        .map(|_| (Some("refund-two-servers".to_owned()), body.clone()))
        .collect();
    let answers = fire_refunds(&[app.remote(), other], calls).await;
    // What the key answers from now on.
    let replay = app
        .remote()
        .post("/v1/refunds", Some("refund-two-servers"), Some(&body))
        .await;
    let report = format!(
        "{}; the key now answers {} {}",
        race_report(&app, &id, &answers).await,
        replay.status,
        replay.text
    );
    eprintln!("64 identical refunds on two servers: {report}");
    // One refund, of everything captured.
    assert_eq!(refunds_of(&app, &id).await.len(), 1, "{report}");
    assert_refunded(&app.intent(&id).await, 9800);
    // The key answers that refund, and so did every request but those turned away as in use.
    assert_eq!(replay.status, 201, "{report}");
    assert_eq!(replay.json["data"]["amount_money"], usd(9800));
    for res in &answers {
        if res.status == 201 {
            assert_eq!(res.text, replay.text, "{report}");
        } else {
            assert_eq!(res.status, 409, "{report}");
            res.assert_error(409, "IDEMPOTENCY_KEY_IN_USE", None);
        }
    }
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_partial_refunds_never_exceed_the_capture() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    let (other, task) = app.second_server().await;
    let id = app.captured_with(12_900, 9800, "pm_card_visa").await;
    let calls = (0..50)
        .map(|i| {
            (
                Some(format!("two-{i}")),
                json!({"payment_intent_id": id, "amount_money": usd(300)}),
            )
        })
        .collect();
    let answers = fire_refunds(&[app.remote(), other], calls).await;
    let report = race_report(&app, &id, &answers).await;
    eprintln!("50 partial refunds on two servers: {report}");
    let won = answers.iter().filter(|r| r.status == 201).count();
    assert_eq!(won, 32, "{report}");
    for res in answers.iter().filter(|r| r.status != 201) {
        res.assert_error(
            400,
            "REFUND_AMOUNT_EXCEEDS_CAPTURED",
            Some("amount_money.amount"),
        );
    }
    assert_refunded(&app.intent(&id).await, 9600);
    assert_eq!(refunds_of(&app, &id).await.len(), 32);
    task.abort();
}
