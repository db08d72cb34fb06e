//! Holdfast's use cases: load what a request needs, let the domain decide, call the processor if the
//! decision needs it, and commit the result in one unit of work.
//!
//! Nothing here knows HTTP or JSON. Answers are rendered by the caller through a `render` function,
//! because an idempotent request's answer must be stored in the same transaction as its effect.

mod checkout;
pub mod clock;
mod customers;
pub mod deadlines;
mod error;
mod idempotency;
pub mod ids;
mod intents;
mod keys;
pub mod maintenance;
mod orders;
mod refunds;
mod test_clocks;
pub mod users;
pub mod webhooks;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use holdfast_domain::{ErrorCode, Rejection, Scope, Timestamp};
use holdfast_processor::Processor;
use holdfast_store::Store;

pub use checkout::{HostedSession, PayResult};
pub use clock::{Clock, ManualClock, SystemClock};
pub use deadlines::Outcome;
pub use error::ServiceError;
pub use holdfast_store::IntentSearch;
pub use idempotency::{Decision, IdempotencyKey, Reply};
pub use intents::{ConfirmCommand, CreateIntentCommand, CreatedIntent, IntentQuery};
pub use keys::{Caller, NewMerchant};
pub use orders::PayCommand;
pub use users::{NewApiKey, NewSession, NewUser, SignedIn};

/// The application: its store, clock and processors. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Holdfast {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    sandbox: Arc<dyn Processor>,
    live: Option<Arc<dyn Processor>>,
    pub settings: Settings,
    /// Idempotency keys being worked on in this process, so a concurrent retry answers 409.
    in_flight: Mutex<HashSet<(Scope, String)>>,
    /// Striped locks serializing, within this process, work that would otherwise only fight over
    /// one row: the advances of one test clock, the refunds of one intent. A fixed number, so
    /// memory stays bounded however many objects exist; across processes the version checks decide.
    stripes: Vec<tokio::sync::Mutex<()>>,
}

const STRIPES: usize = 64;

/// Tunables that come from the server's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long before a hold's deadline `payment_intent.authorization_expiring` fires.
    pub expiry_warning_lead_seconds: i64,
    /// Seals webhook signing secrets at rest.
    pub secrets_key: webhooks::SecretsKey,
    /// Seconds from each failed webhook attempt to the next; after the last, the delivery fails.
    pub webhook_retry_schedule: Vec<i64>,
    /// Where buyers reach this server (`https://pay.example.com`): the base of the hosted pages'
    /// URLs (`url` of a checkout session). `None`: `holdfast serve` uses the address it listens on.
    pub public_url: Option<String>,
}

impl Default for Settings {
    /// Defaults with a fresh random secrets key: fine for one process, not for a cluster.
    fn default() -> Settings {
        Settings {
            expiry_warning_lead_seconds: 24 * 3600,
            secrets_key: webhooks::SecretsKey::random(),
            webhook_retry_schedule: holdfast_domain::webhook::RETRY_SCHEDULE_SECONDS.to_vec(),
            public_url: None,
        }
    }
}

impl Holdfast {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        sandbox: Arc<dyn Processor>,
        live: Option<Arc<dyn Processor>>,
    ) -> Holdfast {
        Holdfast {
            store,
            clock,
            sandbox,
            live,
            settings: Settings::default(),
            in_flight: Mutex::new(HashSet::new()),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    pub fn with_settings(mut self, settings: Settings) -> Holdfast {
        self.settings = settings;
        self
    }

    /// The hosted page of a checkout session (or another hosted object): `{public_url}/pay/{id}`.
    pub fn hosted_url(&self, id: &str) -> String {
        let base = self.settings.public_url.as_deref().unwrap_or("");
        format!("{}/pay/{id}", base.trim_end_matches('/'))
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The striped lock for one object id.
    pub(crate) fn stripe(&self, id: &str) -> &tokio::sync::Mutex<()> {
        let hash = id.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        &self.stripes[hash % self.stripes.len()]
    }

    /// Test mode always has the sandbox; live mode has whatever real processor is configured.
    fn processor(&self, scope: &Scope) -> Result<&Arc<dyn Processor>, ServiceError> {
        if !scope.livemode {
            return Ok(&self.sandbox);
        }
        self.live.as_ref().ok_or_else(|| {
            ServiceError::Rejected(Rejection::new(
                ErrorCode::ProcessorNotConfigured,
                "live mode has no card processor configured; use a test key and test tokens",
            ))
        })
    }
}

/// Who is asking, and on whose behalf, for one request.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub scope: Scope,
    /// The API request that causes the change; `None` for work the service does by itself.
    pub request_id: Option<String>,
    pub idempotency: Option<IdempotencyKey>,
    /// The dashboard user acting (their email), recorded on the intent's actions; `None` for API
    /// requests and for Holdfast's own work.
    pub actor: Option<String>,
}
