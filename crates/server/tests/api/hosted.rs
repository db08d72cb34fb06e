//! Hosted surfaces end to end, on both backends: checkout sessions through the API (create, get,
//! list, expire, the codes), and their hosted page (`/pay/cs_…`) as a browser speaks to it: a
//! form with a CSRF token and an idempotency key, the sandbox's test card numbers, the 3D Secure
//! page, the redirect to `success_url`, double submits and two tabs, the headers and the
//! per-address limit. Each payment is checked on the intent it made, its events and its refund.

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Res, T0, TestApp, rfc3339, usd};

both_backends!(
    create_answers_201_with_an_open_session,
    manual_capture_is_refused_with_its_own_code,
    creation_checks_each_field_with_its_code,
    get_and_list_newest_first_with_cursors,
    other_merchants_and_modes_get_404,
    expire_closes_the_page_and_fires_once,
    a_session_lapses_at_its_time_and_the_worker_records_it,
    creation_is_idempotent,
    paying_with_the_approving_card_completes_the_session,
    a_decline_shows_on_the_page_and_another_card_pays,
    three_d_secure_fails_then_completes,
    a_double_submit_and_a_second_tab_pay_once,
    pages_refuse_forms_without_their_csrf_token,
    pages_send_strict_headers_and_never_echo_the_card,
    unknown_sessions_and_ids_are_404_pages,
);

const SUCCESS: &str = "https://shop.example/thanks";
const CANCEL: &str = "https://shop.example/cart";

fn session_body(amount: i64) -> Value {
    json!({
        "amount_money": usd(amount),
        "success_url": SUCCESS,
        "cancel_url": CANCEL,
        "description": "Camera rental, one day",
    })
}

async fn create_session(app: &TestApp, amount: i64) -> Value {
    let res = app
        .post("/v1/checkout-sessions", session_body(amount))
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.json["data"].clone()
}

fn id_of(session: &Value) -> String {
    session["checkout_session_id"]
        .as_str()
        .expect("checkout_session_id")
        .to_owned()
}

async fn session(app: &TestApp, id: &str) -> Value {
    let res = app.get(&format!("/v1/checkout-sessions/{id}")).await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.json["data"].clone()
}

/// A browser on the hosted page: no redirects followed, its page's cookie kept by hand.
struct Buyer {
    client: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

/// A page as the browser got it.
struct Page {
    status: u16,
    headers: HeaderMap,
    html: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the first hidden input named `name`.
    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .html
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.html))
            + marker.len();
        let end = self.html[start..].find('"').expect("end of value") + start;
        self.html[start..end].to_owned()
    }
}

impl Buyer {
    fn new(app: &TestApp) -> Buyer {
        Buyer {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: app.base.clone(),
            cookie: None,
        }
    }

    async fn send(&mut self, method: Method, path: &str, form: Option<&[(&str, &str)]>) -> Page {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", cookie);
        }
        if let Some(form) = form {
            request = request.form(form);
        }
        let response = request.send().await.expect("page");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if let Some(set) = headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            self.cookie = set.split(';').next().map(str::to_owned);
        }
        let html = response.text().await.expect("body");
        Page {
            status,
            headers,
            html,
        }
    }

    async fn open(&mut self, id: &str) -> Page {
        self.send(Method::GET, &format!("/pay/{id}"), None).await
    }

    /// Submits the card form of `page` with a card number.
    async fn pay(&mut self, id: &str, page: &Page, number: &str) -> Page {
        let (csrf, key) = (page.field("csrf_token"), page.field("key"));
        let form = [
            ("csrf_token", csrf.as_str()),
            ("key", key.as_str()),
            ("card_number", number),
            ("expiry", "12 / 34"),
            ("cvc", "123"),
        ];
        self.send(Method::POST, &format!("/pay/{id}"), Some(&form))
            .await
    }

    /// Opens the page and pays with `number`.
    async fn open_and_pay(&mut self, id: &str, number: &str) -> Page {
        let page = self.open(id).await;
        assert_eq!(page.status, 200, "{}", page.html);
        self.pay(id, &page, number).await
    }

    async fn authenticate(&mut self, id: &str, result: &str) -> Page {
        let page = self
            .send(Method::GET, &format!("/pay/{id}/authenticate"), None)
            .await;
        assert_eq!(page.status, 200, "{}", page.html);
        assert!(page.html.contains(">Complete<") && page.html.contains(">Fail<"));
        let (csrf, key) = (page.field("csrf_token"), page.field("key"));
        let form = [
            ("csrf_token", csrf.as_str()),
            ("key", key.as_str()),
            ("result", result),
        ];
        self.send(
            Method::POST,
            &format!("/pay/{id}/authenticate"),
            Some(&form),
        )
        .await
    }
}

