// The end-to-end harness: a real `holdfast serve` on a fresh database (SQLite in a temporary
// directory, or PostgreSQL in a database created for the run and dropped after it), dashboard
// users made with `holdfast users create`, and headless Chromium (Debian's package, driven by
// playwright-core) with a fresh profile.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.HOLDFAST_BIN ?? resolve(here, "../../../target/debug/holdfast");
export const CHROMIUM = process.env.HOLDFAST_CHROMIUM ?? "/usr/bin/chromium";
export const PG_ADMIN = process.env.HOLDFAST_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const ARTIFACTS = resolve(here, "artifacts");
export const SCREENSHOTS = resolve(here, "screenshots");
export const PASSWORD = "correct horse battery staple";

const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run",
];

function psql(sql) {
  execFileSync("psql", [PG_ADMIN, "-qAtc", sql], { stdio: ["ignore", "pipe", "pipe"] });
}

/** Whether PostgreSQL answers; under CI=true a missing one is a failure, never a skip. */
export function postgresReachable() {
  try {
    psql("SELECT 1");
    return true;
  } catch (e) {
    if (process.env.CI === "true") throw new Error(`CI=true but PostgreSQL is not reachable at ${PG_ADMIN}: ${e.stderr ?? e}`);
    console.log(`SKIPPED PostgreSQL: not reachable at ${PG_ADMIN}; set CI=true to fail instead`);
    return false;
  }
}

/** A running server with its users, on `backend` ("sqlite" or "postgres"). */
export async function startServer(backend) {
  const dir = mkdtempSync(join(tmpdir(), "holdfast-e2e-"));
  let databaseUrl = `sqlite://${join(dir, "holdfast.db")}`;
  let pgName = null;
  if (backend === "postgres") {
    pgName = `holdfast_e2e_${randomBytes(6).toString("hex")}`;
    psql(`CREATE DATABASE ${pgName}`);
    databaseUrl = `${PG_ADMIN.replace(/\/[^/]*$/, "")}/${pgName}`;
  }
  const env = { ...process.env, HOLDFAST_LOG: process.env.HOLDFAST_LOG ?? "warn", HOLDFAST_DATABASE_URL: databaseUrl };
  const child = spawn(BIN, [
    "serve", "--listen", "127.0.0.1:0", "--secrets-key-file", join(dir, "holdfast.key"),
    "--dashboard-secure-cookie", "never",
    "--dashboard-login-attempts-per-account", "3",
    "--dashboard-login-attempts-per-address", "50",
  ], { env, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  const started = await new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`holdfast serve did not start: ${out}`)), 60_000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const listening = out.match(/holdfast listening on (http:\/\/[0-9.:]+)/);
      if (listening) {
        clearTimeout(timer);
        resolveStart(listening[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`holdfast serve exited (${code}): ${out}`)));
  });
  const merchant = out.match(/\((mch_[A-Za-z0-9]+)\)/)[1];
  const testKey = out.match(/(sk_test_[A-Za-z0-9]+)/)[1];
  const users = {};
  for (const role of ["admin", "operator", "viewer"]) {
    const email = `${role}@example.com`;
    execFileSync(BIN, ["users", "create", "--merchant", merchant, "--email", email, "--role", role, "--password-stdin"], {
      env, input: `${PASSWORD}\n`, stdio: ["pipe", "pipe", "inherit"],
    });
    users[role] = email;
  }
  const server = {
    backend, base: started, merchant, testKey, users, dir, databaseUrl, env,
    async api(method, path, body, { key = testKey, idem } = {}) {
      const headers = { Authorization: `Bearer ${key}` };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (idem) headers["Idempotency-Key"] = idem;
      const res = await fetch(`${started}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, json, text };
    },
    /** A manual-capture hold of `amount` minor units of USD; returns the intent id. */
    async hold(amount, extra = {}) {
      const created = await this.api("POST", "/v1/payment-intents", {
        amount_money: { amount, currency: "USD" }, capture_method: "manual", ...extra,
      });
      if (created.status !== 201) throw new Error(`create: ${created.text}`);
      const id = created.json.data.payment_intent.payment_intent_id;
      const confirmed = await this.api("POST", `/v1/payment-intents/${id}/confirm`, { payment_source_token: "pm_card_visa" });
      if (confirmed.status !== 200) throw new Error(`confirm: ${confirmed.text}`);
      return id;
    },
    async intent(id) {
      const res = await this.api("GET", `/v1/payment-intents/${id}`);
      if (res.status !== 200) throw new Error(res.text);
      return res.json.data;
    },
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => { if (child.exitCode !== null) r(); else child.on("exit", r); });
      if (pgName) {
        try { psql(`DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`); } catch { /* best effort */ }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Headless Chromium with a fresh profile. */
export async function launchBrowser() {
  const profile = mkdtempSync(join(tmpdir(), "holdfast-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A fresh page with no cookies, signed in as `email`. */
export async function signIn(browser, server, email, { password = PASSWORD } = {}) {
  await browser.context.clearCookies();
  const page = await browser.context.newPage();
  await page.goto(`${server.base}/dashboard/test/holds`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/dashboard\/test\/holds/);
  return page;
}

/** Runs `body`, saving a screenshot of every open page if it fails. */
export async function withScreenshots(browser, name, body) {
  try {
    await body();
  } catch (e) {
    mkdirSync(ARTIFACTS, { recursive: true });
    let i = 0;
    for (const page of browser.context.pages()) {
      await page.screenshot({ path: join(ARTIFACTS, `${name.replace(/[^a-z0-9]+/gi, "-")}-${i++}.png`), fullPage: true }).catch(() => {});
    }
    throw e;
  } finally {
    for (const page of browser.context.pages().slice(1)) await page.close().catch(() => {});
  }
}
