//! Property tests for the payment intent state machine: random command sequences, applied only
//! through the domain's own functions, must never break the money rules or the deadline rules.
//!
//! A case creates an intent (random amount, currency and capture method, sometimes a create-time
//! `scheduled_action` and an `expiry_warning_lead_seconds`), then runs a random sequence of confirm
//! (with a random processor answer), authenticate, capture (with a random, often invalid, amount),
//! cancel (with a random, sometimes invalid, reason), set and clear a scheduled action (random type,
//! time and amount, often invalid), time passing, `as_of`, and the deadline worker: one step at the
//! current time, or a test clock's step that stops the clock at the next due moment first. The
//! worker step performs what `due` offers exactly as the service's worker does. A command whose
//! `check_*`/`decide_*` refuses leaves the intent as it was. After every step:
//!
//! - the money invariant holds, no amount is negative and nothing more than the hold was captured;
//! - a terminal intent (succeeded, canceled, expired) never changes again;
//! - a hold past its deadline can only become expired;
//! - there is at most one capture action, ever, and it is for what was captured;
//! - every successful transition bumps the version by exactly one (`as_of` is a view and bumps none);
//! - each status carries the amounts it must, and each refusal is the one the contract names, in the
//!   contract's order;
//! - `next_due_at` is `None` for a terminal intent, the scheduled action's time (if resolved) for
//!   one awaiting a payment method or authentication, and for a hold the earliest of the scheduled
//!   action, the warning and expiry, so never later than the deadline's next second;
//! - `due(now)` offers something exactly when `next_due_at <= now`; past the deadline only expiry,
//!   otherwise the item at `next_due_at`, a scheduled action before a warning at the same second;
//! - due work is always performable: the matching apply function makes a transition. The one
//!   refusal allowed is a scheduled capture on an intent with no hold yet, which the worker answers
//!   by clearing the schedule (as the service does);
//! - performing due work at `now` never leaves the same item due at `now` (the worker cannot spin),
//!   and everything due drains in at most two steps;
//! - expiry records exactly one `expiry` action and emits exactly one `payment_intent.canceled`
//!   with `cancellation_reason: authorization_expired`; the expiring-soon warning is emitted at most
//!   once per intent, only while the hold waits for capture.
//!
//! Refunds run in the same sequences: a refund command (random amount, including none, zero,
//! negative, more than refundable and another currency; random reason and reference) goes through
//! `decide_refund`, then `reserve_refund`, then `resolve_refund` with a random processor answer, or
//! stays pending to be resolved by a later command (the worker's late answer). After every step:
//!
//! - `refunded + refund_pending <= captured`, neither negative, and `refunded` never decreases;
//! - refunds touch nothing but `refunded`, `refund_pending`, the version and the refund actions:
//!   authorized, capturable, captured, released and the status stay as they were;
//! - a refusal is the one the contract names, in its order (not refundable, then an amount greater
//!   than zero, in the payment's currency, no more than still refundable, then the reason), and
//!   changes nothing;
//! - the ledger adds up: the succeeded refunds sum to `refunded`, the pending ones to
//!   `refund_pending`, and each resolved refund has exactly one refund action with its amount,
//!   status, reference and request; a refund is created once and resolved at most once.
//!
//! Pay calls run on their own: a random order (balance, status, an active hold, strict inventory)
//! and a random pool of intents (on the order, on another, on none; missing; waiting for a card,
//! for 3D Secure, or held) meet a random call (ids repeated or missing, tokens and shares for
//! intents named or not, shares in other currencies, zero, negative, or splitting the balance). The
//! answer of `order::decide_pay` must be the contract's refusal, in its order, or one share per
//! intent named, each greater than zero in the order's currency, adding up to the balance due.
//!
//! `PROPTEST_CASES` overrides the number of cases (2000 by default: about a second unoptimized).

use holdfast_domain::intent::Card;
use holdfast_domain::intent::{
    ActionStatus, ActionType, AuthorizationResult, CancellationReason, Capture, CaptureRequest,
    CreateRequest, Ctx, Due, NewIntent, PaymentError, PaymentIntent, RawMoney, ScheduleRequest,
    ScheduledAction, ScheduledKind, Status, Transition, apply_authorization, apply_cancel,
    apply_capture, apply_expiry, apply_expiry_warning, check_authenticate, check_confirm,
    clear_scheduled_action, decide_cancel, decide_capture, set_scheduled_action,
};
use holdfast_domain::refund::{
    Refund, RefundOutcome, RefundReason, RefundRequest, RefundStatus, decide_refund,
    reserve_refund, resolve_refund,
};
use holdfast_domain::time::SECONDS_PER_DAY;
use holdfast_domain::{ErrorCode, EventType, Money, Rejection, Scope, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const T0: Timestamp = Timestamp(1_783_000_000);
/// The reference the worker records on the actions it performs on schedule.
const SCHEDULED: &str = "scheduled";
/// The request id every refund command carries, to follow it onto the refund and its action.
const REFUND_REQUEST: &str = "req_refund";
/// What the processor says when it declines a refund.
const REFUND_DECLINED: &str = "the issuer declined the refund";

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

/// How a capture (or a scheduled capture) picks its amount.
#[derive(Debug, Clone)]
enum Amount {
    /// No amount: everything capturable.
    Omitted,
    /// This many minor units, whatever the hold.
    Raw(i64),
    /// This many thousandths of the base amount (0 ..= 1000).
    Permille(u16),
    /// The base amount plus this many minor units: the boundary.
    AroundAuthorized(i64),
}

/// When a scheduled action is asked to run.
#[derive(Debug, Clone)]
enum When {
    /// No `at` at all.
    Omitted,
    /// This many seconds from now (zero or less: not in the future).
    FromNow(i64),
    /// This many seconds from the hold's deadline (zero or more: too late); an intent with no
    /// deadline yet counts from an hour from now.
    FromDeadline(i64),
}

/// `POST /v1/payment-intents/{id}/scheduled-action`, before it is turned into a request.
#[derive(Debug, Clone)]
struct Schedule {
    kind: &'static str,
    when: When,
    amount: Option<Amount>,
    /// `None`: the intent's own currency.
    currency: Option<&'static str>,
}

/// How a refund picks its amount.
#[derive(Debug, Clone)]
enum RefundAmount {
    /// No amount: everything still refundable.
    Omitted,
    /// This many minor units, whatever was captured.
    Raw(i64),
    /// This many thousandths of what is still refundable (0 ..= 1000).
    Permille(u16),
    /// What is still refundable plus this many minor units: the boundary.
    AroundRefundable(i64),
    /// What was captured plus this many minor units (refunded money counts against it).
    AroundCaptured(i64),
}

/// What the processor does with a refund once it was reserved.
#[derive(Debug, Clone, Copy)]
enum RefundAnswer {
    Succeed,
    Fail,
    /// No answer yet: the refund stays pending until a `ResolveRefund`.
    Silent,
}

/// `POST /v1/refunds`, before it is turned into a request.
#[derive(Debug, Clone)]
struct RefundCmd {
    amount: RefundAmount,
    /// `None`: the intent's own currency.
    currency: Option<&'static str>,
    reason: Option<&'static str>,
    /// A reference of this many characters (501 is one too many).
    reference: Option<usize>,
    answer: RefundAnswer,
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
    Schedule(Schedule),
    Unschedule,
    /// One step of the deadline worker at the current time.
    Work,
    /// A test clock's step: the clock moves to the next due moment (if it is ahead), then the worker
    /// takes one step there.
    WorkNextDue,
    /// A refund: decide, reserve, and resolve unless the processor stays silent.
    Refund(RefundCmd),
    /// The processor's late answer (`true`: succeeded) to one of the refunds made so far, picked by
    /// the index; a refund no longer pending must be left alone.
    ResolveRefund(prop::sample::Index, bool),
}

/// How an intent is created.
#[derive(Debug, Clone)]
struct Creation {
    amount: i64,
    currency: &'static str,
    capture_method: &'static str,
    /// `scheduled_action` at creation: a type and an offset before the deadline.
    schedule: Option<(&'static str, Option<i64>)>,
    lead: Option<i64>,
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

fn currency() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        3 => Just(None),
        2 => prop::sample::select(vec!["USD", "JPY", "EUR", "usd", "XXX", ""]).prop_map(Some),
    ]
}

fn kind() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        8 => prop::sample::select(vec!["capture", "void"]),
        1 => prop::sample::select(vec!["refund", "Capture", "VOID", ""]),
    ]
}

fn when() -> impl Strategy<Value = When> {
    prop_oneof![
        1 => Just(When::Omitted),
        5 => (1..=8 * SECONDS_PER_DAY).prop_map(When::FromNow),
        1 => (0..=2 * SECONDS_PER_DAY).prop_map(When::FromNow),
        1 => (-60..=0i64).prop_map(When::FromNow),
        2 => (-2 * 3_600..=0i64).prop_map(When::FromDeadline),
        1 => (-2..=60i64).prop_map(When::FromDeadline),
    ]
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (
        kind(),
        when(),
        prop_oneof![3 => Just(None), 2 => amount().prop_map(Some)],
        currency(),
    )
        .prop_map(|(kind, when, amount, currency)| Schedule {
            kind,
            when,
            amount,
            currency,
        })
}

fn refund_amount() -> impl Strategy<Value = RefundAmount> {
    prop_oneof![
        3 => Just(RefundAmount::Omitted),
        2 => (-1_000_000_000..=2_000_000_000i64).prop_map(RefundAmount::Raw),
        1 => prop_oneof![Just(i64::MIN), Just(-1i64), Just(0i64), Just(1i64), Just(i64::MAX)]
            .prop_map(RefundAmount::Raw),
        4 => (0..=1000u16).prop_map(RefundAmount::Permille),
        2 => (-2..=2i64).prop_map(RefundAmount::AroundRefundable),
        1 => (-2..=2i64).prop_map(RefundAmount::AroundCaptured),
    ]
}

fn refund_cmd() -> impl Strategy<Value = RefundCmd> {
    (
        refund_amount(),
        prop_oneof![
            6 => Just(None),
            1 => prop::sample::select(vec!["USD", "JPY", "EUR", "usd", "XXX", ""]).prop_map(Some),
        ],
        prop::sample::select(vec![
            None,
            None,
            Some("requested_by_customer"),
            Some("duplicate"),
            Some("fraudulent"),
            Some("abandoned"),
            Some("Duplicate"),
            Some(""),
        ]),
        prop_oneof![6 => Just(None), 2 => Just(Some(500usize)), 1 => Just(Some(501usize))],
        prop_oneof![
            5 => Just(RefundAnswer::Succeed),
            2 => Just(RefundAnswer::Fail),
            2 => Just(RefundAnswer::Silent),
        ],
    )
        .prop_map(|(amount, currency, reason, reference, answer)| RefundCmd {
            amount,
            currency,
            reason,
            reference,
            answer,
        })
}

