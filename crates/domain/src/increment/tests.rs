//! Incremental authorization: a table of (starting state, increment) with the exact outcome, and
//! what an approval and a decline leave behind.

use super::*;
use crate::intent::tests::{T0, card, raw, scope, with_ctx};
use crate::intent::{
    AuthorizationResult, CaptureRequest, CreateRequest, NewIntent, apply_authorization,
    apply_cancel, apply_capture, decide_cancel, decide_capture,
};
use crate::time::SECONDS_PER_DAY;
use crate::{Currency, Timestamp};

const A: i64 = 10_000;
const AUTHORIZED_AT: Timestamp = T0.plus_seconds(60);
const DEADLINE: Timestamp = AUTHORIZED_AT.plus_seconds(7 * SECONDS_PER_DAY);
const WITHIN: Timestamp = AUTHORIZED_AT.plus_seconds(SECONDS_PER_DAY);
const PAST: Timestamp = DEADLINE.plus_seconds(1);

fn created(incremental: bool, multicapture: bool) -> PaymentIntent {
    NewIntent {
        id: "pi_inc".into(),
        scope: scope(),
        client_secret_hash: "hash".into(),
        has_payment_source: false,
        expiry_warning_lead_seconds: None,
        now: T0,
    }
    .create(CreateRequest {
        amount: Some(raw(A, "USD")),
        capture_method: Some("manual".into()),
        incremental_authorization: incremental,
        multicapture,
        ..CreateRequest::default()
    })
    .expect("valid")
    .intent
}

fn held(incremental: bool, multicapture: bool) -> PaymentIntent {
    let hold = AuthorizationResult::Authorized {
        card: card(),
        processor_ref: "ch_inc".into(),
        expires_at: DEADLINE,
        captured: false,
    };
    let c = created(incremental, multicapture);
    with_ctx(AUTHORIZED_AT, |ctx| {
        apply_authorization(&c, hold, None, ctx)
    })
    .intent
}

fn captured(intent: &PaymentIntent, amount: i64, final_capture: bool) -> PaymentIntent {
    let req = CaptureRequest {
        amount: Some(raw(amount, "USD")),
        final_capture: Some(final_capture),
        ..CaptureRequest::default()
    };
    let money = decide_capture(intent, &req, WITHIN).expect("capturable");
    with_ctx(WITHIN, |ctx| apply_capture(intent, money, &req, ctx)).intent
}

