/** The relay's public facts: its key, its health, its metrics. */
import process from "node:process";
import type { RequestContext } from "../context.ts";
import { jsonResponse } from "../errors.ts";

/** GET /pubkey: the key text proofs must bind. */
export function pubkey({ relay }: RequestContext): Response {
  return jsonResponse({ pubkey: relay.relayPubkey });
}

/**
 * GET /healthz: status, uptime and what the store holds; with PostgreSQL, whether the engine answers
 * (503 store_unavailable while it does not, so a load balancer can tell). On the embedded log, whether
 * writes fail (`failing_writes`: a full or failing disk); still 200, since the relay is alive, reads
 * still work, and nothing but its next write can tell that the disk has room again.
 */
export function healthz({ relay }: RequestContext): Response {
  const stats = relay.store.stats();
  const common = { uptime_seconds: Math.floor(relay.uptimeSeconds()), stored_messages: stats.messages, stored_bytes: stats.bytes };
  if (!("engine" in stats)) return jsonResponse({ status: "ok", ...common, damaged_records: stats.damagedRecords, failing_writes: stats.failingWrites });
  const up = stats.engine.state === "up";
  const status = up ? { status: "ok" } : { status: "error", reason: "store_unavailable" };
  return jsonResponse({ ...status, ...common, engine: stats.engine.state }, up ? 200 : 503, up ? undefined : { "Retry-After": "2" });
}

/** GET /metrics: Prometheus text format. */
export function metrics({ relay }: RequestContext): Response {
  const caps = { maxMessages: relay.config.maxMessages, maxStoreBytes: relay.config.maxStoreBytes };
  const { version, runtime } = relay;
  const facts = { version, runtime, uptimeSeconds: relay.uptimeSeconds(), residentBytes: process.memoryUsage.rss() };
  return new Response(relay.metrics.render(relay.store.stats(), caps, facts), {
    headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" },
  });
}
