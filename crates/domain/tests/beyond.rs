//! Property tests for the opt-in capabilities beyond one hold (issue 16): random command sequences
//! on a hold, applied only through the domain's own functions, checked step by step against a
//! small reference model.
//!
//! A case creates a manual intent (random amount, multicapture or not) and places the hold, then
//! runs a random sequence of captures (random amount, often invalid, and `final_capture` true,
//! false or left out), voids, refunds (random amount) and time passing (sometimes past the
//! deadline, with the deadline worker's expiry). After every step:
//!
//! - the money invariant holds and nothing more than the hold was captured;
//! - the intent moved exactly as the model says (status and the four amounts), or the refusal is
//!   the one the model names and nothing changed;
//! - the capture actions add up to `captured`, one per capture that was made;
//! - without the opt-in there is at most one capture, ever;
//! - a terminal intent never changes again, except by a refund.
//!
//! `PROPTEST_CASES` overrides the number of cases (1000 by default).

use holdfast_domain::intent::{
    ActionType, AuthorizationResult, CaptureRequest, CreateRequest, Ctx, NewIntent, PaymentIntent,
    RawMoney, Status, apply_authorization, apply_cancel, apply_capture, apply_expiry,
    decide_cancel, decide_capture,
};
use holdfast_domain::refund::{RefundRequest, decide_refund, reserve_refund};
use holdfast_domain::time::SECONDS_PER_DAY;
use holdfast_domain::{ErrorCode, Rejection, Scope, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const T0: Timestamp = Timestamp(1_783_000_000);
const HOLD_SECONDS: i64 = 7 * SECONDS_PER_DAY;

#[derive(Debug, Clone)]
enum Cmd {
    /// Capture: `None` is everything capturable; `final_capture` as sent.
    Capture {
        amount: Option<i64>,
        final_capture: Option<bool>,
    },
    Void,
    /// Refund this much (`None`: everything refundable).
    Refund(Option<i64>),
    /// Time passes by this many seconds; the deadline worker runs.
    Wait(i64),
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        6 => (
            prop_oneof![Just(None), (-100i64..12_000).prop_map(Some)],
            prop_oneof![Just(None), Just(Some(true)), Just(Some(false)), Just(Some(false))],
        )
            .prop_map(|(amount, final_capture)| Cmd::Capture { amount, final_capture }),
        1 => Just(Cmd::Void),
        2 => prop_oneof![Just(None), (1i64..6_000).prop_map(Some)].prop_map(Cmd::Refund),
        2 => prop_oneof![1i64..SECONDS_PER_DAY, Just(HOLD_SECONDS + 1)].prop_map(Cmd::Wait),
    ]
}

fn with_ctx<R>(now: Timestamp, ids: &mut u64, f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
    let mut new_id = |prefix: &'static str| {
        *ids += 1;
        format!("{prefix}_{ids}")
    };
    let mut ctx = Ctx {
        now,
        request_id: Some("req_prop"),
        actor: None,
        new_id: &mut new_id,
    };
    f(&mut ctx)
}

fn usd(amount: i64) -> RawMoney {
    RawMoney {
        amount,
        currency: "USD".into(),
    }
}

fn held(amount: i64, multicapture: bool, ids: &mut u64) -> PaymentIntent {
    let created = NewIntent {
        id: "pi_prop".into(),
        scope: Scope {
            merchant_id: "mer_prop".into(),
            livemode: false,
        },
        client_secret_hash: "hash".into(),
        has_payment_source: false,
        expiry_warning_lead_seconds: None,
        now: T0,
    }
    .create(CreateRequest {
        amount: Some(usd(amount)),
        capture_method: Some("manual".into()),
        multicapture,
        ..CreateRequest::default()
    })
    .expect("valid")
    .intent;
    let hold = AuthorizationResult::Authorized {
        card: holdfast_domain::intent::Card {
            brand: "visa".into(),
            last_four: "4242".into(),
        },
        processor_ref: "ch_prop".into(),
        expires_at: T0.plus_seconds(HOLD_SECONDS),
        captured: false,
    };
    with_ctx(T0, ids, |ctx| {
        apply_authorization(&created, hold, None, ctx)
    })
    .intent
}

/// The reference model: what the intent must be.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Model {
    status: Status,
    authorized: i64,
    capturable: i64,
    captured: i64,
    released: i64,
    refunded: i64,
    captures: usize,
}

impl Model {
    fn of(intent: &PaymentIntent) -> Model {
        Model {
            status: intent.status,
            authorized: intent.authorized,
            capturable: intent.capturable,
            captured: intent.captured,
            released: intent.released,
            refunded: intent.refunded + intent.refund_pending,
            captures: intent
                .actions
                .iter()
                .filter(|a| a.kind == ActionType::Capture)
                .count(),
        }
    }

    /// The hold's remainder goes back; the status follows from what was captured.
    fn end_hold(&mut self, status_if_nothing: Status) {
        self.released += self.capturable;
        self.capturable = 0;
        self.status = if self.captured > 0 {
            Status::Succeeded
        } else {
            status_if_nothing
        };
    }
}

