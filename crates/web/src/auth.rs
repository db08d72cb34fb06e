//! Signing in and out, the session cookie, and the two extractors every dashboard handler starts
//! with: [`Signed`] (a live session, its user, and the mode the page is in) and [`Act`] (the same,
//! plus a form whose CSRF token matched the session's).
//!
//! - **Sessions** live on the server. The cookie carries a random token; the store keeps its
//!   SHA-256. A new token is minted at every sign-in. The user and role are read from the store on
//!   every request, so a disabled user or a changed role takes effect at once.
//! - **The cookie** is `HttpOnly`, `SameSite=Strict`, and `Secure` (named `__Host-…`) when the
//!   dashboard is served over TLS (see [`CookieSecurity`]).
//! - **CSRF.** Every form carries the session's synchronizer token in a hidden field, and htmx sends
//!   it as `X-CSRF-Token`. A form without it is refused before anything else is read. The sign-in
//!   form, which has no session yet, carries a token that must match a cookie it came with.
//! - **No enumeration.** A wrong password, an unknown email and a disabled account get the same
//!   answer, and an unknown email costs the same argon2 work as a known one (the service sees to
//!   that).

use std::net::SocketAddr;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{
    ConnectInfo, FromRequest, FromRequestParts, OriginalUri, Query, Request, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use holdfast_domain::Scope;
use holdfast_domain::user::{Permission, Role, Session, User};
use holdfast_service::ids::{random_base62, same_hash};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::Web;
use crate::error::WebError;
use crate::limiter::Attempt;
use crate::views::{Chrome, Section};

/// When the session cookie is `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CookieSecurity {
    /// When the request came over HTTPS, as a TLS-terminating proxy says with
    /// `X-Forwarded-Proto: https`.
    #[default]
    Auto,
    /// Always: the dashboard is only ever reached over HTTPS.
    Always,
    /// Never (plain HTTP on a trusted network, or tests).
    Never,
}

/// The session cookie's name over plain HTTP, and over HTTPS (`__Host-`: host-only, path `/`,
/// `Secure`, so no other site or path can plant or read it).
pub(crate) const SESSION_COOKIE: &str = "holdfast_session";
pub(crate) const SECURE_SESSION_COOKIE: &str = "__Host-holdfast_session";
/// The sign-in form's CSRF cookie.
const LOGIN_COOKIE: &str = "holdfast_login";
/// Largest form accepted.
const FORM_BYTES_MAX: usize = 64 * 1024;

pub(crate) fn secure(web: &Web, headers: &HeaderMap) -> bool {
    match web.options.cookie_security {
        CookieSecurity::Always => true,
        CookieSecurity::Never => false,
        CookieSecurity::Auto => headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https")),
    }
}

/// The value of a cookie, if the request carries it.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(crate) fn session_token(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SECURE_SESSION_COOKIE).or_else(|| cookie(headers, SESSION_COOKIE))
}

fn session_cookie(token: &str, secure: bool) -> String {
    if secure {
        format!("{SECURE_SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Secure")
    } else {
        format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict")
    }
}

fn expired_session_cookies() -> [String; 2] {
    [
        format!("{SECURE_SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0"),
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    ]
}

fn original_path(parts: &Parts) -> String {
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |o| &o.0);
    uri.path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned())
}

fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// A signed-in user on a page of one mode.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub(crate) user: User,
    pub(crate) session: Session,
    pub(crate) livemode: bool,
    /// The request came from htmx: answer with a fragment where a page would be too much.
    pub(crate) htmx: bool,
    /// This page's path and query, for live refreshes and for coming back after sign-in.
    pub(crate) path: String,
}

impl Signed {
    pub(crate) fn scope(&self) -> Scope {
        self.user.scope(self.livemode)
    }

