/** The relay as a function: HttpRequest → Response, with its route table and the one error boundary. */
import { readJsonObject } from "./body.ts";
import { clientAddress } from "./client-address.ts";
import type { Config } from "./config.ts";
import type { Relay, RequestContext } from "./context.ts";
import { publicKeyFingerprint } from "./crypto/fingerprint.ts";
import { PublicKeyCache } from "./crypto/public-keys.ts";
import { errorResponse, errors, RelayError } from "./errors.ts";
import type { HttpRequest } from "./http-request.ts";
import { type Logger, throttledLogger } from "./log.ts";
import { memoize } from "./memo.ts";
import { Metrics } from "./metrics.ts";
import { findRoute, requestPath, type Route } from "./router.ts";
import { deposit } from "./routes/deposit.ts";
import { ack, collect, retrieve } from "./routes/mailbox.ts";
import { healthz, metrics, pubkey } from "./routes/status.ts";
import { statusPage } from "./routes/status-page.ts";
import { inMemoryState, type SharedState } from "./shared-state.ts";
import type { MailboxStore } from "./store/mailbox-store.ts";
import { StoreError } from "./store/message-store.ts";

const routes: Route<RequestContext>[] = [
  { method: "GET", path: "/", handler: statusPage },
  { method: "GET", path: "/pubkey", handler: pubkey },
  { method: "POST", path: "/deposit", handler: deposit },
  { method: "POST", path: "/retrieve", handler: retrieve },
  { method: "POST", path: "/collect", handler: collect },
  { method: "POST", path: "/ack", handler: ack },
  { method: "GET", path: "/healthz", handler: healthz },
  { method: "GET", path: "/metrics", handler: metrics },
];

/** What the app is built from. */
export interface AppDependencies {
  config: Config;
  store: MailboxStore;
  /** Spent proofs and rate limits; in memory unless instances share them. */
  shared?: SharedState;
  relayPubkey: string;
  /** The relay's version, for the status page and /metrics. */
  version: string;
  /** The runtime serving it (e.g. `bun 1.4.5`), for /metrics. */
  runtime: string;
  log: Logger;
  /** Unix seconds, fractional; tests freeze it. */
  clock?: () => number;
  /**
   * Seconds on a clock that only moves forward, whatever the wall clock does (a Pi's jumps at boot when
   * network time corrects it): the relay's uptime.
   */
  uptimeClock?: () => number;
}

/** The relay's request handler; `peerAddress` looks up the TCP peer's address (only when needed). */
export type App = (request: HttpRequest, peerAddress: () => string) => Promise<Response>;

/** Builds the relay's services once and returns its handler. */
export function createApp(dependencies: AppDependencies): App {
  const { config, log } = dependencies;
  const clock = dependencies.clock ?? (() => Date.now() / 1000);
  const uptimeClock = dependencies.uptimeClock ?? (() => performance.now() / 1000);
  const started = uptimeClock();
  const shared = dependencies.shared ?? inMemoryState();
  const relay: Relay = {
    ...dependencies,
    relayKeyFingerprint: dependencies.relayPubkey && publicKeyFingerprint(dependencies.relayPubkey),
    clock,
    keys: new PublicKeyCache(),
    replays: shared.replays,
    depositLimiter: shared.limiter(config.depositRateLimit, config.depositRateWindow),
    readLimiter: shared.limiter(config.readRateLimit, config.readRateWindow),
    metrics: new Metrics(clock),
    uptimeSeconds: () => uptimeClock() - started,
    // Keyed by endpoint for internal errors, by reason for capacity refusals, "proof_stale", and "rate_limited ENDPOINT": the sets never meet.
    logRepeated: throttledLogger(log, REPEATED_EVENT_LOG_INTERVAL_SECONDS, clock),
  };
  const { logRepeated } = relay;
  const limits = { maxBytes: config.maxPayloadBytes, timeoutMs: config.requestTimeout * 1000 };
  // Most requests come without X-Forwarded-For, from a peer that sent the one before: parse each peer once.
  const peerClient = memoize((peer) => clientAddress(peer, null, config.trustProxy));
  /** The client a request counts as (see RequestContext.client). */
  const clientOf = (request: HttpRequest, peerAddress: () => string) => {
    const peer = peerAddress();
    // No address: the connection is gone (reset since the request came), and with it whom to count the request against.
    if (peer === "") throw errors.clientClosedRequest();
    const forwardedFor = request.headers.get("x-forwarded-for");
    return forwardedFor === null ? peerClient(peer) : clientAddress(peer, forwardedFor, config.trustProxy);
  };

  // Never throws: whatever the request, the answer is a response from the catalog.
  return async (request, peerAddress) => {
    let endpoint = "other";
    let response: Response;
    let reason = "ok";
    try {
      const path = requestPath(request);
      const route = path instanceof RelayError ? path : findRoute(routes, request.method, path);
      if (route instanceof RelayError) throw route;
      endpoint = route.path;
      let client: string | undefined;
      const context = { request, endpoint, peer: peerAddress, client: () => client ??= clientOf(request, peerAddress), relay, body: () => readJsonObject(request, limits) };
      response = await shared.oneRequest(() => route.handler(context));
    } catch (error) {
      const relayError = asRelayError(error);
      if (relayError === unexpected) logRepeated(endpoint, "internal_error", { endpoint, error: stackOf(error) });
      else if (CAPACITY_REASONS.has(relayError.reason)) logRepeated(relayError.reason, relayError.reason, {});
      reason = relayError.reason;
      response = errorResponse(relayError);
    }
    relay.metrics.countRequest(endpoint, response.status, reason);
    return request.method === "HEAD" ? await withoutBody(response) : response;
  };
}

/**
 * A bug repeated by every request of a flood is logged once a minute per endpoint, deposits refused for
 * want of room once a minute per reason (for alerts; /metrics counts them all), and stale proofs once a
 * minute, with the count left out.
 */
const REPEATED_EVENT_LOG_INTERVAL_SECONDS = 60;
const CAPACITY_REASONS = new Set(["store_full", "mailbox_full"]);

/** An unexpected error's stack (or text) for the log; it never goes into a response. */
function stackOf(error: unknown): string {
  try {
    return String((error as Error)?.stack ?? error);
  } catch {
    return "(an error that cannot be described)";
  }
}

/** The answer to HEAD: GET's status and headers, no body, and the Content-Length GET's body would have. */
async function withoutBody(response: Response): Promise<Response> {
  const headers = new Headers(response.headers);
  headers.set("Content-Length", String((await response.arrayBuffer()).byteLength));
  return new Response(null, { status: response.status, headers });
}

const unexpected = errors.internalError();
const storeErrors = { mailbox_full: errors.mailboxFull, store_full: errors.storeFull, io: errors.storageError, unavailable: errors.storeUnavailable };

/** Domain errors become their catalog entry here, at the edge; anything else is `unexpected` (500). */
function asRelayError(error: unknown): RelayError {
  if (error instanceof RelayError) return error;
  if (error instanceof StoreError) return storeErrors[error.kind]();
  return unexpected;
}
