//! The hosted payment pages under `/pay`: where a buyer pays a checkout session (`/pay/cs_…`).
//!
//! The pages are public: no API key and no sign-in; the session's unguessable id is the page's
//! credential. Like the dashboard, they go through the service only ([`Holdfast`]), and every
//! payment attempt runs through the service's idempotent runner with a key minted when the form
//! was shown, so a double submit is one request and pays once. Two tabs have two keys, and the
//! session's version check lets only one of them pay; the other finds the session complete.
//!
//! - **Card data.** In test mode the form takes the sandbox's test card numbers, each standing
//!   for a test token; the number is turned into that token at once and is neither stored, nor
//!   logged, nor echoed back into a page. Only the processor's token, brand and last four are
//!   kept (on the payment intent).
//! - **CSRF.** Every form carries a token that must match a `SameSite=Strict`, `HttpOnly` cookie
//!   scoped to the session's page (double submit); a form without it does nothing.
//! - **Headers.** A strict Content-Security-Policy: no script at all, styles from this origin,
//!   forms posting only to this origin (and, for the redirect after payment, to the origin of
//!   the session's `success_url`), no framing, no referrer, no caching.
//! - **Rate limit.** Requests per peer address per minute ([`HostedLimits`]), counted in memory
//!   like the sign-in limits, for at most [`crate::limiter::TRACKED_KEYS_MAX`] addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use holdfast_domain::checkout::{CheckoutSession, SessionStatus};
use holdfast_domain::intent::{PaymentIntent, Status};
use holdfast_service::ids::{random_base62, same_hash, sha256_hex};
use holdfast_service::{
    Decision, HostedSession, IdempotencyKey, PayResult, Reply, RequestCtx, ServiceError,
};
use serde::{Deserialize, Serialize};

use crate::Web;
use crate::auth::{Peer, secure};
use crate::format;

/// How many requests one address may make to the hosted pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostedLimits {
    /// Requests per address per minute; `0` turns the limit off.
    pub per_address_per_minute: u32,
}

impl HostedLimits {
    pub const DEFAULT: HostedLimits = HostedLimits {
        per_address_per_minute: 120,
    };
}

impl Default for HostedLimits {
    fn default() -> HostedLimits {
        HostedLimits::DEFAULT
    }
}

