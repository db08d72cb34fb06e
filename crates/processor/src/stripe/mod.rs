//! The Stripe connector: PaymentIntents over Stripe's REST API, as Stripe documents it.
//!
//! - Bodies are form-encoded (`a[b]=c`); every request carries the pinned [`STRIPE_VERSION`],
//!   and every POST Stripe's own `Idempotency-Key`, derived from the operation's key.
//! - A hold is a PaymentIntent with `capture_method=manual`. The payment method is set on the
//!   PaymentIntent first (at creation, or with an update), and the confirm carries none: that
//!   works the same for a new token and a saved card, and on Stripe-compatible test servers that
//!   cannot confirm *with* a payment method.
//! - Every answer that can carry a hold expands `latest_charge`, whose
//!   `payment_method_details.card.capture_before` is the hold's deadline.
//! - Errors map onto the processor-neutral outcomes: a card error is a decline (Stripe's
//!   `decline_code`, else its `code`); `authentication_required` is an action for the buyer;
//!   409, 429, `lock_timeout`, 5xx, timeouts and refused connections are
//!   [`ProcessorError::Unavailable`] (retryable unless `Stripe-Should-Retry: false`); any other
//!   4xx is [`ProcessorError::Refused`] with Stripe's code and message.

pub mod webhook;
pub mod wire;

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::{
    AuthenticateCall, AuthorizationPurpose, AuthorizeCall, CaptureCall, Captured, Hold,
    IncrementCall, Outcome, PaymentView, PrepareCall, Prepared, Processor, ProcessorError,
    RefundCall, Refunded, RetrieveCall, Secret, TokenInfo, VoidCall, Voided,
};
use wire::{ErrorEnvelope, Form, PaymentIntent, PaymentMethod, Refund};

/// The Stripe API version every request pins (the version of the OpenAPI document the fields
/// were read from).
pub const STRIPE_VERSION: &str = "2026-07-29.dahlia";

/// Stripe's production API.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

/// Stripe limits idempotency keys to 255 characters.
const IDEMPOTENCY_KEY_MAX: usize = 255;

/// The metadata key under which a Stripe PaymentIntent names its Holdfast intent.
pub const METADATA_INTENT: &str = "holdfast_payment_intent";

