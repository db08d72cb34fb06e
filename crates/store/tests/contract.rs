//! The store contract: one suite, run against SQLite and against PostgreSQL.
//!
//! Each test is written once as an async fn over `Arc<dyn Store>` and instantiated per backend by
//! `contract_tests!`. Every test gets a fresh database: a new SQLite file in its own temporary
//! directory, or a new PostgreSQL database `holdfast_test_<random>` on the server named by
//! `HOLDFAST_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped
//! again when the test ends, pass or fail. Without a reachable server the PostgreSQL tests are
//! skipped with a note on stderr, except under `CI=true`, where they fail.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use holdfast_domain::customer::{CreateCustomer, Customer, SavedPaymentMethod, create_customer};
use holdfast_domain::event::{Event, EventObject, EventType};
use holdfast_domain::intent::{
    self, AuthorizationResult, CaptureMethod, CaptureRequest, Card, CreateRequest, Ctx,
    PaymentIntent, RawMoney, Status, Transition,
};
use holdfast_domain::test_clock::TestClock;
use holdfast_domain::webhook::WebhookEndpoint;
use holdfast_domain::{Currency, Money, Scope, Timestamp};
use holdfast_store::{
    ApiKey, AttemptLog, DeliveryAttempt, DeliveryClaim, DeliveryNext, DeliveryRecord, EventFilter,
    IdempotencyRecord, IntentFilter, IntentOrder, Merchant, Page, PageRequest, Store, StoreError,
    UnitOfWork,
};

// ---------------------------------------------------------------------------------------------
// Test databases
// ---------------------------------------------------------------------------------------------

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh, empty database for one test, removed when dropped.
struct TestDb {
    backend: &'static str,
    url: String,
    _cleanup: Cleanup,
}

enum Cleanup {
    /// The temporary directory holding the SQLite file and its WAL.
    SqliteDir(PathBuf),
    /// The PostgreSQL database, dropped through a connection to the server's base URL.
    PostgresDatabase { admin_url: String, name: String },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::SqliteDir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                // Drop runs inside the test's runtime (possibly while unwinding from a failed
                // assertion), where it cannot await: drop the database from a thread of its own.
                // FORCE ends the sessions the store's pool still holds.
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let admin_url = admin_url.clone();
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    runtime.block_on(async {
                        let admin = connect_admin(&admin_url).await?;
                        admin.batch_execute(&sql).await.map_err(|e| error_chain(&e))
                    })
                })
                .join();
                match dropped {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("warning: could not drop test database {name}: {e}"),
                    Err(_) => eprintln!("warning: dropping test database {name} panicked"),
                }
            }
        }
    }
}

/// A name no other test, in this process or another, is using.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let hash = RandomState::new().hash_one((std::process::id(), n));
    format!("{hash:016x}")
}

impl TestDb {
    fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("holdfast_test_{}", unique_suffix()));
        std::fs::create_dir_all(&dir).expect("create temporary directory");
        TestDb {
            backend: "sqlite",
            url: format!("sqlite://{}", dir.join("holdfast.db").display()),
            _cleanup: Cleanup::SqliteDir(dir),
        }
    }

    /// A new database on the test server, or `None` (after saying why) when there is no server.
    async fn postgres() -> Option<TestDb> {
        let base_url = std::env::var("HOLDFAST_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let admin = match connect_admin(&base_url).await {
            Ok(admin) => admin,
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("PostgreSQL at {base_url} is unreachable and CI=true: {e}")
            }
            Err(e) => {
                eprintln!(
                    "SKIPPED: PostgreSQL contract test: cannot reach {base_url} ({e}); \
                     set HOLDFAST_TEST_POSTGRES_URL to a server to run it"
                );
                return None;
            }
        };
        let name = format!("holdfast_test_{}", unique_suffix());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        Some(TestDb {
            backend: "postgres",
            url: with_database(&base_url, &name),
            _cleanup: Cleanup::PostgresDatabase {
                admin_url: base_url,
                name,
            },
        })
    }

    async fn open(&self) -> Arc<dyn Store> {
        let store = holdfast_store::open(&self.url)
            .await
            .expect("open the test store");
        assert_eq!(store.backend(), self.backend);
        store
    }
}

async fn connect_admin(url: &str) -> Result<tokio_postgres::Client, String> {
    let connecting = tokio_postgres::connect(url, tokio_postgres::NoTls);
    let (client, connection) = tokio::time::timeout(Duration::from_secs(5), connecting)
        .await
        .map_err(|_| "timed out connecting".to_owned())?
        .map_err(|e| error_chain(&e))?;
    tokio::spawn(connection);
    Ok(client)
}

/// An error and its causes, one after the other: `tokio-postgres` keeps the detail in the causes.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}

/// `url` with its database name replaced by `database`, query string kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").expect("a postgres:// URL");
    let authority = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

/// Instantiates each contract test for both backends. `store` tests get an opened store; `url`
/// tests get the fresh database's URL and open it themselves.
macro_rules! contract_tests {
    (store: [$($store_test:ident),* $(,)?], url: [$($url_test:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $store_test() {
                    let db = super::TestDb::sqlite();
                    super::$store_test(db.open().await).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $url_test() {
                    let db = super::TestDb::sqlite();
                    super::$url_test(&db.url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $store_test() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$store_test(db.open().await).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $url_test() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$url_test(&db.url).await;
                }
            )*
        }
    };
}

#[path = "contract/checkout.rs"]
mod checkout;
#[path = "contract/dashboard.rs"]
mod dashboard;

contract_tests! {
    store: [
        answers_ping,
        merchants_and_api_keys,
        api_key_revocation_counts_live_keys_only,
        intent_insert_get_and_versioned_update,
        stale_update_writes_nothing,
        duplicate_intent_id_is_a_conflict,
        racing_units_lose_alone,
        duplicate_idempotency_key_rolls_back_the_whole_unit,
        idempotency_record_round_trips,
        empty_unit_is_a_no_op,
        scopes_are_isolated,
        intent_pagination,
        intent_status_filter_treats_overdue_holds_as_expired,
        intent_filters_by_capture_method_and_time,
        event_listing_and_filters,
        customers_and_payment_methods,
        claim_due_takes_the_soonest_due_and_leases_them,
        claim_due_answers_soonest_first,
        due_on_clock_lists_one_clocks_due_intents_soonest_first,
        open_holds_lists_every_merchants_holds_soonest_deadline_first,
        test_clocks_round_trip_update_list_and_delete,
        intents_in_deadline_order_with_a_keyset_cursor,
        webhook_outbox_attempts_resend_and_endpoint_deletion,
        a_gone_endpoint_is_disabled_with_its_pending_deliveries,
        purge_idempotency_deletes_the_oldest_records_up_to_the_limit,
    ],
    url: [
        concurrent_opens_migrate_once_and_share_data,
    ],
}

// ---------------------------------------------------------------------------------------------
// Fixtures, built with the domain's own functions
// ---------------------------------------------------------------------------------------------

const T0: Timestamp = Timestamp(1_700_000_000);

fn at(offset: i64) -> Timestamp {
    T0.plus_seconds(offset)
}

fn scope(merchant_id: &str, livemode: bool) -> Scope {
    Scope {
        merchant_id: merchant_id.to_owned(),
        livemode,
    }
}

fn test_scope() -> Scope {
    scope("mer_a", false)
}

fn usd(amount: i64) -> Money {
    Money::new(amount, Currency::parse("USD").expect("USD is a currency"))
}

/// Runs a transition with a context whose ids are `act_1`, `act_2`, ...
fn with_ctx<R>(now: Timestamp, f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
    let mut n = 0;
    let mut new_id = |prefix: &'static str| {
        n += 1;
        format!("{prefix}_{n}")
    };
    let mut ctx = Ctx {
        now,
        request_id: Some("req_test"),
        actor: None,
        new_id: &mut new_id,
    };
    f(&mut ctx)
}

/// A new intent for `amount` US cents, created at `now`.
fn create(
    id: &str,
    scope: &Scope,
    amount: i64,
    method: CaptureMethod,
    now: Timestamp,
) -> Transition {
    let req = CreateRequest {
        amount: Some(RawMoney {
            amount,
            currency: "USD".into(),
        }),
        capture_method: Some(method.as_str().into()),
        description: Some(format!("order {id}")),
        ..CreateRequest::default()
    };
    intent::create(
        id.to_owned(),
        scope.clone(),
        format!("secret_hash_{id}"),
        req,
        now,
    )
    .expect("a valid creation request")
}

/// Places a hold (not captured) that lapses after `expires_at`.
fn authorize(intent: &PaymentIntent, now: Timestamp, expires_at: Timestamp) -> Transition {
    let result = AuthorizationResult::Authorized {
        card: Card {
            brand: "visa".into(),
            last_four: "4242".into(),
        },
        processor_ref: format!("ch_{}", intent.id),
        expires_at,
        captured: false,
    };
    with_ctx(now, |ctx| {
        intent::apply_authorization(intent, result, Some("pm_1".into()), ctx)
    })
}

/// Captures `amount` of a hold; the rest is released.
fn capture(intent: &PaymentIntent, amount: i64, now: Timestamp) -> Transition {
    let req = CaptureRequest {
        amount: Some(RawMoney {
            amount,
            currency: "USD".into(),
        }),
        ..CaptureRequest::default()
    };
    let money = intent::decide_capture(intent, &req, now).expect("a valid capture");
    with_ctx(now, |ctx| intent::apply_capture(intent, money, &req, ctx))
}

fn cancel(intent: &PaymentIntent, now: Timestamp) -> Transition {
    let plan = intent::decide_cancel(intent, Some("requested_by_customer"), now)
        .expect("a cancelable intent");
    with_ctx(now, |ctx| intent::apply_cancel(intent, &plan, ctx))
}

/// The events of a transition, with ids `<event_id>`, `<event_id>_2`, ...
fn events_of(transition: &Transition, event_id: &str) -> Vec<Event> {
    transition
        .events
        .iter()
        .enumerate()
        .map(|(i, kind)| Event {
            id: if i == 0 {
                event_id.to_owned()
            } else {
                format!("{event_id}_{}", i + 1)
            },
            scope: transition.intent.scope.clone(),
            kind: *kind,
            created_at: transition.intent.updated_at,
            request_id: Some("req_test".into()),
            object: EventObject::PaymentIntent(Box::new(transition.intent.clone())),
        })
        .collect()
}

fn idempotency(scope: &Scope, key: &str, fingerprint: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        scope: scope.clone(),
        key: key.to_owned(),
        fingerprint: fingerprint.to_owned(),
        status_code: 201,
        body: format!("{{\"key\":\"{key}\"}}").into_bytes(),
        created_at: T0,
    }
}

