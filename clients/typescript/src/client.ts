import { randomUUID } from "node:crypto";
import createClient, { type Client } from "openapi-fetch";
import type { components, operations, paths } from "./generated/openapi.js";
import { HoldfastError } from "./errors.js";
import { DEFAULT_RETRY_POLICY, type RetryPolicy, retryingFetch } from "./retry.js";
import { type Event, verifyWebhook } from "./webhooks.js";

type Schemas = components["schemas"];

/** The JSON body an operation takes. */
export type BodyOf<Op extends keyof operations> = operations[Op] extends {
  requestBody?: { content: { "application/json": infer B } };
}
  ? B
  : never;

/** The query parameters an operation takes. */
export type QueryOf<Op extends keyof operations> = NonNullable<
  operations[Op]["parameters"]["query"]
>;

/** A page of a list: newest first; pass `next_cursor` as `cursor` for the next page. */
export interface Page<T> {
  data: T[];
  has_more: boolean;
  next_cursor?: string | null;
}

export interface HoldfastOptions extends Partial<RetryPolicy> {
  /** A secret key, `sk_test_…` or `sk_live_…`. */
  apiKey: string;
  /** Where the API listens (default `http://127.0.0.1:8080`). */
  baseUrl?: string;
  /** A `fetch` to send requests with (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** Makes the `Idempotency-Key` of a request that was given none (default: `crypto.randomUUID`). */
  idempotencyKey?: () => string;
}

/** Options of one call. */
export interface RequestOptions extends Partial<RetryPolicy> {
  /**
   * The `Idempotency-Key` of this call (POST, PATCH and DELETE only). Default: a fresh random
   * UUID. Give your own (say, derived from your order id) to make a retry after a crash of
   * *your* process safe too. Every automatic retry reuses the key.
   */
  idempotencyKey?: string;
  /** Aborts the call, retries included. */
  signal?: AbortSignal;
}

interface CallInit {
  headers: Record<string, string>;
  fetch: (request: Request) => Promise<Response>;
  signal?: AbortSignal;
}

type Result<D> = { data?: D; error?: unknown; response: Response };

/**
 * The Holdfast API client.
 *
 * ```ts
 * const holdfast = new Holdfast({ apiKey: "sk_test_…", baseUrl: "http://127.0.0.1:8080" });
 * const { payment_intent } = await holdfast.paymentIntents.create({
 *   amount_money: { amount: 12900, currency: "USD" },
 *   capture_method: "manual",
 * });
 * ```
 *
 * Every method answers with the object itself (the `data` of the envelope) or, for a list, with
 * the page; it throws a `HoldfastError` for an answer that is not a 2xx, and a
 * `HoldfastConnectionError` when no answer came even after the retries. `raw` is the typed
 * openapi-fetch client underneath (same key, retries and idempotency keys), for headers such as
 * `Idempotent-Replayed`.
 */
export class Holdfast {
  /** The typed openapi-fetch client: `holdfast.raw.POST("/v1/payment-intents/{id}/capture", …)`. */
  readonly raw: Client<paths>;
  readonly paymentIntents: PaymentIntents;
  readonly orders: Orders;
  readonly refunds: Refunds;
  readonly customers: Customers;
  readonly events: Events;
  readonly webhookEndpoints: WebhookEndpoints;
  readonly testClocks: TestClocks;
  /** Webhook signature checks; needs no API key (see `verifyWebhook`). */
  static readonly webhooks = { verify: verifyWebhook };
  readonly webhooks = Holdfast.webhooks;

  readonly #policy: RetryPolicy;
  readonly #fetch: typeof globalThis.fetch;
  readonly #newKey: () => string;

  constructor(options: HoldfastOptions) {
    if (!options?.apiKey) throw new TypeError("Holdfast: apiKey is required");
    this.#policy = {
      maxRetries: options.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries,
      maxRetryAfterSeconds: options.maxRetryAfterSeconds ?? DEFAULT_RETRY_POLICY.maxRetryAfterSeconds,
      timeoutMs: options.timeoutMs ?? DEFAULT_RETRY_POLICY.timeoutMs,
    };
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#newKey = options.idempotencyKey ?? randomUUID;
    this.raw = createClient<paths>({
      baseUrl: options.baseUrl ?? "http://127.0.0.1:8080",
      headers: {
        Authorization: `Bearer ${options.apiKey}`,
        "User-Agent": "holdfast-typescript/0.1.0",
      },
      fetch: retryingFetch(this.#fetch, this.#policy, this.#newKey),
    });
    this.paymentIntents = new PaymentIntents(this);
    this.orders = new Orders(this);
    this.refunds = new Refunds(this);
    this.customers = new Customers(this);
    this.events = new Events(this);
    this.webhookEndpoints = new WebhookEndpoints(this);
    this.testClocks = new TestClocks(this);
  }

