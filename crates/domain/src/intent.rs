//! The payment intent and its state machine: create, confirm (authorize), capture, cancel, expire.
//!
//! Each command is a pair of pure functions. A `check_*`/`decide_*` function says whether the command
//! may run and with what values; the service then talks to the processor if it must, and an
//! `apply_*` function turns the outcome into a [`Transition`]: the next intent (version + 1) and the
//! events to record with it. Neither half does I/O or reads a clock.
//!
//! The money invariant `captured + released + capturable = authorized`, none negative, holds for every
//! intent these functions return; [`PaymentIntent::money_invariant_holds`] states it once.

use serde::{Deserialize, Serialize};

use crate::Scope;
pub use crate::card::Card;
use crate::card::SavedPaymentMethod;
use crate::error::{ErrorCode, Rejection};
use crate::event_type::EventType;
use crate::metadata::{self, Metadata};
pub use crate::money::RawMoney;
use crate::money::{AmountRules, Currency, Limits, Money};
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    RequiresPaymentMethod,
    RequiresAction,
    RequiresCapture,
    Succeeded,
    Canceled,
    Expired,
}

impl Status {
    pub const ALL: &'static [Status] = &[
        Status::RequiresPaymentMethod,
        Status::RequiresAction,
        Status::RequiresCapture,
        Status::Succeeded,
        Status::Canceled,
        Status::Expired,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Status::RequiresPaymentMethod => "requires_payment_method",
            Status::RequiresAction => "requires_action",
            Status::RequiresCapture => "requires_capture",
            Status::Succeeded => "succeeded",
            Status::Canceled => "canceled",
            Status::Expired => "expired",
        }
    }

    pub fn parse(name: &str) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| s.as_str() == name)
    }

    pub const fn is_terminal(self) -> bool {
        matches!(self, Status::Succeeded | Status::Canceled | Status::Expired)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMethod {
    Automatic,
    Manual,
}

impl CaptureMethod {
    pub const ALL: &'static [CaptureMethod] = &[CaptureMethod::Automatic, CaptureMethod::Manual];

    pub const fn as_str(self) -> &'static str {
        match self {
            CaptureMethod::Automatic => "automatic",
            CaptureMethod::Manual => "manual",
        }
    }

    pub fn parse(name: &str) -> Option<CaptureMethod> {
        CaptureMethod::ALL
            .iter()
            .copied()
            .find(|m| m.as_str() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancellationReason {
    RequestedByCustomer,
    Duplicate,
    Fraudulent,
    Abandoned,
    /// Set by expiry only; a caller cannot ask for it.
    AuthorizationExpired,
}

impl CancellationReason {
    pub const ALL: &'static [CancellationReason] = &[
        CancellationReason::RequestedByCustomer,
        CancellationReason::Duplicate,
        CancellationReason::Fraudulent,
        CancellationReason::Abandoned,
        CancellationReason::AuthorizationExpired,
    ];

    /// The reasons a caller may give: all but `authorization_expired`.
    pub const REQUESTED: &'static [CancellationReason] = &[
        CancellationReason::RequestedByCustomer,
        CancellationReason::Duplicate,
        CancellationReason::Fraudulent,
        CancellationReason::Abandoned,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            CancellationReason::RequestedByCustomer => "requested_by_customer",
            CancellationReason::Duplicate => "duplicate",
            CancellationReason::Fraudulent => "fraudulent",
            CancellationReason::Abandoned => "abandoned",
            CancellationReason::AuthorizationExpired => "authorization_expired",
        }
    }

    /// The reasons a caller may give.
    pub fn parse_requested(name: &str) -> Option<CancellationReason> {
        CancellationReason::REQUESTED
            .iter()
            .copied()
            .find(|r| r.as_str() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentError {
    pub code: String,
    pub decline_code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextAction {
    pub redirect_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    Authorization,
    Capture,
    Void,
    Expiry,
    Refund,
    /// The hold grew (incremental authorization); the amount is the difference.
    Increment,
}

impl ActionType {
    pub const ALL: &'static [ActionType] = &[
        ActionType::Authorization,
        ActionType::Capture,
        ActionType::Void,
        ActionType::Expiry,
        ActionType::Refund,
        ActionType::Increment,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ActionType::Authorization => "authorization",
            ActionType::Capture => "capture",
            ActionType::Void => "void",
            ActionType::Expiry => "expiry",
            ActionType::Refund => "refund",
            ActionType::Increment => "increment",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Succeeded,
    Failed,
}

impl ActionStatus {
    pub const ALL: &'static [ActionStatus] = &[ActionStatus::Succeeded, ActionStatus::Failed];

    pub const fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Succeeded => "succeeded",
            ActionStatus::Failed => "failed",
        }
    }
}

/// One money movement on an intent, kept forever: the support view of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ActionType,
    pub amount: Money,
    pub status: ActionStatus,
    pub reference: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    pub created_at: Timestamp,
    pub request_id: Option<String>,
    /// The dashboard user who took the action (their email); `None` for the API and for
    /// Holdfast's own workers.
    #[serde(default)]
    pub actor: Option<String>,
}

/// A payment intent as stored: the whole aggregate, including its action history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub scope: Scope,
    /// Bumped by every transition; the store refuses a write whose base version is stale.
    pub version: u64,
    pub status: Status,
    /// What the intent asks for; after capture, what actually settled.
    pub amount: Money,
    pub capture_method: CaptureMethod,
    pub payment_method_types: Vec<String>,
    pub description: Option<String>,
    pub reference: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    pub source: String,
    pub customer_id: Option<String>,
    /// SHA-256 (hex) of the client secret handed out at creation; the secret itself is not kept.
    pub client_secret_hash: String,
    pub authorized: i64,
    pub capturable: i64,
    pub captured: i64,
    pub released: i64,
    /// Captured money refunded so far.
    #[serde(default)]
    pub refunded: i64,
    /// Captured money reserved by refunds still waiting for the processor.
    #[serde(default)]
    pub refund_pending: i64,
    pub authorized_at: Option<Timestamp>,
    pub authorization_expires_at: Option<Timestamp>,
    pub captured_at: Option<Timestamp>,
    pub canceled_at: Option<Timestamp>,
    pub cancellation_reason: Option<CancellationReason>,
    pub card: Option<Card>,
    pub payment_method_id: Option<String>,
    pub processor_ref: Option<String>,
    pub last_payment_error: Option<PaymentError>,
    pub next_action: Option<NextAction>,
    #[serde(default)]
    pub actions: Vec<Action>,
    /// The order this intent pays; its amount comes from the order, and it is paid, captured and
    /// voided through the order's routes only.
    #[serde(default)]
    pub order_id: Option<String>,
    /// The test clock whose time this intent lives on (test mode only); `None` is the wall clock.
    #[serde(default)]
    pub test_clock_id: Option<String>,
    /// A capture or void to perform on its own at a set time.
    #[serde(default)]
    pub scheduled_action: Option<ScheduledAction>,
    /// How long before the deadline `payment_intent.authorization_expiring` fires; `None`, never.
    #[serde(default)]
    pub expiry_warning_lead_seconds: Option<i64>,
    /// When the expiring-soon warning is due; cleared once it fired.
    #[serde(default)]
    pub expiry_warning_at: Option<Timestamp>,
    /// Opted in at creation: the hold may be captured in several parts (`final_capture: false`).
    #[serde(default)]
    pub multicapture: bool,
    /// Opted in at creation: the hold may grow ([`crate::increment`]).
    #[serde(default)]
    pub incremental_authorization: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl PaymentIntent {
    pub fn currency(&self) -> Currency {
        self.amount.currency
    }

    pub fn money(&self, amount: i64) -> Money {
        Money::new(amount, self.amount.currency)
    }

    /// `captured + released + capturable = authorized`, none negative.
    pub fn money_invariant_holds(&self) -> bool {
        let parts = [self.captured, self.released, self.capturable];
        parts.iter().all(|p| *p >= 0)
            && self.authorized >= 0
            && parts.iter().try_fold(0i64, |acc, p| acc.checked_add(*p)) == Some(self.authorized)
            && self.refunded >= 0
            && self.refund_pending >= 0
            && self.refunded + self.refund_pending <= self.captured
    }

    /// True once the hold's deadline has passed: the hold is gone whether or not a worker noticed.
    /// The deadline itself is the last second at which the hold can still be captured.
    pub fn is_due_for_expiry(&self, now: Timestamp) -> bool {
        self.status == Status::RequiresCapture
            && self
                .authorization_expires_at
                .is_some_and(|deadline| now > deadline)
    }

    /// The intent as it stands at `now`: a hold past its deadline reads as expired even before the
    /// expiry worker has recorded it.
    pub fn as_of(&self, now: Timestamp) -> PaymentIntent {
        let mut view = self.clone();
        if view.is_due_for_expiry(now) {
            view.release_as_expired(now);
        }
        view
    }

    pub(crate) fn release_as_expired(&mut self, now: Timestamp) {
        let lapsed_at = self
            .authorization_expires_at
            .map(|t| t.plus_seconds(1))
            .or(Some(now));
        self.released += self.capturable;
        self.capturable = 0;
        if self.captured > 0 {
            // A multicapture hold that lapsed after some captures: what was captured stays
            // captured, so the payment succeeded, for what it settled.
            self.settle_partly_captured();
        } else {
            self.status = Status::Expired;
            self.cancellation_reason = Some(CancellationReason::AuthorizationExpired);
            self.canceled_at = lapsed_at;
        }
    }

    /// A multicapture intent whose hold ends (expiry, void) after some captures: `succeeded`, for
    /// the amount captured; the rest is already in `released`.
    fn settle_partly_captured(&mut self) {
        debug_assert!(self.captured > 0 && self.capturable == 0);
        self.status = Status::Succeeded;
        self.amount = self.money(self.captured);
        self.cancellation_reason = None;
        self.canceled_at = None;
    }

    /// True once the hold lapsed, recorded or not: expired, due for expiry, or a multicapture
    /// intent whose remainder expiry released.
    pub fn hold_lapsed(&self, now: Timestamp) -> bool {
        self.status == Status::Expired
            || self.is_due_for_expiry(now)
            || (self.status == Status::Succeeded
                && self.actions.iter().any(|a| a.kind == ActionType::Expiry))
    }

    pub(crate) fn push_action(
        &mut self,
        ctx: &mut Ctx<'_>,
        kind: ActionType,
        amount: i64,
        status: ActionStatus,
    ) {
        let action = Action {
            id: (ctx.new_id)("act"),
            kind,
            amount: self.money(amount),
            status,
            reference: None,
            metadata: Metadata::new(),
            created_at: ctx.now,
            request_id: ctx.request_id.map(str::to_owned),
            actor: ctx.actor.map(str::to_owned),
        };
        self.actions.push(action);
    }

    pub(crate) fn next_version(&self, now: Timestamp) -> PaymentIntent {
        let mut next = self.clone();
        next.version += 1;
        next.updated_at = now;
        next
    }
}

/// What every transition needs from outside: the time, the request that caused it (and the
/// dashboard user who made it, if one did), and fresh ids.
pub struct Ctx<'a> {
    pub now: Timestamp,
    pub request_id: Option<&'a str>,
    pub actor: Option<&'a str>,
    /// Returns a fresh id with the given prefix (`"act"` → `act_…`).
    pub new_id: &'a mut dyn FnMut(&'static str) -> String,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("now", &self.now)
            .field("request_id", &self.request_id)
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

