//! Webhook endpoints: the list, one endpoint with its delivery log, and (admins) creating,
//! disabling, enabling and rotating the signing secret. A new secret is shown once, in the answer
//! that made it, and never again.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use holdfast_domain::EventType;
use holdfast_domain::user::Permission;
use holdfast_domain::webhook::WebhookEndpoint;
use holdfast_service::webhooks::{EndpointWithSecret, UpdateEndpoint};
use holdfast_store::PageRequest;
use serde::Deserialize;

use crate::Web;
use crate::actions::{self, Done, new_key};
use crate::auth::{Act, Signed};
use crate::error::WebError;
use crate::format;
use crate::pages::intent::IdPath;
use crate::pages::{ShownRefusal, dialog, done, html, notice_text, refused_status};
use crate::views::{Chrome, Section};

#[derive(Debug)]
struct EndpointRow {
    id: String,
    href: String,
    url: String,
    events: String,
    enabled: bool,
    created: String,
}

fn endpoint_row(signed: &Signed, e: &WebhookEndpoint) -> EndpointRow {
    EndpointRow {
        id: e.id.clone(),
        href: signed.href(&format!("/webhooks/{}", e.id)),
        url: e.url.clone(),
        events: if e.enabled_events.iter().any(|e| e == "*") {
            "All events".into()
        } else {
            e.enabled_events.join(", ")
        },
        enabled: !e.disabled,
        created: format::datetime(e.created_at),
    }
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    rows: Vec<EndpointRow>,
}

pub(crate) async fn list(State(web): State<Web>, signed: Signed) -> Result<Response, WebError> {
    let page = web
        .app
        .list_webhook_endpoints(
            &signed.scope(),
            PageRequest {
                limit: 100,
                cursor: None,
            },
        )
        .await?;
    let page = WebhooksPage {
        chrome: signed.chrome("Webhook endpoints", Section::Webhooks),
        rows: page.data.iter().map(|e| endpoint_row(&signed, e)).collect(),
    };
    html(&page)
}

