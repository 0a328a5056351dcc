/** The relay's public facts: its key, its health, its metrics. */
import type { RequestContext } from "../context.ts";
import { jsonResponse } from "../errors.ts";

/** GET /pubkey: the key text proofs must bind. */
export function pubkey({ relay }: RequestContext): Response {
  return jsonResponse({ pubkey: relay.relayPubkey });
}

/** GET /healthz: status, uptime and what the store holds. */
export function healthz({ relay }: RequestContext): Response {
  const stats = relay.store.stats();
  return jsonResponse({
    status: "ok",
    uptime_seconds: Math.floor(relay.clock() - relay.startedAt),
    stored_messages: stats.messages,
    stored_bytes: stats.bytes,
    damaged_records: stats.damagedRecords,
  });
}

/** GET /metrics: Prometheus text format. */
export function metrics({ relay }: RequestContext): Response {
  return new Response(relay.metrics.render(relay.store.stats(), relay.clock() - relay.startedAt), {
    headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" },
  });
}
