//! The simulation (STYLE.md §2.10): seeded random sequences of commands against the real server
//! and store, every answer checked against a small reference model, and the merchant audited
//! through the API after every step.
//!
//! - **Driver.** One server per backend; each seed gets a fresh merchant, so seeds never see each
//!   other's objects. A splitmix64 generator seeded with the seed picks 4 to 12 steps, half of
//!   them the natural next move of an object still in play (so flows reach capture, refund,
//!   expiry and scheduled actions), the rest from the whole menu: create (manual or automatic,
//!   on the wall clock or a test clock, with a scheduled action at creation, with
//!   `auto_confirm`, or invalid), confirm with every sandbox token, 3D Secure authentication,
//!   capture (full, partial, exact, over, zero, negative, wrong currency), cancel, refund, set and
//!   clear a scheduled action, orders (create, edit, cancel, linked intents, pay with one card or
//!   split tender, capture and void through the order), test clocks (create, advance, backwards),
//!   wall-clock advances with and without a deadline-worker pass, retries of earlier requests with
//!   their key, and a key reused for another request.
//! - **Concurrency.** A request may be sent twice at once with the same `Idempotency-Key` (one
//!   effect: one answer is the model's, the other `IDEMPOTENCY_KEY_IN_USE` or a byte-identical
//!   replay), or twice at once without a key (the two answers are the model's for the command run
//!   twice in a row, in either order). A 5xx (the capture timeout card) is retried at once with
//!   the same key and must then do the work.
//! - **Model.** [`Model`] is written from the contract and the README, not from the domain code:
//!   for each command it predicts the status, the error `code` and `param`, and the money fields of
//!   the answer, and it keeps the events and actions each intent must have.
//! - **Audit.** After every step, through the API: every intent, order and event of the merchant
//!   equals the model; `captured + released + capturable = authorized`; `refunded <= captured`; a
//!   terminal intent never changes again; each hold is resolved (capture, void, expiry) at most
//!   once and the actions add up to the money fields; each event exists once.
//!
//! `HOLDFAST_SIM_SEEDS` (default 2,000 per backend) sets how many seeds run, from
//! `HOLDFAST_SIM_FIRST_SEED` (default 1); `HOLDFAST_SIM_SEED=N` replays one seed. A failure prints
//! its seed, step, command, what was expected and what came back, the steps so far, and the
//! command that replays it; `HOLDFAST_SIM_TRACE=1` prints every seed's steps. A replay repeats the
//! same commands; the interleaving of concurrent twins is up to the scheduler.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, Remote, Res, TestApp, rfc3339};

/// A sandbox hold lasts seven days less one second (README, "Test cards").
const HOLD_SECONDS: i64 = 7 * 86_400 - 1;
/// `payment_intent.authorization_expiring` fires this long before the deadline (the default lead).
const WARNING_LEAD_SECONDS: i64 = 86_400;
/// A worker's claim on a due intent (README: "a 60-second lease").
const LEASE_SECONDS: i64 = 60;
const SEEDS_DEFAULT: u64 = 2_000;
const STEPS_MIN: i64 = 4;
const STEPS_MAX: i64 = 12;
const INTENTS_MAX: usize = 10;
const ORDERS_MAX: usize = 3;
const CLOCKS_MAX: usize = 2;
const CURRENCIES: &[&str] = &["USD", "EUR", "JPY"];

crate::both_backends!(simulate);

async fn simulate(app: &TestApp) {
    let seeds = seeds();
    let started = std::time::Instant::now();
    let mut stats = Stats::default();
    for &seed in &seeds {
        if let Err(failure) = run_seed(app, seed, &mut stats).await {
            panic!("{}", failure.report(app.backend, seeds.len() == 1));
        }
    }
    let mut coverage = String::new();
    for (answer, count) in stats.answers.iter().chain(&stats.seen) {
        let _ = write!(coverage, "\n  {count:>7}  {answer}");
    }
    eprintln!(
        "simulation ({:?}): {} seeds, {} steps, {} requests, {:.1?}; answers:{coverage}",
        app.backend,
        seeds.len(),
        stats.steps,
        stats.requests,
        started.elapsed(),
    );
}

/// The seeds to run: `HOLDFAST_SIM_SEED` alone, or `HOLDFAST_SIM_SEEDS` of them.
fn seeds() -> Vec<u64> {
    let number = |name: &str| {
        std::env::var(name).ok().map(|v| {
            v.trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}"))
        })
    };
    if let Some(seed) = number("HOLDFAST_SIM_SEED") {
        return vec![seed];
    }
    let count = number("HOLDFAST_SIM_SEEDS").unwrap_or(SEEDS_DEFAULT);
    let first = number("HOLDFAST_SIM_FIRST_SEED").unwrap_or(1);
    (first..first.saturating_add(count)).collect()
}

// ---- Randomness ---------------------------------------------------------------------------------

/// splitmix64: small, fast, and the same on every platform, so a seed replays exactly.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0xD134_2543_DE82_EF95) ^ 0x5851_F42D_4C95_7F2D)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    /// One of `items`, each as likely as its weight.
    fn weighted<T: Copy>(&mut self, items: &[(u64, T)]) -> T {
        let total: u64 = items.iter().map(|(w, _)| w).sum();
        let mut roll = self.below(total);
        for (weight, item) in items {
            if roll < *weight {
                return *item;
            }
            roll -= weight;
        }
        items[items.len() - 1].1
    }
}

// ---- The reference model ------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Rpm,
    Action,
    Hold,
    Succeeded,
    Canceled,
    Expired,
}

impl St {
    fn name(self) -> &'static str {
        match self {
            St::Rpm => "requires_payment_method",
            St::Action => "requires_action",
            St::Hold => "requires_capture",
            St::Succeeded => "succeeded",
            St::Canceled => "canceled",
            St::Expired => "expired",
        }
    }

    fn terminal(self) -> bool {
        matches!(self, St::Succeeded | St::Canceled | St::Expired)
    }
}

/// What a sandbox card does, as the README's "Test cards" table says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Card {
    Approve,
    Decline(&'static str),
    ThreeDs,
    RefundFails,
    CaptureTimeout,
    Unknown,
}

