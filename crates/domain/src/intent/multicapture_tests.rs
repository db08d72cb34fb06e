//! Multicapture, the TigerBeetle way: a table with a row for every (starting state, command) pair
//! of a hold captured in parts, next to the one-shot hold it must leave as it was.
//!
//! Every starting state is built with the real functions, so the table also walks the paths that
//! lead to each state: a non-final capture, a void or an expiry after it, a final capture.

use super::tests::{T0, card, raw, scope, usd, with_ctx};
use super::*;
use crate::refund::{RefundRequest, decide_refund, reserve_refund};
use crate::time::SECONDS_PER_DAY;
use {ErrorCode as E, EventType as Ev, Status as St};

/// The hold: $100.00.
const A: i64 = 10_000;
/// The first shipment, captured with `final_capture: false`.
const FIRST: i64 = 4_000;
const AUTHORIZED_AT: Timestamp = T0.plus_seconds(60);
const DEADLINE: Timestamp = AUTHORIZED_AT.plus_seconds(7 * SECONDS_PER_DAY);
const WITHIN: Timestamp = AUTHORIZED_AT.plus_seconds(SECONDS_PER_DAY);
const PAST: Timestamp = DEADLINE.plus_seconds(1);

fn held(multicapture: bool) -> PaymentIntent {
    let created = NewIntent {
        id: "pi_multi".into(),
        scope: scope(),
        client_secret_hash: "hash".into(),
        has_payment_source: false,
        expiry_warning_lead_seconds: None,
        now: T0,
    }
    .create(CreateRequest {
        amount: Some(raw(A, "USD")),
        capture_method: Some("manual".into()),
        multicapture,
        ..CreateRequest::default()
    })
    .expect("a valid request")
    .intent;
    let hold = AuthorizationResult::Authorized {
        card: card(),
        processor_ref: "ch_multi".into(),
        expires_at: DEADLINE,
        captured: false,
    };
    with_ctx(AUTHORIZED_AT, |ctx| {
        apply_authorization(&created, hold, None, ctx)
    })
    .intent
}

fn capture_req(amount: Option<i64>, final_capture: Option<bool>) -> CaptureRequest {
    CaptureRequest {
        amount: amount.map(|a| raw(a, "USD")),
        final_capture,
        reference: Some("shipment".into()),
        ..CaptureRequest::default()
    }
}

