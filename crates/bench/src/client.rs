//! One keep-alive HTTP client, and what it measured: each answer's latency by route, or its error
//! code.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::Rng;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::Target;

/// Everything measured, per route.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) latencies_us: BTreeMap<&'static str, Vec<u32>>,
    pub(crate) errors: BTreeMap<String, u64>,
}

pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) key: String,
    pub(crate) target: Target,
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl Client {
    /// POSTs `body` (every step of every flow is a POST) and records the answer's latency, or its
    /// error code.
    pub(crate) async fn post(
        &self,
        stats: &Mutex<Stats>,
        route: &'static str,
        path: &str,
        body: Value,
    ) -> Option<Answer> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("Idempotency-Key", random_key(24));
        let request = match self.target {
            Target::Holdfast => request.json(&body),
            Target::Localstripe => request.form(&form_pairs(&body)),
        };
        let started = Instant::now();
        let sent = request.send().await;
        let (status, bytes) = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.bytes().await.unwrap_or_default())
            }
            Err(e) => {
                let kind = if e.is_timeout() {
                    "TIMEOUT"
                } else {
                    "CONNECTION_ERROR"
                };
                *stats.lock().await.errors.entry(kind.into()).or_default() += 1;
                return None;
            }
        };
        let elapsed = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut stats = stats.lock().await;
        stats.latencies_us.entry(route).or_default().push(elapsed);
        if !(200..300).contains(&status) {
            let code = body["error"]["code"]
                .as_str()
                .map_or_else(|| format!("HTTP_{status}"), str::to_owned);
            *stats.errors.entry(code).or_default() += 1;
            return None;
        }
        Some(Answer { status, body })
    }
}

/// Flattens a JSON object into Stripe's form encoding (`a[b]=c`).
fn form_pairs(value: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Object(map) = value {
        for (k, v) in map {
            match v {
                Value::Object(inner) => {
                    for (ik, iv) in inner {
                        out.push((format!("{k}[{ik}]"), scalar(iv)));
                    }
                }
                other => out.push((k.clone(), scalar(other))),
            }
        }
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A fresh random key of `chars` letters and digits.
pub(crate) fn random_key(chars: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(chars)
        .map(char::from)
        .collect()
}
