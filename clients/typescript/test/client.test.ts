// The client against a real `holdfast serve`, once on SQLite and once on PostgreSQL: the
// quickstart flow, idempotent replays, typed errors, a decline, pagination and a verified
// webhook delivery. Every assertion is on exact statuses, codes and money fields.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  Holdfast,
  HoldfastError,
  type PaymentIntent,
  verifyWebhook,
  WebhookVerificationError,
} from "@holdfast/client";
import { backends, type Server, startServer, unavailable } from "./harness.js";
import { startReceiver, waitFor } from "./receiver.js";

const usd = (amount: number) => ({ amount, currency: "USD" as const });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Awaits `promise`, which must throw a `HoldfastError`, and hands the error back. */
async function refused(promise: Promise<unknown>): Promise<HoldfastError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof HoldfastError, `expected a HoldfastError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the call to be refused");
}

function assertMoney(pi: PaymentIntent, expected: Record<string, number>) {
  const actual = {
    authorized: pi.authorized_amount_money.amount,
    captured: pi.captured_amount_money.amount,
    released: pi.released_amount_money.amount,
    capturable: pi.capturable_amount_money.amount,
  };
  assert.deepEqual(actual, expected);
  assert.equal(actual.captured + actual.released + actual.capturable, actual.authorized);
}

for (const backend of backends()) {
  const skip = await unavailable(backend);
  describe(`client on ${backend}`, { skip }, () => {
    let server: Server;
    let holdfast: Holdfast;

    before(async () => {
      server = await startServer(backend);
      holdfast = new Holdfast({ apiKey: server.apiKey, baseUrl: server.baseUrl });
    });
    after(async () => {
      await server?.stop();
    });

    /** A confirmed manual hold of `amount` cents. */
    async function hold(amount: number): Promise<PaymentIntent> {
      const { payment_intent } = await holdfast.paymentIntents.create({
        amount_money: usd(amount),
        capture_method: "manual",
      });
      return holdfast.paymentIntents.confirm(payment_intent.payment_intent_id, {
        payment_source_token: "pm_card_visa",
      });
    }

    it("runs the quickstart: hold 129.00, capture 98.00", async () => {
      const created = await holdfast.paymentIntents.create({
        amount_money: usd(12900),
        capture_method: "manual",
      });
      const id = created.payment_intent.payment_intent_id;
      assert.match(id, /^pi_[A-Za-z0-9]+$/);
      assert.equal(created.payment_intent.status, "requires_payment_method");
      assert.deepEqual(created.payment_intent.amount_money, usd(12900));
      assert.match(created.client_confirmation.client_secret, /./);

      const confirmed = await holdfast.paymentIntents.confirm(id, { payment_source_token: "pm_card_visa" });
      assert.equal(confirmed.status, "requires_capture");
      assertMoney(confirmed, { authorized: 12900, captured: 0, released: 0, capturable: 12900 });
      assert.equal(confirmed.payment_method_last_four, "4242");

      const captured = await holdfast.paymentIntents.capture(id, { amount_money: usd(9800) });
      assert.equal(captured.status, "succeeded");
      assertMoney(captured, { authorized: 12900, captured: 9800, released: 3100, capturable: 0 });

      const again = await holdfast.paymentIntents.retrieve(id);
      assert.deepEqual(again, captured);

      const actions = await holdfast.paymentIntents.listActions(id);
      assert.deepEqual(
        actions.map((a) => [a.type, a.amount_money.amount, a.status]),
        [
          ["authorization", 12900, "succeeded"],
          ["capture", 9800, "succeeded"],
        ],
      );
    });

    it("replays a keyed retry instead of capturing twice", async () => {
      const pi = await hold(5000);
      const key = `capture-${pi.payment_intent_id}`;
      const first = await holdfast.paymentIntents.capture(pi.payment_intent_id, { amount_money: usd(4000) }, { idempotencyKey: key });
      const second = await holdfast.paymentIntents.capture(pi.payment_intent_id, { amount_money: usd(4000) }, { idempotencyKey: key });
      assert.deepEqual(second, first);
      assertMoney(second, { authorized: 5000, captured: 4000, released: 1000, capturable: 0 });

      // The raw client shows the replay header, and sends the same key the typed layer did.
      const raw = await holdfast.raw.POST("/v1/payment-intents/{id}/capture", {
        params: { path: { id: pi.payment_intent_id }, header: { "Idempotency-Key": key } },
        body: { amount_money: usd(4000) },
      });
      assert.equal(raw.response.status, 200);
      assert.equal(raw.response.headers.get("Idempotent-Replayed"), "true");
      assert.deepEqual(raw.data?.data, first);

      // The same key with another request is refused, and says so.
      const reused = await refused(
        holdfast.paymentIntents.capture(pi.payment_intent_id, { amount_money: usd(4500) }, { idempotencyKey: key }),
      );
      assert.equal(reused.status, 422);
      assert.equal(reused.code, "IDEMPOTENCY_KEY_REUSED");
      assert.equal(reused.idempotencyKey, key);

      const actions = await holdfast.paymentIntents.listActions(pi.payment_intent_id);
      assert.equal(actions.filter((a) => a.type === "capture").length, 1);
    });

    it("sends twins with one key concurrently and gets one capture", async () => {
      const pi = await hold(7000);
      const key = `twin-${pi.payment_intent_id}`;
      const [a, b] = await Promise.all([
        holdfast.paymentIntents.capture(pi.payment_intent_id, {}, { idempotencyKey: key }),
        holdfast.paymentIntents.capture(pi.payment_intent_id, {}, { idempotencyKey: key }),
      ]);
      assert.deepEqual(a, b);
      assertMoney(a, { authorized: 7000, captured: 7000, released: 0, capturable: 0 });
      const actions = await holdfast.paymentIntents.listActions(pi.payment_intent_id);
      assert.equal(actions.filter((x) => x.type === "capture").length, 1);
    });

    it("throws a typed error for a refused capture", async () => {
      const pi = await hold(12900);
      await holdfast.paymentIntents.capture(pi.payment_intent_id);
      // A fresh key each call: the second capture is a new request, and the hold is gone.
      const error = await refused(holdfast.paymentIntents.capture(pi.payment_intent_id));
      assert.equal(error.status, 400);
      assert.equal(error.code, "INVALID_STATUS_FOR_CAPTURE");
      assert.equal(error.param, undefined);
      assert.match(error.request_id ?? "", /^req_[A-Za-z0-9]+$/);
      assert.equal(error.headers.get("x-request-id"), error.request_id);
      assert.match(error.idempotencyKey ?? "", UUID);
      assert.equal(error.message, error.error?.message);
      assert.equal(error.decline_code, undefined);
    });

    it("names the field at fault in param", async () => {
      const pi = await hold(12900);
      const over = await refused(
        holdfast.paymentIntents.capture(pi.payment_intent_id, { amount_money: usd(13000) }),
      );
      assert.equal(over.status, 400);
      assert.equal(over.code, "CAPTURE_AMOUNT_EXCEEDS_AUTHORIZED");
      assert.equal(over.param, "amount_money.amount");
      assert.match(over.request_id ?? "", /^req_/);

      const negative = await refused(
        holdfast.paymentIntents.create({ amount_money: usd(-5), capture_method: "manual" }),
      );
      assert.equal(negative.status, 400);
      assert.equal(negative.code, "INVALID_PARAMETER");
      assert.equal(negative.param, "amount_money.amount");

      const still = await holdfast.paymentIntents.retrieve(pi.payment_intent_id);
      assertMoney(still, { authorized: 12900, captured: 0, released: 0, capturable: 12900 });

      const missing = await refused(holdfast.paymentIntents.retrieve("pi_doesnotexist"));
      assert.equal(missing.status, 404);
      assert.equal(missing.code, "PAYMENT_INTENT_NOT_FOUND");
      assert.equal(missing.idempotencyKey, undefined);
    });

    it("reports a decline with its decline_code", async () => {
      const { payment_intent } = await holdfast.paymentIntents.create({
        amount_money: usd(2500),
        capture_method: "manual",
      });
      const id = payment_intent.payment_intent_id;
      const declined = await refused(
        holdfast.paymentIntents.confirm(id, { payment_source_token: "pm_card_chargeDeclined" }),
      );
      assert.equal(declined.status, 402);
      assert.equal(declined.code, "CARD_DECLINED");
      assert.equal(declined.decline_code, "generic_decline");
      assert.equal(declined.payment_intent_id, id);
      assert.match(declined.request_id ?? "", /^req_/);

      const after = await holdfast.paymentIntents.retrieve(id);
      assert.equal(after.status, "requires_payment_method");
      assert.deepEqual(after.last_payment_error, {
        code: "CARD_DECLINED",
        decline_code: "generic_decline",
        message: declined.message,
      });
      assertMoney(after, { authorized: 0, captured: 0, released: 0, capturable: 0 });
    });

    it("pages through lists with an async iterator", async () => {
      // A merchant of its own, so the list holds exactly what this test made.
      const own = new Holdfast({ apiKey: await server.newMerchantKey("pages"), baseUrl: server.baseUrl });
      const made: string[] = [];
      for (let i = 1; i <= 7; i++) {
        const { payment_intent } = await own.paymentIntents.create({
          amount_money: usd(1000 + i),
          capture_method: "manual",
        });
        made.push(payment_intent.payment_intent_id);
      }
      for (const id of made.slice(0, 2)) {
        await own.paymentIntents.confirm(id, { payment_source_token: "pm_card_visa" });
      }

      const first = await own.paymentIntents.list({ limit: 3 });
      assert.equal(first.data.length, 3);
      assert.equal(first.has_more, true);
      assert.equal(typeof first.next_cursor, "string");

      // Walked by hand: 3 + 3 + 1, and the last page says there is no more.
      const sizes: number[] = [];
      let cursor: string | undefined;
      for (;;) {
        const page = await own.paymentIntents.list({ limit: 3, ...(cursor ? { cursor } : {}) });
        sizes.push(page.data.length);
        if (!page.has_more) {
          assert.equal(page.next_cursor ?? null, null);
          break;
        }
        cursor = page.next_cursor ?? undefined;
      }
      assert.deepEqual(sizes, [3, 3, 1]);

      const all: string[] = [];
      for await (const pi of own.paymentIntents.listAll({ limit: 3 })) all.push(pi.payment_intent_id);
      assert.equal(all.length, 7);
      assert.deepEqual([...all].sort(), [...made].sort());
      assert.equal(new Set(all).size, 7);

      const holds: number[] = [];
      for await (const pi of own.paymentIntents.listAll({ status: "requires_capture", limit: 1 })) {
        holds.push(pi.capturable_amount_money.amount);
      }
      assert.deepEqual(holds.sort(), [1001, 1002]);

      // Events page the same way.
      const types: string[] = [];
      for await (const event of own.events.listAll({ payment_intent_id: made[0], limit: 1 })) {
        types.push(event.type);
      }
      assert.deepEqual(types.sort(), ["payment_intent.created", "payment_intent.requires_capture"]);
    });

    it("delivers a webhook whose signature verifies", async () => {
      const receiver = await startReceiver();
      try {
        const endpoint = await holdfast.webhookEndpoints.create({
          url: receiver.url,
          enabled_events: ["payment_intent.succeeded"],
        });
        assert.match(endpoint.webhook_endpoint_id, /^we_/);
        const secret = endpoint.secret ?? assert.fail("the secret is shown at creation");
        assert.match(secret, /^whsec_/);
        const shownAgain = await holdfast.webhookEndpoints.retrieve(endpoint.webhook_endpoint_id);
        assert.equal(shownAgain.secret, undefined);

        const pi = await hold(12900);
        await holdfast.paymentIntents.capture(pi.payment_intent_id, { amount_money: usd(9800) });

        const delivery = await waitFor(
          () => receiver.received.find((r) => r.body.includes(pi.payment_intent_id)),
          15_000,
        );
        const event = verifyWebhook(delivery.body, delivery.headers, secret);
        assert.equal(event.type, "payment_intent.succeeded");
        assert.equal(event.id, delivery.headers["webhook-id"]);
        const object = event.data.object as PaymentIntent;
        assert.equal(object.payment_intent_id, pi.payment_intent_id);
        assertMoney(object, { authorized: 12900, captured: 9800, released: 3100, capturable: 0 });
        // The same check through the class, with fetch-style headers.
        assert.deepEqual(
          Holdfast.webhooks.verify(delivery.body, new Headers(delivery.headers as Record<string, string>), secret),
          event,
        );

        // A changed body, or another secret, does not verify.
        assert.throws(
          () => verifyWebhook(delivery.body.replace("9800", "9900"), delivery.headers, secret),
          WebhookVerificationError,
        );
        assert.throws(
          () => verifyWebhook(delivery.body, delivery.headers, `whsec_${Buffer.alloc(32, 7).toString("base64")}`),
          WebhookVerificationError,
        );

        // The server recorded the delivery as the receiver answered it.
        const deliveries = await waitFor(async () => {
          const list = await holdfast.events.listDeliveries(event.id);
          return list.find((d) => d.status === "delivered") ? list : undefined;
        }, 10_000);
        assert.equal(deliveries.length, 1);
        assert.equal(deliveries[0]?.webhook_endpoint_id, endpoint.webhook_endpoint_id);
        assert.equal(deliveries[0]?.attempts[0]?.status_code, 200);

        const deleted = await holdfast.webhookEndpoints.delete(endpoint.webhook_endpoint_id);
        assert.deepEqual(deleted, { webhook_endpoint_id: endpoint.webhook_endpoint_id, deleted: true });
      } finally {
        await receiver.close();
      }
    });
  });
}