/// The result of a command: the next state of the intent and the events to record with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub intent: PaymentIntent,
    pub events: Vec<EventType>,
}

impl Transition {
    pub(crate) fn new(intent: PaymentIntent, events: Vec<EventType>) -> Transition {
        debug_assert!(
            intent.money_invariant_holds(),
            "money invariant broken: {intent:?}"
        );
        Transition { intent, events }
    }

    /// The decline this transition recorded, if it recorded one: the command that caused it
    /// answers with the decline (the intent, already updated, goes with it).
    pub fn decline(&self) -> Option<&PaymentError> {
        match (&self.intent.last_payment_error, self.intent.status) {
            (Some(error), Status::RequiresPaymentMethod) => Some(error),
            _ => None,
        }
    }
}

/// `POST /v1/payment-intents` as the domain sees it.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub amount: Option<RawMoney>,
    pub payment_method_types: Option<Vec<String>>,
    pub capture_method: Option<String>,
    pub auto_confirm: bool,
    pub description: Option<String>,
    pub reference: Option<String>,
    pub metadata: Metadata,
    pub customer_id: Option<String>,
    /// The order the intent pays: it is created by [`crate::order::create_intent`], and its
    /// amount is the order's balance.
    pub order_id: Option<String>,
    pub test_clock_id: Option<String>,
    /// `scheduled_action` at creation: an action relative to whatever deadline confirm sets.
    pub scheduled_action: Option<ScheduleRequest>,
    /// Opt in to several captures of one hold (manual capture only).
    pub multicapture: bool,
    /// Opt in to growing the hold later (manual capture only).
    pub incremental_authorization: bool,
}