  /** @internal Sends one call through `raw` and unwraps its answer or throws. */
  async call<D>(
    keyed: boolean,
    options: RequestOptions | undefined,
    send: (init: CallInit) => Promise<Result<D>>,
  ): Promise<D> {
    const key = keyed ? (options?.idempotencyKey ?? this.#newKey()) : undefined;
    const policy: RetryPolicy = {
      maxRetries: options?.maxRetries ?? this.#policy.maxRetries,
      maxRetryAfterSeconds: options?.maxRetryAfterSeconds ?? this.#policy.maxRetryAfterSeconds,
      timeoutMs: options?.timeoutMs ?? this.#policy.timeoutMs,
    };
    const { data, error, response } = await send({
      headers: key === undefined ? {} : { "Idempotency-Key": key },
      fetch: retryingFetch(this.#fetch, policy, this.#newKey),
      ...(options?.signal ? { signal: options.signal } : {}),
    });
    if (!response.ok) throw new HoldfastError(response.status, error, response.headers, key);
    return data as D;
  }

  /** @internal Every item of a list, page after page. */
  async *paginate<T, Q extends { cursor?: string }>(
    query: Q,
    options: RequestOptions | undefined,
    page: (query: Q, options: RequestOptions | undefined) => Promise<Page<T>>,
  ): AsyncGenerator<T, void, undefined> {
    let cursor = query.cursor;
    for (;;) {
      const current = await page({ ...query, ...(cursor === undefined ? {} : { cursor }) }, options);
      yield* current.data;
      if (!current.has_more || !current.next_cursor) return;
      cursor = current.next_cursor;
    }
  }
}

/** `POST`, `GET` … `/v1/payment-intents`. */
export class PaymentIntents {
  constructor(private readonly h: Holdfast) {}

  /** Creates an intent. Answers the intent and its `client_confirmation` (the client secret, shown once). */
  async create(body: BodyOf<"create_payment_intent">, options?: RequestOptions): Promise<CreatedPaymentIntent> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/payment-intents", { body, ...init }),
      )
    ).data;
  }

  async retrieve(id: string, options?: RequestOptions): Promise<PaymentIntent> {
    return (
      await this.h.call(false, options, (init) =>
        this.h.raw.GET("/v1/payment-intents/{id}", { params: { path: { id } }, ...init }),
      )
    ).data;
  }

  /** One page, newest first (or soonest deadline first with `order: "authorization_expires_at"`). */
  async list(query: QueryOf<"list_payment_intents"> = {}, options?: RequestOptions): Promise<Page<PaymentIntent>> {
    return this.h.call(false, options, (init) =>
      this.h.raw.GET("/v1/payment-intents", { params: { query }, ...init }),
    );
  }

  /** Every intent that matches, page after page: `for await (const pi of …listAll())`. */
  listAll(query: QueryOf<"list_payment_intents"> = {}, options?: RequestOptions): AsyncGenerator<PaymentIntent, void, undefined> {
    return this.h.paginate(query, options, (q, o) => this.list(q, o));
  }

  /** Places the hold (manual capture) or charges (automatic). A decline throws 402 `CARD_DECLINED`. */
  async confirm(id: string, body: BodyOf<"confirm_payment_intent">, options?: RequestOptions): Promise<PaymentIntent> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/payment-intents/{id}/confirm", {
          params: { path: { id } },
          body,
          ...init,
        }),
      )
    ).data;
  }

  /**
   * Captures the whole hold, or `amount_money` of it and releases the rest; with `multicapture`,
   * `final_capture: false` keeps the rest capturable.
   */
  async capture(id: string, body: BodyOf<"capture_payment_intent"> = {}, options?: RequestOptions): Promise<PaymentIntent> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/payment-intents/{id}/capture", {
          params: { path: { id } },
          body,
          ...init,
        }),
      )
    ).data;
  }

  /**
   * Raises the hold of an intent created with `incremental_authorization` to `amount_money`, the
   * new total. A decline throws 402 `CARD_DECLINED` and leaves the hold as it was.
   */
  async incrementAuthorization(
    id: string,
    body: BodyOf<"increment_payment_intent_authorization">,
    options?: RequestOptions,
  ): Promise<PaymentIntent> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/payment-intents/{id}/increment-authorization", {
          params: { path: { id } },
          body,
          ...init,
        }),
      )
    ).data;
  }

  /** Voids the hold (or cancels an intent not yet confirmed). */
  async cancel(id: string, body: BodyOf<"cancel_payment_intent"> = {}, options?: RequestOptions): Promise<PaymentIntent> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/payment-intents/{id}/cancel", {
          params: { path: { id } },
          body,
          ...init,
        }),
      )
    ).data;
  }

  /** Every money movement on the intent, in order. */
  async listActions(id: string, options?: RequestOptions): Promise<Action[]> {
    return (
      await this.h.call(false, options, (init) =>
        this.h.raw.GET("/v1/payment-intents/{id}/actions", { params: { path: { id } }, ...init }),
      )
    ).data;
  }

  /** Sets or replaces the capture or void that runs by itself at `at`. */
  async setScheduledAction(
    id: string,
    body: BodyOf<"set_scheduled_action">,
    options?: RequestOptions,
  ): Promise<PaymentIntent> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/payment-intents/{id}/scheduled-action", {
          params: { path: { id } },
          body,
          ...init,
        }),
      )
    ).data;
  }

  async clearScheduledAction(id: string, options?: RequestOptions): Promise<PaymentIntent> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.DELETE("/v1/payment-intents/{id}/scheduled-action", {
          params: { path: { id } },
          ...init,
        }),
      )
    ).data;
  }

  /** Test mode only: finishes 3D Secure with `{ result: "success" | "failure" }`. */
  async testAuthenticate(
    id: string,
    body: BodyOf<"authenticate_payment_intent">,
    options?: RequestOptions,
  ): Promise<PaymentIntent> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/test-helpers/payment-intents/{id}/authenticate", {
          params: { path: { id } },
          body,
          ...init,
        }),
      )
    ).data;
  }
}

