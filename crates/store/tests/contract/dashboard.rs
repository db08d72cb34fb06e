//! The dashboard's part of the store contract, on both backends: users (versioned, one per
//! email), sessions, API key listing and revocation through a unit, intent search, the money at
//! risk, the daily totals and an endpoint's delivery log.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected value; helper fns are not #[test] fns"
)]

use holdfast_domain::user::{Role, Session, User};
use holdfast_domain::webhook::{SealedSecret, WebhookEndpoint};
use holdfast_store::{DeliveryAttempt, DeliveryNext, IntentSearch};

use super::*;

contract_tests! {
    store: [
        users_are_versioned_and_one_per_email,
        sessions_round_trip_touch_and_purge,
        api_keys_list_per_merchant_and_mode_and_revoke_through_a_unit,
        intents_search_by_currency_amount_reference_and_clock,
        money_at_risk_counts_open_holds_by_deadline_per_currency,
        daily_totals_add_up_the_days_events,
        an_endpoints_delivery_log_has_its_attempts,
    ],
    url: [],
}

fn user(id: &str, merchant_id: &str, email: &str, version: u64) -> User {
    User {
        id: id.to_owned(),
        version,
        merchant_id: merchant_id.to_owned(),
        email: email.to_owned(),
        role: Role::Operator,
        password_hash: "$argon2id$fake".to_owned(),
        disabled: false,
        session_epoch: 0,
        created_at: T0,
        updated_at: T0,
        last_login_at: None,
    }
}

async fn with_users(store: &Arc<dyn Store>, users: Vec<User>) -> Result<(), StoreError> {
    store
        .commit(UnitOfWork {
            users,
            ..UnitOfWork::default()
        })
        .await
}

async fn users_are_versioned_and_one_per_email(store: Arc<dyn Store>) {
    store
        .create_merchant(&merchant("mer_a"), &[])
        .await
        .unwrap();
    store
        .create_merchant(&merchant("mer_b"), &[])
        .await
        .unwrap();
    let ops = user("usr_1", "mer_a", "ops@example.com", 1);
    with_users(&store, vec![ops.clone()]).await.unwrap();
    assert_eq!(store.get_user("usr_1").await.unwrap(), Some(ops.clone()));
    assert_eq!(
        store.get_user_by_email("ops@example.com").await.unwrap(),
        Some(ops.clone())
    );
    assert_eq!(store.get_user("usr_9").await.unwrap(), None);
    // One user per email, whichever merchant.
    assert_conflict(with_users(&store, vec![user("usr_2", "mer_b", "ops@example.com", 1)]).await);
    with_users(
        &store,
        vec![user("usr_3", "mer_a", "viewer@example.com", 1)],
    )
    .await
    .unwrap();
    with_users(&store, vec![user("usr_4", "mer_b", "b@example.com", 1)])
        .await
        .unwrap();
    let listed: Vec<String> = store
        .list_users("mer_a")
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(listed, ["usr_1", "usr_3"]);
    // An update names the version it was made from; a stale one writes nothing.
    let disabled = User {
        version: 2,
        disabled: true,
        ..ops.clone()
    };
    with_users(&store, vec![disabled.clone()]).await.unwrap();
    let stale = User {
        version: 2,
        role: Role::Admin,
        ..ops
    };
    assert_conflict(with_users(&store, vec![stale]).await);
    assert_eq!(store.get_user("usr_1").await.unwrap(), Some(disabled));
}

fn session(hash: &str, user_id: &str, created_at: Timestamp, seen: Timestamp) -> Session {
    Session {
        token_hash: hash.to_owned(),
        user_id: user_id.to_owned(),
        user_epoch: 2,
        csrf_token: format!("csrf_{hash}"),
        created_at,
        last_seen_at: seen,
    }
}

