/**
 * `hivemind-rendezvous copy FROM TO`: every live message, with its id and expiry, from one store to
 * another (a data dir or postgres://…), so an operator can move from a Pi to a cluster and back.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { claimDataDir, holdDataDir } from "./data-dir-lock.ts";
import type { FileLock, TryLockFile } from "./file-lock.ts";
import type { Logger } from "./log.ts";
import { ENGINE_TIMEOUT_MS, isPostgresUrl, oneLine, redactUrl } from "./storage.ts";
import { checkpointPath } from "./store/checkpoint.ts";
import { checkMessageLog, liveMessagesOf } from "./store/log-export.ts";
import { LOG_FILE, type StoredMessage } from "./store/message-store.ts";
import { openMessageStore } from "./store/open-store.ts";

/** Caps are the source's business: a copy takes every message it is given. */
const UNCAPPED = { maxStoreBytes: 2 ** 50, maxMessages: Number.MAX_SAFE_INTEGER, mailboxMaxMessages: Number.MAX_SAFE_INTEGER, sweepIntervalSeconds: 0 };
const clock = () => Math.floor(Date.now() / 1000);

/** The PostgreSQL client is loaded only for a copy to or from a database, as lib/storage.ts loads it. */
async function openPostgres(url: string, log: Logger) {
  const { openPostgresStore } = await import("./postgres/message-store.ts");
  return await openPostgresStore({ ...UNCAPPED, url, poolSize: 2, operationTimeoutMs: ENGINE_TIMEOUT_MS * 6, clock, log }).catch((error) => {
    throw new CopyError(`cannot open ${redactUrl(url)}: ${oneLine(error)}`, { cause: error });
  });
}

/**
 * A database to copy into: refused once a relay has started on it (recorded its key). A copy run again
 * there skips the messages it holds, but brings back every message relays have delivered since.
 */
