// Starts a real `holdfast serve` for the tests: on a fresh SQLite file, or on a PostgreSQL
// database it creates and drops. Nothing is mocked: every test talks HTTP to this process.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
/** clients/typescript, whichever directory the compiled test runs from. */
export const packageRoot = path.resolve(here, "..", "..");
export const repoRoot = path.resolve(packageRoot, "..", "..");

export type Backend = "sqlite" | "postgres";

export const holdfastBin = process.env.HOLDFAST_BIN ?? path.join(repoRoot, "target", "debug", "holdfast");
const postgresUrl =
  process.env.HOLDFAST_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface Server {
  backend: Backend;
  baseUrl: string;
  databaseUrl: string;
  /** The test key of a merchant made for this server (`holdfast merchants create`). */
  apiKey: string;
  /** Another merchant's test key, for a list that must hold only what a test made. */
  newMerchantKey(name: string): Promise<string>;
  /** What the server wrote to stderr so far. */
  log(): string;
  stop(): Promise<void>;
}

/** The backends to run on: both, unless HOLDFAST_TS_BACKENDS names fewer. */
export function backends(): Backend[] {
  const names = (process.env.HOLDFAST_TS_BACKENDS ?? "sqlite,postgres").split(",");
  return names.map((n) => n.trim()).filter((n): n is Backend => n === "sqlite" || n === "postgres");
}

/**
 * Why a backend cannot run here, or `undefined` when it can. Under `CI=true` a missing
 * PostgreSQL is a failure (thrown), never a skip.
 */
export async function unavailable(backend: Backend): Promise<string | undefined> {
  if (!existsSync(holdfastBin)) {
    throw new Error(`${holdfastBin} is missing: run \`cargo build -p holdfast\` first (or set HOLDFAST_BIN)`);
  }
  if (backend === "sqlite") return undefined;
  try {
    await run("psql", [postgresUrl, "-qAtc", "SELECT 1"]);
    return undefined;
  } catch (error) {
    const reason = `PostgreSQL is not reachable at ${postgresUrl}: ${(error as Error).message}`;
    if (process.env.CI === "true") throw new Error(reason);
    return reason;
  }
}

export async function startServer(backend: Backend, extraArgs: string[] = []): Promise<Server> {
  const dir = await mkdtemp(path.join(tmpdir(), "holdfast-ts-"));
  let databaseUrl: string;
  let dropDatabase = async () => {};
  if (backend === "sqlite") {
    databaseUrl = `sqlite://${dir}/holdfast.db`;
  } else {
    const name = `holdfast_ts_${process.pid}_${randomBytes(4).toString("hex")}`;
    await run("psql", [postgresUrl, "-qc", `CREATE DATABASE ${name}`]);
    const url = new URL(postgresUrl);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    dropDatabase = async () => {
      await run("psql", [postgresUrl, "-qc", `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
    };
  }

  const child = spawn(
    holdfastBin,
    [
      "serve",
      "--listen",
      "127.0.0.1:0",
      "--database-url",
      databaseUrl,
      "--secrets-key-file",
      path.join(dir, "holdfast.key"),
      ...extraArgs,
    ],
    { env: { ...process.env, HOLDFAST_LOG: process.env.HOLDFAST_LOG ?? "warn" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));

  const stop = async () => {
    await terminate(child);
    await dropDatabase();
    await rm(dir, { recursive: true, force: true });
  };

  let baseUrl: string | undefined;
  for (let i = 0; i < 300 && baseUrl === undefined; i++) {
    baseUrl = /^holdfast listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(stdout)?.[1];
    if (baseUrl === undefined) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (baseUrl === undefined) {
    await stop();
    throw new Error(`holdfast serve did not start:\n${stdout}\n${stderr}`);
  }

  const newMerchantKey = async (name: string) => {
    const { stdout: out } = await run(holdfastBin, ["merchants", "create", "--name", name, "--database-url", databaseUrl], {
      env: { ...process.env, HOLDFAST_LOG: "warn" },
    });
    const created = JSON.parse(out) as { api_keys: { test: string } };
    return created.api_keys.test;
  };
  let apiKey: string;
  try {
    apiKey = await newMerchantKey("ts");
  } catch (error) {
    await stop();
    throw error;
  }
  return { backend, baseUrl, databaseUrl, apiKey, newMerchantKey, log: () => stderr, stop };
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