async fn sessions_round_trip_touch_and_purge(store: Arc<dyn Store>) {
    let first = session("h1", "usr_1", T0, T0);
    store.insert_session(&first).await.unwrap();
    assert_conflict(store.insert_session(&first).await);
    assert_eq!(store.get_session("h1").await.unwrap(), Some(first.clone()));
    assert_eq!(store.get_session("h2").await.unwrap(), None);
    store.touch_session("h1", at(120)).await.unwrap();
    // A touch never moves the last use back.
    store.touch_session("h1", at(60)).await.unwrap();
    assert_eq!(
        store.get_session("h1").await.unwrap().unwrap().last_seen_at,
        at(120)
    );
    store
        .insert_session(&session("h2", "usr_1", at(100), at(5_000)))
        .await
        .unwrap();
    store
        .insert_session(&session("h3", "usr_2", at(-50_000), at(4_000)))
        .await
        .unwrap();
    // Idle since before 1,000, or begun before -10,000: h1 and h3 go.
    assert_eq!(
        store
            .purge_sessions(at(1_000), at(-10_000), 100)
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.get_session("h1").await.unwrap(), None);
    assert_eq!(store.get_session("h3").await.unwrap(), None);
    store.delete_session("h2").await.unwrap();
    assert_eq!(store.get_session("h2").await.unwrap(), None);
}