fn resolve_refund_cmd() -> impl Strategy<Value = Cmd> {
    (any::<prop::sample::Index>(), prop::bool::weighted(0.7))
        .prop_map(|(index, succeeded)| Cmd::ResolveRefund(index, succeeded))
}

fn command() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        4 => refund_cmd().prop_map(Cmd::Refund),
        2 => resolve_refund_cmd(),
        4 => answer().prop_map(Cmd::Confirm),
        2 => answer().prop_map(Cmd::Authenticate),
        3 => (amount(), currency()).prop_map(|(amount, currency)| Cmd::Capture { amount, currency }),
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
        5 => schedule().prop_map(Cmd::Schedule),
        1 => Just(Cmd::Unschedule),
        3 => Just(Cmd::Work),
        3 => Just(Cmd::WorkNextDue),
    ]
}

/// A creation: random amount, currency and capture method; sometimes a create-time scheduled action
/// (mostly valid) and an expiry warning lead (including none, zero, longer than any hold, and the
/// negative leads the domain does not refuse).
fn creation() -> impl Strategy<Value = Creation> {
    let offset = prop_oneof![
        6 => (1..=8 * SECONDS_PER_DAY).prop_map(Some),
        1 => Just(Some(i64::MAX)),
        1 => (-5..=0i64).prop_map(Some),
        1 => Just(None),
    ];
    let lead = prop_oneof![
        2 => Just(None),
        1 => Just(Some(0i64)),
        4 => (1..=8 * SECONDS_PER_DAY).prop_map(Some),
        1 => Just(Some(i64::MAX)),
        1 => (-120..=-1i64).prop_map(Some),
    ];
    (
        1..=1_000_000_000i64,
        prop::sample::select(vec!["USD", "JPY", "EUR"]),
        prop::sample::select(vec!["manual", "automatic"]),
        prop_oneof![1 => Just(None), 1 => (kind(), offset).prop_map(Some)],
        lead,
    )
        .prop_map(
            |(amount, currency, capture_method, schedule, lead)| Creation {
                amount,
                currency,
                capture_method,
                schedule,
                lead,
            },
        )
}

fn scope() -> Scope {
    Scope {
        merchant_id: "mer_prop".into(),
        livemode: false,
    }
}

fn create_request(c: &Creation, with_schedule: bool) -> CreateRequest {
    CreateRequest {
        amount: Some(RawMoney {
            amount: c.amount,
            currency: c.currency.into(),
        }),
        capture_method: Some(c.capture_method.into()),
        scheduled_action: c.schedule.filter(|_| with_schedule).map(|(kind, offset)| {
            ScheduleRequest {
                kind: kind.into(),
                at: None,
                offset_before_expiry_seconds: offset,
                amount: None,
            }
        }),
        ..CreateRequest::default()
    }
}

/// What the service brings to a creation: no card (nothing here auto-confirms), the server's
/// warning lead, and the time.
fn new_intent(lead: Option<i64>) -> NewIntent {
    NewIntent {
        id: "pi_prop".into(),
        scope: scope(),
        client_secret_hash: "hash".into(),
        has_payment_source: false,
        expiry_warning_lead_seconds: lead,
        now: T0,
    }
}

/// The contract's answer to a creation's `scheduled_action`, checked in the domain's order.
fn expected_creation(c: &Creation) -> Result<(), (ErrorCode, &'static str)> {
    let Some((kind, offset)) = c.schedule else {
        return Ok(());
    };
    if kind_of(kind).is_none() {
        return Err((ErrorCode::InvalidParameter, "scheduled_action.type"));
    }
    let offset_param = "scheduled_action.offset_before_expiry_seconds";
    match offset {
        None => return Err((ErrorCode::MissingParameter, offset_param)),
        Some(offset) if offset <= 0 => return Err((ErrorCode::InvalidParameter, offset_param)),
        Some(_) => {}
    }
    if c.capture_method != "manual" {
        return Err((ErrorCode::InvalidParameter, "scheduled_action"));
    }
    Ok(())
}

fn kind_of(name: &str) -> Option<ScheduledKind> {
    match name {
        "capture" => Some(ScheduledKind::Capture),
        "void" => Some(ScheduledKind::Void),
        _ => None,
    }
}

/// Creates the intent. A refused create-time schedule must be refused with the contract's code and
/// parameter; the case then goes on with the same intent created without it.
fn open(c: &Creation) -> Result<PaymentIntent, TestCaseError> {
    let expected = expected_creation(c);
    let created = new_intent(c.lead).create(create_request(c, true));
    let intent = match (expected, created) {
        (Ok(()), Ok(t)) => {
            prop_assert_eq!(t.events, vec![EventType::PaymentIntentCreated]);
            t.intent
        }
        (Err((code, param)), Err(r)) => {
            prop_assert_eq!(r.code, code, "{}", r.message);
            prop_assert_eq!(r.param.as_deref(), Some(param));
            new_intent(c.lead)
                .create(create_request(c, false))
                .map_err(|r| TestCaseError::fail(format!("a valid creation was refused: {r}")))?
                .intent
        }
        (Ok(()), Err(r)) => {
            return Err(TestCaseError::fail(format!(
                "a valid creation was refused: {r:?}"
            )));
        }
        (Err((code, _)), Ok(_)) => {
            return Err(TestCaseError::fail(format!("expected {code}, created")));
        }
    };
    prop_assert_eq!(intent.expiry_warning_lead_seconds, c.lead);
    prop_assert_eq!(intent.expiry_warning_at, None, "no warning before a hold");
    let schedule = match (c.schedule, expected_creation(c)) {
        (Some((kind, offset)), Ok(())) => Some(ScheduledAction {
            kind: kind_of(kind).expect("a valid schedule has a valid type"),
            at: None,
            offset_before_expiry_seconds: offset,
            amount: None,
        }),
        _ => None,
    };
    prop_assert_eq!(&intent.scheduled_action, &schedule);
    Ok(intent)
}

/// The intent as created, from a random amount, currency and capture method.
fn created() -> impl Strategy<Value = PaymentIntent> {
    (
        1..=1_000_000_000i64,
        prop::sample::select(vec!["USD", "JPY", "EUR"]),
        prop::sample::select(vec!["manual", "automatic"]),
    )
        .prop_map(|(amount, currency, capture_method)| {
            let c = Creation {
                amount,
                currency,
                capture_method,
                schedule: None,
                lead: None,
            };
            match new_intent(c.lead).create(create_request(&c, false)) {
                Ok(t) => t.intent,
                Err(r) => panic!("a valid creation was refused: {r}"),
            }
        })
}

/// Runs `f` with a context at `now` whose ids come from `ids`.
fn with_ctx<R>(now: Timestamp, ids: &mut u64, f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
    let mut new_id = |prefix: &'static str| {
        *ids += 1;
        format!("{prefix}_{ids}")
    };
    let mut ctx = Ctx {
        now,
        request_id: None,
        actor: None,
        new_id: &mut new_id,
    };
    f(&mut ctx)
}

/// One step of the deadline worker.
#[derive(Debug)]
struct Work {
    /// The time the worker ran at.
    at: Timestamp,
    /// What `due` offered then, with the moment it fell due.
    due: Option<(Timestamp, Due)>,
    /// The domain refused the scheduled action that was due; the worker cleared it instead.
    refused: Option<Rejection>,
    /// What the worker wrote; `None` only when nothing was due.
    transition: Option<Transition>,
}

/// Performs what is due on `intent` at `now` exactly as the service's deadline worker does: expiry
/// with `apply_expiry`, the warning with `apply_expiry_warning`, a scheduled capture or void through
/// `decide_*` and `apply_*` with reference `scheduled` (the scheduled amount, or everything capturable),
/// and a scheduled action the domain refuses by clearing it. `Err` when something was due and no
/// transition came of it: the worker would log it and leave the intent due for ever.
fn perform(intent: &PaymentIntent, now: Timestamp, ids: &mut u64) -> Result<Work, String> {
    let Some((due_at, due)) = intent.due(now) else {
        return Ok(Work {
            at: now,
            due: None,
            refused: None,
            transition: None,
        });
    };
    let (refused, transition) = match &due {
        Due::Expiry => (None, with_ctx(now, ids, |ctx| apply_expiry(intent, ctx))),
        Due::ExpiryWarning => (None, apply_expiry_warning(intent, now)),
        Due::Scheduled(action) => match action.kind {
            ScheduledKind::Capture => {
                let capture = Capture::Scheduled(action.amount);
                match decide_capture(intent, capture, now) {
                    Ok(money) => (
                        None,
                        Some(with_ctx(now, ids, |ctx| {
                            apply_capture(intent, money, capture, ctx)
                        })),
                    ),
                    Err(r) => (Some(r), clear_scheduled_action(intent, now)),
                }
            }
            ScheduledKind::Void => match decide_cancel(intent, None, now) {
                Ok(mut plan) => {
                    plan.reference = Some(SCHEDULED.into());
                    (
                        None,
                        Some(with_ctx(now, ids, |ctx| apply_cancel(intent, &plan, ctx))),
                    )
                }
                Err(r) => (Some(r), clear_scheduled_action(intent, now)),
            },
        },
    };
    if transition.is_none() {
        return Err(format!(
            "{due:?} (due at {due_at:?}) was offered at {now:?} on a {} intent but could not be \
             applied (refusal: {refused:?})",
            intent.status.as_str()
        ));
    }
    Ok(Work {
        at: now,
        due: Some((due_at, due)),
        refused,
        transition,
    })
}

/// The world a sequence runs in: the intent as stored, the clock, and an id counter.
struct World {
    intent: PaymentIntent,
    now: Timestamp,
    ids: u64,
    /// Every refund made so far, each as last stored.
    refunds: Vec<Refund>,
}

impl World {
    fn new(intent: PaymentIntent) -> World {
        World {
            intent,
            now: T0,
            ids: 0,
            refunds: Vec::new(),
        }
    }
}

