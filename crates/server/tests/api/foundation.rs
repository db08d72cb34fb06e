//! The foundation: authentication, tenancy, the error envelope for every kind of bad input,
//! health endpoints, restarts.

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, usd};

both_backends!(
    missing_api_key_is_401,
    malformed_or_unknown_api_key_is_401,
    revoked_key_is_401,
    test_and_live_mode_are_isolated,
    another_merchants_objects_are_404,
    malformed_json_is_invalid_json,
    wrong_types_are_invalid_parameter_with_param,
    unknown_fields_are_unknown_parameter_with_param,
    missing_required_field_is_missing_parameter,
    oversized_body_is_413,
    non_json_content_type_is_415,
    unknown_route_and_wrong_method,
    query_parameters_are_checked,
    every_response_has_a_request_id,
    health_endpoints,
    objects_are_stamped_with_livemode,
    idempotency_keys_are_kept_eight_days_then_purged,
);

async fn missing_api_key_is_401(app: &TestApp) {
    let res = app
        .request(Method::GET, "/v1/payment-intents")
        .no_key()
        .send()
        .await;
    res.assert_error(401, "MISSING_API_KEY", None);
    let res = app
        .request(Method::POST, "/v1/payment-intents")
        .no_key()
        .json(&json!({"amount_money": usd(100)}))
        .send()
        .await;
    res.assert_error(401, "MISSING_API_KEY", None);
}

async fn malformed_or_unknown_api_key_is_401(app: &TestApp) {
    for bad in ["Basic abc", "Bearer", "Bearer sk_test_nope", "sk_test_xyz"] {
        let res = app
            .request(Method::GET, "/v1/payment-intents")
            .no_key()
            .header("Authorization", bad)
            .send()
            .await;
        res.assert_error(401, "INVALID_API_KEY", None);
    }
    // Right prefix, wrong secret: the candidate found by prefix must not match.
    let forged = format!(
        "{}{}",
        &app.test_key[..16],
        "x".repeat(app.test_key.len() - 16)
    );
    let res = app
        .request(Method::GET, "/v1/payment-intents")
        .key(&forged)
        .send()
        .await;
    res.assert_error(401, "INVALID_API_KEY", None);
}

async fn revoked_key_is_401(app: &TestApp) {
    let key = app
        .app
        .create_api_key(&app.merchant_id, false)
        .await
        .unwrap();
    let res = app
        .request(Method::GET, "/v1/payment-intents")
        .key(&key)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(app.app.revoke_api_key(&key[..16]).await.unwrap(), 1);
    let res = app
        .request(Method::GET, "/v1/payment-intents")
        .key(&key)
        .send()
        .await;
    res.assert_error(401, "INVALID_API_KEY", None);
    // The bootstrap key is untouched.
    assert_eq!(app.get("/v1/payment-intents").await.status, 200);
}

async fn test_and_live_mode_are_isolated(app: &TestApp) {
    let id = app.create_manual(5000).await;
    let res = app
        .request(Method::GET, &format!("/v1/payment-intents/{id}"))
        .key(&app.live_key)
        .send()
        .await;
    res.assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);
    let res = app
        .request(Method::POST, &format!("/v1/payment-intents/{id}/cancel"))
        .key(&app.live_key)
        .json(&json!({}))
        .send()
        .await;
    res.assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);
    let live_list = app
        .request(Method::GET, "/v1/payment-intents")
        .key(&app.live_key)
        .send()
        .await;
    assert_eq!(live_list.status, 200);
    assert_eq!(live_list.json["data"], json!([]));
    let events = app
        .request(Method::GET, "/v1/events")
        .key(&app.live_key)
        .send()
        .await;
    assert_eq!(events.json["data"], json!([]));
}