fn success_location(id: &str) -> String {
    format!("{SUCCESS}?checkout_session_id={id}")
}

async fn create_answers_201_with_an_open_session(app: &TestApp) {
    let res = app.post("/v1/checkout-sessions", session_body(2500)).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let data = &res.json["data"];
    let id = id_of(data);
    assert!(id.starts_with("cs_") && id.len() == 27, "{id}");
    assert_eq!(
        data,
        &json!({
            "checkout_session_id": id,
            "status": "open",
            "url": format!("{}/pay/{id}", app.base),
            "amount_money": usd(2500),
            "payment_intent_id": null,
            "capture_method": "automatic",
            "description": "Camera rental, one day",
            "success_url": SUCCESS,
            "cancel_url": CANCEL,
            "customer_id": null,
            "reference": null,
            "metadata": {},
            "livemode": false,
            "expires_at": rfc3339(T0 + 86_400),
            "completed_at": null,
            "expired_at": null,
            "created_at": rfc3339(T0),
        })
    );
    assert_eq!(session(app, &id).await, *data);
    // A session is not a payment: nothing was created or charged yet.
    let intents = app.get("/v1/payment-intents").await;
    assert_eq!(intents.json["data"], json!([]));
}

async fn manual_capture_is_refused_with_its_own_code(app: &TestApp) {
    let mut body = session_body(2500);
    body["capture_method"] = json!("manual");
    let res = app.post("/v1/checkout-sessions", body.clone()).await;
    res.assert_error(
        400,
        "MANUAL_CAPTURE_NOT_ALLOWED_WITH_CHECKOUT",
        Some("capture_method"),
    );
    // Refused before anything else is looked at, even a missing amount.
    body.as_object_mut().expect("object").remove("amount_money");
    let res = app.post("/v1/checkout-sessions", body).await;
    res.assert_error(
        400,
        "MANUAL_CAPTURE_NOT_ALLOWED_WITH_CHECKOUT",
        Some("capture_method"),
    );
    let mut body = session_body(2500);
    body["capture_method"] = json!("automatic");
    let res = app.post("/v1/checkout-sessions", body).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.json["data"]["capture_method"], "automatic");
    let mut body = session_body(2500);
    body["capture_method"] = json!("later");
    let res = app.post("/v1/checkout-sessions", body).await;
    res.assert_error(400, "INVALID_CAPTURE_METHOD", Some("capture_method"));
    let listed = app.get("/v1/checkout-sessions").await;
    assert_eq!(listed.json["data"].as_array().map(Vec::len), Some(1));
}

