/**
 * Per-client request limits shared by every relay instance: counters in an UNLOGGED table, counted
 * a batch of requests per statement (in arrival order per client, exactly as one by one).
 */
import type { RateDecision } from "../rate-limiter.ts";
import { ARRAY_OF } from "./array-types.ts";
import { laneOfKey } from "./batcher.ts";
import type { Engine } from "./engine.ts";

interface Request {
  client: string;
  now: number;
}

/** Requests one statement counts at most, and statements in flight (clients split by lane). */
const BATCH_REQUESTS = 512;
const LANES = 2;

/** Allows `limit` requests per client in any `windowSeconds`, counted across instances; `limit` 0 allows everything. */
export class PostgresRateLimiter {
  readonly #submit: (item: Request) => Promise<RateDecision>;

  constructor(
    readonly engine: Engine,
    readonly limit: number,
    readonly windowSeconds: number,
  ) {
    this.#submit = engine.batched({
      lanes: LANES,
      maxItems: BATCH_REQUESTS,
      laneOf: (request) => laneOfKey(request.client, LANES),
      send: (requests) => this.#count(requests),
    });
  }

  /** Counts one request from `client` at `now` (Unix seconds, fractional) unless it is over the limit. */
  take(client: string, now: number): Promise<RateDecision> | RateDecision {
    if (this.limit === 0) return { allowed: true };
    return this.#submit({ client, now });
  }

  /** One statement for the batch. */
  async #count(requests: Request[]): Promise<RateDecision[]> {
    const [row] = await this.engine.run("rate_limit", (sql) =>
      sql`SELECT * FROM rendezvous_rate_take_batch(${sql.array(requests.map((request) => request.client), ARRAY_OF.text)},
        ${sql.array(requests.map((request) => request.now), ARRAY_OF.float8)}, ${this.windowSeconds}, ${this.limit})`);
    return requests.map((_, i): RateDecision =>
      row.allowed[i] ? { allowed: true } : { allowed: false, retryAfterSeconds: row.retry_after[i], firstRefusal: row.first_refusal[i] }
    );
  }
}