/// The unit a service would write for a transition: the intent and its events.
fn unit(transition: &Transition, event_id: &str) -> UnitOfWork {
    UnitOfWork {
        intents: vec![transition.intent.clone()],
        events: events_of(transition, event_id),
        ..UnitOfWork::default()
    }
}

async fn commit(store: &Arc<dyn Store>, transition: &Transition, event_id: &str) -> PaymentIntent {
    store
        .commit(unit(transition, event_id))
        .await
        .expect("commit the transition");
    transition.intent.clone()
}

/// Creates and stores a manual-capture intent, returning what was stored.
async fn stored_intent(
    store: &Arc<dyn Store>,
    id: &str,
    scope: &Scope,
    amount: i64,
    now: Timestamp,
) -> PaymentIntent {
    let created = create(id, scope, amount, CaptureMethod::Manual, now);
    commit(store, &created, &format!("evt_{id}_created")).await
}

/// The intent `id`, which must exist.
async fn stored(store: &Arc<dyn Store>, scope: &Scope, id: &str) -> PaymentIntent {
    store
        .get_intent(scope, id)
        .await
        .expect("get intent")
        .unwrap_or_else(|| panic!("intent {id} is stored"))
}

fn page(limit: u32, cursor: Option<&str>) -> PageRequest {
    PageRequest {
        limit,
        cursor: cursor.map(str::to_owned),
    }
}

fn all_intents(now: Timestamp) -> IntentFilter {
    IntentFilter {
        status: None,
        capture_method: None,
        created_after: None,
        created_before: None,
        expires_before: None,
        order: IntentOrder::CreatedDesc,
        now,
        page: page(100, None),
    }
}

fn all_events() -> EventFilter {
    EventFilter {
        kind: None,
        payment_intent_id: None,
        page: page(100, None),
    }
}

fn intent_ids(page: &Page<PaymentIntent>) -> Vec<&str> {
    page.data.iter().map(|i| i.id.as_str()).collect()
}

fn event_ids(page: &Page<Event>) -> Vec<&str> {
    page.data.iter().map(|e| e.id.as_str()).collect()
}

async fn list_ids(store: &Arc<dyn Store>, scope: &Scope, filter: IntentFilter) -> Vec<String> {
    let page = store
        .list_intents(scope, &filter)
        .await
        .expect("list intents");
    intent_ids(&page).into_iter().map(str::to_owned).collect()
}

fn merchant(id: &str) -> Merchant {
    Merchant {
        id: id.to_owned(),
        name: format!("Merchant {id}"),
        created_at: T0,
    }
}

fn api_key(merchant_id: &str, livemode: bool, prefix: &str, hash: &str) -> ApiKey {
    ApiKey {
        merchant_id: merchant_id.to_owned(),
        livemode,
        prefix: prefix.to_owned(),
        hash: hash.to_owned(),
        created_at: T0,
        revoked_at: None,
    }
}

fn sorted_by_hash(mut keys: Vec<ApiKey>) -> Vec<ApiKey> {
    keys.sort_by(|a, b| a.hash.cmp(&b.hash));
    keys
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Conflict)),
        "expected Conflict, got {result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The contract
// ---------------------------------------------------------------------------------------------

async fn answers_ping(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
}

async fn merchants_and_api_keys(store: Arc<dyn Store>) {
    assert_eq!(store.merchant_count().await.expect("count"), 0);
    let test_key = api_key("mer_a", false, "sk_test_aaaa", "hash_test_1");
    let live_key = api_key("mer_a", true, "sk_live_aaaa", "hash_live_1");
    store
        .create_merchant(&merchant("mer_a"), &[test_key.clone(), live_key.clone()])
        .await
        .expect("create merchant");

    assert_eq!(store.merchant_count().await.expect("count"), 1);
    assert_eq!(
        store.get_merchant("mer_a").await.expect("get"),
        Some(merchant("mer_a"))
    );
    assert_eq!(store.get_merchant("mer_nope").await.expect("get"), None);

    assert_eq!(
        store
            .api_keys_by_prefix("sk_test_aaaa")
            .await
            .expect("keys"),
        vec![test_key.clone()]
    );
    assert_eq!(
        store
            .api_keys_by_prefix("sk_live_aaaa")
            .await
            .expect("keys"),
        vec![live_key]
    );
    assert_eq!(
        store
            .api_keys_by_prefix("sk_test_nope")
            .await
            .expect("keys"),
        Vec::<ApiKey>::new()
    );

    // A second key under the same display prefix: lookup by prefix returns both.
    let rotated = api_key("mer_a", false, "sk_test_aaaa", "hash_test_2");
    store.insert_api_key(&rotated).await.expect("insert key");
    assert_eq!(
        sorted_by_hash(
            store
                .api_keys_by_prefix("sk_test_aaaa")
                .await
                .expect("keys")
        ),
        vec![test_key.clone(), rotated]
    );

    // A key hash is unique.
    assert_conflict(store.insert_api_key(&test_key).await);

    // A merchant id is unique, and a failed creation leaves none of its keys behind.
    let orphan = api_key("mer_a", false, "sk_test_bbbb", "hash_test_3");
    assert_conflict(store.create_merchant(&merchant("mer_a"), &[orphan]).await);
    assert_eq!(
        store
            .api_keys_by_prefix("sk_test_bbbb")
            .await
            .expect("keys"),
        Vec::<ApiKey>::new()
    );
    assert_eq!(store.merchant_count().await.expect("count"), 1);

    store
        .create_merchant(&merchant("mer_b"), &[])
        .await
        .expect("create second merchant");
    assert_eq!(store.merchant_count().await.expect("count"), 2);
}

async fn api_key_revocation_counts_live_keys_only(store: Arc<dyn Store>) {
    let already_revoked = ApiKey {
        revoked_at: Some(at(-100)),
        ..api_key("mer_a", false, "sk_test_aaaa", "hash_old")
    };
    let keys = [
        api_key("mer_a", false, "sk_test_aaaa", "hash_1"),
        api_key("mer_a", false, "sk_test_aaaa", "hash_2"),
        already_revoked,
        api_key("mer_a", false, "sk_test_cccc", "hash_other"),
    ];
    store
        .create_merchant(&merchant("mer_a"), &keys)
        .await
        .expect("create merchant");

    assert_eq!(
        store
            .revoke_api_keys("sk_test_aaaa", at(10))
            .await
            .expect("revoke"),
        2
    );
    let revoked = sorted_by_hash(
        store
            .api_keys_by_prefix("sk_test_aaaa")
            .await
            .expect("keys"),
    );
    let revoked_at: Vec<(&str, Option<Timestamp>)> = revoked
        .iter()
        .map(|k| (k.hash.as_str(), k.revoked_at))
        .collect();
    assert_eq!(
        revoked_at,
        vec![
            ("hash_1", Some(at(10))),
            ("hash_2", Some(at(10))),
            ("hash_old", Some(at(-100))),
        ]
    );

    // Revoking again finds nothing live; other prefixes are untouched.
    assert_eq!(
        store
            .revoke_api_keys("sk_test_aaaa", at(20))
            .await
            .expect("revoke"),
        0
    );
    assert_eq!(
        store
            .revoke_api_keys("sk_test_nope", at(20))
            .await
            .expect("revoke"),
        0
    );
    let other = store
        .api_keys_by_prefix("sk_test_cccc")
        .await
        .expect("keys");
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].revoked_at, None);
}

async fn intent_insert_get_and_versioned_update(store: Arc<dyn Store>) {
    let s = test_scope();
    let created = create("pi_1", &s, 5000, CaptureMethod::Manual, T0);
    let mut first = unit(&created, "evt_1");
    first.idempotency = Some(idempotency(&s, "idem_1", "fp_1"));
    store.commit(first).await.expect("insert");

    let got = stored(&store, &s, "pi_1").await;
    assert_eq!(got, created.intent);
    assert_eq!(got.version, 1);
    assert_eq!(got.status, Status::RequiresPaymentMethod);
    assert_eq!(got.amount, usd(5000));
    assert_eq!(store.get_intent(&s, "pi_nope").await.expect("get"), None);

    let authorized = authorize(&got, at(60), at(60 + 7 * 86_400));
    store
        .commit(unit(&authorized, "evt_2"))
        .await
        .expect("update to v2");
    let got = stored(&store, &s, "pi_1").await;
    assert_eq!(got, authorized.intent);
    assert_eq!(got.version, 2);
    assert_eq!(got.status, Status::RequiresCapture);
    assert_eq!(
        (got.authorized, got.capturable, got.captured, got.released),
        (5000, 5000, 0, 0)
    );
    assert_eq!(got.authorization_expires_at, Some(at(60 + 7 * 86_400)));

    let captured = capture(&got, 3000, at(120));
    store
        .commit(unit(&captured, "evt_3"))
        .await
        .expect("update to v3");
    let got = stored(&store, &s, "pi_1").await;
    assert_eq!(got, captured.intent);
    assert_eq!(got.version, 3);
    assert_eq!(got.status, Status::Succeeded);
    assert_eq!(got.amount, usd(3000));
    assert_eq!(
        (got.authorized, got.capturable, got.captured, got.released),
        (5000, 0, 3000, 2000)
    );
    assert_eq!(got.actions.len(), 2);

    let events = store.list_events(&s, &all_events()).await.expect("events");
    assert_eq!(event_ids(&events), vec!["evt_3", "evt_2", "evt_1"]);
}

