/** Applying a rate limiter to a request. */
import { rateLimitKey } from "../client-address.ts";
import type { RequestContext } from "../context.ts";
import { errors } from "../errors.ts";
import type { RateLimiter } from "../rate-limiter.ts";

/** Counts the request against `limiter`; throws 429 rate_limit_exceeded with Retry-After when over. */
export function limitRate(context: RequestContext, limiter: RateLimiter): void {
  const decision = limiter.take(rateLimitKey(context.client), context.relay.clock());
  if (decision.allowed) return;
  context.relay.metrics.rateLimited++;
  throw errors.rateLimitExceeded(decision.retryAfterSeconds);
}
