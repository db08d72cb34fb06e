// Test doubles that sit *beside* the real server, never in place of it:
// - `recordingFetch` wraps the global fetch and records every attempt the client makes;
// - `startFlakyProxy` is a local HTTP proxy in front of the real server that can answer a
//   request itself (a 503, a 409), drop the connection before forwarding it, or forward it and
//   then drop the connection so the answer is lost.
import { createServer, type IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export interface Attempt {
  method: string;
  path: string;
  key: string | null;
  status: number | "network error";
}

export function recordingFetch(): { fetch: typeof globalThis.fetch; attempts: Attempt[] } {
  const attempts: Attempt[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init?.headers);
    const attempt: Attempt = {
      method: init?.method ?? "GET",
      path: url.pathname,
      key: headers.get("idempotency-key"),
      status: "network error",
    };
    attempts.push(attempt);
    const response = await globalThis.fetch(input, init);
    attempt.status = response.status;
    return response;
  };
  return { fetch, attempts };
}

export type Step =
  | "pass"
  | "drop-before"
  | "drop-after"
  | { status: number; code: string; retryAfter?: string };

export interface Proxied {
  method: string;
  path: string;
  key: string | undefined;
  step: Step;
  /** The real server's answer, for a request that reached it. */
  upstreamStatus?: number;
  replayed?: string | null;
}

/**
 * A proxy to `target` that handles its n-th request with `steps[n]` ("pass" once the steps run
 * out).
 */
export async function startFlakyProxy(target: string, steps: Step[]) {
  const seen: Proxied[] = [];
  const sockets = new Set<Socket>();
  const server = createServer(async (req, res) => {
    const step = steps[seen.length] ?? "pass";
    const body = await readBody(req);
    const record: Proxied = {
      method: req.method ?? "",
      path: req.url ?? "",
      key: header(req, "idempotency-key"),
      step,
    };
    seen.push(record);
    if (step === "drop-before") {
      req.socket.destroy();
      return;
    }
    if (typeof step === "object") {
      const envelope = { error: { code: step.code, message: "injected by the test proxy", request_id: "req_proxy" } };
      res.writeHead(step.status, {
        "content-type": "application/json",
        ...(step.retryAfter === undefined ? {} : { "retry-after": step.retryAfter }),
      });
      res.end(JSON.stringify(envelope));
      return;
    }
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || ["host", "connection", "content-length"].includes(name)) continue;
      headers.set(name, Array.isArray(value) ? value.join(", ") : value);
    }
    const upstream = await fetch(new URL(req.url ?? "/", target), {
      method: req.method,
      headers,
      ...(body.length > 0 ? { body: new Uint8Array(body) } : {}),
    });
    const answer = Buffer.from(await upstream.arrayBuffer());
    record.upstreamStatus = upstream.status;
    record.replayed = upstream.headers.get("idempotent-replayed");
    if (step === "drop-after") {
      // The server did the work; its answer is lost on the way back.
      req.socket.destroy();
      return;
    }
    const out: Record<string, string> = {};
    upstream.headers.forEach((value, name) => {
      if (!["content-length", "transfer-encoding", "connection", "keep-alive"].includes(name)) out[name] = value;
    });
    res.writeHead(upstream.status, out).end(answer);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Takes the server's one request slot (`--max-concurrent-requests 1`) with a request whose body
 * never finishes arriving, until `release()`.
 */
export async function holdRequestSlot(baseUrl: string, apiKey: string): Promise<{ release(): void }> {
  for (let tries = 0; tries < 20; tries++) {
    const held = await tryHoldRequestSlot(baseUrl, apiKey);
    if (held) return held;
  }
  throw new Error("could not take the server's request slot");
}

async function tryHoldRequestSlot(baseUrl: string, apiKey: string): Promise<{ release(): void } | undefined> {
  const { hostname, port } = new URL(baseUrl);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.on("error", () => {});
  let answered = false;
  socket.on("data", () => (answered = true));
  socket.write(
    "POST /v1/payment-intents HTTP/1.1\r\n" +
      `Host: ${hostname}:${port}\r\n` +
      `Authorization: Bearer ${apiKey}\r\n` +
      "Content-Type: application/json\r\n" +
      "Content-Length: 1000\r\n\r\n{",
  );
  // Give the server time to read the headers and admit it, then check that it holds the slot:
  // a plain request is refused as OVERLOADED while the slow one has had no answer. (If the
  // probe came first, the slow request is the one refused: start over.)
  await new Promise((r) => setTimeout(r, 100));
  for (let i = 0; i < 20 && !answered; i++) {
    const probe = await fetch(`${baseUrl}/v1/payment-intents?limit=1`, {
      headers: { Authorization: `Bearer ${apiKey}` },
    });
    await probe.body?.cancel();
    if (probe.status === 503 && !answered) return { release: () => socket.destroy() };
    await new Promise((r) => setTimeout(r, 50));
  }
  socket.destroy();
  return undefined;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