async fn stale_update_writes_nothing(store: Arc<dyn Store>) {
    let s = test_scope();
    let v1 = stored_intent(&store, "pi_1", &s, 5000, T0).await;
    let v2 = commit(&store, &authorize(&v1, at(10), at(1000)), "evt_auth").await;

    // Two changes computed from v2: the capture lands first, the cancel is stale.
    let captured = commit(&store, &capture(&v2, 5000, at(20)), "evt_capture").await;
    let stale_cancel = cancel(&v2, at(30));
    assert_eq!(stale_cancel.intent.version, 3);
    let mut stale = unit(&stale_cancel, "evt_stale");
    stale.idempotency = Some(idempotency(&s, "idem_stale", "fp_stale"));
    assert_conflict(store.commit(stale).await);

    let got = stored(&store, &s, "pi_1").await;
    assert_eq!(got, captured);
    assert_eq!(got.status, Status::Succeeded);
    assert_eq!((got.captured, got.released, got.capturable), (5000, 0, 0));
    assert_eq!(store.get_event(&s, "evt_stale").await.expect("event"), None);
    assert_eq!(
        store.get_idempotency(&s, "idem_stale").await.expect("idem"),
        None
    );

    // A stale write that also inserts a new intent and a customer: none of it stands.
    let fresh = create("pi_2", &s, 700, CaptureMethod::Automatic, at(40));
    let customer = create_customer("cus_1".into(), s.clone(), CreateCustomer::default(), at(40))
        .expect("a valid customer");
    let mixed = UnitOfWork {
        intents: vec![fresh.intent.clone(), stale_cancel.intent.clone()],
        customers: vec![customer],
        events: events_of(&fresh, "evt_fresh"),
        idempotency: Some(idempotency(&s, "idem_mixed", "fp_mixed")),
        ..UnitOfWork::default()
    };
    assert_conflict(store.commit(mixed).await);
    assert_eq!(store.get_intent(&s, "pi_2").await.expect("get"), None);
    assert_eq!(store.get_customer(&s, "cus_1").await.expect("get"), None);
    assert_eq!(store.get_event(&s, "evt_fresh").await.expect("event"), None);
    assert_eq!(
        store.get_idempotency(&s, "idem_mixed").await.expect("idem"),
        None
    );

    // An update whose base version was never stored is stale too.
    let from_nowhere = PaymentIntent {
        version: 5,
        ..captured.clone()
    };
    assert_conflict(
        store
            .commit(UnitOfWork {
                intents: vec![from_nowhere],
                ..UnitOfWork::default()
            })
            .await,
    );

    let events = store.list_events(&s, &all_events()).await.expect("events");
    assert_eq!(
        event_ids(&events),
        vec!["evt_capture", "evt_auth", "evt_pi_1_created"]
    );
    let intents = store
        .list_intents(&s, &all_intents(at(50)))
        .await
        .expect("list");
    assert_eq!(intent_ids(&intents), vec!["pi_1"]);
    assert_eq!(intents.data[0].version, 3);
}

