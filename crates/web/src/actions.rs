//! Dashboard actions, run through the service's idempotent runner exactly as API requests are.
//!
//! Each action's dialog mints an idempotency key when it opens ([`new_key`]) and carries it in a
//! hidden field, so a double click or a resubmitted form is the same request: the runner replays
//! the stored answer instead of acting twice. The request's actor is the signed-in user's email,
//! which the intent's actions record. The stored answer is a small JSON document (what was done,
//! or the contract's code and message), sealed when it shows a secret.
//!
//! A refused action is finished too: its refusal is stored under its key. The form shown again
//! with the refusal therefore carries a fresh key, so that a corrected retry is a new request.

use std::future::Future;

use holdfast_service::ids::{random_base62, sha256_hex};
use holdfast_service::{Decision, IdempotencyKey, Reply, RequestCtx, ServiceError};
use serde::{Deserialize, Serialize};

use crate::Web;
use crate::auth::Signed;
use crate::error::WebError;

/// Random characters of a dashboard idempotency key, after its `dash_` prefix.
const KEY_CHARS: usize = 24;

/// A fresh idempotency key for a dialog that just opened.
pub(crate) fn new_key() -> String {
    format!("dash_{}", random_base62(KEY_CHARS))
}

/// Checks a key that came back with a form: one this dashboard minted.
fn check_key(key: &str) -> Result<(), WebError> {
    let random = key.strip_prefix("dash_").unwrap_or("");
    if random.len() == KEY_CHARS && random.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(());
    }
    Err(WebError::BadForm(
        "The form lost its idempotency key. Close it and open it again.".into(),
    ))
}

/// What an action did, as its stored answer says.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Done {
    /// The object acted on (or created).
    #[serde(default)]
    pub(crate) object: String,
    /// A secret to show once (a webhook signing secret, an API key, a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) secret: Option<String>,
    /// Set when this answer is a replay of an earlier submission of the same form.
    #[serde(skip)]
    pub(crate) replayed: bool,
}

/// Why an action was refused: the contract's code and message, and the field at fault.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Refusal {
    pub(crate) code: String,
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) param: Option<String>,
    #[serde(skip)]
    pub(crate) status: u16,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Stored {
    Refused { refused: Refusal },
    Done(Done),
}

/// Runs one dashboard action idempotently, in the context [`context`] made for it.
pub(crate) async fn run<T, D, Fut>(
    web: &Web,
    ctx: &RequestCtx,
    decide: D,
    done: impl Fn(&T) -> Done,
) -> Result<Done, Refusal>
where
    D: Fn() -> Fut,
    Fut: Future<Output = Result<Decision<T>, ServiceError>>,
{
    let reply = web
        .app
        .run(ctx, decide, |outcome: &Result<T, ServiceError>| {
            render(outcome, &done)
        })
        .await;
    read(&reply)
}

/// The service's view of a dashboard action: this user, this mode, this form's key. `what`
/// names the action and everything it was asked to do (`capture pi_… 9800 USD`); it is the
/// request's fingerprint, so the same key with a different request is refused
/// (`IDEMPOTENCY_KEY_REUSED`) rather than replayed.
pub(crate) fn context(signed: &Signed, key: &str, what: &str) -> Result<RequestCtx, WebError> {
    check_key(key)?;
    Ok(RequestCtx {
        scope: signed.scope(),
        request_id: Some(holdfast_http::request_id::current()),
        idempotency: Some(IdempotencyKey {
            key: key.to_owned(),
            fingerprint: sha256_hex(format!("dashboard {what}").as_bytes()),
        }),
        actor: Some(signed.user.email.clone()),
    })
}

fn render<T>(outcome: &Result<T, ServiceError>, done: &impl Fn(&T) -> Done) -> Reply {
    let (status, stored, sensitive) = match outcome {
        Ok(value) => {
            let done = done(value);
            let sensitive = done.secret.is_some();
            (200, Stored::Done(done), sensitive)
        }
        Err(e) => {
            // The API's own mapping: the same code, status, message and field as the API gives.
            let api = holdfast_http::error::ApiError::from(e);
            let status = api.status().as_u16();
            let message = if status >= 500 {
                tracing::warn!(error = %e, "dashboard action failed");
                "Holdfast could not complete this action. Nothing was changed; try again in a moment."
                    .to_owned()
            } else {
                api.message
            };
            let refused = Refusal {
                code: api.code.as_str().to_owned(),
                message,
                param: api.param,
                status,
            };
            (status, Stored::Refused { refused }, false)
        }
    };
    Reply {
        status,
        body: serde_json::to_vec(&stored).unwrap_or_default(),
        replayed: false,
        retry_after_seconds: None,
        sensitive,
    }
}

/// Reads an answer, fresh or replayed.
fn read(reply: &Reply) -> Result<Done, Refusal> {
    match serde_json::from_slice::<Stored>(&reply.body) {
        Ok(Stored::Done(mut done)) => {
            done.replayed = reply.replayed;
            Ok(done)
        }
        Ok(Stored::Refused { mut refused }) => {
            refused.status = reply.status;
            Err(refused)
        }
        // Not one of ours: the key was used by an API request with another body. The runner
        // answers that with its own refusal, so this is only reachable through a stray key.
        Err(_) => Err(Refusal {
            code: "IDEMPOTENCY_KEY_REUSED".into(),
            message: "This form's key was already used for another request. Close the dialog and open it again."
                .into(),
            param: None,
            status: 422,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_back_fresh_and_replayed() {
        let done = render::<u8>(&Ok(1), &|_| Done {
            object: "pi_1".into(),
            secret: None,
            replayed: false,
        });
        assert_eq!(done.status, 200);
        assert!(!done.sensitive);
        let back = read(&Reply {
            replayed: true,
            ..done
        })
        .unwrap();
        assert_eq!(back.object, "pi_1");
        assert!(back.replayed);
        let secret = render::<u8>(&Ok(1), &|_| Done {
            object: "we_1".into(),
            secret: Some("whsec_x".into()),
            replayed: false,
        });
        assert!(secret.sensitive, "a secret is stored sealed");
        let refused = render::<u8>(
            &Err(ServiceError::Rejected(holdfast_domain::Rejection::param(
                holdfast_domain::ErrorCode::CaptureAmountExceedsAuthorized,
                "amount_money.amount",
                "cannot capture 20000 of a 12900 hold",
            ))),
            &|_| Done::default(),
        );
        assert_eq!(refused.status, 400);
        let refusal = read(&refused).unwrap_err();
        assert_eq!(refusal.code, "CAPTURE_AMOUNT_EXCEEDS_AUTHORIZED");
        assert_eq!(refusal.param.as_deref(), Some("amount_money.amount"));
        assert_eq!(refusal.status, 400);
    }

    #[test]
    fn only_dashboard_keys_are_accepted() {
        assert!(check_key(&new_key()).is_ok());
        for bad in [
            "",
            "dash_",
            "dash_short",
            "my-key",
            &format!("dash_{}!", "a".repeat(23)),
        ] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