/** `/v1/orders`. */
export class Orders {
  constructor(private readonly h: Holdfast) {}

  async create(body: BodyOf<"create_order">, options?: RequestOptions): Promise<Order> {
    return (
      await this.h.call(true, options, (init) => this.h.raw.POST("/v1/orders", { body, ...init }))
    ).data;
  }

  async retrieve(id: string, options?: RequestOptions): Promise<Order> {
    return (
      await this.h.call(false, options, (init) =>
        this.h.raw.GET("/v1/orders/{id}", { params: { path: { id } }, ...init }),
      )
    ).data;
  }

  async update(id: string, body: BodyOf<"update_order">, options?: RequestOptions): Promise<Order> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.PATCH("/v1/orders/{id}", { params: { path: { id } }, body, ...init }),
      )
    ).data;
  }

  async list(query: QueryOf<"list_orders"> = {}, options?: RequestOptions): Promise<Page<Order>> {
    return this.h.call(false, options, (init) =>
      this.h.raw.GET("/v1/orders", { params: { query }, ...init }),
    );
  }

  listAll(query: QueryOf<"list_orders"> = {}, options?: RequestOptions): AsyncGenerator<Order, void, undefined> {
    return this.h.paginate(query, options, (q, o) => this.list(q, o));
  }

  async cancel(id: string, options?: RequestOptions): Promise<Order> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/orders/{id}/cancel", { params: { path: { id } }, ...init }),
      )
    ).data;
  }

  /** Places the holds (or charges) for every intent of the order, or for none. */
  async pay(id: string, body: BodyOf<"pay_order">, options?: RequestOptions): Promise<Order> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/orders/{id}/pay", { params: { path: { id } }, body, ...init }),
      )
    ).data;
  }

  async capturePaymentIntent(
    id: string,
    paymentIntentId: string,
    body: BodyOf<"capture_order_payment_intent"> = {},
    options?: RequestOptions,
  ): Promise<Order> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/orders/{id}/payment-intents/{pid}/capture", {
          params: { path: { id, pid: paymentIntentId } },
          body,
          ...init,
        }),
      )
    ).data;
  }

  async voidPaymentIntent(id: string, paymentIntentId: string, options?: RequestOptions): Promise<Order> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/orders/{id}/payment-intents/{pid}/void", {
          params: { path: { id, pid: paymentIntentId } },
          ...init,
        }),
      )
    ).data;
  }
}

