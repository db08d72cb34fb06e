//! The webhook delivery worker: the outbox's consumer.
//!
//! Each pass leases a batch of due deliveries (one event to one endpoint), groups them by
//! endpoint, and delivers each group in event order while the groups run side by side, so a slow
//! or dead endpoint holds up only its own events. Every request is a Standard Webhooks `POST`,
//! signed with each secret the endpoint has signing, and gets 10 s to answer. The attempt and what
//! follows (delivered; retry at; failed; endpoint disabled on `410 Gone`) are written together.
//!
//! Delivery is at least once: a worker that dies mid-attempt leaves its lease to expire, and the
//! attempt is made again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdfast_domain::webhook::{self, AttemptResult};
use holdfast_service::Holdfast;
use holdfast_store::{DeliveryAttempt, DeliveryClaim, DeliveryNext};
use rand::Rng;

/// How long a claimed delivery stays with its worker: longer than the request timeout.
const LEASE_SECONDS: i64 = 60;
/// How long an endpoint has to answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Endpoints delivered to at once by one worker.
const ENDPOINTS_AT_ONCE_MAX: usize = 32;
/// Deliveries claimed per pass.
pub const DELIVERY_BATCH_MAX: u32 = 200;

/// The HTTP client deliveries go out with.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("holdfast-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// One pass: claims up to `batch_max` due deliveries and attempts each. Returns how many.
pub async fn deliver_once(
    app: &Arc<Holdfast>,
    client: &reqwest::Client,
    batch_max: u32,
) -> Result<usize, holdfast_service::ServiceError> {
    let now = app.now();
    let claims = app
        .store
        .claim_deliveries(now, now.plus_seconds(LEASE_SECONDS), batch_max)
        .await?;
    let count = claims.len();
    let mut by_endpoint: BTreeMap<String, Vec<DeliveryClaim>> = BTreeMap::new();
    for claim in claims {
        by_endpoint
            .entry(claim.endpoint_id.clone())
            .or_default()
            .push(claim);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (_, group) in by_endpoint {
        while tasks.len() >= ENDPOINTS_AT_ONCE_MAX {
            tasks.join_next().await;
        }
        let (app, client) = (Arc::clone(app), client.clone());
        tasks.spawn(async move {
            for claim in group {
                if let Err(e) = attempt(&app, &client, claim).await {
                    tracing::warn!(error = %e, "recording a webhook attempt failed; retried after the lease");
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok(count)
}

async fn attempt(
    app: &Holdfast,
    client: &reqwest::Client,
    claim: DeliveryClaim,
) -> Result<(), holdfast_service::ServiceError> {
    let now = app.now();
    let endpoint = app
        .store
        .get_webhook_endpoint_unscoped(&claim.endpoint_id)
        .await?;
    let event = app.store.get_event(&claim.scope, &claim.event_id).await?;
    let (Some(endpoint), Some(event)) = (endpoint, event) else {
        return finish(
            app,
            claim,
            now,
            None,
            0,
            None,
            DeliveryNext::Canceled,
            false,
        )
        .await;
    };
    if endpoint.disabled {
        return finish(
            app,
            claim,
            now,
            None,
            0,
            None,
            DeliveryNext::Canceled,
            false,
        )
        .await;
    }
    let body = serde_json::to_vec(&holdfast_http::dto::EventOut::from(&event)).unwrap_or_default();
    let timestamp = now.seconds();
    let signature = app
        .signing_secrets(&endpoint)
        .iter()
        .filter_map(|secret| standardwebhooks::Webhook::new(secret).ok())
        .filter_map(|signer| signer.sign(&event.id, timestamp, &body).ok())
        .collect::<Vec<_>>()
        .join(" ");
    if signature.is_empty() {
        // A secret that cannot be opened means this process has another secrets key than the one
        // that sealed it: never send unsigned; fail the attempt so a fixed key can deliver it.
        tracing::error!(endpoint = %endpoint.id, "no signing secret could be opened; check HOLDFAST_SECRETS_KEY");
        let jitter = rand::rng().random_range(-1.0..=1.0);
        let next = webhook::next_attempt_at(
            claim.attempts + 1,
            now,
            jitter,
            None,
            &app.settings.webhook_retry_schedule,
        )
        .map_or(DeliveryNext::Failed, DeliveryNext::RetryAt);
        let error = Some("no signing secret could be opened (secrets key mismatch)".to_owned());
        return finish(app, claim, now, None, 0, error, next, false).await;
    }
    let started = Instant::now();
    let sent = client
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .header(standardwebhooks::HEADER_WEBHOOK_ID, &event.id)
        .header(
            standardwebhooks::HEADER_WEBHOOK_TIMESTAMP,
            timestamp.to_string(),
        )
        .header(standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature)
        .body(body)
        .send()
        .await;
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (status, retry_after, error) = match sent {
        Ok(response) => {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok());
            let status = response.status().as_u16();
            (Some(status), retry_after, None)
        }
        Err(e) if e.is_timeout() => (None, None, Some("timed out after 10 s".to_owned())),
        Err(e) if e.is_connect() => (
            None,
            None,
            Some("connection refused or unreachable".to_owned()),
        ),
        Err(_) => (None, None, Some("request failed".to_owned())),
    };
    let result = webhook::classify(status, retry_after);
    let (next, disable) = match result {
        AttemptResult::Delivered => (DeliveryNext::Delivered, false),
        AttemptResult::Gone => (DeliveryNext::Failed, true),
        AttemptResult::Failed {
            retry_after_seconds,
        } => {
            let jitter = rand::rng().random_range(-1.0..=1.0);
            let next = webhook::next_attempt_at(
                claim.attempts + 1,
                now,
                jitter,
                retry_after_seconds,
                &app.settings.webhook_retry_schedule,
            )
            .map_or(DeliveryNext::Failed, DeliveryNext::RetryAt);
            (next, false)
        }
    };
    let error = error.or_else(|| {
        status
            .filter(|s| !(200..300).contains(s))
            .map(|s| format!("HTTP {s}"))
    });
    finish(app, claim, now, status, latency_ms, error, next, disable).await
}

#[expect(
    clippy::too_many_arguments,
    reason = "one attempt's record, field by field"
)]
async fn finish(
    app: &Holdfast,
    claim: DeliveryClaim,
    now: holdfast_domain::Timestamp,
    status_code: Option<u16>,
    latency_ms: i64,
    error: Option<String>,
    next: DeliveryNext,
    disable_endpoint: bool,
) -> Result<(), holdfast_service::ServiceError> {
    app.store
        .finish_delivery(&DeliveryAttempt {
            claim,
            attempted_at: now,
            status_code,
            latency_ms,
            error,
            next,
            disable_endpoint,
        })
        .await?;
    Ok(())
}

/// Checks a Standard Webhooks signature: what `holdfast webhooks verify` runs.
pub fn verify(secret: &str, headers: &[(String, String)], body: &[u8]) -> Result<(), String> {
    let signer = standardwebhooks::Webhook::new(secret).map_err(|e| e.to_string())?;
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        let name =
            http::HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| e.to_string())?;
        let value = http::HeaderValue::from_str(value.trim()).map_err(|e| e.to_string())?;
        map.insert(name, value);
    }
    signer.verify(body, &map).map_err(|e| e.to_string())
}
