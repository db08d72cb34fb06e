//! Dashboard users, their sessions, and what the dashboard reads that the API does not: a
//! merchant's API keys, intent searches, the money at risk and the daily totals.
//!
//! - **Passwords** are hashed with argon2id (19 MiB, 2 passes, 1 lane: OWASP's baseline), on the
//!   blocking pool so the async threads never stall on it, and at most [`HASHES_AT_ONCE`] at a
//!   time. A generated password (20 base62 characters, about 119 bits) is shown once.
//! - **Sign-in** gives the same answer (`None`) to an unknown email, a disabled user and a wrong
//!   password, and checks a password in every case (against a throwaway hash when there is no
//!   user), so neither the answer nor its timing tells which emails exist.
//! - **Sessions.** The cookie carries a random token (43 base62 characters); the store keeps its
//!   SHA-256. A session ends after 30 minutes unused, 12 hours after sign-in, at sign-out, and
//!   when its user is disabled or has a password reset (the user's session epoch moves on). The
//!   user is read on every request, so a role change applies at once.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use holdfast_domain::intent::PaymentIntent;
use holdfast_domain::user::{self, Role, Session, User};
use holdfast_domain::{ErrorCode, Rejection, Scope, Timestamp};
use holdfast_store::{
    ApiKey, AtRisk, DailyTotals, EndpointDelivery, IntentFilter, IntentSearch, Page, StoreError,
    UnitOfWork,
};
use rand::RngCore;
use tokio::sync::Semaphore;

use crate::ids::{new_id, random_base62, sha256_hex};
use crate::keys::mint_key;
use crate::{Decision, Holdfast, ServiceError};

/// Characters of a generated password.
const GENERATED_PASSWORD_CHARS: usize = 20;
/// Characters of a session token: about 256 bits.
const SESSION_TOKEN_CHARS: usize = 43;
/// Characters of a session's CSRF token.
const CSRF_TOKEN_CHARS: usize = 32;
/// Password hashes computed at once in this process; more wait their turn. Each takes 19 MiB and
/// tens of milliseconds, so a burst of sign-ins cannot exhaust memory or the blocking pool.
pub const HASHES_AT_ONCE: usize = 4;

static HASHING: Semaphore = Semaphore::const_new(HASHES_AT_ONCE);

/// A user just created (or whose password was just reset), with the generated password, shown
/// once.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub user: User,
    pub password: Option<String>,
}

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    pub session: Session,
}

/// A session just begun: the token for the cookie exists in clear only here.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub user: User,
    pub session: Session,
}

/// An API key just created: the key in clear exists only here.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub key: String,
    pub record: ApiKey,
}

fn argon2() -> Result<Argon2<'static>, ServiceError> {
    let params = Params::new(19_456, 2, 1, None).map_err(|e| internal(&e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn internal(why: &str) -> ServiceError {
    ServiceError::Store(StoreError::Unavailable(format!("password hashing: {why}")))
}

/// Hashes a password on the blocking pool.
pub async fn hash_password(password: String) -> Result<String, ServiceError> {
    let _turn = HASHING
        .acquire()
        .await
        .map_err(|e| internal(&e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| internal(&e.to_string()))?;
        argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| internal(&e.to_string()))
    })
    .await
    .map_err(|e| internal(&e.to_string()))?
}