async fn another_merchants_objects_are_404(app: &TestApp) {
    let other = app.app.create_merchant("Other Shop").await.unwrap();
    let id = app.create_manual(5000).await;
    let missing = "pi_000000000000000000000000";
    for path in [
        format!("/v1/payment-intents/{id}"),
        format!("/v1/payment-intents/{id}/actions"),
    ] {
        let res = app
            .request(Method::GET, &path)
            .key(&other.test_key)
            .send()
            .await;
        res.assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);
        let own_missing = app.get(&path.replace(&id, missing)).await;
        own_missing.assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);
    }
    for action in ["confirm", "capture", "cancel"] {
        let res = app
            .request(Method::POST, &format!("/v1/payment-intents/{id}/{action}"))
            .key(&other.test_key)
            .json(&json!({}))
            .send()
            .await;
        res.assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);
    }
    // The foreign merchant's event list does not show ours.
    let events = app
        .request(Method::GET, "/v1/events")
        .key(&other.test_key)
        .send()
        .await;
    assert_eq!(events.json["data"], json!([]));
    let ours = app.get("/v1/events").await;
    let event_id = ours.json["data"][0]["id"].as_str().unwrap().to_owned();
    let res = app
        .request(Method::GET, &format!("/v1/events/{event_id}"))
        .key(&other.test_key)
        .send()
        .await;
    res.assert_error(404, "EVENT_NOT_FOUND", None);
}

async fn malformed_json_is_invalid_json(app: &TestApp) {
    for body in ["{", "{\"amount_money\": }", "[1,2]", "42", "nul"] {
        let res = app
            .request(Method::POST, "/v1/payment-intents")
            .raw(Some("application/json"), body)
            .send()
            .await;
        res.assert_error(400, "INVALID_JSON", None);
    }
}

async fn wrong_types_are_invalid_parameter_with_param(app: &TestApp) {
    let cases = [
        (
            json!({"amount_money": {"amount": "12900", "currency": "USD"}}),
            "amount_money.amount",
        ),
        (
            json!({"amount_money": {"amount": 12.5, "currency": "USD"}}),
            "amount_money.amount",
        ),
        (
            json!({"amount_money": {"amount": 0, "currency": "USD"}}),
            "amount_money.amount",
        ),
        (
            json!({"amount_money": {"amount": -5, "currency": "USD"}}),
            "amount_money.amount",
        ),
        (
            json!({"amount_money": {"amount": 9_223_372_036_854_775_808u64, "currency": "USD"}}),
            "amount_money.amount",
        ),
        (
            json!({"amount_money": {"amount": 100, "currency": "usd"}}),
            "amount_money.currency",
        ),
        (
            json!({"amount_money": {"amount": 100, "currency": "XYZ"}}),
            "amount_money.currency",
        ),
        (
            json!({"amount_money": usd(100), "auto_confirm": "yes"}),
            "auto_confirm",
        ),
        (
            json!({"amount_money": usd(100), "metadata": {"k": 1}}),
            "metadata.k",
        ),
        (
            json!({"amount_money": usd(100), "payment_method_types": ["bank"]}),
            "payment_method_types",
        ),
        (json!({"amount_money": "100"}), "amount_money"),
    ];
    for (body, param) in cases {
        let res = app.post("/v1/payment-intents", body.clone()).await;
        res.assert_error(400, "INVALID_PARAMETER", Some(param));
    }
    let too_many: serde_json::Map<String, serde_json::Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let res = app
        .post(
            "/v1/payment-intents",
            json!({"amount_money": usd(100), "metadata": too_many}),
        )
        .await;
    res.assert_error(400, "INVALID_PARAMETER", Some("metadata"));
    let res = app
        .post(
            "/v1/payment-intents",
            json!({"amount_money": usd(100), "metadata": {"k".repeat(41): "v"}}),
        )
        .await;
    res.assert_error(
        400,
        "INVALID_PARAMETER",
        Some(&format!("metadata.{}", "k".repeat(41))),
    );
    // Nothing was created by any of these.
    assert_eq!(app.get("/v1/payment-intents").await.json["data"], json!([]));
}