/// What the processor's answer to a pending refund did.
#[derive(Debug)]
struct Resolution {
    outcome: RefundOutcome,
    /// The refund as resolved.
    refund: Refund,
    events: Vec<EventType>,
}

/// A refund that went through `decide_refund` and `reserve_refund`.
#[derive(Debug)]
struct RefundStep {
    /// What `decide_refund` granted.
    amount: Money,
    /// The intent with the amount reserved.
    reserved: PaymentIntent,
    /// The refund as reserved (pending).
    refund: Refund,
    reserve_events: Vec<EventType>,
    /// The processor's answer, unless it was silent.
    resolution: Option<Resolution>,
}

/// A late answer to one of the refunds made so far.
#[derive(Debug)]
struct ResolveStep {
    /// The refund answered, as it was stored.
    refund: Refund,
    outcome: RefundOutcome,
    /// `None`: `resolve_refund` left it alone.
    resolution: Option<Resolution>,
}

/// What one step did.
#[derive(Debug)]
enum Outcome {
    /// A command went through; the intent is the transition's, and these are its events.
    Moved(Vec<EventType>),
    /// A command was refused; the intent is unchanged.
    Refused(Rejection),
    /// The clock moved, `as_of` was applied, or there was no schedule to clear: no transition.
    Quiet,
    /// The worker took a step (or found nothing due).
    Worked(Box<Work>),
    /// The worker was offered due work it could not perform.
    Stuck(String),
    /// A refund was reserved, and resolved if the processor answered.
    Refunded(Box<RefundStep>),
    /// A late answer to a refund (`None`: there was no refund to answer).
    Resolved(Option<Box<ResolveStep>>),
}

impl Outcome {
    fn events(&self) -> Vec<EventType> {
        match self {
            Outcome::Moved(events) => events.clone(),
            Outcome::Worked(work) => work
                .transition
                .as_ref()
                .map_or_else(Vec::new, |t| t.events.clone()),
            Outcome::Refunded(step) => {
                let mut events = step.reserve_events.clone();
                if let Some(r) = &step.resolution {
                    events.extend(r.events.iter().copied());
                }
                events
            }
            Outcome::Resolved(Some(step)) => step
                .resolution
                .as_ref()
                .map_or_else(Vec::new, |r| r.events.clone()),
            _ => Vec::new(),
        }
    }
}

impl World {
    fn apply<F>(&mut self, f: F) -> Transition
    where
        F: FnOnce(&PaymentIntent, &mut Ctx<'_>) -> Transition,
    {
        let intent = &self.intent;
        with_ctx(self.now, &mut self.ids, |ctx| f(intent, ctx))
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
                    amount: raw_amount(&self.intent, self.intent.authorized, amount, *currency),
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
            Cmd::Schedule(schedule) => {
                let req = schedule_request(&self.intent, self.now, schedule);
                match set_scheduled_action(&self.intent, &req, self.now) {
                    Ok(t) => self.take(t),
                    Err(r) => Outcome::Refused(r),
                }
            }
            Cmd::Unschedule => match clear_scheduled_action(&self.intent, self.now) {
                Some(t) => self.take(t),
                None => Outcome::Quiet,
            },
            Cmd::Work => self.work(),
            Cmd::WorkNextDue => {
                if let Some(next) = self.intent.next_due_at() {
                    self.now = self.now.max(next);
                }
                self.work()
            }
            Cmd::Refund(r) => self.refund(r),
            Cmd::ResolveRefund(index, succeeded) => {
                if self.refunds.is_empty() {
                    return Outcome::Resolved(None);
                }
                let at = index.index(self.refunds.len());
                let outcome = refund_outcome(*succeeded);
                let refund = self.refunds[at].clone();
                let resolution = self.resolve(at, &outcome);
                Outcome::Resolved(Some(Box::new(ResolveStep {
                    refund,
                    outcome,
                    resolution,
                })))
            }
        }
    }

    /// `POST /v1/refunds` as the service runs it: decide, reserve (first commit), then the
    /// processor's answer (second commit), unless it is silent.
    fn refund(&mut self, cmd: &RefundCmd) -> Outcome {
        let req = refund_request(&self.intent, cmd);
        let amount = match decide_refund(&self.intent, &req) {
            Ok(amount) => amount,
            Err(r) => return Outcome::Refused(r),
        };
        self.ids += 1;
        let id = format!("re_{}", self.ids);
        let before = self.intent.clone();
        let (refund, reserved, reserve_events) = self.with_request(|ctx| {
            reserve_refund(&before, id, amount, &req, Some("idem_refund".into()), ctx)
        });
        self.intent = reserved.clone();
        self.refunds.push(refund.clone());
        let resolution = match cmd.answer {
            RefundAnswer::Succeed => {
                self.resolve(self.refunds.len() - 1, &RefundOutcome::Succeeded)
            }
            RefundAnswer::Fail => self.resolve(self.refunds.len() - 1, &refund_outcome(false)),
            RefundAnswer::Silent => None,
        };
        Outcome::Refunded(Box::new(RefundStep {
            amount,
            reserved,
            refund,
            reserve_events,
            resolution,
        }))
    }

    /// Records the processor's answer to refund `at` through `resolve_refund`.
    fn resolve(&mut self, at: usize, outcome: &RefundOutcome) -> Option<Resolution> {
        let intent = self.intent.clone();
        let refund = self.refunds[at].clone();
        let (next_refund, next_intent, events) =
            self.with_request(|ctx| resolve_refund(&intent, &refund, outcome, ctx))?;
        self.intent = next_intent;
        self.refunds[at] = next_refund.clone();
        Some(Resolution {
            outcome: outcome.clone(),
            refund: next_refund,
            events,
        })
    }