/// Many units at once (on SQLite, group commits): of those computed from one version exactly one
/// stands, and the losers take nothing of theirs and nothing of the winners' down with them.
async fn racing_units_lose_alone(store: Arc<dyn Store>) {
    let s = test_scope();
    let v1 = stored_intent(&store, "pi_race", &s, 5000, T0).await;
    let v2 = commit(&store, &authorize(&v1, at(10), at(1000)), "evt_auth").await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..40_i64 {
        let (racer, fresh) = (Arc::clone(&store), Arc::clone(&store));
        // Each racer first inserts an intent of its own, then updates the shared one: a loser has
        // written something before it fails, which must not stand.
        let side = create(
            &format!("pi_side_{n}"),
            &s,
            300,
            CaptureMethod::Manual,
            at(20),
        );
        let mut capture_unit = unit(&capture(&v2, 100 + n, at(20)), &format!("evt_cap_{n}"));
        capture_unit.intents.insert(0, side.intent.clone());
        capture_unit.idempotency = Some(idempotency(&s, &format!("idem_cap_{n}"), "fp"));
        tasks.spawn(async move { (Some(n), racer.commit(capture_unit).await) });
        let created = create(
            &format!("pi_new_{n}"),
            &s,
            700,
            CaptureMethod::Manual,
            at(20),
        );
        let mut fresh_unit = unit(&created, &format!("evt_new_{n}"));
        fresh_unit.idempotency = Some(idempotency(&s, &format!("idem_new_{n}"), "fp"));
        tasks.spawn(async move { (None, fresh.commit(fresh_unit).await) });
    }
    let mut winners = Vec::new();
    for (capture_n, result) in tasks.join_all().await {
        match (capture_n, result) {
            (Some(n), Ok(())) => winners.push(n),
            (Some(_), Err(StoreError::Conflict)) => {}
            (None, Ok(())) => {}
            (n, other) => panic!("unexpected outcome for {n:?}: {other:?}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one capture from version 2 stands"
    );
    let won = winners[0];
    let got = stored(&store, &s, "pi_race").await;
    assert_eq!((got.version, got.captured), (3, 100 + won));
    for n in 0..40_i64 {
        let event = store
            .get_event(&s, &format!("evt_cap_{n}"))
            .await
            .expect("get");
        let record = store
            .get_idempotency(&s, &format!("idem_cap_{n}"))
            .await
            .expect("get");
        assert_eq!(event.is_some(), n == won, "capture event {n}");
        assert_eq!(record.is_some(), n == won, "capture idempotency record {n}");
        let side = store
            .get_intent(&s, &format!("pi_side_{n}"))
            .await
            .expect("get");
        assert_eq!(side.is_some(), n == won, "side intent {n}");
        let fresh = stored(&store, &s, &format!("pi_new_{n}")).await;
        assert_eq!((fresh.version, fresh.amount.amount), (1, 700));
        assert!(
            store
                .get_event(&s, &format!("evt_new_{n}"))
                .await
                .expect("get")
                .is_some()
        );
    }
}

async fn duplicate_intent_id_is_a_conflict(store: Arc<dyn Store>) {
    let s = test_scope();
    let original = stored_intent(&store, "pi_1", &s, 5000, T0).await;
    let again = create("pi_1", &s, 9999, CaptureMethod::Automatic, at(5));
    assert_conflict(store.commit(unit(&again, "evt_again")).await);
    assert_eq!(
        store.get_intent(&s, "pi_1").await.expect("get"),
        Some(original)
    );
    assert_eq!(store.get_event(&s, "evt_again").await.expect("event"), None);
}

async fn duplicate_idempotency_key_rolls_back_the_whole_unit(store: Arc<dyn Store>) {
    let s = test_scope();
    let first = create("pi_1", &s, 5000, CaptureMethod::Manual, T0);
    let mut first_unit = unit(&first, "evt_1");
    first_unit.idempotency = Some(idempotency(&s, "idem_k", "fp_first"));
    store
        .commit(first_unit)
        .await
        .expect("first use of the key");

    // A second unit under the same key, touching every table: nothing of it is written.
    let second = create("pi_2", &s, 800, CaptureMethod::Automatic, at(1));
    let customer = create_customer("cus_2".into(), s.clone(), CreateCustomer::default(), at(1))
        .expect("a valid customer");
    let method = SavedPaymentMethod {
        id: "pm_2".into(),
        scope: s.clone(),
        customer_id: "cus_2".into(),
        card: Card {
            brand: "visa".into(),
            last_four: "1881".into(),
        },
        processor_token: "tok_2".into(),
        created_at: at(1),
    };
    let second_unit = UnitOfWork {
        intents: vec![second.intent.clone()],

        customers: vec![customer],
        payment_methods: vec![method],
        events: events_of(&second, "evt_2"),
        idempotency: Some(idempotency(&s, "idem_k", "fp_second")),
        ..UnitOfWork::default()
    };
    assert_conflict(store.commit(second_unit).await);

    assert_eq!(store.get_intent(&s, "pi_2").await.expect("get"), None);
    assert_eq!(store.get_customer(&s, "cus_2").await.expect("get"), None);
    assert_eq!(
        store.get_payment_method(&s, "pm_2").await.expect("get"),
        None
    );
    assert_eq!(store.get_event(&s, "evt_2").await.expect("get"), None);
    let kept = store
        .get_idempotency(&s, "idem_k")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(kept.fingerprint, "fp_first");
    let intents = store
        .list_intents(&s, &all_intents(T0))
        .await
        .expect("list");
    assert_eq!(intent_ids(&intents), vec!["pi_1"]);

    // The same key in another scope is another key.
    let live = scope("mer_a", true);
    let other = create("pi_3", &live, 900, CaptureMethod::Automatic, at(2));
    let mut other_unit = unit(&other, "evt_3");
    other_unit.idempotency = Some(idempotency(&live, "idem_k", "fp_live"));
    store
        .commit(other_unit)
        .await
        .expect("same key, other scope");
    let live_record = store
        .get_idempotency(&live, "idem_k")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(live_record.fingerprint, "fp_live");
}

async fn idempotency_record_round_trips(store: Arc<dyn Store>) {
    let s = test_scope();
    let record = IdempotencyRecord {
        scope: s.clone(),
        key: "idem_bytes".into(),
        fingerprint: "sha256:abc".into(),
        status_code: 402,
        // Not UTF-8: the body is stored as bytes.
        body: vec![0, 159, 146, 150, 255, b'{', b'}'],
        created_at: at(77),
    };
    store
        .commit(UnitOfWork {
            idempotency: Some(record.clone()),
            ..UnitOfWork::default()
        })
        .await
        .expect("store the record alone");
    assert_eq!(
        store.get_idempotency(&s, "idem_bytes").await.expect("get"),
        Some(record)
    );
    assert_eq!(
        store.get_idempotency(&s, "idem_nope").await.expect("get"),
        None
    );
}

async fn empty_unit_is_a_no_op(store: Arc<dyn Store>) {
    store
        .commit(UnitOfWork::default())
        .await
        .expect("empty unit");
    let s = test_scope();
    let intents = store
        .list_intents(&s, &all_intents(T0))
        .await
        .expect("list");
    assert_eq!(intents.data.len(), 0);
    assert!(!intents.has_more);
    assert_eq!(intents.next_cursor, None);
}

async fn scopes_are_isolated(store: Arc<dyn Store>) {
    let mine = test_scope();
    let my_live = scope("mer_a", true);
    let theirs = scope("mer_b", false);

    let created = create("pi_1", &mine, 5000, CaptureMethod::Manual, T0);
    let customer = create_customer("cus_1".into(), mine.clone(), CreateCustomer::default(), T0)
        .expect("a valid customer");
    let method = SavedPaymentMethod {
        id: "pm_1".into(),
        scope: mine.clone(),
        customer_id: "cus_1".into(),
        card: Card {
            brand: "visa".into(),
            last_four: "4242".into(),
        },
        processor_token: "tok_1".into(),
        created_at: T0,
    };
    let mut all = unit(&created, "evt_1");
    all.customers = vec![customer];
    all.payment_methods = vec![method];
    all.idempotency = Some(idempotency(&mine, "idem_1", "fp_1"));
    store.commit(all).await.expect("commit");

    assert!(
        store
            .get_intent(&mine, "pi_1")
            .await
            .expect("get")
            .is_some()
    );
    for other in [&my_live, &theirs] {
        assert_eq!(store.get_intent(other, "pi_1").await.expect("get"), None);
        assert_eq!(store.get_customer(other, "cus_1").await.expect("get"), None);
        assert_eq!(
            store.get_payment_method(other, "pm_1").await.expect("get"),
            None
        );
        assert_eq!(store.get_event(other, "evt_1").await.expect("get"), None);
        assert_eq!(
            store.get_idempotency(other, "idem_1").await.expect("get"),
            None
        );

        let intents = store
            .list_intents(other, &all_intents(T0))
            .await
            .expect("list");
        assert_eq!(intents.data.len(), 0);
        let events = store.list_events(other, &all_events()).await.expect("list");
        assert_eq!(events.data.len(), 0);

        // A cursor naming another scope's object is unknown here.
        let mut filter = all_intents(T0);
        filter.page = page(10, Some("pi_1"));
        assert!(matches!(
            store.list_intents(other, &filter).await,
            Err(StoreError::UnknownCursor)
        ));
        let mut filter = all_events();
        filter.page = page(10, Some("evt_1"));
        assert!(matches!(
            store.list_events(other, &filter).await,
            Err(StoreError::UnknownCursor)
        ));
    }

    // Another scope's intents do not show up in mine either.
    stored_intent(&store, "pi_live", &my_live, 100, at(1)).await;
    stored_intent(&store, "pi_theirs", &theirs, 200, at(2)).await;
    assert_eq!(list_ids(&store, &mine, all_intents(T0)).await, vec!["pi_1"]);
    assert_eq!(
        list_ids(&store, &my_live, all_intents(T0)).await,
        vec!["pi_live"]
    );
    assert_eq!(
        list_ids(&store, &theirs, all_intents(T0)).await,
        vec!["pi_theirs"]
    );
    let my_events = store.list_events(&mine, &all_events()).await.expect("list");
    assert_eq!(event_ids(&my_events), vec!["evt_1"]);
}

async fn intent_pagination(store: Arc<dyn Store>) {
    let s = test_scope();
    let mut stored = Vec::new();
    for i in 0..5 {
        stored.push(stored_intent(&store, &format!("pi_{i}"), &s, 100 * (i + 1), at(i)).await);
    }
    let list = |limit: u32, cursor: Option<&str>| {
        let mut filter = all_intents(at(100));
        filter.page = page(limit, cursor);
        let store = Arc::clone(&store);
        let s = s.clone();
        async move { store.list_intents(&s, &filter).await }
    };

    let first = list(2, None).await.expect("page 1");
    assert_eq!(intent_ids(&first), vec!["pi_4", "pi_3"]);
    assert!(first.has_more);
    assert_eq!(first.next_cursor.as_deref(), Some("pi_3"));
    assert_eq!(first.data[0].amount, usd(500));

    let second = list(2, first.next_cursor.as_deref()).await.expect("page 2");
    assert_eq!(intent_ids(&second), vec!["pi_2", "pi_1"]);
    assert!(second.has_more);
    assert_eq!(second.next_cursor.as_deref(), Some("pi_1"));

    let third = list(2, second.next_cursor.as_deref())
        .await
        .expect("page 3");
    assert_eq!(intent_ids(&third), vec!["pi_0"]);
    assert!(!third.has_more);
    assert_eq!(third.next_cursor, None);
    assert_eq!(third.data[0], stored[0]);

    // Exactly `limit` left: no further page.
    let exact = list(5, None).await.expect("exact");
    assert_eq!(exact.data.len(), 5);
    assert!(!exact.has_more);
    assert_eq!(exact.next_cursor, None);

    let after_last = list(10, Some("pi_0")).await.expect("after the oldest");
    assert_eq!(after_last.data.len(), 0);
    assert!(!after_last.has_more);

    assert!(matches!(
        list(2, Some("pi_nope")).await,
        Err(StoreError::UnknownCursor)
    ));

    // An update keeps the intent's place in the order (newest created first).
    commit(&store, &authorize(&stored[0], at(50), at(5000)), "evt_auth").await;
    let all = list(10, None).await.expect("all");
    assert_eq!(
        intent_ids(&all),
        vec!["pi_4", "pi_3", "pi_2", "pi_1", "pi_0"]
    );
    assert_eq!(all.data[4].version, 2);
    assert_eq!(all.data[4].status, Status::RequiresCapture);
}

/// Six intents, oldest first, each in a different state as of `at(100)`:
/// `pi_auto` waits for a payment method; `pi_held` holds until `at(1000)`; `pi_overdue` held until
/// `at(50)` and is past its deadline though still stored as `requires_capture`; `pi_deadline` holds
/// until exactly `at(100)` (still capturable then); `pi_captured` succeeded; `pi_canceled` was
/// canceled before authorization.
async fn six_intents(store: &Arc<dyn Store>, s: &Scope) {
    let auto = create("pi_auto", s, 1000, CaptureMethod::Automatic, at(0));
    commit(store, &auto, "evt_auto").await;
    for (offset, id, expires_at) in [
        (1, "pi_held", at(1000)),
        (2, "pi_overdue", at(50)),
        (3, "pi_deadline", at(100)),
    ] {
        let created = stored_intent(store, id, s, 2000, at(offset)).await;
        commit(
            store,
            &authorize(&created, at(offset), expires_at),
            &format!("evt_{id}_auth"),
        )
        .await;
    }
    let captured = stored_intent(store, "pi_captured", s, 3000, at(4)).await;
    let held = commit(store, &authorize(&captured, at(4), at(10)), "evt_cap_auth").await;
    commit(store, &capture(&held, 3000, at(5)), "evt_cap").await;
    let to_cancel = stored_intent(store, "pi_canceled", s, 4000, at(5)).await;
    commit(store, &cancel(&to_cancel, at(6)), "evt_cancel").await;
}

async fn intent_status_filter_treats_overdue_holds_as_expired(store: Arc<dyn Store>) {
    let s = test_scope();
    six_intents(&store, &s).await;
    let by_status = |status: Status, now: Timestamp| IntentFilter {
        status: Some(status),
        ..all_intents(now)
    };

    let now = at(100);
    assert_eq!(
        list_ids(&store, &s, by_status(Status::RequiresCapture, now)).await,
        vec!["pi_deadline", "pi_held"]
    );
    assert_eq!(
        list_ids(&store, &s, by_status(Status::Expired, now)).await,
        vec!["pi_overdue"]
    );
    assert_eq!(
        list_ids(&store, &s, by_status(Status::Succeeded, now)).await,
        vec!["pi_captured"]
    );
    assert_eq!(
        list_ids(&store, &s, by_status(Status::Canceled, now)).await,
        vec!["pi_canceled"]
    );
    assert_eq!(
        list_ids(&store, &s, by_status(Status::RequiresPaymentMethod, now)).await,
        vec!["pi_auto"]
    );
    assert_eq!(
        list_ids(&store, &s, by_status(Status::RequiresAction, now)).await,
        Vec::<String>::new()
    );

    // The listed document is the stored one; only the filter reads it as of `now`.
    let expired = store
        .list_intents(&s, &by_status(Status::Expired, now))
        .await
        .expect("list");
    assert_eq!(expired.data[0].status, Status::RequiresCapture);
    assert_eq!(expired.data[0].capturable, 2000);

    // One second past the deadline of `pi_deadline`, it is expired too.
    let later = at(101);
    assert_eq!(
        list_ids(&store, &s, by_status(Status::RequiresCapture, later)).await,
        vec!["pi_held"]
    );
    assert_eq!(
        list_ids(&store, &s, by_status(Status::Expired, later)).await,
        vec!["pi_deadline", "pi_overdue"]
    );

    // Earlier, before any deadline, every hold is capturable and none expired.
    let earlier = at(10);
    assert_eq!(
        list_ids(&store, &s, by_status(Status::RequiresCapture, earlier)).await,
        vec!["pi_deadline", "pi_overdue", "pi_held"]
    );
    assert_eq!(
        list_ids(&store, &s, by_status(Status::Expired, earlier)).await,
        Vec::<String>::new()
    );

    // The status filter paginates like any other.
    let mut filter = by_status(Status::RequiresCapture, earlier);
    filter.page = page(2, None);
    let first = store.list_intents(&s, &filter).await.expect("page 1");
    assert_eq!(intent_ids(&first), vec!["pi_deadline", "pi_overdue"]);
    assert!(first.has_more);
    filter.page = page(2, first.next_cursor.as_deref());
    let second = store.list_intents(&s, &filter).await.expect("page 2");
    assert_eq!(intent_ids(&second), vec!["pi_held"]);
    assert!(!second.has_more);
}

async fn intent_filters_by_capture_method_and_time(store: Arc<dyn Store>) {
    let s = test_scope();
    six_intents(&store, &s).await;
    let now = at(100);

    let by_method = |method| IntentFilter {
        capture_method: Some(method),
        ..all_intents(now)
    };
    assert_eq!(
        list_ids(&store, &s, by_method(CaptureMethod::Automatic)).await,
        vec!["pi_auto"]
    );
    assert_eq!(
        list_ids(&store, &s, by_method(CaptureMethod::Manual)).await,
        vec![
            "pi_canceled",
            "pi_captured",
            "pi_deadline",
            "pi_overdue",
            "pi_held"
        ]
    );

    // Creation bounds are exclusive.
    let created_after = IntentFilter {
        created_after: Some(at(2)),
        ..all_intents(now)
    };
    assert_eq!(
        list_ids(&store, &s, created_after).await,
        vec!["pi_canceled", "pi_captured", "pi_deadline"]
    );
    let created_before = IntentFilter {
        created_before: Some(at(2)),
        ..all_intents(now)
    };
    assert_eq!(
        list_ids(&store, &s, created_before).await,
        vec!["pi_held", "pi_auto"]
    );
    let between = IntentFilter {
        created_after: Some(at(0)),
        created_before: Some(at(3)),
        ..all_intents(now)
    };
    assert_eq!(
        list_ids(&store, &s, between).await,
        vec!["pi_overdue", "pi_held"]
    );

    // Only intents with a deadline before the bound; the captured one keeps its old deadline.
    let expires_before = IntentFilter {
        expires_before: Some(at(100)),
        ..all_intents(now)
    };
    assert_eq!(
        list_ids(&store, &s, expires_before).await,
        vec!["pi_captured", "pi_overdue"]
    );
    let expires_before_later = IntentFilter {
        expires_before: Some(at(1001)),
        ..all_intents(now)
    };
    assert_eq!(
        list_ids(&store, &s, expires_before_later).await,
        vec!["pi_captured", "pi_deadline", "pi_overdue", "pi_held"]
    );

    // Filters combine.
    let combined = IntentFilter {
        status: Some(Status::RequiresCapture),
        capture_method: Some(CaptureMethod::Manual),
        created_after: Some(at(1)),
        expires_before: Some(at(1001)),
        ..all_intents(now)
    };
    assert_eq!(list_ids(&store, &s, combined).await, vec!["pi_deadline"]);
}

async fn event_listing_and_filters(store: Arc<dyn Store>) {
    let s = test_scope();
    let a = stored_intent(&store, "pi_a", &s, 5000, T0).await; // evt_pi_a_created
    let b = stored_intent(&store, "pi_b", &s, 800, at(1)).await; // evt_pi_b_created
    let a_held = commit(&store, &authorize(&a, at(2), at(1000)), "evt_a_auth").await;
    commit(&store, &capture(&a_held, 5000, at(3)), "evt_a_capture").await;
    commit(&store, &cancel(&b, at(4)), "evt_b_cancel").await;

    let all = store.list_events(&s, &all_events()).await.expect("list");
    assert_eq!(
        event_ids(&all),
        vec![
            "evt_b_cancel",
            "evt_a_capture",
            "evt_a_auth",
            "evt_pi_b_created",
            "evt_pi_a_created"
        ]
    );
    assert!(!all.has_more);
    assert_eq!(all.next_cursor, None);

    let by_kind = |kind| EventFilter {
        kind: Some(kind),
        ..all_events()
    };
    let created = store
        .list_events(&s, &by_kind(EventType::PaymentIntentCreated))
        .await;
    assert_eq!(
        event_ids(&created.expect("list")),
        vec!["evt_pi_b_created", "evt_pi_a_created"]
    );
    let succeeded = store
        .list_events(&s, &by_kind(EventType::PaymentIntentSucceeded))
        .await;
    assert_eq!(event_ids(&succeeded.expect("list")), vec!["evt_a_capture"]);
    let failed = store
        .list_events(&s, &by_kind(EventType::PaymentIntentPaymentFailed))
        .await;
    assert_eq!(failed.expect("list").data.len(), 0);

    let for_a = EventFilter {
        payment_intent_id: Some("pi_a".into()),
        ..all_events()
    };
    assert_eq!(
        event_ids(&store.list_events(&s, &for_a).await.expect("list")),
        vec!["evt_a_capture", "evt_a_auth", "evt_pi_a_created"]
    );
    let created_for_b = EventFilter {
        kind: Some(EventType::PaymentIntentCreated),
        payment_intent_id: Some("pi_b".into()),
        ..all_events()
    };
    assert_eq!(
        event_ids(&store.list_events(&s, &created_for_b).await.expect("list")),
        vec!["evt_pi_b_created"]
    );

    // Pagination.
    let mut filter = for_a.clone();
    filter.page = page(2, None);
    let first = store.list_events(&s, &filter).await.expect("page 1");
    assert_eq!(event_ids(&first), vec!["evt_a_capture", "evt_a_auth"]);
    assert!(first.has_more);
    assert_eq!(first.next_cursor.as_deref(), Some("evt_a_auth"));
    filter.page = page(2, first.next_cursor.as_deref());
    let second = store.list_events(&s, &filter).await.expect("page 2");
    assert_eq!(event_ids(&second), vec!["evt_pi_a_created"]);
    assert!(!second.has_more);
    assert_eq!(second.next_cursor, None);
    filter.page = page(2, Some("evt_nope"));
    assert!(matches!(
        store.list_events(&s, &filter).await,
        Err(StoreError::UnknownCursor)
    ));

    // An event keeps a snapshot of the intent as it was right after the change.
    let auth_event = store
        .get_event(&s, "evt_a_auth")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(auth_event.kind, EventType::PaymentIntentRequiresCapture);
    assert_eq!(auth_event.created_at, at(2));
    assert_eq!(auth_event.payment_intent_id(), Some("pi_a"));
    let EventObject::PaymentIntent(snapshot) = &auth_event.object else {
        panic!("an intent event carries the intent");
    };
    assert_eq!(**snapshot, a_held);
    assert_eq!((snapshot.version, snapshot.capturable), (2, 5000));
    assert_eq!(store.get_event(&s, "evt_nope").await.expect("get"), None);
}

async fn customers_and_payment_methods(store: Arc<dyn Store>) {
    let s = test_scope();
    let customer: Customer = create_customer(
        "cus_1".into(),
        s.clone(),
        CreateCustomer {
            email: Some("ada@example.com".into()),
            name: Some("Ada".into()),
            metadata: [("tier".to_owned(), "gold".to_owned())].into(),
        },
        T0,
    )
    .expect("a valid customer");
    let method = SavedPaymentMethod {
        id: "pm_1".into(),
        scope: s.clone(),
        customer_id: "cus_1".into(),
        card: Card {
            brand: "mastercard".into(),
            last_four: "4444".into(),
        },
        processor_token: "tok_1".into(),
        created_at: at(1),
    };
    store
        .commit(UnitOfWork {
            customers: vec![customer.clone()],
            payment_methods: vec![method.clone()],
            ..UnitOfWork::default()
        })
        .await
        .expect("commit");

    assert_eq!(
        store.get_customer(&s, "cus_1").await.expect("get"),
        Some(customer.clone())
    );
    assert_eq!(
        store.get_payment_method(&s, "pm_1").await.expect("get"),
        Some(method.clone())
    );
    assert_eq!(store.get_customer(&s, "cus_nope").await.expect("get"), None);
    assert_eq!(
        store.get_payment_method(&s, "pm_nope").await.expect("get"),
        None
    );

    // Ids are unique.
    assert_conflict(
        store
            .commit(UnitOfWork {
                customers: vec![customer],
                ..UnitOfWork::default()
            })
            .await,
    );
    assert_conflict(
        store
            .commit(UnitOfWork {
                payment_methods: vec![method],
                ..UnitOfWork::default()
            })
            .await,
    );
}

// ---------------------------------------------------------------------------------------------
// Deadlines: due work, open holds, test clocks, deadline order
// ---------------------------------------------------------------------------------------------

/// A hold of 1000 US cents placed at `now` on `clock` (none: the wall clock), lapsing after
/// `expires_at`; it falls due (for expiry) at `expires_at + 1`.
async fn held(
    store: &Arc<dyn Store>,
    id: &str,
    scope: &Scope,
    clock: Option<&str>,
    now: Timestamp,
    expires_at: Timestamp,
) -> PaymentIntent {
    let req = CreateRequest {
        amount: Some(RawMoney {
            amount: 1000,
            currency: "USD".into(),
        }),
        capture_method: Some("manual".into()),
        test_clock_id: clock.map(str::to_owned),
        ..CreateRequest::default()
    };
    let created = intent::create(
        id.to_owned(),
        scope.clone(),
        format!("secret_hash_{id}"),
        req,
        now,
    )
    .expect("a valid creation request");
    let created = commit(store, &created, &format!("evt_{id}_created")).await;
    let placed = commit(
        store,
        &authorize(&created, now, expires_at),
        &format!("evt_{id}_auth"),
    )
    .await;
    assert_eq!(placed.next_due_at(), Some(expires_at.plus_seconds(1)));
    placed
}

/// The hold lapsed: what the expiry worker writes.
fn expire(intent: &PaymentIntent, now: Timestamp) -> Transition {
    with_ctx(now, |ctx| intent::apply_expiry(intent, ctx)).expect("due for expiry")
}

fn ids(intents: &[PaymentIntent]) -> Vec<&str> {
    intents.iter().map(|i| i.id.as_str()).collect()
}

/// The ids of claimed intents as a sorted set: which ones were claimed, whatever the order.
fn claimed(intents: &[PaymentIntent]) -> Vec<&str> {
    let mut ids = ids(intents);
    ids.sort_unstable();
    ids
}

/// Four due holds of two merchants and one not yet due, placed in an order unlike their
/// deadlines (so any order seen comes from the due time), and some intents never claimed: on a
/// test clock, captured, unconfirmed. Returns `pi_d30`.
async fn due_holds(store: &Arc<dyn Store>) -> PaymentIntent {
    let s = test_scope();
    let other = scope("mer_b", true);
    let d30 = held(store, "pi_d30", &s, None, at(0), at(30)).await;
    held(store, "pi_d10", &other, None, at(1), at(10)).await;
    held(store, "pi_later", &s, None, at(2), at(500)).await;
    held(store, "pi_d40", &s, None, at(3), at(40)).await;
    held(store, "pi_on_clock", &s, Some("clock_1"), at(4), at(5)).await;
    held(store, "pi_d20", &s, None, at(5), at(20)).await;
    let captured = held(store, "pi_captured", &s, None, at(6), at(15)).await;
    commit(store, &capture(&captured, 1000, at(7)), "evt_captured").await;
    stored_intent(store, "pi_unconfirmed", &s, 1000, at(8)).await;
    d30
}

async fn claim_due_takes_the_soonest_due_and_leases_them(store: Arc<dyn Store>) {
    let s = test_scope();
    let d30 = due_holds(&store).await;

    // At its deadline a hold is not due yet; the test clock's hold never is, to the worker.
    let none = store.claim_due(at(10), at(70), 10).await.expect("claim");
    assert_eq!(ids(&none), Vec::<&str>::new());

    // Every merchant's due holds, the soonest ones, no more than the limit.
    let now = at(100);
    let first = store.claim_due(now, at(160), 2).await.expect("claim");
    assert_eq!(claimed(&first), vec!["pi_d10", "pi_d20"]);
    for intent in &first {
        assert_eq!(*intent, stored(&store, &intent.scope, &intent.id).await);
    }
    // Leased ones are not claimed again while the lease lasts.
    let second = store.claim_due(now, at(160), 10).await.expect("claim");
    assert_eq!(claimed(&second), vec!["pi_d30", "pi_d40"]);
    assert!(
        store
            .claim_due(now, at(160), 10)
            .await
            .expect("claim")
            .is_empty()
    );
    assert!(
        store
            .claim_due(at(160), at(220), 10)
            .await
            .expect("claim")
            .is_empty(),
        "a lease holds until its last second"
    );
    // Past the lease they are claimable again (a worker that died leaves them to the next).
    let again = store.claim_due(at(161), at(221), 3).await.expect("claim");
    assert_eq!(claimed(&again), vec!["pi_d10", "pi_d20", "pi_d30"]);

    // A resolved hold is never due again; a later deadline falls due in its turn.
    commit(&store, &expire(&d30, at(161)), "evt_d30_expired").await;
    let rest = store.claim_due(at(221), at(281), 10).await.expect("claim");
    assert_eq!(claimed(&rest), vec!["pi_d40"]);
    let later = store.claim_due(at(501), at(561), 10).await.expect("claim");
    assert_eq!(
        claimed(&later),
        vec!["pi_d10", "pi_d20", "pi_d40", "pi_later"]
    );
    assert_eq!(stored(&store, &s, "pi_d30").await.status, Status::Expired);
}

/// `claim_due` answers "soonest first", as its contract says (the worker works them in that order).
async fn claim_due_answers_soonest_first(store: Arc<dyn Store>) {
    due_holds(&store).await;
    let first = store.claim_due(at(100), at(160), 2).await.expect("claim");
    let all = store.claim_due(at(161), at(221), 10).await.expect("claim");
    assert_eq!(
        (ids(&first), ids(&all)),
        (
            vec!["pi_d10", "pi_d20"],
            vec!["pi_d10", "pi_d20", "pi_d30", "pi_d40"]
        ),
        "claimed in due order"
    );
}

async fn due_on_clock_lists_one_clocks_due_intents_soonest_first(store: Arc<dyn Store>) {
    let s = test_scope();
    held(&store, "pi_c1_late", &s, Some("clock_1"), at(0), at(50)).await;
    held(&store, "pi_c1_soon", &s, Some("clock_1"), at(1), at(20)).await;
    held(&store, "pi_c1_future", &s, Some("clock_1"), at(2), at(300)).await;
    let done = held(&store, "pi_c1_done", &s, Some("clock_1"), at(3), at(10)).await;
    commit(&store, &cancel(&done, at(4)), "evt_done").await;
    held(&store, "pi_c2", &s, Some("clock_2"), at(4), at(10)).await;
    held(&store, "pi_wall", &s, None, at(5), at(10)).await;

    let due = |clock: &'static str, up_to: Timestamp, limit: u32| {
        let store = Arc::clone(&store);
        async move {
            let intents = store
                .due_on_clock(clock, up_to, limit)
                .await
                .expect("due on clock");
            intents.iter().map(|i| i.id.clone()).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        due("clock_1", at(100), 10).await,
        vec!["pi_c1_soon", "pi_c1_late"]
    );
    assert_eq!(due("clock_1", at(100), 1).await, vec!["pi_c1_soon"]);
    // Inclusive of `up_to`: due at `deadline + 1`.
    assert_eq!(
        due("clock_1", at(51), 10).await,
        vec!["pi_c1_soon", "pi_c1_late"]
    );
    assert_eq!(due("clock_1", at(50), 10).await, vec!["pi_c1_soon"]);
    assert_eq!(due("clock_1", at(20), 10).await, Vec::<String>::new());
    assert_eq!(
        due("clock_1", at(1000), 10).await,
        vec!["pi_c1_soon", "pi_c1_late", "pi_c1_future"]
    );
    assert_eq!(due("clock_2", at(1000), 10).await, vec!["pi_c2"]);
    assert_eq!(due("clock_3", at(1000), 10).await, Vec::<String>::new());
    // The worker's claim takes none of them, and does not hide them from their clock.
    let claimed = store
        .claim_due(at(1000), at(1060), 10)
        .await
        .expect("claim");
    assert_eq!(ids(&claimed), vec!["pi_wall"]);
    assert_eq!(due("clock_1", at(1000), 10).await.len(), 3);
    // What comes back is the stored intent.
    let listed = store
        .due_on_clock("clock_2", at(1000), 10)
        .await
        .expect("due on clock");
    assert_eq!(listed[0], stored(&store, &s, "pi_c2").await);
}

async fn open_holds_lists_every_merchants_holds_soonest_deadline_first(store: Arc<dyn Store>) {
    let s = test_scope();
    held(&store, "pi_late", &s, None, at(0), at(300)).await;
    let soon = held(&store, "pi_soon", &s, None, at(1), at(100)).await;
    held(
        &store,
        "pi_live",
        &scope("mer_b", true),
        None,
        at(2),
        at(200),
    )
    .await;
    held(&store, "pi_clock", &s, Some("clock_1"), at(3), at(150)).await;
    held(&store, "pi_tie", &s, None, at(4), at(100)).await;
    let captured = held(&store, "pi_captured", &s, None, at(5), at(120)).await;
    commit(&store, &capture(&captured, 400, at(6)), "evt_captured").await;
    let voided = held(&store, "pi_voided", &s, None, at(6), at(130)).await;
    commit(&store, &cancel(&voided, at(7)), "evt_voided").await;
    stored_intent(&store, "pi_unconfirmed", &s, 1000, at(8)).await;

    let open = |before: Option<Timestamp>, limit: u32| {
        let store = Arc::clone(&store);
        async move {
            let holds = store.open_holds(before, limit).await.expect("open holds");
            holds.iter().map(|i| i.id.clone()).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        open(None, 100).await,
        vec!["pi_soon", "pi_tie", "pi_clock", "pi_live", "pi_late"]
    );
    assert_eq!(open(None, 2).await, vec!["pi_soon", "pi_tie"]);
    // Strictly before: a deadline at `expiring_before` is not in.
    assert_eq!(
        open(Some(at(200)), 100).await,
        vec!["pi_soon", "pi_tie", "pi_clock"]
    );
    assert_eq!(
        open(Some(at(201)), 100).await,
        vec!["pi_soon", "pi_tie", "pi_clock", "pi_live"]
    );
    assert_eq!(open(Some(at(100)), 100).await, Vec::<String>::new());
    let holds = store
        .open_holds(Some(at(101)), 100)
        .await
        .expect("open holds");
    assert_eq!(holds[0], soon);
    // Once recorded as expired, a hold is no longer open.
    commit(&store, &expire(&soon, at(101)), "evt_soon_expired").await;
    assert_eq!(
        open(None, 100).await,
        vec!["pi_tie", "pi_clock", "pi_live", "pi_late"]
    );
}

async fn test_clocks_round_trip_update_list_and_delete(store: Arc<dyn Store>) {
    let s = test_scope();
    let clock = |id: &str, frozen_time: Timestamp, created_at: Timestamp| TestClock {
        id: id.to_owned(),
        scope: s.clone(),
        name: Some(format!("clock {id}")),
        frozen_time,
        created_at,
    };
    let write = |clocks: Vec<TestClock>| {
        let store = Arc::clone(&store);
        async move {
            store
                .commit(UnitOfWork {
                    test_clocks: clocks,
                    ..UnitOfWork::default()
                })
                .await
        }
    };
    let get = |scope: Scope, id: &'static str, include_deleted: bool| {
        let store = Arc::clone(&store);
        async move {
            store
                .get_test_clock(&scope, id, include_deleted)
                .await
                .expect("get test clock")
        }
    };

    let first = clock("clock_1", at(1000), at(0));
    write(vec![first.clone()]).await.expect("insert");
    assert_eq!(get(s.clone(), "clock_1", false).await, Some(first.clone()));
    assert_eq!(get(scope("mer_a", true), "clock_1", false).await, None);
    assert_eq!(get(scope("mer_b", false), "clock_1", true).await, None);
    assert_eq!(get(s.clone(), "clock_nope", true).await, None);

    // Written again: replaced whole (an advance moves its time).
    let mut moved = first.clone();
    moved.frozen_time = at(5000);
    moved.name = None;
    write(vec![moved.clone()]).await.expect("update");
    assert_eq!(get(s.clone(), "clock_1", false).await, Some(moved.clone()));

    let second = clock("clock_2", at(2000), at(1));
    let third = clock("clock_3", at(3000), at(2));
    write(vec![second.clone(), third.clone()])
        .await
        .expect("insert two");

    // A clock in a unit that loses its race is not written either.
    let created = stored_intent(&store, "pi_1", &s, 1000, at(3)).await;
    let placed = authorize(&created, at(4), at(500));
    commit(&store, &placed, "evt_placed").await;
    let result = store
        .commit(UnitOfWork {
            intents: vec![placed.intent.clone()],
            test_clocks: vec![clock("clock_4", at(4000), at(4))],
            ..UnitOfWork::default()
        })
        .await;
    assert_conflict(result);
    assert_eq!(get(s.clone(), "clock_4", true).await, None);

    // Listed newest first, with a cursor.
    let list = |limit: u32, cursor: Option<&str>| {
        let store = Arc::clone(&store);
        let (s, page) = (s.clone(), page(limit, cursor));
        async move { store.list_test_clocks(&s, &page).await.expect("list") }
    };
    let clock_ids = |page: &Page<TestClock>| -> Vec<String> {
        page.data.iter().map(|c| c.id.clone()).collect()
    };
    let page_one = list(2, None).await;
    assert_eq!(clock_ids(&page_one), vec!["clock_3", "clock_2"]);
    assert!(page_one.has_more);
    assert_eq!(page_one.next_cursor.as_deref(), Some("clock_2"));
    assert_eq!(page_one.data[1], second);
    let page_two = list(2, page_one.next_cursor.as_deref()).await;
    assert_eq!(clock_ids(&page_two), vec!["clock_1"]);
    assert!(!page_two.has_more);
    assert_eq!(page_two.next_cursor, None);
    assert_eq!(page_two.data[0], moved);
    let elsewhere = store
        .list_test_clocks(&scope("mer_a", true), &page(10, None))
        .await
        .expect("list");
    assert!(elsewhere.data.is_empty());

    // Deleted: gone from get and list, kept for the intents that live on it.
    assert!(
        store
            .delete_test_clock(&s, "clock_2")
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_test_clock(&s, "clock_2")
            .await
            .expect("delete again")
    );
    assert!(
        !store
            .delete_test_clock(&scope("mer_b", false), "clock_1")
            .await
            .expect("delete from another merchant")
    );
    assert!(
        !store
            .delete_test_clock(&s, "clock_nope")
            .await
            .expect("delete unknown")
    );
    assert_eq!(get(s.clone(), "clock_2", false).await, None);
    assert_eq!(get(s.clone(), "clock_2", true).await, Some(second.clone()));
    assert_eq!(get(s.clone(), "clock_1", false).await, Some(moved));
    assert_eq!(clock_ids(&list(10, None).await), vec!["clock_3", "clock_1"]);
}

async fn intents_in_deadline_order_with_a_keyset_cursor(store: Arc<dyn Store>) {
    let s = test_scope();
    held(&store, "pi_e1", &s, None, at(0), at(300)).await;
    held(&store, "pi_e2", &s, None, at(1), at(100)).await;
    held(&store, "pi_e3", &s, None, at(2), at(200)).await;
    held(&store, "pi_e4", &s, None, at(3), at(100)).await;
    held(&store, "pi_e5", &s, None, at(4), at(200)).await;
    stored_intent(&store, "pi_unconfirmed", &s, 1000, at(5)).await;
    let captured = held(&store, "pi_captured", &s, None, at(6), at(150)).await;
    commit(&store, &capture(&captured, 1000, at(7)), "evt_captured").await;
    held(
        &store,
        "pi_other",
        &scope("mer_b", false),
        None,
        at(7),
        at(50),
    )
    .await;

    let by_deadline = |status: Option<Status>, now: Timestamp| IntentFilter {
        status,
        order: IntentOrder::ExpiresAsc,
        ..all_intents(now)
    };
    // Soonest deadline first, ties in creation order; intents without a deadline are left out.
    assert_eq!(
        list_ids(&store, &s, by_deadline(None, at(50))).await,
        vec!["pi_e2", "pi_e4", "pi_captured", "pi_e3", "pi_e5", "pi_e1"]
    );
    assert_eq!(
        list_ids(
            &store,
            &s,
            by_deadline(Some(Status::RequiresCapture), at(50))
        )
        .await,
        vec!["pi_e2", "pi_e4", "pi_e3", "pi_e5", "pi_e1"]
    );
    let before = |t: Timestamp, status: Option<Status>| IntentFilter {
        expires_before: Some(t),
        ..by_deadline(status, at(50))
    };
    assert_eq!(
        list_ids(&store, &s, before(at(200), None)).await,
        vec!["pi_e2", "pi_e4", "pi_captured"]
    );
    assert_eq!(
        list_ids(&store, &s, before(at(200), Some(Status::RequiresCapture))).await,
        vec!["pi_e2", "pi_e4"]
    );
    // As of a later time the holds at(100) are expired, in the same order.
    assert_eq!(
        list_ids(
            &store,
            &s,
            by_deadline(Some(Status::RequiresCapture), at(150))
        )
        .await,
        vec!["pi_e3", "pi_e5", "pi_e1"]
    );
    assert_eq!(
        list_ids(&store, &s, by_deadline(Some(Status::Expired), at(150))).await,
        vec!["pi_e2", "pi_e4"]
    );

    // The cursor keeps the order, across ties and across the status filter.
    let walk = |status: Option<Status>, limit: u32| {
        let store = Arc::clone(&store);
        let s = s.clone();
        async move {
            let mut pages = Vec::new();
            let mut cursor: Option<String> = None;
            for _ in 0..10 {
                let mut filter = by_deadline(status, at(50));
                filter.page = page(limit, cursor.as_deref());
                let got = store.list_intents(&s, &filter).await.expect("page");
                let ids: Vec<String> = got.data.iter().map(|i| i.id.clone()).collect();
                assert_eq!(got.next_cursor.is_some(), got.has_more);
                if got.has_more {
                    assert_eq!(got.next_cursor.as_ref(), ids.last());
                }
                pages.push(ids);
                if !got.has_more {
                    return pages;
                }
                cursor = got.next_cursor;
            }
            panic!("the cursor never reached the end");
        }
    };
    assert_eq!(
        walk(Some(Status::RequiresCapture), 2).await,
        vec![
            vec!["pi_e2", "pi_e4"],
            vec!["pi_e3", "pi_e5"],
            vec!["pi_e1"]
        ]
    );
    assert_eq!(
        walk(None, 1).await,
        vec![
            vec!["pi_e2"],
            vec!["pi_e4"],
            vec!["pi_captured"],
            vec!["pi_e3"],
            vec!["pi_e5"],
            vec!["pi_e1"]
        ]
    );
    assert_eq!(
        walk(None, 3).await,
        vec![
            vec!["pi_e2", "pi_e4", "pi_captured"],
            vec!["pi_e3", "pi_e5", "pi_e1"]
        ]
    );

    let mut filter = by_deadline(None, at(50));
    filter.page = page(2, Some("pi_other"));
    assert!(matches!(
        store.list_intents(&s, &filter).await,
        Err(StoreError::UnknownCursor)
    ));
    // The default order is unchanged: newest created first, with or without a deadline.
    assert_eq!(
        list_ids(&store, &s, all_intents(at(50))).await,
        vec![
            "pi_captured",
            "pi_unconfirmed",
            "pi_e5",
            "pi_e4",
            "pi_e3",
            "pi_e2",
            "pi_e1"
        ]
    );
}

/// Several processes starting at once on one database: every open succeeds and all of them see
/// the same data; opening again later finds the schema in place.
async fn concurrent_opens_migrate_once_and_share_data(url: &str) {
    let opens = (0..8).map(|_| {
        let url = url.to_owned();
        tokio::spawn(async move { holdfast_store::open(&url).await })
    });
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.expect("join").expect("open"));
    }
    let s = test_scope();
    let written = stored_intent(&stores[0], "pi_1", &s, 5000, T0).await;
    for store in &stores {
        assert_eq!(
            store.get_intent(&s, "pi_1").await.expect("get"),
            Some(written.clone())
        );
    }
    // Opening again later finds the schema in place.
    let reopened = holdfast_store::open(url).await.expect("reopen");
    assert_eq!(
        reopened.get_intent(&s, "pi_1").await.expect("get"),
        Some(written)
    );
}

