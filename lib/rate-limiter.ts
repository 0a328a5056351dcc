/** Per-client request limits: a sliding window, estimated from two fixed windows, bounded in memory. */

interface Bucket {
  windowStart: number;
  previous: number;
  current: number;
  /** The last request was refused. */
  refusing: boolean;
}

/** A limiter's answer: go ahead, or wait `retryAfterSeconds`; `firstRefusal` when the client was allowed until now. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number; firstRefusal: boolean };

/** Where request counts live: this process (RateLimiter) or a database every instance shares. */
export interface RequestLimiter {
  /** Requests a client may make per window; 0 allows every request. */
  readonly limit: number;
  take(client: string, now: number): RateDecision | Promise<RateDecision>;
}

/** Allows `limit` requests per client in any `windowSeconds`; `limit` 0 allows everything. */
export class RateLimiter implements RequestLimiter {
  readonly #buckets = new Map<string, Bucket>();

  constructor(
    readonly limit: number,
    readonly windowSeconds: number,
    /** Clients remembered at once; the least recently seen are forgotten first. */
    readonly capacity = 100_000,
  ) {}

  /** Counts one request from `client` at `now` (Unix seconds, fractional) unless it is over the limit. */
  take(client: string, now: number): RateDecision {
    if (this.limit === 0) return { allowed: true };
    const window = this.windowSeconds;
    const windowStart = Math.floor(now / window) * window;
    const bucket = this.#bucket(client, windowStart);
    if (bucket.windowStart !== windowStart) {
      bucket.previous = bucket.windowStart === windowStart - window ? bucket.current : 0;
      bucket.current = 0;
      bucket.windowStart = windowStart;
    }
    const elapsed = (now - windowStart) / window;
    const estimate = bucket.previous * (1 - elapsed) + bucket.current;
    if (estimate + 1 > this.limit) {
      // Wait until the previous window has faded enough to leave room for one more.
      const room = this.limit - 1 - bucket.current;
      const fadedAt = room >= 0 && bucket.previous > 0 ? 1 - room / bucket.previous : 1;
      const firstRefusal = !bucket.refusing;
      bucket.refusing = true;
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((fadedAt - elapsed) * window)), firstRefusal };
    }
    bucket.refusing = false;
    bucket.current++;
    return { allowed: true };
  }

  /** How many clients are remembered. */
  get size(): number {
    return this.#buckets.size;
  }

  #bucket(client: string, windowStart: number): Bucket {
    let bucket = this.#buckets.get(client);
    if (bucket) this.#buckets.delete(client); // re-inserted below: Map order is recency
    else bucket = { windowStart, previous: 0, current: 0, refusing: false };
    this.#buckets.set(client, bucket);
    if (this.#buckets.size > this.capacity) this.#buckets.delete(this.#buckets.keys().next().value!);
    return bucket;
  }
}