async fn creation_checks_each_field_with_its_code(app: &TestApp) {
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            json!({"amount_money": null}),
            400,
            "MISSING_PARAMETER",
            "amount_money",
        ),
        (
            json!({"amount_money": {"amount": 0, "currency": "USD"}}),
            400,
            "INVALID_PARAMETER",
            "amount_money.amount",
        ),
        (
            json!({"amount_money": {"amount": 100, "currency": "ZZZ"}}),
            400,
            "INVALID_PARAMETER",
            "amount_money.currency",
        ),
        (
            json!({"success_url": null}),
            400,
            "MISSING_PARAMETER",
            "success_url",
        ),
        (
            json!({"success_url": "javascript:alert(1)"}),
            400,
            "INVALID_PARAMETER",
            "success_url",
        ),
        (
            json!({"cancel_url": "/cart"}),
            400,
            "INVALID_PARAMETER",
            "cancel_url",
        ),
        (
            json!({"expires_in_seconds": 604_801}),
            400,
            "INVALID_PARAMETER",
            "expires_in_seconds",
        ),
        (
            json!({"expires_in_seconds": 59}),
            400,
            "INVALID_PARAMETER",
            "expires_in_seconds",
        ),
        (
            json!({"description": "x".repeat(501)}),
            400,
            "INVALID_PARAMETER",
            "description",
        ),
        (
            json!({"customer_id": "cus_nope"}),
            404,
            "CUSTOMER_NOT_FOUND",
            "customer_id",
        ),
        (
            json!({"order_total": 5}),
            400,
            "UNKNOWN_PARAMETER",
            "order_total",
        ),
    ];
    for (change, status, code, param) in cases {
        let mut body = session_body(2500);
        for (k, v) in change.as_object().expect("object") {
            if v.is_null() {
                body.as_object_mut().expect("object").remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        let res = app.post("/v1/checkout-sessions", body).await;
        res.assert_error(status, code, Some(param));
    }
    let mut body = session_body(2500);
    body["expires_in_seconds"] = json!(604_800);
    let res = app.post("/v1/checkout-sessions", body).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.json["data"]["expires_at"], rfc3339(T0 + 604_800));
    let listed = app.get("/v1/checkout-sessions").await;
    assert_eq!(listed.json["data"].as_array().map(Vec::len), Some(1));
}