/// What a creation takes besides the request: the new intent's id and client secret (hashed), what
/// the service knows of the request and its settings, and the time the intent lives at.
#[derive(Debug, Clone)]
pub struct NewIntent {
    pub id: String,
    pub scope: Scope,
    pub client_secret_hash: String,
    /// The request carries a `payment_source_token` (the token itself goes to the processor).
    pub has_payment_source: bool,
    /// How long before a hold's deadline `payment_intent.authorization_expiring` fires (the
    /// server's setting); `None`, never.
    pub expiry_warning_lead_seconds: Option<i64>,
    /// The intent's time: its test clock's, or the wall clock's.
    pub now: Timestamp,
}

/// How creation checks `amount_money`: a real currency code first, then an amount above zero.
pub(crate) const CREATE_AMOUNT: AmountRules = AmountRules {
    unknown_currency: Some(ErrorCode::InvalidParameter),
    other_currency: (ErrorCode::InvalidParameter, "amount_money takes a currency"),
    zero_allowed: false,
    too_small: (
        ErrorCode::InvalidParameter,
        "amount must be a positive integer in minor units",
    ),
    too_large: (ErrorCode::InvalidParameter, |amount, max| {
        format!("amount is at most {max}, not {amount}")
    }),
};

impl NewIntent {
    /// Validates a creation request and builds the new intent in `requires_payment_method`. An
    /// intent on an order is created by [`crate::order::create_intent`] instead.
    pub fn create(self, req: CreateRequest) -> Result<Transition, Rejection> {
        let raw = req.amount.as_ref().ok_or_else(|| {
            Rejection::param(
                ErrorCode::MissingParameter,
                "amount_money",
                "amount_money is required",
            )
        })?;
        let any_currency = Limits {
            currency: None,
            max: None,
        };
        let amount = raw.check("amount_money", any_currency, &CREATE_AMOUNT)?;
        create_for(self, req, amount)
    }
}

