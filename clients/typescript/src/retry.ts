import { HoldfastConnectionError, parseRetryAfter } from "./errors.js";

/** How the client retries. Every retry of a request carries the same `Idempotency-Key`. */
export interface RetryPolicy {
  /** Retries after the first attempt (default 2, so at most 3 attempts). `0` turns retries off. */
  maxRetries: number;
  /**
   * The longest `Retry-After` the client waits for, in seconds (default 10). An answer that asks
   * for more is handed back (thrown as a `HoldfastError`) instead of waited for.
   */
  maxRetryAfterSeconds: number;
  /** How long one attempt may take before it is abandoned and retried, in ms (default 60000). */
  timeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 2,
  maxRetryAfterSeconds: 10,
  timeoutMs: 60_000,
};

/** The methods that change something: each is sent with an `Idempotency-Key`. */
const KEYED_METHODS = new Set(["POST", "PATCH", "DELETE"]);

/**
 * A `fetch` for openapi-fetch that
 * - adds an `Idempotency-Key` (a random UUID) to every POST, PATCH and DELETE that has none;
 * - retries, with that same key, network errors and timeouts, 429, 503, and 409
 *   `IDEMPOTENCY_KEY_IN_USE`, after `Retry-After` when the answer has one (else a short
 *   exponential backoff), at most `maxRetries` times;
 * - never retries any other answer: a 4xx is the server's final word on that request.
 */
export function retryingFetch(
  baseFetch: typeof globalThis.fetch,
  policy: RetryPolicy,
  newKey: () => string,
): (request: Request) => Promise<Response> {
  return async (request: Request): Promise<Response> => {
    const method = request.method.toUpperCase();
    const headers = new Headers(request.headers);
    if (KEYED_METHODS.has(method) && !headers.has("idempotency-key")) {
      headers.set("Idempotency-Key", newKey());
    }
    const key = headers.get("idempotency-key") ?? undefined;
    // The body is read once, so that every attempt sends the same bytes.
    const body = request.body === null ? undefined : await request.arrayBuffer();
    const userSignal = request.signal;

    for (let attempt = 0; ; attempt++) {
      const timeout = AbortSignal.timeout(policy.timeoutMs);
      let response: Response;
      try {
        response = await baseFetch(request.url, {
          method,
          headers,
          body,
          redirect: request.redirect,
          signal: AbortSignal.any([userSignal, timeout]),
        });
      } catch (error) {
        if (userSignal.aborted) throw error;
        if (attempt >= policy.maxRetries) {
          throw new HoldfastConnectionError(error, key, attempt + 1);
        }
        await sleep(backoffMs(attempt), userSignal);
        continue;
      }
      if (attempt >= policy.maxRetries || !(await retryable(response))) return response;
      const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
      if (retryAfter !== undefined && retryAfter > policy.maxRetryAfterSeconds) return response;
      await response.body?.cancel();
      await sleep(retryAfter !== undefined ? retryAfter * 1000 : backoffMs(attempt), userSignal);
    }
  };
}

async function retryable(response: Response): Promise<boolean> {
  if (response.status === 429 || response.status === 503) return true;
  if (response.status !== 409) return false;
  // Only the in-use conflict is transient; every other 409 (ORDER_NOT_PAYABLE, …) is final.
  try {
    const body = (await response.clone().json()) as { error?: { code?: unknown } };
    return body?.error?.code === "IDEMPOTENCY_KEY_IN_USE";
  } catch {
    return false;
  }
}

/** 0.5 s, 1 s, 2 s, … up to 5 s, each with up to 25 % taken off at random. */
function backoffMs(attempt: number): number {
  const base = Math.min(500 * 2 ** attempt, 5_000);
  return base * (0.75 + Math.random() * 0.25);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