async fn get_and_list_newest_first_with_cursors(app: &TestApp) {
    let mut ids = Vec::new();
    for amount in [100, 200, 300] {
        ids.push(id_of(&create_session(app, amount).await));
    }
    let page = app.get("/v1/checkout-sessions?limit=2").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let first: Vec<&str> = page.json["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|s| s["checkout_session_id"].as_str().expect("id"))
        .collect();
    assert_eq!(first, vec![ids[2].as_str(), ids[1].as_str()]);
    assert_eq!(page.json["has_more"], true);
    let cursor = page.json["next_cursor"].as_str().expect("cursor");
    let rest = app
        .get(&format!("/v1/checkout-sessions?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(rest.json["data"][0]["checkout_session_id"], ids[0].as_str());
    assert_eq!(rest.json["has_more"], false);
    app.get("/v1/checkout-sessions?limit=0").await.assert_error(
        400,
        "INVALID_PARAMETER",
        Some("limit"),
    );
    app.get("/v1/checkout-sessions?status=open")
        .await
        .assert_error(400, "UNKNOWN_PARAMETER", Some("status"));
}

async fn other_merchants_and_modes_get_404(app: &TestApp) {
    let id = id_of(&create_session(app, 900).await);
    let live = app
        .request(Method::GET, &format!("/v1/checkout-sessions/{id}"))
        .key(&app.live_key)
        .send()
        .await;
    live.assert_error(404, "CHECKOUT_SESSION_NOT_FOUND", None);
    let other = app.app.create_merchant("other").await.expect("merchant");
    let foreign = app
        .request(Method::GET, &format!("/v1/checkout-sessions/{id}"))
        .key(&other.test_key)
        .send()
        .await;
    foreign.assert_error(404, "CHECKOUT_SESSION_NOT_FOUND", None);
    let expire = app
        .request(Method::POST, &format!("/v1/checkout-sessions/{id}/expire"))
        .key(&other.test_key)
        .json(&json!({}))
        .send()
        .await;
    expire.assert_error(404, "CHECKOUT_SESSION_NOT_FOUND", None);
    let listed = app
        .request(Method::GET, "/v1/checkout-sessions")
        .key(&other.test_key)
        .send()
        .await;
    assert_eq!(listed.json["data"], json!([]));
    assert_eq!(session(app, &id).await["status"], "open");
    app.get("/v1/checkout-sessions/cs_unknown")
        .await
        .assert_error(404, "CHECKOUT_SESSION_NOT_FOUND", None);
}

async fn expire_closes_the_page_and_fires_once(app: &TestApp) {
    let id = id_of(&create_session(app, 1500).await);
    app.clock.advance(30);
    let res = app
        .post(&format!("/v1/checkout-sessions/{id}/expire"), json!({}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["status"], "expired");
    assert_eq!(res.json["data"]["expired_at"], rfc3339(T0 + 30));
    assert_eq!(res.json["data"]["payment_intent_id"], Value::Null);
    let again = app
        .post(&format!("/v1/checkout-sessions/{id}/expire"), json!({}))
        .await;
    again.assert_error(409, "CHECKOUT_SESSION_NOT_OPEN", None);
    let events = app.events_of_type("checkout_session.expired").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["data"]["object"]["checkout_session_id"],
        id.as_str()
    );
    assert_eq!(events[0]["data"]["object"]["status"], "expired");
    // The page says so and takes no payment.
    let mut buyer = Buyer::new(app);
    let page = buyer.open(&id).await;
    assert_eq!(page.status, 410);
    assert!(
        page.html.contains("This payment page has expired"),
        "{}",
        page.html
    );
    assert!(!page.html.contains("card_number"));
    let paid = buyer
        .send(
            Method::POST,
            &format!("/pay/{id}"),
            Some(&[
                ("csrf_token", "x"),
                ("key", "y"),
                ("card_number", "4242424242424242"),
            ]),
        )
        .await;
    assert_eq!(paid.status, 403, "no cookie, no form");
    assert_eq!(app.get("/v1/payment-intents").await.json["data"], json!([]));
    assert_eq!(
        app.app
            .expire_due_checkout_sessions_once(100)
            .await
            .unwrap(),
        0
    );
}

async fn a_session_lapses_at_its_time_and_the_worker_records_it(app: &TestApp) {
    let mut body = session_body(700);
    body["expires_in_seconds"] = json!(3600);
    let res = app.post("/v1/checkout-sessions", body).await;
    let id = id_of(&res.json["data"]);
    let mut buyer = Buyer::new(app);
    let page = buyer.open(&id).await;
    assert_eq!(page.status, 200);
    app.clock.advance(3599);
    assert_eq!(session(app, &id).await["status"], "open");
    assert_eq!(
        app.app
            .expire_due_checkout_sessions_once(100)
            .await
            .unwrap(),
        0
    );
    app.clock.advance(1);
    // Expired as of now, before the worker has recorded it; the open form pays nothing.
    let read = session(app, &id).await;
    assert_eq!(read["status"], "expired");
    assert_eq!(read["expired_at"], rfc3339(T0 + 3600));
    let late = buyer.pay(&id, &page, "4242424242424242").await;
    assert_eq!(late.status, 303, "{}", late.html);
    assert_eq!(late.location(), format!("/pay/{id}"));
    assert_eq!(buyer.open(&id).await.status, 410);
    assert_eq!(app.get("/v1/payment-intents").await.json["data"], json!([]));
    assert!(
        app.events_of_type("checkout_session.expired")
            .await
            .is_empty()
    );
    assert_eq!(
        app.app
            .expire_due_checkout_sessions_once(100)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.app
            .expire_due_checkout_sessions_once(100)
            .await
            .unwrap(),
        0
    );
    let events = app.events_of_type("checkout_session.expired").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["data"]["object"]["expired_at"],
        rfc3339(T0 + 3600)
    );
    assert_eq!(session(app, &id).await, read);
}

async fn creation_is_idempotent(app: &TestApp) {
    let send = |body: Value| {
        app.request(Method::POST, "/v1/checkout-sessions")
            .idem("cs-create-1")
            .json(&body)
            .send()
    };
    let first = send(session_body(1200)).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = send(session_body(1200)).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.json, first.json);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let changed = send(session_body(1300)).await;
    changed.assert_error(422, "IDEMPOTENCY_KEY_REUSED", None);
    let listed = app.get("/v1/checkout-sessions").await;
    assert_eq!(listed.json["data"].as_array().map(Vec::len), Some(1));
}

/// The intent a completed session names, checked as an automatic, `checkout_session` payment of
/// `amount` by the card ending `last_four`.
async fn paid_intent(app: &TestApp, id: &str, amount: i64, last_four: &str) -> String {
    let read = session(app, id).await;
    assert_eq!(read["status"], "complete", "{read}");
    let pid = read["payment_intent_id"].as_str().expect("paid").to_owned();
    let intent = app.intent(&pid).await;
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["source"], "checkout_session");
    assert_eq!(intent["capture_method"], "automatic");
    assert_eq!(intent["amount_money"], usd(amount));
    assert_eq!(intent["captured_amount_money"], usd(amount));
    assert_eq!(intent["capturable_amount_money"], usd(0));
    assert_eq!(intent["payment_method_last_four"], last_four);
    assert_eq!(intent["description"], "Camera rental, one day");
    pid
}

