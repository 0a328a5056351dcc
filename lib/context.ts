/** What every handler is given: the relay's shared services and the request at hand. */
import type { Config } from "./config.ts";
import type { PublicKeyCache } from "./crypto/public-keys.ts";
import type { HttpRequest } from "./http-request.ts";
import type { Logger, ThrottledLogger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { RequestLimiter } from "./rate-limiter.ts";
import type { SpentProofs } from "./replay-guard.ts";
import type { MailboxStore } from "./store/mailbox-store.ts";

/** Services built once by `createApp`. */
export interface Relay {
  config: Config;
  store: MailboxStore;
  /** The PEM text `GET /pubkey` serves and every proof binds; "" for a keyless relay. */
  relayPubkey: string;
  /** Lowercase hex SHA-256 of the relay key's SPKI DER; "" for a keyless relay. */
  relayKeyFingerprint: string;
  /** The relay's version. */
  version: string;
  /** The runtime serving it, e.g. `bun 1.4.5`. */
  runtime: string;
  /** Unix seconds, fractional. */
  clock(): number;
  log: Logger;
  /** For events a flood would repeat: one line per key a minute (keys from a small fixed set). */
  logRepeated: ThrottledLogger;
  keys: PublicKeyCache;
  replays: SpentProofs;
  depositLimiter: RequestLimiter;
  readLimiter: RequestLimiter;
  metrics: Metrics;
  /** Seconds since the relay started, by a clock the wall clock's jumps do not move. */
  uptimeSeconds(): number;
}

/** One request as a handler sees it. */
export interface RequestContext {
  request: HttpRequest;
  /** The route's path, or "other": how logs and metrics name the endpoint. */
  endpoint: string;
  /** The TCP peer's address, looked up when asked. */
  peer(): string;
  /** The client's address (see `clientAddress`), worked out when first asked. */
  client(): string;
  relay: Relay;
  /** The body as a JSON object, read within the size limit and deadline. */
  body(): Promise<Record<string, unknown>>;
}
