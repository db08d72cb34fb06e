//! Property tests for the payment intent state machine: random command sequences, applied only
//! through the domain's own functions, must never break the money rules.
//!
//! A case creates an intent (random amount, currency and capture method), then runs a random sequence
//! of confirm (with a random processor answer), authenticate, capture (with a random, often invalid,
//! amount), cancel (with a random, sometimes invalid, reason), time passing, and `as_of`. A command
//! whose `check_*`/`decide_*` refuses leaves the intent as it was. After every step:
//!
//! - the money invariant holds, no amount is negative and nothing more than the hold was captured;
//! - a terminal intent (succeeded, canceled, expired) never changes again;
//! - a hold past its deadline can only become expired;
//! - there is at most one capture action, ever, and it is for what was captured;
//! - every successful transition bumps the version by exactly one (`as_of` is a view and bumps none);
//! - each status carries the amounts it must, and each refusal is the one the contract names, in the
//!   contract's order.
//!
//! `PROPTEST_CASES` overrides the number of cases (500 by default).

use holdfast_domain::intent::Card;
use holdfast_domain::intent::{
    ActionStatus, ActionType, AuthorizationResult, CancellationReason, CaptureRequest,
    CreateRequest, Ctx, PaymentError, PaymentIntent, RawMoney, Status, Transition,
    apply_authorization, apply_cancel, apply_capture, check_authenticate, check_confirm, create,
    decide_cancel, decide_capture,
};
use holdfast_domain::time::SECONDS_PER_DAY;
use holdfast_domain::{ErrorCode, EventType, Rejection, Scope, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const T0: Timestamp = Timestamp(1_783_000_000);

/// What the processor answers to an authorization or an authentication.
#[derive(Debug, Clone)]
enum Answer {
    /// A hold that lapses this many seconds from now (zero or less: a deadline already behind us).
    Hold {
        expires_in: i64,
    },
    /// Authorized and settled in one call (automatic capture).
    Settle,
    /// 3D Secure needed.
    Challenge,
    Decline,
}

/// How a capture picks its amount.
#[derive(Debug, Clone)]
enum Amount {
    /// No amount: everything capturable.
    Omitted,
    /// This many minor units, whatever the hold.
    Raw(i64),
    /// This many thousandths of the amount authorized (0 ..= 1000).
    Permille(u16),
    /// The amount authorized plus this many minor units: the boundary.
    AroundAuthorized(i64),
}

#[derive(Debug, Clone)]
enum Cmd {
    Confirm(Answer),
    Authenticate(Answer),
    Capture {
        amount: Amount,
        /// `None`: the intent's own currency.
        currency: Option<&'static str>,
    },
    Cancel(Option<&'static str>),
    Advance(i64),
    AsOf,
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        5 => (1..=8 * SECONDS_PER_DAY).prop_map(|expires_in| Answer::Hold { expires_in }),
        1 => (-60..=0i64).prop_map(|expires_in| Answer::Hold { expires_in }),
        2 => Just(Answer::Settle),
        3 => Just(Answer::Challenge),
        3 => Just(Answer::Decline),
    ]
}

fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        3 => Just(Amount::Omitted),
        2 => (-1_000_000_000..=2_000_000_000i64).prop_map(Amount::Raw),
        1 => prop_oneof![Just(i64::MIN), Just(-1i64), Just(0i64), Just(i64::MAX)].prop_map(Amount::Raw),
        3 => (0..=1000u16).prop_map(Amount::Permille),
        2 => (-2..=2i64).prop_map(Amount::AroundAuthorized),
    ]
}

fn command() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        4 => answer().prop_map(Cmd::Confirm),
        2 => answer().prop_map(Cmd::Authenticate),
        5 => (
            amount(),
            prop_oneof![
                3 => Just(None),
                2 => prop::sample::select(vec!["USD", "JPY", "EUR", "usd", "XXX", ""]).prop_map(Some),
            ],
        )
            .prop_map(|(amount, currency)| Cmd::Capture { amount, currency }),
        1 => prop::sample::select(vec![
            None,
            Some("requested_by_customer"),
            Some("duplicate"),
            Some("fraudulent"),
            Some("abandoned"),
            Some("authorization_expired"),
            Some("changed_my_mind"),
            Some(""),
        ])
        .prop_map(Cmd::Cancel),
        3 => prop_oneof![
            4 => 0..=3 * SECONDS_PER_DAY,
            1 => 0..=30 * SECONDS_PER_DAY,
            1 => 0..=2i64,
        ]
        .prop_map(Cmd::Advance),
        1 => Just(Cmd::AsOf),
    ]
}