    pub(crate) fn mode(&self) -> &'static str {
        if self.livemode { "live" } else { "test" }
    }

    pub(crate) fn role(&self) -> Role {
        self.user.role
    }

    pub(crate) fn can(&self, action: Permission) -> bool {
        self.user.role.allows(action)
    }

    /// Refuses with 403 unless the user's role allows `action`.
    pub(crate) fn require(&self, action: Permission) -> Result<(), WebError> {
        if self.can(action) {
            return Ok(());
        }
        Err(WebError::Forbidden(match action {
            Permission::MoveMoney => "capture, void, refund or schedule",
            Permission::ResendEvents => "resend events",
            Permission::UseTestClocks => "create or advance test clocks",
            Permission::ManageWebhooks => "manage webhook endpoints",
            Permission::ManageApiKeys => "manage API keys",
            Permission::ManageUsers => "manage users",
        }))
    }

    /// A link inside this mode: `/dashboard/test{rest}`.
    pub(crate) fn href(&self, rest: &str) -> String {
        format!("/dashboard/{}{rest}", self.mode())
    }

    pub(crate) fn chrome(&self, title: impl Into<String>, section: Section) -> Chrome {
        Chrome::new(self, title.into(), section)
    }
}

impl FromRequestParts<Web> for Signed {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Signed, WebError> {
        let path = original_path(parts);
        let htmx = is_htmx(&parts.headers);
        let mode = path
            .strip_prefix("/dashboard/")
            .and_then(|rest| rest.split(['/', '?']).next())
            .unwrap_or("");
        let livemode = match mode {
            "test" => false,
            "live" => true,
            _ => return Err(WebError::NotFound),
        };
        let sign_in = || WebError::SignIn {
            next: path.clone(),
            htmx,
        };
        let Some(token) = session_token(&parts.headers) else {
            return Err(sign_in());
        };
        let Some(signed) = web.app.dashboard_session(token).await? else {
            return Err(sign_in());
        };
        Ok(Signed {
            user: signed.user,
            session: signed.session,
            livemode,
            htmx,
            path,
        })
    }
}

/// A signed-in user's form, whose CSRF token matched the session's.
#[derive(Debug)]
pub(crate) struct Act<T> {
    pub(crate) signed: Signed,
    pub(crate) form: T,
}

impl<T: DeserializeOwned> FromRequest<Web> for Act<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, web: &Web) -> Result<Act<T>, WebError> {
        let (mut parts, body) = request.into_parts();
        let signed = Signed::from_request_parts(&mut parts, web).await?;
        let bytes = axum::body::to_bytes(body, FORM_BYTES_MAX)
            .await
            .map_err(|_| WebError::BadForm("The form is too large.".into()))?;
        check_csrf(&parts.headers, &bytes, &signed.session.csrf_token)?;
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| WebError::BadForm(format!("The form could not be read: {e}.")))?;
        Ok(Act { signed, form })
    }
}

/// The form's `csrf_token` field (or, failing one, the `X-CSRF-Token` header) must be `expected`.
fn check_csrf(headers: &HeaderMap, body: &Bytes, expected: &str) -> Result<(), WebError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let field = pairs
        .into_iter()
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v);
    let presented = field.or_else(|| {
        headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    match presented {
        Some(token) if !expected.is_empty() && same_hash(&token, expected) => Ok(()),
        _ => Err(WebError::Csrf),
    }
}

// ---- Signing in and out -------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
}

/// Only a path inside the dashboard may be returned to after sign-in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/dashboard")
                && !n.starts_with("/dashboard/login")
                && !n.contains("//")
                && !n.contains('\\') =>
        {
            n.to_owned()
        }
        _ => "/dashboard".to_owned(),
    }
}

