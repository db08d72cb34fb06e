//! The dashboard's security properties over real HTTP, on both backends: roles refused by the
//! server (403), CSRF, the session cookie's flags, the idle timeout (on the harness's manual
//! clock), sign-in limits, no user enumeration, the user as the actor of what they do, and a
//! double-submitted form acting once. The browser tests (`crates/web/e2e`) drive the same pages
//! in Chromium.

use holdfast_domain::user::Role;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(
    session_cookie_is_httponly_strict_and_secure_over_tls,
    roles_are_refused_by_the_server,
    forms_without_the_sessions_csrf_token_are_refused,
    sessions_end_after_thirty_idle_minutes,
    disabling_a_user_or_resetting_a_password_ends_their_sessions,
    actions_record_the_user_and_a_double_submit_acts_once,
);

const PASSWORD: &str = "correct horse battery staple";

/// A browser's view of the dashboard: a client that does not follow redirects, and its cookies.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    set_cookies: Vec<String>,
    body: String,
}

impl Page {
    /// The value of the first hidden input named `name`.
    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = if self.cookies.is_empty() {
            request
        } else {
            request.header(COOKIE, self.cookie_header())
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let set_cookies: Vec<String> = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for cookie in &set_cookies {
            let pair = cookie.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() && !cookie.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        Page {
            status,
            location,
            set_cookies,
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(request).await
    }

    /// Signs in; answers the sign-in POST's page.
    async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/dashboard/login").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.field("csrf_token");
        self.post(
            "/dashboard/login",
            &[
                ("email", email),
                ("password", password),
                ("csrf_token", &csrf),
                ("next", "/dashboard/test/holds"),
            ],
        )
        .await
    }

    /// This session's CSRF token, as every page carries it.
    async fn csrf(&mut self) -> String {
        let page = self.get("/dashboard/test/holds").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        page.field("csrf_token")
    }
}

async fn user(app: &TestApp, email: &str, role: Role) {
    app.app
        .create_user(&app.merchant_id, email, role, Some(PASSWORD.to_owned()))
        .await
        .unwrap();
}

async fn signed_in(app: &TestApp, email: &str, role: Role) -> Browser {
    user(app, email, role).await;
    let mut browser = Browser::new(app);
    let signed = browser.sign_in(email, PASSWORD).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    assert_eq!(signed.location.as_deref(), Some("/dashboard/test/holds"));
    browser
}

async fn session_cookie_is_httponly_strict_and_secure_over_tls(app: &TestApp) {
    user(app, "ops@example.com", Role::Operator).await;
    let mut browser = Browser::new(app);
    let signed = browser.sign_in("ops@example.com", PASSWORD).await;
    let session = signed
        .set_cookies
        .iter()
        .find(|c| c.starts_with("holdfast_session="))
        .expect("a session cookie");
    assert!(session.contains("; HttpOnly"), "{session}");
    assert!(session.contains("; SameSite=Strict"), "{session}");
    assert!(session.contains("; Path=/"), "{session}");
    assert!(!session.contains("Secure"), "plain HTTP: {session}");
    // Behind a TLS-terminating proxy: Secure, and the __Host- prefix.
    let mut tls = Browser::new(app);
    let form = tls.get("/dashboard/login").await;
    let csrf = form.field("csrf_token");
    let request = tls
        .client
        .post(format!("{}/dashboard/login", tls.base))
        .header("x-forwarded-proto", "https")
        .form(&[
            ("email", "ops@example.com"),
            ("password", PASSWORD),
            ("csrf_token", csrf.as_str()),
        ]);
    let signed = tls.send(request).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    let session = signed
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-holdfast_session="))
        .expect("a __Host- session cookie");
    assert!(session.contains("; Secure") && session.contains("; HttpOnly"));
    assert!(session.contains("; SameSite=Strict") && session.contains("; Path=/"));
    // Every sign-in mints a new session token.
    let mut again = Browser::new(app);
    let second = again.sign_in("ops@example.com", PASSWORD).await;
    let token = |p: &Page| {
        p.set_cookies
            .iter()
            .find(|c| c.starts_with("holdfast_session="))
            .unwrap()
            .clone()
    };
    assert_ne!(
        token(&second),
        token(&browser.sign_in("ops@example.com", PASSWORD).await)
    );
    // Pages are not cached and cannot be framed.
    let page = browser.get("/dashboard/test/holds").await;
    assert_eq!(page.status, StatusCode::OK);
}

async fn roles_are_refused_by_the_server(app: &TestApp) {
    let id = app.hold(12_900).await;
    let mut viewer = signed_in(app, "viewer@example.com", Role::Viewer).await;
    let csrf = viewer.csrf().await;
    // A viewer sees the hold, without a Capture button...
    let page = viewer
        .get(&format!("/dashboard/test/payment-intents/{id}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("129.00 USD"));
    assert!(!page.body.contains(&format!("{id}/capture\"")));
    // ...and the server refuses the dialog and the action themselves.
    let dialog = viewer
        .get(&format!("/dashboard/test/payment-intents/{id}/capture"))
        .await;
    assert_eq!(dialog.status, StatusCode::FORBIDDEN);
    let key = format!("dash_{}", "V".repeat(24));
    let refused = viewer
        .post(
            &format!("/dashboard/test/payment-intents/{id}/capture"),
            &[
                ("csrf_token", &csrf),
                ("idempotency_key", &key),
                ("amount_minor", "12900"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("Not allowed"), "{}", refused.body);
    assert_eq!(app.intent(&id).await["status"], "requires_capture");
    for path in ["/dashboard/test/api-keys", "/dashboard/test/users"] {
        assert_eq!(
            viewer.get(path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    // An operator moves money but manages nothing.
    let mut operator = signed_in(app, "operator@example.com", Role::Operator).await;
    let csrf = operator.csrf().await;
    assert_eq!(
        operator.get("/dashboard/test/users").await.status,
        StatusCode::FORBIDDEN
    );
    let key = format!("dash_{}", "W".repeat(24));
    let endpoint = operator
        .post(
            "/dashboard/test/webhooks",
            &[
                ("csrf_token", &csrf),
                ("idempotency_key", &key),
                ("url", "https://example.com/hooks"),
                ("all_events", "1"),
            ],
        )
        .await;
    assert_eq!(endpoint.status, StatusCode::FORBIDDEN);
    let listed = app.get("/v1/webhook-endpoints").await;
    assert_eq!(listed.json["data"].as_array().unwrap().len(), 0);
    // An admin may.
    let mut admin = signed_in(app, "admin@example.com", Role::Admin).await;
    assert_eq!(
        admin.get("/dashboard/test/users").await.status,
        StatusCode::OK
    );
    assert_eq!(
        admin.get("/dashboard/test/api-keys").await.status,
        StatusCode::OK
    );
    // Roles are read per request: a role changed in the store applies at once.
    let mut stored = app.app.user_by_email("admin@example.com").await.unwrap();
    stored.role = Role::Viewer;
    stored.version += 1;
    app.app
        .store
        .commit(holdfast_store::UnitOfWork {
            users: vec![stored],
            ..holdfast_store::UnitOfWork::default()
        })
        .await
        .unwrap();
    assert_eq!(
        admin.get("/dashboard/test/users").await.status,
        StatusCode::FORBIDDEN
    );
}

async fn forms_without_the_sessions_csrf_token_are_refused(app: &TestApp) {
    let id = app.hold(12_900).await;
    let mut operator = signed_in(app, "operator@example.com", Role::Operator).await;
    let csrf = operator.csrf().await;
    let dialog = operator
        .get(&format!("/dashboard/test/payment-intents/{id}/capture"))
        .await;
    let key = dialog.field("idempotency_key");
    let path = format!("/dashboard/test/payment-intents/{id}/capture");
    let missing = operator
        .post(
            &path,
            &[("idempotency_key", &key), ("amount_minor", "12900")],
        )
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.body.contains("Form expired"), "{}", missing.body);
    let wrong = operator
        .post(
            &path,
            &[
                ("csrf_token", &"x".repeat(csrf.len())),
                ("idempotency_key", &key),
                ("amount_minor", "12900"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    // Another session's token does not do either.
    let mut other = signed_in(app, "other@example.com", Role::Operator).await;
    let others = other.csrf().await;
    let foreign = operator
        .post(
            &path,
            &[
                ("csrf_token", &others),
                ("idempotency_key", &key),
                ("amount_minor", "12900"),
            ],
        )
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    assert_eq!(app.intent(&id).await["status"], "requires_capture");
    // Signing out needs the token too.
    assert_eq!(
        operator.post("/dashboard/logout", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    let out = operator
        .post("/dashboard/logout", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = operator.get("/dashboard/test/holds").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location.unwrap().starts_with("/dashboard/login"));
    // The sign-in form has its own token, bound to a cookie.
    let mut fresh = Browser::new(app);
    let _ = fresh.get("/dashboard/login").await;
    let forged = fresh
        .post(
            "/dashboard/login",
            &[
                ("email", "operator@example.com"),
                ("password", PASSWORD),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(
        !forged
            .set_cookies
            .iter()
            .any(|c| c.starts_with("holdfast_session="))
    );
}

async fn sessions_end_after_thirty_idle_minutes(app: &TestApp) {
    let mut operator = signed_in(app, "operator@example.com", Role::Operator).await;
    assert_eq!(
        operator.get("/dashboard/test/holds").await.status,
        StatusCode::OK
    );
    // Each use within 30 minutes keeps the session; the idle time counts from the last use.
    app.clock.advance(29 * 60);
    assert_eq!(
        operator.get("/dashboard/test/holds").await.status,
        StatusCode::OK
    );
    app.clock.advance(29 * 60);
    assert_eq!(
        operator.get("/dashboard/test/orders").await.status,
        StatusCode::OK
    );
    app.clock.advance(30 * 60 + 1);
    let ended = operator.get("/dashboard/test/holds").await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert_eq!(
        ended.location.as_deref(),
        Some("/dashboard/login?next=/dashboard/test/holds")
    );
    // An htmx request is told where to go instead.
    let request = operator
        .client
        .get(format!("{}/dashboard/test/holds", operator.base))
        .header("hx-request", "true");
    let htmx = operator.send(request).await;
    assert_eq!(htmx.status, StatusCode::UNAUTHORIZED);
}

async fn disabling_a_user_or_resetting_a_password_ends_their_sessions(app: &TestApp) {
    let mut operator = signed_in(app, "operator@example.com", Role::Operator).await;
    let mut admin = signed_in(app, "admin@example.com", Role::Admin).await;
    let users = admin.get("/dashboard/test/users").await;
    assert_eq!(users.status, StatusCode::OK);
    let csrf = admin.csrf().await;
    let operator_id = app
        .app
        .user_by_email("operator@example.com")
        .await
        .unwrap()
        .id;
    let key = format!("dash_{}", "D".repeat(24));
    let disabled = admin
        .post(
            &format!("/dashboard/test/users/{operator_id}/disable"),
            &[("csrf_token", &csrf), ("idempotency_key", &key)],
        )
        .await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER, "{}", disabled.body);
    assert_eq!(
        operator.get("/dashboard/test/holds").await.status,
        StatusCode::SEE_OTHER
    );
    // A disabled user cannot sign in, and is told exactly what a wrong password is told.
    let refused = Browser::new(app)
        .sign_in("operator@example.com", PASSWORD)
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body.contains("Email or password is incorrect."));
    // Nobody disables themselves.
    let admin_id = app.app.user_by_email("admin@example.com").await.unwrap().id;
    let key = format!("dash_{}", "E".repeat(24));
    let own = admin
        .post(
            &format!("/dashboard/test/users/{admin_id}/disable"),
            &[("csrf_token", &csrf), ("idempotency_key", &key)],
        )
        .await;
    assert_eq!(own.status, StatusCode::BAD_REQUEST);
    assert!(own.body.contains("INVALID_PARAMETER"), "{}", own.body);
    // A reset password ends the sessions begun with the old one.
    let mut viewer = signed_in(app, "viewer@example.com", Role::Viewer).await;
    let reset = app
        .app
        .reset_password_by_email("viewer@example.com", None)
        .await
        .unwrap();
    assert_eq!(
        viewer.get("/dashboard/test/holds").await.status,
        StatusCode::SEE_OTHER
    );
    let password = reset.password.expect("a generated password");
    assert_eq!(password.len(), 20);
    let again = viewer.sign_in("viewer@example.com", &password).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
}

async fn actions_record_the_user_and_a_double_submit_acts_once(app: &TestApp) {
    let id = app.hold(12_900).await;
    let mut operator = signed_in(app, "operator@example.com", Role::Operator).await;
    let csrf = operator.csrf().await;
    let path = format!("/dashboard/test/payment-intents/{id}/capture");
    let dialog = operator.get(&path).await;
    let key = dialog.field("idempotency_key");
    let review = operator
        .post(
            &format!("{path}/review"),
            &[
                ("csrf_token", &csrf),
                ("idempotency_key", &key),
                ("amount", "98.00"),
            ],
        )
        .await;
    assert_eq!(review.status, StatusCode::OK);
    assert!(review.body.contains("98.00 USD") && review.body.contains("31.00 USD"));
    assert_eq!(
        review.field("idempotency_key"),
        key,
        "the key minted when the dialog opened"
    );
    assert_eq!(review.field("amount_minor"), "9800");
    let form = [
        ("csrf_token", csrf.as_str()),
        ("idempotency_key", key.as_str()),
        ("amount_minor", "9800"),
    ];
    let first = operator.post(&path, &form).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    assert_eq!(
        first.location.as_deref(),
        Some(format!("/dashboard/test/payment-intents/{id}?notice=captured").as_str())
    );
    let second = operator.post(&path, &form).await;
    assert_eq!(second.status, StatusCode::SEE_OTHER);
    assert_eq!(
        second.location.as_deref(),
        Some(format!("/dashboard/test/payment-intents/{id}?notice=replayed").as_str())
    );
    let intent = app.intent(&id).await;
    assert_eq!(intent["captured_amount_money"]["amount"], 9800);
    assert_eq!(intent["released_amount_money"]["amount"], 3100);
    let stored = app
        .app
        .get_intent(
            &holdfast_domain::Scope {
                merchant_id: app.merchant_id.clone(),
                livemode: false,
            },
            &id,
        )
        .await
        .unwrap();
    let captures: Vec<_> = stored
        .actions
        .iter()
        .filter(|a| a.kind == holdfast_domain::intent::ActionType::Capture)
        .collect();
    assert_eq!(captures.len(), 1, "one capture for two submits");
    assert_eq!(captures[0].actor.as_deref(), Some("operator@example.com"));
    assert!(
        captures[0]
            .request_id
            .as_deref()
            .is_some_and(|r| r.starts_with("req_"))
    );
    // The authorization came through the API: no actor.
    assert_eq!(stored.actions[0].actor, None);
    // The same key with another amount is another request: refused, not replayed.
    let changed = operator
        .post(
            &path,
            &[
                ("csrf_token", csrf.as_str()),
                ("idempotency_key", key.as_str()),
                ("amount_minor", "100"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        changed.body.contains("IDEMPOTENCY_KEY_REUSED"),
        "{}",
        changed.body
    );
    // The intent page shows who captured.
    let page = operator
        .get(&format!("/dashboard/test/payment-intents/{id}"))
        .await;
    assert!(page.body.contains("operator@example.com"));
    // The API's wire format is unchanged: actions carry no actor field.
    let actions = app.get(&format!("/v1/payment-intents/{id}/actions")).await;
    assert!(
        actions.json["data"][1].get("actor").is_none(),
        "{}",
        actions.text
    );
}

/// Sign-in limits and no enumeration, on a server whose accounts pause after 3 failures.
mod sign_in {
    use super::*;

    async fn spawn(backend: Backend) -> Option<TestApp> {
        let options = holdfast::Options {
            without_workers: true,
            dashboard: holdfast_web::Options {
                login_limits: holdfast_web::LoginLimits {
                    per_account: 3,
                    per_address: 8,
                    ..holdfast_web::LoginLimits::DEFAULT
                },
                ..holdfast_web::Options::default()
            },
            ..holdfast::Options::default()
        };
        TestApp::spawn_with(backend, options).await
    }

    async fn limited_and_never_tells_which_emails_exist(app: TestApp) {
        user(&app, "ops@example.com", Role::Operator).await;
        let mut browser = Browser::new(&app);
        let known = browser.sign_in("ops@example.com", "wrong password!").await;
        let unknown = browser
            .sign_in("nobody@example.com", "wrong password!")
            .await;
        let malformed = browser.sign_in("not an email", "wrong password!").await;
        for page in [&known, &unknown, &malformed] {
            assert_eq!(page.status, StatusCode::UNAUTHORIZED);
            assert!(page.body.contains("Email or password is incorrect."));
            assert!(
                !page
                    .set_cookies
                    .iter()
                    .any(|c| c.starts_with("holdfast_session"))
            );
        }
        // The pages differ only in their fresh form token and the email typed back.
        let strip = |p: &Page, email: &str| {
            let token = p.field("csrf_token");
            p.body.replace(&token, "TOKEN").replace(email, "EMAIL")
        };
        assert_eq!(
            strip(&known, "ops@example.com"),
            strip(&unknown, "nobody@example.com")
        );
        // Two more failures pause the account, whoever asks, with a clear message.
        let _ = browser.sign_in("ops@example.com", "wrong password!").await;
        let _ = browser.sign_in("ops@example.com", "wrong password!").await;
        let paused = browser.sign_in("OPS@example.com", PASSWORD).await;
        assert_eq!(paused.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            paused
                .body
                .contains("Too many sign-in attempts. Wait 15 minutes and try again.")
        );
        // An unknown email is paused the same way: the limit does not tell either.
        for _ in 0..3 {
            let _ = browser
                .sign_in("ghost@example.com", "wrong password!")
                .await;
        }
        let ghost = browser
            .sign_in("ghost@example.com", "wrong password!")
            .await;
        assert_eq!(ghost.status, StatusCode::TOO_MANY_REQUESTS);
        // The address limit (8 failures here) pauses every account from it.
        let other = browser.sign_in("someone@example.com", "wrong").await;
        assert_eq!(other.status, StatusCode::TOO_MANY_REQUESTS);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = spawn(Backend::Sqlite).await.expect("SQLite");
        limited_and_never_tells_which_emails_exist(app).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(app) = spawn(Backend::Postgres).await else {
            return;
        };
        limited_and_never_tells_which_emails_exist(app).await;
    }
}

/// The API's guard rails stand in front of the dashboard too: a session has a bucket as a key does.
mod guard_rails {
    use super::*;

    async fn a_session_is_rate_limited_like_a_key(backend: Backend) {
        let options = holdfast::Options {
            without_workers: true,
            limits: holdfast_http::Limits {
                rate: holdfast_http::Rate {
                    per_second: 1,
                    burst: 3,
                },
                ..holdfast_http::Limits::DEFAULT
            },
            ..holdfast::Options::default()
        };
        let Some(app) = TestApp::spawn_with(backend, options).await else {
            return;
        };
        let mut operator = signed_in(&app, "operator@example.com", Role::Operator).await;
        let statuses = [
            operator.get("/dashboard/test/holds").await.status,
            operator.get("/dashboard/test/orders").await.status,
            operator.get("/dashboard/test/events").await.status,
            operator.get("/dashboard/test/holds").await.status,
        ];
        assert_eq!(
            statuses,
            [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::TOO_MANY_REQUESTS
            ]
        );
        // Another session has a bucket of its own.
        let mut viewer = signed_in(&app, "viewer@example.com", Role::Viewer).await;
        assert_eq!(
            viewer.get("/dashboard/test/holds").await.status,
            StatusCode::OK
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        a_session_is_rate_limited_like_a_key(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        a_session_is_rate_limited_like_a_key(Backend::Postgres).await;
    }
}
