/** Applying a rate limiter to a request. */
import { rateLimitKey } from "../client-address.ts";
import type { RequestContext } from "../context.ts";
import { errors } from "../errors.ts";
import { memoize } from "../memo.ts";
import type { RequestLimiter } from "../rate-limiter.ts";

/** A client's bucket, parsed once per address rather than once per request. */
const bucketOf = memoize(rateLimitKey);

/**
 * Counts the request against `limiter`; throws 429 rate_limit_exceeded with Retry-After when over.
 * Logs when a client starts being refused, not each refusal: a flood must not become a flood of log lines.
 * Without client addresses in the log those lines would all be alike: then one a minute per endpoint.
 */
export async function limitRate(context: RequestContext, limiter: RequestLimiter): Promise<void> {
  if (limiter.limit === 0) return; // no limit: the client's address is not even looked up
  const { relay } = context;
  const client = context.client();
  const decision = await limiter.take(bucketOf(client), relay.clock());
  if (decision.allowed) return;
  relay.metrics.rateLimited++;
  if (decision.firstRefusal) {
    if (relay.config.logClientAddresses) relay.log("rate_limited", { endpoint: context.endpoint, client });
    else relay.logRepeated(`rate_limited ${context.endpoint}`, "rate_limited", { endpoint: context.endpoint });
  }
  throw errors.rateLimitExceeded(decision.retryAfterSeconds);
}