async fn paying_with_the_approving_card_completes_the_session(app: &TestApp) {
    let id = id_of(&create_session(app, 2500).await);
    let mut buyer = Buyer::new(app);
    let page = buyer.open(&id).await;
    assert_eq!(page.status, 200);
    assert!(page.html.contains("25.00 USD"), "{}", page.html);
    assert!(page.html.contains("Camera rental, one day"));
    assert!(page.html.contains("Test mode"));
    assert!(page.html.contains("default"), "the merchant's name");
    app.clock.advance(5);
    let done = buyer.pay(&id, &page, "4242 4242 4242 4242").await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(done.location(), success_location(&id));
    let pid = paid_intent(app, &id, 2500, "4242").await;
    let read = session(app, &id).await;
    assert_eq!(read["completed_at"], rfc3339(T0 + 5));
    assert_eq!(
        app.event_types_of(&pid).await,
        vec![
            "payment_intent.created",
            "payment_intent.succeeded",
            "checkout_session.completed"
        ]
    );
    let completed = app.events_of_type("checkout_session.completed").await;
    assert_eq!(completed.len(), 1);
    assert_eq!(
        completed[0]["data"]["object"]["payment_intent_id"],
        pid.as_str()
    );
    // The page now shows the payment as made, and takes no other.
    let after = buyer.open(&id).await;
    assert_eq!(after.status, 200);
    assert!(after.html.contains("Payment complete"), "{}", after.html);
    assert!(!after.html.contains("card_number"));
    // An ordinary intent: refundable as any other.
    let refund = app
        .refund(json!({"payment_intent_id": pid, "amount_money": usd(1000)}))
        .await;
    assert_eq!(refund.status, 201, "{}", refund.text);
    assert_eq!(app.intent(&pid).await["refunded_amount_money"], usd(1000));
    let expire = app
        .post(&format!("/v1/checkout-sessions/{id}/expire"), json!({}))
        .await;
    expire.assert_error(409, "CHECKOUT_SESSION_NOT_OPEN", None);
}

async fn a_decline_shows_on_the_page_and_another_card_pays(app: &TestApp) {
    let id = id_of(&create_session(app, 4000).await);
    let mut buyer = Buyer::new(app);
    let declined = buyer.open_and_pay(&id, "4000000000000002").await;
    assert_eq!(declined.status, 303, "{}", declined.html);
    assert_eq!(declined.location(), format!("/pay/{id}"));
    let page = buyer.open(&id).await;
    assert_eq!(page.status, 200);
    assert!(
        page.html
            .contains("Your card was declined (card ending 0002)"),
        "{}",
        page.html
    );
    let read = session(app, &id).await;
    assert_eq!(read["status"], "open");
    assert_eq!(read["payment_intent_id"], Value::Null);
    // Not a test card: refused on the form, nothing charged, the number not shown back.
    let unknown = buyer.pay(&id, &page, "4111 1111 1111 1111").await;
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.html.contains("test card numbers"),
        "{}",
        unknown.html
    );
    assert!(!unknown.html.contains("4111"));
    let page = buyer.open(&id).await;
    let paid = buyer.pay(&id, &page, "4242424242424242").await;
    assert_eq!(paid.status, 303, "{}", paid.html);
    assert_eq!(paid.location(), success_location(&id));
    let pid = paid_intent(app, &id, 4000, "4242").await;
    // One intent for both attempts: the decline, then the payment.
    let intents = app.get("/v1/payment-intents").await;
    assert_eq!(intents.json["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        app.event_types_of(&pid).await,
        vec![
            "payment_intent.created",
            "payment_intent.payment_failed",
            "payment_intent.succeeded",
            "checkout_session.completed"
        ]
    );
}

