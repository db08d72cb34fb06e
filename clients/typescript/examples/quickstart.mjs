// The quickstart with the TypeScript client: hold 129.00, capture 98.00.
// Run: HOLDFAST_API_KEY=sk_test_… HOLDFAST_API_URL=http://127.0.0.1:8080 node examples/quickstart.mjs
import { Holdfast, HoldfastError } from "@holdfast/client";

const holdfast = new Holdfast({
  apiKey: process.env.HOLDFAST_API_KEY,
  baseUrl: process.env.HOLDFAST_API_URL ?? "http://127.0.0.1:8080",
});

// 1. A manual-capture intent. Every POST gets an Idempotency-Key; retries reuse it.
const { payment_intent } = await holdfast.paymentIntents.create({
  amount_money: { amount: 12900, currency: "USD" },
  capture_method: "manual",
});
const id = payment_intent.payment_intent_id;

// 2. Confirm with a test card: this places the hold (status requires_capture).
await holdfast.paymentIntents.confirm(id, { payment_source_token: "pm_card_visa" });

// 3. Capture 98.00 of the 129.00 hold; the other 31.00 goes back to the buyer.
const captured = await holdfast.paymentIntents.capture(
  id,
  { amount_money: { amount: 9800, currency: "USD" } },
  { idempotencyKey: `capture-${id}` }, // your own key makes a retry after *your* crash safe too
);
console.log(
  captured.status, // "succeeded"
  captured.captured_amount_money.amount, // 9800
  captured.released_amount_money.amount, // 3100
  captured.capturable_amount_money.amount, // 0
);

// 4. A refused call throws a HoldfastError with the envelope's fields.
try {
  await holdfast.paymentIntents.capture(id);
} catch (error) {
  if (!(error instanceof HoldfastError)) throw error;
  console.log(error.status, error.code, error.request_id); // 400 INVALID_STATUS_FOR_CAPTURE req_…
}

// 5. Lists page by themselves.
for await (const pi of holdfast.paymentIntents.listAll({ status: "succeeded", limit: 50 })) {
  if (pi.payment_intent_id === id) console.log("listed", pi.payment_intent_id);
}