/// Not part of the shared contract: a PostgreSQL store does not touch the schema while another
/// process holds the migration lock, so processes starting together cannot race.
#[tokio::test]
async fn postgres_open_waits_for_the_migration_lock() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let lock = holdfast_store::postgres::MIGRATION_LOCK;
    let holder = connect_admin(&db.url)
        .await
        .expect("connect to the test database");
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&lock])
        .await
        .expect("take the migration lock");

    let url = db.url.clone();
    let opening = tokio::spawn(async move { holdfast_store::open(&url).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !opening.is_finished(),
        "open went ahead while another process held the migration lock"
    );

    holder
        .execute("SELECT pg_advisory_unlock($1)", &[&lock])
        .await
        .expect("release the migration lock");
    let store = tokio::time::timeout(Duration::from_secs(10), opening)
        .await
        .expect("open finishes once the lock is free")
        .expect("join")
        .expect("open");
    store.ping().await.expect("ping");
}

/// Not part of the shared contract: PostgreSQL reports a server it cannot reach as unavailable.
#[tokio::test]
async fn postgres_unreachable_is_unavailable() {
    let result = holdfast_store::open("postgres://postgres@127.0.0.1:1/postgres").await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "expected Unavailable, got {result:?}"
    );
    let result = holdfast_store::postgres::PgStore::open("postgres://host:notaport/db").await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "expected Unavailable, got {result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Webhooks: the outbox, attempts, endpoints