fn ask(total: i64, currency: &str) -> IncrementRequest {
    IncrementRequest {
        amount: Some(raw(total, currency)),
    }
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    Rejected(ErrorCode, Option<&'static str>),
    /// authorized, capturable, captured, released after approval.
    Grows([i64; 4]),
}

#[test]
fn increments_by_state_and_amount() {
    use ErrorCode as E;
    use Expect::{Grows, Rejected};
    let voided = {
        let h = held(true, false);
        let plan = decide_cancel(&h, None, WITHIN).expect("voidable");
        with_ctx(WITHIN, |ctx| apply_cancel(&h, &plan, ctx)).intent
    };
    let rows: Vec<(&str, PaymentIntent, Timestamp, IncrementRequest, Expect)> = vec![
        (
            "not opted in",
            held(false, false),
            WITHIN,
            ask(15_000, "USD"),
            Rejected(E::IncrementalAuthorizationNotEnabled, None),
        ),
        (
            "opt-in checked before the status",
            created(false, false),
            WITHIN,
            ask(15_000, "USD"),
            Rejected(E::IncrementalAuthorizationNotEnabled, None),
        ),
        (
            "no hold yet",
            created(true, false),
            WITHIN,
            ask(15_000, "USD"),
            Rejected(E::InvalidStatusForCapture, None),
        ),
        (
            "held",
            held(true, false),
            WITHIN,
            ask(15_000, "USD"),
            Grows([15_000, 15_000, 0, 0]),
        ),
        (
            "a cent more",
            held(true, false),
            WITHIN,
            ask(A + 1, "USD"),
            Grows([A + 1, A + 1, 0, 0]),
        ),
        (
            "the same total",
            held(true, false),
            WITHIN,
            ask(A, "USD"),
            Rejected(E::InvalidIncrementAmount, Some("amount_money.amount")),
        ),
        (
            "less",
            held(true, false),
            WITHIN,
            ask(5_000, "USD"),
            Rejected(E::InvalidIncrementAmount, Some("amount_money.amount")),
        ),
        (
            "zero",
            held(true, false),
            WITHIN,
            ask(0, "USD"),
            Rejected(E::InvalidIncrementAmount, Some("amount_money.amount")),
        ),
        (
            "another currency",
            held(true, false),
            WITHIN,
            ask(15_000, "EUR"),
            Rejected(E::InvalidIncrementAmount, Some("amount_money.currency")),
        ),
        (
            "no amount",
            held(true, false),
            WITHIN,
            IncrementRequest::default(),
            Rejected(E::MissingParameter, Some("amount_money")),
        ),
        (
            "past the deadline",
            held(true, false),
            PAST,
            ask(15_000, "USD"),
            Rejected(E::PaymentAuthorizationExpired, None),
        ),
        (
            "captured",
            captured(&held(true, false), 4_000, true),
            WITHIN,
            ask(15_000, "USD"),
            Rejected(E::InvalidStatusForCapture, None),
        ),
        (
            "voided",
            voided,
            WITHIN,
            ask(15_000, "USD"),
            Rejected(E::InvalidStatusForCapture, None),
        ),
        (
            "partly captured multicapture",
            captured(&held(true, true), 4_000, false),
            WITHIN,
            ask(15_000, "USD"),
            Grows([15_000, 11_000, 4_000, 0]),
        ),
    ];
    let mut failures = Vec::new();
    for (name, intent, now, req, expect) in rows {
        let decided = decide_increment(&intent, &req, now);
        let ok = match (&decided, expect) {
            (Err(r), Rejected(code, param)) => r.code == code && r.param.as_deref() == param,
            (Ok(total), Grows(money)) => {
                let t = with_ctx(now, |ctx| {
                    apply_increment(&intent, *total, &IncrementResult::Approved, ctx)
                });
                let n = &t.intent;
                [n.authorized, n.capturable, n.captured, n.released] == money
                    && n.money_invariant_holds()
                    && n.version == intent.version + 1
                    && n.authorization_expires_at == intent.authorization_expires_at
                    && n.amount.amount == money[0]
                    && t.events == [EventType::PaymentIntentAmountCapturableUpdated]
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{name}: expected {expect:?}, got {decided:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_approval_records_the_difference_and_a_decline_changes_no_money() {
    let h = held(true, false);
    let total = decide_increment(&h, &ask(12_500, "USD"), WITHIN).expect("valid");
    let grown = with_ctx(WITHIN, |ctx| {
        apply_increment(&h, total, &IncrementResult::Approved, ctx)
    })
    .intent;
    let action = grown.actions.last().expect("an action");
    assert_eq!(
        (action.kind, action.status, action.amount),
        (
            ActionType::Increment,
            ActionStatus::Succeeded,
            Money::new(2_500, Currency::parse("USD").expect("USD"))
        )
    );
    let declined = IncrementResult::Declined(PaymentError {
        code: "CARD_DECLINED".into(),
        decline_code: "generic_decline".into(),
        message: "The card was declined.".into(),
    });
    let t = with_ctx(WITHIN, |ctx| apply_increment(&h, total, &declined, ctx));
    let n = &t.intent;
    assert_eq!(
        (
            n.authorized,
            n.capturable,
            n.amount,
            n.authorization_expires_at,
            n.status
        ),
        (
            h.authorized,
            h.capturable,
            h.amount,
            h.authorization_expires_at,
            h.status
        )
    );
    assert!(t.events.is_empty());
    let action = n.actions.last().expect("the failed attempt is recorded");
    assert_eq!(
        (action.kind, action.status, action.amount.amount),
        (ActionType::Increment, ActionStatus::Failed, 2_500)
    );
}

#[test]
fn incremental_authorization_is_for_manual_capture_only() {
    let err = NewIntent {
        id: "pi_auto".into(),
        scope: scope(),
        client_secret_hash: "hash".into(),
        has_payment_source: false,
        expiry_warning_lead_seconds: None,
        now: T0,
    }
    .create(CreateRequest {
        amount: Some(raw(A, "USD")),
        incremental_authorization: true,
        ..CreateRequest::default()
    })
    .expect_err("automatic capture has no hold to grow");
    assert_eq!(
        (err.code, err.param.as_deref()),
        (
            ErrorCode::InvalidParameter,
            Some("incremental_authorization")
        )
    );
}