/// [`NewIntent::create`] for a request that carries no payment source, on a server that sends no
/// expiry warning.
pub fn create(
    id: String,
    scope: Scope,
    client_secret_hash: String,
    req: CreateRequest,
    now: Timestamp,
) -> Result<Transition, Rejection> {
    NewIntent {
        id,
        scope,
        client_secret_hash,
        has_payment_source: false,
        expiry_warning_lead_seconds: None,
        now,
    }
    .create(req)
}

/// Creation once the amount is known: given and checked, or an order's balance.
pub(crate) fn create_for(
    new: NewIntent,
    req: CreateRequest,
    amount: Money,
) -> Result<Transition, Rejection> {
    let now = new.now;
    let capture_method = match req.capture_method.as_deref() {
        None => CaptureMethod::Automatic,
        Some(name) => CaptureMethod::parse(name).ok_or_else(|| {
            Rejection::param(
                ErrorCode::InvalidCaptureMethod,
                "capture_method",
                "capture_method takes automatic or manual only",
            )
        })?,
    };
    let payment_method_types = req
        .payment_method_types
        .unwrap_or_else(|| vec!["card".into()]);
    if payment_method_types.is_empty() || payment_method_types.iter().any(|t| t != "card") {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "payment_method_types",
            "payment_method_types supports [\"card\"] only",
        ));
    }
    if req.auto_confirm {
        if capture_method == CaptureMethod::Manual {
            return Err(Rejection::param(
                ErrorCode::ManualCaptureNotAllowedWithAutoConfirm,
                "auto_confirm",
                "manual capture needs an explicit confirm to place the hold; drop auto_confirm",
            ));
        }
        if !new.has_payment_source {
            return Err(Rejection::param(
                ErrorCode::MissingParameter,
                "payment_source_token",
                "auto_confirm needs a payment_source_token",
            ));
        }
    }
    for (field, value) in [
        ("description", &req.description),
        ("reference", &req.reference),
    ] {
        if value
            .as_ref()
            .is_some_and(|v| v.chars().count() > TEXT_CHARS_MAX)
        {
            return Err(Rejection::param(
                ErrorCode::InvalidParameter,
                field,
                format!("{field} is at most {TEXT_CHARS_MAX} characters"),
            ));
        }
    }
    metadata::validate(&req.metadata, "metadata")?;
    if req.multicapture && capture_method != CaptureMethod::Manual {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "multicapture",
            "multicapture needs capture_method manual: only a hold can be captured in parts",
        ));
    }
    if req.incremental_authorization && capture_method != CaptureMethod::Manual {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "incremental_authorization",
            "incremental_authorization needs capture_method manual: only a hold can grow",
        ));
    }
    let scheduled_action = match &req.scheduled_action {
        None => None,
        Some(schedule) => Some(schedule_at_creation(schedule, capture_method)?),
    };
    let intent = PaymentIntent {
        id: new.id,
        scope: new.scope,
        version: 1,
        status: Status::RequiresPaymentMethod,
        amount,
        capture_method,
        payment_method_types,
        description: req.description,
        reference: req.reference,
        metadata: req.metadata,
        source: "api".into(),
        customer_id: req.customer_id,
        client_secret_hash: new.client_secret_hash,
        authorized: 0,
        capturable: 0,
        captured: 0,
        released: 0,
        refunded: 0,
        refund_pending: 0,
        authorized_at: None,
        authorization_expires_at: None,
        captured_at: None,
        canceled_at: None,
        cancellation_reason: None,
        card: None,
        payment_method_id: None,
        processor_ref: None,
        last_payment_error: None,
        next_action: None,
        actions: Vec::new(),
        order_id: req.order_id,
        test_clock_id: req.test_clock_id,
        scheduled_action,
        expiry_warning_lead_seconds: new.expiry_warning_lead_seconds,
        expiry_warning_at: None,
        multicapture: req.multicapture,
        incremental_authorization: req.incremental_authorization,
        created_at: now,
        updated_at: now,
    };
    Ok(Transition::new(
        intent,
        vec![EventType::PaymentIntentCreated],
    ))
}