/** `/v1/refunds`. */
export class Refunds {
  constructor(private readonly h: Holdfast) {}

  async create(body: BodyOf<"create_refund">, options?: RequestOptions): Promise<Refund> {
    return (
      await this.h.call(true, options, (init) => this.h.raw.POST("/v1/refunds", { body, ...init }))
    ).data;
  }

  async retrieve(id: string, options?: RequestOptions): Promise<Refund> {
    return (
      await this.h.call(false, options, (init) =>
        this.h.raw.GET("/v1/refunds/{id}", { params: { path: { id } }, ...init }),
      )
    ).data;
  }

  async list(query: QueryOf<"list_refunds"> = {}, options?: RequestOptions): Promise<Page<Refund>> {
    return this.h.call(false, options, (init) =>
      this.h.raw.GET("/v1/refunds", { params: { query }, ...init }),
    );
  }

  listAll(query: QueryOf<"list_refunds"> = {}, options?: RequestOptions): AsyncGenerator<Refund, void, undefined> {
    return this.h.paginate(query, options, (q, o) => this.list(q, o));
  }
}

/** `/v1/customers`. */
export class Customers {
  constructor(private readonly h: Holdfast) {}

  async create(body: BodyOf<"create_customer"> = {}, options?: RequestOptions): Promise<Customer> {
    return (
      await this.h.call(true, options, (init) => this.h.raw.POST("/v1/customers", { body, ...init }))
    ).data;
  }

  async retrieve(id: string, options?: RequestOptions): Promise<Customer> {
    return (
      await this.h.call(false, options, (init) =>
        this.h.raw.GET("/v1/customers/{id}", { params: { path: { id } }, ...init }),
      )
    ).data;
  }

  /** Saves a card; its `payment_method_id` can confirm this customer's intents. */
  async savePaymentMethod(
    id: string,
    body: BodyOf<"save_payment_method">,
    options?: RequestOptions,
  ): Promise<PaymentMethod> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/customers/{id}/payment-methods", {
          params: { path: { id } },
          body,
          ...init,
        }),
      )
    ).data;
  }
}

/** `/v1/events`. */
export class Events {
  constructor(private readonly h: Holdfast) {}

  async retrieve(id: string, options?: RequestOptions): Promise<Event> {
    return (
      await this.h.call(false, options, (init) =>
        this.h.raw.GET("/v1/events/{id}", { params: { path: { id } }, ...init }),
      )
    ).data;
  }

  async list(query: QueryOf<"list_events"> = {}, options?: RequestOptions): Promise<Page<Event>> {
    return this.h.call(false, options, (init) =>
      this.h.raw.GET("/v1/events", { params: { query }, ...init }),
    );
  }

  listAll(query: QueryOf<"list_events"> = {}, options?: RequestOptions): AsyncGenerator<Event, void, undefined> {
    return this.h.paginate(query, options, (q, o) => this.list(q, o));
  }

  /** The delivery attempts of an event, per endpoint. */
  async listDeliveries(id: string, options?: RequestOptions): Promise<Delivery[]> {
    return (
      await this.h.call(false, options, (init) =>
        this.h.raw.GET("/v1/events/{id}/deliveries", { params: { path: { id } }, ...init }),
      )
    ).data;
  }

  /** Queues the event again for every matching endpoint. */
  async resend(id: string, options?: RequestOptions): Promise<ResentEvent> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/events/{id}/resend", { params: { path: { id } }, ...init }),
      )
    ).data;
  }
}

/** `/v1/webhook-endpoints`. */
export class WebhookEndpoints {
  constructor(private readonly h: Holdfast) {}

