// The hosted payment page in a real browser: headless Chromium against a real `holdfast serve`,
// once on SQLite and once on PostgreSQL. A buyer pays checkout sessions with each of the
// sandbox's test cards (approve; decline, then another card; 3D Secure failed, then completed),
// lands on the merchant's success page, finds an expired or paid session closed, and cannot pay
// twice with a double submit or a second tab. The pay page's screenshot goes to screenshots/.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { startServer, launchBrowser, withScreenshots, postgresReachable, SCREENSHOTS } from "./harness.js";

const wanted = (process.env.HOLDFAST_E2E_BACKENDS ?? "sqlite,postgres").split(",");
const backends = wanted.filter((b) => b !== "postgres" || postgresReachable());

/** The merchant's own site: a success page and a cart page, on another origin than Holdfast. */
async function merchantSite() {
  const site = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><title>Shop</title><h1>${req.url.startsWith("/thanks") ? "Thank you" : "Your cart"}</h1>`);
  });
  await new Promise((r) => site.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${site.address().port}`;
  return { base, close: () => new Promise((r) => site.close(r)) };
}

for (const backend of backends) {
  describe(`hosted pay page on ${backend}`, () => {
    let server;
    let browser;
    let shop;
    before(async () => {
      server = await startServer(backend);
      browser = await launchBrowser();
      shop = await merchantSite();
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
      await shop?.close();
    });
    const test = (name, body) => it(name, () => withScreenshots(browser, `${backend}-hosted-${name}`, body));

    async function session(amount, extra = {}) {
      const res = await server.api("POST", "/v1/checkout-sessions", {
        amount_money: { amount, currency: "USD" },
        description: "Camera rental, one day",
        success_url: `${shop.base}/thanks`,
        cancel_url: `${shop.base}/cart`,
        ...extra,
      });
      assert.equal(res.status, 201, res.text);
      return res.json.data;
    }

    async function fillCard(page, number) {
      await page.getByLabel("Card number").fill(number);
      await page.getByLabel("Expiry").fill("12 / 34");
      await page.getByLabel("Security code").fill("123");
    }

    async function state(id) {
      const res = await server.api("GET", `/v1/checkout-sessions/${id}`);
      assert.equal(res.status, 200, res.text);
      return res.json.data;
    }

    test("4242 4242 4242 4242 pays and lands on the success page", async () => {
      const cs = await session(2500);
      const page = await browser.context.newPage();
      await page.goto(cs.url);
      await page.getByText("Test mode.").waitFor();
      await page.getByRole("heading", { name: "25.00 USD" }).waitFor();
      await page.getByText("Camera rental, one day").waitFor();
      if (backend === backends[0]) {
        mkdirSync(join(SCREENSHOTS, "hosted"), { recursive: true });
        await page.screenshot({ path: join(SCREENSHOTS, "hosted", "pay-page.png") });
      }
      await fillCard(page, "4242 4242 4242 4242");
      await page.getByRole("button", { name: "Pay 25.00 USD" }).click();
      await page.waitForURL(`${shop.base}/thanks?checkout_session_id=${cs.checkout_session_id}`);
      await page.getByRole("heading", { name: "Thank you" }).waitFor();
      const done = await state(cs.checkout_session_id);
      assert.equal(done.status, "complete");
      const intent = await server.intent(done.payment_intent_id);
      assert.equal(intent.status, "succeeded");
      assert.equal(intent.source, "checkout_session");
      assert.equal(intent.captured_amount_money.amount, 2500);
      // Coming back shows the payment made, and no form.
      await page.goto(cs.url);
      await page.getByRole("heading", { name: "Payment complete" }).waitFor();
      assert.equal(await page.getByLabel("Card number").count(), 0);
      await page.close();
    });

    test("a declined card shows why, and another card pays", async () => {
      const cs = await session(4000);
      const page = await browser.context.newPage();
      await page.goto(cs.url);
      await fillCard(page, "4000 0000 0000 0002");
      await page.getByRole("button", { name: /^Pay/ }).click();
      await page.getByRole("alert").filter({ hasText: "Your card was declined" }).waitFor();
      assert.equal((await state(cs.checkout_session_id)).status, "open");
      await fillCard(page, "4242424242424242");
      await page.getByRole("button", { name: /^Pay/ }).click();
      await page.waitForURL(/\/thanks\?checkout_session_id=/);
      const done = await state(cs.checkout_session_id);
      assert.equal(done.status, "complete");
      const intents = await server.api("GET", "/v1/payment-intents?limit=100");
      assert.equal(intents.json.data.filter((i) => i.payment_intent_id === done.payment_intent_id).length, 1);
      await page.close();
    });

    test("3D Secure: Fail shows a message, Complete pays", async () => {
      const cs = await session(6100);
      const page = await browser.context.newPage();
      await page.goto(cs.url);
      await fillCard(page, "4000 0027 6000 3184");
      await page.getByRole("button", { name: /^Pay/ }).click();
      await page.getByRole("heading", { name: "Authenticate your payment" }).waitFor();
      await page.getByText("Test mode.").waitFor();
      await page.getByRole("button", { name: "Fail" }).click();
      await page.getByRole("alert").filter({ hasText: "authentication did not succeed" }).waitFor();
      await fillCard(page, "4000 0027 6000 3184");
      await page.getByRole("button", { name: /^Pay/ }).click();
      await page.getByRole("button", { name: "Complete" }).click();
      await page.waitForURL(/\/thanks\?checkout_session_id=/);
      assert.equal((await state(cs.checkout_session_id)).status, "complete");
      await page.close();
    });

    test("an expired session shows it and takes no payment", async () => {
      const cs = await session(1500);
      const page = await browser.context.newPage();
      await page.goto(cs.url);
      await fillCard(page, "4242424242424242");
      const expired = await server.api("POST", `/v1/checkout-sessions/${cs.checkout_session_id}/expire`, {});
      assert.equal(expired.status, 200, expired.text);
      await page.getByRole("button", { name: /^Pay/ }).click();
      await page.getByRole("heading", { name: "This payment page has expired" }).waitFor();
      const after = await state(cs.checkout_session_id);
      assert.equal(after.status, "expired");
      assert.equal(after.payment_intent_id, null);
      await page.close();
    });

    test("a double submit and a second tab charge once", async () => {
      const cs = await session(3300);
      const first = await browser.context.newPage();
      const second = await browser.context.newPage();
      await first.goto(cs.url);
      await second.goto(cs.url);
      // The same form sent twice at once, as a double click on a slow network would.
      await fillCard(first, "4242424242424242");
      const statuses = await first.evaluate(async () => {
        const form = document.querySelector("form.pay-form");
        const body = new URLSearchParams(new FormData(form));
        const send = () => fetch(form.action, { method: "POST", body, redirect: "manual" }).then((r) => r.type === "opaqueredirect" ? 303 : r.status);
        return Promise.all([send(), send()]);
      });
      assert.deepEqual(statuses, [303, 303]);
      // The other tab's form, still open, finds the session paid.
      await fillCard(second, "5555 5555 5555 4444");
      await second.getByRole("button", { name: /^Pay/ }).click();
      await second.getByRole("heading", { name: "Payment complete" }).waitFor();
      const done = await state(cs.checkout_session_id);
      assert.equal(done.status, "complete");
      const intent = await server.intent(done.payment_intent_id);
      assert.equal(intent.captured_amount_money.amount, 3300);
      assert.equal(intent.payment_method_last_four, "4242");
      const succeeded = await server.api("GET", "/v1/events?type=payment_intent.succeeded&limit=100");
      assert.equal(succeeded.json.data.filter((e) => e.data.object.payment_intent_id === intent.payment_intent_id).length, 1);
      const completed = await server.api("GET", "/v1/events?type=checkout_session.completed&limit=100");
      assert.equal(completed.json.data.filter((e) => e.data.object.checkout_session_id === cs.checkout_session_id).length, 1);
      await first.close();
      await second.close();
    });
  });
}
