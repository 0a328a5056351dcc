/** Opening the relay's storage as configured: the embedded log in the data dir, or PostgreSQL shared by several relays. */
import type { ReadIfCached } from "./cached-read.ts";
import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";
import type { SharedState } from "./shared-state.ts";
import type { MailboxStore } from "./store/mailbox-store.ts";
import { StoreError } from "./store/message-store.ts";
import { openMessageStore } from "./store/open-store.ts";

/** Longest a request may wait on PostgreSQL in all, from its first operation, before it answers 503 store_unavailable. */
export const ENGINE_TIMEOUT_MS = 5000;

/** The store cannot be opened as configured; the message is one line for the operator. */
export class StorageError extends Error {
  override name = "StorageError";

  /** `unreachable`: the database did not answer (worth another try), unlike a wrong URL or key. */
  constructor(message: string, readonly unreachable = false, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The opened storage: the mailboxes, and (with PostgreSQL) the state the instances share. */
export interface Storage {
  store: MailboxStore;
  shared?: SharedState;
  /** Where it lives, for the start-up log line (no password). */
  location: string;
}

/** True for a `--store` value that names PostgreSQL. */
export const isPostgresUrl = (value: string) => /^postgres(ql)?:\/\//.test(value);

/**
 * The URL without its password, for logs and errors. A URL that parses with a host has its password
 * replaced; in any other (a mistyped scheme, a password with `/` or `#` not percent-encoded), everything
 * from the user's `:` to the last `@` is masked.
 */
export function redactUrl(url: string): string {
  const parsed = URL.canParse(url) ? new URL(url) : null;
  if (parsed?.host) {
    if (!parsed.password) return url;
    parsed.password = "***";
    return parsed.href;
  }
  return url.replace(/^(\s*[a-z][a-z0-9+.-]*:\/*[^:@/]*):.*@/is, "$1:***@");
}

/**
 * Opens the store `config.store` names (the embedded log when empty; it reads records in the page cache
 * with `readIfCached`, where the runtime has it). With PostgreSQL, the schema is created or migrated and
 * this relay's key must match the one the other relays on the database serve.
 */
export async function openStorage(config: Config, relayPubkey: string, log: Logger, readIfCached?: ReadIfCached): Promise<Storage> {
  const common = {
    maxStoreBytes: config.maxStoreBytes,
    maxMessages: config.maxMessages,
    mailboxMaxMessages: config.mailboxMaxMessages,
    sweepIntervalSeconds: config.sweepInterval,
    clock: () => Math.floor(Date.now() / 1000),
    log,
  };
  if (!config.store) {
    const store = await openMessageStore(config.dataDir, { ...common, durable: !config.unsafeNoFsync, readIfCached });
    return { store, location: config.dataDir };
  }
  if (!isPostgresUrl(config.store)) throw new StorageError(`--store: expected postgres://… (or nothing, for the embedded log), got ${JSON.stringify(redactUrl(config.store))}`);
  const location = redactUrl(config.store);
  // Loaded only now: a relay on the embedded log (and `deno task start`, which has no node_modules) never needs the client.
  const { openPostgres, ServingRefused } = await import("./postgres/open.ts").catch((error) => {
    throw new StorageError(`the PostgreSQL client (npm package postgres) cannot be loaded here (\`deno task start\` runs without node_modules): use the binary, Bun (\`npm start\`), or \`deno run -A main.ts\` where \`npm ci\` ran: ${oneLine(error)}`, false, { cause: error });
  });
  try {
    const opened = await openPostgres({ ...common, url: config.store, poolSize: config.storePoolSize, operationTimeoutMs: ENGINE_TIMEOUT_MS }, relayPubkey);
    return { ...opened, location };
  } catch (error) {
    if (error instanceof ServingRefused) throw new StorageError(error.message, false, { cause: error });
    const unreachable = error instanceof StoreError && error.kind === "unavailable";
    throw new StorageError(`cannot open the store at ${location}: ${oneLine(error)}`, unreachable, { cause: error });
  }
}

/** An error's message and its cause's, on one line. */
export function oneLine(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  // Without terminal colour codes (Deno's own messages carry them).
  return String((error as Error).message + (cause ? `: ${(cause as Error).message ?? cause}` : "")).replace(/\x1b\[[0-9;]*m/g, "").replace(/\s+/g, " ");
}
