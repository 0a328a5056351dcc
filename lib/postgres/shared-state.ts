/** Spent proofs and rate limits in PostgreSQL, shared by every relay instance on the database. */
import type { SharedState } from "../shared-state.ts";
import type { Engine } from "./engine.ts";
import { PostgresRateLimiter } from "./rate-limiter.ts";
import { PostgresReplayGuard } from "./replay-guard.ts";

/** Shared state on `engine` (the store's pool). */
export function postgresState(engine: Engine): SharedState {
  return {
    replays: new PostgresReplayGuard(engine),
    limiter: (limit, windowSeconds) => new PostgresRateLimiter(engine, limit, windowSeconds),
    oneRequest: (handle) => engine.oneRequest(handle),
  };
}
