//! Webhook endpoints, their signing secrets, and what was delivered.
//!
//! A signing secret is needed in clear to sign, so it cannot be hashed: it is sealed with
//! ChaCha20-Poly1305 under the server's secrets key ([`SecretsKey`]) and shown in clear only in
//! the answer that created it. Rotation keeps the old secret signing beside the new one for 24 h.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use holdfast_domain::webhook::{self, SECRET_OVERLAP_SECONDS, SealedSecret, WebhookEndpoint};
use holdfast_domain::{ErrorCode, Scope};
use holdfast_store::{DeliveryRecord, Page, PageRequest, StoreError, UnitOfWork};
use rand::RngCore;

use crate::ids::new_id;
use crate::{Decision, Holdfast, RequestCtx, ServiceError};

/// The key that seals webhook signing secrets at rest. Every node sharing a database needs the
/// same one.
#[derive(Clone)]
pub struct SecretsKey([u8; 32]);

impl SecretsKey {
    pub fn new(bytes: [u8; 32]) -> SecretsKey {
        SecretsKey(bytes)
    }

    pub fn random() -> SecretsKey {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        SecretsKey(bytes)
    }

    /// Reads the base64 form (32 bytes).
    pub fn from_base64(text: &str) -> Option<SecretsKey> {
        let bytes = STANDARD.decode(text.trim()).ok()?;
        Some(SecretsKey(bytes.try_into().ok()?))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.0))
    }

    /// Seals a secret: base64 of a random nonce followed by the ciphertext.
    pub fn seal(&self, secret: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), secret.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(sealed);
        STANDARD.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let clear = self
            .cipher()
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .ok()?;
        String::from_utf8(clear).ok()
    }
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(***)")
    }
}

/// An endpoint as created or rotated: the only time its new secret is shown.
#[derive(Debug, Clone)]
pub struct EndpointWithSecret {
    pub endpoint: WebhookEndpoint,
    pub secret: Option<String>,
}

/// `PATCH /v1/webhook-endpoints/{id}`.
#[derive(Debug, Clone, Default)]
pub struct UpdateEndpoint {
    pub url: Option<String>,
    pub enabled_events: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub disabled: Option<bool>,
}

/// `whsec_` and base64 of 32 random bytes, as Standard Webhooks expects.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

impl Holdfast {
    pub async fn create_webhook_endpoint(
        &self,
        ctx: &RequestCtx,
        url: String,
        enabled_events: Vec<String>,
        description: Option<String>,
    ) -> Result<Decision<EndpointWithSecret>, ServiceError> {
        webhook::check_url(&url, ctx.scope.livemode)?;
        webhook::check_enabled_events(&enabled_events)?;
        webhook::check_description(description.as_deref())?;
        let now = self.now();
        let secret = new_secret();
        let endpoint = WebhookEndpoint {
            id: new_id("we"),
            scope: ctx.scope.clone(),
            url,
            enabled_events,
            description,
            disabled: false,
            secrets: vec![SealedSecret {
                sealed: self.settings.secrets_key.seal(&secret),
                created_at: now,
                expires_at: None,
            }],
            created_at: now,
            updated_at: now,
        };
        let unit = UnitOfWork {
            webhook_endpoints: vec![endpoint.clone()],
            ..UnitOfWork::default()
        };
        Ok(Decision::answer(
            unit,
            EndpointWithSecret {
                endpoint,
                secret: Some(secret),
            },
        ))
    }

    pub async fn get_webhook_endpoint(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<WebhookEndpoint, ServiceError> {
        self.store
            .get_webhook_endpoint(scope, id)
            .await?
            .ok_or_else(|| {
                ServiceError::not_found(ErrorCode::WebhookEndpointNotFound, "webhook endpoint")
            })
    }

    pub async fn list_webhook_endpoints(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<Page<WebhookEndpoint>, ServiceError> {
        Ok(self.store.list_webhook_endpoints(scope, &page).await?)
    }

    pub async fn update_webhook_endpoint(
        &self,
        ctx: &RequestCtx,
        id: &str,
        req: UpdateEndpoint,
    ) -> Result<Decision<EndpointWithSecret>, ServiceError> {
        let mut endpoint = self.get_webhook_endpoint(&ctx.scope, id).await?;
        if let Some(url) = req.url {
            webhook::check_url(&url, ctx.scope.livemode)?;
            endpoint.url = url;
        }
        if let Some(events) = req.enabled_events {
            webhook::check_enabled_events(&events)?;
            endpoint.enabled_events = events;
        }
        if let Some(description) = req.description {
            webhook::check_description(description.as_deref())?;
            endpoint.description = description;
        }
        if let Some(disabled) = req.disabled {
            endpoint.disabled = disabled;
        }
        endpoint.updated_at = self.now();
        let unit = UnitOfWork {
            webhook_endpoints: vec![endpoint.clone()],
            ..UnitOfWork::default()
        };
        Ok(Decision::answer(
            unit,
            EndpointWithSecret {
                endpoint,
                secret: None,
            },
        ))
    }

    pub async fn delete_webhook_endpoint(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<WebhookEndpoint, ServiceError> {
        let endpoint = self.get_webhook_endpoint(scope, id).await?;
        if !self.store.delete_webhook_endpoint(scope, id).await? {
            return Err(ServiceError::not_found(
                ErrorCode::WebhookEndpointNotFound,
                "webhook endpoint",
            ));
        }
        Ok(endpoint)
    }

    /// A new secret; the current one keeps signing beside it for 24 hours.
    pub async fn rotate_webhook_secret(
        &self,
        ctx: &RequestCtx,
        id: &str,
    ) -> Result<Decision<EndpointWithSecret>, ServiceError> {
        let mut endpoint = self.get_webhook_endpoint(&ctx.scope, id).await?;
        let now = self.now();
        endpoint
            .secrets
            .retain(|s| s.expires_at.is_none_or(|t| t > now));
        for secret in &mut endpoint.secrets {
            if secret.expires_at.is_none() {
                secret.expires_at = Some(now.plus_seconds(SECRET_OVERLAP_SECONDS));
            }
        }
        let secret = new_secret();
        endpoint.secrets.push(SealedSecret {
            sealed: self.settings.secrets_key.seal(&secret),
            created_at: now,
            expires_at: None,
        });
        endpoint.updated_at = now;
        let unit = UnitOfWork {
            webhook_endpoints: vec![endpoint.clone()],
            ..UnitOfWork::default()
        };
        Ok(Decision::answer(
            unit,
            EndpointWithSecret {
                endpoint,
                secret: Some(secret),
            },
        ))
    }

    /// The secrets that sign for an endpoint now, in clear (for the delivery worker only).
    pub fn signing_secrets(&self, endpoint: &WebhookEndpoint) -> Vec<String> {
        endpoint
            .signing_secrets(self.now())
            .filter_map(|s| self.settings.secrets_key.open(&s.sealed))
            .collect()
    }

    pub async fn event_deliveries(
        &self,
        scope: &Scope,
        event_id: &str,
    ) -> Result<Vec<DeliveryRecord>, ServiceError> {
        self.get_event(scope, event_id).await?;
        Ok(self.store.list_deliveries(scope, event_id).await?)
    }

    /// Queues an event again for every enabled endpoint that wants it.
    pub async fn resend_event(&self, scope: &Scope, event_id: &str) -> Result<u64, ServiceError> {
        let event = self.get_event(scope, event_id).await?;
        self.store
            .resend_event(&event, self.now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict => ServiceError::Store(StoreError::Unavailable(
                    "the event is being delivered; retry".into(),
                )),
                other => other.into(),
            })
    }
}