/// Checks a password against a stored hash on the blocking pool. Anything unreadable is a no.
async fn verify_password(password: String, hash: String) -> bool {
    let Ok(_turn) = HASHING.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        argon2().is_ok_and(|a| a.verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// A hash of a random password, checked when a sign-in names no user, so that it costs what a
/// real check costs.
static THROWAWAY_HASH: OnceLock<String> = OnceLock::new();

async fn throwaway_hash() -> String {
    if let Some(hash) = THROWAWAY_HASH.get() {
        return hash.clone();
    }
    let hash = hash_password(random_base62(GENERATED_PASSWORD_CHARS))
        .await
        .unwrap_or_default();
    THROWAWAY_HASH.get_or_init(|| hash).clone()
}

fn user_not_found() -> ServiceError {
    ServiceError::Rejected(Rejection::param(
        ErrorCode::NotFound,
        "user",
        "no such user",
    ))
}

impl Holdfast {
    /// Decides a new user of `merchant_id`; `password` `None` generates one.
    pub async fn new_user(
        &self,
        merchant_id: &str,
        email: &str,
        role: Role,
        password: Option<String>,
    ) -> Result<Decision<NewUser>, ServiceError> {
        let email = user::normalize_email(email)?;
        if self.store.get_merchant(merchant_id).await?.is_none() {
            return Err(Rejection::param(
                ErrorCode::NotFound,
                "merchant",
                format!("no merchant {merchant_id}"),
            )
            .into());
        }
        if self.store.get_user_by_email(&email).await?.is_some() {
            return Err(Rejection::param(
                ErrorCode::InvalidParameter,
                "email",
                "a user with this email already exists",
            )
            .into());
        }
        let (password, generated) = match password {
            Some(p) => {
                user::check_password(&p)?;
                (p, None)
            }
            None => {
                let p = random_base62(GENERATED_PASSWORD_CHARS);
                (p.clone(), Some(p))
            }
        };
        let now = self.now();
        let user = User {
            id: new_id("usr"),
            version: 1,
            merchant_id: merchant_id.to_owned(),
            email,
            role,
            password_hash: hash_password(password).await?,
            disabled: false,
            session_epoch: 0,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        let unit = UnitOfWork {
            users: vec![user.clone()],
            ..UnitOfWork::default()
        };
        Ok(Decision::answer(
            unit,
            NewUser {
                user,
                password: generated,
            },
        ))
    }

    /// Creates a user at once (the command line's way).
    pub async fn create_user(
        &self,
        merchant_id: &str,
        email: &str,
        role: Role,
        password: Option<String>,
    ) -> Result<NewUser, ServiceError> {
        let decision = self.new_user(merchant_id, email, role, password).await?;
        self.commit_decision(decision).await
    }

    async fn commit_decision<T>(&self, decision: Decision<T>) -> Result<T, ServiceError> {
        let value = decision.outcome?;
        self.store.commit(decision.unit).await?;
        Ok(value)
    }

    pub async fn list_users(&self, merchant_id: &str) -> Result<Vec<User>, ServiceError> {
        Ok(self.store.list_users(merchant_id).await?)
    }

    /// A user by email, of whichever merchant (the command line's look-up).
    pub async fn user_by_email(&self, email: &str) -> Result<User, ServiceError> {
        let email = user::normalize_email(email)?;
        self.store
            .get_user_by_email(&email)
            .await?
            .ok_or_else(user_not_found)
    }

    /// A user of this merchant, or not found.
    async fn merchant_user(&self, merchant_id: &str, id: &str) -> Result<User, ServiceError> {
        self.store
            .get_user(id)
            .await?
            .filter(|u| u.merchant_id == merchant_id)
            .ok_or_else(user_not_found)
    }

    /// Disables (ending every session) or enables a user of `by`'s merchant. Nobody disables
    /// themselves: a merchant would risk losing its last admin.
    pub async fn set_user_disabled(
        &self,
        by: &User,
        id: &str,
        disabled: bool,
    ) -> Result<Decision<User>, ServiceError> {
        let mut user = self.merchant_user(&by.merchant_id, id).await?;
        if disabled && user.id == by.id {
            return Err(Rejection::param(
                ErrorCode::InvalidParameter,
                "user",
                "you cannot disable your own account",
            )
            .into());
        }
        Ok(self.user_change(&mut user, |u| {
            if disabled && !u.disabled {
                u.session_epoch = u.session_epoch.wrapping_add(1);
            }
            u.disabled = disabled;
        }))
    }

    /// Disables or enables a user at once (the command line's way).
    pub async fn set_user_disabled_by_email(
        &self,
        email: &str,
        disabled: bool,
    ) -> Result<User, ServiceError> {
        let mut user = self.user_by_email(email).await?;
        let decision = self.user_change(&mut user, |u| {
            if disabled && !u.disabled {
                u.session_epoch = u.session_epoch.wrapping_add(1);
            }
            u.disabled = disabled;
        });
        self.commit_decision(decision).await
    }

    fn user_change(&self, user: &mut User, change: impl FnOnce(&mut User)) -> Decision<User> {
        change(user);
        user.version += 1;
        user.updated_at = self.now();
        let unit = UnitOfWork {
            users: vec![user.clone()],
            ..UnitOfWork::default()
        };
        Decision::answer(unit, user.clone())
    }

    /// Sets a new password (`None`: a generated one, shown once) and ends every session.
    pub async fn reset_user_password(
        &self,
        merchant_id: &str,
        id: &str,
        password: Option<String>,
    ) -> Result<Decision<NewUser>, ServiceError> {
        let user = self.merchant_user(merchant_id, id).await?;
        self.reset(user, password).await
    }

    /// Resets a password at once (the command line's way).
    pub async fn reset_password_by_email(
        &self,
        email: &str,
        password: Option<String>,
    ) -> Result<NewUser, ServiceError> {
        let user = self.user_by_email(email).await?;
        let decision = self.reset(user, password).await?;
        self.commit_decision(decision).await
    }

    async fn reset(
        &self,
        mut user: User,
        password: Option<String>,
    ) -> Result<Decision<NewUser>, ServiceError> {
        let (password, generated) = match password {
            Some(p) => {
                user::check_password(&p)?;
                (p, None)
            }
            None => {
                let p = random_base62(GENERATED_PASSWORD_CHARS);
                (p.clone(), Some(p))
            }
        };
        let hash = hash_password(password).await?;
        let decision = self.user_change(&mut user, |u| {
            u.password_hash = hash;
            u.session_epoch = u.session_epoch.wrapping_add(1);
        });
        Ok(Decision {
            unit: decision.unit,
            outcome: decision.outcome.map(|user| NewUser {
                user,
                password: generated,
            }),
        })
    }

    /// Signs a user in: a new session, or `None` for every kind of failure alike.
    pub async fn log_in(
        &self,
        email: &str,
        password: &str,
    ) -> Result<Option<NewSession>, ServiceError> {
        let found = match user::normalize_email(email) {
            Ok(email) => self.store.get_user_by_email(&email).await?,
            Err(_) => None,
        };
        let hash = match &found {
            Some(u) => u.password_hash.clone(),
            None => throwaway_hash().await,
        };
        let matches = verify_password(password.to_owned(), hash).await;
        let Some(mut user) = found.filter(|u| matches && !u.disabled) else {
            return Ok(None);
        };
        let now = self.now();
        let token = random_base62(SESSION_TOKEN_CHARS);
        let session = Session {
            token_hash: sha256_hex(token.as_bytes()),
            user_id: user.id.clone(),
            user_epoch: user.session_epoch,
            csrf_token: random_base62(CSRF_TOKEN_CHARS),
            created_at: now,
            last_seen_at: now,
        };
        self.store.insert_session(&session).await?;
        // Best effort: a change an admin made meanwhile wins, and the sign-in stands.
        let decision = self.user_change(&mut user, |u| u.last_login_at = Some(now));
        match self.store.commit(decision.unit).await {
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(Some(NewSession {
            token,
            user,
            session,
        }))
    }

    /// The session a cookie's token names, if it is live; records its use (at most once a minute).
    pub async fn dashboard_session(&self, token: &str) -> Result<Option<SignedIn>, ServiceError> {
        let Some(signed) = self.dashboard_session_untouched(token).await? else {
            return Ok(None);
        };
        let now = self.now();
        if signed.session.needs_touch(now) {
            self.store
                .touch_session(&signed.session.token_hash, now)
                .await?;
        }
        Ok(Some(signed))
    }

    /// The session a token names, if it is live, without recording a use (live-update streams
    /// must not keep a session alive).
    pub async fn dashboard_session_untouched(
        &self,
        token: &str,
    ) -> Result<Option<SignedIn>, ServiceError> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let hash = sha256_hex(token.as_bytes());
        let Some(session) = self.store.get_session(&hash).await? else {
            return Ok(None);
        };
        let now = self.now();
        if !session.is_live(now) {
            self.store.delete_session(&hash).await?;
            return Ok(None);
        }
        let Some(user) = self.store.get_user(&session.user_id).await? else {
            return Ok(None);
        };
        if !session.admits(&user, now) {
            return Ok(None);
        }
        Ok(Some(SignedIn { user, session }))
    }

    pub async fn log_out(&self, token: &str) -> Result<(), ServiceError> {
        Ok(self
            .store
            .delete_session(&sha256_hex(token.as_bytes()))
            .await?)
    }

    /// Deletes sessions that can no longer be used, in batches of 500; returns how many.
    pub async fn purge_sessions(&self, batches_max: u32) -> Result<u64, ServiceError> {
        let now = self.now();
        let seen_before = now.plus_seconds(-user::SESSION_IDLE_SECONDS);
        let created_before = now.plus_seconds(-user::SESSION_LIFETIME_SECONDS);
        let mut total = 0;
        for _ in 0..batches_max {
            let n = self
                .store
                .purge_sessions(seen_before, created_before, 500)
                .await?;
            total += n;
            if n < 500 {
                break;
            }
        }
        Ok(total)
    }

    /// A merchant's API keys in one mode, revoked ones included.
    pub async fn list_api_keys(&self, scope: &Scope) -> Result<Vec<ApiKey>, ServiceError> {
        Ok(self
            .store
            .list_api_keys(&scope.merchant_id, scope.livemode)
            .await?)
    }

    /// Decides a new API key for a merchant and mode (the dashboard's, run idempotently).
    pub async fn new_api_key(&self, scope: &Scope) -> Result<Decision<NewApiKey>, ServiceError> {
        let (key, record) = mint_key(&scope.merchant_id, scope.livemode, self.now());
        let unit = UnitOfWork {
            api_keys: vec![record.clone()],
            ..UnitOfWork::default()
        };
        Ok(Decision::answer(unit, NewApiKey { key, record }))
    }

    /// Decides the revocation of the key shown with `prefix` in this merchant and mode.
    pub async fn revoke_api_key_of(
        &self,
        scope: &Scope,
        prefix: &str,
    ) -> Result<Decision<ApiKey>, ServiceError> {
        let mut key = self
            .list_api_keys(scope)
            .await?
            .into_iter()
            .find(|k| k.prefix == prefix && k.revoked_at.is_none())
            .ok_or_else(|| {
                Rejection::param(ErrorCode::NotFound, "api_key", "no such live API key")
            })?;
        key.revoked_at = Some(self.now());
        let unit = UnitOfWork {
            api_keys: vec![key.clone()],
            ..UnitOfWork::default()
        };
        Ok(Decision::answer(unit, key))
    }

    /// Intents as [`Holdfast::list_intents`] lists them, narrowed by `search`.
    pub async fn search_intents(
        &self,
        scope: &Scope,
        mut filter: IntentFilter,
        search: IntentSearch,
    ) -> Result<Page<PaymentIntent>, ServiceError> {
        let now = self.now();
        filter.now = now;
        let mut page = self.store.search_intents(scope, &filter, &search).await?;
        for intent in &mut page.data {
            let at = match intent.test_clock_id {
                Some(_) => self.time_of(intent).await?,
                None => now,
            };
            *intent = intent.as_of(at);
        }
        Ok(page)
    }

    /// Open holds whose deadline falls within 24 and within 72 hours, per currency, each on its
    /// own time (a test clock's, or the wall clock's).
    pub async fn money_at_risk(&self, scope: &Scope) -> Result<Vec<AtRisk>, ServiceError> {
        Ok(self.store.money_at_risk(scope, self.now()).await?)
    }

    /// Money moved per UTC day and currency from `from` to `to`.
    pub async fn daily_totals(
        &self,
        scope: &Scope,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<DailyTotals>, ServiceError> {
        Ok(self.store.daily_totals(scope, from, to).await?)
    }

    /// An endpoint's latest deliveries with their attempts.
    pub async fn endpoint_deliveries(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        limit: u32,
    ) -> Result<Vec<EndpointDelivery>, ServiceError> {
        self.get_webhook_endpoint(scope, endpoint_id).await?;
        Ok(self
            .store
            .endpoint_deliveries(scope, endpoint_id, limit.clamp(1, 500))
            .await?)
    }
}
