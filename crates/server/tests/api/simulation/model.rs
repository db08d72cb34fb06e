//! The reference model: written from the contract and the README, not from the domain code. For
//! each command it predicts the status, the error `code` and `param`, and the money fields of the
//! answer, and it keeps the events and actions each intent must have.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use reqwest::Method;
use serde_json::{Value, json};

use super::*;
use crate::helpers::rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum St {
    Rpm,
    Action,
    Hold,
    Succeeded,
    Canceled,
    Expired,
}

impl St {
    pub(super) fn name(self) -> &'static str {
        match self {
            St::Rpm => "requires_payment_method",
            St::Action => "requires_action",
            St::Hold => "requires_capture",
            St::Succeeded => "succeeded",
            St::Canceled => "canceled",
            St::Expired => "expired",
        }
    }

    pub(super) fn terminal(self) -> bool {
        matches!(self, St::Succeeded | St::Canceled | St::Expired)
    }
}

/// What a sandbox card does, as the README's "Test cards" table says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Card {
    Approve,
    Decline(&'static str),
    ThreeDs,
    RefundFails,
    CaptureTimeout,
    Unknown,
}

pub(super) const TOKENS: &[&str] = &[
    "pm_card_visa",
    "pm_card_mastercard",
    "pm_card_amex",
    "pm_card_chargeDeclined",
    "pm_card_chargeDeclinedInsufficientFunds",
    "pm_card_threeDSecure2Required",
    "pm_card_refundFails",
    "pm_card_captureTimeoutOnce",
    "pm_card_doesNotExist",
];

pub(super) fn card(token: &str) -> Card {
    match token {
        "pm_card_visa" | "pm_card_mastercard" | "pm_card_amex" => Card::Approve,
        "pm_card_chargeDeclined" => Card::Decline("generic_decline"),
        "pm_card_chargeDeclinedInsufficientFunds" => Card::Decline("insufficient_funds"),
        "pm_card_threeDSecure2Required" => Card::ThreeDs,
        "pm_card_refundFails" => Card::RefundFails,
        "pm_card_captureTimeoutOnce" => Card::CaptureTimeout,
        _ => Card::Unknown,
    }
}

/// A capture, void or nothing that the intent performs by itself at `at`.
#[derive(Debug, Clone)]
pub(super) struct Sched {
    pub(super) capture: bool,
    /// `None` until confirm sets the deadline `offset` refers to.
    pub(super) at: Option<i64>,
    pub(super) offset: Option<i64>,
    pub(super) amount: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MAction {
    pub(super) kind: &'static str,
    pub(super) amount: i64,
    pub(super) ok: bool,
    pub(super) scheduled: bool,
}

#[derive(Debug, Clone)]
pub(super) struct MIntent {
    pub(super) id: String,
    pub(super) currency: &'static str,
    pub(super) amount: i64,
    pub(super) manual: bool,
    pub(super) clock: Option<usize>,
    pub(super) order: Option<usize>,
    /// As stored: a hold past its deadline stays `Hold` until the expiry is recorded.
    pub(super) status: St,
    pub(super) authorized: i64,
    pub(super) capturable: i64,
    pub(super) captured: i64,
    pub(super) released: i64,
    pub(super) refunded: i64,
    pub(super) expires_at: Option<i64>,
    pub(super) warning_at: Option<i64>,
    pub(super) captured_at: Option<i64>,
    pub(super) canceled_at: Option<i64>,
    pub(super) reason: Option<&'static str>,
    /// The card of the authorization (what the processor sees on capture and refund).
    pub(super) card: Option<Card>,
    /// Capture calls that reached the processor.
    pub(super) capture_calls: u32,
    pub(super) schedule: Option<Sched>,
    /// The deadline worker's claim; any write clears it.
    pub(super) lease_until: Option<i64>,
    /// Every event about this intent, in order, but `order.payment_succeeded` (counted per order).
    pub(super) events: Vec<&'static str>,
    pub(super) actions: Vec<MAction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OSt {
    Open,
    Paid,
    Canceled,
}

#[derive(Debug, Clone)]
pub(super) struct MHold {
    pub(super) intent: usize,
    pub(super) authorized: i64,
    pub(super) capturable: i64,
    pub(super) expires_at: i64,
}

#[derive(Debug, Clone)]
pub(super) struct MOrder {
    pub(super) id: String,
    pub(super) currency: &'static str,
    pub(super) items: i64,
    pub(super) tip: i64,
    pub(super) strict: bool,
    pub(super) status: OSt,
    pub(super) paid: i64,
    pub(super) refunded: i64,
    pub(super) holds: Vec<MHold>,
    pub(super) intents: Vec<usize>,
    pub(super) succeeded_events: usize,
}

impl MOrder {
    pub(super) fn total(&self) -> i64 {
        self.items + self.tip
    }

    pub(super) fn due(&self) -> i64 {
        (self.total() - self.paid).max(0)
    }
}

#[derive(Debug, Clone)]
pub(super) struct MClock {
    pub(super) id: String,
    pub(super) frozen: i64,
}

#[derive(Debug, Clone)]
pub(super) struct MRefund {
    pub(super) id: String,
    pub(super) intent: usize,
    pub(super) amount: i64,
    pub(super) ok: bool,
}

/// An amount as a request gives it: left out, or an amount in some (maybe wrong) currency.
#[derive(Debug, Clone, Copy)]
pub(super) enum Amt {
    Omitted,
    Of(i64, &'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bad {
    None,
    ZeroAmount,
    LowerCaseCurrency,
    CaptureMethod,
    ManualWithAutoConfirm,
}

#[derive(Debug, Clone)]
pub(super) enum Cmd {
    Create {
        amount: i64,
        currency: &'static str,
        manual: bool,
        clock: Option<usize>,
        offset: Option<(bool, i64)>,
        auto_confirm: Option<&'static str>,
        bad: Bad,
    },
    Confirm {
        i: usize,
        token: &'static str,
    },
    Authenticate {
        i: usize,
        success: bool,
    },
    Capture {
        i: usize,
        amount: Amt,
    },
    Cancel {
        i: usize,
        reason: Option<&'static str>,
    },
    Refund {
        i: usize,
        amount: Amt,
    },
    Schedule {
        i: usize,
        capture: bool,
        at: i64,
        amount: Amt,
    },
    Unschedule {
        i: usize,
    },
    CreateOrder {
        currency: &'static str,
        quantity: i64,
        price: i64,
        tip: i64,
        strict: bool,
    },
    OrderIntent {
        o: usize,
        manual: bool,
        with_amount: bool,
    },
    PatchOrder {
        o: usize,
        tip: i64,
    },
    CancelOrder {
        o: usize,
    },
    /// `parts`: intent, token, share (the share is sent only with `split`).
    Pay {
        o: usize,
        parts: Vec<(usize, &'static str, i64)>,
        expected: i64,
        split: bool,
    },
    OrderCapture {
        o: usize,
        i: usize,
        amount: Amt,
    },
    OrderVoid {
        o: usize,
        i: usize,
    },
    CreateClock {
        offset: i64,
    },
    Advance {
        c: usize,
        to: i64,
    },
}

impl Cmd {
    /// Creates an object, so the same request sent twice without a key makes two.
    pub(super) fn creates(&self) -> bool {
        matches!(
            self,
            Cmd::Create { .. }
                | Cmd::CreateOrder { .. }
                | Cmd::OrderIntent { .. }
                | Cmd::CreateClock { .. }
        )
    }

