//! Checkout sessions in the store contract, on both backends: inserted at version 1, updated only
//! from the version stored, found by id in scope and by id alone, listed newest first with a
//! cursor, and the open ones whose time is up found for the worker.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected value; helper fns are not #[test] fns"
)]

use holdfast_domain::checkout::{self, CheckoutSession, CreateSession, SessionStatus};

use super::*;

contract_tests! {
    store: [
        checkout_sessions_are_versioned_and_scoped,
        checkout_sessions_list_newest_first_and_due_ones_are_found,
    ],
    url: [],
}

fn new_session(
    id: &str,
    scope: &Scope,
    amount: i64,
    lifetime: i64,
    now: Timestamp,
) -> CheckoutSession {
    let req = CreateSession {
        amount: Some(RawMoney {
            amount,
            currency: "USD".into(),
        }),
        success_url: Some("https://shop.example/ok".into()),
        cancel_url: Some("https://shop.example/back".into()),
        expires_in_seconds: Some(lifetime),
        ..CreateSession::default()
    };
    checkout::create_session(id.into(), scope.clone(), format!("/pay/{id}"), req, now)
        .unwrap()
        .session
}

async fn put(store: &Arc<dyn Store>, session: &CheckoutSession) -> Result<(), StoreError> {
    store
        .commit(UnitOfWork {
            checkout_sessions: vec![session.clone()],
            ..UnitOfWork::default()
        })
        .await
}

async fn checkout_sessions_are_versioned_and_scoped(store: Arc<dyn Store>) {
    let s = test_scope();
    let session = new_session("cs_a", &s, 2500, 3600, T0);
    put(&store, &session).await.unwrap();
    assert_eq!(
        store.get_checkout_session(&s, "cs_a").await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        store.get_checkout_session_unscoped("cs_a").await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        store
            .get_checkout_session(&scope("mch_other", false), "cs_a")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_checkout_session(&scope(&s.merchant_id, true), "cs_a")
            .await
            .unwrap(),
        None
    );
    assert_conflict(put(&store, &session).await);
    let expired = checkout::decide_expire(&session, at(10)).unwrap().session;
    assert_eq!(expired.version, 2);
    put(&store, &expired).await.unwrap();
    // A second change computed from version 1 lost the race: nothing of it is written.
    let stale = checkout::decide_expire(&session, at(11)).unwrap().session;
    assert_conflict(put(&store, &stale).await);
    let stored = store
        .get_checkout_session(&s, "cs_a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, SessionStatus::Expired);
    assert_eq!(stored.expired_at, Some(at(10)));
    assert_eq!(
        store
            .get_checkout_session_unscoped("cs_none")
            .await
            .unwrap(),
        None
    );
}

async fn checkout_sessions_list_newest_first_and_due_ones_are_found(store: Arc<dyn Store>) {
    let s = test_scope();
    let other = scope("mch_other", false);
    for (i, id) in ["cs_1", "cs_2", "cs_3"].iter().enumerate() {
        let lifetime = 3600 * (3 - i as i64);
        put(&store, &new_session(id, &s, 100, lifetime, T0))
            .await
            .unwrap();
    }
    put(&store, &new_session("cs_x", &other, 100, 60, T0))
        .await
        .unwrap();
    let first = store
        .list_checkout_sessions(&s, &page(2, None))
        .await
        .unwrap();
    let ids: Vec<&str> = first.data.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["cs_3", "cs_2"]);
    assert!(first.has_more);
    let rest = store
        .list_checkout_sessions(&s, &page(2, first.next_cursor.as_deref()))
        .await
        .unwrap();
    let ids: Vec<&str> = rest.data.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["cs_1"]);
    assert!(!rest.has_more);
    assert!(matches!(
        store
            .list_checkout_sessions(&s, &page(2, Some("cs_x")))
            .await,
        Err(StoreError::UnknownCursor)
    ));
    // Due: every merchant's open sessions whose time is up, soonest first, up to the limit.
    let due = store.due_checkout_sessions(at(3600), 10).await.unwrap();
    let ids: Vec<&str> = due.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["cs_x", "cs_3"]);
    let due = store.due_checkout_sessions(at(7200), 1).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].id, "cs_x");
    let gone = checkout::apply_expiry(&due[0], at(7200)).unwrap().session;
    put(&store, &gone).await.unwrap();
    let due = store.due_checkout_sessions(at(7200), 10).await.unwrap();
    let ids: Vec<&str> = due.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["cs_3", "cs_2"]);
}