fn capture(
    intent: &PaymentIntent,
    req: &CaptureRequest,
    now: Timestamp,
) -> Result<Transition, Rejection> {
    let money = decide_capture(intent, req, now)?;
    Ok(with_ctx(now, |ctx| apply_capture(intent, money, req, ctx)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Multicapture, held, nothing captured yet.
    Held,
    /// Multicapture, $40.00 captured with `final_capture: false`.
    Partly,
    /// The same, with the command arriving after the deadline (no worker recorded it).
    PartlyPastDeadline,
    /// Partly captured, then voided: succeeded for $40.00.
    PartlyVoided,
    /// Partly captured, then expired: succeeded for $40.00.
    PartlyExpired,
    /// Partly captured, then the final capture of the rest.
    Final,
    /// A one-shot hold (no opt-in).
    OneShot,
    /// A one-shot hold, captured.
    OneShotCaptured,
}

const STARTS: [Start; 8] = [
    Start::Held,
    Start::Partly,
    Start::PartlyPastDeadline,
    Start::PartlyVoided,
    Start::PartlyExpired,
    Start::Final,
    Start::OneShot,
    Start::OneShotCaptured,
];

fn start(s: Start) -> (PaymentIntent, Timestamp) {
    let partly = || {
        capture(&held(true), &capture_req(Some(FIRST), Some(false)), WITHIN)
            .expect("a non-final capture")
            .intent
    };
    let later = WITHIN.plus_seconds(60);
    match s {
        Start::Held => (held(true), WITHIN),
        Start::Partly => (partly(), later),
        Start::PartlyPastDeadline => (partly(), PAST),
        Start::PartlyVoided => {
            let p = partly();
            let plan = decide_cancel(&p, None, later).expect("voidable");
            let voided = with_ctx(later, |ctx| apply_cancel(&p, &plan, ctx)).intent;
            (voided, later.plus_seconds(60))
        }
        Start::PartlyExpired => {
            let expired = with_ctx(PAST, |ctx| apply_expiry(&partly(), ctx))
                .expect("due")
                .intent;
            (expired, PAST.plus_seconds(60))
        }
        Start::Final => {
            let done = capture(&partly(), &capture_req(None, None), later)
                .expect("the final capture")
                .intent;
            (done, later.plus_seconds(60))
        }
        Start::OneShot => (held(false), WITHIN),
        Start::OneShotCaptured => {
            let done = capture(&held(false), &capture_req(None, None), WITHIN)
                .expect("a capture")
                .intent;
            (done, later)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// Capture $30.00 with `final_capture: false`.
    NonFinal,
    /// Capture everything still capturable with `final_capture: false`.
    NonFinalAll,
    /// Capture $10.00, final: the rest is released.
    FinalPart,
    /// Capture with no amount (final): everything still capturable.
    FinalRest,
    /// Capture a cent more than still capturable, `final_capture: false`.
    NonFinalOver,
    /// Void.
    Void,
    /// The deadline worker, after the deadline.
    Expire,
    /// Refund everything refundable.
    Refund,
}

const COMMANDS: [Command; 8] = [
    Command::NonFinal,
    Command::NonFinalAll,
    Command::FinalPart,
    Command::FinalRest,
    Command::NonFinalOver,
    Command::Void,
    Command::Expire,
    Command::Refund,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Rejected(ErrorCode, Option<&'static str>),
    /// To this status, with authorized, capturable, captured, released, and these events.
    Moves(Status, [i64; 4], &'static [EventType]),
    /// Nothing to do (expiry of a resolved intent).
    Nothing,
}

const fn no(code: ErrorCode) -> Expect {
    Expect::Rejected(code, None)
}

const fn no_at(code: ErrorCode, param: &'static str) -> Expect {
    Expect::Rejected(code, Some(param))
}

const NOT_ENABLED: Expect = no_at(E::MulticaptureNotEnabled, "final_capture");
const OVER: Expect = no_at(E::CaptureAmountExceedsAuthorized, "amount_money.amount");
const NOT_CAPTURABLE: Expect = no(E::InvalidStatusForCapture);
const LAPSED: Expect = no(E::PaymentAuthorizationExpired);
const SUCCEEDED: Expect = no(E::CannotCancelSucceededPayment);
const NOT_REFUNDABLE: Expect = no_at(E::PaymentIntentNotRefundable, "payment_intent_id");
const REST: i64 = A - FIRST;
const DONE: &[EventType] = &[Ev::PaymentIntentSucceeded];
const UPDATED: &[EventType] = &[Ev::PaymentIntentAmountCapturableUpdated];
const REFUNDING: &[EventType] = &[Ev::RefundCreated];
const PARTLY_SETTLED: Expect = Expect::Moves(St::Succeeded, [A, 0, FIRST, REST], DONE);

#[rustfmt::skip]
const TABLE: &[(Start, Command, Expect)] = &[
    // A multicapture hold with nothing captured: each capture is its own; a void or expiry is as today.
    (Start::Held, Command::NonFinal,     Expect::Moves(St::RequiresCapture, [A, A - 3_000, 3_000, 0], UPDATED)),
    (Start::Held, Command::NonFinalAll,  Expect::Moves(St::Succeeded, [A, 0, A, 0], DONE)),
    (Start::Held, Command::FinalPart,    Expect::Moves(St::Succeeded, [A, 0, 1_000, A - 1_000], DONE)),
    (Start::Held, Command::FinalRest,    Expect::Moves(St::Succeeded, [A, 0, A, 0], DONE)),
    (Start::Held, Command::NonFinalOver, OVER),
    (Start::Held, Command::Void,         Expect::Moves(St::Canceled, [A, 0, 0, A], &[Ev::PaymentIntentCanceled])),
    (Start::Held, Command::Expire,       Expect::Moves(St::Expired, [A, 0, 0, A], &[Ev::PaymentIntentCanceled])),
    (Start::Held, Command::Refund,       NOT_REFUNDABLE),
    // Partly captured: the rest stays capturable, and refunds apply to what was captured.
    (Start::Partly, Command::NonFinal,     Expect::Moves(St::RequiresCapture, [A, REST - 3_000, FIRST + 3_000, 0], UPDATED)),
    (Start::Partly, Command::NonFinalAll,  Expect::Moves(St::Succeeded, [A, 0, A, 0], DONE)),
    (Start::Partly, Command::FinalPart,    Expect::Moves(St::Succeeded, [A, 0, FIRST + 1_000, REST - 1_000], DONE)),
    (Start::Partly, Command::FinalRest,    Expect::Moves(St::Succeeded, [A, 0, A, 0], DONE)),
    (Start::Partly, Command::NonFinalOver, OVER),
    (Start::Partly, Command::Void,         PARTLY_SETTLED),
    (Start::Partly, Command::Expire,       PARTLY_SETTLED),
    (Start::Partly, Command::Refund,       Expect::Moves(St::RequiresCapture, [A, REST, FIRST, 0], REFUNDING)),
    // Partly captured, past the deadline: the rest lapsed; what was captured stays captured.
    (Start::PartlyPastDeadline, Command::NonFinal,     LAPSED),
    (Start::PartlyPastDeadline, Command::NonFinalAll,  LAPSED),
    (Start::PartlyPastDeadline, Command::FinalPart,    LAPSED),
    (Start::PartlyPastDeadline, Command::FinalRest,    LAPSED),
    (Start::PartlyPastDeadline, Command::NonFinalOver, LAPSED),
    (Start::PartlyPastDeadline, Command::Void,         SUCCEEDED),
    (Start::PartlyPastDeadline, Command::Expire,       PARTLY_SETTLED),
    (Start::PartlyPastDeadline, Command::Refund,       Expect::Moves(St::RequiresCapture, [A, REST, FIRST, 0], REFUNDING)),
    // Voided after a capture: succeeded for what was captured.
    (Start::PartlyVoided, Command::NonFinal,     NOT_CAPTURABLE),
    (Start::PartlyVoided, Command::NonFinalAll,  NOT_CAPTURABLE),
    (Start::PartlyVoided, Command::FinalPart,    NOT_CAPTURABLE),
    (Start::PartlyVoided, Command::FinalRest,    NOT_CAPTURABLE),
    (Start::PartlyVoided, Command::NonFinalOver, NOT_CAPTURABLE),
    (Start::PartlyVoided, Command::Void,         SUCCEEDED),
    (Start::PartlyVoided, Command::Expire,       Expect::Nothing),
    (Start::PartlyVoided, Command::Refund,       Expect::Moves(St::Succeeded, [A, 0, FIRST, REST], REFUNDING)),
    // Expired after a capture: succeeded too, and a capture still says the hold lapsed.
    (Start::PartlyExpired, Command::NonFinal,     LAPSED),
    (Start::PartlyExpired, Command::NonFinalAll,  LAPSED),
    (Start::PartlyExpired, Command::FinalPart,    LAPSED),
    (Start::PartlyExpired, Command::FinalRest,    LAPSED),
    (Start::PartlyExpired, Command::NonFinalOver, LAPSED),
    (Start::PartlyExpired, Command::Void,         SUCCEEDED),
    (Start::PartlyExpired, Command::Expire,       Expect::Nothing),
    (Start::PartlyExpired, Command::Refund,       Expect::Moves(St::Succeeded, [A, 0, FIRST, REST], REFUNDING)),
    // After the final capture: nothing more to capture.
    (Start::Final, Command::NonFinal,     NOT_CAPTURABLE),
    (Start::Final, Command::NonFinalAll,  NOT_CAPTURABLE),
    (Start::Final, Command::FinalPart,    NOT_CAPTURABLE),
    (Start::Final, Command::FinalRest,    NOT_CAPTURABLE),
    (Start::Final, Command::NonFinalOver, NOT_CAPTURABLE),
    (Start::Final, Command::Void,         SUCCEEDED),
    (Start::Final, Command::Expire,       Expect::Nothing),
    (Start::Final, Command::Refund,       Expect::Moves(St::Succeeded, [A, 0, A, 0], REFUNDING)),
    // Without the opt-in: the contract's one-shot hold, exactly as before.
    (Start::OneShot, Command::NonFinal,     NOT_ENABLED),
    (Start::OneShot, Command::NonFinalAll,  NOT_ENABLED),
    (Start::OneShot, Command::FinalPart,    Expect::Moves(St::Succeeded, [A, 0, 1_000, A - 1_000], DONE)),
    (Start::OneShot, Command::FinalRest,    Expect::Moves(St::Succeeded, [A, 0, A, 0], DONE)),
    (Start::OneShot, Command::NonFinalOver, NOT_ENABLED),
    (Start::OneShot, Command::Void,         Expect::Moves(St::Canceled, [A, 0, 0, A], &[Ev::PaymentIntentCanceled])),
    (Start::OneShot, Command::Expire,       Expect::Moves(St::Expired, [A, 0, 0, A], &[Ev::PaymentIntentCanceled])),
    (Start::OneShot, Command::Refund,       NOT_REFUNDABLE),
    // A captured one-shot hold: the status is checked before the opt-in.
    (Start::OneShotCaptured, Command::NonFinal,     NOT_CAPTURABLE),
    (Start::OneShotCaptured, Command::NonFinalAll,  NOT_CAPTURABLE),
    (Start::OneShotCaptured, Command::FinalPart,    NOT_CAPTURABLE),
    (Start::OneShotCaptured, Command::FinalRest,    NOT_CAPTURABLE),
    (Start::OneShotCaptured, Command::NonFinalOver, NOT_CAPTURABLE),
    (Start::OneShotCaptured, Command::Void,         SUCCEEDED),
    (Start::OneShotCaptured, Command::Expire,       Expect::Nothing),
    (Start::OneShotCaptured, Command::Refund,       Expect::Moves(St::Succeeded, [A, 0, A, 0], REFUNDING)),
];

/// Runs a command as the service does; `Ok(None)` is "nothing to do".
fn run(
    intent: &PaymentIntent,
    command: Command,
    now: Timestamp,
) -> Result<Option<Transition>, Rejection> {
    let capture = |amount, final_capture| capture(intent, &capture_req(amount, final_capture), now);
    let rest = intent.capturable;
    match command {
        Command::NonFinal => capture(Some(3_000), Some(false)).map(Some),
        Command::NonFinalAll => capture(Some(rest), Some(false)).map(Some),
        Command::FinalPart => capture(Some(1_000), Some(true)).map(Some),
        Command::FinalRest => capture(None, None).map(Some),
        Command::NonFinalOver => capture(Some(rest + 1), Some(false)).map(Some),
        Command::Void => {
            let plan = decide_cancel(intent, None, now)?;
            Ok(Some(with_ctx(now, |ctx| apply_cancel(intent, &plan, ctx))))
        }
        Command::Expire => Ok(with_ctx(now.max(PAST), |ctx| apply_expiry(intent, ctx))),
        Command::Refund => {
            let req = RefundRequest::default();
            let amount = decide_refund(intent, &req)?;
            let (_, next, events) = with_ctx(now, |ctx| {
                reserve_refund(intent, "re_1".into(), amount, &req, None, ctx)
            });
            Ok(Some(Transition {
                intent: next,
                events,
            }))
        }
    }
}

#[test]
fn the_table_has_exactly_one_row_per_state_and_command() {
    assert_eq!(TABLE.len(), STARTS.len() * COMMANDS.len());
    for s in STARTS {
        for c in COMMANDS {
            let rows = TABLE.iter().filter(|(rs, rc, _)| *rs == s && *rc == c);
            assert_eq!(rows.count(), 1, "{s:?} × {c:?}");
        }
    }
}

#[test]
fn every_state_and_command() {
    let mut failures = Vec::new();
    for &(s, command, expect) in TABLE {
        let (before, now) = start(s);
        assert!(before.money_invariant_holds(), "{s:?} starts broken");
        let outcome = run(&before, command, now);
        let ok = match (&outcome, expect) {
            (Err(r), Expect::Rejected(code, param)) => {
                r.code == code && r.param.as_deref() == param
            }
            (Ok(None), Expect::Nothing) => true,
            (Ok(Some(t)), Expect::Moves(status, money, events)) => {
                let n = &t.intent;
                n.status == status
                    && [n.authorized, n.capturable, n.captured, n.released] == money
                    && t.events == events
                    && n.version == before.version + 1
                    && n.money_invariant_holds()
            }
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{s:?} × {command:?}: expected {expect:?}, got {outcome:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn each_capture_is_its_own_action_with_its_reference_and_metadata() {
    let (partly, now) = start(Start::Partly);
    let mut req = capture_req(Some(1_500), Some(false));
    req.reference = Some("box 2".into());
    req.metadata.insert("tracking".into(), "1Z999".into());
    let second = capture(&partly, &req, now)
        .expect("a second capture")
        .intent;
    let captures: Vec<_> = second
        .actions
        .iter()
        .filter(|a| a.kind == ActionType::Capture)
        .map(|a| (a.amount.amount, a.reference.as_deref(), a.metadata.len()))
        .collect();
    assert_eq!(
        captures,
        [(FIRST, Some("shipment"), 0), (1_500, Some("box 2"), 1)]
    );
    // The intent still asks for the whole amount while it holds the rest; the last capture's
    // time is `captured_at`.
    assert_eq!(second.amount.amount, A);
    assert_eq!(second.captured_at, Some(now));
    let done = capture(&second, &capture_req(None, None), now.plus_seconds(5))
        .expect("the final capture")
        .intent;
    // Once it ends, the amount is what settled, as after a one-shot capture.
    assert_eq!(done.amount, Money::new(A, usd()));
}

#[test]
fn a_partly_captured_hold_that_ends_is_succeeded_without_a_cancellation() {
    for s in [Start::PartlyVoided, Start::PartlyExpired] {
        let (intent, _) = start(s);
        assert_eq!(intent.status, Status::Succeeded, "{s:?}");
        assert_eq!(
            intent.amount.amount, FIRST,
            "{s:?}: the amount is what settled"
        );
        assert_eq!(intent.cancellation_reason, None, "{s:?}");
        assert_eq!(intent.canceled_at, None, "{s:?}");
        assert_eq!(intent.scheduled_action, None, "{s:?}");
        let release = intent.actions.last().expect("the release is recorded");
        assert_eq!(release.amount.amount, REST, "{s:?}");
    }
    // The expiry action is dated at the moment the hold lapsed, as for a one-shot hold.
    let (expired, _) = start(Start::PartlyExpired);
    let action = expired.actions.last().expect("an expiry action");
    assert_eq!((action.kind, action.created_at), (ActionType::Expiry, PAST));
    // Read before any worker records it, the same hold already shows that state.
    let (partly, _) = start(Start::Partly);
    let view = partly.as_of(PAST);
    assert_eq!(
        (view.status, view.captured, view.released, view.capturable),
        (Status::Succeeded, FIRST, REST, 0)
    );
}

#[test]
fn multicapture_is_for_manual_capture_only() {
    let new = || NewIntent {
        id: "pi_auto".into(),
        scope: scope(),
        client_secret_hash: "hash".into(),
        has_payment_source: false,
        expiry_warning_lead_seconds: None,
        now: T0,
    };
    for capture_method in [None, Some("automatic")] {
        let err = new()
            .create(CreateRequest {
                amount: Some(raw(A, "USD")),
                capture_method: capture_method.map(Into::into),
                multicapture: true,
                ..CreateRequest::default()
            })
            .expect_err("automatic capture has no hold to capture in parts");
        assert_eq!(
            (err.code, err.param.as_deref()),
            (ErrorCode::InvalidParameter, Some("multicapture"))
        );
    }
    assert!(held(true).multicapture);
    assert!(!held(false).multicapture);
}

#[test]
fn a_scheduled_capture_is_final() {
    let (partly, now) = start(Start::Partly);
    let t = capture(&partly, &capture_req(None, None), now).expect("captured");
    assert_eq!(t.intent.status, Status::Succeeded);
    let money = Money::new(1_000, usd());
    let amount = decide_capture(&partly, Capture::Scheduled(Some(money)), now).expect("fits");
    assert!(Capture::Scheduled(Some(money)).ends_hold(&partly, amount));
    let done = with_ctx(now, |ctx| {
        apply_capture(&partly, amount, Capture::Scheduled(Some(money)), ctx)
    });
    assert_eq!(
        (
            done.intent.status,
            done.intent.captured,
            done.intent.released
        ),
        (Status::Succeeded, FIRST + 1_000, REST - 1_000)
    );
}