// ---------------------------------------------------------------------------------------------

fn endpoint(id: &str, scope: &Scope, enabled_events: &[&str]) -> WebhookEndpoint {
    WebhookEndpoint {
        id: id.to_owned(),
        scope: scope.clone(),
        url: "https://merchant.example/hooks".into(),
        enabled_events: enabled_events.iter().map(|e| (*e).to_owned()).collect(),
        description: None,
        disabled: false,
        secrets: Vec::new(),
        created_at: T0,
        updated_at: T0,
    }
}

async fn add_endpoints(store: &Arc<dyn Store>, endpoints: Vec<WebhookEndpoint>) {
    let unit = UnitOfWork {
        webhook_endpoints: endpoints,
        ..UnitOfWork::default()
    };
    store.commit(unit).await.expect("store the endpoints");
}

fn pending(endpoint_id: &str, attempts: u32, log: Vec<AttemptLog>) -> DeliveryRecord {
    DeliveryRecord {
        endpoint_id: endpoint_id.into(),
        status: "pending".into(),
        attempts,
        next_attempt_at: Some(Timestamp(0)),
        log,
    }
}

fn attempt(claim: &DeliveryClaim, at: Timestamp, code: u16, next: DeliveryNext) -> DeliveryAttempt {
    DeliveryAttempt {
        claim: claim.clone(),
        attempted_at: at,
        status_code: Some(code),
        latency_ms: 25,
        error: None,
        next,
        disable_endpoint: code == 410,
    }
}

