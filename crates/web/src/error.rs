//! What a dashboard request answers when it cannot show what was asked: a page (or, inside a
//! dialog, a fragment) with the status that says why, and never a stack trace.

use askama::Template;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use holdfast_domain::ErrorCode;
use holdfast_service::ServiceError;

/// Why a dashboard request failed.
#[derive(Debug)]
pub(crate) enum WebError {
    /// No such page or object (or one of another merchant or mode).
    NotFound,
    /// The user's role does not allow this.
    Forbidden(&'static str),
    /// The form did not carry this session's CSRF token.
    Csrf,
    /// The form could not be read (malformed, too large, a field of the wrong shape).
    BadForm(String),
    /// Not signed in (or the session ended): go to the sign-in page, then back to `next`.
    SignIn { next: String, htmx: bool },
    /// The service refused or failed.
    Service(ServiceError),
    /// An action was refused (fresh, or replayed from its idempotency key).
    Refused(crate::actions::Refusal),
    /// Something in the dashboard itself failed; the cause goes to the log only.
    Internal(String),
}

impl From<ServiceError> for WebError {
    fn from(e: ServiceError) -> WebError {
        WebError::Service(e)
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> WebError {
        WebError::Internal(format!("template: {e}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
    code: Option<&'a str>,
    request_id: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, message, code): (StatusCode, &str, String, Option<&str>) = match &self
        {
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, in this mode. It may belong to the other mode, or the link is wrong."
                    .into(),
                None,
            ),
            WebError::Forbidden(what) => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                format!("Your role does not allow you to {what}. Ask an admin if you need to."),
                None,
            ),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form did not carry a valid security token, so nothing was done. Reload the page and try again."
                    .into(),
                None,
            ),
            WebError::BadForm(why) => (StatusCode::BAD_REQUEST, "Form not understood", why.clone(), None),
            WebError::SignIn { next, htmx } => {
                let to = format!("/dashboard/login?next={}", encode(next));
                if *htmx {
                    let mut response = StatusCode::UNAUTHORIZED.into_response();
                    if let Ok(value) = HeaderValue::from_str(&to) {
                        response.headers_mut().insert("hx-redirect", value);
                    }
                    return response;
                }
                return Redirect::to(&to).into_response();
            }
            WebError::Service(e) => {
                let api = holdfast_http::error::ApiError::from(e);
                let code = api.code;
                let status = api.status();
                if status.is_server_error() {
                    tracing::warn!(error = %e, "dashboard request failed");
                    (
                        status,
                        "Something went wrong",
                        "Holdfast could not complete this request. Nothing was half done; try again in a moment."
                            .into(),
                        Some(code.as_str()),
                    )
                } else if status == StatusCode::NOT_FOUND {
                    (status, "Not found", api.message, Some(code.as_str()))
                } else {
                    (status, "Refused", api.message, Some(code.as_str()))
                }
            }
            WebError::Refused(r) => {
                let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
                let title = if status.is_server_error() { "Something went wrong" } else { "Refused" };
                return render_error(status, title, &r.message, Some(&r.code));
            }
            WebError::Internal(cause) => {
                tracing::error!(%cause, "dashboard error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The dashboard could not show this page. Try again in a moment.".into(),
                    Some(ErrorCode::InternalError.as_str()),
                )
            }
        };
        render_error(status, title, &message, code)
    }
}

fn render_error(status: StatusCode, title: &str, message: &str, code: Option<&str>) -> Response {
    let page = ErrorPage {
        status: status.as_u16(),
        title,
        message,
        code,
        request_id: holdfast_http::request_id::current(),
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => status.into_response(),
    }
}

/// Percent-encodes a query value.
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The headers every dashboard answer carries: no framing, no sniffing, scripts and styles from
/// this origin only, and pages that are never cached (they show money and may show a secret).
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/dashboard/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
               connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
               object-src 'none'";
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
