//! Admin pages: the merchant's API keys (created and shown once, revoked) and its dashboard users
//! (created with a one-time password, disabled, enabled, their passwords reset).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use holdfast_domain::user::{Permission, Role, User};
use holdfast_service::{NewApiKey, NewUser};
use holdfast_store::ApiKey;
use serde::Deserialize;

use crate::Web;
use crate::actions::{self, Done, new_key};
use crate::auth::{Act, Signed};
use crate::error::WebError;
use crate::format;
use crate::pages::intent::IdPath;
use crate::pages::webhooks::show_secret;
use crate::pages::{ShownRefusal, done, html_status, notice_text};
use crate::views::{Chrome, Section, role_options};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

#[derive(Debug)]
struct KeyRow {
    prefix: String,
    created: String,
    revoked: String,
    revoke_key: String,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct KeysPage {
    chrome: Chrome,
    rows: Vec<KeyRow>,
    create_key: String,
    error: Option<ShownRefusal>,
}

async fn keys_page(
    web: &Web,
    signed: &Signed,
    notice: Option<String>,
    error: Option<ShownRefusal>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let keys = web.app.list_api_keys(&signed.scope()).await?;
    let rows = keys
        .iter()
        .map(|k: &ApiKey| KeyRow {
            prefix: k.prefix.clone(),
            created: format::datetime(k.created_at),
            revoked: k.revoked_at.map(format::datetime).unwrap_or_default(),
            revoke_key: new_key(),
        })
        .collect();
    let page = KeysPage {
        chrome: signed
            .chrome("API keys", Section::ApiKeys)
            .with_notice(notice),
        rows,
        create_key: new_key(),
        error,
    };
    html_status(status, &page)
}

pub(crate) async fn api_keys(
    State(web): State<Web>,
    signed: Signed,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    signed.require(Permission::ManageApiKeys)?;
    keys_page(
        &web,
        &signed,
        notice_text(query.notice.as_deref()),
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct KeyForm {
    #[serde(default)]
    idempotency_key: String,
}

pub(crate) async fn create_api_key(
    State(web): State<Web>,
    act: Act<KeyForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::ManageApiKeys)?;
    let scope = signed.scope();
    let what = format!("api-key-create {}", signed.mode());
    let ctx = actions::context(signed, &act.form.idempotency_key, &what)?;
    let app = &web.app;
    let outcome = actions::run(
        &web,
        &ctx,
        || app.new_api_key(&scope),
        |k: &NewApiKey| Done {
            object: k.record.prefix.clone(),
            secret: Some(k.key.clone()),
            replayed: false,
        },
    )
    .await;
    match outcome {
        Ok(d) => show_secret(
            signed,
            "API key created",
            format!("The new {} secret key", signed.mode()),
            d.secret.unwrap_or_default(),
            signed.href("/api-keys"),
            d.replayed,
        ),
        Err(refusal) => {
            let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
            keys_page(&web, signed, None, Some(refusal.into()), status).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct PrefixPath {
    prefix: String,
}

pub(crate) async fn revoke_api_key(
    State(web): State<Web>,
    Path(PrefixPath { prefix }): Path<PrefixPath>,
    act: Act<KeyForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::ManageApiKeys)?;
    let scope = signed.scope();
    let what = format!("api-key-revoke {prefix}");
    let ctx = actions::context(signed, &act.form.idempotency_key, &what)?;
    let app = &web.app;
    let outcome = actions::run(
        &web,
        &ctx,
        || app.revoke_api_key_of(&scope, &prefix),
        |k: &ApiKey| Done {
            object: k.prefix.clone(),
            ..Done::default()
        },
    )
    .await;
    match outcome {
        Ok(_) => Ok(done(signed, &signed.href("/api-keys"), "key-revoked")),
        Err(refusal) => Err(WebError::Refused(refusal)),
    }
}

// ---- Users --------------------------------------------------------------------------------------

#[derive(Debug)]
struct UserRow {
    id: String,
    email: String,
    role: &'static str,
    enabled: bool,
    is_you: bool,
    last_login: String,
    created: String,
    toggle_key: String,
    reset_key: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    rows: Vec<UserRow>,
    create_key: String,
    roles: Vec<(&'static str, bool)>,
    email: String,
    error: Option<ShownRefusal>,
}

async fn users_page(
    web: &Web,
    signed: &Signed,
    notice: Option<String>,
    form: Option<&CreateUserForm>,
    error: Option<ShownRefusal>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let users = web.app.list_users(&signed.user.merchant_id).await?;
    let rows = users
        .iter()
        .map(|u: &User| UserRow {
            id: u.id.clone(),
            email: u.email.clone(),
            role: u.role.as_str(),
            enabled: !u.disabled,
            is_you: u.id == signed.user.id,
            last_login: u.last_login_at.map(format::datetime).unwrap_or_default(),
            created: format::datetime(u.created_at),
            toggle_key: new_key(),
            reset_key: new_key(),
        })
        .collect();
    let role = form
        .and_then(|f| Role::parse(&f.role))
        .unwrap_or(Role::Viewer);
    let page = UsersPage {
        chrome: signed.chrome("Users", Section::Users).with_notice(notice),
        rows,
        create_key: new_key(),
        roles: role_options(role),
        email: form.map(|f| f.email.clone()).unwrap_or_default(),
        error,
    };
    html_status(status, &page)
}

pub(crate) async fn users(
    State(web): State<Web>,
    signed: Signed,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    signed.require(Permission::ManageUsers)?;
    users_page(
        &web,
        &signed,
        notice_text(query.notice.as_deref()),
        None,
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct CreateUserForm {
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

pub(crate) async fn create_user(
    State(web): State<Web>,
    act: Act<CreateUserForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::ManageUsers)?;
    let form = &act.form;
    let Some(role) = Role::parse(&form.role) else {
        return Err(WebError::BadForm("Choose a role.".into()));
    };
    let merchant = signed.user.merchant_id.clone();
    let what = format!(
        "user-create {} {}",
        form.email.trim().to_lowercase(),
        role.as_str()
    );
    let ctx = actions::context(signed, &form.idempotency_key, &what)?;
    let app = &web.app;
    let outcome = actions::run(
        &web,
        &ctx,
        || app.new_user(&merchant, &form.email, role, None),
        |u: &NewUser| Done {
            object: u.user.email.clone(),
            secret: u.password.clone(),
            replayed: false,
        },
    )
    .await;
    match outcome {
        Ok(d) => show_secret(
            signed,
            "User created",
            format!(
                "The one-time password of {}. Give it to them over a safe channel; they can ask an admin for a new one at any time",
                d.object
            ),
            d.secret.unwrap_or_default(),
            signed.href("/users"),
            d.replayed,
        ),
        Err(refusal) => {
            let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
            users_page(&web, signed, None, Some(form), Some(refusal.into()), status).await
        }
    }
}

async fn set_disabled(
    web: &Web,
    signed: &Signed,
    id: &str,
    key: &str,
    disabled: bool,
) -> Result<Response, WebError> {
    signed.require(Permission::ManageUsers)?;
    let what = format!("user-disabled {id} {disabled}");
    let ctx = actions::context(signed, key, &what)?;
    let app = &web.app;
    let outcome = actions::run(
        web,
        &ctx,
        || app.set_user_disabled(&signed.user, id, disabled),
        |u: &User| Done {
            object: u.id.clone(),
            ..Done::default()
        },
    )
    .await;
    match outcome {
        Ok(_) => Ok(done(
            signed,
            &signed.href("/users"),
            if disabled {
                "user-disabled"
            } else {
                "user-enabled"
            },
        )),
        Err(refusal) => Err(WebError::Refused(refusal)),
    }
}

pub(crate) async fn disable_user(
    State(web): State<Web>,
    Path(IdPath { id }): Path<IdPath>,
    act: Act<KeyForm>,
) -> Result<Response, WebError> {
    set_disabled(&web, &act.signed, &id, &act.form.idempotency_key, true).await
}

pub(crate) async fn enable_user(
    State(web): State<Web>,
    Path(IdPath { id }): Path<IdPath>,
    act: Act<KeyForm>,
) -> Result<Response, WebError> {
    set_disabled(&web, &act.signed, &id, &act.form.idempotency_key, false).await
}

pub(crate) async fn reset_password(
    State(web): State<Web>,
    Path(IdPath { id }): Path<IdPath>,
    act: Act<KeyForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::ManageUsers)?;
    let merchant = signed.user.merchant_id.clone();
    let what = format!("user-reset-password {id}");
    let ctx = actions::context(signed, &act.form.idempotency_key, &what)?;
    let app = &web.app;
    let outcome = actions::run(
        &web,
        &ctx,
        || app.reset_user_password(&merchant, &id, None),
        |u: &NewUser| Done {
            object: u.user.email.clone(),
            secret: u.password.clone(),
            replayed: false,
        },
    )
    .await;
    match outcome {
        Ok(d) => show_secret(
            signed,
            "Password reset",
            format!(
                "The new one-time password of {}. Their sessions have ended",
                d.object
            ),
            d.secret.unwrap_or_default(),
            signed.href("/users"),
            d.replayed,
        ),
        Err(refusal) => Err(WebError::Refused(refusal)),
    }
}
