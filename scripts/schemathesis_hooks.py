"""Schemathesis hooks for scripts/schemathesis.sh: steer generated requests past the refusals
that would otherwise stop almost every one of them, so the payment flows run for real.

- Card tokens. A random `payment_source_token` is refused (INVALID_PAYMENT_SOURCE_TOKEN) before
  anything happens; drawing it from the sandbox's test tokens lets confirm, capture, cancel,
  refunds and 3D Secure run. The draw is a Hypothesis strategy, so a seed replays it.
  `pm_card_captureTimeoutOnce` is left out on purpose: its first capture answers 502 by design,
  which the no-5xx check would report.
- New intents. A made-up `customer_id`, `test_clock` or `order_id` always answers 404, and an
  order id beside an amount always answers 400, so a new intent keeps only its own fields
  (the coverage phase still sends the made-up ones).
- Idempotency keys. The generator draws short keys ("0", "a") again and again, so most requests
  would answer 422 IDEMPOTENCY_KEY_REUSED. A valid key gets a per-request suffix; an invalid one
  is kept, so INVALID_IDEMPOTENCY_KEY is still exercised.
"""

import itertools

import schemathesis
from hypothesis import strategies as st

_requests = itertools.count()

TEST_TOKENS = [
    "pm_card_visa",
    "pm_card_mastercard",
    "pm_card_amex",
    "pm_card_chargeDeclined",
    "pm_card_chargeDeclinedInsufficientFunds",
    "pm_card_threeDSecure2Required",
    "pm_card_refundFails",
]


@schemathesis.hook
def flatmap_body(ctx, body):
    if not isinstance(body, dict):
        return st.just(body)
    operation = getattr(ctx, "operation", None)
    if operation is not None and (operation.method.upper(), operation.path) == ("POST", "/v1/payment-intents"):
        body = {k: v for k, v in body.items() if k not in ("customer_id", "test_clock", "order_id")}
    if isinstance(body.get("payment_source_token"), str):
        # Confirm takes a token or a saved card, not both: keep the token.
        rest = {k: v for k, v in body.items() if k != "payment_method_id"}
        return st.sampled_from(TEST_TOKENS).map(
            lambda token: {**rest, "payment_source_token": token}
        )
    tokens = body.get("payment_source_tokens")
    if isinstance(tokens, dict) and tokens:
        return st.lists(
            st.sampled_from(TEST_TOKENS), min_size=len(tokens), max_size=len(tokens)
        ).map(lambda drawn: {**body, "payment_source_tokens": dict(zip(tokens, drawn))})
    return st.just(body)


@schemathesis.hook
def map_headers(ctx, headers):
    key = (headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and 0 < len(key) <= 200 and all(" " < c <= "~" for c in key):
        headers["Idempotency-Key"] = f"{key}.{next(_requests)}"
    return headers