    /// Runs `f` with a context at the world's time carrying the refund request's id.
    fn with_request<R>(&mut self, f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
        let ids = &mut self.ids;
        let mut new_id = |prefix: &'static str| {
            *ids += 1;
            format!("{prefix}_{ids}")
        };
        let mut ctx = Ctx {
            now: self.now,
            request_id: Some(REFUND_REQUEST),
            actor: None,
            new_id: &mut new_id,
        };
        f(&mut ctx)
    }

    fn work(&mut self) -> Outcome {
        match perform(&self.intent, self.now, &mut self.ids) {
            Ok(work) => {
                if let Some(t) = &work.transition {
                    self.intent = t.intent.clone();
                }
                Outcome::Worked(Box::new(work))
            }
            Err(why) => Outcome::Stuck(why),
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

/// The amount a capture asks for; `base` is what `Permille` and `AroundAuthorized` refer to.
fn raw_amount(
    intent: &PaymentIntent,
    base: i64,
    amount: &Amount,
    currency: Option<&str>,
) -> Option<RawMoney> {
    let minor = match amount {
        Amount::Omitted => return None,
        Amount::Raw(n) => *n,
        Amount::Permille(p) => base * i64::from(*p) / 1000,
        Amount::AroundAuthorized(d) => base + d,
    };
    Some(RawMoney {
        amount: minor,
        currency: currency.unwrap_or(intent.currency().as_str()).into(),
    })
}

fn refund_outcome(succeeded: bool) -> RefundOutcome {
    if succeeded {
        RefundOutcome::Succeeded
    } else {
        RefundOutcome::Failed {
            reason: REFUND_DECLINED.into(),
        }
    }
}

/// What a refund may still take of `intent`, stated from the contract: captured money not yet
/// refunded nor reserved.
fn still_refundable(intent: &PaymentIntent) -> i64 {
    intent.captured - intent.refunded - intent.refund_pending
}

/// The request a `Refund` command sends to `intent`.
fn refund_request(intent: &PaymentIntent, cmd: &RefundCmd) -> RefundRequest {
    let refundable = still_refundable(intent);
    let minor = match cmd.amount {
        RefundAmount::Omitted => None,
        RefundAmount::Raw(n) => Some(n),
        RefundAmount::Permille(p) => Some(refundable.saturating_mul(i64::from(p)) / 1000),
        RefundAmount::AroundRefundable(d) => Some(refundable.saturating_add(d)),
        RefundAmount::AroundCaptured(d) => Some(intent.captured.saturating_add(d)),
    };
    RefundRequest {
        amount: minor.map(|amount| RawMoney {
            amount,
            currency: cmd.currency.unwrap_or(intent.currency().as_str()).into(),
        }),
        reason: cmd.reason.map(str::to_owned),
        reference: cmd.reference.map(|n| "r".repeat(n)),
        metadata: [("case".to_owned(), "refund".to_owned())].into(),
    }
}

/// The contract's answer to a refund of `intent`: the amount it takes, or the code and parameter
/// at fault, in the contract's order: captured at all, then the amount (greater than zero, in the
/// payment's currency, no more than still refundable; none means everything refundable, which
/// must not be nothing), then the reason, then the reference.
fn expected_refund(
    intent: &PaymentIntent,
    req: &RefundRequest,
) -> Result<i64, (ErrorCode, &'static str)> {
    if intent.status != Status::Succeeded || intent.captured == 0 {
        return Err((ErrorCode::PaymentIntentNotRefundable, "payment_intent_id"));
    }
    let refundable = still_refundable(intent);
    let amount = match &req.amount {
        None => refundable,
        Some(raw) if raw.amount <= 0 => {
            return Err((ErrorCode::InvalidRefundAmount, "amount_money.amount"));
        }
        Some(raw) if raw.currency != intent.currency().as_str() => {
            return Err((ErrorCode::RefundCurrencyMismatch, "amount_money.currency"));
        }
        Some(raw) => raw.amount,
    };
    if amount <= 0 || amount > refundable {
        return Err((
            ErrorCode::RefundAmountExceedsCaptured,
            "amount_money.amount",
        ));
    }
    match req.reason.as_deref() {
        None | Some("requested_by_customer" | "duplicate" | "fraudulent") => {}
        Some(_) => return Err((ErrorCode::InvalidParameter, "reason")),
    }
    if req
        .reference
        .as_ref()
        .is_some_and(|r| r.chars().count() > 500)
    {
        return Err((ErrorCode::InvalidParameter, "reference"));
    }
    Ok(amount)
}

/// The request a `Schedule` command sends to `intent` at `now`. Amounts refer to the intent's amount:
/// what a hold will be (before confirm) or is (after).
fn schedule_request(intent: &PaymentIntent, now: Timestamp, s: &Schedule) -> ScheduleRequest {
    let at = match s.when {
        When::Omitted => None,
        When::FromNow(seconds) => Some(now.plus_seconds(seconds)),
        When::FromDeadline(seconds) => Some(
            intent
                .authorization_expires_at
                .unwrap_or(now.plus_seconds(3_600))
                .plus_seconds(seconds),
        ),
    };
    ScheduleRequest {
        kind: s.kind.into(),
        at,
        offset_before_expiry_seconds: None,
        amount: s
            .amount
            .as_ref()
            .and_then(|a| raw_amount(intent, intent.amount.amount, a, s.currency)),
    }
}

/// Is `intent` a hold whose deadline has passed at `now`? Stated from the contract, independently.
fn lapsed(intent: &PaymentIntent, now: Timestamp) -> bool {
    intent.status == Status::RequiresCapture
        && intent
            .authorization_expires_at
            .is_some_and(|deadline| now > deadline)
}

/// Awaiting a payment method or authentication: no hold yet.
fn before_hold(status: Status) -> bool {
    matches!(
        status,
        Status::RequiresPaymentMethod | Status::RequiresAction
    )
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
                match raw_amount(intent, intent.authorized, amount, *currency) {
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
        Cmd::Advance(_)
        | Cmd::AsOf
        | Cmd::Schedule(_)
        | Cmd::Unschedule
        | Cmd::Work
        | Cmd::WorkNextDue
        | Cmd::Refund(_)
        | Cmd::ResolveRefund(..) => return None,
    })
}

/// The contract's answer to setting a scheduled action: `Ok(())`, or the code and the parameter
/// at fault, checking status (an automatic-capture intent has no hold to schedule), type, time,
/// then amount.
fn expected_schedule(
    intent: &PaymentIntent,
    req: &ScheduleRequest,
    now: Timestamp,
) -> Result<(), (ErrorCode, Option<&'static str>)> {
    if intent.status.is_terminal()
        || lapsed(intent, now)
        || intent.capture_method == holdfast_domain::intent::CaptureMethod::Automatic
    {
        return Err((ErrorCode::InvalidStatusForScheduledAction, None));
    }
    let Some(kind) = kind_of(&req.kind) else {
        return Err((ErrorCode::InvalidParameter, Some("type")));
    };
    let Some(at) = req.at else {
        return Err((ErrorCode::MissingParameter, Some("at")));
    };
    if at <= now {
        return Err((ErrorCode::InvalidParameter, Some("at")));
    }
    if intent.authorization_expires_at.is_some_and(|d| at >= d) {
        return Err((ErrorCode::ScheduledActionAfterExpiry, Some("at")));
    }
    match (&req.amount, kind) {
        (None, _) => Ok(()),
        (Some(_), ScheduledKind::Void) => Err((ErrorCode::InvalidParameter, Some("amount_money"))),
        (Some(raw), ScheduledKind::Capture) => {
            if raw.amount <= 0 {
                Err((ErrorCode::InvalidCaptureAmount, Some("amount_money.amount")))
            } else if raw.currency != intent.currency().as_str() {
                Err((
                    ErrorCode::CaptureCurrencyMismatch,
                    Some("amount_money.currency"),
                ))
            } else if raw.amount > intent.amount.amount {
                Err((
                    ErrorCode::CaptureAmountExceedsAuthorized,
                    Some("amount_money.amount"),
                ))
            } else {
                Ok(())
            }
        }
    }
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
    prop_assert!(
        pi.refunded >= 0 && pi.refund_pending >= 0,
        "negative refunds: refunded {}, pending {}",
        pi.refunded,
        pi.refund_pending
    );
    prop_assert!(
        pi.refunded + pi.refund_pending <= pi.captured,
        "refunded {} + pending {} exceed captured {}",
        pi.refunded,
        pi.refund_pending,
        pi.captured
    );
    if pi.status != Status::Succeeded {
        prop_assert_eq!(
            (pi.refunded, pi.refund_pending),
            (0, 0),
            "refunds on an intent that never settled"
        );
    }

    let of_kind = |kind: ActionType| {
        pi.actions
            .iter()
            .filter(|a| a.kind == kind)
            .collect::<Vec<_>>()
    };
    let captures = of_kind(ActionType::Capture);
    prop_assert!(captures.len() <= 1, "{} capture actions", captures.len());
    if let Some(capture) = captures.first() {
        prop_assert_eq!(capture.status, ActionStatus::Succeeded);
        prop_assert_eq!(capture.amount.amount, pi.captured);
    }
    let voids = of_kind(ActionType::Void);
    prop_assert!(voids.len() <= 1, "{} void actions", voids.len());
    let expiries = of_kind(ActionType::Expiry);
    prop_assert!(expiries.len() <= 1, "{} expiry actions", expiries.len());
    if let Some(expiry) = expiries.first() {
        prop_assert_eq!(
            pi.status,
            Status::Expired,
            "an expiry action on a live intent"
        );
        prop_assert_eq!(expiry.status, ActionStatus::Succeeded);
        prop_assert_eq!(expiry.amount.amount, pi.released);
        prop_assert!(voids.is_empty() && captures.is_empty());
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
            prop_assert_eq!(pi.expiry_warning_at, None, "a warning without a hold");
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

/// What must hold of an intent's deadlines at `now`: `next_due_at` and `due` agree with each other
/// and with the intent, and everything due can be performed, drains, and is never offered twice.
fn check_deadlines(pi: &PaymentIntent, now: Timestamp) -> Result<(), TestCaseError> {
    let scheduled_at = pi.scheduled_action.as_ref().and_then(|s| s.at);
    let next = pi.next_due_at();
    let deadline = pi.authorization_expires_at;
    match pi.status {
        Status::Succeeded | Status::Canceled | Status::Expired => {
            prop_assert_eq!(next, None, "a resolved intent has something due");
        }
        Status::RequiresPaymentMethod | Status::RequiresAction => {
            prop_assert_eq!(next, scheduled_at, "next_due_at before a hold");
        }
        Status::RequiresCapture => {
            let expiry = deadline.map(|d| d.plus_seconds(1));
            let earliest = [scheduled_at, pi.expiry_warning_at, expiry]
                .into_iter()
                .flatten()
                .min();
            prop_assert_eq!(next, earliest, "next_due_at of a hold");
            prop_assert!(
                next.is_some_and(|t| expiry.is_some_and(|e| t <= e)),
                "a hold is due by the second after its deadline: {:?}",
                next
            );
        }
    }

    let due = pi.due(now);
    prop_assert_eq!(
        due.is_some(),
        next.is_some_and(|t| t <= now),
        "due({:?}) is {:?} but next_due_at is {:?}",
        now,
        due,
        next
    );
    if lapsed(pi, now) {
        let expiry = deadline.map(|d| d.plus_seconds(1));
        prop_assert_eq!(
            due,
            expiry.map(|e| (e, Due::Expiry)),
            "past the deadline only expiry is due"
        );
    } else if let Some((at, item)) = &due {
        prop_assert_eq!(Some(*at), next, "due offers what next_due_at names");
        let want = if scheduled_at == Some(*at) {
            pi.scheduled_action.clone().map(Due::Scheduled)
        } else if pi.expiry_warning_at == Some(*at) {
            Some(Due::ExpiryWarning)
        } else {
            None
        };
        prop_assert_eq!(
            Some(item),
            want.as_ref(),
            "a scheduled action goes before the warning"
        );
    }

    // Due work is always performable, and drains: at most a warning and then a scheduled action.
    let mut current = pi.clone();
    let mut ids = 1_000_000;
    for step in 0.. {
        let work = perform(&current, now, &mut ids).map_err(TestCaseError::fail)?;
        let Some(t) = &work.transition else {
            break;
        };
        prop_assert!(step < 2, "due work did not drain at {:?}: {:?}", now, work);
        let after = t.intent.clone();
        check_intent(&after)?;
        check_work(&current, &work, &after)?;
        current = after;
    }
    Ok(())
}

/// What one worker step must have done to `before`, leaving `after`.
fn check_work(
    before: &PaymentIntent,
    work: &Work,
    after: &PaymentIntent,
) -> Result<(), TestCaseError> {
    let now = work.at;
    prop_assert_eq!(&work.due, &before.due(now));
    let Some((due_at, due)) = &work.due else {
        prop_assert!(work.transition.is_none());
        prop_assert_eq!(
            after,
            before,
            "the worker changed an intent with nothing due"
        );
        return Ok(());
    };
    let Some(t) = &work.transition else {
        return Err(TestCaseError::fail("due work without a transition"));
    };
    prop_assert!(*due_at <= now);
    prop_assert_eq!(after, &t.intent);
    prop_assert_eq!(
        after.version,
        before.version + 1,
        "version not bumped by one"
    );
    prop_assert_eq!(after.updated_at, now);
    prop_assert!(
        after.actions.starts_with(&before.actions),
        "the action history was rewritten"
    );
    let new_actions: Vec<_> = after.actions[before.actions.len()..]
        .iter()
        .map(|a| (a.kind, a.status, a.amount.amount, a.reference.as_deref()))
        .collect();
    let events = t.events.as_slice();
    // `before` with the bookkeeping of a transition at `now`.
    let mut bumped = before.clone();
    bumped.version += 1;
    bumped.updated_at = now;

    match due {
        Due::Expiry => {
            prop_assert!(
                lapsed(before, now),
                "expiry of a hold still inside its deadline"
            );
            prop_assert!(work.refused.is_none());
            prop_assert_eq!(events, &[EventType::PaymentIntentCanceled]);
            prop_assert_eq!(after.status, Status::Expired);
            prop_assert_eq!(
                after.cancellation_reason,
                Some(CancellationReason::AuthorizationExpired)
            );
            prop_assert_eq!(
                new_actions,
                vec![(
                    ActionType::Expiry,
                    ActionStatus::Succeeded,
                    before.capturable,
                    None
                )]
            );
            let lapsed_at = before.authorization_expires_at.map(|d| d.plus_seconds(1));
            prop_assert_eq!(Some(*due_at), lapsed_at);
            prop_assert_eq!(after.canceled_at, lapsed_at);
            prop_assert_eq!(after.actions.last().map(|a| a.created_at), lapsed_at);
            // What a reader already saw through `as_of`, now recorded.
            let view = before.as_of(now);
            prop_assert_eq!(
                [
                    after.authorized,
                    after.capturable,
                    after.captured,
                    after.released
                ],
                [
                    view.authorized,
                    view.capturable,
                    view.captured,
                    view.released
                ]
            );
            prop_assert_eq!(&after.scheduled_action, &None);
            prop_assert_eq!(after.expiry_warning_at, None);
        }
        Due::ExpiryWarning => {
            prop_assert!(work.refused.is_none());
            prop_assert_eq!(before.status, Status::RequiresCapture);
            prop_assert!(!lapsed(before, now), "a warning past the deadline");
            prop_assert_eq!(before.expiry_warning_at, Some(*due_at));
            prop_assert!(before.expiry_warning_lead_seconds.is_some());
            prop_assert_eq!(events, &[EventType::PaymentIntentAuthorizationExpiring]);
            bumped.expiry_warning_at = None;
            prop_assert_eq!(after, &bumped, "the warning changed more than itself");
        }
        Due::Scheduled(action) => {
            prop_assert_eq!(Some(action), before.scheduled_action.as_ref());
            prop_assert_eq!(action.at, Some(*due_at));
            prop_assert!(!lapsed(before, now), "a scheduled action past the deadline");
            match (action.kind, &work.refused) {
                (ScheduledKind::Capture, None) => {
                    prop_assert_eq!(before.status, Status::RequiresCapture);
                    let amount = action.amount.map_or(before.capturable, |m| m.amount);
                    prop_assert_eq!(events, &[EventType::PaymentIntentSucceeded]);
                    prop_assert_eq!(after.status, Status::Succeeded);
                    prop_assert_eq!(after.captured, amount);
                    prop_assert_eq!(after.released, before.capturable - amount);
                    prop_assert_eq!(
                        new_actions,
                        vec![(
                            ActionType::Capture,
                            ActionStatus::Succeeded,
                            amount,
                            Some(SCHEDULED)
                        )]
                    );
                }
                (ScheduledKind::Capture, Some(r)) => {
                    // Nothing to capture yet: the worker drops the schedule, as the service does.
                    prop_assert!(
                        before_hold(before.status),
                        "a scheduled capture was refused on a {} intent: {:?}",
                        before.status.as_str(),
                        r
                    );
                    prop_assert_eq!(r.code, ErrorCode::InvalidStatusForCapture);
                    prop_assert!(events.is_empty());
                    bumped.scheduled_action = None;
                    prop_assert_eq!(after, &bumped);
                }
                (ScheduledKind::Void, None) => {
                    prop_assert_eq!(events, &[EventType::PaymentIntentCanceled]);
                    prop_assert_eq!(after.status, Status::Canceled);
                    prop_assert_eq!(after.cancellation_reason, None);
                    prop_assert_eq!(after.canceled_at, Some(now));
                    let voided = if before.status == Status::RequiresCapture {
                        vec![(
                            ActionType::Void,
                            ActionStatus::Succeeded,
                            before.capturable,
                            Some(SCHEDULED),
                        )]
                    } else {
                        Vec::new()
                    };
                    prop_assert_eq!(new_actions, voided);
                }
                (ScheduledKind::Void, Some(r)) => {
                    return Err(TestCaseError::fail(format!(
                        "a due scheduled void was refused: {r:?}"
                    )));
                }
            }
            prop_assert_eq!(&after.scheduled_action, &None);
        }
    }
    // The worker cannot spin: what it just did is not offered again at the same moment.
    let again = after.due(now);
    prop_assert!(
        again.as_ref() != Some(&(*due_at, due.clone())),
        "{:?} is still due after the worker performed it",
        due
    );
    Ok(())
}

/// What must hold of the events of a whole sequence.
fn check_history(events: &[EventType]) -> Result<(), TestCaseError> {
    let count = |e: EventType| events.iter().filter(|x| **x == e).count();
    prop_assert!(
        count(EventType::PaymentIntentAuthorizationExpiring) <= 1,
        "the expiring-soon warning was sent more than once: {:?}",
        events
    );
    prop_assert!(
        count(EventType::PaymentIntentSucceeded) + count(EventType::PaymentIntentCanceled) <= 1,
        "resolved more than once: {:?}",
        events
    );
    prop_assert!(count(EventType::PaymentIntentRequiresCapture) <= 1);
    prop_assert!(
        count(EventType::RefundSucceeded) + count(EventType::RefundFailed)
            <= count(EventType::RefundCreated),
        "a refund resolved more than once: {:?}",
        events
    );
    if let Some(warned) = events
        .iter()
        .position(|e| *e == EventType::PaymentIntentAuthorizationExpiring)
    {
        let (earlier, _) = events.split_at(warned);
        prop_assert!(
            earlier.contains(&EventType::PaymentIntentRequiresCapture),
            "a warning before the hold"
        );
        prop_assert!(
            !earlier.contains(&EventType::PaymentIntentSucceeded)
                && !earlier.contains(&EventType::PaymentIntentCanceled),
            "a warning after the hold was resolved"
        );
    }
    Ok(())
}

/// Setting a scheduled action: refused exactly as the contract says, or it replaces the schedule and
/// nothing else.
fn check_schedule(
    before: &PaymentIntent,
    at: Timestamp,
    s: &Schedule,
    outcome: &Outcome,
    after: &PaymentIntent,
) -> Result<(), TestCaseError> {
    let req = schedule_request(before, at, s);
    match (expected_schedule(before, &req, at), outcome) {
        (Ok(()), Outcome::Moved(events)) => {
            prop_assert!(events.is_empty());
            let mut want = before.clone();
            want.version += 1;
            want.updated_at = at;
            want.scheduled_action = Some(ScheduledAction {
                kind: kind_of(s.kind).expect("a valid type"),
                at: req.at,
                offset_before_expiry_seconds: None,
                amount: req
                    .amount
                    .as_ref()
                    .map(|raw| Money::new(raw.amount, before.currency())),
            });
            prop_assert_eq!(after, &want);
        }
        (Err((code, param)), Outcome::Refused(r)) => {
            prop_assert_eq!(r.code, code, "{}", r.message);
            prop_assert_eq!(r.param.as_deref(), param);
            prop_assert_eq!(after, before);
        }
        (want, got) => {
            return Err(TestCaseError::fail(format!(
                "setting {req:?} on a {} intent at {at:?}: expected {want:?}, got {got:?}",
                before.status.as_str()
            )));
        }
    }
    Ok(())
}

/// Clearing the scheduled action: removes it and nothing else from an intent that is still open;
/// a resolved intent (terminal, or a hold past its deadline that reads as expired) is left alone,
/// since its schedule can never run and the write would change a settled intent.
fn check_unschedule(
    before: &PaymentIntent,
    at: Timestamp,
    outcome: &Outcome,
    after: &PaymentIntent,
) -> Result<(), TestCaseError> {
    let resolved = before.status.is_terminal() || lapsed(before, at);
    match outcome {
        Outcome::Moved(events) => {
            prop_assert!(
                !resolved,
                "clear_scheduled_action wrote a new version of an intent that reads as {} (stored \
                 as {}, at {:?}); expected None",
                before.as_of(at).status.as_str(),
                before.status.as_str(),
                at
            );
            prop_assert!(before.scheduled_action.is_some());
            prop_assert!(events.is_empty());
            let mut want = before.clone();
            want.version += 1;
            want.updated_at = at;
            want.scheduled_action = None;
            prop_assert_eq!(after, &want);
        }
        Outcome::Quiet => {
            prop_assert!(resolved || before.scheduled_action.is_none());
            prop_assert_eq!(after, before);
        }
        other => {
            return Err(TestCaseError::fail(format!("clearing gave {other:?}")));
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

    match (cmd, outcome) {
        (Cmd::Refund(r), _) => check_refund(before, at, r, outcome, after)?,
        (Cmd::ResolveRefund(..), _) => check_late_answer(before, at, outcome, after)?,
        (Cmd::Schedule(s), _) => check_schedule(before, at, s, outcome, after)?,
        (Cmd::Unschedule, _) => check_unschedule(before, at, outcome, after)?,
        (Cmd::Work | Cmd::WorkNextDue, Outcome::Worked(work)) => {
            let stop = match cmd {
                Cmd::WorkNextDue => before.next_due_at().map_or(at, |next| next.max(at)),
                _ => at,
            };
            prop_assert_eq!(work.at, stop, "the worker ran at the wrong moment");
            check_work(before, work, after)?;
        }
        (_, Outcome::Stuck(why)) => {
            return Err(TestCaseError::fail(format!(
                "due work could not be performed: {why}"
            )));
        }
        (Cmd::Work | Cmd::WorkNextDue, _) => {
            return Err(TestCaseError::fail(
                "the worker gave the wrong kind of outcome",
            ));
        }
        _ => check_command(before, at, cmd, outcome, after)?,
    }

    prop_assert!(
        after.refunded >= before.refunded,
        "refunded went down from {} to {}",
        before.refunded,
        after.refunded
    );
    let refunding = matches!(cmd, Cmd::Refund(_) | Cmd::ResolveRefund(..));
    if refunding {
        // A refund moves refunded money and its reservation, records its action and bumps the
        // version; the hold's amounts and the status stay as they were.
        let mut want = before.clone();
        want.refunded = after.refunded;
        want.refund_pending = after.refund_pending;
        want.version = after.version;
        want.updated_at = after.updated_at;
        want.actions = after.actions.clone();
        prop_assert_eq!(after, &want, "a refund changed more than the refund fields");
        prop_assert!(
            after.actions.starts_with(&before.actions),
            "the action history was rewritten"
        );
    } else {
        prop_assert_eq!(
            (after.refunded, after.refund_pending),
            (before.refunded, before.refund_pending),
            "something other than a refund moved refunded money"
        );
    }
    if before.status.is_terminal() && !refunding {
        prop_assert_eq!(after, before, "a terminal intent changed");
    }
    if lapsed(before, at) {
        let expired_by_worker = after.status == Status::Expired
            && matches!(outcome, Outcome::Worked(w) if matches!(w.due, Some((_, Due::Expiry))));
        prop_assert!(
            expired_by_worker || after == before || *after == before.as_of(at),
            "a lapsed hold became {:?}",
            after.status
        );
    }
    Ok(())
}

/// The commands of the API proper: confirm, authenticate, capture, cancel, time and `as_of`.
fn check_command(
    before: &PaymentIntent,
    at: Timestamp,
    cmd: &Cmd,
    outcome: &Outcome,
    after: &PaymentIntent,
) -> Result<(), TestCaseError> {
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
            check_command_deadlines(before, at, cmd, after)?;
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

/// What a successful command does to the deadlines: placing a hold resolves a create-time schedule
/// to `deadline - offset` and the warning to `deadline - lead`, neither before the authorization;
/// capture and cancel clear both.
fn check_command_deadlines(
    before: &PaymentIntent,
    at: Timestamp,
    cmd: &Cmd,
    after: &PaymentIntent,
) -> Result<(), TestCaseError> {
    match cmd {
        Cmd::Confirm(_) | Cmd::Authenticate(_) if after.status == Status::RequiresCapture => {
            let Some(deadline) = after.authorization_expires_at else {
                return Err(TestCaseError::fail("a hold without a deadline"));
            };
            prop_assert_eq!(
                after.expiry_warning_at,
                after
                    .expiry_warning_lead_seconds
                    .map(|lead| deadline.plus_seconds(-lead).max(at)),
                "the warning is due lead seconds before the deadline, not before the hold"
            );
            let mut want = before.scheduled_action.clone();
            if let Some(s) = &mut want
                && let Some(offset) = s.offset_before_expiry_seconds
            {
                s.at = Some(deadline.plus_seconds(-offset).max(at));
            }
            prop_assert_eq!(
                &after.scheduled_action,
                &want,
                "a create-time schedule resolves offset seconds before the deadline"
            );
        }
        Cmd::Confirm(_) | Cmd::Authenticate(_) => {
            prop_assert_eq!(after.expiry_warning_at, None);
            prop_assert_eq!(&after.scheduled_action, &before.scheduled_action);
        }
        Cmd::Capture { .. } | Cmd::Cancel(_) => {
            prop_assert_eq!(
                &after.scheduled_action,
                &None,
                "capture and cancel clear the schedule"
            );
            prop_assert_eq!(
                after.expiry_warning_at,
                None,
                "capture and cancel clear the warning"
            );
        }
        _ => {}
    }
    Ok(())
}

/// A refund command: refused exactly as the contract says (changing nothing), or reserved and then
/// resolved as the processor answered, or left pending if it was silent.
fn check_refund(
    before: &PaymentIntent,
    at: Timestamp,
    cmd: &RefundCmd,
    outcome: &Outcome,
    after: &PaymentIntent,
) -> Result<(), TestCaseError> {
    let req = refund_request(before, cmd);
    let step = match (expected_refund(before, &req), outcome) {
        (Err((code, param)), Outcome::Refused(r)) => {
            prop_assert_eq!(r.code, code, "{}", r.message);
            prop_assert_eq!(r.param.as_deref(), Some(param));
            prop_assert_eq!(after, before, "a refused refund changed the intent");
            return Ok(());
        }
        (Ok(amount), Outcome::Refunded(step)) => {
            prop_assert_eq!(step.amount, Money::new(amount, before.currency()));
            step
        }
        (want, got) => {
            return Err(TestCaseError::fail(format!(
                "refunding {req:?} of a {} intent (captured {}, refunded {}, pending {}): \
                 expected {want:?}, got {got:?}",
                before.status.as_str(),
                before.captured,
                before.refunded,
                before.refund_pending
            )));
        }
    };
    let amount = step.amount.amount;

    // The reservation: the amount moves to refund_pending, nothing else but the version.
    let mut reserved = before.clone();
    reserved.version += 1;
    reserved.updated_at = at;
    reserved.refund_pending += amount;
    prop_assert_eq!(&step.reserved, &reserved, "the reservation");
    check_intent(&step.reserved)?;
    prop_assert_eq!(&step.reserve_events, &vec![EventType::RefundCreated]);
    let refund = &step.refund;
    let want_reason = match req.reason.as_deref() {
        Some("requested_by_customer") => Some(RefundReason::RequestedByCustomer),
        Some("duplicate") => Some(RefundReason::Duplicate),
        Some("fraudulent") => Some(RefundReason::Fraudulent),
        _ => None,
    };
    prop_assert_eq!(refund.status, RefundStatus::Pending);
    prop_assert_eq!(refund.version, 1);
    prop_assert_eq!(refund.amount, step.amount);
    prop_assert_eq!(&refund.payment_intent_id, &before.id);
    prop_assert_eq!(&refund.scope, &before.scope);
    prop_assert_eq!(&refund.order_id, &before.order_id);
    prop_assert_eq!(refund.reason, want_reason);
    prop_assert_eq!(&refund.reference, &req.reference);
    prop_assert_eq!(&refund.metadata, &req.metadata);
    prop_assert_eq!(&refund.failure_reason, &None);
    prop_assert_eq!(refund.idempotency_key.as_deref(), Some("idem_refund"));
    prop_assert_eq!(refund.request_id.as_deref(), Some(REFUND_REQUEST));
    prop_assert_eq!((refund.created_at, refund.updated_at), (at, at));

    match (cmd.answer, &step.resolution) {
        (RefundAnswer::Silent, None) => {
            prop_assert_eq!(
                after,
                &step.reserved,
                "a silent processor resolved a refund"
            );
        }
        (RefundAnswer::Succeed | RefundAnswer::Fail, Some(resolution)) => {
            let succeeded = matches!(cmd.answer, RefundAnswer::Succeed);
            prop_assert_eq!(&resolution.outcome, &refund_outcome(succeeded));
            check_resolution(&step.reserved, refund, resolution, after, at)?;
        }
        (answer, resolution) => {
            return Err(TestCaseError::fail(format!(
                "the processor answered {answer:?} but the resolution is {resolution:?}"
            )));
        }
    }
    Ok(())
}

/// A late answer to a refund: resolves it if it is still pending, and leaves everything alone if
/// it is not (another process answered first).
fn check_late_answer(
    before: &PaymentIntent,
    at: Timestamp,
    outcome: &Outcome,
    after: &PaymentIntent,
) -> Result<(), TestCaseError> {
    let Outcome::Resolved(step) = outcome else {
        return Err(TestCaseError::fail(format!(
            "a late answer gave {outcome:?}"
        )));
    };
    let Some(step) = step else {
        prop_assert_eq!(after, before, "no refund to answer, yet the intent changed");
        return Ok(());
    };
    match (&step.resolution, step.refund.status) {
        (Some(resolution), RefundStatus::Pending) => {
            prop_assert_eq!(&resolution.outcome, &step.outcome);
            check_resolution(before, &step.refund, resolution, after, at)?;
        }
        (None, RefundStatus::Succeeded | RefundStatus::Failed) => {
            prop_assert_eq!(
                after,
                before,
                "answering a resolved refund changed the intent"
            );
        }
        (resolution, status) => {
            return Err(TestCaseError::fail(format!(
                "answering a {status:?} refund gave {resolution:?}"
            )));
        }
    }
    Ok(())
}

/// The processor's answer to `pending`, taking `from` to `to` at `at`: the reservation becomes
/// refunded money (succeeded) or is given back (failed), with one refund action carrying the
/// refund's amount, reference, metadata and request.
fn check_resolution(
    from: &PaymentIntent,
    pending: &Refund,
    resolution: &Resolution,
    to: &PaymentIntent,
    at: Timestamp,
) -> Result<(), TestCaseError> {
    let amount = pending.amount.amount;
    let succeeded = resolution.outcome == RefundOutcome::Succeeded;
    prop_assert!(
        from.refund_pending >= amount,
        "resolving more than was reserved"
    );
    let mut want = from.clone();
    want.version += 1;
    want.updated_at = at;
    want.refund_pending -= amount;
    if succeeded {
        want.refunded += amount;
    }
    prop_assert_eq!(
        to.actions.len(),
        from.actions.len() + 1,
        "one refund action"
    );
    prop_assert!(
        to.actions.starts_with(&from.actions),
        "the action history was rewritten"
    );
    let Some(action) = to.actions.last() else {
        return Err(TestCaseError::fail("no refund action"));
    };
    prop_assert_eq!(action.kind, ActionType::Refund);
    prop_assert_eq!(
        action.status,
        if succeeded {
            ActionStatus::Succeeded
        } else {
            ActionStatus::Failed
        }
    );
    prop_assert_eq!(action.amount, pending.amount);
    prop_assert_eq!(&action.reference, &pending.reference);
    prop_assert_eq!(&action.metadata, &pending.metadata);
    prop_assert_eq!(&action.request_id, &pending.request_id);
    prop_assert_eq!(action.created_at, at);
    want.actions = to.actions.clone();
    prop_assert_eq!(
        to,
        &want,
        "the resolution changed more than the refund fields"
    );

    let mut want_refund = pending.clone();
    want_refund.version += 1;
    want_refund.updated_at = at;
    if succeeded {
        want_refund.status = RefundStatus::Succeeded;
    } else {
        want_refund.status = RefundStatus::Failed;
        want_refund.failure_reason = Some(REFUND_DECLINED.into());
    }
    prop_assert_eq!(&resolution.refund, &want_refund);
    prop_assert_eq!(
        &resolution.events,
        &vec![if succeeded {
            EventType::RefundSucceeded
        } else {
            EventType::RefundFailed
        }]
    );
    Ok(())
}

/// The intent's refund fields agree with its refunds, its refund actions and the refund events so
/// far: succeeded refunds add up to `refunded`, pending ones to `refund_pending`; each refund was
/// created once and resolved at most once.
fn check_ledger(
    pi: &PaymentIntent,
    refunds: &[Refund],
    events: &[EventType],
) -> Result<(), TestCaseError> {
    let of = |status: RefundStatus| refunds.iter().filter(move |r| r.status == status);
    prop_assert_eq!(
        of(RefundStatus::Succeeded)
            .map(|r| r.amount.amount)
            .sum::<i64>(),
        pi.refunded,
        "succeeded refunds do not add up to refunded"
    );
    prop_assert_eq!(
        of(RefundStatus::Pending)
            .map(|r| r.amount.amount)
            .sum::<i64>(),
        pi.refund_pending,
        "pending refunds do not add up to refund_pending"
    );
    for r in refunds {
        prop_assert!(r.amount.amount > 0, "an empty refund: {:?}", r);
        prop_assert_eq!(r.amount.currency, pi.currency());
        prop_assert_eq!(&r.payment_intent_id, &pi.id);
        prop_assert_eq!(r.failure_reason.is_some(), r.status == RefundStatus::Failed);
    }
    let actions = |status: ActionStatus| {
        pi.actions
            .iter()
            .filter(move |a| a.kind == ActionType::Refund && a.status == status)
    };
    prop_assert_eq!(
        actions(ActionStatus::Succeeded)
            .map(|a| a.amount.amount)
            .sum::<i64>(),
        pi.refunded
    );
    prop_assert_eq!(
        actions(ActionStatus::Succeeded).count(),
        of(RefundStatus::Succeeded).count()
    );
    prop_assert_eq!(
        actions(ActionStatus::Failed).count(),
        of(RefundStatus::Failed).count()
    );
    let count = |e: EventType| events.iter().filter(|x| **x == e).count();
    prop_assert_eq!(count(EventType::RefundCreated), refunds.len());
    prop_assert_eq!(
        count(EventType::RefundSucceeded),
        of(RefundStatus::Succeeded).count()
    );
    prop_assert_eq!(
        count(EventType::RefundFailed),
        of(RefundStatus::Failed).count()
    );
    Ok(())
}

/// Commands for a payment that already settled: mostly refunds and late answers, with time, the
/// worker and the hold's commands (which must all be refused or do nothing) in between.
fn settled_command() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        8 => refund_cmd().prop_map(Cmd::Refund),
        4 => resolve_refund_cmd(),
        1 => (0..=3 * SECONDS_PER_DAY).prop_map(Cmd::Advance),
        1 => (amount(), currency()).prop_map(|(amount, currency)| Cmd::Capture { amount, currency }),
        1 => Just(Cmd::Cancel(None)),
        1 => answer().prop_map(Cmd::Confirm),
        1 => Just(Cmd::Work),
        1 => Just(Cmd::AsOf),
    ]
}

/// Runs `cmds` in `world`, checking every step; `events` are the events so far.
fn run(world: &mut World, cmds: &[Cmd], events: &mut Vec<EventType>) -> Result<(), TestCaseError> {
    for cmd in cmds {
        let before = world.intent.clone();
        let at = world.now;
        let outcome = world.step(cmd);
        check_step(&before, at, cmd, &outcome, &world.intent)?;
        check_deadlines(&world.intent, world.now)?;
        events.extend(outcome.events());
        check_history(events)?;
        check_ledger(&world.intent, &world.refunds, events)?;
    }
    Ok(())
}

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 2000;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_command_sequences_keep_the_money_rules(
        creation in creation(),
        cmds in prop::collection::vec(command(), 1..40),
    ) {
        let intent = open(&creation)?;
        check_intent(&intent)?;
        check_deadlines(&intent, T0)?;
        prop_assert_eq!(intent.version, 1);
        let mut world = World::new(intent);
        let mut events = Vec::new();
        run(&mut world, &cmds, &mut events)?;
    }

    /// A settled payment (captured in part or in full, or charged at once) refunded at random:
    /// never more than was captured, refusals in the contract's order, every reservation either
    /// refunded or given back, and the ledger adds up after every step.
    #[test]
    fn refunds_never_take_more_than_was_captured(
        intent in created(),
        permille in 1..=1000u16,
        cmds in prop::collection::vec(settled_command(), 1..40),
    ) {
        let mut world = World::new(intent);
        let mut events = Vec::new();
        let settle = if world.intent.capture_method == holdfast_domain::intent::CaptureMethod::Automatic {
            vec![Cmd::Confirm(Answer::Settle)]
        } else {
            let part = (world.intent.amount.amount * i64::from(permille) / 1000).max(1);
            let capture = Cmd::Capture { amount: Amount::Raw(part), currency: None };
            vec![Cmd::Confirm(Answer::Hold { expires_in: 7 * SECONDS_PER_DAY }), capture]
        };
        run(&mut world, &settle, &mut events)?;
        prop_assert_eq!(world.intent.status, Status::Succeeded);
        prop_assert!(world.intent.captured > 0);
        let captured = world.intent.captured;
        run(&mut world, &cmds, &mut events)?;
        prop_assert_eq!(world.intent.captured, captured, "refunds changed the capture");
        // Whatever is still pending, the processor answers in the end; all of it can be resolved.
        let pending: Vec<usize> = (0..world.refunds.len())
            .filter(|i| world.refunds[*i].status == RefundStatus::Pending)
            .collect();
        for at in pending {
            let before = world.intent.clone();
            let refund = world.refunds[at].clone();
            let resolution = world.resolve(at, &RefundOutcome::Succeeded);
            let Some(resolution) = resolution else {
                return Err(TestCaseError::fail("a pending refund could not be resolved"));
            };
            check_resolution(&before, &refund, &resolution, &world.intent, world.now)?;
            events.extend(resolution.events.iter().copied());
            check_ledger(&world.intent, &world.refunds, &events)?;
        }
        prop_assert_eq!(world.intent.refund_pending, 0);
    }

    /// The path the guide walks, with any amount and any valid capture: money is conserved to the
    /// minor unit and the remainder is released in the same step.
    #[test]
    fn a_capture_splits_the_hold_between_captured_and_released(
        intent in created(),
        permille in 1..=1000u16,
        wait in 0..=7 * SECONDS_PER_DAY,
    ) {
        let mut world = World::new(intent);
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

// ---- Pay calls ---------------------------------------------------------------------------------

/// Where one intent of a pay call's pool lives, and how it stands.
#[derive(Debug, Clone, Copy)]
struct PoolIntent {
    /// The service finds it.
    exists: bool,
    /// 0: on the order paid, 1: on another order, 2: on no order.
    home: u8,
    manual: bool,
    /// 0: requires_payment_method, 1: requires_action, 2: requires_capture.
    status: u8,
}

/// The order a pay call pays, as it stands when the call is decided.
#[derive(Debug, Clone, Copy)]
struct PayOrder {
    due: i64,
    /// 0: open, 1: paid in full, 2: canceled.
    status: u8,
    held: bool,
    strict: bool,
}

/// A share as asked for: an amount relative to the balance, and a currency.
#[derive(Debug, Clone, Copy)]
struct AskedShare {
    /// 0: a random part of the balance, 1: zero, 2: negative, 3: the whole balance, 4: what the
    /// shares before it leave of the balance.
    kind: u8,
    permille: u16,
    currency: &'static str,
}

#[derive(Debug, Clone)]
struct PayCase {
    order: PayOrder,
    pool: [PoolIntent; 4],
    /// Indexes into the pool; 4 names an intent that never exists.
    ids: Vec<usize>,
    /// A token for each intent named.
    token_each: bool,
    /// More pool indexes a token is given for.
    tokens: Vec<usize>,
    /// A share for each intent named, the last one taking what is left of the balance.
    split_each: bool,
    /// More shares, by pool index.
    shares: Vec<(usize, AskedShare)>,
    /// The balance the caller expects: off by this much, in this currency.
    expected_off: i64,
    expected_currency: &'static str,
}

fn pay_case() -> impl Strategy<Value = PayCase> {
    let pool_intent = (
        prop::bool::weighted(0.95),
        prop::sample::select(vec![0u8, 0, 0, 0, 0, 0, 0, 0, 1, 2]),
        any::<bool>(),
        prop::sample::select(vec![0u8, 0, 0, 0, 0, 0, 0, 0, 1, 2]),
    )
        .prop_map(|(exists, home, manual, status)| PoolIntent {
            exists,
            home,
            manual,
            status,
        });
    let order = (
        1..=1_000_000i64,
        prop::sample::select(vec![0u8, 0, 0, 0, 0, 0, 0, 0, 1, 2]),
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(due, status, held, strict)| PayOrder {
            due,
            status,
            held,
            strict,
        });
    let share = (
        prop::sample::select(vec![0u8, 0, 0, 1, 2, 3, 4]),
        0..=1000u16,
        prop::sample::select(vec!["USD", "USD", "USD", "EUR", "usd"]),
    )
        .prop_map(|(kind, permille, currency)| AskedShare {
            kind,
            permille,
            currency,
        });
    (
        order,
        [
            pool_intent.clone(),
            pool_intent.clone(),
            pool_intent.clone(),
            pool_intent,
        ],
        (
            prop::sample::subsequence(vec![0usize, 1, 2, 3], 0..=3).prop_shuffle(),
            prop::option::weighted(0.1, 0..5usize),
        )
            .prop_map(|(mut ids, extra)| {
                ids.extend(extra);
                ids
            }),
        (
            prop::bool::weighted(0.9),
            prop::option::weighted(0.1, 0..5usize).prop_map(Vec::from_iter),
        ),
        (
            prop::bool::weighted(0.6),
            prop::option::weighted(0.25, (0..5usize, share)).prop_map(Vec::from_iter),
        ),
        prop::sample::select(vec![0i64, 0, 0, 0, 0, 0, 0, 0, -1, 1]),
        prop::sample::select(vec!["USD", "USD", "USD", "USD", "USD", "USD", "USD", "EUR"]),
    )
        .prop_map(
            |(
                order,
                pool,
                ids,
                (token_each, tokens),
                (split_each, shares),
                expected_off,
                expected_currency,
            )| PayCase {
                order,
                pool,
                ids,
                token_each,
                tokens,
                split_each,
                shares,
                expected_off,
                expected_currency,
            },
        )
}

fn pool_id(i: usize) -> String {
    format!("pi_{i}")
}

/// Builds the order and the intents the service would find, with the real functions.
fn pay_world(case: &PayCase) -> (holdfast_domain::order::Order, Vec<PaymentIntent>) {
    use holdfast_domain::order::{
        self, CreateOrder, Financials, InventoryTracking, LineItemRequest, OrderHold, OrderStatus,
    };
    let order_of = |id: &str| {
        let req = CreateOrder {
            currency: "USD".into(),
            financials: Financials {
                line_items: vec![LineItemRequest {
                    name: "Item".into(),
                    quantity: 1,
                    unit_price: RawMoney {
                        amount: case.order.due,
                        currency: "USD".into(),
                    },
                    sku: None,
                    inventory_tracking: None,
                }],
                ..Financials::default()
            },
            ..CreateOrder::default()
        };
        order::create_order(id.into(), scope(), req, T0).expect("a valid order")
    };
    let mut paid = order_of("ord_paid");
    let mut other = order_of("ord_other");
    let mut intents = Vec::new();
    for (i, p) in case.pool.iter().enumerate() {
        let new = NewIntent {
            id: pool_id(i),
            ..new_intent(None)
        };
        let req = CreateRequest {
            capture_method: Some(if p.manual { "manual" } else { "automatic" }.into()),
            ..CreateRequest::default()
        };
        let created = match p.home {
            0 | 1 => {
                let on = if p.home == 0 { &mut paid } else { &mut other };
                let req = CreateRequest {
                    order_id: Some(on.id.clone()),
                    ..req
                };
                let (created, linked) =
                    order::create_intent(Some(on), new, req, T0).expect("the order takes it");
                *on = linked;
                created.intent
            }
            _ => {
                new.create(CreateRequest {
                    amount: Some(RawMoney {
                        amount: case.order.due,
                        currency: "USD".into(),
                    }),
                    ..req
                })
                .expect("a valid intent")
                .intent
            }
        };
        let mut ids = 0;
        let after = match p.status {
            0 => created,
            1 => {
                with_ctx(T0, &mut ids, |ctx| {
                    apply_authorization(
                        &created,
                        answer_of(&created, &Answer::Challenge),
                        None,
                        ctx,
                    )
                })
                .intent
            }
            _ => {
                with_ctx(T0, &mut ids, |ctx| {
                    let hold = answer_of(&created, &Answer::Hold { expires_in: 3600 });
                    apply_authorization(&created, hold, None, ctx)
                })
                .intent
            }
        };
        if p.exists {
            intents.push(after);
        }
    }
    // The order as it stands at pay time.
    if case.order.strict {
        paid.line_items[0].inventory_tracking = InventoryTracking::Strict;
    }
    match case.order.status {
        0 => {}
        1 => {
            paid.status = OrderStatus::Paid;
            paid.paid = paid.total;
        }
        _ => paid.status = OrderStatus::Canceled,
    }
    if case.order.held {
        paid.holds.push(OrderHold {
            payment_intent_id: "pi_elsewhere".into(),
            authorized: 1,
            capturable: 1,
            expires_at: T0.plus_seconds(3600),
        });
    }
    (paid, intents)
}

/// The processor's answer, as [`Answer`] describes it, for an intent.
fn answer_of(intent: &PaymentIntent, answer: &Answer) -> AuthorizationResult {
    let card = Card {
        brand: "visa".into(),
        last_four: "4242".into(),
    };
    match answer {
        Answer::Challenge => AuthorizationResult::RequiresAction {
            card,
            processor_ref: format!("ch_{}", intent.id),
            redirect_url: "https://example.test/3ds".into(),
        },
        _ => AuthorizationResult::Authorized {
            card,
            processor_ref: format!("ch_{}", intent.id),
            expires_at: T0.plus_seconds(3600),
            captured: false,
        },
    }
}

fn pay_command(case: &PayCase, due: i64) -> holdfast_domain::order::PayCommand {
    use std::collections::BTreeMap;
    let mut tokens: BTreeMap<String, String> = BTreeMap::new();
    let named = case.ids.iter().filter(|_| case.token_each);
    for i in named.chain(&case.tokens) {
        tokens.insert(pool_id(*i), format!("tok_{i}"));
    }
    let mut shares: Vec<(usize, AskedShare)> = Vec::new();
    if case.split_each {
        let n = case.ids.len();
        for (k, i) in case.ids.iter().enumerate() {
            let kind = if k + 1 == n { 4 } else { 0 };
            let permille = u16::try_from(1000 / n.max(1)).unwrap_or(1000);
            shares.push((
                *i,
                AskedShare {
                    kind,
                    permille,
                    currency: "USD",
                },
            ));
        }
    }
    shares.extend(case.shares.iter().copied());
    let mut amounts: BTreeMap<String, RawMoney> = BTreeMap::new();
    let mut asked = 0i64;
    for (i, s) in shares {
        let amount = match s.kind {
            0 => due * i64::from(s.permille) / 1000,
            1 => 0,
            2 => -1 - i64::from(s.permille),
            3 => due,
            _ => due - asked,
        };
        asked = asked.saturating_add(amount);
        amounts.insert(
            pool_id(i),
            RawMoney {
                amount,
                currency: s.currency.into(),
            },
        );
    }
    holdfast_domain::order::PayCommand {
        payment_intent_ids: case.ids.iter().map(|i| pool_id(*i)).collect(),
        payment_source_tokens: tokens,
        expected_amount: RawMoney {
            amount: due + case.expected_off,
            currency: case.expected_currency.into(),
        },
        payment_amounts: amounts,
    }
}

/// Each intent's share of a pay call, or the code and field of its refusal.
type PayAnswer = Result<Vec<(String, i64)>, (ErrorCode, Option<String>)>;

/// The contract's answer to a pay call, in its order (see `order::decide_pay`).
fn expected_pay(
    order: &holdfast_domain::order::Order,
    cmd: &holdfast_domain::order::PayCommand,
    all: &[PaymentIntent],
) -> PayAnswer {
    use holdfast_domain::intent::CaptureMethod;
    use holdfast_domain::order::{InventoryTracking, OrderStatus};
    let refuse = |code, param: &str| Err((code, Some(param.to_owned())));
    let mut named: Vec<&PaymentIntent> = Vec::new();
    for id in &cmd.payment_intent_ids {
        if named.iter().any(|i| &i.id == id) {
            return refuse(ErrorCode::InvalidParameter, "payment_intent_ids");
        }
        match all.iter().find(|i| &i.id == id) {
            Some(intent) => named.push(intent),
            None => return refuse(ErrorCode::PaymentIntentNotFound, "payment_intent_ids"),
        }
    }
    let named_ids: Vec<&String> = named.iter().map(|i| &i.id).collect();
    if cmd
        .payment_source_tokens
        .keys()
        .chain(cmd.payment_amounts.keys())
        .any(|k| !named_ids.contains(&k))
    {
        return refuse(ErrorCode::InvalidParameter, "payment_intent_ids");
    }
    let due = (order.total - order.paid).max(0);
    if order.status != OrderStatus::Open || due == 0 {
        return Err((ErrorCode::OrderNotPayable, None));
    }
    if !order.holds.is_empty() {
        return Err((ErrorCode::PaymentAttemptInProgress, None));
    }
    if cmd.expected_amount.amount != due || cmd.expected_amount.currency != "USD" {
        return refuse(ErrorCode::OrderAmountMismatch, "expected_amount_money");
    }
    if named.is_empty() {
        return refuse(ErrorCode::MissingParameter, "payment_intent_ids");
    }
    let strict = order
        .line_items
        .iter()
        .any(|l| l.inventory_tracking == InventoryTracking::Strict);
    for intent in &named {
        if intent.order_id.as_deref() != Some(order.id.as_str()) {
            return refuse(ErrorCode::InvalidParameter, "payment_intent_ids");
        }
        if intent.status != Status::RequiresPaymentMethod {
            return refuse(ErrorCode::InvalidStatusForConfirm, "payment_intent_ids");
        }
        if intent.capture_method == CaptureMethod::Manual && strict {
            return refuse(
                ErrorCode::StrictInventoryDelayedCaptureUnsupported,
                "capture_method",
            );
        }
    }
    let amounts: Vec<i64> = if named.len() == 1 && cmd.payment_amounts.is_empty() {
        vec![due]
    } else {
        let mut amounts = Vec::new();
        for intent in &named {
            let param = format!("payment_amounts.{}", intent.id);
            let Some(share) = cmd.payment_amounts.get(&intent.id) else {
                return refuse(ErrorCode::MissingParameter, &param);
            };
            match share.currency.as_str() {
                "USD" => {}
                "EUR" => {
                    return refuse(
                        ErrorCode::OrderCurrencyMismatch,
                        &format!("{param}.currency"),
                    );
                }
                _ => return refuse(ErrorCode::InvalidParameter, &format!("{param}.currency")),
            }
            if share.amount <= 0 {
                return refuse(ErrorCode::InvalidParameter, &format!("{param}.amount"));
            }
            amounts.push(share.amount);
        }
        if amounts.iter().sum::<i64>() != due {
            return refuse(ErrorCode::OrderAmountMismatch, "payment_amounts");
        }
        amounts
    };
    for intent in &named {
        if !cmd.payment_source_tokens.contains_key(&intent.id) {
            return refuse(
                ErrorCode::MissingParameter,
                &format!("payment_source_tokens.{}", intent.id),
            );
        }
    }
    Ok(named.iter().map(|i| i.id.clone()).zip(amounts).collect())
}

proptest! {
    #![proptest_config(config())]

    /// A random pay call over a random order and pool of intents: refused exactly as the contract
    /// says, in its order; or accepted with one share per intent named, in order, each greater
    /// than zero in the order's currency, adding up to the balance due, on the card given for it,
    /// and nothing of the intent changed but its amount.
    #[test]
    fn pay_calls_are_refused_in_the_contracts_order_or_split_the_balance_exactly(
        case in pay_case(),
    ) {
        let (order, all) = pay_world(&case);
        let cmd = pay_command(&case, case.order.due);
        // What the service hands over: the intents named, each once, up to the first missing.
        let mut found: Vec<PaymentIntent> = Vec::new();
        for id in &cmd.payment_intent_ids {
            if found.iter().any(|i| &i.id == id) {
                continue;
            }
            match all.iter().find(|i| &i.id == id) {
                Some(intent) => found.push(intent.clone()),
                None => break,
            }
        }
        let got = holdfast_domain::order::decide_pay(&order, &cmd, &found);
        let expected = expected_pay(&order, &cmd, &all);
        match (got, expected) {
            (Ok(shares), Ok(want)) => {
                let got: Vec<(String, i64)> =
                    shares.iter().map(|s| (s.intent.id.clone(), s.intent.amount.amount)).collect();
                prop_assert_eq!(&got, &want);
                prop_assert_eq!(want.iter().map(|(_, a)| a).sum::<i64>(), order.total - order.paid);
                for share in &shares {
                    prop_assert!(share.intent.amount.amount > 0);
                    prop_assert_eq!(share.intent.amount.currency, order.currency);
                    let stored = all.iter().find(|i| i.id == share.intent.id).expect("found");
                    prop_assert_eq!(
                        &PaymentIntent { amount: stored.amount, ..share.intent.clone() },
                        stored
                    );
                    prop_assert_eq!(
                        Some(&share.source.token),
                        cmd.payment_source_tokens.get(&share.intent.id)
                    );
                    prop_assert_eq!(
                        &share.source.param,
                        &format!("payment_source_tokens.{}", share.intent.id)
                    );
                }
            }
            (Err(r), Err((code, param))) => {
                prop_assert_eq!(r.code, code, "{}", r.message);
                prop_assert_eq!(r.param, param);
            }
            (got, expected) => {
                return Err(TestCaseError::fail(format!("expected {expected:?}, got {got:?}")));
            }
        }
    }
}
