// Retries, idempotency keys and their bounds, against real `holdfast serve` processes on SQLite
// (what is tested here is the client's behaviour; the backends are covered in client.test.ts).
// 429 and 503 come from the real server's guard rails; a lost answer and a dropped connection
// come from a local proxy in front of it.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, describe, it } from "node:test";
import { Holdfast, HoldfastConnectionError, HoldfastError } from "@holdfast/client";
import { type Server, startServer, unavailable } from "./harness.js";
import { holdRequestSlot, recordingFetch, startFlakyProxy } from "./proxy.js";

const usd = (amount: number) => ({ amount, currency: "USD" as const });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function refused(promise: Promise<unknown>): Promise<HoldfastError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof HoldfastError, `expected a HoldfastError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the call to be refused");
}

await unavailable("sqlite");

describe("retries on 429 from a rate-limited server", () => {
  let server: Server;
  before(async () => {
    server = await startServer("sqlite", ["--rate-limit", "1", "--rate-burst", "1"]);
  });
  after(async () => server?.stop());

  it("waits Retry-After and retries with the same key, within bounds", async () => {
    const { fetch, attempts } = recordingFetch();
    const holdfast = new Holdfast({ apiKey: server.apiKey, baseUrl: server.baseUrl, fetch });

    const body = { amount_money: usd(12900), capture_method: "manual" as const };
    await holdfast.paymentIntents.create(body); // takes the bucket's one token
    const started = Date.now();
    const second = await holdfast.paymentIntents.create(body);
    const waited = Date.now() - started;
    assert.equal(second.payment_intent.status, "requires_payment_method");
    assert.deepEqual(
      attempts.map((a) => a.status),
      [201, 429, 201],
    );
    assert.match(attempts[1]?.key ?? "", UUID);
    assert.equal(attempts[2]?.key, attempts[1]?.key, "the retry reuses the key");
    assert.notEqual(attempts[0]?.key, attempts[1]?.key, "each call has its own key");
    assert.ok(waited >= 900, `waited ${waited} ms for Retry-After: 1`);

    // Without retries the 429 is thrown, typed.
    const limited = await refused(holdfast.paymentIntents.list({}, { maxRetries: 0 }));
    assert.equal(limited.status, 429);
    assert.equal(limited.code, "RATE_LIMITED");
    assert.ok((limited.retryAfterSeconds ?? 0) >= 1);
    assert.equal(limited.headers.get("ratelimit-limit"), "1");

    // A Retry-After beyond the bound is not waited for.
    const before = attempts.length;
    const tooLong = await refused(holdfast.paymentIntents.list({}, { maxRetryAfterSeconds: 0 }));
    assert.equal(tooLong.code, "RATE_LIMITED");
    assert.equal(attempts.length - before, 1);
  });
});

describe("retries on 503 from an overloaded server", () => {
  let server: Server;
  before(async () => {
    server = await startServer("sqlite", ["--max-concurrent-requests", "1"]);
  });
  after(async () => server?.stop());

  it("retries OVERLOADED with the same key once a place is free", async () => {
    const { fetch, attempts } = recordingFetch();
    const holdfast = new Holdfast({ apiKey: server.apiKey, baseUrl: server.baseUrl, fetch });
    const slot = await holdRequestSlot(server.baseUrl, server.apiKey);
    setTimeout(() => slot.release(), 300);
    const created = await holdfast.paymentIntents.create(
      { amount_money: usd(4200), capture_method: "manual" },
      { idempotencyKey: "overloaded-create-1" },
    );
    assert.deepEqual(created.payment_intent.amount_money, usd(4200));
    assert.deepEqual(
      attempts.map((a) => [a.status, a.key]),
      [
        [503, "overloaded-create-1"],
        [201, "overloaded-create-1"],
      ],
    );
  });

  it("gives up after maxRetries and throws the 503", async () => {
    const { fetch, attempts } = recordingFetch();
    const holdfast = new Holdfast({ apiKey: server.apiKey, baseUrl: server.baseUrl, fetch, maxRetries: 1 });
    const slot = await holdRequestSlot(server.baseUrl, server.apiKey);
    try {
      const error = await refused(holdfast.paymentIntents.create({ amount_money: usd(100), capture_method: "manual" }));
      assert.equal(error.status, 503);
      assert.equal(error.code, "OVERLOADED");
      assert.equal(error.retryAfterSeconds, 1);
      assert.deepEqual(
        attempts.map((a) => a.status),
        [503, 503],
      );
      assert.equal(attempts[1]?.key, error.idempotencyKey);
    } finally {
      slot.release();
    }
  });
});

describe("retries through a flaky network", () => {
  let server: Server;
  let direct: Holdfast;
  before(async () => {
    server = await startServer("sqlite");
    direct = new Holdfast({ apiKey: server.apiKey, baseUrl: server.baseUrl });
  });
  after(async () => server?.stop());

  async function hold(amount: number) {
    const { payment_intent } = await direct.paymentIntents.create({ amount_money: usd(amount), capture_method: "manual" });
    return direct.paymentIntents.confirm(payment_intent.payment_intent_id, { payment_source_token: "pm_card_visa" });
  }

  it("replays a capture whose answer was lost, never capturing twice", async () => {
    const pi = await hold(12900);
    const proxy = await startFlakyProxy(server.baseUrl, ["drop-after"]);
    try {
      const holdfast = new Holdfast({ apiKey: server.apiKey, baseUrl: proxy.url });
      const captured = await holdfast.paymentIntents.capture(pi.payment_intent_id, { amount_money: usd(9800) });
      assert.equal(captured.status, "succeeded");
      assert.equal(captured.captured_amount_money.amount, 9800);
      assert.equal(captured.released_amount_money.amount, 3100);
      assert.equal(captured.capturable_amount_money.amount, 0);
      assert.equal(proxy.seen.length, 2);
      assert.match(proxy.seen[0]?.key ?? "", UUID);
      assert.equal(proxy.seen[1]?.key, proxy.seen[0]?.key);
      assert.deepEqual(
        proxy.seen.map((s) => [s.upstreamStatus, s.replayed]),
        [
          [200, null],
          [200, "true"],
        ],
      );
      const actions = await direct.paymentIntents.listActions(pi.payment_intent_id);
      assert.deepEqual(
        actions.filter((a) => a.type === "capture").map((a) => a.amount_money.amount),
        [9800],
      );
    } finally {
      await proxy.close();
    }
  });

  it("retries a dropped connection and 409 IDEMPOTENCY_KEY_IN_USE with the caller's key", async () => {
    const pi = await hold(5000);
    const proxy = await startFlakyProxy(server.baseUrl, [
      "drop-before",
      { status: 409, code: "IDEMPOTENCY_KEY_IN_USE", retryAfter: "0" },
    ]);
    try {
      const holdfast = new Holdfast({ apiKey: server.apiKey, baseUrl: proxy.url });
      const canceled = await holdfast.paymentIntents.cancel(
        pi.payment_intent_id,
        { cancellation_reason: "requested_by_customer" },
        { idempotencyKey: "cancel-5000" },
      );
      assert.equal(canceled.status, "canceled");
      assert.equal(canceled.released_amount_money.amount, 5000);
      assert.deepEqual(
        proxy.seen.map((s) => s.key),
        ["cancel-5000", "cancel-5000", "cancel-5000"],
      );
      assert.deepEqual(
        proxy.seen.map((s) => s.upstreamStatus),
        [undefined, undefined, 200],
      );
    } finally {
      await proxy.close();
    }
  });

  it("never retries any other 4xx", async () => {
    const pi = await hold(3000);
    const proxy = await startFlakyProxy(server.baseUrl, [
      "pass",
      { status: 409, code: "ORDER_NOT_PAYABLE", retryAfter: "0" },
    ]);
    try {
      const holdfast = new Holdfast({ apiKey: server.apiKey, baseUrl: proxy.url });
      // A real 400 from the server: one attempt.
      const over = await refused(holdfast.paymentIntents.capture(pi.payment_intent_id, { amount_money: usd(3001) }));
      assert.equal(over.code, "CAPTURE_AMOUNT_EXCEEDS_AUTHORIZED");
      assert.equal(proxy.seen.length, 1);
      // A 409 that is not IDEMPOTENCY_KEY_IN_USE: one attempt.
      const conflict = await refused(holdfast.paymentIntents.capture(pi.payment_intent_id));
      assert.equal(conflict.status, 409);
      assert.equal(conflict.code, "ORDER_NOT_PAYABLE");
      assert.equal(proxy.seen.length, 2);
      // A GET carries no key.
      await holdfast.paymentIntents.retrieve(pi.payment_intent_id);
      assert.equal(proxy.seen[2]?.key, undefined);
    } finally {
      await proxy.close();
    }
  });

  it("throws HoldfastConnectionError after a bounded number of attempts", async () => {
    const port = await closedPort();
    const { fetch, attempts } = recordingFetch();
    const holdfast = new Holdfast({ apiKey: server.apiKey, baseUrl: `http://127.0.0.1:${port}`, fetch });
    const error = await holdfast.paymentIntents
      .create({ amount_money: usd(100), capture_method: "manual" })
      .then(() => assert.fail("no server listens there"), (e: unknown) => e);
    assert.ok(error instanceof HoldfastConnectionError);
    assert.equal(error.attempts, 3);
    assert.match(error.idempotencyKey ?? "", UUID);
    assert.deepEqual(
      attempts.map((a) => [a.status, a.key]),
      Array(3).fill(["network error", error.idempotencyKey]),
    );
  });

  it("stops retrying when the caller aborts", async () => {
    const proxy = await startFlakyProxy(server.baseUrl, [{ status: 503, code: "SERVICE_UNAVAILABLE", retryAfter: "5" }]);
    try {
      const holdfast = new Holdfast({ apiKey: server.apiKey, baseUrl: proxy.url });
      const started = Date.now();
      const error = await holdfast.paymentIntents
        .list({}, { signal: AbortSignal.timeout(300) })
        .then(() => assert.fail("aborted"), (e: unknown) => e);
      assert.equal((error as Error).name, "TimeoutError");
      assert.ok(Date.now() - started < 3000);
      assert.equal(proxy.seen.length, 1);
    } finally {
      await proxy.close();
    }
  });
});

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