/// Longest `description` or `reference` accepted.
pub const TEXT_CHARS_MAX: usize = 500;

/// The standalone confirm, capture and cancel routes refuse an intent that pays an order: its
/// money is tracked by the order, so it moves through the order's routes.
pub fn check_standalone(intent: &PaymentIntent) -> Result<(), Rejection> {
    match &intent.order_id {
        None => Ok(()),
        Some(order_id) => Err(Rejection::new(
            ErrorCode::OrderLinkedPaymentIntent,
            format!(
                "this intent pays order {order_id}; use the order's pay, capture and void routes"
            ),
        )),
    }
}

/// May this intent be confirmed now? Only one waiting for a payment method may.
pub fn check_confirm(intent: &PaymentIntent) -> Result<(), Rejection> {
    if intent.status == Status::RequiresPaymentMethod {
        return Ok(());
    }
    Err(Rejection::new(
        ErrorCode::InvalidStatusForConfirm,
        format!(
            "payment intent is {}; only requires_payment_method can be confirmed",
            intent.status.as_str()
        ),
    ))
}

/// `POST /v1/payment-intents/{id}/confirm` as the domain sees it.
#[derive(Debug, Clone, Default)]
pub struct ConfirmCommand {
    pub payment_source_token: Option<String>,
    pub payment_method_id: Option<String>,
    /// The caller holds only the intent's client secret (a browser), not a secret key: it may use
    /// a saved card only if the card belongs to the intent's customer.
    pub via_client_secret: bool,
}

/// The card an authorization charges: the processor's token for it, the saved card it came from
/// (if it did), and the request field it was given in, to blame if the processor does not know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSource {
    pub token: String,
    pub payment_method_id: Option<String>,
    pub param: String,
}

/// Checks a confirm, in the contract's order: an intent that pays an order refuses it, then the
/// status, then the payment source: a token or a saved card (one of them, not both), the saved card
/// existing (`saved` is the card `payment_method_id` names, looked up by the service, if there is
/// one) and belonging to the intent's customer (a browser's confirm needs the intent to have one).
pub fn decide_confirm(
    intent: &PaymentIntent,
    cmd: &ConfirmCommand,
    saved: Option<&SavedPaymentMethod>,
) -> Result<PaymentSource, Rejection> {
    check_standalone(intent)?;
    check_confirm(intent)?;
    match (&cmd.payment_source_token, &cmd.payment_method_id) {
        (Some(token), None) => Ok(PaymentSource {
            token: token.clone(),
            payment_method_id: None,
            param: "payment_source_token".into(),
        }),
        (None, Some(id)) => {
            let method = saved.filter(|m| &m.id == id).ok_or_else(|| {
                Rejection::param(
                    ErrorCode::PaymentMethodNotFound,
                    "payment_method_id",
                    "no such payment method",
                )
            })?;
            let belongs = intent.customer_id.as_ref() == Some(&method.customer_id);
            let foreign = intent.customer_id.is_some() && !belongs;
            if foreign || (cmd.via_client_secret && !belongs) {
                return Err(Rejection::param(
                    ErrorCode::InvalidParameter,
                    "payment_method_id",
                    "this payment method belongs to another customer than the intent's",
                ));
            }
            Ok(PaymentSource {
                token: method.processor_token.clone(),
                payment_method_id: Some(method.id.clone()),
                param: "payment_method_id".into(),
            })
        }
        (None, None) => Err(Rejection::param(
            ErrorCode::MissingParameter,
            "payment_source_token",
            "confirm needs a payment_source_token or a payment_method_id",
        )),
        (Some(_), Some(_)) => Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "payment_method_id",
            "give a payment_source_token or a payment_method_id, not both",
        )),
    }
}