/// How a merchant's Stripe account is reached.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// `https://api.stripe.com`, or a Stripe-compatible server for tests.
    pub api_base: String,
    pub secret_key: Secret,
    /// Handed to the frontend with the client secret (Stripe.js).
    pub publishable_key: Option<Secret>,
    /// The whole request, connect to last byte.
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl StripeConfig {
    pub fn new(secret_key: impl Into<Secret>) -> StripeConfig {
        StripeConfig {
            api_base: DEFAULT_API_BASE.to_owned(),
            secret_key: secret_key.into(),
            publishable_key: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }

    pub fn api_base(mut self, api_base: impl Into<String>) -> StripeConfig {
        self.api_base = api_base.into();
        self
    }

    pub fn publishable_key(mut self, key: impl Into<Secret>) -> StripeConfig {
        self.publishable_key = Some(key.into());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> StripeConfig {
        self.timeout = timeout;
        self
    }
}

/// The Stripe connector for one merchant's account.
#[derive(Debug, Clone)]
pub struct Stripe {
    config: StripeConfig,
    http: reqwest::Client,
}

/// A failed request, before the operation decides what it means.
#[derive(Debug)]
enum Failure {
    /// Stripe answered with an error status.
    Api {
        status: StatusCode,
        error: Box<wire::ApiError>,
        should_retry: Option<bool>,
        retry_after: Option<Duration>,
    },
    /// Nothing usable came back.
    Processor(ProcessorError),
}

impl Stripe {
    pub fn new(config: StripeConfig) -> Result<Stripe, ProcessorError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("holdfast/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProcessorError::Refused {
                code: "client_setup".into(),
                message: format!("could not build the HTTP client: {e}"),
            })?;
        Ok(Stripe { config, http })
    }

    fn publishable_key(&self) -> Option<&str> {
        self.config.publishable_key.as_ref().map(Secret::expose)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_base.trim_end_matches('/'))
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        idempotency_key: &str,
        form: Form,
    ) -> Result<T, Failure> {
        let request = self
            .http
            .post(self.url(path))
            .header("Idempotency-Key", stripe_key(idempotency_key))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.encode());
        self.send(request).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, form: Form) -> Result<T, Failure> {
        let url = match form.0.is_empty() {
            true => self.url(path),
            false => format!("{}?{}", self.url(path), form.encode()),
        };
        self.send(self.http.get(url)).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Failure> {
        let response = request
            .bearer_auth(self.config.secret_key.expose())
            .header("Stripe-Version", STRIPE_VERSION)
            .send()
            .await
            .map_err(|e| Failure::Processor(transport(&e)))?;
        let status = response.status();
        let should_retry = header(&response, "Stripe-Should-Retry").and_then(|v| match v {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        });
        let retry_after = header(&response, "Retry-After")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .bytes()
            .await
            .map_err(|e| Failure::Processor(transport(&e)))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                // The request went through but its answer cannot be read: what happened is
                // unknown, and repeating the key replays the same answer. Recovery reads the
                // payment instead.
                Failure::Processor(ProcessorError::Unavailable {
                    retryable: false,
                    retry_after: None,
                    reason: format!("Stripe answered {status} with an unreadable body: {e}"),
                })
            });
        }
        let error = serde_json::from_slice::<ErrorEnvelope>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| wire::ApiError {
                message: Some(format!("Stripe answered {status} without an error object")),
                ..wire::ApiError::default()
            });
        Err(Failure::Api {
            status,
            error: Box::new(error),
            should_retry,
            retry_after,
        })
    }

    /// What a failure means for an operation that places or changes a hold: a card error is a
    /// decline, a buyer-action error an action; the rest is [`error_of`].
    /// `reference` names the PaymentIntent the request was about, where the caller knows it.
    fn hold_failure(
        &self,
        failure: Failure,
        reference: Option<&str>,
    ) -> Result<Outcome<Hold>, ProcessorError> {
        if let Failure::Api { status, error, .. } = &failure {
            if let Some(action) = wire::action_of_error(error, self.publishable_key()) {
                return Ok(Outcome::ActionRequired(action));
            }
            if is_card_error(*status, error) {
                let pi = error.payment_intent.as_deref();
                let card = pi
                    .and_then(wire::card_of)
                    .or_else(|| error.payment_method.as_ref().and_then(wire::card_of_method));
                let reference = pi.map(|p| p.id.clone()).or(reference.map(str::to_owned));
                return Ok(Outcome::Declined(wire::decline_of(error, reference, card)));
            }
        }
        Err(error_of(failure))
    }
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name)?.to_str().ok()
}

