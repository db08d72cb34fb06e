//! Deadlines: what falls due on an intent by itself, and when.
//!
//! Three things can fall due: the expiring-soon warning, a scheduled capture or void, and expiry.
//! [`PaymentIntent::next_due_at`] is the earliest of them, stored as an indexed column so the
//! worker (and a test clock's advance) finds due intents without a scan. [`PaymentIntent::due`]
//! says which one is due first at a given time; the service performs it and asks again.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, Rejection};
use crate::event_type::EventType;
use crate::intent::{
    ActionStatus, ActionType, CAPTURE_AMOUNT, CaptureMethod, Ctx, PaymentIntent, Status, Transition,
};
use crate::money::{Limits, Money, RawMoney};
use crate::time::Timestamp;

/// The reference recorded on the capture or void action a scheduled action performs.
pub const SCHEDULED_REFERENCE: &str = "scheduled";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduledKind {
    Capture,
    Void,
}

impl ScheduledKind {
    pub const ALL: &'static [ScheduledKind] = &[ScheduledKind::Capture, ScheduledKind::Void];

    pub const fn as_str(self) -> &'static str {
        match self {
            ScheduledKind::Capture => "capture",
            ScheduledKind::Void => "void",
        }
    }

    fn parse(name: &str) -> Result<ScheduledKind, Rejection> {
        match name {
            "capture" => Ok(ScheduledKind::Capture),
            "void" => Ok(ScheduledKind::Void),
            _ => Err(Rejection::param(
                ErrorCode::InvalidParameter,
                "scheduled_action.type",
                "type takes capture or void",
            )),
        }
    }
}

/// A capture or void the intent performs on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledAction {
    pub kind: ScheduledKind,
    /// When it runs. `None` until confirm sets the deadline an offset refers to.
    pub at: Option<Timestamp>,
    /// Set at creation: run this long before whatever deadline confirm sets.
    pub offset_before_expiry_seconds: Option<i64>,
    /// For a capture: how much; `None` is everything capturable.
    pub amount: Option<Money>,
}

/// A scheduled action as asked for, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRequest {
    pub kind: String,
    pub at: Option<Timestamp>,
    pub offset_before_expiry_seconds: Option<i64>,
    pub amount: Option<RawMoney>,
}

/// Validates `scheduled_action` given at creation: a type and an offset before the deadline.
pub fn schedule_at_creation(
    req: &ScheduleRequest,
    capture_method: CaptureMethod,
) -> Result<ScheduledAction, Rejection> {
    let kind = ScheduledKind::parse(&req.kind)?;
    let Some(offset) = req.offset_before_expiry_seconds else {
        return Err(Rejection::param(
            ErrorCode::MissingParameter,
            "scheduled_action.offset_before_expiry_seconds",
            "a scheduled action at creation needs offset_before_expiry_seconds",
        ));
    };
    if offset <= 0 {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "scheduled_action.offset_before_expiry_seconds",
            "offset_before_expiry_seconds must be a positive number of seconds",
        ));
    }
    if capture_method != CaptureMethod::Manual {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "scheduled_action",
            "only manual-capture intents hold funds to capture or void later",
        ));
    }
    Ok(ScheduledAction {
        kind,
        at: None,
        offset_before_expiry_seconds: Some(offset),
        amount: None,
    })
}

/// What is due on an intent at some moment, earliest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Run the scheduled capture or void, exactly as the API would.
    Scheduled(ScheduledAction),
    /// Send `payment_intent.authorization_expiring`.
    ExpiryWarning,
    /// The hold lapsed: release it.
    Expiry,
}

impl PaymentIntent {
    /// The first moment at which the hold is expired.
    fn expiry_moment(&self) -> Option<Timestamp> {
        self.authorization_expires_at.map(|t| t.plus_seconds(1))
    }

    /// The earliest moment something falls due on this intent, if anything ever will.
    pub fn next_due_at(&self) -> Option<Timestamp> {
        let scheduled = self.scheduled_action.as_ref().and_then(|s| s.at);
        match self.status {
            Status::RequiresPaymentMethod | Status::RequiresAction => scheduled,
            Status::RequiresCapture => [scheduled, self.expiry_warning_at, self.expiry_moment()]
                .into_iter()
                .flatten()
                .min(),
            Status::Succeeded | Status::Canceled | Status::Expired => None,
        }
    }

    /// What is due at `now`, earliest first, with the moment it fell due. At the same second a
    /// scheduled action goes before the warning, which it would make moot. Past the deadline only
    /// expiry is: a warning or a scheduled action that was not performed in time no longer can be.
    pub fn due(&self, now: Timestamp) -> Option<(Timestamp, Due)> {
        if self.status.is_terminal() {
            return None;
        }
        if self.is_due_for_expiry(now) {
            return self.expiry_moment().map(|at| (at, Due::Expiry));
        }
        let mut candidates: Vec<(Timestamp, u8, Due)> = Vec::with_capacity(3);
        if let Some(schedule) = &self.scheduled_action
            && let Some(at) = schedule.at
        {
            candidates.push((at, 0, Due::Scheduled(schedule.clone())));
        }
        if self.status == Status::RequiresCapture {
            if let Some(at) = self.expiry_warning_at {
                candidates.push((at, 1, Due::ExpiryWarning));
            }
            if let Some(at) = self.expiry_moment() {
                candidates.push((at, 2, Due::Expiry));
            }
        }
        candidates
            .into_iter()
            .filter(|(at, _, _)| *at <= now)
            .min_by_key(|(at, rank, _)| (*at, *rank))
            .map(|(at, _, due)| (at, due))
    }
}