/// The intent as created, from a random amount, currency and capture method.
fn created() -> impl Strategy<Value = PaymentIntent> {
    (
        1..=1_000_000_000i64,
        prop::sample::select(vec!["USD", "JPY", "EUR"]),
        prop::sample::select(vec!["manual", "automatic"]),
    )
        .prop_map(|(amount, currency, capture_method)| {
            let req = CreateRequest {
                amount: Some(RawMoney {
                    amount,
                    currency: currency.into(),
                }),
                capture_method: Some(capture_method.into()),
                ..CreateRequest::default()
            };
            let scope = Scope {
                merchant_id: "mer_prop".into(),
                livemode: false,
            };
            match create("pi_prop".into(), scope, "hash".into(), req, T0) {
                Ok(t) => t.intent,
                Err(r) => panic!("a valid creation was refused: {r}"),
            }
        })
}

/// The world a sequence runs in: the intent as stored, the clock, and an id counter.
struct World {
    intent: PaymentIntent,
    now: Timestamp,
    ids: u64,
}

/// What one step did.
enum Outcome {
    /// A command went through; the intent is the transition's, and these are its events.
    Moved(Vec<EventType>),
    /// A command was refused; the intent is unchanged.
    Refused(Rejection),
    /// The clock moved or `as_of` was applied: no transition.
    Quiet,
}

impl World {
    fn apply<F>(&mut self, f: F) -> Transition
    where
        F: FnOnce(&PaymentIntent, &mut Ctx<'_>) -> Transition,
    {
        let ids = &mut self.ids;
        let mut new_id = |prefix: &'static str| {
            *ids += 1;
            format!("{prefix}_{ids}")
        };
        let mut ctx = Ctx {
            now: self.now,
            request_id: None,
            new_id: &mut new_id,
        };
        f(&self.intent, &mut ctx)
    }

    fn step(&mut self, cmd: &Cmd) -> Outcome {
        match cmd {
            Cmd::Confirm(answer) => match check_confirm(&self.intent) {
                Ok(()) => self.authorize(answer),
                Err(r) => Outcome::Refused(r),
            },
            Cmd::Authenticate(answer) => match check_authenticate(&self.intent) {
                Ok(()) => self.authorize(answer),
                Err(r) => Outcome::Refused(r),
            },
            Cmd::Capture { amount, currency } => {
                let req = CaptureRequest {
                    amount: raw_amount(&self.intent, amount, *currency),
                    ..CaptureRequest::default()
                };
                match decide_capture(&self.intent, &req, self.now) {
                    Ok(money) => {
                        let t = self.apply(|pi, ctx| apply_capture(pi, money, &req, ctx));
                        self.take(t)
                    }
                    Err(r) => Outcome::Refused(r),
                }
            }
            Cmd::Cancel(reason) => match decide_cancel(&self.intent, *reason, self.now) {
                Ok(plan) => {
                    let t = self.apply(|pi, ctx| apply_cancel(pi, &plan, ctx));
                    self.take(t)
                }
                Err(r) => Outcome::Refused(r),
            },
            Cmd::Advance(seconds) => {
                self.now = self.now.plus_seconds(*seconds);
                Outcome::Quiet
            }
            Cmd::AsOf => {
                self.intent = self.intent.as_of(self.now);
                Outcome::Quiet
            }
        }
    }

    /// Makes a transition's intent the stored one.
    fn take(&mut self, t: Transition) -> Outcome {
        self.intent = t.intent;
        Outcome::Moved(t.events)
    }

    fn authorize(&mut self, answer: &Answer) -> Outcome {
        let card = Card {
            brand: "visa".into(),
            last_four: "4242".into(),
        };
        let result = match answer {
            Answer::Hold { expires_in } => AuthorizationResult::Authorized {
                card,
                processor_ref: "ch_prop".into(),
                expires_at: self.now.plus_seconds(*expires_in),
                captured: false,
            },
            Answer::Settle => AuthorizationResult::Authorized {
                card,
                processor_ref: "ch_prop".into(),
                expires_at: self.now.plus_seconds(7 * SECONDS_PER_DAY),
                captured: true,
            },
            Answer::Challenge => AuthorizationResult::RequiresAction {
                card,
                processor_ref: "ch_prop".into(),
                redirect_url: "https://example.test/3ds".into(),
            },
            Answer::Decline => AuthorizationResult::Declined {
                card: Some(card),
                error: PaymentError {
                    code: "card_declined".into(),
                    decline_code: "generic_decline".into(),
                    message: "declined".into(),
                },
            },
        };
        let t = self.apply(|pi, ctx| apply_authorization(pi, result, None, ctx));
        self.take(t)
    }
}