/// Stripe takes keys of at most 255 characters; a longer one is cut to a digest of itself, so
/// that the same operation still sends the same key.
fn stripe_key(key: &str) -> String {
    if key.len() <= IDEMPOTENCY_KEY_MAX {
        return key.to_owned();
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("holdfast-sha256-{hex}")
}

/// A second request within one operation gets its own key, derived from the operation's.
fn sub_key(key: &str, step: &str) -> String {
    format!("{key}:{step}")
}

fn transport(e: &reqwest::Error) -> ProcessorError {
    let what = if e.is_timeout() {
        "Stripe did not answer in time"
    } else if e.is_connect() {
        "could not connect to Stripe"
    } else {
        "the request to Stripe failed"
    };
    // The error's text names the URL, never the key (the key travels in a header).
    ProcessorError::unavailable(format!("{what}: {e}"))
}

fn is_card_error(status: StatusCode, error: &wire::ApiError) -> bool {
    status == StatusCode::PAYMENT_REQUIRED || error.kind.as_deref() == Some("card_error")
}

/// A failure as the operation's error: transient failures are retryable (unless Stripe says
/// otherwise), anything else is refused with Stripe's own code and message.
fn error_of(failure: Failure) -> ProcessorError {
    let (status, error, should_retry, retry_after) = match failure {
        Failure::Processor(e) => return e,
        Failure::Api {
            status,
            error,
            should_retry,
            retry_after,
        } => (status, error, should_retry, retry_after),
    };
    let code = error.code.clone();
    let transient = status == StatusCode::CONFLICT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || matches!(code.as_deref(), Some("lock_timeout" | "rate_limit"));
    if transient || should_retry == Some(true) {
        return ProcessorError::Unavailable {
            retryable: should_retry.unwrap_or(true),
            retry_after,
            reason: format!(
                "Stripe answered {status}{}: {}",
                code.map(|c| format!(" {c}")).unwrap_or_default(),
                error.message.clone().unwrap_or_default()
            ),
        };
    }
    if error.code.as_deref() == Some("resource_missing")
        && error.param.as_deref() == Some("payment_method")
    {
        return ProcessorError::InvalidToken;
    }
    ProcessorError::Refused {
        code: code
            .or_else(|| error.kind.clone())
            .unwrap_or_else(|| format!("http_{}", status.as_u16())),
        message: error
            .message
            .clone()
            .unwrap_or_else(|| format!("Stripe answered {status}")),
    }
}

/// On a request whose only id is the token (creating a PaymentIntent with it, reading the
/// payment method), a 404 means the token names nothing; compatible test servers answer a bare
/// 404 without Stripe's `resource_missing`.
fn token_error(failure: Failure) -> Failure {
    match failure {
        Failure::Api { status, .. } if status == StatusCode::NOT_FOUND => {
            Failure::Processor(ProcessorError::InvalidToken)
        }
        other => other,
    }
}

fn path_id(id: &str) -> String {
    wire::percent_encode(id)
}

const EXPAND_HOLD: &[&str] = &["latest_charge", "payment_method"];

#[async_trait]
impl Processor for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn has_external_effects(&self) -> bool {
        true
    }

    async fn prepare(&self, call: PrepareCall) -> Result<Prepared, ProcessorError> {
        let mut form = Form::new()
            .push("amount", call.amount.amount)
            .push(
                "currency",
                call.amount.currency.as_str().to_ascii_lowercase(),
            )
            .push("capture_method", wire::capture_method(call.capture))
            .push("payment_method_types[0]", "card")
            .push(
                &format!("metadata[{METADATA_INTENT}]"),
                &call.payment_intent_id,
            );
        if call.features.incremental_authorization {
            form = form.push(
                "payment_method_options[card][request_incremental_authorization]",
                "if_available",
            );
        }
        if call.features.multicapture {
            form = form.push(
                "payment_method_options[card][request_multicapture]",
                "if_available",
            );
        }
        let pi: PaymentIntent = self
            .post("/v1/payment_intents", &call.idempotency_key, form)
            .await
            .map_err(error_of)?;
        Ok(Prepared {
            client_confirmation: pi
                .client_secret
                .clone()
                .map(|secret| crate::ClientConfirmation {
                    processor: "stripe",
                    publishable_key: self.publishable_key().map(str::to_owned),
                    client_secret: Secret::new(secret),
                }),
            reference: Some(pi.id),
        })
    }

    async fn inspect(&self, token: &str) -> Result<TokenInfo, ProcessorError> {
        let pm: PaymentMethod = self
            .get(
                &format!("/v1/payment_methods/{}", path_id(token)),
                Form::new(),
            )
            .await
            .map_err(|f| error_of(token_error(f)))?;
        let card = wire::card_of_method(&pm).ok_or(ProcessorError::InvalidToken)?;
        Ok(TokenInfo {
            card,
            processor_token: pm.id,
        })
    }

    async fn authorize(&self, call: AuthorizeCall) -> Result<Outcome<Hold>, ProcessorError> {
        let key = &call.idempotency_key;
        let token = call.source.token();
        let reauthorization = matches!(call.purpose, AuthorizationPurpose::Reauthorization { .. });
        let reference = match (&call.reference, reauthorization) {
            // A merchant-initiated hold: one PaymentIntent created and confirmed off-session.
            (_, true) => {
                let form = Form::new()
                    .push("amount", call.amount.amount)
                    .push(
                        "currency",
                        call.amount.currency.as_str().to_ascii_lowercase(),
                    )
                    .push("capture_method", wire::capture_method(call.capture))
                    .push("payment_method_types[0]", "card")
                    .push("payment_method", token)
                    .push(
                        &format!("metadata[{METADATA_INTENT}]"),
                        &call.payment_intent_id,
                    )
                    .push("confirm", true)
                    .push("off_session", true)
                    .expand(EXPAND_HOLD);
                return match self.post("/v1/payment_intents", key, form).await {
                    Ok(pi) => wire::hold_outcome(&pi, self.publishable_key()),
                    Err(failure) => self.hold_failure(token_error(failure), None),
                };
            }
            (Some(reference), false) => {
                let form = Form::new().push("payment_method", token);
                let _: PaymentIntent = self
                    .post(
                        &format!("/v1/payment_intents/{}", path_id(reference)),
                        &sub_key(key, "payment_method"),
                        form,
                    )
                    .await
                    .map_err(error_of)?;
                reference.clone()
            }
            (None, false) => {
                let form = Form::new()
                    .push("amount", call.amount.amount)
                    .push(
                        "currency",
                        call.amount.currency.as_str().to_ascii_lowercase(),
                    )
                    .push("capture_method", wire::capture_method(call.capture))
                    .push("payment_method_types[0]", "card")
                    .push("payment_method", token)
                    .push(
                        &format!("metadata[{METADATA_INTENT}]"),
                        &call.payment_intent_id,
                    );
                let pi: PaymentIntent = self
                    .post("/v1/payment_intents", &sub_key(key, "create"), form)
                    .await
                    .map_err(|f| error_of(token_error(f)))?;
                pi.id
            }
        };
        let form = Form::new()
            .push_opt("return_url", call.return_url.as_deref())
            .expand(EXPAND_HOLD);
        match self
            .post(
                &format!("/v1/payment_intents/{}/confirm", path_id(&reference)),
                key,
                form,
            )
            .await
        {
            Ok(pi) => wire::hold_outcome(&pi, self.publishable_key()),
            Err(failure) => self.hold_failure(failure, Some(&reference)),
        }
    }

    async fn authentication_result(
        &self,
        call: AuthenticateCall,
    ) -> Result<Outcome<Hold>, ProcessorError> {
        let pi: PaymentIntent = self
            .get(
                &format!("/v1/payment_intents/{}", path_id(&call.reference)),
                Form::new().expand(EXPAND_HOLD),
            )
            .await
            .map_err(error_of)?;
        wire::hold_outcome(&pi, self.publishable_key())
    }

    async fn capture(&self, call: CaptureCall) -> Result<Outcome<Captured>, ProcessorError> {
        let mut form = Form::new().push("amount_to_capture", call.amount.amount);
        // `final_capture` defaults to true, and only multicapture accepts `false`.
        if !call.final_capture {
            form = form.push("final_capture", false);
        }
        let pi: PaymentIntent = self
            .post(
                &format!("/v1/payment_intents/{}/capture", path_id(&call.reference)),
                &call.idempotency_key,
                form.expand(&["latest_charge"]),
            )
            .await
            .map_err(error_of)?;
        wire::capture_outcome(&pi, call.amount.amount)
    }

    async fn void(&self, call: VoidCall) -> Result<Outcome<Voided>, ProcessorError> {
        let form = Form::new().push_opt("cancellation_reason", call.reason.map(|r| r.as_str()));
        let pi: PaymentIntent = self
            .post(
                &format!("/v1/payment_intents/{}/cancel", path_id(&call.reference)),
                &call.idempotency_key,
                form,
            )
            .await
            .map_err(error_of)?;
        wire::void_outcome(&pi)
    }

    async fn refund(&self, call: RefundCall) -> Result<Outcome<Refunded>, ProcessorError> {
        let form = Form::new()
            .push("payment_intent", &call.reference)
            .push("amount", call.amount.amount);
        match self
            .post::<Refund>("/v1/refunds", &call.idempotency_key, form)
            .await
        {
            Ok(refund) => Ok(wire::refund_outcome(&refund, &call.reference)),
            Err(Failure::Api { status, error, .. }) if is_card_error(status, &error) => {
                Ok(Outcome::Declined(crate::Decline {
                    kind: crate::DeclineKind::Refund,
                    ..wire::decline_of(&error, Some(call.reference.clone()), None)
                }))
            }
            Err(failure) => Err(error_of(failure)),
        }
    }

    async fn increment_authorization(
        &self,
        call: IncrementCall,
    ) -> Result<Outcome<Hold>, ProcessorError> {
        let form = Form::new()
            .push("amount", call.new_total.amount)
            .expand(EXPAND_HOLD);
        match self
            .post(
                &format!(
                    "/v1/payment_intents/{}/increment_authorization",
                    path_id(&call.reference)
                ),
                &call.idempotency_key,
                form,
            )
            .await
        {
            Ok(pi) => wire::hold_outcome(&pi, self.publishable_key()),
            Err(failure) => self.hold_failure(failure, Some(&call.reference)),
        }
    }

    async fn retrieve(&self, call: RetrieveCall) -> Result<PaymentView, ProcessorError> {
        let pi: PaymentIntent = self
            .get(
                &format!("/v1/payment_intents/{}", path_id(&call.reference)),
                Form::new().expand(EXPAND_HOLD),
            )
            .await
            .map_err(error_of)?;
        wire::payment_view(&pi)
    }
}
