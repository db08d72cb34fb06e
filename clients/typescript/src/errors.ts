import type { components } from "./generated/openapi.js";

/** The `error` object of the envelope every non-2xx answer wears. */
export type ErrorObject = components["schemas"]["ErrorObject"];
/** Every error code the server documents. */
export type ErrorCode = components["schemas"]["ErrorCode"];

/**
 * An answer that is not a 2xx. The envelope's fields keep their wire names (`code`, `message`,
 * `param`, `request_id`, `decline_code`, `payment_intent_id`); what the client adds is camelCase
 * (`status`, `idempotencyKey`, `retryAfterSeconds`).
 *
 * Branch on `code`, never on `message` (its wording may change).
 */
export class HoldfastError extends Error {
  /** The HTTP status (400, 402, 404, 409, …). */
  readonly status: number;
  /**
   * The envelope's stable code (`INVALID_STATUS_FOR_CAPTURE`, `CARD_DECLINED`, …). A newer server
   * may answer with a code this client does not know yet, hence the open string type.
   */
  readonly code: ErrorCode | (string & {});
  /** The request field at fault (`amount_money.amount`), when one is. */
  readonly param: string | undefined;
  /** The request's id (`req_…`), also in the server's log. */
  readonly request_id: string | undefined;
  /** `CARD_DECLINED` only: the processor's reason (`generic_decline`, `insufficient_funds`). */
  readonly decline_code: string | undefined;
  /** `CARD_DECLINED` only: the intent the decline is recorded on. */
  readonly payment_intent_id: string | undefined;
  /** The whole `error` object, with any field this client does not name. */
  readonly error: ErrorObject | undefined;
  /** The `Idempotency-Key` the request was sent with (every POST, PATCH and DELETE has one). */
  readonly idempotencyKey: string | undefined;
  /** `Retry-After` of the last answer, in seconds, when it had one. */
  readonly retryAfterSeconds: number | undefined;
  /** The answer's headers. */
  readonly headers: Headers;

  constructor(
    status: number,
    body: unknown,
    headers: Headers,
    idempotencyKey: string | undefined,
  ) {
    const envelope = isEnvelope(body) ? body.error : undefined;
    super(envelope?.message ?? `HTTP ${status} without an error envelope`);
    this.name = "HoldfastError";
    this.status = status;
    this.code = envelope?.code ?? "UNEXPECTED_RESPONSE";
    this.param = envelope?.param;
    this.request_id = envelope?.request_id ?? headers.get("x-request-id") ?? undefined;
    this.decline_code = envelope?.decline_code;
    this.payment_intent_id = envelope?.payment_intent_id;
    this.error = envelope;
    this.idempotencyKey = idempotencyKey;
    this.retryAfterSeconds = parseRetryAfter(headers.get("retry-after"));
    this.headers = headers;
  }
}

/**
 * The request never got an answer (refused connection, reset, timeout), even after the retries.
 * The work may or may not have been done: retrying with the same `idempotencyKey` is safe, and
 * either replays the answer or does the work once.
 */
export class HoldfastConnectionError extends Error {
  readonly idempotencyKey: string | undefined;
  /** How many attempts were made. */
  readonly attempts: number;

  constructor(cause: unknown, idempotencyKey: string | undefined, attempts: number) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`no answer from Holdfast after ${attempts} attempt(s): ${reason}`, { cause });
    this.name = "HoldfastConnectionError";
    this.idempotencyKey = idempotencyKey;
    this.attempts = attempts;
  }
}

function isEnvelope(body: unknown): body is { error: ErrorObject } {
  if (typeof body !== "object" || body === null || !("error" in body)) return false;
  const error = (body as { error: unknown }).error;
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as { code?: unknown }).code === "string" &&
    typeof (error as { message?: unknown }).message === "string"
  );
}

/** `Retry-After` in seconds: a number of seconds, or an HTTP date. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, (date - Date.now()) / 1000);
}
