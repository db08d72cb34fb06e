//! Orders: the rules an order-linked intent lives by, checked with the real functions and in the
//! contract's order. Creating an intent on an order, a pay call (one table over one order and its
//! intents), each authorization of a pay call, a capture through the order's route, and a PATCH
//! that keeps some money fields as they are.

use super::*;
use crate::intent::tests::{T0, card, raw, scope, usd, with_ctx};
use crate::intent::{AuthorizationResult, apply_authorization};

/// When the order is paid or captured.
const LATER: Timestamp = T0.plus_seconds(600);
/// The rental's total: two days at $80.00 plus a $25.00 tip.
const TOTAL: i64 = 18_500;

fn item(name: &str, quantity: i64, unit_price: i64) -> LineItemRequest {
    LineItemRequest {
        name: name.into(),
        quantity,
        unit_price: raw(unit_price, "USD"),
        sku: None,
        inventory_tracking: None,
    }
}

fn order_of(id: &str, line_items: Vec<LineItemRequest>, tip: i64) -> Order {
    let req = CreateOrder {
        currency: "USD".into(),
        financials: Financials {
            line_items,
            tip: Some(raw(tip, "USD")),
            discounts: Vec::new(),
        },
        ..CreateOrder::default()
    };
    create_order(id.into(), scope(), req, T0).expect("a valid order")
}

fn rental() -> Order {
    order_of("ord_rental", vec![item("Camera rental", 2, 8000)], 2500)
}

/// The rental with a strict-inventory line item as well: $185.00 + $50.00.
fn strict_rental() -> Order {
    let mut print = item("Limited print", 1, 5000);
    print.inventory_tracking = Some("strict".into());
    order_of(
        "ord_strict",
        vec![item("Camera rental", 2, 8000), print],
        2500,
    )
}

fn new_intent(id: &str) -> NewIntent {
    NewIntent {
        id: id.into(),
        scope: scope(),
        client_secret_hash: "hash".into(),
        has_payment_source: false,
        expiry_warning_lead_seconds: None,
        now: T0,
    }
}

fn on_order(order_id: &str, capture_method: &str) -> CreateRequest {
    CreateRequest {
        order_id: Some(order_id.into()),
        capture_method: Some(capture_method.into()),
        ..CreateRequest::default()
    }
}

/// An intent created on `order` (which gains it).
fn linked(order: &mut Order, id: &str, capture_method: &str) -> PaymentIntent {
    let (created, next) = create_intent(
        Some(order),
        new_intent(id),
        on_order(&order.id, capture_method),
        T0,
    )
    .expect("the order takes a new intent");
    *order = next;
    created.intent
}

fn authorize(intent: &PaymentIntent, result: AuthorizationResult) -> PaymentIntent {
    with_ctx(LATER, |ctx| apply_authorization(intent, result, None, ctx)).intent
}

fn hold(intent: &PaymentIntent) -> PaymentIntent {
    authorize(
        intent,
        AuthorizationResult::Authorized {
            card: card(),
            processor_ref: "ch_test".into(),
            expires_at: LATER.plus_seconds(7 * 86_400),
            captured: false,
        },
    )
}

fn challenge(intent: &PaymentIntent) -> PaymentIntent {
    authorize(
        intent,
        AuthorizationResult::RequiresAction {
            card: card(),
            processor_ref: "ch_test".into(),
            redirect_url: "https://example.test/3ds".into(),
        },
    )
}

/// Accepted, or the code and field of the refusal.
type Answer = Result<(), (ErrorCode, Option<String>)>;

fn rejected<T: std::fmt::Debug>(result: Result<T, Rejection>) -> (ErrorCode, Option<String>) {
    let r = result.expect_err("refused");
    (r.code, r.param)
}

fn at(code: ErrorCode, param: &str) -> (ErrorCode, Option<String>) {
    (code, Some(param.to_owned()))
}

// ---- Creating an intent on an order ------------------------------------------------------------