/// Counts of requests per address in fixed one-minute windows.
#[derive(Debug)]
pub(crate) struct HostedLimiter {
    limits: HostedLimits,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl HostedLimiter {
    pub(crate) fn new(limits: HostedLimits) -> HostedLimiter {
        HostedLimiter {
            limits,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request; `Err(wait)` when the address is over its limit.
    fn take(&self, address: IpAddr, now: Instant) -> Result<(), Duration> {
        let limit = self.limits.per_address_per_minute;
        if limit == 0 {
            return Ok(());
        }
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if !windows.contains_key(&address) && windows.len() >= crate::limiter::TRACKED_KEYS_MAX {
            windows.retain(|_, (started, _)| now.duration_since(*started) < WINDOW);
            if windows.len() >= crate::limiter::TRACKED_KEYS_MAX {
                let oldest = windows.iter().min_by_key(|(_, (s, _))| *s).map(|(a, _)| *a);
                if let Some(oldest) = oldest {
                    windows.remove(&oldest);
                }
            }
        }
        let window = windows.entry(address).or_insert((now, 0));
        if now.duration_since(window.0) >= WINDOW {
            *window = (now, 0);
        }
        if window.1 >= limit {
            return Err(WINDOW.saturating_sub(now.duration_since(window.0)));
        }
        window.1 += 1;
        Ok(())
    }
}

/// The page's CSRF cookie, scoped to one session's page.
const CSRF_COOKIE: &str = "holdfast_pay";
/// Random characters of a hosted idempotency key, after its `pay_` prefix.
const KEY_CHARS: usize = 24;
/// How long a repeated submit waits for the first one to finish before replaying its answer.
const IN_USE_WAITS_MAX: usize = 50;

// ---- Pages ----------------------------------------------------------------------------------

/// What every page shows around its content.
struct Frame {
    merchant: String,
    livemode: bool,
}

#[derive(Template)]
#[template(path = "pay.html")]
struct PayPage {
    frame: Frame,
    amount: String,
    description: Option<String>,
    action: String,
    csrf: String,
    key: String,
    cancel_url: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "pay_authenticate.html")]
struct AuthenticatePage {
    frame: Frame,
    amount: String,
    action: String,
    csrf: String,
    key: String,
}

#[derive(Template)]
#[template(path = "pay_status.html")]
struct StatusPage {
    frame: Option<Frame>,
    title: String,
    message: String,
    amount: Option<String>,
    link: Option<(String, String)>,
}

fn amount_text(session: &CheckoutSession) -> String {
    format::money(session.amount.amount, session.amount.currency)
}

fn frame(hosted: &HostedSession) -> Frame {
    Frame {
        merchant: if hosted.merchant_name.is_empty() {
            "The merchant".into()
        } else {
            hosted.merchant_name.clone()
        },
        livemode: hosted.session.scope.livemode,
    }
}

/// A page with the hosted pages' headers: `form_origin` is the one other origin a form on it may
/// end up at (the redirect to `success_url` after paying).
fn page(
    status: StatusCode,
    html: Result<String, askama::Error>,
    form_origin: Option<&str>,
) -> Response {
    let html = match html {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "hosted page template failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = (status, Html(html)).into_response();
    let form_action = match form_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".into(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

fn status_page(
    status: StatusCode,
    frame: Option<Frame>,
    title: &str,
    message: &str,
    amount: Option<String>,
    link: Option<(String, String)>,
) -> Response {
    let html = StatusPage {
        frame,
        title: title.into(),
        message: message.into(),
        amount,
        link,
    }
    .render();
    page(status, html, None)
}

fn not_found() -> Response {
    status_page(
        StatusCode::NOT_FOUND,
        None,
        "Payment page not found",
        "There is no payment page at this address. Check the link you were given.",
        None,
        None,
    )
}

fn failed(e: &ServiceError) -> Response {
    tracing::warn!(error = %e, "hosted page failed");
    status_page(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        "Something went wrong",
        "The payment page could not be shown. Nothing was charged; try again in a moment.",
        None,
        None,
    )
}

/// The origin of an absolute URL (`https://shop.example:8443`), if it is one a policy can name.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let clean = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    clean.then(|| format!("{scheme}://{host}"))
}

/// `success_url` with `checkout_session_id` added to its query.
fn success_redirect(session: &CheckoutSession) -> String {
    let (url, fragment) = match session.success_url.split_once('#') {
        Some((url, fragment)) => (url, Some(fragment)),
        None => (session.success_url.as_str(), None),
    };
    let joiner = if url.contains('?') { '&' } else { '?' };
    let mut out = format!("{url}{joiner}checkout_session_id={}", session.id);
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// The page's CSRF token: the cookie's, if the buyer has one for this page (another tab's),
/// else a fresh one, set on the answer.
fn csrf_token(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers) {
        Some(token) => (token.to_owned(), false),
        None => (random_base62(32), true),
    }
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == CSRF_COOKIE && value.len() == 32)
        .map(|(_, value)| value)
}

fn set_csrf_cookie(web: &Web, headers: &HeaderMap, response: &mut Response, id: &str, token: &str) {
    let secure = if secure(web, headers) { "; Secure" } else { "" };
    let value = format!(
        "{CSRF_COOKIE}={token}; Path=/pay/{id}; HttpOnly; SameSite=Strict; Max-Age=86400{secure}"
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn new_key() -> String {
    format!("pay_{}", random_base62(KEY_CHARS))
}

fn key_ok(key: &str) -> bool {
    key.strip_prefix("pay_")
        .is_some_and(|r| r.len() == KEY_CHARS && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Only ids of objects the hosted pages show, before anything is looked up.
fn id_ok(id: &str) -> bool {
    id.strip_prefix("cs_").is_some_and(|r| {
        !r.is_empty() && r.len() <= 64 && r.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// `GET /pay/{id}`: the session's page: the card form while it is open, else what became of it.
pub(crate) async fn show(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    show_form(&web, &headers, &id, StatusCode::OK, None).await
}

async fn show_form(
    web: &Web,
    headers: &HeaderMap,
    id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    if !id_ok(id) {
        return not_found();
    }
    let hosted = match web.app.hosted_checkout_session(id).await {
        Ok(Some(hosted)) => hosted,
        Ok(None) => return not_found(),
        Err(e) => return failed(&e),
    };
    if let Some(closed) = closed_page(&hosted) {
        return closed;
    }
    if hosted
        .attempt
        .as_ref()
        .is_some_and(|i| i.status == Status::RequiresAction)
    {
        return Redirect::to(&format!("/pay/{id}/authenticate")).into_response();
    }
    let error = error.or_else(|| hosted.attempt.as_ref().and_then(decline_text));
    let (csrf, fresh) = csrf_token(headers);
    let session = &hosted.session;
    let html = PayPage {
        frame: frame(&hosted),
        amount: amount_text(session),
        description: session.description.clone(),
        action: format!("/pay/{id}"),
        csrf: csrf.clone(),
        key: new_key(),
        cancel_url: session.cancel_url.clone(),
        error,
    }
    .render();
    let mut response = page(status, html, origin(&session.success_url).as_deref());
    if fresh {
        set_csrf_cookie(web, headers, &mut response, id, &csrf);
    }
    response
}

/// The page of a session that takes no payment: paid, or expired.
fn closed_page(hosted: &HostedSession) -> Option<Response> {
    let session = &hosted.session;
    match session.status {
        SessionStatus::Open => None,
        SessionStatus::Complete => Some(status_page(
            StatusCode::OK,
            Some(frame(hosted)),
            "Payment complete",
            "This payment has been made. Nothing more is due, and nothing more will be charged.",
            Some(amount_text(session)),
            Some((success_redirect(session), "Continue".into())),
        )),
        SessionStatus::Expired => Some(status_page(
            StatusCode::GONE,
            Some(frame(hosted)),
            "This payment page has expired",
            "It no longer takes payment, and nothing was charged. Ask the merchant for a new link.",
            Some(amount_text(session)),
            Some((session.cancel_url.clone(), "Return to the merchant".into())),
        )),
    }
}

/// What the last attempt's refusal says to the buyer, if it was refused.
fn decline_text(intent: &PaymentIntent) -> Option<String> {
    if intent.status != Status::RequiresPaymentMethod {
        return None;
    }
    let error = intent.last_payment_error.as_ref()?;
    let card = intent
        .card
        .as_ref()
        .map(|c| format!(" (card ending {})", c.last_four))
        .unwrap_or_default();
    let why = if error.code == "authentication_failed"
        || error.decline_code.contains("authentication")
    {
        format!(
            "Your card's authentication did not succeed{card}. Nothing was charged. Try again or use another card."
        )
    } else {
        format!(
            "Your card was declined{card}: {}. Nothing was charged. Try another card.",
            error.message.trim_end_matches('.')
        )
    };
    Some(why)
}

/// The authentication page: the sandbox's stand-in for the bank's 3D Secure step.
pub(crate) async fn authenticate_page(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !id_ok(&id) {
        return not_found();
    }
    let hosted = match web.app.hosted_checkout_session(&id).await {
        Ok(Some(hosted)) => hosted,
        Ok(None) => return not_found(),
        Err(e) => return failed(&e),
    };
    if let Some(closed) = closed_page(&hosted) {
        return closed;
    }
    let waiting = hosted
        .attempt
        .as_ref()
        .is_some_and(|i| i.status == Status::RequiresAction);
    if !waiting {
        return Redirect::to(&format!("/pay/{id}")).into_response();
    }
    let (csrf, fresh) = csrf_token(&headers);
    let html = AuthenticatePage {
        frame: frame(&hosted),
        amount: amount_text(&hosted.session),
        action: format!("/pay/{id}/authenticate"),
        csrf: csrf.clone(),
        key: new_key(),
    }
    .render();
    let mut response = page(
        StatusCode::OK,
        html,
        origin(&hosted.session.success_url).as_deref(),
    );
    if fresh {
        set_csrf_cookie(&web, &headers, &mut response, &id, &csrf);
    }
    response
}

// ---- Payment --------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct PayForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    card_number: String,
    #[serde(default)]
    expiry: String,
    #[serde(default)]
    cvc: String,
}

#[derive(Debug, Deserialize)]
struct AuthenticateForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    result: String,
}

/// An attempt's stored answer, replayed to a repeated submit.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum Attempted {
    /// Paid: go to `success_url`.
    Paid { redirect: String },
    /// The card needs 3D Secure: go to the authentication page.
    Authenticate,
    /// Declined, refused, or the session is no longer open: show the page again, which says why
    /// (a decline is on the attempt's intent; a refusal comes with its `message`).
    Again {
        message: Option<String>,
        /// The same form's first submit is still running (not stored: only ever fresh).
        #[serde(default)]
        in_use: bool,
    },
}

fn render_attempt(outcome: &Result<PayResult, ServiceError>) -> Reply {
    let (status, attempted) = match outcome {
        Ok(result) => match (result.session.status, result.intent.status) {
            (SessionStatus::Complete, _) => (
                200,
                Attempted::Paid {
                    redirect: success_redirect(&result.session),
                },
            ),
            (_, Status::RequiresAction) => (200, Attempted::Authenticate),
            _ => (
                402,
                Attempted::Again {
                    message: None,
                    in_use: false,
                },
            ),
        },
        Err(e) => {
            let api = holdfast_http::error::ApiError::from(e);
            let status = api.status().as_u16();
            let message = if status >= 500 {
                tracing::warn!(error = %e, "hosted payment failed");
                "The payment could not be completed. Nothing was charged; try again in a moment."
                    .to_owned()
            } else {
                api.message
            };
            let in_use = api.code == holdfast_domain::ErrorCode::IdempotencyKeyInUse;
            (
                status,
                Attempted::Again {
                    message: Some(message),
                    in_use,
                },
            )
        }
    };
    Reply {
        status,
        body: serde_json::to_vec(&attempted).unwrap_or_default(),
        replayed: false,
        retry_after_seconds: None,
        sensitive: false,
    }
}

/// Runs an attempt idempotently under the form's key. A repeat of a submit still running waits
/// for it and replays its answer.
async fn attempt<D, Fut>(web: &Web, ctx: &RequestCtx, decide: D) -> Attempted
where
    D: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Decision<PayResult>, ServiceError>>,
{
    for _ in 0..IN_USE_WAITS_MAX {
        let reply = web.app.run(ctx, &decide, render_attempt).await;
        let attempted = serde_json::from_slice(&reply.body).unwrap_or(Attempted::Again {
            message: None,
            in_use: false,
        });
        if let Attempted::Again { in_use: true, .. } = attempted {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        return attempted;
    }
    Attempted::Again {
        message: Some("This payment is still being processed. Reload the page in a moment.".into()),
        in_use: false,
    }
}

/// Where an attempt leads: to `success_url` once paid, to the authentication step, or back to
/// the page, which shows the decline (or the session's end); a refusal is shown on the form.
async fn follow(web: &Web, headers: &HeaderMap, id: &str, attempted: Attempted) -> Response {
    match attempted {
        Attempted::Paid { redirect } => Redirect::to(&redirect).into_response(),
        Attempted::Authenticate => Redirect::to(&format!("/pay/{id}/authenticate")).into_response(),
        Attempted::Again {
            message: Some(message),
            ..
        } if !message.contains("checkout session") => {
            show_form(web, headers, id, StatusCode::BAD_REQUEST, Some(message)).await
        }
        Attempted::Again { .. } => Redirect::to(&format!("/pay/{id}")).into_response(),
    }
}

fn form_refused() -> Response {
    status_page(
        StatusCode::FORBIDDEN,
        None,
        "This form has expired",
        "Nothing was charged. Go back, reload the payment page and try again.",
        None,
        None,
    )
}

/// The request context of an attempt on `session`: its merchant and mode, this form's key, and
/// a fingerprint naming the attempt (never the card number).
fn context(session: &CheckoutSession, key: &str, what: &str) -> RequestCtx {
    RequestCtx {
        scope: session.scope.clone(),
        request_id: Some(holdfast_http::request_id::current()),
        idempotency: Some(IdempotencyKey {
            key: key.to_owned(),
            fingerprint: sha256_hex(format!("hosted {what} {}", session.id).as_bytes()),
        }),
        actor: None,
    }
}

/// `POST /pay/{id}`: the buyer pays with the card typed in.
pub(crate) async fn pay(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if !id_ok(&id) {
        return not_found();
    }
    let Ok(form) = serde_urlencoded::from_bytes::<PayForm>(&body) else {
        return form_refused();
    };
    let expected = cookie(&headers).unwrap_or("");
    if expected.is_empty() || !same_hash(&form.csrf_token, expected) || !key_ok(&form.key) {
        return form_refused();
    }
    let hosted = match web.app.hosted_checkout_session(&id).await {
        Ok(Some(hosted)) => hosted,
        Ok(None) => return not_found(),
        Err(e) => return failed(&e),
    };
    // A closed session is the runner's to answer: a repeated submit of the form that paid it
    // replays its answer (the redirect to `success_url`); any other finds it not open.
    let session = hosted.session;
    if let Err(message) = check_card_details(&form, &web) {
        return show_form(&web, &headers, &id, StatusCode::BAD_REQUEST, Some(message)).await;
    }
    let token = match web.app.hosted_card_token(&session.scope, &form.card_number) {
        Ok(token) => token,
        Err(e) => {
            let message = holdfast_http::error::ApiError::from(&e).message;
            return show_form(&web, &headers, &id, StatusCode::BAD_REQUEST, Some(message)).await;
        }
    };
    let ctx = context(&session, &form.key, &format!("pay {token}"));
    let attempted = attempt(&web, &ctx, || {
        web.app.pay_checkout_session(&ctx, &id, &token)
    })
    .await;
    follow(&web, &headers, &id, attempted).await
}

/// The expiry and security code are checked for shape only (the sandbox's cards take any
/// future date and any code); they are never kept.
fn check_card_details(form: &PayForm, web: &Web) -> Result<(), String> {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let expiry = digits(&form.expiry);
    let (month, year) = match expiry.len() {
        4 => (&expiry[..2], &expiry[2..]),
        6 => (&expiry[..2], &expiry[4..]),
        _ => return Err("Enter the card's expiry date as MM / YY.".into()),
    };
    let month: u32 = month.parse().unwrap_or(0);
    let year: i32 = year.parse::<i32>().unwrap_or(0) + 2000;
    if !(1..=12).contains(&month) {
        return Err("Enter the card's expiry date as MM / YY.".into());
    }
    let now = format::rfc3339(web.app.now());
    let this_year: i32 = now.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0);
    let this_month: u32 = now.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(0);
    if (year, month) < (this_year, this_month) {
        return Err("This card has expired. Use another card.".into());
    }
    let cvc = form.cvc.trim();
    if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
        return Err("Enter the card's 3 or 4 digit security code.".into());
    }
    if digits(&form.card_number).len() < 12 {
        return Err("Enter the card number.".into());
    }
    Ok(())
}

/// `POST /pay/{id}/authenticate`: the buyer completes or fails the sandbox's 3D Secure step.
pub(crate) async fn authenticate(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if !id_ok(&id) {
        return not_found();
    }
    let Ok(form) = serde_urlencoded::from_bytes::<AuthenticateForm>(&body) else {
        return form_refused();
    };
    let expected = cookie(&headers).unwrap_or("");
    if expected.is_empty() || !same_hash(&form.csrf_token, expected) || !key_ok(&form.key) {
        return form_refused();
    }
    let succeeded = match form.result.as_str() {
        "complete" => true,
        "fail" => false,
        _ => return form_refused(),
    };
    let hosted = match web.app.hosted_checkout_session(&id).await {
        Ok(Some(hosted)) => hosted,
        Ok(None) => return not_found(),
        Err(e) => return failed(&e),
    };
    let session = hosted.session;
    let ctx = context(
        &session,
        &form.key,
        &format!("authenticate {}", form.result),
    );
    let attempted = attempt(&web, &ctx, || {
        web.app.authenticate_checkout_session(&ctx, &id, succeeded)
    })
    .await;
    follow(&web, &headers, &id, attempted).await
}

/// The per-address limit and the headers every hosted answer carries.
pub(crate) async fn guard(
    State(web): State<Web>,
    Peer(address): Peer,
    request: Request,
    next: Next,
) -> Response {
    let is_asset = request.uri().path().starts_with("/pay/assets/");
    if let Some(address) = address
        && let Err(wait) = web.hosted_limiter.take(address, Instant::now())
    {
        let mut response = status_page(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            "Too many requests",
            "Too many requests came from your network. Nothing was charged; wait a minute and try again.",
            None,
            None,
        );
        if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return with_headers(response, false);
    }
    let response = next.run(request).await;
    with_headers(response, is_asset)
}

fn with_headers(mut response: Response, is_asset: bool) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_only_what_a_policy_can_name() {
        assert_eq!(
            origin("https://shop.example/thanks?x=1").as_deref(),
            Some("https://shop.example")
        );
        assert_eq!(
            origin("http://127.0.0.1:9000").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(origin("https://a;b.example/"), None);
        assert_eq!(origin("https://"), None);
    }

    #[test]
    fn keys_and_ids_are_checked_before_anything_is_read() {
        assert!(key_ok(&new_key()));
        assert!(!key_ok("pay_short"));
        assert!(!key_ok("dash_AAAAAAAAAAAAAAAAAAAAAAAA"));
        assert!(id_ok("cs_abc123"));
        assert!(!id_ok("pi_abc"));
        assert!(!id_ok("cs_../x"));
    }

    #[test]
    fn an_address_over_its_limit_waits_for_the_next_window() {
        let limiter = HostedLimiter::new(HostedLimits {
            per_address_per_minute: 2,
        });
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let t = Instant::now();
        assert!(limiter.take(a, t).is_ok());
        assert!(limiter.take(a, t).is_ok());
        assert!(limiter.take(a, t).is_err());
        assert!(
            limiter.take(b, t).is_ok(),
            "another address has its own count"
        );
        assert!(limiter.take(a, t + WINDOW).is_ok());
    }
}
