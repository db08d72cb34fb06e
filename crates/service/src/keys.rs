//! Merchants, API keys and authentication.
//!
//! A key is `sk_test_` or `sk_live_` and 32 random base62 characters. It is shown once, at
//! creation; the store keeps its SHA-256 and a display prefix (`sk_test_` and the first 8 random
//! characters) used to find candidates, whose hashes are then compared in constant time.

use holdfast_domain::{ErrorCode, Rejection, Scope};
use holdfast_store::{ApiKey, Merchant};

use crate::ids::{new_id, random_base62, same_hash, sha256_hex};
use crate::{Holdfast, ServiceError};

const KEY_SECRET_CHARS: usize = 32;
const KEY_PREFIX_SECRET_CHARS: usize = 8;

/// Who a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A secret API key: the merchant's whole API in the key's mode.
    ApiKey(Scope),
    /// A payment intent's client secret: may retrieve and confirm that one intent only.
    ClientSecret { scope: Scope, intent_id: String },
}

impl Caller {
    pub fn scope(&self) -> &Scope {
        match self {
            Caller::ApiKey(scope) | Caller::ClientSecret { scope, .. } => scope,
        }
    }
}

/// A merchant just created, with its keys in clear: the only time they are ever shown.
#[derive(Debug, Clone)]
pub struct NewMerchant {
    pub merchant: Merchant,
    pub test_key: String,
    pub live_key: String,
}

fn mode_prefix(livemode: bool) -> &'static str {
    if livemode { "sk_live_" } else { "sk_test_" }
}

/// Mints a key for a merchant and mode: the clear key and the record to store.
pub(crate) fn mint_key(
    merchant_id: &str,
    livemode: bool,
    now: holdfast_domain::Timestamp,
) -> (String, ApiKey) {
    let key = format!(
        "{}{}",
        mode_prefix(livemode),
        random_base62(KEY_SECRET_CHARS)
    );
    let record = ApiKey {
        merchant_id: merchant_id.to_owned(),
        livemode,
        prefix: display_prefix(&key).to_owned(),
        hash: sha256_hex(key.as_bytes()),
        created_at: now,
        revoked_at: None,
    };
    (key, record)
}

/// `sk_test_` or `sk_live_` plus the first random characters; safe to show and to log.
pub fn display_prefix(key: &str) -> &str {
    let end = mode_prefix(false).len() + KEY_PREFIX_SECRET_CHARS;
    key.get(..end).unwrap_or(key)
}

fn invalid_key() -> ServiceError {
    ServiceError::Rejected(Rejection::new(
        ErrorCode::InvalidApiKey,
        "the API key is unknown or revoked",
    ))
}

impl Holdfast {
    pub async fn create_merchant(&self, name: &str) -> Result<NewMerchant, ServiceError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Rejection::param(
                ErrorCode::InvalidParameter,
                "name",
                "a merchant name is 1 to 200 characters",
            )
            .into());
        }
        let now = self.now();
        let merchant = Merchant {
            id: new_id("mch"),
            name: name.to_owned(),
            created_at: now,
        };
        let (test_key, test) = mint_key(&merchant.id, false, now);
        let (live_key, live) = mint_key(&merchant.id, true, now);
        self.store.create_merchant(&merchant, &[test, live]).await?;
        Ok(NewMerchant {
            merchant,
            test_key,
            live_key,
        })
    }

    /// On an empty database, creates the `default` merchant so the API is usable at once.
    pub async fn bootstrap(&self) -> Result<Option<NewMerchant>, ServiceError> {
        if self.store.merchant_count().await? > 0 {
            return Ok(None);
        }
        self.create_merchant("default").await.map(Some)
    }

    pub async fn create_api_key(
        &self,
        merchant_id: &str,
        livemode: bool,
    ) -> Result<String, ServiceError> {
        if self.store.get_merchant(merchant_id).await?.is_none() {
            return Err(Rejection::param(
                ErrorCode::NotFound,
                "merchant",
                format!("no merchant {merchant_id}"),
            )
            .into());
        }
        let (key, record) = mint_key(merchant_id, livemode, self.now());
        self.store.insert_api_key(&record).await?;
        Ok(key)
    }

    /// Revokes the keys shown with this display prefix; returns how many were live.
    pub async fn revoke_api_key(&self, prefix: &str) -> Result<u64, ServiceError> {
        Ok(self
            .store
            .revoke_api_keys(display_prefix(prefix), self.now())
            .await?)
    }

    /// Checks a bearer credential: a secret API key or a payment intent's client secret.
    pub async fn authenticate(&self, bearer: &str) -> Result<Caller, ServiceError> {
        if bearer.starts_with("sk_test_") || bearer.starts_with("sk_live_") {
            let hash = sha256_hex(bearer.as_bytes());
            let candidates = self
                .store
                .api_keys_by_prefix(display_prefix(bearer))
                .await?;
            let found = candidates
                .into_iter()
                .find(|key| same_hash(&key.hash, &hash))
                .filter(|key| key.revoked_at.is_none())
                .ok_or_else(invalid_key)?;
            return Ok(Caller::ApiKey(Scope {
                merchant_id: found.merchant_id,
                livemode: found.livemode,
            }));
        }
        if let Some((intent_id, _)) = bearer.split_once("_secret_")
            && intent_id.starts_with("pi_")
        {
            let intent = self
                .store
                .get_intent_unscoped(intent_id)
                .await?
                .ok_or_else(invalid_key)?;
            if same_hash(&intent.client_secret_hash, &sha256_hex(bearer.as_bytes())) {
                return Ok(Caller::ClientSecret {
                    scope: intent.scope,
                    intent_id: intent.id,
                });
            }
        }
        Err(invalid_key())
    }
}
