//! The payment intent state machine, checked the TigerBeetle way: one table with a row for every
//! (starting state, command) pair and the exact outcome the contract (the Flint manual capture guide)
//! demands, then unit tests for what the table does not reach (creation, automatic capture, declines,
//! versions, expiry at and after the deadline).
//!
//! Every starting state is built with the real functions (`create` → `apply_authorization` → ...), so
//! the table also exercises the paths that lead to each state.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::time::SECONDS_PER_DAY;
use {Command as C, ErrorCode as E, EventType as Ev, Start as S, Status as St};

/// Creation time of every intent in these tests.
pub(crate) const T0: Timestamp = Timestamp(1_783_000_000);
/// When the hold is placed.
const AUTHORIZED_AT: Timestamp = T0.plus_seconds(60);
/// The hold's deadline: the last second at which it can still be captured.
const DEADLINE: Timestamp = AUTHORIZED_AT.plus_seconds(7 * SECONDS_PER_DAY);
/// A moment well inside the hold.
const WITHIN: Timestamp = AUTHORIZED_AT.plus_seconds(SECONDS_PER_DAY);
/// A moment after the deadline.
const PAST: Timestamp = DEADLINE.plus_seconds(1);

/// The amount asked for, authorized and (in full) captured: $129.00.
const A: i64 = 12_900;
/// A partial capture, $98.00 of the $129.00 hold, as in the guide...
const PART: i64 = 9_800;
/// ...which releases the remaining $31.00.
const REST: i64 = A - PART;

pub(crate) fn usd() -> Currency {
    Currency::parse("USD").expect("USD is a currency")
}

pub(crate) fn raw(amount: i64, currency: &str) -> RawMoney {
    RawMoney {
        amount,
        currency: currency.into(),
    }
}

pub(crate) fn scope() -> Scope {
    Scope {
        merchant_id: "mer_test".into(),
        livemode: false,
    }
}

/// Runs `f` with a context at `now` whose ids are unique across the whole test binary.
pub(crate) fn with_ctx<R>(now: Timestamp, f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mut new_id =
        |prefix: &'static str| format!("{prefix}_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let mut ctx = Ctx {
        now,
        request_id: Some("req_test"),
        actor: None,
        new_id: &mut new_id,
    };
    f(&mut ctx)
}

fn request(capture_method: &str) -> CreateRequest {
    CreateRequest {
        amount: Some(raw(A, "USD")),
        capture_method: Some(capture_method.into()),
        ..CreateRequest::default()
    }
}

/// What the service brings to a creation at `T0`: whether the request has a card, and the
/// server's expiry warning lead.
fn new_intent(has_payment_source: bool, lead: Option<i64>) -> NewIntent {
    NewIntent {
        id: "pi_test".into(),
        scope: scope(),
        client_secret_hash: "hash".into(),
        has_payment_source,
        expiry_warning_lead_seconds: lead,
        now: T0,
    }
}

fn try_create(req: CreateRequest) -> Result<Transition, Rejection> {
    new_intent(false, None).create(req)
}

fn create_with(capture_method: &str) -> PaymentIntent {
    try_create(request(capture_method))
        .expect("a valid request creates an intent")
        .intent
}

pub(crate) fn card() -> Card {
    Card {
        brand: "visa".into(),
        last_four: "4242".into(),
    }
}

fn authorized(expires_at: Timestamp, captured: bool) -> AuthorizationResult {
    AuthorizationResult::Authorized {
        card: card(),
        processor_ref: "ch_test".into(),
        expires_at,
        captured,
    }
}

fn requires_action() -> AuthorizationResult {
    AuthorizationResult::RequiresAction {
        card: card(),
        processor_ref: "ch_test".into(),
        redirect_url: "https://example.test/3ds".into(),
    }
}

fn declined() -> AuthorizationResult {
    AuthorizationResult::Declined {
        card: Some(card()),
        error: PaymentError {
            code: "card_declined".into(),
            decline_code: "insufficient_funds".into(),
            message: "Your card has insufficient funds.".into(),
        },
    }
}

fn authorize(intent: &PaymentIntent, result: AuthorizationResult, now: Timestamp) -> Transition {
    with_ctx(now, |ctx| apply_authorization(intent, result, None, ctx))
}

fn capture_all(intent: &PaymentIntent, now: Timestamp) -> Transition {
    let req = CaptureRequest::default();
    let amount = decide_capture(intent, &req, now).expect("the hold is capturable");
    with_ctx(now, |ctx| apply_capture(intent, amount, &req, ctx))
}

fn cancel(intent: &PaymentIntent, reason: Option<&str>, now: Timestamp) -> Transition {
    let plan = decide_cancel(intent, reason, now).expect("the intent is cancelable");
    with_ctx(now, |ctx| apply_cancel(intent, &plan, ctx))
}

// ---------------------------------------------------------------------------------------------
// The table.
// ---------------------------------------------------------------------------------------------

/// Where a row starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    RequiresPaymentMethod,
    RequiresAction,
    /// Authorized, and the command arrives inside the hold.
    RequiresCapture,
    /// Authorized and stored as `requires_capture`, but the command arrives after the deadline: the
    /// hold is due for expiry and no worker has recorded it yet.
    RequiresCapturePastDeadline,
    /// Captured in full.
    Succeeded,
    /// The hold was voided.
    Canceled,
    /// The hold lapsed (`as_of` after the deadline).
    Expired,
}

const STARTS: [Start; 7] = [
    Start::RequiresPaymentMethod,
    Start::RequiresAction,
    Start::RequiresCapture,
    Start::RequiresCapturePastDeadline,
    Start::Succeeded,
    Start::Canceled,
    Start::Expired,
];

