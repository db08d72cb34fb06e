//! Generating steps: a seeded splitmix64 generator, and the choice of each next command, half of
//! them the natural next move of an object still in play, the rest from the whole menu.

use super::model::*;
use super::*;

/// splitmix64: small, fast, and the same on every platform, so a seed replays exactly.
#[derive(Debug)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0xD134_2543_DE82_EF95) ^ 0x5851_F42D_4C95_7F2D)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A number in `lo..=hi`.
    pub(super) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(super) fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    pub(super) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    /// One of `items`, each as likely as its weight.
    pub(super) fn weighted<T: Copy>(&mut self, items: &[(u64, T)]) -> T {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Keyed,
    Unkeyed,
    /// The same request twice at once, with one `Idempotency-Key`.
    TwinKeyed,
    /// The same request twice at once, without a key.
    TwinUnkeyed,
}

#[derive(Debug)]
pub(super) enum Step {
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
pub(super) enum Kind {
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
pub(super) fn choose(rng: &mut Rng, len: usize, wanted: impl Fn(usize) -> bool) -> usize {
    let fits: Vec<usize> = (0..len).filter(|&k| wanted(k)).collect();
    if !fits.is_empty() && rng.chance(85) {
        return rng.pick(&fits);
    }
    rng.index(len)
}

pub(super) fn token(rng: &mut Rng) -> &'static str {
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

pub(super) fn other_currency(rng: &mut Rng, currency: &'static str) -> &'static str {
    let others: Vec<&'static str> = CURRENCIES
        .iter()
        .copied()
        .filter(|c| *c != currency)
        .chain(["usd"])
        .collect();
    rng.pick(&others)
}

/// An amount for a capture or a refund against `limit` (what is capturable or refundable).
pub(super) fn amount(rng: &mut Rng, limit: i64, currency: &'static str) -> Amt {
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
pub(super) fn marks(m: &Model, on_clock: Option<usize>) -> Vec<i64> {
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
pub(super) fn jump(rng: &mut Rng, now: i64, marks: &[i64]) -> i64 {
    let ahead: Vec<i64> = marks.iter().copied().filter(|t| *t + 1 > now).collect();
    match rng.below(100) {
        0..45 if !ahead.is_empty() => (rng.pick(&ahead) + rng.range(-1, 1) - now).max(0),
        0..60 => rng.range(1, 120),
        60..75 => rng.range(121, 3_600),
        75..90 => rng.range(3_600, 3 * 86_400),
        _ => rng.range(6 * 86_400, 8 * 86_400),
    }
}

pub(super) fn mode(rng: &mut Rng, creates: bool) -> Mode {
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
pub(super) fn progress(rng: &mut Rng, m: &Model) -> Option<Step> {
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

pub(super) fn generate(rng: &mut Rng, m: &Model, logged: usize) -> Step {
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
pub(super) fn pay(rng: &mut Rng, m: &Model, o: usize) -> Cmd {
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
