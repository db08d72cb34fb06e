//! Extractors: the caller (API key or client secret), the `Idempotency-Key`, a strict JSON
//! body, and the query string with its paging parameters. Each refuses with the error envelope
//! and a precise code and `param`, never a 500.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use holdfast_domain::ErrorCode;
use holdfast_service::{Caller, IdempotencyKey, RequestCtx, ids::sha256_hex};
use holdfast_store::PageRequest;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;
use crate::request_id;

/// Largest request body accepted: 64 KiB.
pub const BODY_BYTES_MAX: usize = 64 * 1024;
/// Longest `Idempotency-Key` accepted.
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = 255;
/// Default and largest page sizes of a list.
pub const PAGE_LIMIT_DEFAULT: u32 = 20;
pub const PAGE_LIMIT_MAX: u32 = 100;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Auth(pub Caller);

impl Auth {
    /// Refuses a client secret: the route needs a secret API key.
    pub fn key_only(&self) -> Result<&holdfast_domain::Scope, ApiError> {
        match &self.0 {
            Caller::ApiKey(scope) => Ok(scope),
            Caller::ClientSecret { .. } => Err(client_secret_not_allowed()),
        }
    }

    /// Allows an API key, or the client secret of this one intent.
    pub fn for_intent(&self, intent_id: &str) -> Result<&holdfast_domain::Scope, ApiError> {
        match &self.0 {
            Caller::ApiKey(scope) => Ok(scope),
            Caller::ClientSecret {
                scope,
                intent_id: own,
            } if own == intent_id => Ok(scope),
            Caller::ClientSecret { .. } => Err(client_secret_not_allowed()),
        }
    }
}

fn client_secret_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::ClientSecretNotAllowed,
        "a client secret may only retrieve and confirm its own payment intent; use a secret API key",
    )
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::new(
                ErrorCode::MissingApiKey,
                "send your API key as `Authorization: Bearer sk_test_…`",
            ));
        };
        let bearer = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidApiKey,
                    "the Authorization header must be `Bearer <API key>`",
                )
            })?;
        state
            .app
            .authenticate(bearer)
            .await
            .map(Auth)
            .map_err(ApiError::from)
    }
}

/// A mutating request: who, its idempotency key, and its parsed body.
#[derive(Debug)]
pub struct Mutation<T> {
    pub auth: Auth,
    pub body: T,
    idempotency_key: Option<String>,
    fingerprint: String,
}

impl<T> Mutation<T> {
    /// The service's view of this request, in the given scope.
    pub fn ctx(&self, scope: &holdfast_domain::Scope) -> RequestCtx {
        RequestCtx {
            scope: scope.clone(),
            request_id: Some(request_id::current()),
            idempotency: self.idempotency_key.as_ref().map(|key| IdempotencyKey {
                key: key.clone(),
                fingerprint: self.fingerprint.clone(),
            }),
            actor: None,
        }
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for Mutation<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = request.into_parts();
        let auth = Auth::from_request_parts(&mut parts, state).await?;
        let idempotency_key = idempotency_key(&parts.headers)?;
        let bytes = read_body(&parts.headers, body).await?;
        let value = parse_json(&bytes)?;
        // Canonical form: keys sorted, no insignificant whitespace, so a retry formatted
        // differently is still the same request.
        let canonical = serde_json::to_string(&value).unwrap_or_default();
        let fingerprint =
            sha256_hex(format!("{} {}\n{canonical}", parts.method, parts.uri.path()).as_bytes());
        let body = decode(value)?;
        Ok(Mutation {
            auth,
            body,
            idempotency_key,
            fingerprint,
        })
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::param(
            ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key",
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
        )
    };
    let key = value.to_str().map_err(|_| invalid())?;
    let printable = key.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_CHARS_MAX || !printable {
        return Err(invalid());
    }
    Ok(Some(key.to_owned()))
}

async fn read_body(headers: &HeaderMap, body: axum::body::Body) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::RequestTooLarge,
            format!("request bodies are at most {BODY_BYTES_MAX} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_BYTES_MAX as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, BODY_BYTES_MAX)
        .await
        .map_err(|_| too_large())?;
    if !bytes.is_empty() {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "request bodies must be JSON, sent with `Content-Type: application/json`",
            ));
        }
    }
    Ok(bytes)
}

/// An empty body reads as `{}`; anything else must be a JSON object.
fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            "the body must be a JSON object",
        ));
    }
    Ok(value)
}

/// Decodes a JSON value into a request type, naming the exact field at fault.
pub fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // serde_path_to_error's path ends at the unknown field itself, but stops at the parent
        // of a missing one.
        let join = |field: &str| {
            if path == "." || path.is_empty() {
                field.to_owned()
            } else if path == field || path.ends_with(&format!(".{field}")) {
                path.clone()
            } else {
                format!("{path}.{field}")
            }
        };
        if let Some(field) = quoted(&message, "unknown field `") {
            return ApiError::param(
                ErrorCode::UnknownParameter,
                join(field),
                format!("unknown parameter {}", join(field)),
            );
        }
        if let Some(field) = quoted(&message, "missing field `") {
            return ApiError::param(
                ErrorCode::MissingParameter,
                join(field),
                format!("{} is required", join(field)),
            );
        }
        let param = if path == "." { String::new() } else { path };
        ApiError::param(
            ErrorCode::InvalidParameter,
            param.clone(),
            format!("{param}: {message}"),
        )
    })
}

fn quoted<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

/// Query string parameters, taken one by one so an unknown one can be named.
#[derive(Debug)]
pub struct Query(Vec<(String, String)>);

impl<S: Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        let pairs = form_pairs(raw);
        Ok(Query(pairs))
    }
}

fn form_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    /// Takes a parameter out; every parameter must be taken before [`Query::finish`].
    pub fn take(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let mut found = None;
        let mut count = 0;
        self.0.retain(|(k, v)| {
            if k == name {
                count += 1;
                found = Some(v.clone());
                false
            } else {
                true
            }
        });
        if count > 1 {
            return Err(ApiError::param(
                ErrorCode::InvalidParameter,
                name,
                format!("{name} may be given once"),
            ));
        }
        Ok(found)
    }

    pub fn take_parsed<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Option<T>,
        expected: &str,
    ) -> Result<Option<T>, ApiError> {
        match self.take(name)? {
            None => Ok(None),
            Some(raw) => parse(&raw).map(Some).ok_or_else(|| {
                ApiError::param(
                    ErrorCode::InvalidParameter,
                    name,
                    format!("{name} must be {expected}"),
                )
            }),
        }
    }

    /// Takes the paging parameters: `limit` (1–100, default 20) and `cursor`.
    pub fn page(&mut self) -> Result<PageRequest, ApiError> {
        let limit = self
            .take_parsed(
                "limit",
                |s| {
                    s.parse::<u32>()
                        .ok()
                        .filter(|n| (1..=PAGE_LIMIT_MAX).contains(n))
                },
                "an integer from 1 to 100",
            )?
            .unwrap_or(PAGE_LIMIT_DEFAULT);
        let cursor = self.take("cursor")?;
        if cursor.as_ref().is_some_and(String::is_empty) {
            return Err(ApiError::param(
                ErrorCode::InvalidParameter,
                "cursor",
                "cursor must not be empty",
            ));
        }
        Ok(PageRequest { limit, cursor })
    }

    /// Refuses whatever parameter was not taken.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.0.into_iter().next() {
            None => Ok(()),
            Some((name, _)) => Err(ApiError::param(
                ErrorCode::UnknownParameter,
                name.clone(),
                format!("unknown parameter {name}"),
            )),
        }
    }
}