fn raw_amount(intent: &PaymentIntent, amount: &Amount, currency: Option<&str>) -> Option<RawMoney> {
    let minor = match amount {
        Amount::Omitted => return None,
        Amount::Raw(n) => *n,
        Amount::Permille(p) => intent.authorized * i64::from(*p) / 1000,
        Amount::AroundAuthorized(d) => intent.authorized + d,
    };
    Some(RawMoney {
        amount: minor,
        currency: currency.unwrap_or(intent.currency().as_str()).into(),
    })
}

/// Is `intent` a hold whose deadline has passed at `now`? Stated from the contract, independently.
fn lapsed(intent: &PaymentIntent, now: Timestamp) -> bool {
    intent.status == Status::RequiresCapture
        && intent
            .authorization_expires_at
            .is_some_and(|deadline| now > deadline)
}

/// The answer the contract gives to `cmd` on `intent` at `now`: `Ok(())` for "goes through", or the
/// error code, checking the rules in the contract's order.
fn expected(intent: &PaymentIntent, cmd: &Cmd, now: Timestamp) -> Option<Result<(), ErrorCode>> {
    let status = intent.status;
    Some(match cmd {
        Cmd::Confirm(_) if status == Status::RequiresPaymentMethod => Ok(()),
        Cmd::Confirm(_) => Err(ErrorCode::InvalidStatusForConfirm),
        Cmd::Authenticate(_) if status == Status::RequiresAction => Ok(()),
        Cmd::Authenticate(_) => Err(ErrorCode::InvalidStatusForAuthentication),
        Cmd::Capture { amount, currency } => {
            if status == Status::Expired || lapsed(intent, now) {
                Err(ErrorCode::PaymentAuthorizationExpired)
            } else if status != Status::RequiresCapture {
                Err(ErrorCode::InvalidStatusForCapture)
            } else {
                match raw_amount(intent, amount, *currency) {
                    None => Ok(()),
                    Some(raw) if raw.amount <= 0 => Err(ErrorCode::InvalidCaptureAmount),
                    Some(raw) if raw.currency != intent.currency().as_str() => {
                        Err(ErrorCode::CaptureCurrencyMismatch)
                    }
                    Some(raw) if raw.amount > intent.authorized => {
                        Err(ErrorCode::CaptureAmountExceedsAuthorized)
                    }
                    Some(_) => Ok(()),
                }
            }
        }
        Cmd::Cancel(reason) => match status {
            Status::Succeeded => Err(ErrorCode::CannotCancelSucceededPayment),
            Status::Canceled => Err(ErrorCode::PaymentAlreadyCanceled),
            Status::Expired => Err(ErrorCode::CannotCancelExpiredPayment),
            _ if lapsed(intent, now) => Err(ErrorCode::CannotCancelExpiredPayment),
            _ => match reason {
                None | Some("requested_by_customer" | "duplicate" | "fraudulent" | "abandoned") => {
                    Ok(())
                }
                Some(_) => Err(ErrorCode::InvalidCancellationReason),
            },
        },
        Cmd::Advance(_) | Cmd::AsOf => return None,
    })
}

/// What must hold of any intent, in any status.
fn check_intent(pi: &PaymentIntent) -> Result<(), TestCaseError> {
    prop_assert!(pi.money_invariant_holds(), "money invariant broken");
    for (name, value) in [
        ("authorized", pi.authorized),
        ("capturable", pi.capturable),
        ("captured", pi.captured),
        ("released", pi.released),
    ] {
        prop_assert!(value >= 0, "{} is negative: {}", name, value);
    }
    prop_assert!(pi.captured <= pi.authorized, "captured more than the hold");
    prop_assert!(pi.amount.amount > 0, "the amount is not positive");

    let captures: Vec<_> = pi
        .actions
        .iter()
        .filter(|a| a.kind == ActionType::Capture)
        .collect();
    prop_assert!(captures.len() <= 1, "{} capture actions", captures.len());
    if let Some(capture) = captures.first() {
        prop_assert_eq!(capture.status, ActionStatus::Succeeded);
        prop_assert_eq!(capture.amount.amount, pi.captured);
    }
    prop_assert!(
        pi.actions
            .iter()
            .all(|a| a.amount.currency == pi.currency()),
        "an action in another currency"
    );

    let money = [pi.authorized, pi.capturable, pi.captured, pi.released];
    match pi.status {
        Status::RequiresPaymentMethod | Status::RequiresAction => {
            prop_assert_eq!(money, [0; 4]);
        }
        Status::RequiresCapture => {
            prop_assert!(pi.authorized > 0);
            prop_assert_eq!(money, [pi.amount.amount, pi.authorized, 0, 0]);
            prop_assert!(pi.authorization_expires_at.is_some());
        }
        Status::Succeeded => {
            prop_assert!(pi.captured > 0, "succeeded without capturing");
            prop_assert_eq!(pi.capturable, 0);
            prop_assert_eq!(pi.amount.amount, pi.captured, "amount is what settled");
            prop_assert_eq!(captures.len(), 1);
            prop_assert!(pi.captured_at.is_some());
        }
        Status::Canceled => {
            prop_assert_eq!([pi.capturable, pi.captured], [0, 0]);
            prop_assert_eq!(pi.released, pi.authorized);
            prop_assert!(pi.canceled_at.is_some());
            prop_assert_ne!(
                pi.cancellation_reason,
                Some(CancellationReason::AuthorizationExpired)
            );
        }
        Status::Expired => {
            prop_assert!(pi.authorized > 0);
            prop_assert_eq!(money, [pi.authorized, 0, 0, pi.authorized]);
            prop_assert_eq!(
                pi.cancellation_reason,
                Some(CancellationReason::AuthorizationExpired)
            );
            prop_assert!(pi.canceled_at.is_some());
        }
    }
    Ok(())
}

