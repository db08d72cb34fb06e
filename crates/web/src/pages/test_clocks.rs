//! Test clocks (test mode only): the list, creating one, and one clock with the intents that live
//! on it. Advancing a clock runs, before it answers, everything that falls due on its intents, so
//! the page shows at once which holds expired or were captured on schedule.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use holdfast_domain::intent::Status;
use holdfast_domain::test_clock::TestClock;
use holdfast_domain::user::Permission;
use holdfast_service::IntentSearch;
use holdfast_store::{IntentFilter, IntentOrder, PageRequest};
use serde::Deserialize;

use crate::Web;
use crate::actions::{self, Done, new_key};
use crate::auth::{Act, Signed};
use crate::error::WebError;
use crate::format;
use crate::pages::intent::IdPath;
use crate::pages::{done, html, notice_text};
use crate::views::{Chrome, IntentRow, Section};

#[derive(Debug)]
struct ClockRow {
    id: String,
    href: String,
    name: String,
    frozen: String,
    created: String,
}

fn clock_row(signed: &Signed, c: &TestClock) -> ClockRow {
    ClockRow {
        id: c.id.clone(),
        href: signed.href(&format!("/test-clocks/{}", c.id)),
        name: c.name.clone().unwrap_or_default(),
        frozen: format::datetime(c.frozen_time),
        created: format::datetime(c.created_at),
    }
}

#[derive(Template)]
#[template(path = "test_clocks.html")]
struct ClocksPage {
    chrome: Chrome,
    rows: Vec<ClockRow>,
    create_key: String,
    now: String,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
    #[serde(default)]
    fell: Option<u32>,
}

fn live_mode_has_none(signed: &Signed) -> Result<(), WebError> {
    if signed.livemode {
        return Err(WebError::NotFound);
    }
    Ok(())
}

async fn clocks_page(
    web: &Web,
    signed: &Signed,
    error: Option<String>,
) -> Result<Response, WebError> {
    let page = web
        .app
        .list_test_clocks(
            &signed.scope(),
            PageRequest {
                limit: 100,
                cursor: None,
            },
        )
        .await?;
    let page = ClocksPage {
        chrome: signed.chrome("Test clocks", Section::TestClocks),
        rows: page.data.iter().map(|c| clock_row(signed, c)).collect(),
        create_key: new_key(),
        now: format::datetime_local(web.app.now()),
        error,
    };
    html(&page)
}