/// What the model says a command does: the next model, or the refusal.
fn expect(
    m: &Model,
    multicapture: bool,
    lapsed: bool,
    cmd: &Cmd,
) -> Result<Option<Model>, ErrorCode> {
    let mut next = m.clone();
    match cmd {
        Cmd::Capture {
            amount,
            final_capture,
        } => {
            if lapsed {
                return Err(ErrorCode::PaymentAuthorizationExpired);
            }
            if m.status != Status::RequiresCapture {
                return Err(ErrorCode::InvalidStatusForCapture);
            }
            if *final_capture == Some(false) && !multicapture {
                return Err(ErrorCode::MulticaptureNotEnabled);
            }
            let amount = amount.unwrap_or(m.capturable);
            if amount <= 0 {
                return Err(ErrorCode::InvalidCaptureAmount);
            }
            if amount > m.capturable {
                return Err(ErrorCode::CaptureAmountExceedsAuthorized);
            }
            next.captured += amount;
            next.capturable -= amount;
            next.captures += 1;
            if *final_capture != Some(false) || next.capturable == 0 {
                next.end_hold(Status::Succeeded);
            }
            Ok(Some(next))
        }
        Cmd::Void => match m.status {
            Status::RequiresCapture => {
                next.end_hold(Status::Canceled);
                Ok(Some(next))
            }
            Status::Succeeded => Err(ErrorCode::CannotCancelSucceededPayment),
            Status::Canceled => Err(ErrorCode::PaymentAlreadyCanceled),
            _ => Err(ErrorCode::CannotCancelExpiredPayment),
        },
        Cmd::Refund(amount) => {
            let settled = m.status == Status::Succeeded
                || (multicapture && m.status == Status::RequiresCapture);
            if !settled || m.captured == 0 {
                return Err(ErrorCode::PaymentIntentNotRefundable);
            }
            let refundable = m.captured - m.refunded;
            let amount = match amount {
                None if refundable == 0 => return Err(ErrorCode::RefundAmountExceedsCaptured),
                None => refundable,
                Some(a) if *a > refundable => return Err(ErrorCode::RefundAmountExceedsCaptured),
                Some(a) => *a,
            };
            next.refunded += amount;
            Ok(Some(next))
        }
        Cmd::Wait(_) => Ok(None),
    }
}

fn run(
    intent: &PaymentIntent,
    cmd: &Cmd,
    now: Timestamp,
    ids: &mut u64,
) -> Result<PaymentIntent, Rejection> {
    match cmd {
        Cmd::Capture {
            amount,
            final_capture,
        } => {
            let req = CaptureRequest {
                amount: amount.map(usd),
                final_capture: *final_capture,
                ..CaptureRequest::default()
            };
            let money = decide_capture(intent, &req, now)?;
            Ok(with_ctx(now, ids, |ctx| apply_capture(intent, money, &req, ctx)).intent)
        }
        Cmd::Void => {
            let plan = decide_cancel(intent, None, now)?;
            Ok(with_ctx(now, ids, |ctx| apply_cancel(intent, &plan, ctx)).intent)
        }
        Cmd::Refund(amount) => {
            let req = RefundRequest {
                amount: amount.map(usd),
                ..RefundRequest::default()
            };
            let money = decide_refund(intent, &req)?;
            let (_, next, _) = with_ctx(now, ids, |ctx| {
                reserve_refund(intent, "re_prop".into(), money, &req, None, ctx)
            });
            Ok(next)
        }
        Cmd::Wait(_) => Ok(intent.clone()),
    }
}

fn check(amount: i64, multicapture: bool, cmds: &[Cmd]) -> Result<(), TestCaseError> {
    let mut ids = 0;
    let mut intent = held(amount, multicapture, &mut ids);
    let mut now = T0;
    for cmd in cmds {
        if let Cmd::Wait(seconds) = cmd {
            now = now.plus_seconds(*seconds);
            if let Some(t) = with_ctx(now, &mut ids, |ctx| apply_expiry(&intent, ctx)) {
                let mut m = Model::of(&intent);
                m.end_hold(Status::Expired);
                prop_assert_eq!(Model::of(&t.intent), m, "expiry");
                intent = t.intent;
            }
            continue;
        }
        let before = Model::of(&intent);
        let lapsed = intent.hold_lapsed(now);
        let expected = expect(&before, multicapture, lapsed, cmd);
        match (run(&intent, cmd, now, &mut ids), expected) {
            (Ok(next), Ok(Some(m))) => {
                prop_assert_eq!(Model::of(&next), m, "{:?}", cmd);
                prop_assert_eq!(next.version, intent.version + 1);
                if intent.status.is_terminal() {
                    prop_assert!(matches!(cmd, Cmd::Refund(_)), "a terminal intent moved");
                }
                intent = next;
            }
            (Err(r), Err(code)) => prop_assert_eq!(r.code, code, "{:?}", cmd),
            (got, want) => {
                return Err(TestCaseError::fail(format!(
                    "{cmd:?} on {before:?}: got {got:?}, expected {want:?}"
                )));
            }
        }
        prop_assert!(intent.money_invariant_holds(), "{:?}", intent);
        prop_assert!(intent.captured <= intent.authorized);
        let captured: i64 = intent
            .actions
            .iter()
            .filter(|a| a.kind == ActionType::Capture)
            .map(|a| a.amount.amount)
            .sum();
        prop_assert_eq!(captured, intent.captured);
        if !multicapture {
            prop_assert!(Model::of(&intent).captures <= 1);
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn captures_voids_refunds_and_expiry_follow_the_model(
        amount in 1i64..11_000,
        multicapture in any::<bool>(),
        cmds in prop::collection::vec(cmd(), 1..14),
    ) {
        check(amount, multicapture, &cmds)?;
    }
}