#[test]
fn an_intent_on_an_order_takes_the_balance_due_and_is_recorded_on_it() {
    let order = rental();
    let (created, next) = create_intent(
        Some(&order),
        new_intent("pi_a"),
        on_order(&order.id, "manual"),
        LATER,
    )
    .expect("created");
    let intent = created.intent;
    assert_eq!(intent.amount, Money::new(TOTAL, usd()));
    assert_eq!(intent.order_id.as_deref(), Some("ord_rental"));
    assert_eq!(intent.capture_method, CaptureMethod::Manual);
    assert_eq!(created.events, [EventType::PaymentIntentCreated]);
    // The order only gains the intent, at the order's own time.
    assert_eq!(next.payment_intent_ids, ["pi_a"]);
    assert_eq!((next.version, next.updated_at), (order.version + 1, LATER));
    assert_eq!(
        Order {
            payment_intent_ids: Vec::new(),
            version: order.version,
            updated_at: order.updated_at,
            ..next
        },
        order
    );
}

#[test]
fn an_intent_on_an_order_is_checked_in_the_contracts_order() {
    let rental = rental();
    let strict = strict_rental();
    let mut paid = rental.clone();
    paid.paid = TOTAL;
    paid.status = OrderStatus::Paid;
    let mut free = rental.clone();
    free.total = 0;
    let try_create = |order: Option<&Order>, req: CreateRequest| {
        create_intent(order, new_intent("pi_x"), req, T0).map(|_| ())
    };
    let auto_confirm = CreateRequest {
        auto_confirm: true,
        ..on_order("ord_missing", "automatic")
    };
    let with_amount = |capture_method| CreateRequest {
        amount: Some(raw(TOTAL, "USD")),
        ..on_order("ord_strict", capture_method)
    };
    #[rustfmt::skip]
    let rows: Vec<(Option<&Order>, CreateRequest, Answer)> = vec![
        // auto_confirm is refused first, even on an order that is not there.
        (None, auto_confirm.clone(), Err(at(ErrorCode::InvalidParameter, "auto_confirm"))),
        (Some(&rental), auto_confirm, Err(at(ErrorCode::InvalidParameter, "auto_confirm"))),
        (None, on_order("ord_missing", "manual"), Err(at(ErrorCode::OrderNotFound, "order_id"))),
        // The amount comes from the order; one given is refused before the order's own rules.
        (Some(&strict), with_amount("manual"), Err(at(ErrorCode::OrderLinkedAmountNotAllowed, "amount_money"))),
        (Some(&paid), with_amount("automatic"), Err(at(ErrorCode::OrderLinkedAmountNotAllowed, "amount_money"))),
        // Strict inventory cannot sit behind a hold, even on an order with nothing due.
        (Some(&strict), on_order("ord_strict", "manual"), Err(at(ErrorCode::StrictInventoryDelayedCaptureUnsupported, "capture_method"))),
        (Some(&strict), on_order("ord_strict", "automatic"), Ok(())),
        (Some(&paid), on_order("ord_rental", "automatic"), Err((ErrorCode::OrderNotPayable, None))),
        (Some(&free), on_order("ord_rental", "manual"), Err((ErrorCode::OrderNotPayable, None))),
        // Then creation's own rules.
        (Some(&rental), on_order("ord_rental", "delayed"), Err(at(ErrorCode::InvalidCaptureMethod, "capture_method"))),
        (Some(&rental), on_order("ord_rental", "manual"), Ok(())),
    ];
    for (order, req, expect) in rows {
        let label = format!("{:?} on {:?}", req, order.map(|o| &o.id));
        let got = try_create(order, req).map_err(|r| (r.code, r.param));
        assert_eq!(got, expect, "{label}");
    }
}

// ---- Pay ---------------------------------------------------------------------------------------

/// The rental, its intents, and an intent of another order and a standalone one.
struct Shop {
    order: Order,
    /// Every intent the service could find, by id.
    intents: Vec<PaymentIntent>,
}

/// `pi_a` (manual) and `pi_b` (automatic) on the rental; `pi_3ds` on it, waiting for 3D Secure;
/// `pi_foreign` on another order; `pi_alone` on no order.
fn shop() -> Shop {
    let mut order = rental();
    let a = linked(&mut order, "pi_a", "manual");
    let b = linked(&mut order, "pi_b", "automatic");
    let waiting = challenge(&linked(&mut order, "pi_3ds", "manual"));
    let mut other = order_of("ord_other", vec![item("Tripod", 1, 1000)], 0);
    let foreign = linked(&mut other, "pi_foreign", "manual");
    let alone = new_intent("pi_alone")
        .create(CreateRequest {
            amount: Some(raw(TOTAL, "USD")),
            ..CreateRequest::default()
        })
        .expect("created")
        .intent;
    Shop {
        order,
        intents: vec![a, b, waiting, foreign, alone],
    }
}

