//! Dashboard users: who may sign in to a merchant's dashboard, what each role may do, and how long a
//! session lives.
//!
//! A user belongs to one merchant and sees both of its modes. The role is checked on the server for
//! every action, read from the store on every request, so a change of role or a disabled account
//! takes effect at once. Passwords are never here: the service hashes them (argon2id) and the
//! domain only carries the hash.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, Rejection};
use crate::{Scope, Timestamp};

/// What a user may do in the dashboard. Each role can do everything the one before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees everything but secrets.
    Viewer,
    /// Also captures, voids, refunds, schedules, resends events and drives test clocks.
    Operator,
    /// Also manages webhook endpoints, API keys and users.
    Admin,
}

impl Role {
    pub const ALL: &'static [Role] = &[Role::Viewer, Role::Operator, Role::Admin];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.as_str() == name)
    }

    /// Whether this role may take `action`.
    pub const fn allows(self, action: Permission) -> bool {
        let needed = match action {
            Permission::MoveMoney | Permission::ResendEvents | Permission::UseTestClocks => {
                Role::Operator
            }
            Permission::ManageWebhooks | Permission::ManageApiKeys | Permission::ManageUsers => {
                Role::Admin
            }
        };
        self as u8 >= needed as u8
    }
}

/// The dashboard actions a role gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Capture, void, refund, schedule and clear a schedule, on intents and through orders.
    MoveMoney,
    /// Queue an event again for its webhook endpoints.
    ResendEvents,
    /// Create and advance test clocks (test mode only).
    UseTestClocks,
    /// Create, disable and rotate webhook endpoints.
    ManageWebhooks,
    /// Create and revoke API keys.
    ManageApiKeys,
    /// Create, disable and reset the passwords of dashboard users.
    ManageUsers,
}

/// A dashboard user as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    /// Bumped by every change; the store refuses a write whose base version is stale, so a
    /// sign-in recording itself can never undo an admin's change made meanwhile.
    pub version: u64,
    pub merchant_id: String,
    /// Normalised: trimmed and lower case. Unique across every merchant, so a login names one user.
    pub email: String,
    pub role: Role,
    /// The argon2id hash in PHC string form.
    pub password_hash: String,
    pub disabled: bool,
    /// Bumped when the password is reset or the user is disabled: sessions signed in under an
    /// earlier epoch are over.
    pub session_epoch: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

impl User {
    /// The merchant's data in one mode, as this user sees it.
    pub fn scope(&self, livemode: bool) -> Scope {
        Scope {
            merchant_id: self.merchant_id.clone(),
            livemode,
        }
    }
}

/// A signed-in browser. The store keeps only the SHA-256 of the session token the cookie carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub token_hash: String,
    pub user_id: String,
    /// The user's session epoch at sign-in; the session lasts while the user's stays the same.
    pub user_epoch: u32,
    /// The synchronizer token every form of this session must carry.
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
}

/// A session unused for this long is over.
pub const SESSION_IDLE_SECONDS: i64 = 30 * 60;
/// A session is over this long after sign-in, however busy.
pub const SESSION_LIFETIME_SECONDS: i64 = 12 * 3600;
/// A session's `last_seen_at` is written at most this often, so pages do not each cost a write;
/// the idle timeout is therefore met within this much.
pub const SESSION_TOUCH_SECONDS: i64 = 60;

impl Session {
    /// Whether the session may still be used at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        now.seconds() - self.last_seen_at.seconds() <= SESSION_IDLE_SECONDS
            && now.seconds() - self.created_at.seconds() <= SESSION_LIFETIME_SECONDS
    }

    /// Whether the session may still be used at `now` by `user` (its owner): live, the user
    /// enabled, and no password reset or disable since it began.
    pub fn admits(&self, user: &User, now: Timestamp) -> bool {
        self.is_live(now)
            && user.id == self.user_id
            && !user.disabled
            && user.session_epoch == self.user_epoch
    }

    /// Whether a request at `now` should record itself as the session's last use.
    pub fn needs_touch(&self, now: Timestamp) -> bool {
        now.seconds() - self.last_seen_at.seconds() >= SESSION_TOUCH_SECONDS
    }
}

/// Longest email accepted (RFC 5321's path limit).
pub const EMAIL_CHARS_MAX: usize = 254;
/// Shortest password a user may choose.
pub const PASSWORD_CHARS_MIN: usize = 12;
/// Longest password accepted: argon2 takes any length, but a bound keeps hashing cheap.
pub const PASSWORD_CHARS_MAX: usize = 1024;

