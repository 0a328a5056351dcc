/**
 * `hivemind-rendezvous copy FROM TO`: every live message, with its id and expiry, from one store to
 * another (a data dir or postgres://…), so an operator can move from a Pi to a cluster and back.
 */
import { readFile, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { claimDataDir, holdDataDir, UNFINISHED_COPY_FILE, unfinishedCopyIn } from "./data-dir-lock.ts";
import type { FileLock, TryLockFile } from "./file-lock.ts";
import { replaceFileAtomically, syncDirectory } from "./fsync.ts";
import type { Logger } from "./log.ts";
import { GENERATED_KEY_FILE } from "./identity.ts";
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
 * there skips the messages it holds, but brings back every message relays have delivered since. Marked
 * as holding an unfinished copy (which relays refuse to start on) until every message is in.
 */
async function postgresTarget(copiedFrom: string, to: string, log: Logger): Promise<CopyTarget> {
  const store = await openPostgres(to, log);
  try {
    const { markCopyFinished, startCopy } = await import("./postgres/database-users.ts");
    const started = await startCopy(store.engine, copiedFrom);
    if (started === "served") {
      throw new CopyError(
        `a relay has started on ${redactUrl(to)} (its key is recorded there): a copy into it would bring back the messages relays delivered from it; ` +
          "copy into a database no relay has run on (one that none has delivered from can be dropped and created again)",
      );
    }
    let partial = started.earlier;
    return {
      restore(mailbox, messages) {
        partial = true;
        return store.restore(mailbox, messages);
      },
      async finish() {
        try {
          await markCopyFinished(store.engine);
        } finally {
          await store.close();
        }
      },
      async abandon() {
        if (!partial) await markCopyFinished(store.engine).catch(() => (partial = true));
        await store.close();
        return partial;
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** Where copies come from: every live message, a mailbox at a time. */
interface CopySource {
  mailboxes: AsyncIterable<{ mailbox: string; messages: StoredMessage[] }>;
  close(): Promise<void>;
}

/**
 * Opens `from` before anything is created at TO: a data dir is held and its log checked whole, a database
 * connected to; either refused while it holds part of a copy that did not finish. `onDamage` hears of
 * the damaged lines of a data dir's log.
 */
async function openSource(from: string, tryLockFile: TryLockFile, log: Logger, onDamage: (offsets: number[]) => void): Promise<CopySource> {
  const refuseUnfinished = (copy: string | null) => {
    if (copy !== null) throw new CopyError(`${redactUrl(from)} holds part of a copy ${copy} that did not finish: run that copy again first`);
  };
  if (!isPostgresUrl(from)) {
    const lock = await holdDataDir(from, tryLockFile);
    try {
      await checkMessageLog(from);
      refuseUnfinished(await unfinishedCopyIn(from));
    } catch (error) {
      lock.release();
      throw error;
    }
    return { mailboxes: liveMessagesOf(from, clock(), onDamage), close: async () => lock.release() };
  }
  const store = await openPostgres(from, log);
  try {
    const { unfinishedCopyFrom } = await import("./postgres/database-users.ts");
    const copiedFrom = await store.engine.run("copy_marker", unfinishedCopyFrom, true);
    refuseUnfinished(copiedFrom === null ? null : `from ${copiedFrom}`);
  } catch (error) {
    await store.close();
    throw error;
  }
  async function* mailboxes() {
    for (const mailbox of await store.mailboxes()) yield { mailbox, messages: (await store.peek(mailbox)).messages };
  }
  return { mailboxes: mailboxes(), close: () => store.close() };
}

/** Where copies go. */
interface CopyTarget {
  /** Adds messages with their ids, resolving with how many were added. */
  restore(mailbox: string, messages: StoredMessage[]): Promise<number>;
  /** Every message is in: closes the target, marked as holding a whole copy. */
  finish(): Promise<void>;
  /** The copy stopped: closes the target, resolving with whether it keeps part of the copy (marked as unfinished). */
  abandon(): Promise<boolean>;
}

/**
 * A data dir to copy into: one that holds no messages, or part of a copy that did not finish (dropped:
 * this copy starts over). Marked as holding an unfinished copy (see UNFINISHED_COPY_FILE) before its
 * first record is written, until every record is on disk.
 */
async function dataDirTarget(copiedFrom: string, to: string, log: Logger): Promise<CopyTarget> {
  const logPath = join(to, LOG_FILE);
  const marker = join(to, UNFINISHED_COPY_FILE);
  const mark = () => replaceFileAtomically(marker, [new TextEncoder().encode(`${copiedFrom}\n`)]);
  const unmark = async () => {
    await rm(marker, { force: true });
    await syncDirectory(to);
  };
  if (await unfinishedCopyIn(to) !== null) {
    for (const path of [logPath, checkpointPath(logPath)]) await rm(path, { force: true });
  }
  // An empty log is marked before the store opens it (its zeros written ahead could take the room for the
  // marker on a small disk); another only once it is known to hold no messages: a marker must never stand
  // on a relay's messages, which the copy run again would drop.
  const empty = ((await stat(logPath).catch(() => null))?.size ?? 0) === 0;
  if (empty) await mark();
  let store;
  try {
    store = await openMessageStore(to, { ...UNCAPPED, durable: true, clock, log });
    // An embedded log has no way to tell a copied message from a new one: copy into an empty one only.
    const held = store.stats().messages;
    if (held > 0) throw new CopyError(`${to} already holds ${held} messages: copy into an empty data dir`);
    if (!empty) await mark();
  } catch (error) {
    await store?.close();
    if (empty) await unmark();
    throw error;
  }
  const opened = store;
  return {
    async restore(mailbox, messages) {
      // Deposits issued together share the log's group commits, and are appended in the order issued.
      await Promise.all(messages.map((message) => opened.deposit(mailbox, message.payload, message.expiresAt, message.depositId)));
      return messages.length;
    },
    async finish() {
      await opened.close();
      await unmark();
    },
    async abandon() {
      const written = opened.stats().logBytes > 0;
      await opened.close().catch(() => {});
      if (!written) await unmark();
      return written;
    },
  };
}

/**
 * Copies every live message of `from` into `to`; resolves with how many there were, how many were added
 * and in how many mailboxes. A data dir on either side is locked as a relay locks it: no relay may run on
 * it meanwhile (its log would overwrite the copied records, or change under the reading).
 */
async function copyMessages(from: string, to: string, tryLockFile: TryLockFile, log: Logger = () => {}): Promise<{ messages: number; added: number; mailboxes: number; damaged: number[] }> {
  const counts = { messages: 0, added: 0, mailboxes: 0, damaged: [] as number[] };
  const source = await openSource(from, tryLockFile, log, (offsets) => (counts.damaged = offsets));
  let lock: FileLock | undefined;
  try {
    if (!isPostgresUrl(to)) {
      if (!isPostgresUrl(from) && await sameDirectory(from, to)) throw new CopyError(`${from} and ${to} are the same data dir`);
      lock = await claimDataDir(to, tryLockFile, true);
    }
    // What the marker names, from anywhere: a data dir by its absolute path.
    const copiedFrom = isPostgresUrl(from) ? redactUrl(from) : resolve(from);
    const target = isPostgresUrl(to) ? await postgresTarget(copiedFrom, to, log) : await dataDirTarget(copiedFrom, to, log);
    const stoppedPartWay = (error: unknown) =>
      new CopyError(`${oneLine(error)}; the copy stopped part-way: run it again (no relay starts on ${redactUrl(to)} until a copy into it finishes)`, { cause: error });
    try {
      for await (const { mailbox, messages } of source.mailboxes) {
        counts.mailboxes++;
        counts.messages += messages.length;
        counts.added += await target.restore(mailbox, messages);
      }
    } catch (error) {
      if (!(await target.abandon().catch(() => true))) throw error;
      throw stoppedPartWay(error);
    }
    // A target that fails to finish may still be marked: it counts as holding part of the copy.
    await target.finish().catch((error) => {
      throw stoppedPartWay(error);
    });
    return counts;
  } finally {
    lock?.release();
    await source.close();
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
  "starts on the database (then it is refused: it would bring back what the relays delivered). Until a",
  "copy finishes, no relay starts on TO: a copy that stopped part-way is run again (into a data dir, it",
  "starts over). Run it as the user the relay runs as, so that the relay can open the files it writes.",
].join("\n");

/** What `copy` needs of the runtime. */
export interface CopyRuntime {
  tryLockFile: TryLockFile;
  onShutdownSignal(listener: () => void): void;
  exit(code: number): never;
}

/**
 * A data dir's relay key, where a copy into another data dir leaves it behind (TO has none, or another):
 * the note that says so. A relay there would serve another key, and nodes that cached this one get 401
 * until they fetch it again.
 */
async function keyLeftBehind(from: string, to: string): Promise<string | undefined> {
  if (isPostgresUrl(from) || isPostgresUrl(to)) return undefined; // scale-out.md takes the key along by hand
  const [ours, theirs] = await Promise.all([from, to].map((dir) => readFile(join(dir, GENERATED_KEY_FILE), "utf8").catch(() => null)));
  if (ours === null || ours === theirs) return undefined;
  return `the relay key was not copied: to keep the relay's identity, copy ${join(from, GENERATED_KEY_FILE)} into ${to} (mode 0600, the relay's user) before a relay serves it`;
}

/** The subcommand: prints one line (or, for --help, its usage), returns the exit code. */
export async function runCopy(args: string[], runtime: CopyRuntime): Promise<number> {
  if (args.length === 1 && (args[0] === "--help" || args[0] === "-h")) return console.log(COPY_HELP), 0;
  if (args.length !== 2 || args.some((arg) => arg.startsWith("-"))) {
    console.error("hivemind-rendezvous copy: usage: copy FROM TO (each a data dir or postgres://user@host/db)");
    return 2;
  }
  const [from, to] = args;
  // Interrupted, a copy leaves TO marked as holding part of a copy: said, with the way out (not once it has finished).
  let finished = false;
  runtime.onShutdownSignal(() => {
    if (!finished) console.error("hivemind-rendezvous copy: interrupted before it finished: run it again");
    runtime.exit(1);
  });
  try {
    const { messages, added, mailboxes, damaged } = await copyMessages(from, to, runtime.tryLockFile);
    finished = true;
    const skipped = messages - added;
    console.log(`copied ${added} messages in ${mailboxes} mailboxes from ${redactUrl(from)} to ${redactUrl(to)}${skipped ? ` (${skipped} were there already)` : ""}`);
    // What a relay on FROM would have kept aside and logged (store_damaged_records): said, not left behind unseen.
    if (damaged.length) console.error(`hivemind-rendezvous copy: skipped ${damaged.length} damaged lines of ${redactUrl(from)}'s log, at offsets ${damaged.slice(0, 10).join(", ")}${damaged.length > 10 ? ", …" : ""}`);
    const keyNote = await keyLeftBehind(from, to);
    if (keyNote) console.error(`hivemind-rendezvous copy: ${keyNote}`);
    return 0;
  } catch (error) {
    console.error(`hivemind-rendezvous copy: ${error instanceof CopyError ? (error as Error).message.replace(/\s+/g, " ") : oneLine(error)}`);
    return 1;
  }
}