/// The processor knows no card by the token (or saved card) given in `param`.
pub fn invalid_payment_source(param: &str) -> Rejection {
    Rejection::param(
        ErrorCode::InvalidPaymentSourceToken,
        param,
        "unknown payment source token; test mode takes the pm_card_… test tokens",
    )
}

/// May the buyer's authentication (3D Secure) be completed now?
pub fn check_authenticate(intent: &PaymentIntent) -> Result<(), Rejection> {
    if intent.status == Status::RequiresAction {
        return Ok(());
    }
    Err(Rejection::new(
        ErrorCode::InvalidStatusForAuthentication,
        format!(
            "payment intent is {}; only requires_action awaits authentication",
            intent.status.as_str()
        ),
    ))
}

/// What the processor said to an authorization (or to the authentication that finishes one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationResult {
    /// The hold is placed; with `captured`, the money also settled in the same call.
    Authorized {
        card: Card,
        processor_ref: String,
        expires_at: Timestamp,
        captured: bool,
    },
    /// The buyer must authenticate before the hold is placed.
    RequiresAction {
        card: Card,
        processor_ref: String,
        redirect_url: String,
    },
    /// No hold. The intent goes back to waiting for a payment method.
    Declined {
        card: Option<Card>,
        error: PaymentError,
    },
}

/// Records the outcome of an authorization attempt on a confirmable intent.
pub fn apply_authorization(
    intent: &PaymentIntent,
    result: AuthorizationResult,
    payment_method_id: Option<String>,
    ctx: &mut Ctx<'_>,
) -> Transition {
    let now = ctx.now;
    let mut next = intent.next_version(now);
    if payment_method_id.is_some() {
        next.payment_method_id = payment_method_id;
    }
    match result {
        AuthorizationResult::Authorized {
            card,
            processor_ref,
            expires_at,
            captured,
        } => {
            let amount = next.amount.amount;
            next.card = Some(card);
            next.processor_ref = Some(processor_ref);
            next.last_payment_error = None;
            next.next_action = None;
            next.authorized = amount;
            next.authorized_at = Some(now);
            next.push_action(
                ctx,
                ActionType::Authorization,
                amount,
                ActionStatus::Succeeded,
            );
            if captured {
                next.status = Status::Succeeded;
                next.captured = amount;
                next.captured_at = Some(now);
                next.push_action(ctx, ActionType::Capture, amount, ActionStatus::Succeeded);
                Transition::new(next, vec![EventType::PaymentIntentSucceeded])
            } else {
                next.status = Status::RequiresCapture;
                next.capturable = amount;
                next.authorization_expires_at = Some(expires_at);
                next.expiry_warning_at = next
                    .expiry_warning_lead_seconds
                    .map(|lead| expires_at.plus_seconds(lead.saturating_neg()).max(now));
                if let Some(schedule) = &mut next.scheduled_action
                    && let Some(offset) = schedule.offset_before_expiry_seconds
                {
                    schedule.at = Some(expires_at.plus_seconds(offset.saturating_neg()).max(now));
                }
                Transition::new(next, vec![EventType::PaymentIntentRequiresCapture])
            }
        }
        AuthorizationResult::RequiresAction {
            card,
            processor_ref,
            redirect_url,
        } => {
            next.status = Status::RequiresAction;
            next.card = Some(card);
            next.processor_ref = Some(processor_ref);
            next.last_payment_error = None;
            next.next_action = Some(NextAction { redirect_url });
            Transition::new(next, vec![EventType::PaymentIntentRequiresAction])
        }
        AuthorizationResult::Declined { card, error } => {
            next.status = Status::RequiresPaymentMethod;
            next.card = card;
            next.processor_ref = None;
            next.next_action = None;
            next.last_payment_error = Some(error);
            let amount = next.amount.amount;
            next.push_action(ctx, ActionType::Authorization, amount, ActionStatus::Failed);
            Transition::new(next, vec![EventType::PaymentIntentPaymentFailed])
        }
    }
}

/// `POST /v1/payment-intents/{id}/capture` as the domain sees it.
#[derive(Debug, Clone, Default)]
pub struct CaptureRequest {
    /// `None` captures everything capturable.
    pub amount: Option<RawMoney>,
    pub reference: Option<String>,
    pub metadata: Metadata,
    /// `Some(false)` keeps the rest of the hold capturable (multicapture only); `None` is `true`.
    pub final_capture: Option<bool>,
}