    pub(super) fn kind(&self) -> &'static str {
        match self {
            Cmd::Create { .. } => "create",
            Cmd::Confirm { .. } => "confirm",
            Cmd::Authenticate { .. } => "authenticate",
            Cmd::Capture { .. } => "capture",
            Cmd::Cancel { .. } => "cancel",
            Cmd::Refund { .. } => "refund",
            Cmd::Schedule { .. } => "schedule",
            Cmd::Unschedule { .. } => "unschedule",
            Cmd::CreateOrder { .. } => "create order",
            Cmd::OrderIntent { .. } => "create order intent",
            Cmd::PatchOrder { .. } => "patch order",
            Cmd::CancelOrder { .. } => "cancel order",
            Cmd::Pay { .. } => "pay order",
            Cmd::OrderCapture { .. } => "order capture",
            Cmd::OrderVoid { .. } => "order void",
            Cmd::CreateClock { .. } => "create test clock",
            Cmd::Advance { .. } => "advance test clock",
        }
    }
}

/// JSON pointers (below a prefix) and the values the model expects there.
/// A request as the model describes it: method, path and body.
#[derive(Debug, Clone)]
pub(super) struct Http {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) body: Option<Value>,
}

impl Http {
    pub(super) fn post(path: String, body: Value) -> Http {
        Http {
            method: Method::POST,
            path,
            body: Some(body),
        }
    }