/// What must hold of one step, given the intent and clock before it.
fn check_step(
    before: &PaymentIntent,
    at: Timestamp,
    cmd: &Cmd,
    outcome: &Outcome,
    after: &PaymentIntent,
) -> Result<(), TestCaseError> {
    check_intent(after)?;

    if before.status.is_terminal() {
        prop_assert_eq!(after, before, "a terminal intent changed");
    }
    if lapsed(before, at) {
        prop_assert!(
            after == before || *after == before.as_of(at),
            "a lapsed hold became {:?}",
            after.status
        );
    }

    match (expected(before, cmd, at), outcome) {
        (Some(Ok(())), Outcome::Moved(events)) => {
            prop_assert_eq!(
                after.version,
                before.version + 1,
                "version not bumped by one"
            );
            prop_assert_eq!(after.updated_at, at);
            prop_assert!(!events.is_empty(), "a transition without events");
            prop_assert!(
                after.actions.starts_with(&before.actions),
                "the action history was rewritten"
            );
        }
        (Some(Err(code)), Outcome::Refused(r)) => {
            prop_assert_eq!(r.code, code, "{}", r.message);
            prop_assert_eq!(after, before);
        }
        (None, Outcome::Quiet) => {
            prop_assert_eq!(after.version, before.version, "a view bumped the version");
            prop_assert!(after == before || *after == before.as_of(at));
        }
        (Some(Ok(())), Outcome::Refused(r)) => {
            return Err(TestCaseError::fail(format!("refused unexpectedly: {r:?}")));
        }
        (Some(Err(code)), Outcome::Moved(_)) => {
            return Err(TestCaseError::fail(format!(
                "expected {code}, moved to {:?}",
                after.status
            )));
        }
        (_, _) => {
            return Err(TestCaseError::fail(
                "a step produced the wrong kind of outcome",
            ));
        }
    }
    Ok(())
}

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 500;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_command_sequences_keep_the_money_rules(
        intent in created(),
        cmds in prop::collection::vec(command(), 1..40),
    ) {
        check_intent(&intent)?;
        prop_assert_eq!(intent.version, 1);
        let mut world = World { intent, now: T0, ids: 0 };
        for cmd in &cmds {
            let before = world.intent.clone();
            let at = world.now;
            let outcome = world.step(cmd);
            check_step(&before, at, cmd, &outcome, &world.intent)?;
        }
    }

    /// The path the guide walks, with any amount and any valid capture: money is conserved to the
    /// minor unit and the remainder is released in the same step.
    #[test]
    fn a_capture_splits_the_hold_between_captured_and_released(
        intent in created(),
        permille in 1..=1000u16,
        wait in 0..=7 * SECONDS_PER_DAY,
    ) {
        let mut world = World { intent, now: T0, ids: 0 };
        let held = world.step(&Cmd::Confirm(Answer::Hold { expires_in: 7 * SECONDS_PER_DAY }));
        prop_assert!(matches!(held, Outcome::Moved(_)));
        world.step(&Cmd::Advance(wait));
        let authorized = world.intent.authorized;
        let want = (authorized * i64::from(permille) / 1000).max(1);
        let currency = world.intent.currency().as_str().to_owned();
        let before = world.intent.clone();
        let req = CaptureRequest {
            amount: Some(RawMoney { amount: want, currency }),
            ..CaptureRequest::default()
        };
        let money = decide_capture(&before, &req, world.now)
            .map_err(|r| TestCaseError::fail(format!("refused: {r:?}")))?;
        let after = world.apply(|pi, ctx| apply_capture(pi, money, &req, ctx)).intent;
        check_intent(&after)?;
        prop_assert_eq!(after.status, Status::Succeeded);
        prop_assert_eq!(after.captured, want);
        prop_assert_eq!(after.released, authorized - want);
        prop_assert_eq!(after.authorized, authorized);
        prop_assert_eq!(after.version, before.version + 1);
    }
}