async fn api_keys_list_per_merchant_and_mode_and_revoke_through_a_unit(store: Arc<dyn Store>) {
    let test = api_key("mer_a", false, "sk_test_aaaaaaaa", "hash_a");
    let live = api_key("mer_a", true, "sk_live_bbbbbbbb", "hash_b");
    let other = api_key("mer_b", false, "sk_test_cccccccc", "hash_c");
    store
        .create_merchant(&merchant("mer_a"), &[test.clone(), live.clone()])
        .await
        .unwrap();
    store
        .create_merchant(&merchant("mer_b"), &[other])
        .await
        .unwrap();
    let fresh = ApiKey {
        created_at: at(10),
        ..api_key("mer_a", false, "sk_test_dddddddd", "hash_d")
    };
    store
        .commit(UnitOfWork {
            api_keys: vec![fresh.clone()],
            ..UnitOfWork::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store.list_api_keys("mer_a", false).await.unwrap(),
        vec![fresh.clone(), test.clone()]
    );
    assert_eq!(
        store.list_api_keys("mer_a", true).await.unwrap(),
        vec![live]
    );
    let revoked = ApiKey {
        revoked_at: Some(at(20)),
        ..test
    };
    store
        .commit(UnitOfWork {
            api_keys: vec![revoked.clone()],
            ..UnitOfWork::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store.list_api_keys("mer_a", false).await.unwrap(),
        vec![fresh, revoked]
    );
    assert_eq!(
        store.api_keys_by_prefix("sk_test_aaaaaaaa").await.unwrap()[0].revoked_at,
        Some(at(20))
    );
}

/// A hold of `amount` in `currency` with a reference, its deadline `expires` seconds after T0.
async fn hold_in(
    store: &Arc<dyn Store>,
    id: &str,
    s: &Scope,
    (amount, currency): (i64, &str),
    reference: Option<&str>,
    clock: Option<&str>,
    expires: i64,
) -> PaymentIntent {
    let req = CreateRequest {
        amount: Some(RawMoney {
            amount,
            currency: currency.into(),
        }),
        capture_method: Some("manual".into()),
        reference: reference.map(str::to_owned),
        test_clock_id: clock.map(str::to_owned),
        ..CreateRequest::default()
    };
    let created = intent::create(id.to_owned(), s.clone(), format!("h_{id}"), req, T0).unwrap();
    let created = commit(store, &created, &format!("evt_{id}_c")).await;
    commit(
        store,
        &authorize(&created, T0, at(expires)),
        &format!("evt_{id}_a"),
    )
    .await
}

fn open_holds_filter() -> IntentFilter {
    IntentFilter {
        status: Some(Status::RequiresCapture),
        order: IntentOrder::ExpiresAsc,
        ..all_intents(T0)
    }
}

async fn intents_search_by_currency_amount_reference_and_clock(store: Arc<dyn Store>) {
    let s = test_scope();
    hold_in(
        &store,
        "pi_1",
        &s,
        (1_000, "USD"),
        Some("order-1"),
        None,
        3_600,
    )
    .await;
    hold_in(
        &store,
        "pi_2",
        &s,
        (5_000, "USD"),
        Some("order-2"),
        None,
        7_200,
    )
    .await;
    hold_in(
        &store,
        "pi_3",
        &s,
        (5_000, "EUR"),
        Some("order-1"),
        None,
        9_000,
    )
    .await;
    hold_in(
        &store,
        "pi_4",
        &s,
        (9_000, "USD"),
        None,
        Some("clock_1"),
        10_000,
    )
    .await;
    hold_in(
        &store,
        "pi_5",
        &scope("mer_b", false),
        (5_000, "USD"),
        Some("order-1"),
        None,
        1,
    )
    .await;
    let search = |search: IntentSearch| {
        let store = Arc::clone(&store);
        let s = s.clone();
        async move {
            let page = store
                .search_intents(&s, &open_holds_filter(), &search)
                .await
                .unwrap();
            intent_ids(&page)
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        }
    };
    let usd = Currency::parse("USD");
    assert_eq!(
        search(IntentSearch::default()).await,
        ["pi_1", "pi_2", "pi_3", "pi_4"]
    );
    assert_eq!(
        search(IntentSearch {
            currency: usd,
            amount_min: Some(2_000),
            ..IntentSearch::default()
        })
        .await,
        ["pi_2", "pi_4"]
    );
    assert_eq!(
        search(IntentSearch {
            currency: usd,
            amount_min: Some(1_000),
            amount_max: Some(5_000),
            ..IntentSearch::default()
        })
        .await,
        ["pi_1", "pi_2"]
    );
    assert_eq!(
        search(IntentSearch {
            reference: Some("order-1".into()),
            ..IntentSearch::default()
        })
        .await,
        ["pi_1", "pi_3"]
    );
    assert_eq!(
        search(IntentSearch {
            test_clock: Some("clock_1".into()),
            ..IntentSearch::default()
        })
        .await,
        ["pi_4"]
    );
    // list_intents is the search with nothing narrowed.
    assert_eq!(
        list_ids(&store, &s, open_holds_filter()).await,
        ["pi_1", "pi_2", "pi_3", "pi_4"]
    );
}

async fn money_at_risk_counts_open_holds_by_deadline_per_currency(store: Arc<dyn Store>) {
    let s = test_scope();
    let hour = 3_600;
    hold_in(&store, "pi_1", &s, (1_000, "USD"), None, None, 2 * hour).await;
    hold_in(&store, "pi_2", &s, (2_000, "USD"), None, None, 30 * hour).await;
    hold_in(&store, "pi_3", &s, (4_000, "USD"), None, None, 100 * hour).await;
    hold_in(&store, "pi_4", &s, (500, "EUR"), None, None, 10 * hour).await;
    // Already past its deadline: not at risk any more, it is lost.
    hold_in(&store, "pi_5", &s, (8_000, "USD"), None, None, -1).await;
    // Captured: resolved.
    let captured = hold_in(&store, "pi_6", &s, (700, "USD"), None, None, hour).await;
    commit(&store, &capture(&captured, 700, T0), "evt_pi_6_cap").await;
    // Another merchant's.
    hold_in(
        &store,
        "pi_7",
        &scope("mer_b", false),
        (900, "USD"),
        None,
        None,
        hour,
    )
    .await;
    let risk = store.money_at_risk(&s, T0).await.unwrap();
    let rows: Vec<(String, u64, i64, u64, i64)> = risk
        .iter()
        .map(|r| {
            (
                r.currency.to_string(),
                r.within_24h_count,
                r.within_24h_amount,
                r.within_72h_count,
                r.within_72h_amount,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("EUR".to_owned(), 1, 500, 1, 500),
            ("USD".to_owned(), 1, 1_000, 2, 3_000)
        ]
    );
}

async fn daily_totals_add_up_the_days_events(store: Arc<dyn Store>) {
    let s = test_scope();
    // Three holds placed on T0's day; one captured in part, one voided, one expired.
    let a = hold_in(&store, "pi_1", &s, (12_900, "USD"), None, None, 86_400 * 7).await;
    let b = hold_in(&store, "pi_2", &s, (5_000, "USD"), None, None, 86_400 * 7).await;
    let c = hold_in(&store, "pi_3", &s, (3_000, "USD"), None, None, 60).await;
    commit(&store, &capture(&a, 9_800, at(10)), "evt_cap").await;
    commit(&store, &cancel(&b, at(20)), "evt_void").await;
    let expired = with_ctx(at(61), |ctx| intent::apply_expiry(&c, ctx)).unwrap();
    commit(&store, &expired, "evt_exp").await;
    let day = T0.seconds() / 86_400;
    let totals = store
        .daily_totals(&s, Timestamp(day * 86_400), at(100))
        .await
        .unwrap();
    assert_eq!(totals.len(), 1, "{totals:?}");
    let t = &totals[0];
    assert_eq!((t.day, t.currency.as_str()), (day, "USD"));
    assert_eq!(
        (
            t.authorized,
            t.captured,
            t.released_by_void,
            t.released_by_expiry,
            t.refunded
        ),
        (20_900, 9_800, 5_000, 3_000, 0)
    );
    assert_eq!(
        (
            t.holds_placed,
            t.holds_captured,
            t.holds_voided,
            t.holds_expired
        ),
        (3, 1, 1, 1)
    );
    // Another mode, or a window after the day, sees nothing.
    assert!(
        store
            .daily_totals(&scope("mer_a", true), Timestamp(0), at(100))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .daily_totals(&s, at(86_400), at(2 * 86_400))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn an_endpoints_delivery_log_has_its_attempts(store: Arc<dyn Store>) {
    let s = test_scope();
    let endpoint = WebhookEndpoint {
        id: "we_1".into(),
        scope: s.clone(),
        url: "http://127.0.0.1:9/hooks".into(),
        enabled_events: vec!["*".into()],
        description: None,
        disabled: false,
        secrets: vec![SealedSecret {
            sealed: "sealed".into(),
            created_at: T0,
            expires_at: None,
        }],
        created_at: T0,
        updated_at: T0,
    };
    store
        .commit(UnitOfWork {
            webhook_endpoints: vec![endpoint],
            ..UnitOfWork::default()
        })
        .await
        .unwrap();
    stored_intent(&store, "pi_1", &s, 1_000, at(1)).await;
    stored_intent(&store, "pi_2", &s, 2_000, at(2)).await;
    let claims = store.claim_deliveries(at(5), at(65), 10).await.unwrap();
    assert_eq!(claims.len(), 2);
    let first = claims
        .iter()
        .find(|c| c.event_id == "evt_pi_1_created")
        .unwrap()
        .clone();
    store
        .finish_delivery(&DeliveryAttempt {
            claim: first,
            attempted_at: at(6),
            status_code: Some(500),
            latency_ms: 12,
            error: None,
            next: DeliveryNext::RetryAt(at(11)),
            disable_endpoint: false,
        })
        .await
        .unwrap();
    let log = store.endpoint_deliveries(&s, "we_1", 10).await.unwrap();
    let events: Vec<&str> = log.iter().map(|d| d.event_id.as_str()).collect();
    assert_eq!(
        events,
        ["evt_pi_2_created", "evt_pi_1_created"],
        "newest first"
    );
    assert!(log[0].record.log.is_empty());
    let attempted = &log[1].record;
    assert_eq!(
        (attempted.status.as_str(), attempted.attempts),
        ("pending", 1)
    );
    assert_eq!(attempted.log.len(), 1);
    assert_eq!(
        (attempted.log[0].status_code, attempted.log[0].latency_ms),
        (Some(500), 12)
    );
    assert!(
        store
            .endpoint_deliveries(&scope("mer_b", false), "we_1", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .endpoint_deliveries(&s, "we_1", 1)
            .await
            .unwrap()
            .len(),
        1
    );
}
