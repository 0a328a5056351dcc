/** State that must be one for all relay instances: spent proofs and request counts. */
import { RateLimiter, type RequestLimiter } from "./rate-limiter.ts";
import { ReplayGuard, type SpentProofs } from "./replay-guard.ts";

/** Spent proofs and rate limiters, in this process or in a database the instances share. */
export interface SharedState {
  replays: SpentProofs;
  /** A limiter of `limit` requests per client per `windowSeconds`. */
  limiter(limit: number, windowSeconds: number): RequestLimiter;
  /** Serves one request (returns what `handle` does): with a database, all it asks of it (state and store) shares one deadline. */
  oneRequest<T>(handle: () => T): T;
}

/** The state of a relay that runs alone: in memory. */
export function inMemoryState(): SharedState {
  return { replays: new ReplayGuard(), limiter: (limit, windowSeconds) => new RateLimiter(limit, windowSeconds), oneRequest: (handle) => handle() };
}