/// Builds the starting intent with the real functions, and the time the row's command runs at.
fn start(s: Start) -> (PaymentIntent, Timestamp) {
    let created = create_with("manual");
    let held = || authorize(&created, authorized(DEADLINE, false), AUTHORIZED_AT).intent;
    match s {
        Start::RequiresPaymentMethod => (created, WITHIN),
        Start::RequiresAction => (
            authorize(&created, requires_action(), AUTHORIZED_AT).intent,
            WITHIN,
        ),
        Start::RequiresCapture => (held(), WITHIN),
        Start::RequiresCapturePastDeadline => (held(), PAST),
        Start::Succeeded => (capture_all(&held(), WITHIN).intent, WITHIN.plus_seconds(60)),
        Start::Canceled => (
            cancel(&held(), Some("requested_by_customer"), WITHIN).intent,
            WITHIN.plus_seconds(60),
        ),
        Start::Expired => (held().as_of(PAST), PAST.plus_seconds(60)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// Confirm; the processor places the (manual) hold.
    Confirm,
    /// Complete 3D Secure; the processor places the hold.
    Authenticate,
    /// Capture with no amount: everything capturable.
    CaptureFull,
    /// Capture $98.00.
    CapturePartial,
    /// Capture $0.00.
    CaptureZero,
    /// Capture $98.00 in EUR.
    CaptureWrongCurrency,
    /// Capture a cent more than the hold.
    CaptureOver,
    /// Cancel with `requested_by_customer`.
    CancelValid,
    /// Cancel without a reason.
    CancelNoReason,
    /// Cancel with a reason the contract does not know.
    CancelBadReason,
}

const COMMANDS: [Command; 10] = [
    Command::Confirm,
    Command::Authenticate,
    Command::CaptureFull,
    Command::CapturePartial,
    Command::CaptureZero,
    Command::CaptureWrongCurrency,
    Command::CaptureOver,
    Command::CancelValid,
    Command::CancelNoReason,
    Command::CancelBadReason,
];

/// Runs a command the way the service does: check or decide, and only then apply.
fn run(intent: &PaymentIntent, command: Command, now: Timestamp) -> Result<Transition, Rejection> {
    let capture = |amount: Option<RawMoney>| {
        let req = CaptureRequest {
            amount,
            ..CaptureRequest::default()
        };
        let money = decide_capture(intent, &req, now)?;
        Ok(with_ctx(now, |ctx| apply_capture(intent, money, &req, ctx)))
    };
    let cancel = |reason: Option<&str>| {
        let plan = decide_cancel(intent, reason, now)?;
        Ok(with_ctx(now, |ctx| apply_cancel(intent, &plan, ctx)))
    };
    let hold = authorized(now.plus_seconds(7 * SECONDS_PER_DAY), false);
    match command {
        Command::Confirm => {
            let cmd = ConfirmCommand {
                payment_source_token: Some("pm_card_visa".into()),
                ..ConfirmCommand::default()
            };
            let source = decide_confirm(intent, &cmd, None)?;
            assert_eq!(source.token, "pm_card_visa");
            Ok(authorize(intent, hold, now))
        }
        Command::Authenticate => {
            check_authenticate(intent)?;
            Ok(authorize(intent, hold, now))
        }
        Command::CaptureFull => capture(None),
        Command::CapturePartial => capture(Some(raw(PART, "USD"))),
        Command::CaptureZero => capture(Some(raw(0, "USD"))),
        Command::CaptureWrongCurrency => capture(Some(raw(PART, "EUR"))),
        Command::CaptureOver => capture(Some(raw(A + 1, "USD"))),
        Command::CancelValid => cancel(Some("requested_by_customer")),
        Command::CancelNoReason => cancel(None),
        Command::CancelBadReason => cancel(Some("changed_my_mind")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Refused with this code, naming this parameter (or none).
    Rejected(ErrorCode, Option<&'static str>),
    /// Transitions to this status with these amounts, emitting these events.
    Moves {
        status: Status,
        /// authorized, capturable, captured, released
        money: [i64; 4],
        events: &'static [EventType],
    },
}

const fn no(code: ErrorCode) -> Expect {
    Expect::Rejected(code, None)
}

const fn no_at(code: ErrorCode, param: &'static str) -> Expect {
    Expect::Rejected(code, Some(param))
}

const fn moves(status: Status, money: [i64; 4], events: &'static [EventType]) -> Expect {
    Expect::Moves {
        status,
        money,
        events,
    }
}

const HELD: Expect = moves(
    St::RequiresCapture,
    [A, A, 0, 0],
    &[Ev::PaymentIntentRequiresCapture],
);
const CANCELED_EMPTY: Expect = moves(St::Canceled, [0, 0, 0, 0], &[Ev::PaymentIntentCanceled]);
const VOIDED: Expect = moves(St::Canceled, [A, 0, 0, A], &[Ev::PaymentIntentCanceled]);
const NOT_CONFIRMABLE: Expect = no(E::InvalidStatusForConfirm);
const NOT_AUTHENTICATABLE: Expect = no(E::InvalidStatusForAuthentication);
const NOT_CAPTURABLE: Expect = no(E::InvalidStatusForCapture);
const LAPSED: Expect = no(E::PaymentAuthorizationExpired);
const BAD_REASON: Expect = no_at(E::InvalidCancellationReason, "cancellation_reason");

#[rustfmt::skip]
const TABLE: &[(Start, Command, Expect)] = &[
    // requires_payment_method: only confirm moves it forward; it can be canceled, with no hold to void.
    (S::RequiresPaymentMethod, C::Confirm,              HELD),
    (S::RequiresPaymentMethod, C::Authenticate,         NOT_AUTHENTICATABLE),
    (S::RequiresPaymentMethod, C::CaptureFull,          NOT_CAPTURABLE),
    (S::RequiresPaymentMethod, C::CapturePartial,       NOT_CAPTURABLE),
    (S::RequiresPaymentMethod, C::CaptureZero,          NOT_CAPTURABLE),
    (S::RequiresPaymentMethod, C::CaptureWrongCurrency, NOT_CAPTURABLE),
    (S::RequiresPaymentMethod, C::CaptureOver,          NOT_CAPTURABLE),
    (S::RequiresPaymentMethod, C::CancelValid,          CANCELED_EMPTY),
    (S::RequiresPaymentMethod, C::CancelNoReason,       CANCELED_EMPTY),
    (S::RequiresPaymentMethod, C::CancelBadReason,      BAD_REASON),
    // requires_action: authentication places the hold; no hold yet, so a cancel voids nothing.
    (S::RequiresAction, C::Confirm,              NOT_CONFIRMABLE),
    (S::RequiresAction, C::Authenticate,         HELD),
    (S::RequiresAction, C::CaptureFull,          NOT_CAPTURABLE),
    (S::RequiresAction, C::CapturePartial,       NOT_CAPTURABLE),
    (S::RequiresAction, C::CaptureZero,          NOT_CAPTURABLE),
    (S::RequiresAction, C::CaptureWrongCurrency, NOT_CAPTURABLE),
    (S::RequiresAction, C::CaptureOver,          NOT_CAPTURABLE),
    (S::RequiresAction, C::CancelValid,          CANCELED_EMPTY),
    (S::RequiresAction, C::CancelNoReason,       CANCELED_EMPTY),
    (S::RequiresAction, C::CancelBadReason,      BAD_REASON),
    // requires_capture inside the hold: capture (once, with the three amount checks) or void.
    (S::RequiresCapture, C::Confirm,              NOT_CONFIRMABLE),
    (S::RequiresCapture, C::Authenticate,         NOT_AUTHENTICATABLE),
    (S::RequiresCapture, C::CaptureFull,          moves(St::Succeeded, [A, 0, A, 0], &[Ev::PaymentIntentSucceeded])),
    (S::RequiresCapture, C::CapturePartial,       moves(St::Succeeded, [A, 0, PART, REST], &[Ev::PaymentIntentSucceeded])),
    (S::RequiresCapture, C::CaptureZero,          no_at(E::InvalidCaptureAmount, "amount_money.amount")),
    (S::RequiresCapture, C::CaptureWrongCurrency, no_at(E::CaptureCurrencyMismatch, "amount_money.currency")),
    (S::RequiresCapture, C::CaptureOver,          no_at(E::CaptureAmountExceedsAuthorized, "amount_money.amount")),
    (S::RequiresCapture, C::CancelValid,          VOIDED),
    (S::RequiresCapture, C::CancelNoReason,       VOIDED),
    (S::RequiresCapture, C::CancelBadReason,      BAD_REASON),
    // requires_capture past the deadline: the hold is gone even though no worker recorded it.
    (S::RequiresCapturePastDeadline, C::Confirm,              NOT_CONFIRMABLE),
    (S::RequiresCapturePastDeadline, C::Authenticate,         NOT_AUTHENTICATABLE),
    (S::RequiresCapturePastDeadline, C::CaptureFull,          LAPSED),
    (S::RequiresCapturePastDeadline, C::CapturePartial,       LAPSED),
    (S::RequiresCapturePastDeadline, C::CaptureZero,          LAPSED),
    (S::RequiresCapturePastDeadline, C::CaptureWrongCurrency, LAPSED),
    (S::RequiresCapturePastDeadline, C::CaptureOver,          LAPSED),
    (S::RequiresCapturePastDeadline, C::CancelValid,          no(E::CannotCancelExpiredPayment)),
    (S::RequiresCapturePastDeadline, C::CancelNoReason,       no(E::CannotCancelExpiredPayment)),
    (S::RequiresCapturePastDeadline, C::CancelBadReason,      no(E::CannotCancelExpiredPayment)),
    // succeeded: one capture only; money moved, so a refund, not a cancel.
    (S::Succeeded, C::Confirm,              NOT_CONFIRMABLE),
    (S::Succeeded, C::Authenticate,         NOT_AUTHENTICATABLE),
    (S::Succeeded, C::CaptureFull,          NOT_CAPTURABLE),
    (S::Succeeded, C::CapturePartial,       NOT_CAPTURABLE),
    (S::Succeeded, C::CaptureZero,          NOT_CAPTURABLE),
    (S::Succeeded, C::CaptureWrongCurrency, NOT_CAPTURABLE),
    (S::Succeeded, C::CaptureOver,          NOT_CAPTURABLE),
    (S::Succeeded, C::CancelValid,          no(E::CannotCancelSucceededPayment)),
    (S::Succeeded, C::CancelNoReason,       no(E::CannotCancelSucceededPayment)),
    (S::Succeeded, C::CancelBadReason,      no(E::CannotCancelSucceededPayment)),
    // canceled: final.
    (S::Canceled, C::Confirm,              NOT_CONFIRMABLE),
    (S::Canceled, C::Authenticate,         NOT_AUTHENTICATABLE),
    (S::Canceled, C::CaptureFull,          NOT_CAPTURABLE),
    (S::Canceled, C::CapturePartial,       NOT_CAPTURABLE),
    (S::Canceled, C::CaptureZero,          NOT_CAPTURABLE),
    (S::Canceled, C::CaptureWrongCurrency, NOT_CAPTURABLE),
    (S::Canceled, C::CaptureOver,          NOT_CAPTURABLE),
    (S::Canceled, C::CancelValid,          no(E::PaymentAlreadyCanceled)),
    (S::Canceled, C::CancelNoReason,       no(E::PaymentAlreadyCanceled)),
    (S::Canceled, C::CancelBadReason,      no(E::PaymentAlreadyCanceled)),
    // expired: final; capture says the hold lapsed, cancel says there is nothing to void.
    (S::Expired, C::Confirm,              NOT_CONFIRMABLE),
    (S::Expired, C::Authenticate,         NOT_AUTHENTICATABLE),
    (S::Expired, C::CaptureFull,          LAPSED),
    (S::Expired, C::CapturePartial,       LAPSED),
    (S::Expired, C::CaptureZero,          LAPSED),
    (S::Expired, C::CaptureWrongCurrency, LAPSED),
    (S::Expired, C::CaptureOver,          LAPSED),
    (S::Expired, C::CancelValid,          no(E::CannotCancelExpiredPayment)),
    (S::Expired, C::CancelNoReason,       no(E::CannotCancelExpiredPayment)),
    (S::Expired, C::CancelBadReason,      no(E::CannotCancelExpiredPayment)),
];

#[test]
fn the_table_has_exactly_one_row_per_state_and_command() {
    assert_eq!(TABLE.len(), STARTS.len() * COMMANDS.len());
    for s in STARTS {
        for c in COMMANDS {
            let rows = TABLE
                .iter()
                .filter(|(rs, rc, _)| *rs == s && *rc == c)
                .count();
            assert_eq!(rows, 1, "{s:?} × {c:?} has {rows} rows");
        }
    }
}

#[test]
fn every_state_and_command() {
    let mut failures = Vec::new();
    for &(s, command, expect) in TABLE {
        let (before, now) = start(s);
        let outcome = run(&before, command, now);
        if let Err(why) = check_row(&before, command, now, &outcome, expect) {
            failures.push(format!("{s:?} × {command:?}: {why}\n    got {outcome:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        TABLE.len(),
        failures.join("\n")
    );
}

fn check_row(
    before: &PaymentIntent,
    command: Command,
    now: Timestamp,
    outcome: &Result<Transition, Rejection>,
    expect: Expect,
) -> Result<(), String> {
    match (outcome, expect) {
        (Err(rejection), Expect::Rejected(code, param)) => {
            if rejection.code != code || rejection.param.as_deref() != param {
                return Err(format!("expected {code} (param {param:?})"));
            }
            Ok(())
        }
        (
            Ok(t),
            Expect::Moves {
                status,
                money,
                events,
            },
        ) => {
            let next = &t.intent;
            let got = [
                next.authorized,
                next.capturable,
                next.captured,
                next.released,
            ];
            if next.status != status || got != money || t.events != events {
                return Err(format!(
                    "expected {} {money:?} {events:?}, got {} {got:?} {:?}",
                    status.as_str(),
                    next.status.as_str(),
                    t.events
                ));
            }
            if next.version != before.version + 1 {
                return Err(format!(
                    "version {} → {}, not + 1",
                    before.version, next.version
                ));
            }
            if !next.money_invariant_holds() {
                return Err("money invariant broken".into());
            }
            if next.updated_at != now {
                return Err("updated_at is not the transition's time".into());
            }
            check_command_specifics(before, command, now, next)
        }
        (_, expect) => Err(format!("expected {expect:?}")),
    }
}

/// What a successful command leaves behind besides status and money.
fn check_command_specifics(
    before: &PaymentIntent,
    command: Command,
    now: Timestamp,
    next: &PaymentIntent,
) -> Result<(), String> {
    let new_actions = &next.actions[before.actions.len()..];
    let kinds: Vec<_> = new_actions
        .iter()
        .map(|a| (a.kind, a.status, a.amount.amount))
        .collect();
    let ok = match command {
        C::Confirm | C::Authenticate => {
            kinds == [(ActionType::Authorization, ActionStatus::Succeeded, A)]
                && next.authorized_at == Some(now)
                && next.authorization_expires_at == Some(now.plus_seconds(7 * SECONDS_PER_DAY))
                && next.next_action.is_none()
        }
        C::CaptureFull | C::CapturePartial => {
            // The amount now reflects what settled.
            kinds == [(ActionType::Capture, ActionStatus::Succeeded, next.captured)]
                && next.amount == Money::new(next.captured, usd())
                && next.captured_at == Some(now)
        }
        C::CancelValid | C::CancelNoReason => {
            let reason =
                (command == C::CancelValid).then_some(CancellationReason::RequestedByCustomer);
            let voids = before.status == Status::RequiresCapture;
            let actions_ok = if voids {
                kinds == [(ActionType::Void, ActionStatus::Succeeded, A)]
            } else {
                kinds.is_empty()
            };
            actions_ok
                && next.cancellation_reason == reason
                && next.canceled_at == Some(now)
                && next.next_action.is_none()
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "unexpected details after {command:?}: actions {kinds:?}, {next:?}"
        ))
    }
}

#[test]
fn authorization_expired_is_a_reason_only_expiry_may_give() {
    let (held, now) = start(Start::RequiresCapture);
    let err = decide_cancel(&held, Some("authorization_expired"), now).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidCancellationReason);
    assert_eq!(err.param.as_deref(), Some("cancellation_reason"));
    for reason in [
        "requested_by_customer",
        "duplicate",
        "fraudulent",
        "abandoned",
    ] {
        let t = cancel(&held, Some(reason), now);
        assert_eq!(
            t.intent.cancellation_reason.map(CancellationReason::as_str),
            Some(reason)
        );
    }
}

#[test]
fn capture_amount_checks_run_in_the_contracts_order() {
    let (held, now) = start(Start::RequiresCapture);
    let code = |amount: i64, currency: &str| {
        let req = CaptureRequest {
            amount: Some(raw(amount, currency)),
            ..CaptureRequest::default()
        };
        decide_capture(&held, &req, now).map_err(|r| r.code)
    };
    // Zero and negative amounts fail on the amount, whatever the currency.
    assert_eq!(code(0, "EUR"), Err(ErrorCode::InvalidCaptureAmount));
    assert_eq!(code(-5, "USD"), Err(ErrorCode::InvalidCaptureAmount));
    // Currency before size, including codes that are not currencies at all.
    assert_eq!(code(A + 1, "EUR"), Err(ErrorCode::CaptureCurrencyMismatch));
    assert_eq!(code(PART, "usd"), Err(ErrorCode::CaptureCurrencyMismatch));
    // The whole hold is the most that can be captured; one minor unit works too.
    assert_eq!(code(A, "USD"), Ok(Money::new(A, usd())));
    assert_eq!(code(1, "USD"), Ok(Money::new(1, usd())));
    assert_eq!(
        code(i64::MAX, "USD"),
        Err(ErrorCode::CaptureAmountExceedsAuthorized)
    );
}

// ---------------------------------------------------------------------------------------------
// Confirmation: the payment source.
// ---------------------------------------------------------------------------------------------

/// What a confirm carries, for the table below.
#[derive(Debug, Clone, Copy)]
enum Source {
    Token,
    /// `payment_method_id` alone.
    SavedCard,
    Both,
    Neither,
}

/// The card `payment_method_id` names, as the service found it.
#[derive(Debug, Clone, Copy)]
enum Saved {
    Missing,
    /// Saved on `cus_a`.
    OfA,
    /// Saved on `cus_b`.
    OfB,
}

/// A confirm on an intent of this customer, from a secret key or (`browser`) the client secret.
#[derive(Debug, Clone, Copy)]
struct ConfirmRow {
    customer: Option<&'static str>,
    source: Source,
    saved: Saved,
    browser: bool,
}

const fn row(
    customer: Option<&'static str>,
    source: Source,
    saved: Saved,
    browser: bool,
) -> ConfirmRow {
    ConfirmRow {
        customer,
        source,
        saved,
        browser,
    }
}

/// The answer: the token to authorize and the field it is blamed on, or the refusal.
type ConfirmExpect = Result<(&'static str, &'static str), (ErrorCode, &'static str)>;

const BY_TOKEN: ConfirmExpect = Ok(("pm_card_visa", "payment_source_token"));
const BY_SAVED_CARD: ConfirmExpect = Ok(("tok_saved", "payment_method_id"));
const FOREIGN_CARD: ConfirmExpect = Err((E::InvalidParameter, "payment_method_id"));

#[rustfmt::skip]
const CONFIRM_TABLE: &[(ConfirmRow, ConfirmExpect)] = &[
    // A token is used as it is, whoever the intent's customer and whoever asks.
    (row(None,          Source::Token,     Saved::Missing, false), BY_TOKEN),
    (row(Some("cus_a"), Source::Token,     Saved::Missing, true),  BY_TOKEN),
    // A saved card must exist...
    (row(Some("cus_a"), Source::SavedCard, Saved::Missing, false), Err((E::PaymentMethodNotFound, "payment_method_id"))),
    (row(None,          Source::SavedCard, Saved::Missing, true),  Err((E::PaymentMethodNotFound, "payment_method_id"))),
    // ...and belong to the intent's customer, if it has one...
    (row(Some("cus_a"), Source::SavedCard, Saved::OfA,     false), BY_SAVED_CARD),
    (row(Some("cus_a"), Source::SavedCard, Saved::OfA,     true),  BY_SAVED_CARD),
    (row(Some("cus_a"), Source::SavedCard, Saved::OfB,     false), FOREIGN_CARD),
    (row(Some("cus_a"), Source::SavedCard, Saved::OfB,     true),  FOREIGN_CARD),
    // ...while an intent without one takes any of the merchant's cards, from a secret key only.
    (row(None,          Source::SavedCard, Saved::OfB,     false), BY_SAVED_CARD),
    (row(None,          Source::SavedCard, Saved::OfA,     true),  FOREIGN_CARD),
    // One source, not both, and not none; both is refused before the card is looked at.
    (row(Some("cus_a"), Source::Both,      Saved::OfA,     false), Err((E::InvalidParameter, "payment_method_id"))),
    (row(None,          Source::Both,      Saved::Missing, false), Err((E::InvalidParameter, "payment_method_id"))),
    (row(Some("cus_a"), Source::Neither,   Saved::Missing, false), Err((E::MissingParameter, "payment_source_token"))),
    (row(None,          Source::Neither,   Saved::Missing, true),  Err((E::MissingParameter, "payment_source_token"))),
];

fn saved_card(customer_id: &str) -> crate::card::SavedPaymentMethod {
    crate::card::SavedPaymentMethod {
        id: "pm_saved".into(),
        scope: scope(),
        customer_id: customer_id.into(),
        card: card(),
        processor_token: "tok_saved".into(),
        created_at: T0,
    }
}

fn confirm_command(source: Source, browser: bool) -> ConfirmCommand {
    let token = Some("pm_card_visa".to_owned());
    let saved = Some("pm_saved".to_owned());
    let (payment_source_token, payment_method_id) = match source {
        Source::Token => (token, None),
        Source::SavedCard => (None, saved),
        Source::Both => (token, saved),
        Source::Neither => (None, None),
    };
    ConfirmCommand {
        payment_source_token,
        payment_method_id,
        via_client_secret: browser,
    }
}

#[test]
fn a_confirm_takes_one_payment_source_that_the_intent_may_use() {
    for &(r, expect) in CONFIRM_TABLE {
        let intent = PaymentIntent {
            customer_id: r.customer.map(str::to_owned),
            ..create_with("manual")
        };
        let saved = match r.saved {
            Saved::Missing => None,
            Saved::OfA => Some(saved_card("cus_a")),
            Saved::OfB => Some(saved_card("cus_b")),
        };
        let got = decide_confirm(
            &intent,
            &confirm_command(r.source, r.browser),
            saved.as_ref(),
        );
        match (got, expect) {
            (Ok(source), Ok((token, param))) => {
                assert_eq!(
                    (source.token.as_str(), source.param.as_str()),
                    (token, param),
                    "{r:?}"
                );
                let from_saved_card = matches!(r.source, Source::SavedCard);
                assert_eq!(source.payment_method_id.is_some(), from_saved_card, "{r:?}");
            }
            (Err(rejection), Err((code, param))) => {
                assert_eq!(
                    (rejection.code, rejection.param.as_deref()),
                    (code, Some(param)),
                    "{r:?}"
                );
            }
            (got, expect) => panic!("{r:?}: expected {expect:?}, got {got:?}"),
        }
    }
}

#[test]
fn a_confirm_checks_the_intent_before_its_payment_source() {
    let neither = ConfirmCommand::default();
    // An intent that pays an order refuses first, whatever its status and source.
    let linked = PaymentIntent {
        order_id: Some("ord_test".into()),
        ..start(Start::Succeeded).0
    };
    let r = decide_confirm(&linked, &neither, None).expect_err("refused");
    assert_eq!((r.code, r.param), (E::OrderLinkedPaymentIntent, None));
    // Then the status, before any source.
    let (held, _) = start(Start::RequiresCapture);
    let r = decide_confirm(&held, &neither, None).expect_err("refused");
    assert_eq!((r.code, r.param), (E::InvalidStatusForConfirm, None));
    // A card the service found under another id is no card at all.
    let cmd = confirm_command(Source::SavedCard, false);
    let other = crate::card::SavedPaymentMethod {
        id: "pm_other".into(),
        ..saved_card("cus_a")
    };
    let r = decide_confirm(&create_with("manual"), &cmd, Some(&other)).expect_err("refused");
    assert_eq!(r.code, E::PaymentMethodNotFound);
    // An unknown token is blamed on the field the card came in.
    let r = invalid_payment_source("payment_method_id");
    assert_eq!(
        (r.code, r.param.as_deref()),
        (E::InvalidPaymentSourceToken, Some("payment_method_id"))
    );
}

// ---------------------------------------------------------------------------------------------
// Creation.
// ---------------------------------------------------------------------------------------------

fn rejected(req: CreateRequest) -> (ErrorCode, Option<String>) {
    let r = try_create(req).expect_err("the request is invalid");
    (r.code, r.param)
}

fn at(code: ErrorCode, param: &str) -> (ErrorCode, Option<String>) {
    (code, Some(param.to_owned()))
}

#[test]
fn create_builds_a_fresh_intent() {
    let t = try_create(CreateRequest {
        amount: Some(raw(A, "USD")),
        ..CreateRequest::default()
    })
    .unwrap();
    assert_eq!(t.events, [EventType::PaymentIntentCreated]);
    let pi = t.intent;
    assert_eq!(pi.version, 1);
    assert_eq!(pi.status, Status::RequiresPaymentMethod);
    assert_eq!(pi.amount, Money::new(A, usd()));
    assert_eq!(
        pi.capture_method,
        CaptureMethod::Automatic,
        "automatic by default"
    );
    assert_eq!(pi.payment_method_types, ["card"]);
    assert_eq!(
        [pi.authorized, pi.capturable, pi.captured, pi.released],
        [0; 4]
    );
    assert!(pi.actions.is_empty());
    assert_eq!((pi.created_at, pi.updated_at), (T0, T0));
    assert!(pi.money_invariant_holds());
    assert_eq!(create_with("manual").capture_method, CaptureMethod::Manual);
}

#[test]
fn create_wants_a_positive_amount_in_a_real_currency() {
    let with_amount = |amount: Option<RawMoney>| CreateRequest {
        amount,
        ..request("manual")
    };
    assert_eq!(
        rejected(with_amount(None)),
        at(ErrorCode::MissingParameter, "amount_money")
    );
    for amount in [0, -1, i64::MIN] {
        assert_eq!(
            rejected(with_amount(Some(raw(amount, "USD")))),
            at(ErrorCode::InvalidParameter, "amount_money.amount"),
            "{amount}"
        );
    }
    for currency in ["usd", "XYZ", "US", "", "USDD"] {
        assert_eq!(
            rejected(with_amount(Some(raw(A, currency)))),
            at(ErrorCode::InvalidParameter, "amount_money.currency"),
            "{currency:?}"
        );
    }
    assert!(try_create(with_amount(Some(raw(1, "JPY")))).is_ok());
}

#[test]
fn create_takes_automatic_or_manual_capture_only() {
    for bad in ["delayed", "Manual", "MANUAL", "", " manual"] {
        assert_eq!(
            rejected(request(bad)),
            at(ErrorCode::InvalidCaptureMethod, "capture_method"),
            "{bad:?}"
        );
    }
}

#[test]
fn manual_capture_refuses_auto_confirm() {
    for has_payment_source in [true, false] {
        let req = CreateRequest {
            auto_confirm: true,
            ..request("manual")
        };
        let r = new_intent(has_payment_source, None)
            .create(req)
            .expect_err("refused");
        assert_eq!(
            (r.code, r.param),
            at(
                ErrorCode::ManualCaptureNotAllowedWithAutoConfirm,
                "auto_confirm"
            )
        );
    }
    // Automatic capture may auto-confirm, given a card to charge.
    let auto = |has_payment_source| {
        let req = CreateRequest {
            auto_confirm: true,
            ..request("automatic")
        };
        new_intent(has_payment_source, None)
            .create(req)
            .map_err(|r| (r.code, r.param))
    };
    assert!(auto(true).is_ok());
    assert_eq!(
        auto(false).expect_err("refused"),
        at(ErrorCode::MissingParameter, "payment_source_token")
    );
}

#[test]
fn create_enforces_metadata_and_text_limits() {
    let with_metadata = |pairs: Vec<(String, String)>| CreateRequest {
        metadata: pairs.into_iter().collect(),
        ..request("manual")
    };
    let keys = |n: usize| {
        (0..n)
            .map(|i| (format!("k{i}"), "v".to_owned()))
            .collect::<Vec<_>>()
    };

    assert!(try_create(with_metadata(keys(metadata::KEYS_MAX))).is_ok());
    assert_eq!(
        rejected(with_metadata(keys(metadata::KEYS_MAX + 1))),
        at(ErrorCode::InvalidParameter, "metadata")
    );

    let long_key = "k".repeat(metadata::KEY_CHARS_MAX);
    assert!(try_create(with_metadata(vec![(long_key, "v".into())])).is_ok());
    let too_long_key = "k".repeat(metadata::KEY_CHARS_MAX + 1);
    assert_eq!(
        rejected(with_metadata(vec![(too_long_key.clone(), "v".into())])),
        at(
            ErrorCode::InvalidParameter,
            &format!("metadata.{too_long_key}")
        )
    );
    let (code, param) = rejected(with_metadata(vec![(String::new(), "v".into())]));
    assert_eq!(code, ErrorCode::InvalidParameter, "an empty key");
    assert!(param.is_some_and(|p| p.starts_with("metadata")));

    // Limits count characters, not bytes.
    let value = "é".repeat(metadata::VALUE_CHARS_MAX);
    assert!(try_create(with_metadata(vec![("k".into(), value)])).is_ok());
    assert_eq!(
        rejected(with_metadata(vec![(
            "k".into(),
            "v".repeat(metadata::VALUE_CHARS_MAX + 1)
        )])),
        at(ErrorCode::InvalidParameter, "metadata.k")
    );

    for field in ["description", "reference"] {
        let text = |n: usize| Some("x".repeat(n));
        let req = |n| match field {
            "description" => CreateRequest {
                description: text(n),
                ..request("manual")
            },
            _ => CreateRequest {
                reference: text(n),
                ..request("manual")
            },
        };
        assert!(try_create(req(TEXT_CHARS_MAX)).is_ok(), "{field}");
        assert_eq!(
            rejected(req(TEXT_CHARS_MAX + 1)),
            at(ErrorCode::InvalidParameter, field)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Authorization outcomes.
// ---------------------------------------------------------------------------------------------

#[test]
fn automatic_capture_settles_in_the_authorization() {
    let created = create_with("automatic");
    check_confirm(&created).unwrap();
    let t = authorize(&created, authorized(DEADLINE, true), AUTHORIZED_AT);
    assert_eq!(t.events, [EventType::PaymentIntentSucceeded]);
    let pi = &t.intent;
    assert_eq!(pi.status, Status::Succeeded);
    assert_eq!(pi.version, created.version + 1);
    assert_eq!(
        [pi.authorized, pi.capturable, pi.captured, pi.released],
        [A, 0, A, 0]
    );
    assert_eq!(pi.authorized_at, Some(AUTHORIZED_AT));
    assert_eq!(pi.captured_at, Some(AUTHORIZED_AT));
    assert_eq!(pi.card, Some(card()));
    assert_eq!(pi.processor_ref.as_deref(), Some("ch_test"));
    let actions: Vec<_> = pi
        .actions
        .iter()
        .map(|a| (a.kind, a.status, a.amount))
        .collect();
    assert_eq!(
        actions,
        [
            (
                ActionType::Authorization,
                ActionStatus::Succeeded,
                Money::new(A, usd())
            ),
            (
                ActionType::Capture,
                ActionStatus::Succeeded,
                Money::new(A, usd())
            ),
        ]
    );
    assert!(
        pi.actions
            .iter()
            .all(|a| a.request_id.as_deref() == Some("req_test"))
    );
    assert_ne!(pi.actions[0].id, pi.actions[1].id);
    assert!(pi.money_invariant_holds());
    // Nothing is left to capture or cancel, and time does not expire it.
    assert_eq!(
        decide_capture(pi, &CaptureRequest::default(), WITHIN)
            .unwrap_err()
            .code,
        ErrorCode::InvalidStatusForCapture
    );
    assert_eq!(pi.as_of(PAST.plus_seconds(SECONDS_PER_DAY)), *pi);
}

#[test]
fn a_decline_sends_the_intent_back_for_another_card() {
    let created = create_with("manual");
    let t = authorize(&created, declined(), AUTHORIZED_AT);
    assert_eq!(t.events, [EventType::PaymentIntentPaymentFailed]);
    let pi = &t.intent;
    assert_eq!(pi.status, Status::RequiresPaymentMethod);
    assert_eq!(pi.version, created.version + 1);
    assert_eq!(
        [pi.authorized, pi.capturable, pi.captured, pi.released],
        [0; 4]
    );
    assert_eq!(
        pi.last_payment_error
            .as_ref()
            .map(|e| e.decline_code.as_str()),
        Some("insufficient_funds")
    );
    assert_eq!(pi.processor_ref, None);
    assert_eq!(pi.authorized_at, None);
    // The command answers with the decline it recorded.
    assert_eq!(t.decline(), pi.last_payment_error.as_ref());
    assert!(t.decline().is_some());
    let actions: Vec<_> = pi
        .actions
        .iter()
        .map(|a| (a.kind, a.status, a.amount.amount))
        .collect();
    assert_eq!(
        actions,
        [(ActionType::Authorization, ActionStatus::Failed, A)]
    );

    // It can be confirmed again, and a success clears the error.
    check_confirm(pi).unwrap();
    let retried = authorize(pi, authorized(DEADLINE, false), WITHIN);
    assert_eq!(retried.decline(), None);
    let retried = retried.intent;
    assert_eq!(retried.status, Status::RequiresCapture);
    assert_eq!(retried.last_payment_error, None);
    assert_eq!(retried.version, pi.version + 1);
}

#[test]
fn a_failed_authentication_also_sends_the_intent_back() {
    let created = create_with("manual");
    let waiting = authorize(&created, requires_action(), AUTHORIZED_AT).intent;
    assert_eq!(
        waiting
            .next_action
            .as_ref()
            .map(|n| n.redirect_url.as_str()),
        Some("https://example.test/3ds")
    );
    check_authenticate(&waiting).unwrap();
    let t = authorize(&waiting, declined(), WITHIN);
    assert_eq!(t.events, [EventType::PaymentIntentPaymentFailed]);
    assert_eq!(t.intent.status, Status::RequiresPaymentMethod);
    assert_eq!(t.intent.next_action, None);
    assert_eq!(t.intent.processor_ref, None);
    assert_eq!([t.intent.authorized, t.intent.capturable], [0, 0]);
}

#[test]
fn a_saved_payment_method_is_recorded_on_the_intent() {
    let created = create_with("manual");
    let t = with_ctx(AUTHORIZED_AT, |ctx| {
        apply_authorization(
            &created,
            authorized(DEADLINE, false),
            Some("pm_saved".into()),
            ctx,
        )
    });
    assert_eq!(t.intent.payment_method_id.as_deref(), Some("pm_saved"));
}

// ---------------------------------------------------------------------------------------------
// Versions.
// ---------------------------------------------------------------------------------------------

#[test]
fn every_transition_bumps_the_version_by_exactly_one() {
    let created = create_with("manual");
    assert_eq!(created.version, 1);
    let mut path = vec![created];
    let mut step = |f: &dyn Fn(&PaymentIntent) -> Transition| {
        let last = path
            .last()
            .expect("the path starts with the created intent");
        let next = f(last).intent;
        assert_eq!(next.version, last.version + 1, "{:?}", next.status);
        path.push(next);
    };
    step(&|pi| authorize(pi, declined(), AUTHORIZED_AT));
    step(&|pi| authorize(pi, requires_action(), AUTHORIZED_AT));
    step(&|pi| authorize(pi, declined(), AUTHORIZED_AT));
    step(&|pi| authorize(pi, requires_action(), AUTHORIZED_AT));
    step(&|pi| authorize(pi, authorized(DEADLINE, false), AUTHORIZED_AT));
    step(&|pi| capture_all(pi, WITHIN));
    let versions: Vec<u64> = path.iter().map(|pi| pi.version).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6, 7]);

    let (held, now) = start(Start::RequiresCapture);
    assert_eq!(cancel(&held, None, now).intent.version, held.version + 1);
    let (fresh, now) = start(Start::RequiresPaymentMethod);
    assert_eq!(cancel(&fresh, None, now).intent.version, fresh.version + 1);
}

// ---------------------------------------------------------------------------------------------
// Expiry.
// ---------------------------------------------------------------------------------------------

#[test]
fn an_overdue_hold_reads_as_expired_and_released() {
    let (held, _) = start(Start::RequiresCapture);
    assert!(!held.is_due_for_expiry(DEADLINE));
    assert!(held.is_due_for_expiry(PAST));
    for now in [PAST, PAST.plus_seconds(30 * SECONDS_PER_DAY)] {
        let view = held.as_of(now);
        assert_eq!(view.status, Status::Expired);
        assert_eq!(
            [
                view.authorized,
                view.capturable,
                view.captured,
                view.released
            ],
            [A, 0, 0, A]
        );
        assert_eq!(
            view.cancellation_reason,
            Some(CancellationReason::AuthorizationExpired)
        );
        // The hold lapsed the second after its deadline, whenever somebody looks.
        assert_eq!(view.canceled_at, Some(PAST));
        assert_eq!(view.captured_at, None);
        assert!(view.money_invariant_holds());
        // A view, not a transition: nothing is recorded and no version is used up.
        assert_eq!(view.version, held.version);
        assert_eq!(view.actions, held.actions);
        assert!(!view.is_due_for_expiry(now));
        assert_eq!(view.as_of(now), view, "expiry happens once");
    }
}

#[test]
fn at_the_deadline_second_the_hold_is_still_capturable() {
    let (held, _) = start(Start::RequiresCapture);
    for now in [WITHIN, DEADLINE.plus_seconds(-1), DEADLINE] {
        let view = held.as_of(now);
        assert_eq!(view, held, "at {now:?}");
        assert_eq!(view.status, Status::RequiresCapture);
        assert_eq!(view.capturable, A);
        assert_eq!(
            decide_capture(&view, &CaptureRequest::default(), now),
            Ok(Money::new(A, usd()))
        );
        assert!(decide_cancel(&view, None, now).is_ok());
    }
    let captured = capture_all(&held, DEADLINE).intent;
    assert_eq!(captured.status, Status::Succeeded);
    assert_eq!(captured.captured, A);
    // One second later both are refused.
    assert_eq!(
        decide_capture(&held, &CaptureRequest::default(), PAST)
            .unwrap_err()
            .code,
        ErrorCode::PaymentAuthorizationExpired
    );
    assert_eq!(
        decide_cancel(&held, None, PAST).unwrap_err().code,
        ErrorCode::CannotCancelExpiredPayment
    );
}

#[test]
fn as_of_leaves_every_other_state_alone() {
    let far = PAST.plus_seconds(365 * SECONDS_PER_DAY);
    for s in [
        Start::RequiresPaymentMethod,
        Start::RequiresAction,
        Start::Succeeded,
        Start::Canceled,
        Start::Expired,
    ] {
        let (pi, _) = start(s);
        assert!(!pi.is_due_for_expiry(far), "{s:?}");
        assert_eq!(pi.as_of(far), pi, "{s:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Deadlines: what falls due and in what order, and setting a scheduled action.
// ---------------------------------------------------------------------------------------------

const HOUR: i64 = 3_600;

fn schedule_req(kind: &str, at: Option<Timestamp>, amount: Option<RawMoney>) -> ScheduleRequest {
    ScheduleRequest {
        kind: kind.into(),
        at,
        offset_before_expiry_seconds: None,
        amount,
    }
}

/// A manual-capture hold placed at `AUTHORIZED_AT` until `DEADLINE`, created with this expiry
/// warning lead and this create-time scheduled action (type, offset before the deadline).
fn hold_with(lead: Option<i64>, at_creation: Option<(&str, i64)>) -> PaymentIntent {
    let req = CreateRequest {
        scheduled_action: at_creation.map(|(kind, offset)| ScheduleRequest {
            kind: kind.into(),
            at: None,
            offset_before_expiry_seconds: Some(offset),
            amount: None,
        }),
        ..request("manual")
    };
    let created = new_intent(false, lead)
        .create(req)
        .expect("a valid request")
        .intent;
    authorize(&created, authorized(DEADLINE, false), AUTHORIZED_AT).intent
}

/// `intent` with a scheduled action (no amount) set at `now`.
fn with_schedule(
    intent: &PaymentIntent,
    kind: &str,
    at: Timestamp,
    now: Timestamp,
) -> PaymentIntent {
    set_scheduled_action(intent, &schedule_req(kind, Some(at), None), now)
        .expect("a valid schedule")
        .intent
}

/// What `due` offers for a scheduled action set through the API (no offset, no amount).
fn scheduled(kind: ScheduledKind, at: Timestamp) -> Due {
    Due::Scheduled(ScheduledAction {
        kind,
        at: Some(at),
        offset_before_expiry_seconds: None,
        amount: None,
    })
}

/// A row of the `due` table: what, on which intent, at what time, and what must be due.
type DueRow<'a> = (
    &'a str,
    &'a PaymentIntent,
    Timestamp,
    Option<(Timestamp, Due)>,
);

#[test]
fn due_offers_the_earliest_item_and_past_the_deadline_only_expiry() {
    use ScheduledKind::{Capture, Void};
    let warn_at = DEADLINE.plus_seconds(-HOUR);
    let plain = hold_with(None, None);
    let warned = hold_with(Some(HOUR), None);
    assert_eq!(warned.expiry_warning_at, Some(warn_at));
    let same_second = with_schedule(&warned, "capture", warn_at, WITHIN);
    let schedule_first = with_schedule(&warned, "void", warn_at.plus_seconds(-60), WITHIN);
    let warning_first = with_schedule(&warned, "capture", warn_at.plus_seconds(60), WITHIN);
    let warned_at_deadline = hold_with(Some(0), None);
    let last_second = with_schedule(&plain, "capture", DEADLINE.plus_seconds(-1), WITHIN);
    let warning_sent = apply_expiry_warning(&warned, warn_at)
        .expect("the warning is due")
        .intent;
    let unconfirmed = with_schedule(&create_with("manual"), "void", WITHIN, T0);
    let expired = with_ctx(PAST, |ctx| apply_expiry(&same_second, ctx))
        .expect("the hold lapsed")
        .intent;
    let captured = capture_all(&same_second, WITHIN).intent;
    let (expired_view, _) = start(Start::Expired);
    let far = PAST.plus_seconds(30 * SECONDS_PER_DAY);
    let expiry = || Some((PAST, Due::Expiry));

    #[rustfmt::skip]
    let rows: Vec<DueRow<'_>> = vec![
        ("plain hold, inside it",                    &plain, WITHIN, None),
        ("plain hold, at the deadline second",       &plain, DEADLINE, None),
        ("plain hold, the second after",             &plain, PAST, expiry()),
        ("plain hold, long after: due since PAST",   &plain, far, expiry()),
        ("warning, a second early",                  &warned, warn_at.plus_seconds(-1), None),
        ("warning, at its second",                   &warned, warn_at, Some((warn_at, Due::ExpiryWarning))),
        ("warning, unsent until the deadline",       &warned, DEADLINE, Some((warn_at, Due::ExpiryWarning))),
        ("warning, unsent past the deadline: moot",  &warned, PAST, expiry()),
        ("warning sent: nothing until expiry",       &warning_sent, DEADLINE, None),
        ("warning sent: then expiry",                &warning_sent, PAST, expiry()),
        ("scheduled and warning at the same second", &same_second, warn_at, Some((warn_at, scheduled(Capture, warn_at)))),
        ("same second, a second early",              &same_second, warn_at.plus_seconds(-1), None),
        ("same second, past the deadline",           &same_second, far, expiry()),
        ("scheduled a minute before the warning",    &schedule_first, warn_at, Some((warn_at.plus_seconds(-60), scheduled(Void, warn_at.plus_seconds(-60))))),
        ("warning a minute before the scheduled",    &warning_first, warn_at.plus_seconds(60), Some((warn_at, Due::ExpiryWarning))),
        ("warning at the deadline, before expiry",   &warned_at_deadline, DEADLINE, Some((DEADLINE, Due::ExpiryWarning))),
        ("warning at the deadline, a second later",  &warned_at_deadline, PAST, expiry()),
        ("scheduled at the last second",             &last_second, DEADLINE, Some((DEADLINE.plus_seconds(-1), scheduled(Capture, DEADLINE.plus_seconds(-1))))),
        ("scheduled at the last second, too late",   &last_second, PAST, expiry()),
        ("before a hold, not yet",                   &unconfirmed, WITHIN.plus_seconds(-1), None),
        ("before a hold, at its second",             &unconfirmed, WITHIN, Some((WITHIN, scheduled(Void, WITHIN)))),
        ("before a hold, no deadline to pass",       &unconfirmed, far, Some((WITHIN, scheduled(Void, WITHIN)))),
        ("expiry recorded",                          &expired, far, None),
        ("captured",                                 &captured, far, None),
        ("expired view",                             &expired_view, far, None),
    ];
    let failures: Vec<String> = rows
        .iter()
        .filter(|(_, pi, now, want)| pi.due(*now) != *want)
        .map(|(name, pi, now, want)| {
            format!("{name}: due({now:?}) is {:?}, want {want:?}", pi.due(*now))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn next_due_at_is_the_earliest_moment_and_never_later_than_expiry() {
    let warn_at = DEADLINE.plus_seconds(-HOUR);
    let warned = hold_with(Some(HOUR), None);
    let unconfirmed = with_schedule(&create_with("manual"), "capture", WITHIN, T0);
    // Set before the hold, for a moment the hold turned out not to reach.
    let beyond = with_schedule(
        &create_with("manual"),
        "capture",
        DEADLINE.plus_seconds(SECONDS_PER_DAY),
        T0,
    );
    let beyond = authorize(&beyond, authorized(DEADLINE, false), AUTHORIZED_AT).intent;
    let offset_unresolved = try_create(CreateRequest {
        scheduled_action: Some(ScheduleRequest {
            kind: "void".into(),
            at: None,
            offset_before_expiry_seconds: Some(HOUR),
            amount: None,
        }),
        ..request("manual")
    })
    .expect("a valid request")
    .intent;
    let (held, _) = start(Start::RequiresCapture);
    let (succeeded, _) = start(Start::Succeeded);
    let (canceled, _) = start(Start::Canceled);
    let (expired_view, _) = start(Start::Expired);
    let expired = with_ctx(PAST, |ctx| apply_expiry(&warned, ctx))
        .expect("the hold lapsed")
        .intent;

    #[rustfmt::skip]
    let rows: Vec<(&str, PaymentIntent, Option<Timestamp>)> = vec![
        ("created, nothing scheduled",               create_with("manual"), None),
        ("create-time offset, no deadline yet",      offset_unresolved, None),
        ("scheduled before a hold",                  unconfirmed, Some(WITHIN)),
        ("a plain hold: expiry",                     held, Some(PAST)),
        ("a warning",                                warned.clone(), Some(warn_at)),
        ("scheduled and warning at the same second", with_schedule(&warned, "capture", warn_at, WITHIN), Some(warn_at)),
        ("scheduled before the warning",             with_schedule(&warned, "void", warn_at.plus_seconds(-60), WITHIN), Some(warn_at.plus_seconds(-60))),
        ("warning before the scheduled",             with_schedule(&warned, "capture", warn_at.plus_seconds(60), WITHIN), Some(warn_at)),
        ("warning at the deadline",                  hold_with(Some(0), None), Some(DEADLINE)),
        ("warning sent",                             apply_expiry_warning(&warned, warn_at).expect("due").intent, Some(PAST)),
        ("scheduled beyond the deadline",            beyond, Some(PAST)),
        ("succeeded",                                succeeded, None),
        ("canceled",                                 canceled, None),
        ("expiry recorded",                          expired, None),
        ("expired view",                             expired_view, None),
    ];
    let failures: Vec<String> = rows
        .iter()
        .filter(|(_, pi, want)| pi.next_due_at() != *want)
        .map(|(name, pi, want)| format!("{name}: {:?}, want {want:?}", pi.next_due_at()))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn creation_time_deadlines_resolve_when_the_hold_is_placed() {
    let pi = hold_with(Some(2 * HOUR), Some(("capture", 3 * HOUR)));
    assert_eq!(pi.expiry_warning_at, Some(DEADLINE.plus_seconds(-2 * HOUR)));
    assert_eq!(
        pi.scheduled_action,
        Some(ScheduledAction {
            kind: ScheduledKind::Capture,
            at: Some(DEADLINE.plus_seconds(-3 * HOUR)),
            offset_before_expiry_seconds: Some(3 * HOUR),
            amount: None,
        })
    );
    assert_eq!(pi.next_due_at(), Some(DEADLINE.plus_seconds(-3 * HOUR)));

    // Longer than the hold: due as soon as it is placed, never before.
    let long = hold_with(
        Some(30 * SECONDS_PER_DAY),
        Some(("void", 30 * SECONDS_PER_DAY)),
    );
    assert_eq!(long.expiry_warning_at, Some(AUTHORIZED_AT));
    let action = long.scheduled_action.clone().expect("resolved");
    assert_eq!(action.at, Some(AUTHORIZED_AT));
    assert_eq!(
        long.due(AUTHORIZED_AT),
        Some((AUTHORIZED_AT, Due::Scheduled(action)))
    );

    // A decline places no hold: nothing resolves and nothing is due.
    let req = CreateRequest {
        scheduled_action: Some(ScheduleRequest {
            kind: "void".into(),
            at: None,
            offset_before_expiry_seconds: Some(HOUR),
            amount: None,
        }),
        ..request("manual")
    };
    let created = new_intent(false, Some(HOUR))
        .create(req)
        .expect("a valid request")
        .intent;
    let declined = authorize(&created, declined(), AUTHORIZED_AT).intent;
    assert_eq!(declined.expiry_warning_at, None);
    assert_eq!(declined.scheduled_action.and_then(|s| s.at), None);
}

#[test]
fn a_creation_time_schedule_is_checked() {
    let with = |kind: &str, offset: Option<i64>, capture_method: &str| CreateRequest {
        scheduled_action: Some(ScheduleRequest {
            kind: kind.into(),
            at: None,
            offset_before_expiry_seconds: offset,
            amount: None,
        }),
        ..request(capture_method)
    };
    let offset = "scheduled_action.offset_before_expiry_seconds";
    #[rustfmt::skip]
    let rows = [
        (with("refund", Some(HOUR), "manual"),   at(E::InvalidParameter, "scheduled_action.type")),
        (with("capture", None, "manual"),        at(E::MissingParameter, offset)),
        (with("capture", Some(0), "manual"),     at(E::InvalidParameter, offset)),
        (with("void", Some(-HOUR), "manual"),    at(E::InvalidParameter, offset)),
        (with("void", Some(HOUR), "automatic"),  at(E::InvalidParameter, "scheduled_action")),
    ];
    for (req, want) in rows {
        let what = format!("{:?}", req.scheduled_action);
        assert_eq!(rejected(req), want, "{what}");
    }
}

/// When a scheduled action is asked to run, relative to the row's `now` or to `DEADLINE`.
#[derive(Debug, Clone, Copy)]
enum At {
    Missing,
    FromNow(i64),
    FromDeadline(i64),
}

impl At {
    fn resolve(self, now: Timestamp) -> Option<Timestamp> {
        match self {
            At::Missing => None,
            At::FromNow(s) => Some(now.plus_seconds(s)),
            At::FromDeadline(s) => Some(DEADLINE.plus_seconds(s)),
        }
    }
}

const FUTURE: At = At::FromNow(60);

/// A refused schedule: what, from where, type, time, amount (minor units, currency), and the
/// code and parameter it must be refused with.
type ScheduleRefusal = (
    &'static str,
    Start,
    &'static str,
    At,
    Option<(i64, &'static str)>,
    ErrorCode,
    Option<&'static str>,
);

/// An accepted schedule: from where, type, time, amount, and the scheduled action's kind and amount.
type ScheduleAccepted = (
    Start,
    &'static str,
    At,
    Option<(i64, &'static str)>,
    ScheduledKind,
    Option<Money>,
);
const USD_A: Option<(i64, &str)> = Some((A, "USD"));

#[rustfmt::skip]
const SCHEDULE_REFUSALS: &[ScheduleRefusal] = &[
    // Status first: only an open intent inside its hold takes a schedule.
    ("succeeded",                     S::Succeeded,                   "capture", FUTURE, None, E::InvalidStatusForScheduledAction, None),
    ("canceled",                      S::Canceled,                    "void",    FUTURE, None, E::InvalidStatusForScheduledAction, None),
    ("expired",                       S::Expired,                     "void",    FUTURE, None, E::InvalidStatusForScheduledAction, None),
    ("overdue, expiry not recorded",  S::RequiresCapturePastDeadline, "capture", FUTURE, None, E::InvalidStatusForScheduledAction, None),
    ("status before type and time",   S::Succeeded,                   "refund",  At::Missing, USD_A, E::InvalidStatusForScheduledAction, None),
    // Then the type.
    ("an unknown type",               S::RequiresCapture,       "refund",  FUTURE, None, E::InvalidParameter, Some("type")),
    ("types are lower case",          S::RequiresCapture,       "Capture", FUTURE, None, E::InvalidParameter, Some("type")),
    ("an empty type",                 S::RequiresPaymentMethod, "",        FUTURE, None, E::InvalidParameter, Some("type")),
    ("type before time",              S::RequiresCapture,       "refund",  At::FromNow(-1), None, E::InvalidParameter, Some("type")),
    // Then the time: in the future, and before the deadline.
    ("no time",                       S::RequiresCapture,       "capture", At::Missing, None, E::MissingParameter, Some("at")),
    ("now is not the future",         S::RequiresCapture,       "capture", At::FromNow(0), None, E::InvalidParameter, Some("at")),
    ("a second ago",                  S::RequiresCapture,       "void",    At::FromNow(-1), None, E::InvalidParameter, Some("at")),
    ("in the past, before a hold",    S::RequiresPaymentMethod, "void",    At::FromNow(-60), None, E::InvalidParameter, Some("at")),
    ("in the past, awaiting 3DS",     S::RequiresAction,        "capture", At::FromNow(-60), None, E::InvalidParameter, Some("at")),
    ("at the deadline",               S::RequiresCapture,       "capture", At::FromDeadline(0), None, E::ScheduledActionAfterExpiry, Some("at")),
    ("after the deadline",            S::RequiresCapture,       "void",    At::FromDeadline(1), None, E::ScheduledActionAfterExpiry, Some("at")),
    ("time before amount",            S::RequiresCapture,       "void",    At::FromNow(-1), USD_A, E::InvalidParameter, Some("at")),
    ("deadline before amount",        S::RequiresCapture,       "capture", At::FromDeadline(0), Some((0, "USD")), E::ScheduledActionAfterExpiry, Some("at")),
    // Then the amount: a void takes none; a capture's passes the capture checks, in their order.
    ("a void with an amount",         S::RequiresCapture,       "void",    FUTURE, USD_A, E::InvalidParameter, Some("amount_money")),
    ("a void with one, before a hold",S::RequiresPaymentMethod, "void",    FUTURE, Some((1, "USD")), E::InvalidParameter, Some("amount_money")),
    ("a cent more than the hold",     S::RequiresCapture,       "capture", FUTURE, Some((A + 1, "USD")), E::CaptureAmountExceedsAuthorized, Some("amount_money.amount")),
    ("more than the intent's amount", S::RequiresPaymentMethod, "capture", FUTURE, Some((A + 1, "USD")), E::CaptureAmountExceedsAuthorized, Some("amount_money.amount")),
    ("i64::MAX",                      S::RequiresAction,        "capture", FUTURE, Some((i64::MAX, "USD")), E::CaptureAmountExceedsAuthorized, Some("amount_money.amount")),
    ("another currency",              S::RequiresCapture,       "capture", FUTURE, Some((PART, "EUR")), E::CaptureCurrencyMismatch, Some("amount_money.currency")),
    ("a lower-case currency",         S::RequiresCapture,       "capture", FUTURE, Some((PART, "usd")), E::CaptureCurrencyMismatch, Some("amount_money.currency")),
    ("not a currency",                S::RequiresPaymentMethod, "capture", FUTURE, Some((PART, "XYZ")), E::CaptureCurrencyMismatch, Some("amount_money.currency")),
    ("too much, in EUR: currency first", S::RequiresCapture,    "capture", FUTURE, Some((A + 1, "EUR")), E::CaptureCurrencyMismatch, Some("amount_money.currency")),
    ("zero",                          S::RequiresCapture,       "capture", FUTURE, Some((0, "USD")), E::InvalidCaptureAmount, Some("amount_money.amount")),
    ("negative",                      S::RequiresPaymentMethod, "capture", FUTURE, Some((-1, "USD")), E::InvalidCaptureAmount, Some("amount_money.amount")),
    ("zero, in EUR: amount first",    S::RequiresCapture,       "capture", FUTURE, Some((0, "EUR")), E::InvalidCaptureAmount, Some("amount_money.amount")),
];

#[test]
fn set_scheduled_action_refuses_with_the_exact_code_and_parameter() {
    let mut failures = Vec::new();
    for &(name, s, kind, when, amount, code, param) in SCHEDULE_REFUSALS {
        let (before, now) = start(s);
        let req = schedule_req(
            kind,
            when.resolve(now),
            amount.map(|(n, currency)| raw(n, currency)),
        );
        match set_scheduled_action(&before, &req, now) {
            Err(r) if r.code == code && r.param.as_deref() == param => {}
            other => failures.push(format!(
                "{name}: want {code} (param {param:?}), got {other:?}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        SCHEDULE_REFUSALS.len(),
        failures.join("\n")
    );
}

#[test]
fn set_scheduled_action_sets_the_schedule_and_nothing_else() {
    let usd = |n| Some(Money::new(n, usd()));
    #[rustfmt::skip]
    let rows: &[ScheduleAccepted] = &[
        (S::RequiresCapture,       "capture", At::FromDeadline(-1), USD_A,             ScheduledKind::Capture, usd(A)),
        (S::RequiresCapture,       "capture", At::FromNow(1),       None,              ScheduledKind::Capture, None),
        (S::RequiresCapture,       "capture", FUTURE,               Some((1, "USD")),  ScheduledKind::Capture, usd(1)),
        (S::RequiresCapture,       "void",    FUTURE,               None,              ScheduledKind::Void,    None),
        // Before a hold there is no deadline to stay inside.
        (S::RequiresPaymentMethod, "capture", At::FromDeadline(SECONDS_PER_DAY), Some((PART, "USD")), ScheduledKind::Capture, usd(PART)),
        (S::RequiresAction,        "void",    FUTURE,               None,              ScheduledKind::Void,    None),
    ];
    for &(s, kind, when, amount, want_kind, want_amount) in rows {
        let (before, now) = start(s);
        let at = when.resolve(now);
        let req = schedule_req(kind, at, amount.map(|(n, c)| raw(n, c)));
        let t = set_scheduled_action(&before, &req, now)
            .unwrap_or_else(|r| panic!("{s:?} {kind} {when:?}: refused {r:?}"));
        assert!(t.events.is_empty(), "{s:?} {kind}");
        let mut want = before.clone();
        want.version += 1;
        want.updated_at = now;
        want.scheduled_action = Some(ScheduledAction {
            kind: want_kind,
            at,
            offset_before_expiry_seconds: None,
            amount: want_amount,
        });
        assert_eq!(t.intent, want, "{s:?} {kind} {when:?}");
    }

    // A second schedule replaces the first; clearing removes it, once.
    let (held, now) = start(Start::RequiresCapture);
    let first = with_schedule(&held, "capture", now.plus_seconds(60), now);
    let second = with_schedule(&first, "void", now.plus_seconds(120), now);
    assert_eq!(
        second.scheduled_action,
        Some(ScheduledAction {
            kind: ScheduledKind::Void,
            at: Some(now.plus_seconds(120)),
            offset_before_expiry_seconds: None,
            amount: None,
        })
    );
    let cleared = clear_scheduled_action(&second, now)
        .expect("there is one")
        .intent;
    assert_eq!(cleared.scheduled_action, None);
    assert_eq!(cleared.version, second.version + 1);
    assert!(clear_scheduled_action(&cleared, now).is_none());
    assert!(clear_scheduled_action(&held, now).is_none());
}

/// Capture, cancel and expiry each clear the schedule and the pending warning.
#[test]
fn resolving_a_hold_clears_its_deadlines() {
    let (warned, now) = (hold_with(Some(HOUR), None), WITHIN);
    let pending = with_schedule(&warned, "capture", DEADLINE.plus_seconds(-2 * HOUR), now);
    assert!(pending.scheduled_action.is_some() && pending.expiry_warning_at.is_some());
    let resolved = [
        capture_all(&pending, now).intent,
        cancel(&pending, None, now).intent,
        with_ctx(PAST, |ctx| apply_expiry(&pending, ctx))
            .expect("the hold lapsed")
            .intent,
    ];
    for pi in resolved {
        assert_eq!(pi.scheduled_action, None, "{:?}", pi.status);
        assert_eq!(pi.expiry_warning_at, None, "{:?}", pi.status);
        assert_eq!(pi.next_due_at(), None, "{:?}", pi.status);
        assert_eq!(pi.due(PAST.plus_seconds(SECONDS_PER_DAY)), None);
    }
}

/// Clearing the schedule of an intent that is already resolved, or of a hold whose deadline passed
/// (it reads as expired before the worker records it), must not write a new version: the schedule
/// can never run, a resolved intent never changes, and the service answers a `Some` with the
/// transition's intent as it stands, not `as_of(now)`.
#[test]
fn clearing_the_schedule_of_a_resolved_intent_changes_nothing() {
    let mut failures = Vec::new();
    let (held, _) = start(Start::RequiresCapture);
    let overdue = with_schedule(&held, "capture", DEADLINE.plus_seconds(-HOUR), WITHIN);
    assert_eq!(overdue.as_of(PAST).status, Status::Expired);
    if let Some(t) = clear_scheduled_action(&overdue, PAST) {
        failures.push(format!(
            "a hold past its deadline got version {} as {:?} with {} capturable",
            t.intent.version, t.intent.status, t.intent.capturable
        ));
    }

    // An automatic-capture intent settles at confirm, so it takes no schedule at all (a schedule
    // set before confirm would outlive the payment).
    let refused = set_scheduled_action(
        &create_with("automatic"),
        &schedule_req("void", Some(WITHIN), None),
        T0,
    )
    .expect_err("no schedule on automatic capture");
    assert_eq!(refused.code, ErrorCode::InvalidStatusForScheduledAction);
    assert_eq!(refused.param, None);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