#[derive(Debug)]
struct LogRow {
    event_id: String,
    event_href: String,
    status: String,
    attempt: String,
    at: String,
    answer: String,
    latency: String,
    error: String,
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct WebhookPage {
    chrome: Chrome,
    base: String,
    endpoint: EndpointRow,
    description: String,
    secrets: Vec<String>,
    log: Vec<LogRow>,
    toggle_key: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

/// Delivery attempts shown on an endpoint's page.
const LOG_ROWS: u32 = 100;

pub(crate) async fn page(
    State(web): State<Web>,
    signed: Signed,
    Path(IdPath { id }): Path<IdPath>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let scope = signed.scope();
    let endpoint = web.app.get_webhook_endpoint(&scope, &id).await?;
    let now = web.app.now();
    let deliveries = web.app.endpoint_deliveries(&scope, &id, LOG_ROWS).await?;
    let mut log = Vec::new();
    for d in &deliveries {
        let event_href = signed.href(&format!("/events/{}", d.event_id));
        if d.record.log.is_empty() {
            log.push(LogRow {
                event_id: d.event_id.clone(),
                event_href: event_href.clone(),
                status: format::humanize(&d.record.status),
                attempt: String::new(),
                at: d
                    .record
                    .next_attempt_at
                    .map(|t| format!("due {}", format::datetime(t)))
                    .unwrap_or_default(),
                answer: String::new(),
                latency: String::new(),
                error: String::new(),
            });
        }
        for a in d.record.log.iter().rev() {
            log.push(LogRow {
                event_id: d.event_id.clone(),
                event_href: event_href.clone(),
                status: format::humanize(&d.record.status),
                attempt: a.attempt.to_string(),
                at: format::datetime(a.attempted_at),
                answer: a
                    .status_code
                    .map_or_else(|| "No answer".to_owned(), |c| format!("HTTP {c}")),
                latency: format!("{} ms", a.latency_ms),
                error: a.error.clone().unwrap_or_default(),
            });
        }
    }
    let secrets = endpoint
        .secrets
        .iter()
        .map(|s| match s.expires_at {
            Some(t) if t > now => format!(
                "Rotated out: signs until {} (created {})",
                format::datetime(t),
                format::datetime(s.created_at)
            ),
            Some(t) => format!("Expired {}", format::datetime(t)),
            None => format!("Current (created {})", format::datetime(s.created_at)),
        })
        .collect();
    let page = WebhookPage {
        chrome: signed
            .chrome(endpoint.url.clone(), Section::Webhooks)
            .with_notice(notice_text(query.notice.as_deref())),
        base: signed.href(&format!("/webhooks/{}", endpoint.id)),
        description: endpoint.description.clone().unwrap_or_default(),
        endpoint: endpoint_row(&signed, &endpoint),
        secrets,
        log,
        toggle_key: new_key(),
    };
    html(&page)
}

#[derive(Template)]
#[template(path = "webhook_new.html")]
struct CreateDialog {
    standalone: bool,
    csrf: String,
    key: String,
    action: String,
    back: String,
    url: String,
    description: String,
    all_events: bool,
    types: Vec<(&'static str, bool)>,
    error: Option<ShownRefusal>,
}

fn create_form(
    signed: &Signed,
    form: Option<&CreateForm>,
    error: Option<ShownRefusal>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let key = new_key();
    let chosen = form.map(CreateForm::events).unwrap_or_default();
    dialog(
        signed,
        status,
        Section::Webhooks,
        "New webhook endpoint",
        |standalone| {
            CreateDialog {
                standalone,
                csrf: signed.session.csrf_token.clone(),
                key: key.clone(),
                action: signed.href("/webhooks"),
                back: signed.href("/webhooks"),
                url: form.map(|f| f.url.clone()).unwrap_or_default(),
                description: form.map(|f| f.description.clone()).unwrap_or_default(),
                all_events: form.is_none_or(|f| f.all_events.is_some()),
                types: EventType::ALL
                    .iter()
                    .map(|t| (t.as_str(), chosen.iter().any(|c| c == t.as_str())))
                    .collect(),
                error: error.clone(),
            }
            .render()
        },
    )
}

pub(crate) async fn create_dialog(signed: Signed) -> Result<Response, WebError> {
    signed.require(Permission::ManageWebhooks)?;
    create_form(&signed, None, None, StatusCode::OK)
}

/// The create form. Checkboxes repeat one name per ticked type, so the body is read as pairs.
#[derive(Debug, Default)]
pub(crate) struct CreateForm {
    idempotency_key: String,
    url: String,
    description: String,
    all_events: Option<String>,
    events: Vec<String>,
}

impl CreateForm {
    fn events(&self) -> Vec<String> {
        self.events.clone()
    }
}

impl<'de> Deserialize<'de> for CreateForm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CreateForm, D::Error> {
        let pairs = Vec::<(String, String)>::deserialize(d)?;
        let mut form = CreateForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "idempotency_key" => form.idempotency_key = v,
                "url" => form.url = v,
                "description" => form.description = v,
                "all_events" => form.all_events = Some(v),
                "events" => form.events.push(v),
                _ => {}
            }
        }
        Ok(form)
    }
}

#[derive(Template)]
#[template(path = "secret.html")]
struct SecretDialog {
    standalone: bool,
    title: &'static str,
    what: String,
    secret: String,
    done_href: String,
    replayed: bool,
}

pub(crate) fn show_secret(
    signed: &Signed,
    title: &'static str,
    what: String,
    secret: String,
    done_href: String,
    replayed: bool,
) -> Result<Response, WebError> {
    let page = |standalone| {
        SecretDialog {
            standalone,
            title,
            what: what.clone(),
            secret: secret.clone(),
            done_href: done_href.clone(),
            replayed,
        }
        .render()
    };
    if signed.htmx {
        return Ok((StatusCode::OK, Html(page(false)?)).into_response());
    }
    dialog(signed, StatusCode::OK, Section::Webhooks, title, page)
}

