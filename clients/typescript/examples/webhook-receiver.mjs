// A webhook receiver that checks each delivery's Standard Webhooks signature.
// Run: HOLDFAST_WEBHOOK_SECRET=whsec_… PORT=3000 node examples/webhook-receiver.mjs
// and register http://127.0.0.1:3000/webhooks as an endpoint (its secret is shown once).
import { createServer } from "node:http";
import { verifyWebhook, WebhookVerificationError } from "@holdfast/client";

const secret = process.env.HOLDFAST_WEBHOOK_SECRET;
// The newest snapshot of each object. Deliveries can arrive out of order (a failed attempt is
// retried after later events went through), so keep a snapshot only if its version is higher.
const latest = new Map();

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    try {
      // Verify the raw bytes, exactly as received; parse only what verified.
      const event = verifyWebhook(Buffer.concat(chunks), req.headers, secret);
      const object = event.data.object;
      const key = object.refund_id ?? object.payment_intent_id ?? object.order_id;
      const stale = (latest.get(key)?.version ?? 0) >= object.version;
      if (!stale) latest.set(key, object);
      console.log(event.type, event.id, object.payment_intent_id ?? "", object.version, stale ? "stale" : "newest");
      res.writeHead(204).end(); // any 2xx: delivered
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      res.writeHead(400).end(); // not from Holdfast (or too old): refuse it
    }
  });
});

server.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}/webhooks`);
});