async fn unknown_fields_are_unknown_parameter_with_param(app: &TestApp) {
    let res = app
        .post(
            "/v1/payment-intents",
            json!({"amount_money": usd(100), "amount": 100}),
        )
        .await;
    res.assert_error(400, "UNKNOWN_PARAMETER", Some("amount"));
    let res = app
        .post(
            "/v1/payment-intents",
            json!({"amount_money": {"amount": 100, "currency": "USD", "value": 1}}),
        )
        .await;
    res.assert_error(400, "UNKNOWN_PARAMETER", Some("amount_money.value"));
    let id = app.hold(1000).await;
    let res = app
        .post(
            &format!("/v1/payment-intents/{id}/capture"),
            json!({"amount": 100}),
        )
        .await;
    res.assert_error(400, "UNKNOWN_PARAMETER", Some("amount"));
    assert_eq!(
        app.get(&format!("/v1/payment-intents/{id}")).await.intent()["status"],
        "requires_capture"
    );
}

async fn missing_required_field_is_missing_parameter(app: &TestApp) {
    let res = app
        .post("/v1/payment-intents", json!({"capture_method": "manual"}))
        .await;
    res.assert_error(400, "MISSING_PARAMETER", Some("amount_money"));
    let res = app
        .post(
            "/v1/payment-intents",
            json!({"amount_money": {"amount": 100}}),
        )
        .await;
    res.assert_error(400, "MISSING_PARAMETER", Some("amount_money.currency"));
}

async fn oversized_body_is_413(app: &TestApp) {
    let big = format!("{{\"description\": \"{}\"}}", "x".repeat(64 * 1024 + 1));
    let res = app
        .request(Method::POST, "/v1/payment-intents")
        .raw(Some("application/json"), big)
        .send()
        .await;
    res.assert_error(413, "REQUEST_TOO_LARGE", None);
}

async fn non_json_content_type_is_415(app: &TestApp) {
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let res = app
            .request(Method::POST, "/v1/payment-intents")
            .raw(
                ct,
                "{\"amount_money\": {\"amount\": 1, \"currency\": \"USD\"}}",
            )
            .send()
            .await;
        res.assert_error(415, "UNSUPPORTED_MEDIA_TYPE", None);
    }
    // A charset parameter is fine.
    let res = app
        .request(Method::POST, "/v1/payment-intents")
        .raw(
            Some("application/json; charset=utf-8"),
            "{\"amount_money\": {\"amount\": 1, \"currency\": \"USD\"}}",
        )
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
}

async fn unknown_route_and_wrong_method(app: &TestApp) {
    app.get("/v1/nothing-here")
        .await
        .assert_error(404, "NOT_FOUND", None);
    app.request(Method::GET, "/")
        .no_key()
        .send()
        .await
        .assert_error(404, "NOT_FOUND", None);
    let res = app
        .request(Method::DELETE, "/v1/payment-intents")
        .send()
        .await;
    res.assert_error(405, "METHOD_NOT_ALLOWED", None);
    let res = app
        .request(Method::GET, "/v1/payment-intents/pi_x/capture")
        .send()
        .await;
    res.assert_error(405, "METHOD_NOT_ALLOWED", None);
}

async fn query_parameters_are_checked(app: &TestApp) {
    let cases = [
        ("/v1/payment-intents?limit=0", "INVALID_PARAMETER", "limit"),
        (
            "/v1/payment-intents?limit=101",
            "INVALID_PARAMETER",
            "limit",
        ),
        (
            "/v1/payment-intents?limit=ten",
            "INVALID_PARAMETER",
            "limit",
        ),
        (
            "/v1/payment-intents?status=paid",
            "INVALID_PARAMETER",
            "status",
        ),
        (
            "/v1/payment-intents?capture_method=later",
            "INVALID_PARAMETER",
            "capture_method",
        ),
        (
            "/v1/payment-intents?created_after=yesterday",
            "INVALID_PARAMETER",
            "created_after",
        ),
        (
            "/v1/payment-intents?cursor=pi_nope",
            "INVALID_PARAMETER",
            "cursor",
        ),
        ("/v1/payment-intents?sort=asc", "UNKNOWN_PARAMETER", "sort"),
        (
            "/v1/events?type=payment_intent.captured",
            "INVALID_PARAMETER",
            "type",
        ),
    ];
    for (path, code, param) in cases {
        app.get(path).await.assert_error(400, code, Some(param));
    }
}

