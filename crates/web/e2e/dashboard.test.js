// The dashboard in a real browser: headless Chromium against a real `holdfast serve`, once on
// SQLite and once on PostgreSQL. Each test saves screenshots of its pages when it fails
// (artifacts/), and the last one saves a screenshot of every page (screenshots/).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  startServer, launchBrowser, signIn, withScreenshots, postgresReachable, SCREENSHOTS, PASSWORD,
} from "./harness.js";

// HOLDFAST_E2E_BACKENDS=sqlite runs one backend while iterating; CI runs both.
const wanted = (process.env.HOLDFAST_E2E_BACKENDS ?? "sqlite,postgres").split(",");
const backends = wanted.filter((b) => b !== "postgres" || postgresReachable());

for (const backend of backends) {
  describe(`dashboard on ${backend}`, () => {
    let server;
    let browser;
    before(async () => {
      server = await startServer(backend);
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
    });
    const test = (name, body) => it(name, () => withScreenshots(browser, `${backend}-${name}`, body));

    test("every page, at 1280 px and at a phone's width", async () => {
      // Holds on a test clock that started 6 days 10 hours ago: once it is advanced to now, their
      // deadlines are hours away (red, amber), as they would be after a week of waiting.
      const start = new Date(Date.now() - (6 * 86400 + 10 * 3600) * 1000);
      const iso = (d) => d.toISOString().replace(/\.\d+Z$/, "Z");
      const clock = await server.api("POST", "/v1/test-clocks", { name: "Week of holds", frozen_time: iso(start) });
      const clockId = clock.json.data.test_clock_id;
      const id = await server.hold(12900, { reference: "order-1042", description: "Camera rental, 3 days", test_clock: clockId });
      await server.hold(25000, { reference: "order-1043", description: "Tent and stove", test_clock: clockId });
      const advance = (ms) => server.api("POST", `/v1/test-clocks/${clockId}/advance`, { frozen_time: iso(new Date(ms)) });
      assert.equal((await advance(start.getTime() + (86400 + 10 * 3600) * 1000)).status, 200);
      await server.hold(6450, { reference: "order-1051", description: "Kayak, weekend", test_clock: clockId });
      assert.equal((await advance(Date.now())).status, 200);
      await server.hold(18000, { reference: "order-1060", description: "Projector rental" });
      const endpoint = await server.api("POST", "/v1/webhook-endpoints", { url: "http://127.0.0.1:9/hooks", enabled_events: ["*"] });
      assert.equal(endpoint.status, 201);
      const page = await signIn(browser, server, server.users.admin);
      const pages = [
        ["holds", "/dashboard/test/holds"],
        ["payment-intent", `/dashboard/test/payment-intents/${id}`],
        ["orders", "/dashboard/test/orders"],
        ["events", "/dashboard/test/events"],
        ["webhooks", "/dashboard/test/webhooks"],
        ["webhook-endpoint", `/dashboard/test/webhooks/${endpoint.json.data.webhook_endpoint_id}`],
        ["test-clocks", "/dashboard/test/test-clocks"],
        ["overview", "/dashboard/test/overview"],
        ["api-keys", "/dashboard/test/api-keys"],
        ["users", "/dashboard/test/users"],
      ];
      const dir = join(SCREENSHOTS, backend);
      mkdirSync(dir, { recursive: true });
      for (const [width, suffix] of [[1280, ""], [390, "-phone"]]) {
        await page.setViewportSize({ width, height: width === 1280 ? 900 : 844 });
        for (const [name, path] of pages) {
          const res = await page.goto(`${server.base}${path}`);
          assert.equal(res.status(), 200, path);
          // Nothing wider than the screen, but tables that scroll inside their frame.
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          assert.ok(overflow <= 1, `${path} overflows by ${overflow}px at ${width}px`);
          await page.screenshot({ path: join(dir, `${name}${suffix}.png`), fullPage: width === 1280 });
        }
      }
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.goto(`${server.base}/dashboard/test/payment-intents/${id}`);
      await page.getByRole("link", { name: "Capture", exact: true }).click();
      await page.getByRole("dialog").waitFor();
      await page.screenshot({ path: join(dir, "capture-dialog.png") });
      // Keyboard: Tab reaches the first control after the skip link; Escape closes the dialog.
      await page.keyboard.press("Escape");
      assert.equal(await page.getByRole("dialog").count(), 0);
      await page.close();
      void PASSWORD;
    });

    test("signs in and shows the holds", async () => {
      const page = await signIn(browser, server, server.users.operator);
      await assert.doesNotReject(page.getByRole("heading", { name: "Holds" }).waitFor());
      assert.equal(await page.locator(".who-email").textContent(), server.users.operator);
      assert.match(await page.locator(".test-banner").textContent(), /Test mode/);
      await page.close();
    });

    test("a wrong password does not say whether the email exists", async () => {
      await browser.context.clearCookies();
      const page = await browser.context.newPage();
      const answers = [];
      for (const email of [server.users.viewer, "nobody@example.com"]) {
        await page.goto(`${server.base}/dashboard/login`);
        await page.getByLabel("Email").fill(email);
        await page.getByLabel("Password").fill("not the password at all");
        const [response] = await Promise.all([
          page.waitForResponse((r) => r.url().endsWith("/dashboard/login") && r.request().method() === "POST"),
          page.getByRole("button", { name: "Sign in" }).click(),
        ]);
        await page.waitForLoadState();
        answers.push({ status: response.status(), message: (await page.getByRole("alert").textContent()).trim() });
      }
      assert.deepEqual(answers[0], { status: 401, message: "Email or password is incorrect." });
      assert.deepEqual(answers[1], answers[0]);
      await page.close();
    });

    test("sign-in attempts are limited per account, with a clear message", async () => {
      await browser.context.clearCookies();
      const page = await browser.context.newPage();
      const statuses = [];
      for (let i = 0; i < 4; i++) {
        await page.goto(`${server.base}/dashboard/login`);
        await page.getByLabel("Email").fill("target@example.com");
        await page.getByLabel("Password").fill(`guess number ${i}`);
        const [response] = await Promise.all([
          page.waitForResponse((r) => r.url().endsWith("/dashboard/login") && r.request().method() === "POST"),
          page.getByRole("button", { name: "Sign in" }).click(),
        ]);
        statuses.push(response.status());
      }
      assert.deepEqual(statuses, [401, 401, 401, 429]);
      assert.match(await page.getByRole("alert").textContent(), /Too many sign-in attempts\. Wait 15 minutes and try again\./);
      await page.close();
    });

    test("a hold placed through the API appears on Holds without a reload", async () => {
      const page = await signIn(browser, server, server.users.operator);
      await page.evaluate(() => { window.__notReloaded = true; });
      const id = await server.hold(4200, { reference: "live-update-check" });
      const row = page.locator(`tr[data-intent="${id}"]`);
      await row.waitFor({ timeout: 15_000 });
      assert.equal(await page.evaluate(() => window.__notReloaded), true, "the page was not reloaded");
      assert.match(await row.textContent(), /42\.00 USD/);
      assert.match(await row.textContent(), /live-update-check/);
      assert.match(await row.textContent(), /6 d 23 h/);
      await page.close();
    });

    test("captures 98.00 of 129.00 and shows captured 98.00 / released 31.00", async () => {
      const id = await server.hold(12900);
      const page = await signIn(browser, server, server.users.operator);
      await page.goto(`${server.base}/dashboard/test/payment-intents/${id}`);
      await page.getByRole("link", { name: "Capture", exact: true }).click();
      const dialog = page.getByRole("dialog");
      await dialog.getByLabel(/Amount to capture/).fill("98.00");
      await dialog.getByRole("button", { name: "Review capture" }).click();
      await assert.doesNotReject(dialog.getByText("98.00 USD").first().waitFor());
      assert.equal(await page.locator("#review-released").textContent(), "31.00 USD");
      await page.getByRole("button", { name: "Capture 98.00 USD" }).click();
      await page.waitForURL(/notice=captured/);
      assert.equal(await page.locator("#money-captured").textContent(), "98.00 USD");
      assert.equal(await page.locator("#money-released").textContent(), "31.00 USD");
      assert.equal(await page.locator("#money-capturable").textContent(), "0.00 USD");
      assert.equal(await page.locator("#intent-status").textContent(), "Succeeded");
      assert.match(await page.locator("#timeline").textContent(), new RegExp(server.users.operator.replace(".", "\\.")));
      const intent = await server.intent(id);
      assert.deepEqual(
        [intent.captured_amount_money.amount, intent.released_amount_money.amount, intent.capturable_amount_money.amount],
        [9800, 3100, 0],
      );
      await page.close();
    });

    test("a capture above the hold shows the contract's code inline", async () => {
      const id = await server.hold(12900);
      const page = await signIn(browser, server, server.users.operator);
      await page.goto(`${server.base}/dashboard/test/payment-intents/${id}`);
      await page.getByRole("link", { name: "Capture", exact: true }).click();
      const dialog = page.getByRole("dialog");
      await dialog.getByLabel(/Amount to capture/).fill("200");
      await dialog.getByRole("button", { name: "Review capture" }).click();
      await page.getByRole("button", { name: "Capture 200.00 USD" }).click();
      const error = page.locator("#capture-error");
      await error.waitFor();
      assert.match(await error.textContent(), /CAPTURE_AMOUNT_EXCEEDS_AUTHORIZED/);
      assert.equal((await server.intent(id)).status, "requires_capture");
      await page.close();
    });

    test("a double-submitted capture acts once", async () => {
      const id = await server.hold(5000);
      const page = await signIn(browser, server, server.users.operator);
      await page.goto(`${server.base}/dashboard/test/payment-intents/${id}/capture`);
      await page.getByLabel(/Amount to capture/).fill("20.00");
      await page.getByRole("button", { name: "Review capture" }).click();
      // The same confirmed form, sent twice at once, as a double click on a slow network would.
      const statuses = await page.evaluate(async () => {
        const form = document.querySelector("form[action$='/capture']");
        const body = new URLSearchParams(new FormData(form));
        const send = () => fetch(form.action, { method: "POST", body, redirect: "manual" }).then((r) => r.status);
        return Promise.all([send(), send()]);
      });
      for (const s of statuses) assert.ok([0, 303, 409].includes(s), `status ${s}`);
      const again = await page.evaluate(async () => {
        const form = document.querySelector("form[action$='/capture']");
        const body = new URLSearchParams(new FormData(form));
        const r = await fetch(form.action, { method: "POST", body, redirect: "manual" });
        return r.status;
      });
      assert.ok([0, 303].includes(again), `replay ${again}`);
      const intent = await server.intent(id);
      assert.equal(intent.captured_amount_money.amount, 2000);
      const actions = await server.api("GET", `/v1/payment-intents/${id}/actions`);
      assert.equal(actions.json.data.filter((a) => a.type === "capture").length, 1);
      await page.close();
    });

    test("a viewer is refused a capture by the server", async () => {
      const id = await server.hold(12900);
      const page = await signIn(browser, server, server.users.viewer);
      await page.goto(`${server.base}/dashboard/test/payment-intents/${id}`);
      assert.equal(await page.getByRole("link", { name: "Capture", exact: true }).count(), 0, "no button for a viewer");
      const dialog = await page.goto(`${server.base}/dashboard/test/payment-intents/${id}/capture`);
      assert.equal(dialog.status(), 403);
      // The form itself, posted with the viewer's own session and CSRF token.
      const status = await page.evaluate(async (id) => {
        const csrf = document.querySelector("meta[name=csrf-token]")?.content
          ?? JSON.parse(document.body.getAttribute("hx-headers") ?? "{}")["X-CSRF-Token"];
        const body = new URLSearchParams({ csrf_token: csrf, idempotency_key: "dash_" + "A".repeat(24), amount_minor: "12900" });
        const r = await fetch(`/dashboard/test/payment-intents/${id}/capture`, { method: "POST", body, redirect: "manual" });
        return r.status;
      }, id);
      assert.equal(status, 403);
      assert.equal((await server.intent(id)).status, "requires_capture");
      await page.close();
    });

    test("a form without its CSRF token is refused", async () => {
      const id = await server.hold(12900);
      const page = await signIn(browser, server, server.users.operator);
      await page.goto(`${server.base}/dashboard/test/payment-intents/${id}`);
      const status = await page.evaluate(async (id) => {
        const body = new URLSearchParams({ idempotency_key: "dash_" + "B".repeat(24), amount_minor: "12900" });
        const r = await fetch(`/dashboard/test/payment-intents/${id}/capture`, { method: "POST", body, redirect: "manual" });
        return r.status;
      }, id);
      assert.equal(status, 403);
      assert.equal((await server.intent(id)).status, "requires_capture");
      await page.close();
    });

    test("voids a hold with a reason", async () => {
      const id = await server.hold(7500);
      const page = await signIn(browser, server, server.users.operator);
      await page.goto(`${server.base}/dashboard/test/payment-intents/${id}`);
      await page.getByRole("link", { name: "Void", exact: true }).click();
      const dialog = page.getByRole("dialog");
      await dialog.getByLabel("Reason").selectOption("requested_by_customer");
      await dialog.getByRole("button", { name: "Void and release 75.00 USD" }).click();
      await page.waitForURL(/notice=voided/);
      assert.equal(await page.locator("#intent-status").textContent(), "Canceled");
      assert.equal(await page.locator("#money-released").textContent(), "75.00 USD");
      const intent = await server.intent(id);
      assert.equal(intent.cancellation_reason, "requested_by_customer");
      await page.close();
    });

    test("refunds captured money", async () => {
      const id = await server.hold(6000);
      const captured = await server.api("POST", `/v1/payment-intents/${id}/capture`, {});
      assert.equal(captured.status, 200);
      const page = await signIn(browser, server, server.users.operator);
      await page.goto(`${server.base}/dashboard/test/payment-intents/${id}`);
      await page.getByRole("link", { name: "Refund", exact: true }).click();
      const dialog = page.getByRole("dialog");
      await dialog.getByLabel(/Amount to refund/).fill("15.50");
      await dialog.getByRole("button", { name: "Refund" }).click();
      await page.waitForURL(/notice=refunded/);
      assert.equal(await page.locator("#money-refunded").textContent(), "15.50 USD");
      const intent = await server.intent(id);
      assert.equal(intent.refunded_amount_money.amount, 1550);
      await page.close();
    });

    test("schedules a capture before the deadline, and clears it", async () => {
      const id = await server.hold(8800);
      const page = await signIn(browser, server, server.users.operator);
      await page.goto(`${server.base}/dashboard/test/payment-intents/${id}`);
      await page.getByRole("link", { name: "Schedule", exact: true }).click();
      const dialog = page.getByRole("dialog");
      await dialog.getByLabel(/Amount to capture/).fill("80.00");
      await dialog.getByRole("button", { name: "Schedule" }).click();
      await page.waitForURL(/notice=scheduled/);
      assert.match(await page.locator("#scheduled-text").textContent(), /Capture 80\.00 USD at /);
      const intent = await server.intent(id);
      assert.equal(intent.scheduled_action.type, "capture");
      await page.getByRole("button", { name: "Clear schedule" }).click();
      await page.waitForURL(/notice=schedule-cleared/);
      assert.equal(await page.locator("#scheduled").count(), 0);
      assert.equal((await server.intent(id)).scheduled_action, null);
      await page.close();
    });

    test("a test clock advance expires a hold and the page shows it", async () => {
      const clock = await server.api("POST", "/v1/test-clocks", { name: "Week-long hold" });
      assert.equal(clock.status, 201);
      const clockId = clock.json.data.test_clock_id;
      const id = await server.hold(3300, { test_clock: clockId });
      const page = await signIn(browser, server, server.users.operator);
      await page.goto(`${server.base}/dashboard/test/test-clocks/${clockId}`);
      const row = page.locator(`tr[data-intent="${id}"]`);
      assert.match(await row.textContent(), /Requires capture/);
      await page.getByRole("button", { name: "Advance clock" }).click();
      await page.waitForURL(/notice=clock-advanced/);
      assert.match(await page.locator(`tr[data-intent="${id}"]`).textContent(), /Expired/);
      assert.match(await page.locator("#fell-due").textContent(), /1 hold\(s\) fell due/);
      assert.equal((await server.intent(id)).status, "expired");
      await page.close();
    });

  });
}
