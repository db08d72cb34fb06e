// The README's examples, run as a user would run them, against a real server: they must print
// what the README says they print.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { Holdfast } from "@holdfast/client";
import { packageRoot, type Server, startServer, unavailable } from "./harness.js";
import { waitFor } from "./receiver.js";

const run = promisify(execFile);

await unavailable("sqlite");

describe("README examples", () => {
  let server: Server;
  let receiver: ChildProcess | undefined;
  before(async () => {
    server = await startServer("sqlite");
  });
  after(async () => {
    receiver?.kill("SIGTERM");
    await server?.stop();
  });

  it("examples/quickstart.mjs runs the quickstart flow", async () => {
    const { stdout } = await run(process.execPath, [path.join(packageRoot, "examples", "quickstart.mjs")], {
      cwd: packageRoot,
      env: { ...process.env, HOLDFAST_API_KEY: server.apiKey, HOLDFAST_API_URL: server.baseUrl },
    });
    const lines = stdout.trim().split("\n");
    assert.equal(lines.length, 3, stdout);
    assert.equal(lines[0], "succeeded 9800 3100 0");
    assert.match(lines[1] ?? "", /^400 INVALID_STATUS_FOR_CAPTURE req_[A-Za-z0-9]+$/);
    assert.match(lines[2] ?? "", /^listed pi_[A-Za-z0-9]+$/);
  });

  it("examples/webhook-receiver.mjs verifies real deliveries", async () => {
    const port = await freePort();
    const holdfast = new Holdfast({ apiKey: server.apiKey, baseUrl: server.baseUrl });
    const endpoint = await holdfast.webhookEndpoints.create({
      url: `http://127.0.0.1:${port}/webhooks`,
      enabled_events: ["payment_intent.succeeded"],
    });
    let out = "";
    receiver = spawn(process.execPath, [path.join(packageRoot, "examples", "webhook-receiver.mjs")], {
      cwd: packageRoot,
      env: { ...process.env, PORT: String(port), HOLDFAST_WEBHOOK_SECRET: endpoint.secret },
      stdio: ["ignore", "pipe", "inherit"],
    });
    receiver.stdout?.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    await waitFor(() => (out.includes("listening on") ? true : undefined), 5_000);

    const { payment_intent } = await holdfast.paymentIntents.create({
      amount_money: { amount: 12900, currency: "USD" },
      capture_method: "automatic",
      auto_confirm: true,
      payment_source_token: "pm_card_visa",
    });
    assert.equal(payment_intent.status, "succeeded");
    const line = await waitFor(
      () => out.split("\n").find((l) => l.startsWith("payment_intent.succeeded ")),
      15_000,
    );
    const [, eventId, intentId, version, freshness] = line.split(" ");
    assert.match(eventId ?? "", /^evt_/);
    assert.equal(intentId, payment_intent.payment_intent_id);
    assert.equal(Number(version), payment_intent.version);
    assert.equal(freshness, "newest");
    const deliveries = await waitFor(async () => {
      const list = await holdfast.events.listDeliveries(eventId ?? "");
      return list[0]?.status === "delivered" ? list : undefined;
    }, 10_000);
    assert.equal(deliveries[0]?.attempts[0]?.status_code, 204);
  });
});

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