    pub(super) fn describe(&self) -> String {
        match &self.body {
            Some(body) => format!("{} {} {body}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

pub(super) type Fields = Vec<(&'static str, Value)>;

#[derive(Debug, Clone)]
pub(super) enum Body {
    Fields(&'static str, Fields),
    Error {
        code: &'static str,
        param: Option<String>,
        extra: Fields,
    },
}

/// The object an answer creates, whose id the driver reads from the answer.
#[derive(Debug, Clone, Copy)]
pub(super) enum New {
    Intent(usize),
    Order(usize),
    Clock(usize),
    Refund(usize),
}

/// The answer the model predicts.
#[derive(Debug, Clone)]
pub(super) struct Expect {
    pub(super) status: u16,
    pub(super) body: Body,
    pub(super) new: Option<New>,
}

pub(super) fn error(status: u16, code: &'static str, param: Option<&str>) -> Expect {
    Expect {
        status,
        body: Body::Error {
            code,
            param: param.map(str::to_owned),
            extra: Vec::new(),
        },
        new: None,
    }
}

pub(super) fn money(amount: i64, currency: &str) -> Value {
    json!({"amount": amount, "currency": currency})
}

pub(super) fn time(t: Option<i64>) -> Value {
    t.map_or(Value::Null, |t| json!(rfc3339(t)))
}

/// What falls due on an intent.
#[derive(Debug, Clone)]
pub(super) enum Due {
    Scheduled(Sched),
    Warning,
    Expiry,
}

/// The processor did not answer a capture (the timeout card's first capture).
#[derive(Debug)]
pub(super) struct Timeout;

#[derive(Debug)]
pub(super) enum Auth {
    Placed,
    Declined(&'static str),
    ThreeDs,
    Unknown,
}

#[derive(Debug, Default)]
pub(super) struct Model {
    pub(super) wall: i64,
    pub(super) intents: Vec<MIntent>,
    pub(super) orders: Vec<MOrder>,
    pub(super) clocks: Vec<MClock>,
    pub(super) refunds: Vec<MRefund>,
    /// Intents written since the last audit: their actions are audited.
    pub(super) touched: BTreeSet<usize>,
}

impl Model {
    pub(super) fn now_of(&self, i: usize) -> i64 {
        self.intents[i]
            .clock
            .map_or(self.wall, |c| self.clocks[c].frozen)
    }

    /// A hold past its deadline: gone, whether or not the expiry was recorded.
    pub(super) fn lapsed(&self, i: usize, now: i64) -> bool {
        let x = &self.intents[i];
        x.status == St::Hold && x.expires_at.is_some_and(|deadline| now > deadline)
    }

    pub(super) fn write(&mut self, i: usize) {
        self.intents[i].lease_until = None;
        self.touched.insert(i);
    }

    pub(super) fn next_due(&self, i: usize) -> Option<i64> {
        let x = &self.intents[i];
        let scheduled = x.schedule.as_ref().and_then(|s| s.at);
        match x.status {
            St::Rpm | St::Action => scheduled,
            St::Hold => [scheduled, x.warning_at, x.expires_at.map(|e| e + 1)]
                .into_iter()
                .flatten()
                .min(),
            St::Succeeded | St::Canceled | St::Expired => None,
        }
    }

    /// What is due at `now`, earliest first; at one moment a scheduled action goes before the
    /// warning, and the warning before expiry. Past the deadline only expiry is.
    pub(super) fn due(&self, i: usize, now: i64) -> Option<Due> {
        let x = &self.intents[i];
        if x.status.terminal() {
            return None;
        }
        if self.lapsed(i, now) {
            return Some(Due::Expiry);
        }
        let mut due: Vec<(i64, u8, Due)> = Vec::new();
        if let Some(s) = &x.schedule
            && let Some(at) = s.at
        {
            due.push((at, 0, Due::Scheduled(s.clone())));
        }
        if x.status == St::Hold {
            if let Some(at) = x.warning_at {
                due.push((at, 1, Due::Warning));
            }
            if let Some(e) = x.expires_at {
                due.push((e + 1, 2, Due::Expiry));
            }
        }
        due.into_iter()
            .filter(|(at, _, _)| *at <= now)
            .min_by_key(|(at, rank, _)| (*at, *rank))
            .map(|(_, _, d)| d)
    }

    // ---- Views ----

    pub(super) fn intent_fields(&self, i: usize) -> Fields {
        let now = self.now_of(i);
        let x = &self.intents[i];
        let lapsed = self.lapsed(i, now);
        let (status, capturable, released, reason, canceled_at) = if lapsed {
            (
                "expired",
                0,
                x.released + x.capturable,
                Some("authorization_expired"),
                x.expires_at.map(|e| e + 1),
            )
        } else {
            (
                x.status.name(),
                x.capturable,
                x.released,
                x.reason,
                x.canceled_at,
            )
        };
        let m = |amount| money(amount, x.currency);
        let schedule = x.schedule.as_ref().map_or(Value::Null, |s| {
            json!({
                "type": if s.capture { "capture" } else { "void" },
                "at": time(s.at),
                "amount_money": s.amount.map_or(Value::Null, m),
                "offset_before_expiry_seconds": s.offset,
            })
        });
        let mut fields = vec![
            ("/status", json!(status)),
            ("/amount_money", m(x.amount)),
            (
                "/capture_method",
                json!(if x.manual { "manual" } else { "automatic" }),
            ),
            ("/authorized_amount_money", m(x.authorized)),
            ("/capturable_amount_money", m(capturable)),
            ("/captured_amount_money", m(x.captured)),
            ("/released_amount_money", m(released)),
            ("/refunded_amount_money", m(x.refunded)),
            ("/authorization_expires_at", time(x.expires_at)),
            ("/captured_at", time(x.captured_at)),
            ("/canceled_at", time(canceled_at)),
            ("/cancellation_reason", json!(reason)),
            ("/scheduled_action", schedule),
            (
                "/order_id",
                json!(x.order.map(|o| self.orders[o].id.clone())),
            ),
            (
                "/test_clock",
                json!(x.clock.map(|c| self.clocks[c].id.clone())),
            ),
        ];
        if !x.id.is_empty() {
            fields.push(("/payment_intent_id", json!(x.id)));
        }
        fields
    }

    pub(super) fn order_fields(&self, o: usize) -> Fields {
        let ord = &self.orders[o];
        let live: Vec<&MHold> = ord
            .holds
            .iter()
            .filter(|h| !self.lapsed(h.intent, self.now_of(h.intent)))
            .collect();
        let m = |amount| money(amount, ord.currency);
        let ids: Vec<&str> = ord
            .intents
            .iter()
            .map(|&i| self.intents[i].id.as_str())
            .collect();
        let mut fields = vec![
            (
                "/status",
                json!(match ord.status {
                    OSt::Open => "open",
                    OSt::Paid => "paid",
                    OSt::Canceled => "canceled",
                }),
            ),
            ("/total_money", m(ord.total())),
            ("/tip_money", m(ord.tip)),
            (
                "/authorization_amounts",
                json!({
                    "authorized_money": m(live.iter().map(|h| h.authorized).sum()),
                    "capturable_money": m(live.iter().map(|h| h.capturable).sum()),
                    "expires_at": time(live.iter().map(|h| h.expires_at).min()),
                }),
            ),
            (
                "/settlement_amounts",
                json!({
                    "paid_money": m(ord.paid),
                    "amount_due_money": m(ord.due()),
                    "refunded_money": m(ord.refunded),
                }),
            ),
            ("/payment_intent_ids", json!(ids)),
        ];
        if !ord.id.is_empty() {
            fields.push(("/order_id", json!(ord.id)));
        }
        fields
    }

    pub(super) fn intent_answer(&self, status: u16, i: usize) -> Expect {
        Expect {
            status,
            body: Body::Fields("/data", self.intent_fields(i)),
            new: None,
        }
    }

    pub(super) fn order_answer(&self, status: u16, o: usize) -> Expect {
        Expect {
            status,
            body: Body::Fields("/data", self.order_fields(o)),
            new: None,
        }
    }

    pub(super) fn declined_answer(&self, i: usize, decline_code: &'static str) -> Expect {
        let mut extra: Fields = vec![("/decline_code", json!(decline_code))];
        if !self.intents[i].id.is_empty() {
            extra.push(("/payment_intent_id", json!(self.intents[i].id)));
        }
        Expect {
            status: 402,
            body: Body::Error {
                code: "CARD_DECLINED",
                param: None,
                extra,
            },
            new: None,
        }
    }

    // ---- Transitions ----

    pub(super) fn new_intent(
        &mut self,
        amount: i64,
        currency: &'static str,
        manual: bool,
        clock: Option<usize>,
        order: Option<usize>,
    ) -> usize {
        self.intents.push(MIntent {
            id: String::new(),
            currency,
            amount,
            manual,
            clock,
            order,
            status: St::Rpm,
            authorized: 0,
            capturable: 0,
            captured: 0,
            released: 0,
            refunded: 0,
            expires_at: None,
            warning_at: None,
            captured_at: None,
            canceled_at: None,
            reason: None,
            card: None,
            capture_calls: 0,
            schedule: None,
            lease_until: None,
            events: vec!["payment_intent.created"],
            actions: Vec::new(),
        });
        let i = self.intents.len() - 1;
        self.touched.insert(i);
        i
    }

    pub(super) fn action(
        &mut self,
        i: usize,
        kind: &'static str,
        amount: i64,
        ok: bool,
        scheduled: bool,
    ) {
        self.intents[i].actions.push(MAction {
            kind,
            amount,
            ok,
            scheduled,
        });
    }

    pub(super) fn event(&mut self, i: usize, kind: &'static str) {
        self.intents[i].events.push(kind);
    }

    /// The hold is placed (manual) or the money settles (automatic).
    pub(super) fn place(&mut self, i: usize, now: i64, with: Card) {
        let x = &mut self.intents[i];
        x.card = Some(with);
        x.authorized = x.amount;
        let amount = x.amount;
        if x.manual {
            let deadline = now + HOLD_SECONDS;
            x.status = St::Hold;
            x.capturable = amount;
            x.expires_at = Some(deadline);
            x.warning_at = Some((deadline - WARNING_LEAD_SECONDS).max(now));
            if let Some(s) = &mut x.schedule
                && let Some(offset) = s.offset
            {
                s.at = Some((deadline - offset).max(now));
            }
            self.action(i, "authorization", amount, true, false);
            self.event(i, "payment_intent.requires_capture");
        } else {
            x.status = St::Succeeded;
            x.captured = amount;
            x.captured_at = Some(now);
            self.action(i, "authorization", amount, true, false);
            self.action(i, "capture", amount, true, false);
            self.event(i, "payment_intent.succeeded");
        }
        self.write(i);
    }

    pub(super) fn decline(&mut self, i: usize) {
        self.intents[i].status = St::Rpm;
        let amount = self.intents[i].amount;
        self.action(i, "authorization", amount, false, false);
        self.event(i, "payment_intent.payment_failed");
        self.write(i);
    }

    pub(super) fn authorize(&mut self, i: usize, token: &str, now: i64) -> Auth {
        match card(token) {
            Card::Unknown => Auth::Unknown,
            Card::Decline(code) => {
                self.intents[i].card = Some(Card::Decline(code));
                self.decline(i);
                Auth::Declined(code)
            }
            Card::ThreeDs => {
                self.intents[i].card = Some(Card::ThreeDs);
                self.intents[i].status = St::Action;
                self.event(i, "payment_intent.requires_action");
                self.write(i);
                Auth::ThreeDs
            }
            other => {
                self.place(i, now, other);
                Auth::Placed
            }
        }
    }

    /// The contract's capture checks, in its order; `Ok` is the amount to capture.
    pub(super) fn capture_checks(&self, i: usize, amount: Amt, now: i64) -> Result<i64, Expect> {
        let x = &self.intents[i];
        if x.status == St::Expired || self.lapsed(i, now) {
            return Err(error(400, "PAYMENT_AUTHORIZATION_EXPIRED", None));
        }
        if x.status != St::Hold {
            return Err(error(400, "INVALID_STATUS_FOR_CAPTURE", None));
        }
        match amount {
            Amt::Omitted => Ok(x.capturable),
            Amt::Of(a, _) if a <= 0 => Err(error(
                400,
                "INVALID_CAPTURE_AMOUNT",
                Some("amount_money.amount"),
            )),
            Amt::Of(_, currency) if currency != x.currency => Err(error(
                400,
                "CAPTURE_CURRENCY_MISMATCH",
                Some("amount_money.currency"),
            )),
            Amt::Of(a, _) if a > x.capturable => Err(error(
                400,
                "CAPTURE_AMOUNT_EXCEEDS_AUTHORIZED",
                Some("amount_money.amount"),
            )),
            Amt::Of(a, _) => Ok(a),
        }
    }

    /// Captures `amount` (already checked): the rest of the hold is released in the same step.
    pub(super) fn capture(
        &mut self,
        i: usize,
        amount: i64,
        now: i64,
        scheduled: bool,
    ) -> Result<(), Timeout> {
        let x = &mut self.intents[i];
        x.capture_calls += 1;
        if x.card == Some(Card::CaptureTimeout) && x.capture_calls == 1 {
            return Err(Timeout);
        }
        x.status = St::Succeeded;
        x.released += x.capturable - amount;
        x.capturable = 0;
        x.captured = amount;
        x.captured_at = Some(now);
        x.amount = amount;
        x.schedule = None;
        x.warning_at = None;
        self.action(i, "capture", amount, true, scheduled);
        self.event(i, "payment_intent.succeeded");
        self.write(i);
        Ok(())
    }

    /// Cancel's checks, in the README's order: succeeded, canceled, expired, then the reason.
    pub(super) fn cancel_checks(
        &self,
        i: usize,
        reason: Option<&str>,
        now: i64,
    ) -> Result<(), Expect> {
        match self.intents[i].status {
            St::Succeeded => return Err(error(400, "CANNOT_CANCEL_SUCCEEDED_PAYMENT", None)),
            St::Canceled => return Err(error(400, "PAYMENT_ALREADY_CANCELED", None)),
            St::Expired => return Err(error(400, "CANNOT_CANCEL_EXPIRED_PAYMENT", None)),
            _ if self.lapsed(i, now) => {
                return Err(error(400, "CANNOT_CANCEL_EXPIRED_PAYMENT", None));
            }
            _ => {}
        }
        let valid = [
            "requested_by_customer",
            "duplicate",
            "fraudulent",
            "abandoned",
        ];
        if reason.is_some_and(|r| !valid.contains(&r)) {
            return Err(error(
                400,
                "INVALID_CANCELLATION_REASON",
                Some("cancellation_reason"),
            ));
        }
        Ok(())
    }

    pub(super) fn cancel(
        &mut self,
        i: usize,
        reason: Option<&'static str>,
        now: i64,
        scheduled: bool,
    ) {
        let x = &mut self.intents[i];
        let voids = x.status == St::Hold;
        x.status = St::Canceled;
        x.reason = reason;
        x.canceled_at = Some(now);
        x.schedule = None;
        x.warning_at = None;
        if voids {
            let released = x.capturable;
            x.released += released;
            x.capturable = 0;
            self.action(i, "void", released, true, scheduled);
        }
        self.event(i, "payment_intent.canceled");
        self.write(i);
    }

    pub(super) fn record_expiry(&mut self, i: usize) {
        let x = &mut self.intents[i];
        let released = x.capturable;
        x.status = St::Expired;
        x.released += released;
        x.capturable = 0;
        x.reason = Some("authorization_expired");
        x.canceled_at = x.expires_at.map(|e| e + 1);
        x.schedule = None;
        x.warning_at = None;
        let order = x.order;
        self.action(i, "expiry", released, true, false);
        self.event(i, "payment_intent.canceled");
        self.write(i);
        if let Some(o) = order
            && let Some(pos) = self.orders[o].holds.iter().position(|h| h.intent == i)
        {
            self.orders[o].holds.remove(pos);
            self.event(i, "order.payment_authorization_expired");
        }
    }

    /// The order's side of a capture of one of its holds.
    pub(super) fn order_captured(&mut self, o: usize, i: usize) {
        let captured = self.intents[i].captured;
        let ord = &mut self.orders[o];
        ord.holds.retain(|h| h.intent != i);
        ord.paid += captured;
        self.event(i, "order.payment_captured");
        self.settle_paid(o);
    }

    pub(super) fn order_released(&mut self, o: usize, i: usize) {
        if let Some(pos) = self.orders[o].holds.iter().position(|h| h.intent == i) {
            self.orders[o].holds.remove(pos);
            self.event(i, "order.payment_authorization_voided");
        }
    }

    pub(super) fn settle_paid(&mut self, o: usize) {
        let ord = &mut self.orders[o];
        if ord.status == OSt::Open && ord.paid >= ord.total() && ord.holds.is_empty() {
            ord.status = OSt::Paid;
            ord.succeeded_events += 1;
        }
    }

    /// Before any order command: the expiry of its lapsed holds is recorded.
    pub(super) fn settle_order(&mut self, o: usize) {
        let holds: Vec<usize> = self.orders[o].holds.iter().map(|h| h.intent).collect();
        for i in holds {
            if self.lapsed(i, self.now_of(i)) {
                self.record_expiry(i);
            }
        }
    }

    /// Everything due on one intent at `now`, earliest first (the worker, or a clock's step).
    pub(super) fn perform_due(&mut self, i: usize, now: i64) -> Result<(), Timeout> {
        for _ in 0..8 {
            let Some(due) = self.due(i, now) else {
                return Ok(());
            };
            match due {
                Due::Expiry => self.record_expiry(i),
                Due::Warning => {
                    self.intents[i].warning_at = None;
                    self.event(i, "payment_intent.authorization_expiring");
                    self.write(i);
                }
                Due::Scheduled(s) => self.run_scheduled(i, &s, now)?,
            }
        }
        Ok(())
    }

    /// A scheduled capture or void runs as the API would; if refused, the schedule is cleared.
    pub(super) fn run_scheduled(&mut self, i: usize, s: &Sched, now: i64) -> Result<(), Timeout> {
        let order = self.intents[i].order;
        if s.capture {
            let amount = s
                .amount
                .map_or(Amt::Omitted, |a| Amt::Of(a, self.intents[i].currency));
            match self.capture_checks(i, amount, now) {
                Err(_) => {
                    self.intents[i].schedule = None;
                    self.write(i);
                }
                Ok(amount) => {
                    self.capture(i, amount, now, true)?;
                    if let Some(o) = order {
                        self.order_captured(o, i);
                    }
                }
            }
        } else if self.cancel_checks(i, None, now).is_err() {
            self.intents[i].schedule = None;
            self.write(i);
        } else {
            self.cancel(i, None, now, true);
            if let Some(o) = order {
                self.order_released(o, i);
            }
        }
        Ok(())
    }

    /// One deadline-worker run, pass after pass until nothing is claimable: every wall-clock
    /// intent due now and not leased is claimed (leased) and its due work performed.
    pub(super) fn worker(&mut self) {
        for _ in 0..32 {
            let now = self.wall;
            let claimed: Vec<usize> = (0..self.intents.len())
                .filter(|&i| {
                    let x = &self.intents[i];
                    x.clock.is_none()
                        && self.next_due(i).is_some_and(|d| d <= now)
                        && x.lease_until.is_none_or(|l| l < now)
                })
                .collect();
            if claimed.is_empty() {
                return;
            }
            for &i in &claimed {
                self.intents[i].lease_until = Some(now + LEASE_SECONDS);
            }
            for i in claimed {
                let _ = self.perform_due(i, now);
            }
        }
    }

    pub(super) fn advance(&mut self, c: usize, to: i64) -> Expect {
        if to < self.clocks[c].frozen {
            return error(400, "TEST_CLOCK_CANNOT_MOVE_BACKWARDS", Some("frozen_time"));
        }
        for _ in 0..10_000 {
            let next = (0..self.intents.len())
                .filter(|&i| self.intents[i].clock == Some(c))
                .filter_map(|i| self.next_due(i).filter(|d| *d <= to).map(|d| (d, i)))
                .min();
            let Some((due, i)) = next else { break };
            let step = due.max(self.clocks[c].frozen);
            self.clocks[c].frozen = step;
            if self.perform_due(i, step).is_err() {
                return error(502, "PROCESSOR_UNAVAILABLE", None);
            }
        }
        self.clocks[c].frozen = to;
        Expect {
            status: 200,
            body: Body::Fields(
                "/data",
                vec![
                    ("/test_clock_id", json!(self.clocks[c].id)),
                    ("/frozen_time", json!(rfc3339(to))),
                ],
            ),
            new: None,
        }
    }

    // ---- Commands ----

    /// Applies a command as the server must, and returns the answer it must give.
    pub(super) fn apply(&mut self, cmd: &Cmd) -> Expect {
        match cmd {
            Cmd::Create {
                amount,
                currency,
                manual,
                clock,
                offset,
                auto_confirm,
                bad,
            } => {
                match bad {
                    Bad::None => {}
                    Bad::LowerCaseCurrency => {
                        return error(400, "INVALID_PARAMETER", Some("amount_money.currency"));
                    }
                    Bad::ZeroAmount => {
                        return error(400, "INVALID_PARAMETER", Some("amount_money.amount"));
                    }
                    Bad::CaptureMethod => {
                        return error(400, "INVALID_CAPTURE_METHOD", Some("capture_method"));
                    }
                    Bad::ManualWithAutoConfirm => {
                        return error(
                            400,
                            "MANUAL_CAPTURE_NOT_ALLOWED_WITH_AUTO_CONFIRM",
                            Some("auto_confirm"),
                        );
                    }
                }
                if offset.is_some() && !*manual {
                    return error(400, "INVALID_PARAMETER", Some("scheduled_action"));
                }
                let now = clock.map_or(self.wall, |c| self.clocks[c].frozen);
                let i = self.new_intent(*amount, currency, *manual, *clock, None);
                if let Some((capture, offset)) = offset {
                    self.intents[i].schedule = Some(Sched {
                        capture: *capture,
                        at: None,
                        offset: Some(*offset),
                        amount: None,
                    });
                }
                if let Some(token) = auto_confirm {
                    match self.authorize(i, token, now) {
                        Auth::Unknown => {
                            self.intents.pop();
                            self.touched.remove(&i);
                            return error(
                                400,
                                "INVALID_PAYMENT_SOURCE_TOKEN",
                                Some("payment_source_token"),
                            );
                        }
                        Auth::Declined(code) => {
                            let mut expect = self.declined_answer(i, code);
                            expect.new = Some(New::Intent(i));
                            return expect;
                        }
                        Auth::Placed | Auth::ThreeDs => {}
                    }
                }
                Expect {
                    status: 201,
                    body: Body::Fields("/data/payment_intent", self.intent_fields(i)),
                    new: Some(New::Intent(i)),
                }
            }
            Cmd::Confirm { i, token } => {
                let i = *i;
                if self.intents[i].order.is_some() {
                    return error(409, "ORDER_LINKED_PAYMENT_INTENT", None);
                }
                if self.intents[i].status != St::Rpm {
                    return error(400, "INVALID_STATUS_FOR_CONFIRM", None);
                }
                let now = self.now_of(i);
                match self.authorize(i, token, now) {
                    Auth::Unknown => error(
                        400,
                        "INVALID_PAYMENT_SOURCE_TOKEN",
                        Some("payment_source_token"),
                    ),
                    Auth::Declined(code) => self.declined_answer(i, code),
                    Auth::Placed | Auth::ThreeDs => self.intent_answer(200, i),
                }
            }
            Cmd::Authenticate { i, success } => {
                let i = *i;
                if self.intents[i].status != St::Action {
                    return error(400, "INVALID_STATUS_FOR_AUTHENTICATION", None);
                }
                let now = self.now_of(i);
                if *success {
                    self.place(i, now, Card::ThreeDs);
                } else {
                    self.decline(i);
                }
                self.intent_answer(200, i)
            }
            Cmd::Capture { i, amount } => {
                let i = *i;
                if self.intents[i].order.is_some() {
                    return error(409, "ORDER_LINKED_PAYMENT_INTENT", None);
                }
                let now = self.now_of(i);
                let amount = match self.capture_checks(i, *amount, now) {
                    Ok(a) => a,
                    Err(e) => return e,
                };
                if self.capture(i, amount, now, false).is_err() {
                    return error(502, "PROCESSOR_UNAVAILABLE", None);
                }
                self.intent_answer(200, i)
            }
            Cmd::Cancel { i, reason } => {
                let i = *i;
                if self.intents[i].order.is_some() {
                    return error(409, "ORDER_LINKED_PAYMENT_INTENT", None);
                }
                let now = self.now_of(i);
                if let Err(e) = self.cancel_checks(i, *reason, now) {
                    return e;
                }
                self.cancel(i, *reason, now, false);
                self.intent_answer(200, i)
            }
            Cmd::Refund { i, amount } => self.refund(*i, *amount),
            Cmd::Schedule {
                i,
                capture,
                at,
                amount,
            } => self.schedule(*i, *capture, *at, *amount),
            Cmd::Unschedule { i } => {
                let i = *i;
                let now = self.now_of(i);
                let x = &self.intents[i];
                if x.schedule.is_some() && !x.status.terminal() && !self.lapsed(i, now) {
                    self.intents[i].schedule = None;
                    self.write(i);
                }
                self.intent_answer(200, i)
            }
            Cmd::CreateOrder {
                currency,
                quantity,
                price,
                tip,
                strict,
            } => {
                self.orders.push(MOrder {
                    id: String::new(),
                    currency,
                    items: quantity * price,
                    tip: *tip,
                    strict: *strict,
                    status: OSt::Open,
                    paid: 0,
                    refunded: 0,
                    holds: Vec::new(),
                    intents: Vec::new(),
                    succeeded_events: 0,
                });
                let o = self.orders.len() - 1;
                let mut expect = self.order_answer(201, o);
                expect.new = Some(New::Order(o));
                expect
            }
            Cmd::OrderIntent {
                o,
                manual,
                with_amount,
            } => {
                let o = *o;
                self.settle_order(o);
                let ord = &self.orders[o];
                if *with_amount {
                    return error(400, "ORDER_LINKED_AMOUNT_NOT_ALLOWED", Some("amount_money"));
                }
                if *manual && ord.strict {
                    return error(
                        400,
                        "STRICT_INVENTORY_DELAYED_CAPTURE_UNSUPPORTED",
                        Some("capture_method"),
                    );
                }
                if ord.status != OSt::Open || ord.due() == 0 {
                    return error(409, "ORDER_NOT_PAYABLE", None);
                }
                let (due, currency) = (ord.due(), ord.currency);
                let i = self.new_intent(due, currency, *manual, None, Some(o));
                self.orders[o].intents.push(i);
                Expect {
                    status: 201,
                    body: Body::Fields("/data/payment_intent", self.intent_fields(i)),
                    new: Some(New::Intent(i)),
                }
            }
            Cmd::PatchOrder { o, tip } => {
                let o = *o;
                self.settle_order(o);
                if let Some(locked) = self.order_locked(o) {
                    return locked;
                }
                self.orders[o].tip = *tip;
                self.order_answer(200, o)
            }
            Cmd::CancelOrder { o } => {
                let o = *o;
                self.settle_order(o);
                if let Some(locked) = self.order_locked(o) {
                    return locked;
                }
                self.orders[o].status = OSt::Canceled;
                self.order_answer(200, o)
            }
            Cmd::Pay {
                o,
                parts,
                expected,
                split,
            } => self.pay(*o, parts, *expected, *split),
            Cmd::OrderCapture { o, i, amount } => {
                let (o, i) = (*o, *i);
                self.settle_order(o);
                let x = &self.intents[i];
                if x.order != Some(o) {
                    return error(404, "PAYMENT_INTENT_NOT_FOUND", None);
                }
                if x.status == St::Succeeded {
                    let (asked, same_currency) = match *amount {
                        Amt::Omitted => (x.authorized, true),
                        Amt::Of(a, currency) => (a, currency == x.currency),
                    };
                    if asked == x.captured && same_currency {
                        return self.order_answer(200, o);
                    }
                    return error(409, "CAPTURE_AMOUNT_MISMATCH", Some("amount_money"));
                }
                let now = self.now_of(i);
                let amount = match self.capture_checks(i, *amount, now) {
                    Ok(a) => a,
                    Err(e) => return e,
                };
                if self.capture(i, amount, now, false).is_err() {
                    return error(502, "PROCESSOR_UNAVAILABLE", None);
                }
                self.order_captured(o, i);
                self.order_answer(200, o)
            }
            Cmd::OrderVoid { o, i } => {
                let (o, i) = (*o, *i);
                self.settle_order(o);
                if self.intents[i].order != Some(o) {
                    return error(404, "PAYMENT_INTENT_NOT_FOUND", None);
                }
                let now = self.now_of(i);
                if let Err(e) = self.cancel_checks(i, None, now) {
                    return e;
                }
                self.cancel(i, None, now, false);
                self.order_released(o, i);
                self.order_answer(200, o)
            }
            Cmd::CreateClock { offset } => {
                self.clocks.push(MClock {
                    id: String::new(),
                    frozen: self.wall + offset,
                });
                let c = self.clocks.len() - 1;
                Expect {
                    status: 201,
                    body: Body::Fields(
                        "/data",
                        vec![("/frozen_time", json!(rfc3339(self.clocks[c].frozen)))],
                    ),
                    new: Some(New::Clock(c)),
                }
            }
            Cmd::Advance { c, to } => self.advance(*c, *to),
        }
    }

    pub(super) fn order_locked(&self, o: usize) -> Option<Expect> {
        let ord = &self.orders[o];
        if !ord.holds.is_empty() {
            return Some(error(409, "PAYMENT_ATTEMPT_IN_PROGRESS", None));
        }
        if ord.status != OSt::Open || ord.paid > 0 {
            return Some(error(409, "ORDER_NOT_EDITABLE", None));
        }
        None
    }

    pub(super) fn refund(&mut self, i: usize, amount: Amt) -> Expect {
        let x = &self.intents[i];
        if x.status != St::Succeeded || x.captured == 0 {
            return error(
                400,
                "PAYMENT_INTENT_NOT_REFUNDABLE",
                Some("payment_intent_id"),
            );
        }
        let refundable = x.captured - x.refunded;
        let amount = match amount {
            Amt::Omitted => refundable,
            Amt::Of(a, _) if a <= 0 => {
                return error(400, "INVALID_REFUND_AMOUNT", Some("amount_money.amount"));
            }
            Amt::Of(_, currency) if currency != x.currency => {
                return error(
                    400,
                    "REFUND_CURRENCY_MISMATCH",
                    Some("amount_money.currency"),
                );
            }
            Amt::Of(a, _) => a,
        };
        if amount > refundable || amount == 0 {
            return error(
                400,
                "REFUND_AMOUNT_EXCEEDS_CAPTURED",
                Some("amount_money.amount"),
            );
        }
        let ok = x.card != Some(Card::RefundFails);
        let order = x.order;
        self.event(i, "refund.created");
        self.action(i, "refund", amount, ok, false);
        if ok {
            self.intents[i].refunded += amount;
            self.event(i, "refund.succeeded");
            if let Some(o) = order {
                self.orders[o].refunded += amount;
                self.event(i, "order.payment_refunded");
            }
        } else {
            self.event(i, "refund.failed");
        }
        self.write(i);
        self.refunds.push(MRefund {
            id: String::new(),
            intent: i,
            amount,
            ok,
        });
        Expect {
            status: 201,
            body: Body::Fields(
                "/data",
                vec![
                    ("/payment_intent_id", json!(self.intents[i].id)),
                    ("/amount_money", money(amount, self.intents[i].currency)),
                    ("/status", json!(if ok { "succeeded" } else { "failed" })),
                ],
            ),
            new: Some(New::Refund(self.refunds.len() - 1)),
        }
    }

    pub(super) fn schedule(&mut self, i: usize, capture: bool, at: i64, amount: Amt) -> Expect {
        let now = self.now_of(i);
        let x = &self.intents[i];
        let open = matches!(x.status, St::Rpm | St::Action | St::Hold);
        if !open || self.lapsed(i, now) || !x.manual {
            return error(400, "INVALID_STATUS_FOR_SCHEDULED_ACTION", None);
        }
        if at <= now {
            return error(400, "INVALID_PARAMETER", Some("at"));
        }
        if x.expires_at.is_some_and(|deadline| at >= deadline) {
            return error(400, "SCHEDULED_ACTION_AFTER_EXPIRY", Some("at"));
        }
        let limit = if x.status == St::Hold {
            x.capturable
        } else {
            x.amount
        };
        let amount = match (amount, capture) {
            (Amt::Omitted, _) => None,
            (Amt::Of(..), false) => {
                return error(400, "INVALID_PARAMETER", Some("amount_money"));
            }
            (Amt::Of(a, _), true) if a <= 0 => {
                return error(400, "INVALID_CAPTURE_AMOUNT", Some("amount_money.amount"));
            }
            (Amt::Of(_, currency), true) if currency != x.currency => {
                return error(
                    400,
                    "CAPTURE_CURRENCY_MISMATCH",
                    Some("amount_money.currency"),
                );
            }
            (Amt::Of(a, _), true) if a > limit => {
                return error(
                    400,
                    "CAPTURE_AMOUNT_EXCEEDS_AUTHORIZED",
                    Some("amount_money.amount"),
                );
            }
            (Amt::Of(a, _), true) => Some(a),
        };
        self.intents[i].schedule = Some(Sched {
            capture,
            at: Some(at),
            offset: None,
            amount,
        });
        self.write(i);
        self.intent_answer(200, i)
    }

    pub(super) fn pay(
        &mut self,
        o: usize,
        parts: &[(usize, &'static str, i64)],
        expected: i64,
        split: bool,
    ) -> Expect {
        self.settle_order(o);
        let ord = &self.orders[o];
        if ord.status != OSt::Open || ord.due() == 0 {
            return error(409, "ORDER_NOT_PAYABLE", None);
        }
        if !ord.holds.is_empty() {
            return error(409, "PAYMENT_ATTEMPT_IN_PROGRESS", None);
        }
        let due = ord.due();
        if expected != due {
            return error(409, "ORDER_AMOUNT_MISMATCH", Some("expected_amount_money"));
        }
        if parts.is_empty() {
            return error(400, "MISSING_PARAMETER", Some("payment_intent_ids"));
        }
        for &(i, _, _) in parts {
            let x = &self.intents[i];
            if x.order != Some(o) {
                return error(400, "INVALID_PARAMETER", Some("payment_intent_ids"));
            }
            if x.status != St::Rpm {
                return error(
                    400,
                    "INVALID_STATUS_FOR_CONFIRM",
                    Some("payment_intent_ids"),
                );
            }
            if x.manual && ord.strict {
                return error(
                    400,
                    "STRICT_INVENTORY_DELAYED_CAPTURE_UNSUPPORTED",
                    Some("capture_method"),
                );
            }
        }
        let shares: Vec<i64> = if split {
            parts.iter().map(|p| p.2).collect()
        } else {
            vec![due]
        };
        if shares.iter().sum::<i64>() != due {
            return error(409, "ORDER_AMOUNT_MISMATCH", Some("payment_amounts"));
        }
        // Each intent in turn; a failure releases what this call placed, and the order does
        // not change.
        for (&(i, token, _), &share) in parts.iter().zip(&shares) {
            match card(token) {
                Card::Unknown | Card::ThreeDs => {
                    let param = format!("payment_source_tokens.{}", self.intents[i].id);
                    return error(400, "INVALID_PAYMENT_SOURCE_TOKEN", Some(&param));
                }
                Card::Decline(code) => {
                    self.intents[i].amount = share;
                    self.intents[i].card = Some(Card::Decline(code));
                    self.decline(i);
                    return self.declined_answer(i, code);
                }
                Card::Approve | Card::RefundFails | Card::CaptureTimeout => {}
            }
        }
        let now = self.wall;
        for (&(i, token, _), &share) in parts.iter().zip(&shares) {
            self.intents[i].amount = share;
            self.place(i, now, card(token));
        }
        for &(i, _, _) in parts {
            let x = &self.intents[i];
            if x.manual {
                let hold = MHold {
                    intent: i,
                    authorized: x.authorized,
                    capturable: x.capturable,
                    expires_at: x.expires_at.unwrap_or(now),
                };
                self.orders[o].holds.push(hold);
                self.event(i, "order.payment_authorized");
            } else {
                self.orders[o].paid += x.captured;
                self.event(i, "order.payment_captured");
            }
        }
        self.settle_paid(o);
        self.order_answer(200, o)
    }

    pub(super) fn render(&self, cmd: &Cmd) -> Http {
        let intent = |i: usize| self.intents[i].id.clone();
        let amount_body = |amount: Amt| match amount {
            Amt::Omitted => json!({}),
            Amt::Of(a, currency) => json!({"amount_money": money(a, currency)}),
        };
        match cmd {
            Cmd::Create {
                amount,
                currency,
                manual,
                clock,
                offset,
                auto_confirm,
                bad,
            } => {
                let mut body = json!({
                    "amount_money": money(*amount, currency),
                    "capture_method": if *manual { "manual" } else { "automatic" },
                });
                match bad {
                    Bad::None => {}
                    Bad::ZeroAmount => body["amount_money"]["amount"] = json!(0),
                    Bad::LowerCaseCurrency => {
                        body["amount_money"]["currency"] = json!(currency.to_lowercase());
                    }
                    Bad::CaptureMethod => body["capture_method"] = json!("later"),
                    Bad::ManualWithAutoConfirm => {
                        body["capture_method"] = json!("manual");
                        body["auto_confirm"] = json!(true);
                        body["payment_source_token"] = json!("pm_card_visa");
                    }
                }
                if let Some(c) = clock {
                    body["test_clock"] = json!(self.clocks[*c].id);
                }
                if let Some((capture, offset)) = offset {
                    body["scheduled_action"] = json!({
                        "type": if *capture { "capture" } else { "void" },
                        "offset_before_expiry_seconds": offset,
                    });
                }
                if let Some(token) = auto_confirm {
                    body["auto_confirm"] = json!(true);
                    body["payment_source_token"] = json!(token);
                }
                Http::post("/v1/payment-intents".into(), body)
            }
            Cmd::Confirm { i, token } => Http::post(
                format!("/v1/payment-intents/{}/confirm", intent(*i)),
                json!({"payment_source_token": token}),
            ),
            Cmd::Authenticate { i, success } => Http::post(
                format!(
                    "/v1/test-helpers/payment-intents/{}/authenticate",
                    intent(*i)
                ),
                json!({"result": if *success { "success" } else { "failure" }}),
            ),
            Cmd::Capture { i, amount } => Http::post(
                format!("/v1/payment-intents/{}/capture", intent(*i)),
                amount_body(*amount),
            ),
            Cmd::Cancel { i, reason } => Http::post(
                format!("/v1/payment-intents/{}/cancel", intent(*i)),
                match reason {
                    Some(r) => json!({"cancellation_reason": r}),
                    None => json!({}),
                },
            ),
            Cmd::Refund { i, amount } => {
                let mut body = amount_body(*amount);
                body["payment_intent_id"] = json!(intent(*i));
                Http::post("/v1/refunds".into(), body)
            }
            Cmd::Schedule {
                i,
                capture,
                at,
                amount,
            } => {
                let mut body = amount_body(*amount);
                body["type"] = json!(if *capture { "capture" } else { "void" });
                body["at"] = json!(rfc3339(*at));
                Http::post(
                    format!("/v1/payment-intents/{}/scheduled-action", intent(*i)),
                    body,
                )
            }
            Cmd::Unschedule { i } => Http {
                method: Method::DELETE,
                path: format!("/v1/payment-intents/{}/scheduled-action", intent(*i)),
                body: None,
            },
            Cmd::CreateOrder {
                currency,
                quantity,
                price,
                tip,
                strict,
            } => {
                let mut item = json!({
                    "name": "rental",
                    "quantity": quantity,
                    "unit_price_money": money(*price, currency),
                });
                if *strict {
                    item["inventory_tracking"] = json!("strict");
                }
                Http::post(
                    "/v1/orders".into(),
                    json!({
                        "currency": currency,
                        "line_items": [item],
                        "tip_money": money(*tip, currency),
                    }),
                )
            }
            Cmd::OrderIntent {
                o,
                manual,
                with_amount,
            } => {
                let ord = &self.orders[*o];
                let mut body = json!({
                    "order_id": ord.id,
                    "capture_method": if *manual { "manual" } else { "automatic" },
                });
                if *with_amount {
                    body["amount_money"] = money(100, ord.currency);
                }
                Http::post("/v1/payment-intents".into(), body)
            }
            Cmd::PatchOrder { o, tip } => Http {
                method: Method::PATCH,
                path: format!("/v1/orders/{}", self.orders[*o].id),
                body: Some(json!({"tip_money": money(*tip, self.orders[*o].currency)})),
            },
            Cmd::CancelOrder { o } => Http::post(
                format!("/v1/orders/{}/cancel", self.orders[*o].id),
                json!({}),
            ),
            Cmd::Pay {
                o,
                parts,
                expected,
                split,
            } => {
                let currency = self.orders[*o].currency;
                let ids: Vec<String> = parts.iter().map(|p| intent(p.0)).collect();
                let tokens: serde_json::Map<String, Value> =
                    parts.iter().map(|p| (intent(p.0), json!(p.1))).collect();
                let mut body = json!({
                    "payment_intent_ids": ids,
                    "payment_source_tokens": tokens,
                    "expected_amount_money": money(*expected, currency),
                });
                if *split {
                    let amounts: serde_json::Map<String, Value> = parts
                        .iter()
                        .map(|p| (intent(p.0), money(p.2, currency)))
                        .collect();
                    body["payment_amounts"] = Value::Object(amounts);
                }
                Http::post(format!("/v1/orders/{}/pay", self.orders[*o].id), body)
            }
            Cmd::OrderCapture { o, i, amount } => Http::post(
                format!(
                    "/v1/orders/{}/payment-intents/{}/capture",
                    self.orders[*o].id,
                    intent(*i)
                ),
                amount_body(*amount),
            ),
            Cmd::OrderVoid { o, i } => Http {
                method: Method::POST,
                path: format!(
                    "/v1/orders/{}/payment-intents/{}/void",
                    self.orders[*o].id,
                    intent(*i)
                ),
                body: None,
            },
            Cmd::CreateClock { offset } => Http::post(
                "/v1/test-clocks".into(),
                json!({"frozen_time": rfc3339(self.wall + offset), "name": "sim"}),
            ),
            Cmd::Advance { c, to } => Http::post(
                format!("/v1/test-clocks/{}/advance", self.clocks[*c].id),
                json!({"frozen_time": rfc3339(*to)}),
            ),
        }
    }

    /// The ids behind the model's indexes, for a failure report.
    pub(super) fn legend(&self) -> String {
        let mut out = String::new();
        for (i, x) in self.intents.iter().enumerate() {
            let _ = write!(out, "\n  intent #{i} = {}", x.id);
        }
        for (o, ord) in self.orders.iter().enumerate() {
            let _ = write!(out, "\n  order #{o} = {}", ord.id);
        }
        for (c, clock) in self.clocks.iter().enumerate() {
            let _ = write!(out, "\n  clock #{c} = {}", clock.id);
        }
        out
    }
}