/// The hold lapsed before capture: release all of it, record an `expiry` action, and emit
/// `payment_intent.canceled` with `cancellation_reason: authorization_expired`. A multicapture
/// intent with captures behind it releases the rest and emits `payment_intent.succeeded`.
pub fn apply_expiry(intent: &PaymentIntent, ctx: &mut Ctx<'_>) -> Option<Transition> {
    if !intent.is_due_for_expiry(ctx.now) {
        return None;
    }
    let mut next = intent.next_version(ctx.now);
    let released = next.capturable;
    next.release_as_expired(ctx.now);
    next.scheduled_action = None;
    next.expiry_warning_at = None;
    next.push_action(ctx, ActionType::Expiry, released, ActionStatus::Succeeded);
    if let (Some(action), Some(at)) = (next.actions.last_mut(), intent.expiry_moment()) {
        action.created_at = at;
    }
    // A multicapture hold with captures behind it ends `succeeded` (see `release_as_expired`).
    let event = match next.status {
        Status::Succeeded => EventType::PaymentIntentSucceeded,
        _ => EventType::PaymentIntentCanceled,
    };
    Some(Transition::new(next, vec![event]))
}

/// Sends the expiring-soon warning once, while the hold still waits for capture.
pub fn apply_expiry_warning(intent: &PaymentIntent, now: Timestamp) -> Option<Transition> {
    let due = intent.expiry_warning_at.is_some_and(|at| at <= now);
    if intent.status != Status::RequiresCapture || intent.is_due_for_expiry(now) || !due {
        return None;
    }
    let mut next = intent.next_version(now);
    next.expiry_warning_at = None;
    Some(Transition::new(
        next,
        vec![EventType::PaymentIntentAuthorizationExpiring],
    ))
}

/// Sets or replaces the intent's scheduled action.
pub fn set_scheduled_action(
    intent: &PaymentIntent,
    req: &ScheduleRequest,
    now: Timestamp,
) -> Result<Transition, Rejection> {
    let open = matches!(
        intent.status,
        Status::RequiresPaymentMethod | Status::RequiresAction | Status::RequiresCapture
    );
    if !open || intent.is_due_for_expiry(now) {
        return Err(Rejection::new(
            ErrorCode::InvalidStatusForScheduledAction,
            format!(
                "payment intent is {}; only an unresolved intent takes a scheduled action",
                intent.as_of(now).status.as_str()
            ),
        ));
    }
    if intent.capture_method == CaptureMethod::Automatic {
        return Err(Rejection::new(
            ErrorCode::InvalidStatusForScheduledAction,
            "an automatic-capture intent settles when it is confirmed; there is no hold to schedule",
        ));
    }
    let kind = ScheduledKind::parse(&req.kind).map_err(|r| Rejection {
        param: Some("type".into()),
        ..r
    })?;
    let Some(at) = req.at else {
        return Err(Rejection::param(
            ErrorCode::MissingParameter,
            "at",
            "at is required",
        ));
    };
    if at <= now {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "at",
            "at must be in the future",
        ));
    }
    if intent
        .authorization_expires_at
        .is_some_and(|deadline| at >= deadline)
    {
        return Err(Rejection::param(
            ErrorCode::ScheduledActionAfterExpiry,
            "at",
            "at must be before authorization_expires_at; the hold is gone after it",
        ));
    }
    let amount = match (&req.amount, kind) {
        (None, _) => None,
        (Some(_), ScheduledKind::Void) => {
            return Err(Rejection::param(
                ErrorCode::InvalidParameter,
                "amount_money",
                "a void releases the whole hold and takes no amount",
            ));
        }
        (Some(raw), ScheduledKind::Capture) => Some(scheduled_amount(intent, raw)?),
    };
    let mut next = intent.next_version(now);
    next.scheduled_action = Some(ScheduledAction {
        kind,
        at: Some(at),
        offset_before_expiry_seconds: None,
        amount,
    });
    Ok(Transition::new(next, Vec::new()))
}

/// The amount checks of a capture, made when the capture is scheduled rather than when it runs:
/// against the hold if there is one, else against the amount the hold will be for.
fn scheduled_amount(intent: &PaymentIntent, raw: &RawMoney) -> Result<Money, Rejection> {
    let max = if intent.status == Status::RequiresCapture {
        intent.capturable
    } else {
        intent.amount.amount
    };
    let limits = Limits {
        currency: Some(intent.currency()),
        max: Some(max),
    };
    raw.check("amount_money", limits, &CAPTURE_AMOUNT)
}

/// Clears the scheduled action; `None` when there is nothing to clear: no schedule, or an intent
/// that is resolved (or past its deadline) and so can no longer change.
pub fn clear_scheduled_action(intent: &PaymentIntent, now: Timestamp) -> Option<Transition> {
    intent.scheduled_action.as_ref()?;
    if intent.status.is_terminal() || intent.is_due_for_expiry(now) {
        return None;
    }
    let mut next = intent.next_version(now);
    next.scheduled_action = None;
    Some(Transition::new(next, Vec::new()))
}
