//! Idempotent execution of a mutating request.
//!
//! A request runs as: look up its `Idempotency-Key`; if an answer is stored, replay it (same
//! request) or refuse (different request); otherwise load, decide and commit, storing the rendered
//! answer in the same transaction as the change. The store's optimistic checks make a racing twin
//! lose with a conflict, and the loser starts over from the lookup, where it finds the winner's
//! answer: one effect, whatever the interleaving. 5xx answers are not stored.
//!
//! Within one process a key already being worked on answers 409 `IDEMPOTENCY_KEY_IN_USE`; across
//! processes the racing twin replays the winner's answer instead.

use std::future::Future;

use holdfast_domain::{ErrorCode, Rejection};
use holdfast_store::{IdempotencyRecord, StoreError, UnitOfWork};

use crate::{Holdfast, RequestCtx, ServiceError};

/// How often a request that lost a write race is run again before giving up as contended.
const CONFLICT_RETRIES_MAX: usize = 16;

/// The key a client sent and the fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    /// A hash of method, path and canonical body.
    pub fingerprint: String,
}

/// A rendered answer: what goes on the wire, and what an idempotent retry replays byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub replayed: bool,
    /// Seconds the client should wait before retrying (`Retry-After`); never stored.
    pub retry_after_seconds: Option<u32>,
    /// The body shows a secret (a webhook signing secret): it is stored sealed, never in clear.
    pub sensitive: bool,
}

/// Marks a stored answer that was sealed with the secrets key.
const SEALED_PREFIX: &[u8] = b"sealed:";

/// What a use case decided: the write to make and the answer to give once it is made.
#[derive(Debug)]
pub struct Decision<T> {
    pub unit: UnitOfWork,
    pub outcome: Result<T, ServiceError>,
}

impl<T> Decision<T> {
    pub fn answer(unit: UnitOfWork, value: T) -> Decision<T> {
        Decision {
            unit,
            outcome: Ok(value),
        }
    }
}

/// Removes a key from the in-flight set when the request ends, however it ends.
struct InFlight<'a> {
    service: &'a Holdfast,
    entry: Option<(holdfast_domain::Scope, String)>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take()
            && let Ok(mut set) = self.service.in_flight.lock()
        {
            set.remove(&entry);
        }
    }
}

impl Holdfast {
    /// Runs a mutating use case once, idempotently. `decide` may run several times (after lost
    /// races); it must load fresh state each time. `render` turns the outcome into the answer.
    pub async fn run<T, D, Fut, R>(&self, ctx: &RequestCtx, decide: D, render: R) -> Reply
    where
        D: Fn() -> Fut,
        Fut: Future<Output = Result<Decision<T>, ServiceError>>,
        R: Fn(&Result<T, ServiceError>) -> Reply,
    {
        let _guard = match self.enter(ctx) {
            Ok(guard) => guard,
            Err(e) => return render(&Err(e)),
        };
        for _ in 0..CONFLICT_RETRIES_MAX {
            if let Some(idem) = &ctx.idempotency {
                match self.store.get_idempotency(&ctx.scope, &idem.key).await {
                    Ok(Some(stored)) => return self.replay(stored, idem, &render),
                    Ok(None) => {}
                    Err(e) => return render(&Err(e.into())),
                }
            }
            let Decision { mut unit, outcome } = match decide().await {
                Ok(decision) => decision,
                Err(e) => Decision {
                    unit: UnitOfWork::default(),
                    outcome: Err(e),
                },
            };
            let reply = render(&outcome);
            if reply.status >= 500 {
                // A server-side failure applies nothing: no half-done change behind a 5xx.
                return reply;
            }
            if let Some(idem) = &ctx.idempotency
                && reply.status < 500
            {
                let body = if reply.sensitive {
                    let text = base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        &reply.body,
                    );
                    [
                        SEALED_PREFIX,
                        self.settings.secrets_key.seal(&text).as_bytes(),
                    ]
                    .concat()
                } else {
                    reply.body.clone()
                };
                unit.idempotency = Some(IdempotencyRecord {
                    scope: ctx.scope.clone(),
                    key: idem.key.clone(),
                    fingerprint: idem.fingerprint.clone(),
                    status_code: reply.status,
                    body,
                    created_at: self.now(),
                });
            }
            match self.store.commit(unit).await {
                Ok(()) => return reply,
                Err(StoreError::Conflict) => continue,
                Err(e) => return render(&Err(e.into())),
            }
        }
        render(&Err(ServiceError::Contended(
            "too much contention on this object; retry with the same Idempotency-Key".into(),
        )))
    }

    fn replay<T>(
        &self,
        stored: IdempotencyRecord,
        idem: &IdempotencyKey,
        render: &impl Fn(&Result<T, ServiceError>) -> Reply,
    ) -> Reply {
        if stored.fingerprint != idem.fingerprint {
            return render(&Err(ServiceError::Rejected(Rejection::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with a different request; use a new key",
            ))));
        }
        let body = match stored.body.strip_prefix(SEALED_PREFIX) {
            None => stored.body,
            Some(sealed) => std::str::from_utf8(sealed)
                .ok()
                .and_then(|sealed| self.settings.secrets_key.open(sealed))
                .and_then(|text| {
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text).ok()
                })
                .unwrap_or_default(),
        };
        Reply {
            status: stored.status_code,
            body,
            replayed: true,
            retry_after_seconds: None,
            sensitive: false,
        }
    }

    fn enter(&self, ctx: &RequestCtx) -> Result<InFlight<'_>, ServiceError> {
        let Some(idem) = &ctx.idempotency else {
            return Ok(InFlight {
                service: self,
                entry: None,
            });
        };
        let entry = (ctx.scope.clone(), idem.key.clone());
        // A panic elsewhere cannot leave the set half-changed (each change is one insert or
        // remove), so a poisoned lock still guards a sound set.
        let mut set = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !set.insert(entry.clone()) {
            return Err(ServiceError::Rejected(Rejection::new(
                ErrorCode::IdempotencyKeyInUse,
                "a request with this Idempotency-Key is still being processed; retry shortly",
            )));
        }
        Ok(InFlight {
            service: self,
            entry: Some(entry),
        })
    }
}
