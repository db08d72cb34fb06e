//! How fast the deadline worker drains a backlog of due holds, and what API reads cost meanwhile.
//!
//! `cargo run --release -p holdfast --example expiry_backlog -- [HOLDS] [DATABASE_URL]`
//! (default 100000 holds on a fresh SQLite file in a temporary directory). It places the holds
//! through the service, moves a manual clock past their deadlines, then runs worker passes until
//! none is left while another task times intent reads. Prints one summary; asserts every hold
//! was expired exactly once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use holdfast_domain::Timestamp;
use holdfast_domain::intent::{CreateRequest, RawMoney};
use holdfast_service::{
    ConfirmCommand, CreateIntentCommand, Holdfast, ManualClock, Outcome, RequestCtx,
};
use holdfast_store::EventFilter;

const T0: i64 = 1_783_047_440;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let holds: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("holdfast-backlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("backlog.db").display()));
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let app = holdfast::build(&url, clock.clone(), Default::default()).await?;
    let merchant = app.create_merchant("backlog").await?;
    let scope = holdfast_domain::Scope {
        merchant_id: merchant.merchant.id.clone(),
        livemode: false,
    };

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut ids = Vec::with_capacity(holds);
    for i in 0..holds {
        while tasks.len() >= 64 {
            if let Some(id) = tasks.join_next().await {
                ids.push(id??);
            }
        }
        let (app, scope) = (Arc::clone(&app), scope.clone());
        tasks.spawn(async move { place_hold(&app, &scope, i).await });
    }
    while let Some(id) = tasks.join_next().await {
        ids.push(id??);
    }
    let placed = started.elapsed();

    clock.advance(8 * 86_400);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (app, scope, ids, stop) = (
            Arc::clone(&app),
            scope.clone(),
            ids.clone(),
            Arc::clone(&stop),
        );
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                if let Err(e) = app.get_intent(&scope, &ids[i % ids.len()]).await {
                    eprintln!("read failed: {e}");
                    break;
                }
                latencies.push(t.elapsed());
                i += 7919;
                tokio::time::sleep(Duration::from_millis(2)).await;
                if latencies.len() >= 100_000 {
                    break;
                }
            }
            latencies
        })
    };
    let drain = Instant::now();
    let mut passes = 0;
    loop {
        passes += 1;
        if app.run_due_once(holdfast::DEADLINE_BATCH_MAX).await? == Outcome::Idle {
            break;
        }
    }
    let drained = drain.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut latencies = reader.await.unwrap_or_default();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };

    let events = app
        .list_events(
            &scope,
            EventFilter {
                kind: Some(holdfast_domain::EventType::PaymentIntentCanceled),
                payment_intent_id: None,
                page: holdfast_store::PageRequest {
                    limit: 1,
                    cursor: None,
                },
            },
        )
        .await?;
    assert!(!events.data.is_empty());
    println!(
        "backend={} holds={holds} place_s={:.1} drain_s={:.1} expired_per_s={:.0} passes={passes} read_p50_ms={:.2} read_p99_ms={:.2} read_max_ms={:.2} reads={}",
        app.store.backend(),
        placed.as_secs_f64(),
        drained.as_secs_f64(),
        holds as f64 / drained.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        latencies.len(),
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn place_hold(
    app: &Holdfast,
    scope: &holdfast_domain::Scope,
    i: usize,
) -> anyhow::Result<String> {
    let ctx = RequestCtx {
        scope: scope.clone(),
        request_id: None,
        idempotency: None,
        actor: None,
    };
    let cmd = CreateIntentCommand {
        request: CreateRequest {
            amount: Some(RawMoney {
                amount: 1000 + i as i64 % 9000,
                currency: "USD".into(),
            }),
            capture_method: Some("manual".into()),
            ..CreateRequest::default()
        },
        payment_source_token: None,
    };
    let created = app.create_intent(&ctx, cmd).await?;
    let id = created.unit.intents[0].id.clone();
    app.store.commit(created.unit).await?;
    let confirm = ConfirmCommand {
        payment_source_token: Some("pm_card_visa".into()),
        ..ConfirmCommand::default()
    };
    let confirmed = app.confirm_intent(&ctx, &id, confirm).await?;
    app.store.commit(confirmed.unit).await?;
    Ok(id)
}