async fn every_response_has_a_request_id(app: &TestApp) {
    let ok = app.get("/v1/payment-intents").await;
    assert_eq!(ok.status, 200);
    let a = ok.header("x-request-id").unwrap().to_owned();
    assert!(a.starts_with("req_") && a.len() == 28, "{a}");
    let b = app.get("/v1/payment-intents").await;
    assert_ne!(
        b.header("x-request-id").unwrap(),
        a,
        "a fresh id per request"
    );
    let health = app.request(Method::GET, "/healthz").no_key().send().await;
    assert!(health.header("x-request-id").is_some());
}

async fn health_endpoints(app: &TestApp) {
    let res = app.request(Method::GET, "/healthz").no_key().send().await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json, json!({"status": "ok"}));
    let res = app.request(Method::GET, "/readyz").no_key().send().await;
    assert_eq!(res.status, 200);
    let backend = match app.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(res.json, json!({"status": "ready", "database": backend}));
}

async fn objects_are_stamped_with_livemode(app: &TestApp) {
    let res = app
        .post("/v1/payment-intents", json!({"amount_money": usd(700)}))
        .await;
    assert_eq!(res.json["data"]["payment_intent"]["livemode"], false);
    let res = app
        .request(Method::POST, "/v1/payment-intents")
        .key(&app.live_key)
        .json(&json!({"amount_money": usd(700), "capture_method": "manual"}))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.json["data"]["payment_intent"]["livemode"], true);
    let id = res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap();
    // Live mode has no real processor configured: confirming says so, and changes nothing.
    let res = app
        .request(Method::POST, &format!("/v1/payment-intents/{id}/confirm"))
        .key(&app.live_key)
        .json(&json!({"payment_source_token": "pm_card_visa"}))
        .send()
        .await;
    res.assert_error(400, "PROCESSOR_NOT_CONFIGURED", None);
}

// ---- Restarts (SQLite: the same file) ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_the_same_sqlite_file_keeps_everything() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let id = app.hold(12900).await;
    let key = app.test_key.clone();
    let before = app.get(&format!("/v1/payment-intents/{id}")).await.json;
    let db = app.stop().await;

    let clock = std::sync::Arc::new(holdfast_service::ManualClock::new(
        holdfast_domain::Timestamp(crate::helpers::T0),
    ));
    let running = holdfast::start(
        "127.0.0.1:0".parse().unwrap(),
        &db.url,
        clock,
        holdfast::Options::default(),
        std::future::pending(),
    )
    .await
    .unwrap();
    assert!(
        running.bootstrapped.is_none(),
        "a database with merchants is not bootstrapped again"
    );
    let client = reqwest::Client::new();
    let after: serde_json::Value = client
        .get(format!("http://{}/v1/payment-intents/{id}", running.addr))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after, before);
    running.task.abort();
}

async fn idempotency_keys_are_kept_eight_days_then_purged(app: &TestApp) {
    let create = |amount: i64| {
        app.request(Method::POST, "/v1/payment-intents")
            .idem("order-77")
            .json(&json!({"amount_money": usd(amount)}))
    };
    let first = create(100).send().await;
    assert_eq!(first.status, 201);
    // Eight days less a second later the record is still there and replays.
    app.clock.advance(8 * 86_400 - 1);
    assert_eq!(app.app.purge_idempotency_keys(10).await.unwrap(), 0);
    let replay = create(100).send().await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.text, first.text);
    create(200)
        .send()
        .await
        .assert_error(422, "IDEMPOTENCY_KEY_REUSED", None);
    // Past eight days it is purged, and the key is free again.
    app.clock.advance(2);
    assert_eq!(app.app.purge_idempotency_keys(10).await.unwrap(), 1);
    let fresh = create(200).send().await;
    assert_eq!(fresh.status, 201, "{}", fresh.text);
    assert_eq!(fresh.header("idempotent-replayed"), None);
    assert_eq!(
        fresh.json["data"]["payment_intent"]["amount_money"],
        usd(200)
    );
}