/// A capture as it is asked for: through the API, or by the intent's own schedule.
/// [`decide_capture`] and [`apply_capture`] take either (a `&CaptureRequest` is the first).
#[derive(Debug, Clone, Copy)]
pub enum Capture<'a> {
    Requested(&'a CaptureRequest),
    /// A scheduled capture. Its amount (`None`: everything capturable) was checked when it was
    /// scheduled; it is checked again against the hold as it is when it runs.
    Scheduled(Option<Money>),
}

impl Capture<'_> {
    /// Whether the capture was asked to be the last: every capture but an API capture with
    /// `final_capture: false`.
    pub fn asks_final(self) -> bool {
        match self {
            Capture::Requested(req) => req.final_capture.unwrap_or(true),
            Capture::Scheduled(_) => true,
        }
    }

    /// Whether capturing `amount` ends the hold: asked to be the last, or it leaves nothing
    /// capturable. Such a capture releases what it leaves and the intent succeeds.
    pub fn ends_hold(self, intent: &PaymentIntent, amount: Money) -> bool {
        self.asks_final() || amount.amount >= intent.capturable
    }

    /// The reference recorded on the capture action.
    fn reference(self) -> Option<String> {
        match self {
            Capture::Requested(req) => req.reference.clone(),
            Capture::Scheduled(_) => Some(SCHEDULED_REFERENCE.to_owned()),
        }
    }
}

impl<'a> From<&'a CaptureRequest> for Capture<'a> {
    fn from(req: &'a CaptureRequest) -> Capture<'a> {
        Capture::Requested(req)
    }
}

/// How a capture checks its amount, in the contract's order: greater than zero, in the
/// authorization's currency (an unknown code is simply another currency), no more than the hold.
pub(crate) const CAPTURE_AMOUNT: AmountRules = AmountRules {
    unknown_currency: None,
    other_currency: (
        ErrorCode::CaptureCurrencyMismatch,
        "capture in the authorization's currency",
    ),
    zero_allowed: false,
    too_small: (
        ErrorCode::InvalidCaptureAmount,
        "the capture amount must be greater than zero",
    ),
    too_large: (ErrorCode::CaptureAmountExceedsAuthorized, |amount, max| {
        format!(
            "cannot capture {amount} of a {max} hold; capture the full authorization and collect the rest separately"
        )
    }),
};

/// Decides how much a capture takes, checking the contract's rules in its order: status (an expired
/// hold says so), then `final_capture: false` without the multicapture opt-in, then the reference
/// and metadata, then the amount: greater than zero, same currency, no more than still capturable.
pub fn decide_capture<'a>(
    intent: &PaymentIntent,
    capture: impl Into<Capture<'a>>,
    now: Timestamp,
) -> Result<Money, Rejection> {
    let capture = capture.into();
    if intent.hold_lapsed(now) {
        return Err(Rejection::new(
            ErrorCode::PaymentAuthorizationExpired,
            "the hold lapsed before capture and its funds were released; collect with a new payment",
        ));
    }
    if intent.status != Status::RequiresCapture {
        return Err(Rejection::new(
            ErrorCode::InvalidStatusForCapture,
            format!(
                "payment intent is {}; only requires_capture can be captured, once",
                intent.status.as_str()
            ),
        ));
    }
    if !capture.asks_final() && !intent.multicapture {
        return Err(Rejection::param(
            ErrorCode::MulticaptureNotEnabled,
            "final_capture",
            "this hold is captured once; create the intent with multicapture: true to capture it in parts",
        ));
    }
    let hold = Limits {
        currency: Some(intent.currency()),
        max: Some(intent.capturable),
    };
    match capture {
        Capture::Requested(req) => {
            if let Some(reference) = &req.reference
                && reference.chars().count() > TEXT_CHARS_MAX
            {
                return Err(Rejection::param(
                    ErrorCode::InvalidParameter,
                    "reference",
                    format!("reference is at most {TEXT_CHARS_MAX} characters"),
                ));
            }
            metadata::validate(&req.metadata, "metadata")?;
            match &req.amount {
                None => Ok(intent.money(intent.capturable)),
                Some(raw) => raw.check("amount_money", hold, &CAPTURE_AMOUNT),
            }
        }
        Capture::Scheduled(None) => Ok(intent.money(intent.capturable)),
        Capture::Scheduled(Some(amount)) => amount.check("amount_money", hold, &CAPTURE_AMOUNT),
    }
}