const TOKENS: &[&str] = &[
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

fn card(token: &str) -> Card {
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
struct Sched {
    capture: bool,
    /// `None` until confirm sets the deadline `offset` refers to.
    at: Option<i64>,
    offset: Option<i64>,
    amount: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MAction {
    kind: &'static str,
    amount: i64,
    ok: bool,
    scheduled: bool,
}

#[derive(Debug, Clone)]
struct MIntent {
    id: String,
    currency: &'static str,
    amount: i64,
    manual: bool,
    clock: Option<usize>,
    order: Option<usize>,
    /// As stored: a hold past its deadline stays `Hold` until the expiry is recorded.
    status: St,
    authorized: i64,
    capturable: i64,
    captured: i64,
    released: i64,
    refunded: i64,
    expires_at: Option<i64>,
    warning_at: Option<i64>,
    captured_at: Option<i64>,
    canceled_at: Option<i64>,
    reason: Option<&'static str>,
    /// The card of the authorization (what the processor sees on capture and refund).
    card: Option<Card>,
    /// Capture calls that reached the processor.
    capture_calls: u32,
    schedule: Option<Sched>,
    /// The deadline worker's claim; any write clears it.
    lease_until: Option<i64>,
    /// Every event about this intent, in order, but `order.payment_succeeded` (counted per order).
    events: Vec<&'static str>,
    actions: Vec<MAction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OSt {
    Open,
    Paid,
    Canceled,
}

#[derive(Debug, Clone)]
struct MHold {
    intent: usize,
    authorized: i64,
    capturable: i64,
    expires_at: i64,
}

#[derive(Debug, Clone)]
struct MOrder {
    id: String,
    currency: &'static str,
    items: i64,
    tip: i64,
    strict: bool,
    status: OSt,
    paid: i64,
    refunded: i64,
    holds: Vec<MHold>,
    intents: Vec<usize>,
    succeeded_events: usize,
}

impl MOrder {
    fn total(&self) -> i64 {
        self.items + self.tip
    }

    fn due(&self) -> i64 {
        (self.total() - self.paid).max(0)
    }
}

#[derive(Debug, Clone)]
struct MClock {
    id: String,
    frozen: i64,
}

#[derive(Debug, Clone)]
struct MRefund {
    id: String,
    intent: usize,
    amount: i64,
    ok: bool,
}

/// An amount as a request gives it: left out, or an amount in some (maybe wrong) currency.
#[derive(Debug, Clone, Copy)]
enum Amt {
    Omitted,
    Of(i64, &'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    None,
    ZeroAmount,
    LowerCaseCurrency,
    CaptureMethod,
    ManualWithAutoConfirm,
}

#[derive(Debug, Clone)]
enum Cmd {
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
    fn creates(&self) -> bool {
        matches!(
            self,
            Cmd::Create { .. }
                | Cmd::CreateOrder { .. }
                | Cmd::OrderIntent { .. }
                | Cmd::CreateClock { .. }
        )
    }

    fn kind(&self) -> &'static str {
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
type Fields = Vec<(&'static str, Value)>;

#[derive(Debug, Clone)]
enum Body {
    Fields(&'static str, Fields),
    Error {
        code: &'static str,
        param: Option<String>,
        extra: Fields,
    },
}

/// The object an answer creates, whose id the driver reads from the answer.
#[derive(Debug, Clone, Copy)]
enum New {
    Intent(usize),
    Order(usize),
    Clock(usize),
    Refund(usize),
}

/// The answer the model predicts.
#[derive(Debug, Clone)]
struct Expect {
    status: u16,
    body: Body,
    new: Option<New>,
}

fn error(status: u16, code: &'static str, param: Option<&str>) -> Expect {
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

fn money(amount: i64, currency: &str) -> Value {
    json!({"amount": amount, "currency": currency})
}

fn time(t: Option<i64>) -> Value {
    t.map_or(Value::Null, |t| json!(rfc3339(t)))
}

/// What falls due on an intent.
#[derive(Debug, Clone)]
enum Due {
    Scheduled(Sched),
    Warning,
    Expiry,
}

/// The processor did not answer a capture (the timeout card's first capture).
#[derive(Debug)]
struct Timeout;

#[derive(Debug)]
enum Auth {
    Placed,
    Declined(&'static str),
    ThreeDs,
    Unknown,
}

#[derive(Debug, Default)]
struct Model {
    wall: i64,
    intents: Vec<MIntent>,
    orders: Vec<MOrder>,
    clocks: Vec<MClock>,
    refunds: Vec<MRefund>,
    /// Intents written since the last audit: their actions are audited.
    touched: BTreeSet<usize>,
}

impl Model {
    fn now_of(&self, i: usize) -> i64 {
        self.intents[i]
            .clock
            .map_or(self.wall, |c| self.clocks[c].frozen)
    }

    /// A hold past its deadline: gone, whether or not the expiry was recorded.
    fn lapsed(&self, i: usize, now: i64) -> bool {
        let x = &self.intents[i];
        x.status == St::Hold && x.expires_at.is_some_and(|deadline| now > deadline)
    }

    fn write(&mut self, i: usize) {
        self.intents[i].lease_until = None;
        self.touched.insert(i);
    }

    fn next_due(&self, i: usize) -> Option<i64> {
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
    fn due(&self, i: usize, now: i64) -> Option<Due> {
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

    fn intent_fields(&self, i: usize) -> Fields {
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

    fn order_fields(&self, o: usize) -> Fields {
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

    fn intent_answer(&self, status: u16, i: usize) -> Expect {
        Expect {
            status,
            body: Body::Fields("/data", self.intent_fields(i)),
            new: None,
        }
    }

    fn order_answer(&self, status: u16, o: usize) -> Expect {
        Expect {
            status,
            body: Body::Fields("/data", self.order_fields(o)),
            new: None,
        }
    }

    fn declined_answer(&self, i: usize, decline_code: &'static str) -> Expect {
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

    fn new_intent(
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

    fn action(&mut self, i: usize, kind: &'static str, amount: i64, ok: bool, scheduled: bool) {
        self.intents[i].actions.push(MAction {
            kind,
            amount,
            ok,
            scheduled,
        });
    }

    fn event(&mut self, i: usize, kind: &'static str) {
        self.intents[i].events.push(kind);
    }

    /// The hold is placed (manual) or the money settles (automatic).
    fn place(&mut self, i: usize, now: i64, with: Card) {
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

    fn decline(&mut self, i: usize) {
        self.intents[i].status = St::Rpm;
        let amount = self.intents[i].amount;
        self.action(i, "authorization", amount, false, false);
        self.event(i, "payment_intent.payment_failed");
        self.write(i);
    }

    fn authorize(&mut self, i: usize, token: &str, now: i64) -> Auth {
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
    fn capture_checks(&self, i: usize, amount: Amt, now: i64) -> Result<i64, Expect> {
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
    fn capture(&mut self, i: usize, amount: i64, now: i64, scheduled: bool) -> Result<(), Timeout> {
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
    fn cancel_checks(&self, i: usize, reason: Option<&str>, now: i64) -> Result<(), Expect> {
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

    fn cancel(&mut self, i: usize, reason: Option<&'static str>, now: i64, scheduled: bool) {
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

    fn record_expiry(&mut self, i: usize) {
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
    fn order_captured(&mut self, o: usize, i: usize) {
        let captured = self.intents[i].captured;
        let ord = &mut self.orders[o];
        ord.holds.retain(|h| h.intent != i);
        ord.paid += captured;
        self.event(i, "order.payment_captured");
        self.settle_paid(o);
    }

    fn order_released(&mut self, o: usize, i: usize) {
        if let Some(pos) = self.orders[o].holds.iter().position(|h| h.intent == i) {
            self.orders[o].holds.remove(pos);
            self.event(i, "order.payment_authorization_voided");
        }
    }

    fn settle_paid(&mut self, o: usize) {
        let ord = &mut self.orders[o];
        if ord.status == OSt::Open && ord.paid >= ord.total() && ord.holds.is_empty() {
            ord.status = OSt::Paid;
            ord.succeeded_events += 1;
        }
    }

    /// Before any order command: the expiry of its lapsed holds is recorded.
    fn settle_order(&mut self, o: usize) {
        let holds: Vec<usize> = self.orders[o].holds.iter().map(|h| h.intent).collect();
        for i in holds {
            if self.lapsed(i, self.now_of(i)) {
                self.record_expiry(i);
            }
        }
    }

    /// Everything due on one intent at `now`, earliest first (the worker, or a clock's step).
    fn perform_due(&mut self, i: usize, now: i64) -> Result<(), Timeout> {
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
    fn run_scheduled(&mut self, i: usize, s: &Sched, now: i64) -> Result<(), Timeout> {
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
    fn worker(&mut self) {
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

    fn advance(&mut self, c: usize, to: i64) -> Expect {
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
    fn apply(&mut self, cmd: &Cmd) -> Expect {
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

    fn order_locked(&self, o: usize) -> Option<Expect> {
        let ord = &self.orders[o];
        if !ord.holds.is_empty() {
            return Some(error(409, "PAYMENT_ATTEMPT_IN_PROGRESS", None));
        }
        if ord.status != OSt::Open || ord.paid > 0 {
            return Some(error(409, "ORDER_NOT_EDITABLE", None));
        }
        None
    }

    fn refund(&mut self, i: usize, amount: Amt) -> Expect {
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

    fn schedule(&mut self, i: usize, capture: bool, at: i64, amount: Amt) -> Expect {
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

    fn pay(
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

    fn render(&self, cmd: &Cmd) -> Http {
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
    fn legend(&self) -> String {
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

// ---- Generating steps ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Keyed,
    Unkeyed,
    /// The same request twice at once, with one `Idempotency-Key`.
    TwinKeyed,
    /// The same request twice at once, without a key.
    TwinUnkeyed,
}

#[derive(Debug)]
enum Step {
    Http(Cmd, Mode),
    /// Move the wall clock forward; then maybe run the deadline worker.
    Wall {
        seconds: i64,
        worker: bool,
    },
    Worker,
    /// Send again a request sent earlier with a key.
    Retry(usize),
    /// Send another request with an earlier key.
    Reuse(usize),
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Create,
    Confirm,
    Authenticate,
    Capture,
    Cancel,
    Refund,
    Schedule,
    Unschedule,
    CreateOrder,
    OrderIntent,
    PatchOrder,
    CancelOrder,
    Pay,
    OrderCapture,
    OrderVoid,
    CreateClock,
    Advance,
    Wall,
    Worker,
    Retry,
    Reuse,
}

/// An index of `0..len` satisfying `wanted` most of the time (if any does), any one otherwise.
fn choose(rng: &mut Rng, len: usize, wanted: impl Fn(usize) -> bool) -> usize {
    let fits: Vec<usize> = (0..len).filter(|&k| wanted(k)).collect();
    if !fits.is_empty() && rng.chance(85) {
        return rng.pick(&fits);
    }
    rng.index(len)
}

fn token(rng: &mut Rng) -> &'static str {
    rng.weighted(&[
        (30, TOKENS[0]),
        (5, TOKENS[1]),
        (5, TOKENS[2]),
        (8, TOKENS[3]),
        (4, TOKENS[4]),
        (12, TOKENS[5]),
        (12, TOKENS[6]),
        (15, TOKENS[7]),
        (3, TOKENS[8]),
    ])
}

fn other_currency(rng: &mut Rng, currency: &'static str) -> &'static str {
    let others: Vec<&'static str> = CURRENCIES
        .iter()
        .copied()
        .filter(|c| *c != currency)
        .chain(["usd"])
        .collect();
    rng.pick(&others)
}

/// An amount for a capture or a refund against `limit` (what is capturable or refundable).
fn amount(rng: &mut Rng, limit: i64, currency: &'static str) -> Amt {
    let limit = limit.max(1);
    match rng.below(100) {
        0..35 => Amt::Omitted,
        35..62 => Amt::Of(rng.range(1, limit), currency),
        62..74 => Amt::Of(limit, currency),
        74..84 => Amt::Of(limit + rng.range(1, 500), currency),
        84..89 => Amt::Of(0, currency),
        89..92 => Amt::Of(-rng.range(1, 100), currency),
        _ => Amt::Of(rng.range(1, limit), other_currency(rng, currency)),
    }
}

/// Moments worth landing on, exactly or one second either side: deadlines, the moment after,
/// warnings and scheduled actions.
fn marks(m: &Model, on_clock: Option<usize>) -> Vec<i64> {
    let mut out = Vec::new();
    for x in m.intents.iter().filter(|x| x.clock == on_clock) {
        if x.status.terminal() {
            continue;
        }
        out.extend(x.expires_at);
        out.extend(x.expires_at.map(|e| e + 1));
        out.extend(x.warning_at);
        out.extend(x.schedule.as_ref().and_then(|s| s.at));
        // The end of a worker's lease on an intent whose due work failed.
        out.extend(x.lease_until.map(|l| l + 1));
    }
    out
}

/// How far to move a clock that shows `now`.
fn jump(rng: &mut Rng, now: i64, marks: &[i64]) -> i64 {
    let ahead: Vec<i64> = marks.iter().copied().filter(|t| *t + 1 > now).collect();
    match rng.below(100) {
        0..45 if !ahead.is_empty() => (rng.pick(&ahead) + rng.range(-1, 1) - now).max(0),
        0..60 => rng.range(1, 120),
        60..75 => rng.range(121, 3_600),
        75..90 => rng.range(3_600, 3 * 86_400),
        _ => rng.range(6 * 86_400, 8 * 86_400),
    }
}

fn mode(rng: &mut Rng, creates: bool) -> Mode {
    match (rng.below(100), creates) {
        (0..60, _) => Mode::Keyed,
        (60..82, _) => Mode::Unkeyed,
        (_, true) | (82..92, false) => Mode::TwinKeyed,
        _ => Mode::TwinUnkeyed,
    }
}

/// The next natural command for an object still in play (the newest, most often), so that
/// flows go deep: confirm what waits, authenticate, capture or schedule holds, let clocks reach
/// deadlines and scheduled moments, refund what settled, pay and capture orders.
fn progress(rng: &mut Rng, m: &Model) -> Option<Step> {
    let live: Vec<usize> = (0..m.intents.len())
        .filter(|&i| {
            let x = &m.intents[i];
            !x.status.terminal() || (x.status == St::Succeeded && x.refunded < x.captured)
        })
        .collect();
    let open: Vec<usize> = (0..m.orders.len())
        .filter(|&o| m.orders[o].status == OSt::Open && m.orders[o].due() > 0)
        .collect();
    // An open order with nothing to pay it with gets an intent.
    if let Some(&o) = open.iter().find(|&&o| {
        m.orders[o].holds.is_empty()
            && !m.orders[o]
                .intents
                .iter()
                .any(|&i| m.intents[i].status == St::Rpm)
    }) && rng.chance(60)
    {
        let cmd = Cmd::OrderIntent {
            o,
            manual: rng.chance(85),
            with_amount: false,
        };
        return Some(Step::Http(cmd, mode(rng, true)));
    }
    let &i = live.last()?;
    let i = if rng.chance(55) { i } else { rng.pick(&live) };
    let x = &m.intents[i];
    let jump_to = |rng: &mut Rng, at: i64| -> Step {
        match x.clock {
            Some(c) => {
                let to = (at + rng.range(-1, 1)).max(m.clocks[c].frozen);
                Step::Http(Cmd::Advance { c, to }, mode(rng, false))
            }
            None => Step::Wall {
                seconds: (at + rng.range(-1, 1) - m.wall).max(1),
                worker: rng.chance(85),
            },
        }
    };
    // Due work that failed (the timeout card) waits for the worker's lease to end.
    if let Some(lease) = x.lease_until
        && rng.chance(60)
    {
        return Some(jump_to(rng, lease + 1));
    }
    if let Some(at) = x.schedule.as_ref().and_then(|s| s.at)
        && at >= m.now_of(i)
        && rng.chance(40)
    {
        return Some(jump_to(rng, at));
    }
    let cmd = match (x.status, x.order) {
        (St::Rpm, None) => match rng.below(100) {
            0..75 => Cmd::Confirm {
                i,
                token: token(rng),
            },
            75..90 => return None,
            _ => Cmd::Cancel { i, reason: None },
        },
        (St::Rpm, Some(o)) => pay(rng, m, o),
        (St::Action, _) => Cmd::Authenticate {
            i,
            success: rng.chance(75),
        },
        (St::Hold, order) => {
            let deadline = x.expires_at.unwrap_or(m.now_of(i));
            match rng.below(100) {
                0..35 => match order {
                    None => Cmd::Capture {
                        i,
                        amount: amount(rng, x.capturable, x.currency),
                    },
                    Some(o) => Cmd::OrderCapture {
                        o,
                        i,
                        amount: amount(rng, x.capturable, x.currency),
                    },
                },
                35..50 => {
                    let now = m.now_of(i);
                    let at = rng.range(now + 1, deadline - 1);
                    let capture = rng.chance(65);
                    let amount = if capture && rng.chance(40) {
                        Amt::Of(rng.range(1, x.capturable), x.currency)
                    } else {
                        Amt::Omitted
                    };
                    Cmd::Schedule {
                        i,
                        capture,
                        at,
                        amount,
                    }
                }
                50..80 => {
                    let earlier = deadline - rng.range(2, 3 * 86_400);
                    let at = rng.pick(&[
                        deadline,
                        deadline + 1,
                        deadline - WARNING_LEAD_SECONDS,
                        earlier,
                    ]);
                    return Some(jump_to(rng, at));
                }
                80..92 => match order {
                    None => Cmd::Cancel {
                        i,
                        reason: Some("requested_by_customer"),
                    },
                    Some(o) => Cmd::OrderVoid { o, i },
                },
                _ => return None,
            }
        }
        (St::Succeeded, order) => match (rng.below(100), order) {
            (0..75, _) => Cmd::Refund {
                i,
                amount: amount(rng, x.captured - x.refunded, x.currency),
            },
            (75..90, Some(o)) => Cmd::OrderCapture {
                o,
                i,
                amount: if rng.chance(50) {
                    Amt::Of(x.captured, x.currency)
                } else {
                    Amt::Omitted
                },
            },
            _ => return None,
        },
        (St::Canceled | St::Expired, _) => return None,
    };
    let creates = cmd.creates();
    Some(Step::Http(cmd, mode(rng, creates)))
}

fn generate(rng: &mut Rng, m: &Model, logged: usize) -> Step {
    if rng.chance(55)
        && let Some(step) = progress(rng, m)
    {
        return step;
    }
    let n = m.intents.len();
    let st = |i: usize| m.intents[i].status;
    let standalone = |i: usize| m.intents[i].order.is_none();
    let any = |f: &dyn Fn(usize) -> bool| (0..n).any(f);
    let weight = |available: bool, boosted: bool, high: u64, low: u64| match (available, boosted) {
        (false, _) => 0,
        (true, true) => high,
        (true, false) => low,
    };
    let open_orders = |o: usize| {
        let ord = &m.orders[o];
        ord.status == OSt::Open && ord.due() > 0
    };
    let payable = |o: usize| {
        open_orders(o)
            && m.orders[o].holds.is_empty()
            && m.orders[o].intents.iter().any(|&i| st(i) == St::Rpm)
    };
    let has_orders = !m.orders.is_empty();
    let menu = [
        (
            match n {
                0 => 30,
                1..3 => 7,
                _ if n < INTENTS_MAX => 3,
                _ => 0,
            },
            Kind::Create,
        ),
        (
            weight(m.orders.len() < ORDERS_MAX, m.orders.is_empty(), 5, 1),
            Kind::CreateOrder,
        ),
        (
            weight(
                has_orders && n < INTENTS_MAX,
                (0..m.orders.len()).any(|o| {
                    open_orders(o) && !m.orders[o].intents.iter().any(|&i| st(i) == St::Rpm)
                }),
                12,
                1,
            ),
            Kind::OrderIntent,
        ),
        (
            weight(n > 0, any(&|i| standalone(i) && st(i) == St::Rpm), 14, 2),
            Kind::Confirm,
        ),
        (
            weight(n > 0, any(&|i| st(i) == St::Action), 10, 1),
            Kind::Authenticate,
        ),
        (
            weight(n > 0, any(&|i| standalone(i) && st(i) == St::Hold), 14, 2),
            Kind::Capture,
        ),
        (weight(n > 0, true, 5, 5), Kind::Cancel),
        (
            weight(
                n > 0,
                any(&|i| st(i) == St::Succeeded && m.intents[i].refunded < m.intents[i].captured),
                9,
                1,
            ),
            Kind::Refund,
        ),
        (
            weight(
                n > 0,
                any(&|i| m.intents[i].manual && !st(i).terminal()),
                6,
                1,
            ),
            Kind::Schedule,
        ),
        (
            weight(n > 0, any(&|i| m.intents[i].schedule.is_some()), 3, 0),
            Kind::Unschedule,
        ),
        (
            weight(has_orders, (0..m.orders.len()).any(payable), 14, 1),
            Kind::Pay,
        ),
        (
            weight(
                has_orders,
                m.orders.iter().any(|o| !o.holds.is_empty()),
                12,
                1,
            ),
            Kind::OrderCapture,
        ),
        (
            weight(
                has_orders,
                m.orders.iter().any(|o| !o.holds.is_empty()),
                4,
                1,
            ),
            Kind::OrderVoid,
        ),
        (weight(has_orders, true, 2, 2), Kind::PatchOrder),
        (weight(has_orders, true, 1, 1), Kind::CancelOrder),
        (
            weight(m.clocks.len() < CLOCKS_MAX, m.clocks.is_empty(), 3, 1),
            Kind::CreateClock,
        ),
        (
            weight(
                !m.clocks.is_empty(),
                m.intents.iter().any(|x| x.clock.is_some()),
                8,
                2,
            ),
            Kind::Advance,
        ),
        (8, Kind::Wall),
        (2, Kind::Worker),
        (weight(logged > 0, true, 5, 5), Kind::Retry),
        (weight(logged > 0, true, 1, 1), Kind::Reuse),
    ];
    let kind = rng.weighted(&menu);
    let cmd = match kind {
        Kind::Create => {
            let manual = rng.chance(85);
            let currency = rng.weighted(&[(70, "USD"), (15, "EUR"), (15, "JPY")]);
            let clock = (!m.clocks.is_empty() && rng.chance(35)).then(|| rng.index(m.clocks.len()));
            let offset = (rng.chance(if manual { 15 } else { 2 })).then(|| {
                let capture = rng.chance(50);
                let seconds = rng.pick(&[
                    3_600,
                    2 * 86_400,
                    6 * 86_400,
                    HOLD_SECONDS - 1,
                    HOLD_SECONDS + 100,
                ]);
                (capture, seconds)
            });
            let auto_confirm = (!manual && rng.chance(40)).then(|| token(rng));
            let bad = if rng.chance(6) {
                rng.pick(&[
                    Bad::ZeroAmount,
                    Bad::LowerCaseCurrency,
                    Bad::CaptureMethod,
                    Bad::ManualWithAutoConfirm,
                ])
            } else {
                Bad::None
            };
            Cmd::Create {
                amount: rng.range(1, 50_000),
                currency,
                manual: manual || bad == Bad::ManualWithAutoConfirm,
                clock,
                offset,
                auto_confirm: if bad == Bad::ManualWithAutoConfirm {
                    None
                } else {
                    auto_confirm
                },
                bad,
            }
        }
        Kind::Confirm => Cmd::Confirm {
            i: choose(rng, n, |i| standalone(i) && st(i) == St::Rpm),
            token: token(rng),
        },
        Kind::Authenticate => Cmd::Authenticate {
            i: choose(rng, n, |i| st(i) == St::Action),
            success: rng.chance(75),
        },
        Kind::Capture => {
            let i = choose(rng, n, |i| standalone(i) && st(i) == St::Hold);
            let x = &m.intents[i];
            Cmd::Capture {
                i,
                amount: amount(rng, x.capturable.max(x.amount), x.currency),
            }
        }
        Kind::Cancel => Cmd::Cancel {
            i: choose(rng, n, |i| standalone(i) && !st(i).terminal()),
            reason: rng.pick(&[
                None,
                None,
                Some("requested_by_customer"),
                Some("duplicate"),
                Some("fraudulent"),
                Some("abandoned"),
                Some("because"),
            ]),
        },
        Kind::Refund => {
            let i = choose(rng, n, |i| {
                st(i) == St::Succeeded && m.intents[i].refunded < m.intents[i].captured
            });
            let x = &m.intents[i];
            Cmd::Refund {
                i,
                amount: amount(rng, x.captured - x.refunded, x.currency),
            }
        }
        Kind::Schedule => {
            let i = choose(rng, n, |i| m.intents[i].manual && !st(i).terminal());
            let x = &m.intents[i];
            let now = m.now_of(i);
            let at = match (rng.below(100), x.expires_at) {
                (0..30, _) => now + rng.range(1, 3_600),
                (30..50, _) => now + rng.range(86_400, 2 * 86_400),
                (50..62, Some(deadline)) => deadline - 1,
                (62..68, Some(deadline)) => deadline,
                (68..76, _) => now - rng.range(0, 10),
                _ => now + rng.range(1, 8 * 86_400),
            };
            let capture = rng.chance(60);
            let amount = if rng.chance(if capture { 45 } else { 8 }) {
                amount(rng, x.capturable.max(x.amount), x.currency)
            } else {
                Amt::Omitted
            };
            Cmd::Schedule {
                i,
                capture,
                at,
                amount,
            }
        }
        Kind::Unschedule => Cmd::Unschedule {
            i: choose(rng, n, |i| m.intents[i].schedule.is_some()),
        },
        Kind::CreateOrder => Cmd::CreateOrder {
            currency: rng.weighted(&[(75, "USD"), (25, "EUR")]),
            quantity: rng.range(1, 3),
            price: rng.range(100, 20_000),
            tip: rng.range(0, 500),
            strict: rng.chance(8),
        },
        Kind::OrderIntent => {
            let o = choose(rng, m.orders.len(), |o| {
                open_orders(o) && !m.orders[o].intents.iter().any(|&i| st(i) == St::Rpm)
            });
            Cmd::OrderIntent {
                o,
                manual: rng.chance(85),
                with_amount: rng.chance(4),
            }
        }
        Kind::PatchOrder => Cmd::PatchOrder {
            o: rng.index(m.orders.len()),
            tip: rng.range(0, 1_000),
        },
        Kind::CancelOrder => Cmd::CancelOrder {
            o: rng.index(m.orders.len()),
        },
        Kind::Pay => {
            let o = choose(rng, m.orders.len(), payable);
            pay(rng, m, o)
        }
        Kind::OrderCapture | Kind::OrderVoid => {
            if n == 0 {
                return Step::Worker;
            }
            let o = choose(rng, m.orders.len(), |o| !m.orders[o].holds.is_empty());
            let ord = &m.orders[o];
            let i = if !ord.holds.is_empty() && rng.chance(85) {
                ord.holds[rng.index(ord.holds.len())].intent
            } else if !ord.intents.is_empty() && rng.chance(85) {
                rng.pick(&ord.intents)
            } else {
                rng.index(n)
            };
            if matches!(kind, Kind::OrderVoid) {
                Cmd::OrderVoid { o, i }
            } else {
                let x = &m.intents[i];
                let amount = if x.status == St::Succeeded && rng.chance(50) {
                    Amt::Of(x.captured, x.currency)
                } else {
                    amount(rng, x.capturable.max(x.amount), x.currency)
                };
                Cmd::OrderCapture { o, i, amount }
            }
        }
        Kind::CreateClock => Cmd::CreateClock {
            offset: rng.pick(&[0, 0, 3_600, 86_400, -3_600]),
        },
        Kind::Advance => {
            let c = rng.index(m.clocks.len());
            let now = m.clocks[c].frozen;
            let to = if rng.chance(4) {
                now - rng.range(1, 100)
            } else {
                now + jump(rng, now, &marks(m, Some(c)))
            };
            Cmd::Advance { c, to }
        }
        Kind::Wall => {
            return Step::Wall {
                seconds: jump(rng, m.wall, &marks(m, None)).max(1),
                worker: rng.chance(70),
            };
        }
        Kind::Worker => return Step::Worker,
        Kind::Retry => return Step::Retry(rng.index(logged)),
        Kind::Reuse => return Step::Reuse(rng.index(logged)),
    };
    let creates = cmd.creates();
    Step::Http(cmd, mode(rng, creates))
}

/// A pay call on order `o`: its waiting intents (one, or two in split tender), or a wrong one.
fn pay(rng: &mut Rng, m: &Model, o: usize) -> Cmd {
    let ord = &m.orders[o];
    let waiting: Vec<usize> = ord
        .intents
        .iter()
        .copied()
        .filter(|&i| m.intents[i].status == St::Rpm)
        .collect();
    let mut chosen: Vec<usize> = if waiting.is_empty() || rng.chance(5) {
        let pool = if ord.intents.is_empty() {
            (0..m.intents.len()).collect()
        } else {
            ord.intents.clone()
        };
        if pool.is_empty() {
            Vec::new()
        } else {
            vec![rng.pick(&pool)]
        }
    } else {
        waiting
    };
    chosen.truncate(2);
    let due = ord.due();
    let split = chosen.len() == 2 || (chosen.len() == 1 && rng.chance(10));
    let pick_token = |rng: &mut Rng| {
        rng.weighted(&[
            (45, TOKENS[0]),
            (8, TOKENS[1]),
            (8, TOKENS[3]),
            (4, TOKENS[4]),
            (5, TOKENS[5]),
            (12, TOKENS[6]),
            (14, TOKENS[7]),
            (4, TOKENS[8]),
        ])
    };
    let first = if chosen.len() == 2 && due >= 2 {
        rng.range(1, due - 1)
    } else {
        due.max(1)
    };
    let mut parts: Vec<(usize, &'static str, i64)> = Vec::new();
    for (k, &i) in chosen.iter().enumerate() {
        let share = if k == 0 { first } else { (due - first).max(1) };
        parts.push((i, pick_token(rng), share));
    }
    if split
        && rng.chance(8)
        && let Some(last) = parts.last_mut()
    {
        last.2 += 1;
    }
    Cmd::Pay {
        o,
        parts,
        expected: if rng.chance(8) { due + 1 } else { due },
        split,
    }
}

// ---- Driving the server -------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Http {
    method: Method,
    path: String,
    body: Option<Value>,
}

impl Http {
    fn post(path: String, body: Value) -> Http {
        Http {
            method: Method::POST,
            path,
            body: Some(body),
        }
    }

    fn describe(&self) -> String {
        match &self.body {
            Some(body) => format!("{} {} {body}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

/// A request sent with a key, and the answer stored under it.
#[derive(Debug)]
struct Sent {
    http: Http,
    key: String,
    status: u16,
    text: String,
}

#[derive(Debug, Default)]
struct Stats {
    steps: u64,
    requests: u64,
    /// How often each kind of answer came back: the model's coverage.
    answers: BTreeMap<String, u64>,
    /// Events and actions seen in the seeds' final audits, and the kinds of steps taken.
    seen: BTreeMap<String, u64>,
}

struct Failure {
    seed: u64,
    step: usize,
    what: String,
    detail: String,
    trace: Vec<String>,
    legend: String,
}

impl Failure {
    fn report(&self, backend: Backend, alone: bool) -> String {
        let test = match backend {
            Backend::Sqlite => "simulation::simulate::sqlite",
            Backend::Postgres => "simulation::simulate::postgres",
        };
        let mut out = format!(
            "simulation failed on {backend:?}: seed {}, step {}\n  step: {}\n  {}\nsteps so far:",
            self.seed, self.step, self.what, self.detail
        );
        for line in &self.trace {
            let _ = write!(out, "\n  {line}");
        }
        let _ = write!(out, "\nobjects:{}", self.legend);
        let _ = write!(
            out,
            "\nreplay: HOLDFAST_SIM_SEED={} cargo test -p holdfast --test api {test} -- --nocapture",
            self.seed
        );
        if !alone {
            out.push_str(
                "\n(a replay runs the seed alone on a fresh server; the seed's merchant never sees another seed's objects)",
            );
        }
        out
    }
}

fn classify(res: &Res) -> String {
    match res.json["error"]["code"].as_str() {
        Some(code) => format!("{} {code}", res.status),
        None => format!("{}", res.status),
    }
}

/// Checks an answer against the model's prediction.
fn check(res: &Res, want: &Expect) -> Result<(), String> {
    let mismatch = |what: String| -> Result<(), String> {
        Err(format!(
            "{what}\n  expected: {} {}\n  got:      {} {}",
            want.status,
            describe_body(&want.body),
            res.status,
            res.text
        ))
    };
    if res.status != want.status {
        return mismatch("status differs".into());
    }
    match &want.body {
        Body::Fields(prefix, fields) => {
            for (pointer, value) in fields {
                let at = format!("{prefix}{pointer}");
                if res.json.pointer(&at) != Some(value) {
                    return mismatch(format!(
                        "{at}: expected {value}, got {}",
                        res.json.pointer(&at).unwrap_or(&Value::Null)
                    ));
                }
            }
        }
        Body::Error { code, param, extra } => {
            let error = &res.json["error"];
            if error["code"] != *code {
                return mismatch(format!("code: expected {code}, got {}", error["code"]));
            }
            let got = error.get("param").and_then(Value::as_str);
            if got != param.as_deref() {
                return mismatch(format!("param: expected {param:?}, got {got:?}"));
            }
            for (pointer, value) in extra {
                if error.pointer(pointer) != Some(value) {
                    return mismatch(format!("error{pointer}: expected {value}"));
                }
            }
        }
    }
    Ok(())
}

fn describe_body(body: &Body) -> String {
    match body {
        Body::Fields(prefix, fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|(p, v)| format!("{prefix}{p}={v}"))
                .collect();
            parts.join(" ")
        }
        Body::Error { code, param, extra } => {
            let mut out = format!("{code} param={param:?}");
            for (p, v) in extra {
                let _ = write!(out, " {p}={v}");
            }
            out
        }
    }
}

/// Every object of a list route, following the cursor.
async fn list_all(api: &Remote, path: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let url = match &cursor {
            None => format!("{path}?limit=100"),
            Some(c) => format!("{path}?limit=100&cursor={c}"),
        };
        let res = api.get(&url).await;
        if res.status != 200 {
            return Err(format!("GET {url}: {} {}", res.status, res.text));
        }
        out.extend(res.json["data"].as_array().cloned().unwrap_or_default());
        if res.json["has_more"] != true {
            return Ok(out);
        }
        cursor = res.json["next_cursor"].as_str().map(str::to_owned);
    }
    Err(format!("GET {path}: the list never ends"))
}

/// The events newer than any in `known`, oldest first. Newest first, the list can stop at the
/// first event already seen: every request has been answered, so no older one can still appear.
async fn new_events(api: &Remote, known: &BTreeSet<String>) -> Result<Vec<Value>, String> {
    let mut fresh = Vec::new();
    let mut cursor: Option<String> = None;
    'pages: for _ in 0..100 {
        let url = match &cursor {
            None => "/v1/events?limit=8".to_owned(),
            Some(c) => format!("/v1/events?limit=25&cursor={c}"),
        };
        let res = api.get(&url).await;
        if res.status != 200 {
            return Err(format!("GET {url}: {} {}", res.status, res.text));
        }
        for event in res.json["data"].as_array().cloned().unwrap_or_default() {
            if known.contains(event["id"].as_str().unwrap_or_default()) {
                break 'pages;
            }
            fresh.push(event);
        }
        if res.json["has_more"] != true {
            break;
        }
        cursor = res.json["next_cursor"].as_str().map(str::to_owned);
    }
    fresh.reverse();
    Ok(fresh)
}

struct Sim<'a> {
    app: &'a TestApp,
    api: Remote,
    seed: u64,
    rng: Rng,
    model: Model,
    sent: Vec<Sent>,
    keys: u64,
    trace: Vec<String>,
    /// The first terminal state seen of each intent: status and money, which must never change.
    terminal: BTreeMap<String, Value>,
    /// The merchant's events, oldest first, and their ids.
    events: Vec<Value>,
    event_ids: BTreeSet<String>,
    stats: &'a mut Stats,
}

async fn run_seed(app: &TestApp, seed: u64, stats: &mut Stats) -> Result<(), Failure> {
    let merchant = app
        .app
        .create_merchant(&format!("sim-{seed}"))
        .await
        .expect("merchant");
    let api = Remote {
        client: app.client.clone(),
        base: app.base.clone(),
        key: merchant.test_key,
    };
    let mut sim = Sim {
        app,
        api,
        seed,
        rng: Rng::new(seed),
        model: Model {
            wall: app.app.now().seconds(),
            ..Model::default()
        },
        sent: Vec::new(),
        keys: 0,
        trace: Vec::new(),
        terminal: BTreeMap::new(),
        events: Vec::new(),
        event_ids: BTreeSet::new(),
        stats,
    };
    let steps = sim.rng.range(STEPS_MIN, STEPS_MAX) as usize;
    for step in 1..=steps {
        let next = generate(&mut sim.rng, &sim.model, sim.sent.len());
        let what = sim.describe(&next);
        let kind = match &next {
            Step::Http(_, mode) => format!("step: request {mode:?}"),
            Step::Wall { worker, .. } => format!("step: wall clock, worker {worker}"),
            Step::Worker => "step: worker".into(),
            Step::Retry(_) => "step: retry with key".into(),
            Step::Reuse(_) => "step: key reused".into(),
        };
        *sim.stats.seen.entry(kind).or_default() += 1;
        sim.trace.push(format!("{step}: {what}"));
        sim.stats.steps += 1;
        let outcome = match sim.step(next).await {
            Ok(()) => sim
                .audit(step == steps)
                .await
                .map_err(|e| format!("audit: {e}")),
            Err(e) => Err(e),
        };
        if let Err(detail) = outcome {
            return Err(Failure {
                seed,
                step,
                what,
                detail,
                trace: sim.trace.clone(),
                legend: sim.model.legend(),
            });
        }
    }
    if std::env::var_os("HOLDFAST_SIM_TRACE").is_some() {
        eprintln!("seed {seed}:\n  {}", sim.trace.join("\n  "));
    }
    Ok(())
}

impl Sim<'_> {
    fn describe(&self, step: &Step) -> String {
        match step {
            Step::Http(cmd, mode) => {
                format!("{cmd:?} [{mode:?}] = {}", self.model.render(cmd).describe())
            }
            Step::Wall { seconds, worker } => {
                format!("wall clock +{seconds}s, worker: {worker}")
            }
            Step::Worker => "deadline worker".into(),
            Step::Retry(k) => format!(
                "retry with key {}: {}",
                self.sent[*k].key,
                self.sent[*k].http.describe()
            ),
            Step::Reuse(k) => format!("reuse key {} for another request", self.sent[*k].key),
        }
    }

    fn fresh_key(&mut self) -> String {
        self.keys += 1;
        format!("sim-{}-{}", self.seed, self.keys)
    }

    async fn send(&mut self, http: &Http, key: Option<&str>) -> Res {
        self.stats.requests += 1;
        self.api
            .send(http.method.clone(), &http.path, key, http.body.as_ref())
            .await
    }

    fn note(&mut self, cmd: &Cmd, res: &Res) {
        let answer = match res.json["error"]["code"].as_str() {
            Some(code) => format!("{} {code} ({})", res.status, cmd.kind()),
            None => format!("{} {}", res.status, cmd.kind()),
        };
        *self.stats.answers.entry(answer).or_default() += 1;
        if let Some(line) = self.trace.last_mut() {
            let _ = write!(line, " -> {}", classify(res));
        }
    }

    /// Checks an answer and takes the id of what it created.
    fn expect(&mut self, cmd: &Cmd, res: &Res, want: &Expect) -> Result<(), String> {
        self.note(cmd, res);
        check(res, want)?;
        self.adopt(res, want);
        Ok(())
    }

    fn adopt(&mut self, res: &Res, want: &Expect) {
        let id = |pointers: &[&str]| {
            pointers
                .iter()
                .find_map(|p| res.json.pointer(p).and_then(Value::as_str))
                .unwrap_or_default()
                .to_owned()
        };
        match want.new {
            None => {}
            Some(New::Intent(i)) => {
                self.model.intents[i].id = id(&[
                    "/data/payment_intent/payment_intent_id",
                    "/error/payment_intent_id",
                ]);
            }
            Some(New::Order(o)) => self.model.orders[o].id = id(&["/data/order_id"]),
            Some(New::Clock(c)) => self.model.clocks[c].id = id(&["/data/test_clock_id"]),
            Some(New::Refund(r)) => self.model.refunds[r].id = id(&["/data/refund_id"]),
        }
    }

    async fn step(&mut self, step: Step) -> Result<(), String> {
        match step {
            Step::Http(cmd, mode) => self.http(&cmd, mode).await,
            Step::Wall { seconds, worker } => {
                self.app.clock.advance(seconds);
                self.model.wall += seconds;
                if worker {
                    self.worker().await?;
                }
                Ok(())
            }
            Step::Worker => self.worker().await,
            Step::Retry(k) => {
                let (http, key) = (self.sent[k].http.clone(), self.sent[k].key.clone());
                let res = self.send(&http, Some(&key)).await;
                let sent = &self.sent[k];
                if res.status != sent.status
                    || res.text != sent.text
                    || res.header("idempotent-replayed") != Some("true")
                {
                    return Err(format!(
                        "a retry with its key must replay the stored answer byte for byte\n  stored: {} {}\n  got:    {} {} (replayed: {:?})",
                        sent.status,
                        sent.text,
                        res.status,
                        res.text,
                        res.header("idempotent-replayed")
                    ));
                }
                Ok(())
            }
            Step::Reuse(k) => {
                let key = self.sent[k].key.clone();
                let http = Http::post("/v1/test-clocks".into(), json!({"name": "reused key"}));
                let res = self.send(&http, Some(&key)).await;
                *self.stats.answers.entry(classify(&res)).or_default() += 1;
                check(&res, &error(422, "IDEMPOTENCY_KEY_REUSED", None))
            }
        }
    }

    /// Runs the deadline worker until it finds nothing to claim, as the model does.
    async fn worker(&mut self) -> Result<(), String> {
        for _ in 0..64 {
            match self.app.app.run_due_once(500).await {
                Ok(holdfast_service::Outcome::Idle) => {
                    self.model.worker();
                    return Ok(());
                }
                Ok(holdfast_service::Outcome::Worked(_)) => {}
                Err(e) => return Err(format!("the deadline worker failed: {e}")),
            }
        }
        Err("the deadline worker never went idle".into())
    }

    async fn http(&mut self, cmd: &Cmd, mode: Mode) -> Result<(), String> {
        let http = self.model.render(cmd);
        match mode {
            Mode::Keyed | Mode::Unkeyed => {
                let key = (mode == Mode::Keyed).then(|| self.fresh_key());
                self.single(cmd, &http, key).await
            }
            Mode::TwinKeyed => {
                let key = self.fresh_key();
                let want = self.model.apply(cmd);
                if want.status >= 500 {
                    // Twins of a request that fails are not one effect; sent once, then retried.
                    let res = self.send(&http, Some(&key)).await;
                    self.expect(cmd, &res, &want)?;
                    return self.retry_after_5xx(cmd, &http, Some(key)).await;
                }
                self.stats.requests += 2;
                let api = self.api.clone();
                let (a, b) = tokio::join!(
                    api.send(
                        http.method.clone(),
                        &http.path,
                        Some(&key),
                        http.body.as_ref()
                    ),
                    api.send(
                        http.method.clone(),
                        &http.path,
                        Some(&key),
                        http.body.as_ref()
                    ),
                );
                let in_use = |r: &Res| {
                    r.status == 409 && r.json["error"]["code"] == "IDEMPOTENCY_KEY_IN_USE"
                };
                let replayed = |r: &Res| r.header("idempotent-replayed") == Some("true");
                let (original, twin) = match (
                    in_use(&a) || replayed(&a),
                    in_use(&b) || replayed(&b),
                ) {
                    (false, true) => (a, b),
                    (true, false) => (b, a),
                    _ => {
                        return Err(format!(
                            "twins with one key: exactly one must do the work\n  a: {} {} (replayed {})\n  b: {} {} (replayed {})",
                            a.status,
                            a.text,
                            replayed(&a),
                            b.status,
                            b.text,
                            replayed(&b)
                        ));
                    }
                };
                self.expect(cmd, &original, &want)?;
                let outcome = if in_use(&twin) {
                    "twin with one key: 409 IDEMPOTENCY_KEY_IN_USE"
                } else {
                    "twin with one key: replayed"
                };
                *self.stats.seen.entry(outcome.into()).or_default() += 1;
                if !in_use(&twin) && (twin.status != original.status || twin.text != original.text)
                {
                    return Err(format!(
                        "the twin's replay differs from the original\n  original: {} {}\n  twin:     {} {}",
                        original.status, original.text, twin.status, twin.text
                    ));
                }
                self.sent.push(Sent {
                    http,
                    key,
                    status: original.status,
                    text: original.text,
                });
                Ok(())
            }
            Mode::TwinUnkeyed => {
                // Both answers must be the model's for the command run twice in a row: an answer
                // decided from reads of different moments (an order read before a racing change
                // and its intent read after it) is an answer no serial order gives, and fails.
                let first = self.model.apply(cmd);
                let second = self.model.apply(cmd);
                self.stats.requests += 2;
                let api = self.api.clone();
                let (a, b) = tokio::join!(
                    api.send(http.method.clone(), &http.path, None, http.body.as_ref()),
                    api.send(http.method.clone(), &http.path, None, http.body.as_ref()),
                );
                self.note(cmd, &a);
                self.note(cmd, &b);
                let straight = check(&a, &first).and_then(|()| check(&b, &second));
                if straight.is_ok() {
                    self.adopt(&a, &first);
                    self.adopt(&b, &second);
                    return Ok(());
                }
                if check(&a, &second).and_then(|()| check(&b, &first)).is_ok() {
                    self.adopt(&a, &second);
                    self.adopt(&b, &first);
                    return Ok(());
                }
                Err(format!(
                    "twins without a key must answer as the command run twice in a row, in either order\n  first:  {:?}\n  second: {:?}\n  got a:  {} {}\n  got b:  {} {}\n  (a against first: {})",
                    first,
                    second,
                    a.status,
                    a.text,
                    b.status,
                    b.text,
                    straight.err().unwrap_or_default()
                ))
            }
        }
    }

    async fn single(&mut self, cmd: &Cmd, http: &Http, key: Option<String>) -> Result<(), String> {
        let want = self.model.apply(cmd);
        let res = self.send(http, key.as_deref()).await;
        self.expect(cmd, &res, &want)?;
        if want.status >= 500 {
            return self.retry_after_5xx(cmd, http, key).await;
        }
        if let Some(key) = key {
            self.sent.push(Sent {
                http: http.clone(),
                key,
                status: res.status,
                text: res.text,
            });
        }
        Ok(())
    }

    /// A 5xx is not stored: the same request again, with the same key, does the work.
    async fn retry_after_5xx(
        &mut self,
        cmd: &Cmd,
        http: &Http,
        key: Option<String>,
    ) -> Result<(), String> {
        let want = self.model.apply(cmd);
        if want.status >= 500 {
            return Err(format!("model: a retry after a 5xx fails again: {want:?}"));
        }
        let res = self.send(http, key.as_deref()).await;
        self.expect(cmd, &res, &want)
            .map_err(|e| format!("the retry after a 5xx: {e}"))?;
        if let Some(key) = key {
            self.sent.push(Sent {
                http: http.clone(),
                key,
                status: res.status,
                text: res.text,
            });
        }
        Ok(())
    }

    // ---- The audit ----

    async fn audit(&mut self, full: bool) -> Result<(), String> {
        let touched = std::mem::take(&mut self.model.touched);
        let which: Vec<usize> = if full {
            (0..self.model.intents.len()).collect()
        } else {
            touched.into_iter().collect()
        };
        let paths: Vec<String> = which
            .iter()
            .map(|&i| format!("/v1/payment-intents/{}/actions", self.model.intents[i].id))
            .collect();
        let with_orders = full || !self.model.orders.is_empty();
        // The reads go out together: every request has been answered, nothing moves meanwhile.
        let api = self.api.clone();
        let (intents, orders, fresh, actions) = tokio::join!(
            list_all(&api, "/v1/payment-intents"),
            async {
                match with_orders {
                    true => list_all(&api, "/v1/orders").await.map(Some),
                    false => Ok(None),
                }
            },
            new_events(&api, &self.event_ids),
            async {
                let mut out = Vec::with_capacity(paths.len());
                for path in &paths {
                    out.push(api.get(path).await);
                }
                out
            },
        );
        self.audit_intents(&intents?)?;
        if let Some(orders) = orders? {
            self.audit_orders(&orders)?;
        }
        self.audit_events(fresh?, full).await?;
        for (i, res) in which.into_iter().zip(actions) {
            self.audit_actions(i, full, &res)?;
        }
        if full {
            self.audit_refunds_and_clocks().await?;
        }
        Ok(())
    }

    fn audit_intents(&mut self, listed: &[Value]) -> Result<(), String> {
        let model = &self.model;
        if listed.len() != model.intents.len() {
            let ids: Vec<&str> = listed
                .iter()
                .filter_map(|v| v["payment_intent_id"].as_str())
                .collect();
            return Err(format!(
                "{} intents listed, the model has {}: {ids:?}",
                listed.len(),
                model.intents.len()
            ));
        }
        let by_id: BTreeMap<&str, &Value> = listed
            .iter()
            .filter_map(|v| v["payment_intent_id"].as_str().map(|id| (id, v)))
            .collect();
        for i in 0..model.intents.len() {
            let id = model.intents[i].id.as_str();
            let Some(got) = by_id.get(id) else {
                return Err(format!("intent #{i} {id} is not listed"));
            };
            money_invariant(got).map_err(|e| format!("intent #{i} {id}: {e}: {got}"))?;
            for (pointer, value) in model.intent_fields(i) {
                if got.pointer(pointer) != Some(&value) {
                    return Err(format!(
                        "intent #{i} {id}{pointer}: expected {value}, got {}\n  intent: {got}",
                        got.pointer(pointer).unwrap_or(&Value::Null)
                    ));
                }
            }
            let status = got["status"].as_str().unwrap_or_default();
            if ["succeeded", "canceled", "expired"].contains(&status) {
                let settled = json!({
                    "status": status,
                    "authorized": got["authorized_amount_money"],
                    "captured": got["captured_amount_money"],
                    "released": got["released_amount_money"],
                    "capturable": got["capturable_amount_money"],
                });
                let first = self
                    .terminal
                    .entry(id.to_owned())
                    .or_insert_with(|| settled.clone());
                if *first != settled {
                    return Err(format!(
                        "intent #{i} {id} left its terminal state: was {first}, now {settled}"
                    ));
                }
            }
        }
        Ok(())
    }

    fn audit_orders(&mut self, listed: &[Value]) -> Result<(), String> {
        let model = &self.model;
        if listed.len() != model.orders.len() {
            return Err(format!(
                "{} orders listed, the model has {}",
                listed.len(),
                model.orders.len()
            ));
        }
        for o in 0..model.orders.len() {
            let id = model.orders[o].id.as_str();
            let Some(got) = listed.iter().find(|v| v["order_id"] == id) else {
                return Err(format!("order #{o} {id} is not listed"));
            };
            for (pointer, value) in model.order_fields(o) {
                if got.pointer(pointer) != Some(&value) {
                    return Err(format!(
                        "order #{o} {id}{pointer}: expected {value}, got {}\n  order: {got}",
                        got.pointer(pointer).unwrap_or(&Value::Null)
                    ));
                }
            }
            let amount = |p: &str| got.pointer(p).and_then(Value::as_i64).unwrap_or(-1);
            let (total, paid, due) = (
                amount("/total_money/amount"),
                amount("/settlement_amounts/paid_money/amount"),
                amount("/settlement_amounts/amount_due_money/amount"),
            );
            if paid > total || due != (total - paid).max(0) {
                return Err(format!(
                    "order #{o} {id}: paid {paid}, due {due} of {total}"
                ));
            }
        }
        Ok(())
    }

    /// Each event once, and each intent's events exactly the model's, in order.
    async fn audit_events(&mut self, fresh: Vec<Value>, full: bool) -> Result<(), String> {
        for event in fresh {
            let id = event["id"].as_str().unwrap_or_default().to_owned();
            let kind = event["type"].as_str().unwrap_or_default();
            let object = &event["data"]["object"];
            if object.get("authorized_amount_money").is_some() {
                money_invariant(object).map_err(|e| format!("event {id} {kind} snapshot: {e}"))?;
            }
            if !self.event_ids.insert(id.clone()) {
                return Err(format!("event {id} is listed twice"));
            }
            self.events.push(event);
        }
        if full {
            let all = list_all(&self.api, "/v1/events").await?;
            let ids: BTreeSet<String> = all
                .iter()
                .filter_map(|e| e["id"].as_str().map(str::to_owned))
                .collect();
            if all.len() != self.events.len() || ids != self.event_ids {
                return Err(format!(
                    "{} events listed at the end, {} seen step by step",
                    all.len(),
                    self.events.len()
                ));
            }
        }
        let mut of_intent: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut succeeded_of_order: BTreeMap<String, usize> = BTreeMap::new();
        for event in &self.events {
            let kind = event["type"].as_str().unwrap_or_default().to_owned();
            if full {
                *self.stats.seen.entry(format!("event: {kind}")).or_default() += 1;
            }
            let data = &event["data"];
            if kind == "order.payment_succeeded" {
                let order = data["object"]["order_id"].as_str().unwrap_or_default();
                *succeeded_of_order.entry(order.to_owned()).or_default() += 1;
                continue;
            }
            let intent = data["payment_intent_id"]
                .as_str()
                .or_else(|| data["object"]["payment_intent_id"].as_str())
                .unwrap_or_default();
            of_intent.entry(intent.to_owned()).or_default().push(kind);
        }
        let model = &self.model;
        for (i, x) in model.intents.iter().enumerate() {
            let got = of_intent.remove(&x.id).unwrap_or_default();
            if got != x.events {
                return Err(format!(
                    "intent #{i} {}: events\n  expected {:?}\n  got      {got:?}",
                    x.id, x.events
                ));
            }
        }
        if let Some((intent, events)) = of_intent.into_iter().next() {
            return Err(format!(
                "events of an intent the model does not know: {intent} {events:?}"
            ));
        }
        for (o, ord) in model.orders.iter().enumerate() {
            let got = succeeded_of_order.remove(&ord.id).unwrap_or_default();
            if got != ord.succeeded_events {
                return Err(format!(
                    "order #{o} {}: {got} order.payment_succeeded events, expected {}",
                    ord.id, ord.succeeded_events
                ));
            }
        }
        Ok(())
    }

    /// The money movements: each the model's, each hold resolved at most once, and adding up to
    /// the intent's money fields.
    fn audit_actions(&mut self, i: usize, full: bool, res: &Res) -> Result<(), String> {
        let x = &self.model.intents[i];
        if res.status != 200 {
            return Err(format!("actions of #{i}: {} {}", res.status, res.text));
        }
        let got: Vec<MAction> = res.json["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|a| MAction {
                kind: match a["type"].as_str().unwrap_or_default() {
                    "authorization" => "authorization",
                    "capture" => "capture",
                    "void" => "void",
                    "expiry" => "expiry",
                    "refund" => "refund",
                    _ => "unknown",
                },
                amount: a["amount_money"]["amount"].as_i64().unwrap_or(-1),
                ok: a["status"] == "succeeded",
                scheduled: a["reference"] == "scheduled",
            })
            .collect();
        if got != x.actions {
            return Err(format!(
                "intent #{i} {}: actions\n  expected {:?}\n  got      {got:?}",
                x.id, x.actions
            ));
        }
        for a in got.iter().filter(|_| full) {
            let kind = format!(
                "action: {} {}{}",
                a.kind,
                if a.ok { "succeeded" } else { "failed" },
                if a.scheduled { " (scheduled)" } else { "" }
            );
            *self.stats.seen.entry(kind).or_default() += 1;
        }
        let resolved = got
            .iter()
            .filter(|a| a.ok && ["capture", "void", "expiry"].contains(&a.kind))
            .count();
        let sum = |kinds: &[&str]| -> i64 {
            got.iter()
                .filter(|a| a.ok && kinds.contains(&a.kind))
                .map(|a| a.amount)
                .sum()
        };
        // A capture releases the rest of the hold in the same step, with no action of its own.
        let released_by_capture = if sum(&["capture"]) > 0 {
            x.authorized - x.captured
        } else {
            0
        };
        if resolved > 1
            || sum(&["capture"]) != x.captured
            || sum(&["void", "expiry"]) + released_by_capture != x.released
            || sum(&["refund"]) != x.refunded
        {
            return Err(format!(
                "intent #{i} {}: {resolved} resolutions; actions do not add up: {got:?}",
                x.id
            ));
        }
        Ok(())
    }

    async fn audit_refunds_and_clocks(&mut self) -> Result<(), String> {
        let listed = list_all(&self.api, "/v1/refunds").await?;
        let model = &self.model;
        if listed.len() != model.refunds.len() {
            return Err(format!(
                "{} refunds listed, the model has {}",
                listed.len(),
                model.refunds.len()
            ));
        }
        for r in &model.refunds {
            let Some(got) = listed.iter().find(|v| v["refund_id"] == r.id.as_str()) else {
                return Err(format!("refund {} is not listed", r.id));
            };
            let x = &model.intents[r.intent];
            let want = json!({
                "payment_intent_id": x.id,
                "amount": r.amount,
                "status": if r.ok { "succeeded" } else { "failed" },
            });
            let seen = json!({
                "payment_intent_id": got["payment_intent_id"],
                "amount": got["amount_money"]["amount"],
                "status": got["status"],
            });
            if want != seen {
                return Err(format!("refund {}: expected {want}, got {got}", r.id));
            }
        }
        for c in &model.clocks {
            let res = self.api.get(&format!("/v1/test-clocks/{}", c.id)).await;
            if res.json["data"]["frozen_time"] != rfc3339(c.frozen) {
                return Err(format!(
                    "test clock {}: expected {}, got {}",
                    c.id,
                    rfc3339(c.frozen),
                    res.text
                ));
            }
        }
        Ok(())
    }
}

/// `captured + released + capturable = authorized`, none negative, `refunded <= captured`, and
/// nothing capturable outside `requires_capture`.
fn money_invariant(intent: &Value) -> Result<(), String> {
    let amount = |field: &str| intent[field]["amount"].as_i64().unwrap_or(-1);
    let authorized = amount("authorized_amount_money");
    let capturable = amount("capturable_amount_money");
    let captured = amount("captured_amount_money");
    let released = amount("released_amount_money");
    let refunded = amount("refunded_amount_money");
    if [authorized, capturable, captured, released, refunded]
        .iter()
        .any(|a| *a < 0)
    {
        return Err("a money field is negative or missing".into());
    }
    if captured + released + capturable != authorized {
        return Err(format!(
            "captured {captured} + released {released} + capturable {capturable} != authorized {authorized}"
        ));
    }
    if refunded > captured {
        return Err(format!("refunded {refunded} > captured {captured}"));
    }
    if intent["status"] != "requires_capture" && capturable != 0 {
        return Err(format!(
            "{capturable} capturable in status {}",
            intent["status"]
        ));
    }
    Ok(())
}