fn login_response(
    web: &Web,
    headers: &HeaderMap,
    status: StatusCode,
    email: String,
    next: String,
    error: Option<String>,
) -> Result<Response, WebError> {
    // A fresh token per form shown: it must come back with the matching cookie.
    let csrf = random_base62(32);
    let page = LoginPage {
        csrf: csrf.clone(),
        email,
        next,
        error,
    };
    let mut response = (status, Html(page.render()?)).into_response();
    let secure = if secure(web, headers) { "; Secure" } else { "" };
    let cookie = format!(
        "{LOGIN_COOKIE}={csrf}; Path=/dashboard/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

pub(crate) async fn login_page(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Result<Response, WebError> {
    let next = safe_next(query.next.as_deref());
    login_response(&web, &headers, StatusCode::OK, String::new(), next, None)
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    csrf_token: String,
}

/// The one answer to every failed sign-in, whatever failed.
pub(crate) const LOGIN_REFUSED: &str = "Email or password is incorrect.";

/// The peer's address, when the server was started with connection info (it always is by
/// `holdfast serve`).
#[derive(Debug)]
pub(crate) struct Peer(pub(crate) Option<std::net::IpAddr>);

impl<S: Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Peer, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

pub(crate) async fn log_in(
    State(web): State<Web>,
    Peer(address): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let form: LoginForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| WebError::BadForm("The sign-in form could not be read.".into()))?;
    let next = safe_next(form.next.as_deref());
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !same_hash(&form.csrf_token, expected) {
        return login_response(
            &web,
            &headers,
            StatusCode::FORBIDDEN,
            form.email,
            next,
            Some("The sign-in form expired. Enter your email and password again.".into()),
        );
    }
    let attempt = Attempt::new(address, &form.email);
    if let Err(wait) = web.limiter.check(&attempt) {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let mut response = login_response(
            &web,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            form.email,
            next,
            Some(format!(
                "Too many sign-in attempts. Wait {minutes} minute{} and try again.",
                if minutes == 1 { "" } else { "s" }
            )),
        )?;
        if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Ok(response);
    }
    let Some(signed_in) = web.app.log_in(&form.email, &form.password).await? else {
        web.limiter.failed(&attempt);
        return login_response(
            &web,
            &headers,
            StatusCode::UNAUTHORIZED,
            form.email,
            next,
            Some(LOGIN_REFUSED.into()),
        );
    };
    web.limiter.succeeded(&attempt);
    let mut response = Redirect::to(&next).into_response();
    let cookie = session_cookie(&signed_in.token, secure(&web, &headers));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{LOGIN_COOKIE}=; Path=/dashboard/login; HttpOnly; SameSite=Strict; Max-Age=0"
    )) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub(crate) struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

pub(crate) async fn log_out(
    State(web): State<Web>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let form: LogoutForm = serde_urlencoded::from_bytes(&body).unwrap_or(LogoutForm {
        csrf_token: String::new(),
    });
    if let Some(token) = session_token(&headers) {
        let Some(signed) = web.app.dashboard_session(token).await? else {
            return Ok(signed_out());
        };
        if !same_hash(&form.csrf_token, &signed.session.csrf_token) {
            return Err(WebError::Csrf);
        }
        web.app.log_out(token).await?;
    }
    Ok(signed_out())
}

fn signed_out() -> Response {
    let mut response = Redirect::to("/dashboard/login").into_response();
    for cookie in expired_session_cookies() {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dashboard_paths_are_returned_to() {
        assert_eq!(
            safe_next(Some("/dashboard/test/holds")),
            "/dashboard/test/holds"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/dashboard//evil.example",
            "/dashboard/login",
            "/v1/payment-intents",
            "/dashboard\\evil",
        ] {
            assert_eq!(safe_next(Some(bad)), "/dashboard", "{bad}");
        }
        assert_eq!(safe_next(None), "/dashboard");
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("xholdfast_session=no; holdfast_session=yes; other=1"),
        );
        assert_eq!(session_token(&headers), Some("yes"));
        assert_eq!(
            session_cookie("t", true),
            "__Host-holdfast_session=t; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        assert_eq!(
            session_cookie("t", false),
            "holdfast_session=t; Path=/; HttpOnly; SameSite=Strict"
        );
    }
}
