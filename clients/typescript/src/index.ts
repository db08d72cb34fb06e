export * from "./client.js";
export { HoldfastConnectionError, HoldfastError, type ErrorCode, type ErrorObject } from "./errors.js";
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry.js";
export {
  type Event,
  type WebhookHeaders,
  verifyWebhook,
  WebhookVerificationError,
} from "./webhooks.js";
export type { components, operations, paths } from "./generated/openapi.js";