async function openPostgresTarget(url: string, log: Logger) {
  const store = await openPostgres(url, log);
  try {
    const { servedByRelays } = await import("./postgres/relay-key.ts");
    if (await servedByRelays(store.engine)) {
      throw new CopyError(
        `a relay has started on ${redactUrl(url)} (its key is recorded there): a copy into it would bring back the messages relays delivered from it; ` +
          "copy into a database no relay has run on (one that none has delivered from can be dropped and created again)",
      );
    }
    return store;
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** Every live message of `from`, a mailbox at a time; `onDamage` hears of the damaged lines of a data dir's log. */
async function* messagesOf(from: string, log: Logger, onDamage: (offsets: number[]) => void): AsyncGenerator<{ mailbox: string; messages: StoredMessage[] }> {
  if (!isPostgresUrl(from)) return yield* liveMessagesOf(from, clock(), onDamage);
  const store = await openPostgres(from, log);
  try {
    for (const mailbox of await store.mailboxes()) yield { mailbox, messages: (await store.peek(mailbox)).messages };
  } finally {
    await store.close();
  }
}

/** Where copies go: adds messages with their ids, resolving with how many were added. */
interface CopyTarget {
  restore(mailbox: string, messages: StoredMessage[]): Promise<number>;
  /** For a data dir: whether some records were written to it (a copy that stops part-way leaves them there). */
  holdsRecords?(): boolean;
  close(): Promise<void>;
}

async function targetOf(to: string, log: Logger): Promise<CopyTarget> {
  if (isPostgresUrl(to)) return await openPostgresTarget(to, log);
  const store = await openMessageStore(to, { ...UNCAPPED, durable: true, clock, log });
  // An embedded log has no way to tell a copied message from a new one: copy into an empty one only.
  const held = store.stats().messages;
  if (held > 0) {
    await store.close();
    throw new CopyError(`${to} already holds ${held} messages: copy into an empty data dir`);
  }
  return {
    async restore(mailbox, messages) {
      // Deposits issued together share the log's group commits, and are appended in the order issued.
      await Promise.all(messages.map((message) => store.deposit(mailbox, message.payload, message.expiresAt, message.depositId)));
      return messages.length;
    },
    holdsRecords: () => store.stats().logBytes > 0,
    close: () => store.close(),
  };
}

/**
 * Copies every live message of `from` into `to`; resolves with how many there were, how many were added
 * and in how many mailboxes. A data dir on either side is locked as a relay locks it: no relay may run on
 * it meanwhile (its log would overwrite the copied records, or change under the reading).
 */
async function copyMessages(from: string, to: string, tryLockFile: TryLockFile, log: Logger = () => {}): Promise<{ messages: number; added: number; mailboxes: number; damaged: number[] }> {
  const locks: FileLock[] = [];
  try {
    // FROM is checked whole before anything is created at TO.
    if (!isPostgresUrl(from)) {
      locks.push(await holdDataDir(from, tryLockFile));
      await checkMessageLog(from);
    }
    if (!isPostgresUrl(to)) {
      if (!isPostgresUrl(from) && await sameDirectory(from, to)) throw new CopyError(`${from} and ${to} are the same data dir`);
      locks.push(await claimDataDir(to, tryLockFile));
    }
    const target = await targetOf(to, log);
    const counts = { messages: 0, added: 0, mailboxes: 0, damaged: [] as number[] };
    try {
      for await (const { mailbox, messages } of messagesOf(from, log, (offsets) => (counts.damaged = offsets))) {
        counts.mailboxes++;
        counts.messages += messages.length;
        counts.added += await target.restore(mailbox, messages);
      }
    } catch (error) {
      // A data dir holding part of the copy would be refused by the next copy, and served as it is by a relay.
      const written = target.holdsRecords?.() ?? false;
      await target.close().catch(() => {});
      if (!written) throw error;
      const logPath = join(to, LOG_FILE);
      throw new CopyError(`${oneLine(error)}; the copy stopped part-way: remove ${logPath} and ${checkpointPath(logPath)} before running it again`, { cause: error });
    }
    await target.close();
    return counts;
  } finally {
    for (const lock of locks) lock.release();
  }
}

/** True when both paths name one existing directory (however spelt). */
async function sameDirectory(a: string, b: string): Promise<boolean> {
  const [first, second] = await Promise.all([stat(a), stat(b).catch(() => null)]);
  return second !== null && first.dev === second.dev && first.ino === second.ino;
}

/** A copy that cannot be done; the message is one line for the operator. */
class CopyError extends Error {
  override name = "CopyError";
}

const COPY_HELP = [
  "Usage: hivemind-rendezvous copy FROM TO",
  "Copies every live message, with its id and expiry, from FROM to TO; each is a data dir or a",
  "postgres:// URL. No relay may run on a data dir meanwhile. A data dir TO must hold no messages;",
  "into PostgreSQL, messages already there are skipped, so a copy can be run again until a relay",
  "starts on the database (then it is refused: it would bring back what the relays delivered). Run it",
  "as the user the relay runs as, so that the relay can open the files it writes.",
].join("\n");

/** The subcommand: prints one line (or, for --help, its usage), returns the exit code. */
export async function runCopy(args: string[], tryLockFile: TryLockFile): Promise<number> {
  if (args.length === 1 && (args[0] === "--help" || args[0] === "-h")) return console.log(COPY_HELP), 0;
  if (args.length !== 2 || args.some((arg) => arg.startsWith("-"))) {
    console.error("hivemind-rendezvous copy: usage: copy FROM TO (each a data dir or postgres://user@host/db)");
    return 2;
  }
  const [from, to] = args;
  try {
    const { messages, added, mailboxes, damaged } = await copyMessages(from, to, tryLockFile);
    const skipped = messages - added;
    console.log(`copied ${added} messages in ${mailboxes} mailboxes from ${redactUrl(from)} to ${redactUrl(to)}${skipped ? ` (${skipped} were there already)` : ""}`);
    // What a relay on FROM would have kept aside and logged (store_damaged_records): said, not left behind unseen.
    if (damaged.length) console.error(`hivemind-rendezvous copy: skipped ${damaged.length} damaged lines of ${redactUrl(from)}'s log, at offsets ${damaged.slice(0, 10).join(", ")}${damaged.length > 10 ? ", …" : ""}`);
    return 0;
  } catch (error) {
    console.error(`hivemind-rendezvous copy: ${error instanceof CopyError ? (error as Error).message.replace(/\s+/g, " ") : oneLine(error)}`);
    return 1;
  }
}
