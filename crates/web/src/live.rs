//! Live updates: a server-sent event stream per open page.
//!
//! The stream watches the newest event of the page's merchant and mode. Every change Holdfast makes
//! records an event in the same commit (a hold placed through the API, a capture, an expiry by the
//! worker, a test clock's advance), so a new newest event means the page is stale: the stream says
//! `changed`, and the page's live region fetches itself again (htmx, `hx-trigger="sse:changed"`).
//! One cheap read per stream every [`POLL`], whatever the traffic.
//!
//! A stream does not keep its session alive (only pages and actions do), ends when the session
//! does, after [`STREAM_LIFETIME`] (the browser reconnects), and at once when the server shuts
//! down, so a graceful shutdown is never held open by a browser.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use holdfast_domain::Scope;
use holdfast_store::{EventFilter, PageRequest};

use crate::Web;
use crate::auth::{Signed, session_token};
use crate::error::WebError;

/// How often a stream looks for a new event.
pub(crate) const POLL: Duration = Duration::from_secs(1);
/// How often a stream checks that its session is still live.
const SESSION_CHECK: Duration = Duration::from_secs(30);
/// How long one stream lasts before the browser is asked to reconnect.
const STREAM_LIFETIME: Duration = Duration::from_secs(10 * 60);

struct Watch {
    web: Web,
    scope: Scope,
    token: String,
    newest: Option<String>,
    started: Instant,
    session_checked: Instant,
}

pub(crate) async fn stream(
    State(web): State<Web>,
    signed: Signed,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let token = session_token(&headers).unwrap_or_default().to_owned();
    let scope = signed.scope();
    let newest = newest_event(&web, &scope).await?;
    let now = Instant::now();
    let watch = Watch {
        web,
        scope,
        token,
        newest,
        started: now,
        session_checked: now,
    };
    let events = futures_util::stream::unfold(watch, |mut w| async move {
        let mut closing = w.web.closing.clone();
        loop {
            if *closing.borrow() || w.started.elapsed() > STREAM_LIFETIME {
                return None;
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                changed = closing.changed() => {
                    if changed.is_err() || *closing.borrow() {
                        return None;
                    }
                }
            }
            if w.session_checked.elapsed() > SESSION_CHECK {
                match w.web.app.dashboard_session_untouched(&w.token).await {
                    Ok(Some(_)) => w.session_checked = Instant::now(),
                    _ => return None,
                }
            }
            match newest_event(&w.web, &w.scope).await {
                Ok(newest) if newest != w.newest => {
                    w.newest = newest;
                    let event = Event::default().event("changed").data("changed");
                    return Some((Ok(event), w));
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = ?e, "live update check failed"),
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

async fn newest_event(web: &Web, scope: &Scope) -> Result<Option<String>, WebError> {
    let page = web
        .app
        .list_events(
            scope,
            EventFilter {
                kind: None,
                payment_intent_id: None,
                page: PageRequest {
                    limit: 1,
                    cursor: None,
                },
            },
        )
        .await?;
    Ok(page.data.first().map(|e| e.id.clone()))
}