  /** Registers an endpoint. Its `secret` (`whsec_…`) is in this answer only: keep it. */
  async create(body: BodyOf<"create_webhook_endpoint">, options?: RequestOptions): Promise<WebhookEndpoint> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/webhook-endpoints", { body, ...init }),
      )
    ).data;
  }

  async retrieve(id: string, options?: RequestOptions): Promise<WebhookEndpoint> {
    return (
      await this.h.call(false, options, (init) =>
        this.h.raw.GET("/v1/webhook-endpoints/{id}", { params: { path: { id } }, ...init }),
      )
    ).data;
  }

  async update(id: string, body: BodyOf<"update_webhook_endpoint">, options?: RequestOptions): Promise<WebhookEndpoint> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.PATCH("/v1/webhook-endpoints/{id}", {
          params: { path: { id } },
          body,
          ...init,
        }),
      )
    ).data;
  }

  async delete(id: string, options?: RequestOptions): Promise<DeletedWebhookEndpoint> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.DELETE("/v1/webhook-endpoints/{id}", { params: { path: { id } }, ...init }),
      )
    ).data;
  }

  async list(query: QueryOf<"list_webhook_endpoints"> = {}, options?: RequestOptions): Promise<Page<WebhookEndpoint>> {
    return this.h.call(false, options, (init) =>
      this.h.raw.GET("/v1/webhook-endpoints", { params: { query }, ...init }),
    );
  }

  listAll(query: QueryOf<"list_webhook_endpoints"> = {}, options?: RequestOptions): AsyncGenerator<WebhookEndpoint, void, undefined> {
    return this.h.paginate(query, options, (q, o) => this.list(q, o));
  }

  /** A new secret; the old one keeps signing beside it for 24 h. */
  async rotateSecret(id: string, options?: RequestOptions): Promise<WebhookEndpoint> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/webhook-endpoints/{id}/rotate-secret", {
          params: { path: { id } },
          ...init,
        }),
      )
    ).data;
  }
}

/** `/v1/test-clocks` (test mode only). */
export class TestClocks {
  constructor(private readonly h: Holdfast) {}

  async create(body: BodyOf<"create_test_clock"> = {}, options?: RequestOptions): Promise<TestClock> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/test-clocks", { body, ...init }),
      )
    ).data;
  }

  async retrieve(id: string, options?: RequestOptions): Promise<TestClock> {
    return (
      await this.h.call(false, options, (init) =>
        this.h.raw.GET("/v1/test-clocks/{id}", { params: { path: { id } }, ...init }),
      )
    ).data;
  }

  async delete(id: string, options?: RequestOptions): Promise<DeletedTestClock> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.DELETE("/v1/test-clocks/{id}", { params: { path: { id } }, ...init }),
      )
    ).data;
  }

  async list(query: QueryOf<"list_test_clocks"> = {}, options?: RequestOptions): Promise<Page<TestClock>> {
    return this.h.call(false, options, (init) =>
      this.h.raw.GET("/v1/test-clocks", { params: { query }, ...init }),
    );
  }

  listAll(query: QueryOf<"list_test_clocks"> = {}, options?: RequestOptions): AsyncGenerator<TestClock, void, undefined> {
    return this.h.paginate(query, options, (q, o) => this.list(q, o));
  }

  /** Moves the clock forward and runs everything that falls due on its intents, in order. */
  async advance(id: string, body: BodyOf<"advance_test_clock">, options?: RequestOptions): Promise<TestClock> {
    return (
      await this.h.call(true, options, (init) =>
        this.h.raw.POST("/v1/test-clocks/{id}/advance", {
          params: { path: { id } },
          body,
          ...init,
        }),
      )
    ).data;
  }
}

// The objects, as the server answers them (derived from the generated types, never restated).
export type PaymentIntent = Schemas["PaymentIntent"];
export type PaymentIntentStatus = Schemas["PaymentIntentStatus"];
export type CreatedPaymentIntent = Schemas["CreatedPaymentIntent"];
export type Action = Schemas["Action"];
export type Money = Schemas["Money"];
export type MoneyIn = Schemas["MoneyIn"];
export type Order = Schemas["Order"];
export type Refund = Schemas["Refund"];
export type Customer = Schemas["Customer"];
export type PaymentMethod = Schemas["PaymentMethod"];
export type WebhookEndpoint = Schemas["WebhookEndpoint"];
export type Delivery = Schemas["Delivery"];
export type TestClock = Schemas["TestClock"];
export type EventType = Schemas["EventType"];
export type ResentEvent = Schemas["ResentEventOut"];
export type DeletedWebhookEndpoint = Schemas["DeletedWebhookEndpointOut"];
export type DeletedTestClock = Schemas["DeletedTestClockOut"];