impl Shop {
    /// The intents as the service hands them over: in the order named, each once, up to the
    /// first that does not exist.
    fn found(&self, ids: &[String]) -> Vec<PaymentIntent> {
        let mut found: Vec<PaymentIntent> = Vec::new();
        for id in ids {
            if found.iter().any(|i| &i.id == id) {
                continue;
            }
            match self.intents.iter().find(|i| &i.id == id) {
                Some(intent) => found.push(intent.clone()),
                None => break,
            }
        }
        found
    }

    fn pay(&self, cmd: &PayCommand) -> Result<Vec<PayShare>, Rejection> {
        decide_pay(&self.order, cmd, &self.found(&cmd.payment_intent_ids))
    }
}

/// A pay call naming `ids`, with a token for each of `tokens`, expecting `expected` USD, with the
/// shares `amounts`.
fn pay_cmd(
    ids: &[&str],
    tokens: &[&str],
    expected: i64,
    amounts: &[(&str, RawMoney)],
) -> PayCommand {
    PayCommand {
        payment_intent_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
        payment_source_tokens: tokens
            .iter()
            .map(|id| ((*id).to_owned(), format!("pm_card_visa_{id}")))
            .collect(),
        expected_amount: raw(expected, "USD"),
        payment_amounts: amounts
            .iter()
            .map(|(id, m)| ((*id).to_owned(), m.clone()))
            .collect(),
    }
}