pub(crate) async fn create(
    State(web): State<Web>,
    act: Act<CreateForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::ManageWebhooks)?;
    let form = &act.form;
    let events = if form.all_events.is_some() || form.events.is_empty() {
        vec!["*".to_owned()]
    } else {
        form.events.clone()
    };
    let description = (!form.description.trim().is_empty()).then(|| form.description.clone());
    let what = format!(
        "webhook-create {} {} {:?}",
        form.url,
        events.join(","),
        description
    );
    let ctx = actions::context(signed, &form.idempotency_key, &what)?;
    let app = &web.app;
    let outcome = actions::run(
        &web,
        &ctx,
        || app.create_webhook_endpoint(&ctx, form.url.clone(), events.clone(), description.clone()),
        |e: &EndpointWithSecret| Done {
            object: e.endpoint.id.clone(),
            secret: e.secret.clone(),
            replayed: false,
        },
    )
    .await;
    match outcome {
        Ok(d) => show_secret(
            signed,
            "Endpoint created",
            format!("The signing secret of {}", form.url),
            d.secret.unwrap_or_default(),
            signed.href(&format!("/webhooks/{}", d.object)),
            d.replayed,
        ),
        Err(refusal) => {
            let status = refused_status(&refusal);
            create_form(signed, Some(form), Some(refusal.into()), status)
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
    signed.require(Permission::ManageWebhooks)?;
    let what = format!("webhook-disabled {id} {disabled}");
    let ctx = actions::context(signed, key, &what)?;
    let app = &web.app;
    let req = UpdateEndpoint {
        disabled: Some(disabled),
        ..UpdateEndpoint::default()
    };
    let outcome = actions::run(
        web,
        &ctx,
        || app.update_webhook_endpoint(&ctx, id, req.clone()),
        |e: &EndpointWithSecret| Done {
            object: e.endpoint.id.clone(),
            ..Done::default()
        },
    )
    .await;
    match outcome {
        Ok(_) => Ok(done(
            signed,
            &signed.href(&format!("/webhooks/{id}")),
            if disabled {
                "endpoint-disabled"
            } else {
                "endpoint-enabled"
            },
        )),
        Err(refusal) => Err(WebError::Refused(refusal)),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct KeyForm {
    #[serde(default)]
    idempotency_key: String,
}

pub(crate) async fn disable(
    State(web): State<Web>,
    Path(IdPath { id }): Path<IdPath>,
    act: Act<KeyForm>,
) -> Result<Response, WebError> {
    set_disabled(&web, &act.signed, &id, &act.form.idempotency_key, true).await
}

pub(crate) async fn enable(
    State(web): State<Web>,
    Path(IdPath { id }): Path<IdPath>,
    act: Act<KeyForm>,
) -> Result<Response, WebError> {
    set_disabled(&web, &act.signed, &id, &act.form.idempotency_key, false).await
}

#[derive(Template)]
#[template(path = "rotate.html")]
struct RotateDialog {
    standalone: bool,
    csrf: String,
    key: String,
    action: String,
    back: String,
    url: String,
}

pub(crate) async fn rotate_dialog(
    State(web): State<Web>,
    signed: Signed,
    Path(IdPath { id }): Path<IdPath>,
) -> Result<Response, WebError> {
    signed.require(Permission::ManageWebhooks)?;
    let endpoint = web.app.get_webhook_endpoint(&signed.scope(), &id).await?;
    let key = new_key();
    let base = signed.href(&format!("/webhooks/{id}"));
    dialog(
        &signed,
        StatusCode::OK,
        Section::Webhooks,
        "Rotate secret",
        |standalone| {
            RotateDialog {
                standalone,
                csrf: signed.session.csrf_token.clone(),
                key: key.clone(),
                action: format!("{base}/rotate"),
                back: base.clone(),
                url: endpoint.url.clone(),
            }
            .render()
        },
    )
}

pub(crate) async fn rotate(
    State(web): State<Web>,
    Path(IdPath { id }): Path<IdPath>,
    act: Act<KeyForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    signed.require(Permission::ManageWebhooks)?;
    let what = format!("webhook-rotate {id}");
    let ctx = actions::context(signed, &act.form.idempotency_key, &what)?;
    let app = &web.app;
    let outcome = actions::run(
        &web,
        &ctx,
        || app.rotate_webhook_secret(&ctx, &id),
        |e: &EndpointWithSecret| Done {
            object: e.endpoint.url.clone(),
            secret: e.secret.clone(),
            replayed: false,
        },
    )
    .await;
    match outcome {
        Ok(d) => show_secret(
            signed,
            "Secret rotated",
            format!(
                "The new signing secret of {}. The old one keeps signing beside it for 24 hours",
                d.object
            ),
            d.secret.unwrap_or_default(),
            signed.href(&format!("/webhooks/{id}")),
            d.replayed,
        ),
        Err(refusal) => Err(WebError::Refused(refusal)),
    }
}