async fn deliveries(store: &Arc<dyn Store>, scope: &Scope, event_id: &str) -> Vec<DeliveryRecord> {
    store
        .list_deliveries(scope, event_id)
        .await
        .expect("list deliveries")
}

async fn webhook_outbox_attempts_resend_and_endpoint_deletion(store: Arc<dyn Store>) {
    let s = test_scope();
    let other = scope("mer_b", false);
    add_endpoints(
        &store,
        vec![
            endpoint("we_all", &s, &["*"]),
            endpoint("we_succeeded", &s, &["payment_intent.succeeded"]),
            endpoint("we_other", &other, &["*"]),
        ],
    )
    .await;

    // The event's commit queues one delivery per endpoint of its scope that wants it.
    let a = stored_intent(&store, "pi_a", &s, 5000, T0).await;
    let created = "evt_pi_a_created";
    assert_eq!(
        deliveries(&store, &s, created).await,
        vec![pending("we_all", 0, vec![])]
    );
    assert_eq!(deliveries(&store, &other, created).await, vec![]);

    // A claim leases it; a second claim within the lease takes nothing.
    let claims = store
        .claim_deliveries(at(10), at(70), 10)
        .await
        .expect("claim");
    assert_eq!(claims.len(), 1);
    assert_eq!(
        (claims[0].event_id.as_str(), claims[0].endpoint_id.as_str()),
        (created, "we_all")
    );
    assert_eq!((&claims[0].scope, claims[0].attempts), (&s, 0));
    let none = store.claim_deliveries(at(11), at(71), 10).await;
    assert_eq!(none.expect("claim"), vec![]);

    // A failed attempt is logged and retried when it says; the next one delivers.
    let retry = attempt(&claims[0], at(12), 500, DeliveryNext::RetryAt(at(100)));
    store.finish_delivery(&retry).await.expect("finish");
    let early = store.claim_deliveries(at(99), at(159), 10).await;
    assert_eq!(early.expect("claim"), vec![]);
    let claims = store
        .claim_deliveries(at(100), at(160), 10)
        .await
        .expect("claim");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].attempts, 1);
    let delivered = attempt(&claims[0], at(101), 200, DeliveryNext::Delivered);
    store.finish_delivery(&delivered).await.expect("finish");
    let log = vec![
        AttemptLog {
            attempt: 1,
            attempted_at: at(12),
            status_code: Some(500),
            latency_ms: 25,
            error: None,
            next_attempt_at: Some(at(100)),
        },
        AttemptLog {
            attempt: 2,
            attempted_at: at(101),
            status_code: Some(200),
            latency_ms: 25,
            error: None,
            next_attempt_at: None,
        },
    ];
    assert_eq!(
        deliveries(&store, &s, created).await,
        vec![DeliveryRecord {
            endpoint_id: "we_all".into(),
            status: "delivered".into(),
            attempts: 2,
            next_attempt_at: None,
            log: log.clone(),
        }]
    );

    // A resend starts the delivery over and keeps its log.
    let event = store
        .get_event(&s, created)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        store.resend_event(&event, at(200)).await.expect("resend"),
        1
    );
    assert_eq!(
        deliveries(&store, &s, created).await,
        vec![pending("we_all", 0, log.clone())]
    );

    // Another merchant cannot delete the endpoint; its owner can, once, and that cancels what
    // was still pending to it.
    let deleted = store.delete_webhook_endpoint(&other, "we_all").await;
    assert!(!deleted.expect("delete"));
    assert_eq!(
        deliveries(&store, &s, created).await,
        vec![pending("we_all", 0, log.clone())]
    );
    assert!(
        store
            .delete_webhook_endpoint(&s, "we_all")
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_webhook_endpoint(&s, "we_all")
            .await
            .expect("delete")
    );
    let canceled = deliveries(&store, &s, created).await;
    assert_eq!(canceled.len(), 1);
    assert_eq!(
        (canceled[0].status.as_str(), canceled[0].attempts),
        ("canceled", 0)
    );
    assert_eq!(
        store.get_webhook_endpoint(&s, "we_all").await.expect("get"),
        None
    );
    let unscoped = store.get_webhook_endpoint_unscoped("we_all").await;
    assert_eq!(unscoped.expect("get"), None);
    let listed = store
        .list_webhook_endpoints(&s, &page(10, None))
        .await
        .expect("list");
    let ids: Vec<&str> = listed.data.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, vec!["we_succeeded"]);
    assert!(!listed.has_more);

    // A deleted endpoint gets nothing more; the others get what they subscribed to.
    let held = commit(&store, &authorize(&a, at(300), at(5000)), "evt_a_auth").await;
    commit(&store, &capture(&held, 5000, at(301)), "evt_a_capture").await;
    assert_eq!(deliveries(&store, &s, "evt_a_auth").await, vec![]);
    assert_eq!(
        deliveries(&store, &s, "evt_a_capture").await,
        vec![pending("we_succeeded", 0, vec![])]
    );
    assert_eq!(
        store.resend_event(&event, at(302)).await.expect("resend"),
        0
    );
    let kept = store.get_webhook_endpoint(&other, "we_other").await;
    assert_eq!(
        kept.expect("get"),
        Some(endpoint("we_other", &other, &["*"]))
    );
}