async fn three_d_secure_fails_then_completes(app: &TestApp) {
    let id = id_of(&create_session(app, 6100).await);
    let mut buyer = Buyer::new(app);
    let asked = buyer.open_and_pay(&id, "4000 0027 6000 3184").await;
    assert_eq!(asked.status, 303, "{}", asked.html);
    assert_eq!(asked.location(), format!("/pay/{id}/authenticate"));
    // The card form sends the buyer back to the pending authentication.
    let form = buyer.open(&id).await;
    assert_eq!(form.status, 303);
    assert_eq!(form.location(), format!("/pay/{id}/authenticate"));
    let failed = buyer.authenticate(&id, "fail").await;
    assert_eq!(failed.status, 303, "{}", failed.html);
    assert_eq!(failed.location(), format!("/pay/{id}"));
    let page = buyer.open(&id).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(
        page.html.contains("authentication did not succeed"),
        "{}",
        page.html
    );
    assert_eq!(session(app, &id).await["status"], "open");
    let again = buyer.pay(&id, &page, "4000002760003184").await;
    assert_eq!(again.location(), format!("/pay/{id}/authenticate"));
    let done = buyer.authenticate(&id, "complete").await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(done.location(), success_location(&id));
    let pid = paid_intent(app, &id, 6100, "3184").await;
    let completed = app.events_of_type("checkout_session.completed").await;
    assert_eq!(completed.len(), 1);
    assert!(
        app.event_types_of(&pid)
            .await
            .contains(&"payment_intent.requires_action".to_owned())
    );
}

async fn a_double_submit_and_a_second_tab_pay_once(app: &TestApp) {
    let id = id_of(&create_session(app, 3300).await);
    let mut buyer = Buyer::new(app);
    let mut second_tab = Buyer::new(app);
    let page = buyer.open(&id).await;
    second_tab.cookie = buyer.cookie.clone();
    let tab_page = second_tab.open(&id).await;
    assert_eq!(
        tab_page.field("csrf_token"),
        page.field("csrf_token"),
        "one cookie, one token"
    );
    // The same form twice at once, as a double click does.
    let (csrf, key) = (page.field("csrf_token"), page.field("key"));
    let form = vec![
        ("csrf_token".to_owned(), csrf),
        ("key".to_owned(), key),
        ("card_number".to_owned(), "4242424242424242".to_owned()),
        ("expiry".to_owned(), "01/40".to_owned()),
        ("cvc".to_owned(), "999".to_owned()),
    ];
    let send = || {
        buyer
            .client
            .post(format!("{}/pay/{id}", app.base))
            .header("Cookie", buyer.cookie.clone().expect("cookie"))
            .form(&form)
            .send()
    };
    let (a, b) = tokio::join!(send(), send());
    for response in [a.expect("a"), b.expect("b")] {
        assert_eq!(response.status(), 303);
        assert_eq!(
            response.headers()["location"].to_str().expect("location"),
            success_location(&id)
        );
    }
    // The second tab's form, with its own key, finds the session paid.
    let late = second_tab.pay(&id, &tab_page, "5555555555554444").await;
    assert_eq!(late.status, 303, "{}", late.html);
    assert_eq!(late.location(), format!("/pay/{id}"));
    assert!(second_tab.open(&id).await.html.contains("Payment complete"));
    // The first form again, later: the same answer, replayed.
    let replay = buyer
        .client
        .post(format!("{}/pay/{id}", app.base))
        .header("Cookie", buyer.cookie.clone().expect("cookie"))
        .form(&form)
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status(), 303);
    assert_eq!(replay.headers()["location"], success_location(&id).as_str());
    let pid = paid_intent(app, &id, 3300, "4242").await;
    let intents = app.get("/v1/payment-intents").await;
    assert_eq!(intents.json["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        app.events_of_type("payment_intent.succeeded").await.len(),
        1
    );
    assert_eq!(
        app.events_of_type("checkout_session.completed").await.len(),
        1
    );
    // One charge: one authorization and its capture, both of one request.
    let actions = app.actions_of(&pid).await;
    let kinds: Vec<&str> = actions
        .iter()
        .map(|a| a["type"].as_str().expect("type"))
        .collect();
    assert_eq!(kinds, vec!["authorization", "capture"]);
    assert_eq!(actions[0]["request_id"], actions[1]["request_id"]);
}