pub(crate) async fn list(State(web): State<Web>, signed: Signed) -> Result<Response, WebError> {
    live_mode_has_none(&signed)?;
    clocks_page(&web, &signed, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct CreateForm {
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    frozen_time: String,
}

pub(crate) async fn create(
    State(web): State<Web>,
    act: Act<CreateForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    live_mode_has_none(signed)?;
    signed.require(Permission::UseTestClocks)?;
    let form = &act.form;
    let frozen = match form.frozen_time.trim() {
        "" => None,
        typed => match format::parse_datetime_local(typed) {
            Some(t) => Some(t),
            None => {
                return clocks_page(
                    &web,
                    signed,
                    Some("Enter the clock's start as a date and time (UTC).".into()),
                )
                .await;
            }
        },
    };
    let name = (!form.name.trim().is_empty()).then(|| form.name.trim().to_owned());
    let what = format!(
        "clock-create {:?} {:?}",
        name,
        frozen.map(holdfast_domain::Timestamp::seconds)
    );
    let ctx = actions::context(signed, &form.idempotency_key, &what)?;
    let app = &web.app;
    let outcome = actions::run(
        &web,
        &ctx,
        || app.create_test_clock(&ctx, frozen, name.clone()),
        |c: &TestClock| Done {
            object: c.id.clone(),
            ..Done::default()
        },
    )
    .await;
    match outcome {
        Ok(d) => Ok(done(
            signed,
            &signed.href(&format!("/test-clocks/{}", d.object)),
            "clock-created",
        )),
        Err(refusal) => clocks_page(&web, signed, Some(refusal.message)).await,
    }
}

#[derive(Template)]
#[template(path = "test_clock.html")]
struct ClockPage {
    chrome: Chrome,
    base: String,
    clock: ClockRow,
    advance_key: String,
    advance_to: String,
    intents: Vec<IntentRow>,
    fell: Option<u32>,
}

pub(crate) async fn page(
    State(web): State<Web>,
    signed: Signed,
    Path(IdPath { id }): Path<IdPath>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    live_mode_has_none(&signed)?;
    let scope = signed.scope();
    let clock = web.app.get_test_clock(&scope, &id).await?;
    let intents = intents_on(&web, &signed, &clock.id).await?;
    let rows = intents
        .iter()
        .map(|i| IntentRow::new(&signed, i, clock.frozen_time))
        .collect();
    let page = ClockPage {
        chrome: signed
            .chrome(
                clock.name.clone().unwrap_or_else(|| clock.id.clone()),
                Section::TestClocks,
            )
            .with_notice(notice_text(query.notice.as_deref())),
        base: signed.href(&format!("/test-clocks/{}", clock.id)),
        advance_key: new_key(),
        // A sandbox hold lasts seven days less a second: a week and an hour is past it.
        advance_to: format::datetime_local(clock.frozen_time.plus_seconds(7 * 86_400 + 3600)),
        clock: clock_row(&signed, &clock),
        intents: rows,
        fell: query.fell,
    };
    html(&page)
}

/// The intents that live on a clock, newest first.
async fn intents_on(
    web: &Web,
    signed: &Signed,
    clock: &str,
) -> Result<Vec<holdfast_domain::intent::PaymentIntent>, WebError> {
    let filter = IntentFilter {
        status: None,
        capture_method: None,
        created_after: None,
        created_before: None,
        expires_before: None,
        order: IntentOrder::CreatedDesc,
        now: web.app.now(),
        page: PageRequest {
            limit: 100,
            cursor: None,
        },
    };
    let search = IntentSearch {
        test_clock: Some(clock.to_owned()),
        ..IntentSearch::default()
    };
    Ok(web
        .app
        .search_intents(&signed.scope(), filter, search)
        .await?
        .data)
}

#[derive(Debug, Deserialize)]
pub(crate) struct AdvanceForm {
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    frozen_time: String,
}

pub(crate) async fn advance(
    State(web): State<Web>,
    Path(IdPath { id }): Path<IdPath>,
    act: Act<AdvanceForm>,
) -> Result<Response, WebError> {
    let signed = &act.signed;
    live_mode_has_none(signed)?;
    signed.require(Permission::UseTestClocks)?;
    let Some(to) = format::parse_datetime_local(&act.form.frozen_time) else {
        return Err(WebError::BadForm(
            "Enter the time to advance to as a date and time (UTC).".into(),
        ));
    };
    // The holds open now, to say afterwards how many fell due.
    let before: Vec<String> = intents_on(&web, signed, &id)
        .await?
        .into_iter()
        .filter(|i| i.status == Status::RequiresCapture)
        .map(|i| i.id)
        .collect();
    let what = format!("clock-advance {id} {}", to.seconds());
    let ctx = actions::context(signed, &act.form.idempotency_key, &what)?;
    let app = &web.app;
    let outcome = actions::run(
        &web,
        &ctx,
        || app.advance_test_clock(&ctx, &id, to),
        |c: &TestClock| Done {
            object: c.id.clone(),
            ..Done::default()
        },
    )
    .await;
    match outcome {
        Ok(d) if d.replayed => Ok(done(
            signed,
            &signed.href(&format!("/test-clocks/{id}")),
            "replayed",
        )),
        Ok(_) => {
            let after = intents_on(&web, signed, &id).await?;
            let fell = after
                .iter()
                .filter(|i| before.contains(&i.id) && i.status != Status::RequiresCapture)
                .count();
            Ok(done(
                signed,
                &signed.href(&format!("/test-clocks/{id}?fell={fell}")),
                "clock-advanced",
            ))
        }
        Err(refusal) => Err(WebError::Refused(refusal)),
    }
}