async fn a_gone_endpoint_is_disabled_with_its_pending_deliveries(store: Arc<dyn Store>) {
    let s = test_scope();
    let gone_endpoint = endpoint("we_gone", &s, &["payment_intent.created"]);
    add_endpoints(&store, vec![gone_endpoint.clone()]).await;
    stored_intent(&store, "pi_a", &s, 5000, T0).await;
    add_endpoints(&store, vec![endpoint("we_live", &s, &["*"])]).await;
    stored_intent(&store, "pi_b", &s, 700, at(1)).await;

    // Claimed one at a time: the oldest first.
    let claims = store
        .claim_deliveries(at(10), at(70), 1)
        .await
        .expect("claim");
    assert_eq!(claims.len(), 1);
    assert_eq!(
        (claims[0].event_id.as_str(), claims[0].endpoint_id.as_str()),
        ("evt_pi_a_created", "we_gone")
    );
    // The endpoint answers 410 Gone: it is disabled, in its row and its document, and what was
    // still pending to it is canceled; other endpoints are untouched.
    let gone = attempt(&claims[0], at(11), 410, DeliveryNext::Failed);
    store.finish_delivery(&gone).await.expect("finish");
    let stored = store.get_webhook_endpoint(&s, "we_gone").await;
    assert_eq!(
        stored.expect("get"),
        Some(WebhookEndpoint {
            disabled: true,
            ..gone_endpoint
        })
    );
    let a = deliveries(&store, &s, "evt_pi_a_created").await;
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].status.as_str(), a[0].attempts, a[0].next_attempt_at),
        ("failed", 1, None)
    );
    assert_eq!(a[0].log.len(), 1);
    assert_eq!(a[0].log[0].status_code, Some(410));
    let b = deliveries(&store, &s, "evt_pi_b_created").await;
    let mut statuses: Vec<(&str, &str)> = b
        .iter()
        .map(|d| (d.endpoint_id.as_str(), d.status.as_str()))
        .collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        vec![("we_gone", "canceled"), ("we_live", "pending")]
    );

    // A delivery whose endpoint went away meanwhile is canceled, with no attempt recorded.
    let claims = store
        .claim_deliveries(at(20), at(80), 10)
        .await
        .expect("claim");
    assert_eq!(claims.len(), 1);
    assert_eq!(
        (claims[0].event_id.as_str(), claims[0].endpoint_id.as_str()),
        ("evt_pi_b_created", "we_live")
    );
    let canceled = DeliveryAttempt {
        status_code: None,
        ..attempt(&claims[0], at(21), 0, DeliveryNext::Canceled)
    };
    store.finish_delivery(&canceled).await.expect("finish");
    let b = deliveries(&store, &s, "evt_pi_b_created").await;
    let live: Vec<&DeliveryRecord> = b.iter().filter(|d| d.endpoint_id == "we_live").collect();
    assert_eq!(live.len(), 1);
    assert_eq!(
        (live[0].status.as_str(), live[0].attempts, live[0].log.len()),
        ("canceled", 0, 0)
    );
}

async fn purge_idempotency_deletes_the_oldest_records_up_to_the_limit(store: Arc<dyn Store>) {
    let s = test_scope();
    for (i, key) in ["k1", "k2", "k3"].into_iter().enumerate() {
        let record = IdempotencyRecord {
            created_at: at(i64::try_from(i).expect("small")),
            ..idempotency(&s, key, "fp")
        };
        let unit = UnitOfWork {
            idempotency: Some(record),
            ..UnitOfWork::default()
        };
        store.commit(unit).await.expect("commit");
    }
    // Records created before at(2): k1 and k2, at most one per call.
    assert_eq!(store.purge_idempotency(at(2), 1).await.expect("purge"), 1);
    assert_eq!(store.purge_idempotency(at(2), 5).await.expect("purge"), 1);
    assert_eq!(store.purge_idempotency(at(2), 5).await.expect("purge"), 0);
    for (key, kept) in [("k1", false), ("k2", false), ("k3", true)] {
        let found = store.get_idempotency(&s, key).await.expect("get");
        assert_eq!(found.is_some(), kept, "{key}");
    }
}