async fn pages_refuse_forms_without_their_csrf_token(app: &TestApp) {
    let id = id_of(&create_session(app, 800).await);
    let mut buyer = Buyer::new(app);
    let page = buyer.open(&id).await;
    let set = page.headers["set-cookie"].to_str().expect("cookie");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(set.contains(&format!("Path=/pay/{id}")), "{set}");
    let key = page.field("key");
    let form = |csrf: &str| {
        vec![
            ("csrf_token".to_owned(), csrf.to_owned()),
            ("key".to_owned(), key.clone()),
            ("card_number".to_owned(), "4242424242424242".to_owned()),
            ("expiry".to_owned(), "12/34".to_owned()),
            ("cvc".to_owned(), "123".to_owned()),
        ]
    };
    // Another site's form: no cookie (SameSite), or a token that does not match it.
    let without = buyer
        .client
        .post(format!("{}/pay/{id}", app.base))
        .form(&form(&page.field("csrf_token")))
        .send()
        .await
        .expect("post");
    assert_eq!(without.status(), 403);
    let wrong = buyer
        .client
        .post(format!("{}/pay/{id}", app.base))
        .header("Cookie", buyer.cookie.clone().expect("cookie"))
        .form(&form("A".repeat(32).as_str()))
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status(), 403);
    assert_eq!(session(app, &id).await["status"], "open");
    assert_eq!(app.get("/v1/payment-intents").await.json["data"], json!([]));
}

async fn pages_send_strict_headers_and_never_echo_the_card(app: &TestApp) {
    let id = id_of(&create_session(app, 800).await);
    let mut buyer = Buyer::new(app);
    let page = buyer.open(&id).await;
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        csp.contains("form-action 'self' https://shop.example;"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "no script at all: {csp}");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(!page.html.contains("<script"));
    let bad = buyer.pay(&id, &page, "4000 0000 0000 0002 9").await;
    assert_eq!(bad.status, 400);
    assert!(!bad.html.contains("4000 0000"), "the number is not echoed");
    let css = buyer.send(Method::GET, "/pay/assets/pay.css", None).await;
    assert_eq!(css.status, 200);
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
}

async fn unknown_sessions_and_ids_are_404_pages(app: &TestApp) {
    let mut buyer = Buyer::new(app);
    for path in [
        "/pay/cs_doesnotexist",
        "/pay/pi_123",
        "/pay/cs_doesnotexist/authenticate",
    ] {
        let page = buyer.send(Method::GET, path, None).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(page.html.contains("Payment page not found"), "{path}");
    }
    // A session of live mode would be shown too; one of another merchant is only its own page.
    let id = id_of(&create_session(app, 100).await);
    let auth = buyer
        .send(Method::GET, &format!("/pay/{id}/authenticate"), None)
        .await;
    assert_eq!(auth.status, 303, "nothing to authenticate");
    assert_eq!(auth.location(), format!("/pay/{id}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_pages_are_rate_limited_per_address() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let options = holdfast::Options {
            without_workers: true,
            dashboard: holdfast_web::Options {
                hosted_limits: holdfast_web::HostedLimits {
                    per_address_per_minute: 3,
                },
                ..holdfast_web::Options::default()
            },
            ..holdfast::Options::default()
        };
        let Some(app) = TestApp::spawn_with(backend, options).await else {
            continue;
        };
        let id = id_of(&create_session(&app, 100).await);
        let mut buyer = Buyer::new(&app);
        for _ in 0..3 {
            assert_eq!(buyer.open(&id).await.status, 200);
        }
        let refused = buyer.open(&id).await;
        assert_eq!(refused.status, 429);
        assert!(refused.headers.contains_key("retry-after"));
        assert!(refused.html.contains("Too many requests"));
        // The API is not the pages' limit's business.
        assert_eq!(session(&app, &id).await["status"], "open");
        let _: Res = app.get("/v1/checkout-sessions").await;
    }
}
