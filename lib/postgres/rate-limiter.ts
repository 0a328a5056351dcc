/** Per-client request limits shared by every relay instance: counters in an UNLOGGED table. */
import type { RateDecision } from "../rate-limiter.ts";
import type { Engine } from "./engine.ts";

/** Allows `limit` requests per client in any `windowSeconds`, counted across instances; `limit` 0 allows everything. */
export class PostgresRateLimiter {
  constructor(
    readonly engine: Engine,
    readonly limit: number,
    readonly windowSeconds: number,
  ) {}

  /** Counts one request from `client` at `now` (Unix seconds, fractional) unless it is over the limit. */
  async take(client: string, now: number): Promise<RateDecision> {
    if (this.limit === 0) return { allowed: true };
    const [row] = await this.engine.run("rate_limit", (sql) =>
      sql`SELECT * FROM rendezvous_rate_take(${client}, ${now}, ${this.windowSeconds}, ${this.limit})`);
    return row.allowed ? { allowed: true } : { allowed: false, retryAfterSeconds: row.retry_after, firstRefusal: row.first_refusal };
  }
}