/// The answer a pay call must get: each intent with its share, or the refusal.
type PayExpect = Result<&'static [(&'static str, i64)], (ErrorCode, Option<&'static str>)>;

const fn refused(code: ErrorCode, param: &'static str) -> PayExpect {
    Err((code, Some(param)))
}

fn usd_share(amount: i64) -> RawMoney {
    raw(amount, "USD")
}

#[test]
fn a_pay_call_is_checked_in_the_contracts_order() {
    use ErrorCode as E;
    let shop = shop();
    let ab = ["pi_a", "pi_b"];
    let split = |a: RawMoney, b: RawMoney| vec![("pi_a", a), ("pi_b", b)];
    #[rustfmt::skip]
    let rows: Vec<(PayCommand, PayExpect)> = vec![
        // One intent pays the whole balance, with or without its share.
        (pay_cmd(&["pi_a"], &["pi_a"], TOTAL, &[]), Ok(&[("pi_a", TOTAL)])),
        (pay_cmd(&["pi_a"], &["pi_a"], TOTAL, &[("pi_a", usd_share(TOTAL))]), Ok(&[("pi_a", TOTAL)])),
        (pay_cmd(&ab, &ab, TOTAL, &split(usd_share(10_000), usd_share(8_500))), Ok(&[("pi_a", 10_000), ("pi_b", 8_500)])),
        // Each id once, and each one there: whichever comes first in the list answers.
        (pay_cmd(&["pi_a", "pi_a"], &["pi_a"], TOTAL, &[]), refused(E::InvalidParameter, "payment_intent_ids")),
        (pay_cmd(&["pi_missing"], &["pi_missing"], TOTAL, &[]), refused(E::PaymentIntentNotFound, "payment_intent_ids")),
        (pay_cmd(&["pi_a", "pi_missing", "pi_a"], &["pi_a"], TOTAL, &[]), refused(E::PaymentIntentNotFound, "payment_intent_ids")),
        (pay_cmd(&["pi_a", "pi_a", "pi_missing"], &["pi_a"], TOTAL, &[]), refused(E::InvalidParameter, "payment_intent_ids")),
        // No token or share for an intent the call does not name, before anything about the order.
        (pay_cmd(&["pi_a"], &ab, 1, &[]), refused(E::InvalidParameter, "payment_intent_ids")),
        (pay_cmd(&["pi_a"], &["pi_a"], 1, &[("pi_b", usd_share(1))]), refused(E::InvalidParameter, "payment_intent_ids")),
        (pay_cmd(&[], &["pi_a"], TOTAL, &[]), refused(E::InvalidParameter, "payment_intent_ids")),
        // The balance the caller expects, to the unit and in the order's currency.
        (pay_cmd(&["pi_a"], &["pi_a"], TOTAL - 1, &[]), refused(E::OrderAmountMismatch, "expected_amount_money")),
        (pay_cmd(&["pi_foreign"], &[], 0, &[]), refused(E::OrderAmountMismatch, "expected_amount_money")),
        (PayCommand { expected_amount: raw(TOTAL, "EUR"), ..pay_cmd(&["pi_a"], &["pi_a"], TOTAL, &[]) }, refused(E::OrderAmountMismatch, "expected_amount_money")),
        (PayCommand { expected_amount: raw(TOTAL, "usd"), ..pay_cmd(&["pi_a"], &["pi_a"], TOTAL, &[]) }, refused(E::OrderAmountMismatch, "expected_amount_money")),
        (pay_cmd(&[], &[], TOTAL, &[]), refused(E::MissingParameter, "payment_intent_ids")),
        // Each intent pays this order, once, from requires_payment_method.
        (pay_cmd(&["pi_foreign"], &["pi_foreign"], TOTAL, &[]), refused(E::InvalidParameter, "payment_intent_ids")),
        (pay_cmd(&["pi_alone"], &["pi_alone"], TOTAL, &[]), refused(E::InvalidParameter, "payment_intent_ids")),
        (pay_cmd(&["pi_3ds"], &["pi_3ds"], TOTAL, &[]), refused(E::InvalidStatusForConfirm, "payment_intent_ids")),
        (pay_cmd(&["pi_a", "pi_3ds"], &[], TOTAL, &[]), refused(E::InvalidStatusForConfirm, "payment_intent_ids")),
        // With several intents each needs a share greater than zero in the order's currency, and
        // the shares add up to the balance.
        (pay_cmd(&ab, &ab, TOTAL, &[("pi_a", usd_share(TOTAL))]), refused(E::MissingParameter, "payment_amounts.pi_b")),
        (pay_cmd(&ab, &ab, TOTAL, &split(usd_share(TOTAL), usd_share(0))), refused(E::InvalidParameter, "payment_amounts.pi_b.amount")),
        (pay_cmd(&ab, &ab, TOTAL, &split(usd_share(TOTAL + 1), usd_share(-1))), refused(E::InvalidParameter, "payment_amounts.pi_b.amount")),
        (pay_cmd(&ab, &ab, TOTAL, &split(raw(10_000, "EUR"), usd_share(-1))), refused(E::OrderCurrencyMismatch, "payment_amounts.pi_a.currency")),
        (pay_cmd(&ab, &ab, TOTAL, &split(raw(-1, "usd"), usd_share(8_500))), refused(E::InvalidParameter, "payment_amounts.pi_a.currency")),
        (pay_cmd(&ab, &ab, TOTAL, &split(usd_share(10_000), usd_share(8_000))), refused(E::OrderAmountMismatch, "payment_amounts")),
        (pay_cmd(&ab, &ab, TOTAL, &split(usd_share(i64::MAX), usd_share(TOTAL))), refused(E::OrderAmountMismatch, "payment_amounts")),
        (pay_cmd(&["pi_a"], &["pi_a"], TOTAL, &[("pi_a", usd_share(100))]), refused(E::OrderAmountMismatch, "payment_amounts")),
        // Last, a card for each intent.
        (pay_cmd(&["pi_a"], &[], TOTAL, &[]), refused(E::MissingParameter, "payment_source_tokens.pi_a")),
        (pay_cmd(&ab, &["pi_a"], TOTAL, &split(usd_share(10_000), usd_share(8_500))), refused(E::MissingParameter, "payment_source_tokens.pi_b")),
    ];
    for (cmd, expect) in rows {
        let got = shop.pay(&cmd);
        match (&got, expect) {
            (Ok(shares), Ok(want)) => {
                let got: Vec<(&str, i64)> = shares
                    .iter()
                    .map(|s| (s.intent.id.as_str(), s.intent.amount.amount))
                    .collect();
                assert_eq!(got, want, "{cmd:?}");
                for share in shares {
                    let id = &share.intent.id;
                    assert_eq!(share.intent.amount.currency, usd(), "{cmd:?}");
                    assert_eq!(share.source.token, format!("pm_card_visa_{id}"));
                    assert_eq!(share.source.param, format!("payment_source_tokens.{id}"));
                    assert_eq!(share.source.payment_method_id, None);
                    // Only the amount differs from the intent as stored.
                    let stored = shop.intents.iter().find(|i| &i.id == id).expect("stored");
                    assert_eq!(
                        &PaymentIntent {
                            amount: stored.amount,
                            ..share.intent.clone()
                        },
                        stored
                    );
                }
            }
            (Err(r), Err((code, param))) => {
                assert_eq!((r.code, r.param.as_deref()), (code, param), "{cmd:?}");
            }
            (got, expect) => panic!("{cmd:?}: expected {expect:?}, got {got:?}"),
        }
    }
}

#[test]
fn a_pay_call_checks_the_order_after_the_ids() {
    let shop = shop();
    let one = pay_cmd(&["pi_a"], &["pi_a"], TOTAL, &[]);
    let paid = Order {
        paid: TOTAL,
        status: OrderStatus::Paid,
        ..shop.order.clone()
    };
    let canceled = Order {
        status: OrderStatus::Canceled,
        ..shop.order.clone()
    };
    let held = Order {
        holds: vec![OrderHold {
            payment_intent_id: "pi_b".into(),
            authorized: TOTAL,
            capturable: TOTAL,
            expires_at: LATER,
        }],
        ..shop.order.clone()
    };
    let found = shop.found(&one.payment_intent_ids);
    for order in [&paid, &canceled] {
        assert_eq!(
            rejected(decide_pay(order, &one, &found)),
            (ErrorCode::OrderNotPayable, None)
        );
    }
    assert_eq!(
        rejected(decide_pay(&held, &one, &found)),
        (ErrorCode::PaymentAttemptInProgress, None)
    );
    // Not payable comes before a hold, and before the expected balance and the intents.
    let wrong = pay_cmd(&["pi_3ds"], &[], 1, &[]);
    let paid_and_held = Order {
        holds: held.holds,
        ..paid.clone()
    };
    assert_eq!(
        rejected(decide_pay(
            &paid_and_held,
            &wrong,
            &shop.found(&wrong.payment_intent_ids)
        )),
        (ErrorCode::OrderNotPayable, None)
    );
    // A repeated id answers before the order's state.
    let twice = pay_cmd(&["pi_a", "pi_a"], &["pi_a"], TOTAL, &[]);
    assert_eq!(
        rejected(decide_pay(&paid, &twice, &found)),
        at(ErrorCode::InvalidParameter, "payment_intent_ids")
    );
}

#[test]
fn a_manual_intent_cannot_pay_an_order_with_strict_inventory() {
    // A manual intent created before strict items were added to the order.
    let mut order = rental();
    let early = linked(&mut order, "pi_early", "manual");
    let mut print = item("Limited print", 1, 5000);
    print.inventory_tracking = Some("strict".into());
    let mut order = update_order(
        &order,
        UpdateOrder {
            line_items: Some(vec![print]),
            ..UpdateOrder::default()
        },
        LATER,
    )
    .expect("editable");
    let due = order.amount_due();
    assert_eq!(due, 7_500);
    let cmd = |id: &str| pay_cmd(&[id], &[id], due, &[]);
    assert_eq!(
        rejected(decide_pay(&order, &cmd("pi_early"), &[early])),
        at(
            ErrorCode::StrictInventoryDelayedCaptureUnsupported,
            "capture_method"
        )
    );
    // An automatic one pays it.
    let auto = linked(&mut order, "pi_auto", "automatic");
    let shares = decide_pay(&order, &cmd("pi_auto"), &[auto]).expect("automatic pays");
    assert_eq!(shares[0].intent.amount, Money::new(due, usd()));
}

#[test]
fn each_authorization_of_a_pay_call_is_judged() {
    let shop = shop();
    let cmd = pay_cmd(&["pi_a"], &["pi_a"], TOTAL, &[]);
    let share = &shop.pay(&cmd).expect("payable")[0];
    let placed = hold(&share.intent);
    assert_eq!(judge_pay_step(share, &placed), Ok(PayStep::Placed));
    let settled = authorize(
        &share.intent,
        AuthorizationResult::Authorized {
            card: card(),
            processor_ref: "ch_test".into(),
            expires_at: LATER,
            captured: true,
        },
    );
    assert_eq!(judge_pay_step(share, &settled), Ok(PayStep::Placed));
    let declined = authorize(
        &share.intent,
        AuthorizationResult::Declined {
            card: Some(card()),
            error: crate::intent::PaymentError {
                code: "card_declined".into(),
                decline_code: "generic_decline".into(),
                message: "Your card was declined.".into(),
            },
        },
    );
    assert_eq!(judge_pay_step(share, &declined), Ok(PayStep::Declined));
    // A pay call cannot wait for the buyer: 3D Secure is refused, on the card's field.
    assert_eq!(
        rejected(judge_pay_step(share, &challenge(&share.intent))),
        at(
            ErrorCode::InvalidPaymentSourceToken,
            "payment_source_tokens.pi_a"
        )
    );
}

// ---- Capture through the order ------------------------------------------------------------------

#[test]
fn a_capture_through_the_order_replays_only_the_same_amount() {
    let shop = shop();
    let share = &shop
        .pay(&pay_cmd(&["pi_a"], &["pi_a"], TOTAL, &[]))
        .expect("payable")[0];
    let held = hold(&share.intent);
    let asked = |amount: Option<RawMoney>| crate::intent::CaptureRequest {
        amount,
        ..crate::intent::CaptureRequest::default()
    };
    // Before the capture, the intent's own rules decide.
    assert_eq!(
        decide_capture(&held, &asked(Some(usd_share(9_800))), LATER),
        Ok(OrderCapture::Capture(Money::new(9_800, usd())))
    );
    assert_eq!(
        rejected(decide_capture(
            &held,
            &asked(Some(usd_share(TOTAL + 1))),
            LATER
        )),
        at(
            ErrorCode::CaptureAmountExceedsAuthorized,
            "amount_money.amount"
        )
    );
    let capture_with = |amount: i64| {
        with_ctx(LATER, |ctx| {
            crate::intent::apply_capture(&held, Money::new(amount, usd()), &asked(None), ctx)
        })
        .intent
    };
    let mismatch = at(ErrorCode::CaptureAmountMismatch, "amount_money");
    // Captured in full: no amount, the same amount, or the same scheduled amount replay.
    let full = capture_with(TOTAL);
    let (none, same) = (asked(None), asked(Some(usd_share(TOTAL))));
    for capture in [
        Capture::Requested(&none),
        Capture::Requested(&same),
        Capture::Scheduled(None),
        Capture::Scheduled(Some(Money::new(TOTAL, usd()))),
    ] {
        assert_eq!(
            decide_capture(&full, capture, LATER),
            Ok(OrderCapture::Replay),
            "{capture:?}"
        );
    }
    let (less, euros, malformed) = (
        asked(Some(usd_share(TOTAL - 1))),
        asked(Some(raw(TOTAL, "EUR"))),
        asked(Some(raw(TOTAL, "usd"))),
    );
    for capture in [
        Capture::Requested(&less),
        Capture::Requested(&euros),
        Capture::Requested(&malformed),
        Capture::Scheduled(Some(Money::new(1, usd()))),
    ] {
        assert_eq!(
            rejected(decide_capture(&full, capture, LATER)),
            mismatch,
            "{capture:?}"
        );
    }
    // Captured in part: no amount stands for the whole authorization, which was not captured.
    let part = capture_with(9_800);
    assert_eq!(
        decide_capture(&part, &asked(Some(usd_share(9_800))), LATER),
        Ok(OrderCapture::Replay)
    );
    assert_eq!(
        rejected(decide_capture(&part, &asked(None), LATER)),
        mismatch
    );
}

#[test]
fn through_an_order_only_its_own_intents_exist() {
    let shop = shop();
    for intent in &shop.intents {
        let on_it = ["pi_a", "pi_b", "pi_3ds"].contains(&intent.id.as_str());
        let got = check_on_order(&shop.order, intent).map_err(|r| (r.code, r.param));
        let want = if on_it {
            Ok(())
        } else {
            Err((ErrorCode::PaymentIntentNotFound, None))
        };
        assert_eq!(got, want, "{}", intent.id);
    }
}

// ---- Editing -----------------------------------------------------------------------------------

#[test]
fn a_patch_checks_what_it_gives_and_keeps_the_rest_as_it_is() {
    let order = Order {
        discounts: vec![Discount {
            name: "Loyalty".into(),
            amount: Money::new(500, usd()),
        }],
        total: TOTAL - 500,
        ..rental()
    };
    let tip_only = UpdateOrder {
        tip: Some(Some(raw(1_000, "USD"))),
        ..UpdateOrder::default()
    };
    let next = update_order(&order, tip_only, LATER).expect("editable");
    assert_eq!(next.line_items, order.line_items);
    assert_eq!(next.discounts, order.discounts);
    assert_eq!((next.tip, next.total), (1_000, 16_000 + 1_000 - 500));
    assert_eq!((next.version, next.updated_at), (order.version + 1, LATER));

    // Removing the tip, or the discounts, leaves the other fields as they were.
    let no_tip = update_order(
        &order,
        UpdateOrder {
            tip: Some(None),
            ..UpdateOrder::default()
        },
        LATER,
    )
    .expect("editable");
    assert_eq!((no_tip.tip, no_tip.total), (0, 16_000 - 500));
    let no_discounts = update_order(
        &order,
        UpdateOrder {
            discounts: Some(Vec::new()),
            ..UpdateOrder::default()
        },
        LATER,
    )
    .expect("editable");
    assert_eq!((no_discounts.tip, no_discounts.total), (2_500, TOTAL));

    // A given field is checked in full; a total that overflows with the kept fields is refused.
    let cases = [
        (
            UpdateOrder {
                tip: Some(Some(raw(1, "EUR"))),
                ..UpdateOrder::default()
            },
            at(ErrorCode::OrderCurrencyMismatch, "tip_money.currency"),
        ),
        (
            UpdateOrder {
                tip: Some(Some(raw(-1, "USD"))),
                ..UpdateOrder::default()
            },
            at(ErrorCode::InvalidParameter, "tip_money.amount"),
        ),
        (
            UpdateOrder {
                tip: Some(Some(raw(i64::MAX, "USD"))),
                ..UpdateOrder::default()
            },
            at(ErrorCode::InvalidParameter, "line_items"),
        ),
        (
            UpdateOrder {
                line_items: Some(Vec::new()),
                ..UpdateOrder::default()
            },
            at(ErrorCode::InvalidParameter, "line_items"),
        ),
        (
            UpdateOrder {
                line_items: Some(vec![item("A", 1, 100), item("", 1, 100)]),
                ..UpdateOrder::default()
            },
            at(ErrorCode::InvalidParameter, "line_items[1].name"),
        ),
    ];
    for (req, expect) in cases {
        let label = format!("{req:?}");
        assert_eq!(
            rejected(update_order(&order, req, LATER)),
            expect,
            "{label}"
        );
    }
}

#[test]
fn order_amounts_check_the_currency_before_the_amount() {
    let with_tip = |tip: RawMoney| CreateOrder {
        currency: "USD".into(),
        financials: Financials {
            line_items: vec![item("A", 1, 100)],
            tip: Some(tip),
            discounts: Vec::new(),
        },
        ..CreateOrder::default()
    };
    let create = |req| create_order("ord_x".into(), scope(), req, T0);
    for (tip, expect) in [
        (
            raw(-1, "usd"),
            at(ErrorCode::InvalidParameter, "tip_money.currency"),
        ),
        (
            raw(-1, "EUR"),
            at(ErrorCode::OrderCurrencyMismatch, "tip_money.currency"),
        ),
        (
            raw(-1, "USD"),
            at(ErrorCode::InvalidParameter, "tip_money.amount"),
        ),
    ] {
        assert_eq!(rejected(create(with_tip(tip.clone()))), expect, "{tip:?}");
    }
    assert_eq!(
        create(with_tip(raw(0, "USD")))
            .expect("zero is a tip")
            .total,
        100
    );
    let bad_currency = CreateOrder {
        currency: "usd".into(),
        ..with_tip(raw(0, "EUR"))
    };
    assert_eq!(
        rejected(create(bad_currency)),
        at(ErrorCode::InvalidParameter, "currency")
    );
}