/// Settles `amount` (already decided). A capture that ends the hold ([`Capture::ends_hold`])
/// releases the rest in the same step and the intent succeeds; a non-final multicapture capture
/// keeps the rest capturable and the intent waits for the next one.
pub fn apply_capture<'a>(
    intent: &PaymentIntent,
    amount: Money,
    capture: impl Into<Capture<'a>>,
    ctx: &mut Ctx<'_>,
) -> Transition {
    let capture = capture.into();
    let now = ctx.now;
    let ends = capture.ends_hold(intent, amount);
    let mut next = intent.next_version(now);
    next.captured += amount.amount;
    next.capturable -= amount.amount;
    next.captured_at = Some(now);
    let event = if ends {
        next.status = Status::Succeeded;
        next.released += next.capturable;
        next.capturable = 0;
        next.amount = next.money(next.captured);
        next.scheduled_action = None;
        next.expiry_warning_at = None;
        EventType::PaymentIntentSucceeded
    } else {
        EventType::PaymentIntentAmountCapturableUpdated
    };
    next.push_action(
        ctx,
        ActionType::Capture,
        amount.amount,
        ActionStatus::Succeeded,
    );
    if let Some(action) = next.actions.last_mut() {
        action.reference = capture.reference();
        if let Capture::Requested(req) = capture {
            action.metadata = req.metadata.clone();
        }
    }
    Transition::new(next, vec![event])
}

/// How a cancel goes: with a hold to void at the processor, or without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelPlan {
    pub reason: Option<CancellationReason>,
    pub voids_hold: bool,
    /// Recorded on the void action (`scheduled` for a scheduled void).
    pub reference: Option<String>,
}

/// Checks a cancel, in the contract's order: succeeded, already canceled, expired, then the reason.
pub fn decide_cancel(
    intent: &PaymentIntent,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<CancelPlan, Rejection> {
    // As of now: a multicapture hold that lapsed after some captures reads as succeeded.
    match intent.as_of(now).status {
        Status::Succeeded => {
            return Err(Rejection::new(
                ErrorCode::CannotCancelSucceededPayment,
                "money moved; issue a refund instead of voiding",
            ));
        }
        Status::Canceled => {
            return Err(Rejection::new(
                ErrorCode::PaymentAlreadyCanceled,
                "the payment intent is already canceled",
            ));
        }
        Status::Expired => return Err(expired_cancel()),
        Status::RequiresPaymentMethod | Status::RequiresAction | Status::RequiresCapture => {}
    }
    let reason = match reason {
        None => None,
        Some(name) => Some(CancellationReason::parse_requested(name).ok_or_else(|| {
            Rejection::param(
                ErrorCode::InvalidCancellationReason,
                "cancellation_reason",
                "cancellation_reason takes requested_by_customer, duplicate, fraudulent or abandoned",
            )
        })?),
    };
    Ok(CancelPlan {
        reason,
        voids_hold: intent.status == Status::RequiresCapture,
        reference: None,
    })
}

fn expired_cancel() -> Rejection {
    Rejection::new(
        ErrorCode::CannotCancelExpiredPayment,
        "expiry already released the funds; there is nothing left to void",
    )
}

/// Cancels the intent, releasing the whole hold if there is one. A multicapture intent with
/// captures behind it is not canceled: the void releases the rest and the intent succeeds, for
/// what it captured.
pub fn apply_cancel(intent: &PaymentIntent, plan: &CancelPlan, ctx: &mut Ctx<'_>) -> Transition {
    let now = ctx.now;
    let mut next = intent.next_version(now);
    next.status = Status::Canceled;
    next.cancellation_reason = plan.reason;
    next.canceled_at = Some(now);
    next.next_action = None;
    next.scheduled_action = None;
    next.expiry_warning_at = None;
    if plan.voids_hold {
        let released = next.capturable;
        next.released += released;
        next.capturable = 0;
        next.push_action(ctx, ActionType::Void, released, ActionStatus::Succeeded);
        if let Some(action) = next.actions.last_mut() {
            action.reference = plan.reference.clone();
        }
    }
    if next.captured > 0 {
        next.settle_partly_captured();
        return Transition::new(next, vec![EventType::PaymentIntentSucceeded]);
    }
    Transition::new(next, vec![EventType::PaymentIntentCanceled])
}

pub use crate::schedule::{
    Due, SCHEDULED_REFERENCE, ScheduleRequest, ScheduledAction, ScheduledKind, apply_expiry,
    apply_expiry_warning, clear_scheduled_action, schedule_at_creation, set_scheduled_action,
};

#[cfg(test)]
mod multicapture_tests;
#[cfg(test)]
pub(crate) mod tests;
