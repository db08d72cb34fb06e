import { Webhook, WebhookVerificationError } from "standardwebhooks";
import type { components } from "./generated/openapi.js";

export { WebhookVerificationError };

/** An event, as the API lists it and as a webhook delivers it. */
export type Event = components["schemas"]["Event"];

/**
 * The headers of a webhook request: a fetch `Headers`, or Node's `req.headers` (whose names are
 * already lower case).
 */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

/**
 * Checks a delivery's Standard Webhooks signature (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`) against the endpoint's secret (`whsec_…`) and returns the event.
 *
 * `payload` must be the raw body exactly as received: parse it only after it has verified.
 * Throws `WebhookVerificationError` when the signature does not match any of the request's
 * signatures (after a secret rotation there are two) or the timestamp is more than five minutes
 * away from now.
 */
export function verifyWebhook(
  payload: string | Uint8Array,
  headers: WebhookHeaders,
  secret: string,
): Event {
  const body = typeof payload === "string" ? payload : Buffer.from(payload);
  return new Webhook(secret).verify(body, plainHeaders(headers)) as Event;
}

function plainHeaders(headers: WebhookHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers instanceof Headers) {
    headers.forEach((value, name) => {
      out[name.toLowerCase()] = value;
    });
    return out;
  }
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}