/// Trims and lower-cases an email, and checks its shape: something, `@`, a domain with a dot.
pub fn normalize_email(raw: &str) -> Result<String, Rejection> {
    let email = raw.trim().to_lowercase();
    let invalid = || {
        Rejection::param(
            ErrorCode::InvalidParameter,
            "email",
            "email must look like name@example.com",
        )
    };
    if email.is_empty() || email.chars().count() > EMAIL_CHARS_MAX {
        return Err(invalid());
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(invalid());
    };
    let well_formed = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !well_formed {
        return Err(invalid());
    }
    Ok(email)
}

/// Checks a password a user chose: long enough, not absurdly long.
pub fn check_password(password: &str) -> Result<(), Rejection> {
    let chars = password.chars().count();
    if chars < PASSWORD_CHARS_MIN {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "password",
            format!("a password has at least {PASSWORD_CHARS_MIN} characters"),
        ));
    }
    if chars > PASSWORD_CHARS_MAX {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "password",
            format!("a password has at most {PASSWORD_CHARS_MAX} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_can_do_what_the_one_before_it_can() {
        use Permission::*;
        let all = [
            MoveMoney,
            ResendEvents,
            UseTestClocks,
            ManageWebhooks,
            ManageApiKeys,
            ManageUsers,
        ];
        assert!(all.iter().all(|p| !Role::Viewer.allows(*p)));
        assert!(Role::Operator.allows(MoveMoney));
        assert!(Role::Operator.allows(ResendEvents));
        assert!(Role::Operator.allows(UseTestClocks));
        assert!(!Role::Operator.allows(ManageWebhooks));
        assert!(!Role::Operator.allows(ManageApiKeys));
        assert!(!Role::Operator.allows(ManageUsers));
        assert!(all.iter().all(|p| Role::Admin.allows(*p)));
    }

    #[test]
    fn roles_parse_by_name_only() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(*role));
        }
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse("owner"), None);
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ops@Example.COM ").as_deref(),
            Ok("ops@example.com")
        );
        for bad in [
            "",
            "ops",
            "@example.com",
            "ops@example",
            "ops@.com",
            "o ps@example.com",
        ] {
            let refused = normalize_email(bad).unwrap_err();
            assert_eq!(refused.code, ErrorCode::InvalidParameter, "{bad}");
            assert_eq!(refused.param.as_deref(), Some("email"), "{bad}");
        }
    }

    #[test]
    fn a_session_ends_when_idle_or_too_old() {
        let session = Session {
            token_hash: "h".into(),
            user_id: "usr_1".into(),
            user_epoch: 0,
            csrf_token: "c".into(),
            created_at: Timestamp(1_000),
            last_seen_at: Timestamp(1_000),
        };
        assert!(session.is_live(Timestamp(1_000 + SESSION_IDLE_SECONDS)));
        assert!(!session.is_live(Timestamp(1_001 + SESSION_IDLE_SECONDS)));
        let busy = Session {
            last_seen_at: Timestamp(1_000 + SESSION_LIFETIME_SECONDS),
            ..session.clone()
        };
        assert!(busy.is_live(Timestamp(1_000 + SESSION_LIFETIME_SECONDS)));
        assert!(!busy.is_live(Timestamp(1_001 + SESSION_LIFETIME_SECONDS)));
        assert!(!session.needs_touch(Timestamp(1_000 + SESSION_TOUCH_SECONDS - 1)));
        assert!(session.needs_touch(Timestamp(1_000 + SESSION_TOUCH_SECONDS)));
    }

    #[test]
    fn a_session_ends_with_its_user_epoch_or_when_the_user_is_disabled() {
        let user = User {
            id: "usr_1".into(),
            version: 1,
            merchant_id: "mch_1".into(),
            email: "ops@example.com".into(),
            role: Role::Operator,
            password_hash: "h".into(),
            disabled: false,
            session_epoch: 3,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            last_login_at: None,
        };
        let session = Session {
            token_hash: "h".into(),
            user_id: "usr_1".into(),
            user_epoch: 3,
            csrf_token: "c".into(),
            created_at: Timestamp(1_000),
            last_seen_at: Timestamp(1_000),
        };
        assert!(session.admits(&user, Timestamp(1_010)));
        let reset = User {
            session_epoch: 4,
            ..user.clone()
        };
        assert!(!session.admits(&reset, Timestamp(1_010)));
        let disabled = User {
            disabled: true,
            ..user.clone()
        };
        assert!(!session.admits(&disabled, Timestamp(1_010)));
        let other = User {
            id: "usr_2".into(),
            ..user
        };
        assert!(!session.admits(&other, Timestamp(1_010)));
    }

    #[test]
    fn passwords_have_a_floor_and_a_ceiling() {
        assert!(check_password("short").is_err());
        assert!(check_password("twelve chars").is_ok());
        assert!(check_password(&"x".repeat(PASSWORD_CHARS_MAX + 1)).is_err());
    }
}
