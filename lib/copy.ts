/**
 * `hivemind-rendezvous copy FROM TO`: every live message, with its id and expiry, from one store to
 * another (a data dir or postgres://…), so an operator can move from a Pi to a cluster and back.
 */
import type { Logger } from "./log.ts";
import { openPostgresStore, type PostgresMessageStore } from "./postgres/message-store.ts";
import { ENGINE_TIMEOUT_MS, isPostgresUrl, redactUrl } from "./storage.ts";
import type { MessageStore, StoredMessage } from "./store/message-store.ts";
import { openMessageStore } from "./store/open-store.ts";

/** Caps are the source's business: a copy takes every message it is given. */
const UNCAPPED = { maxStoreBytes: 2 ** 50, mailboxMaxMessages: Number.MAX_SAFE_INTEGER, sweepIntervalSeconds: 0 };

type Opened = { kind: "embedded"; store: MessageStore } | { kind: "postgres"; store: PostgresMessageStore };

async function open(where: string, log: Logger): Promise<Opened> {
  const clock = () => Math.floor(Date.now() / 1000);
  if (isPostgresUrl(where)) {
    return { kind: "postgres", store: await openPostgresStore({ ...UNCAPPED, url: where, poolSize: 2, operationTimeoutMs: ENGINE_TIMEOUT_MS * 6, clock, log }) };
  }
  return { kind: "embedded", store: await openMessageStore(where, { ...UNCAPPED, durable: true, clock, log }) };
}

/** Adds `messages` to `mailbox` of `target` with their ids; resolves with how many were added. */
async function restore(target: Opened, mailbox: string, messages: StoredMessage[]): Promise<number> {
  if (target.kind === "postgres") return await target.store.restore(mailbox, messages);
  const store = target.store;
  // Deposits issued together share the log's group commits, and are appended in the order issued.
  await Promise.all(messages.map((message) => store.deposit(mailbox, message.payload, message.expiresAt, message.depositId)));
  return messages.length;
}

/** Copies every live message of `from` into `to`; resolves with how many were copied and how many mailboxes held them. */
export async function copyMessages(from: string, to: string, log: Logger = () => {}): Promise<{ messages: number; added: number; mailboxes: number }> {
  const source = await open(from, log);
  try {
    const target = await open(to, log);
    try {
      // An embedded log has no way to tell a copied message from a new one: copy into an empty one only.
      if (target.kind === "embedded" && target.store.stats().messages > 0) {
        throw new CopyError(`${to} already holds ${target.store.stats().messages} messages: copy into an empty data dir`);
      }
      const counts = { messages: 0, added: 0, mailboxes: 0 };
      for (const mailbox of await source.store.mailboxes()) {
        const { messages } = await source.store.peek(mailbox);
        if (messages.length === 0) continue;
        counts.mailboxes++;
        counts.messages += messages.length;
        counts.added += await restore(target, mailbox, messages);
      }
      return counts;
    } finally {
      await target.store.close();
    }
  } finally {
    await source.store.close();
  }
}

/** A copy that cannot be done; the message is one line for the operator. */
export class CopyError extends Error {
  override name = "CopyError";
}

/** The subcommand: prints one line, returns the exit code. */
export async function runCopy(args: string[]): Promise<number> {
  if (args.length !== 2 || args.some((arg) => arg.startsWith("-"))) {
    console.error("hivemind-rendezvous copy: usage: copy FROM TO (each a data dir or postgres://user@host/db)");
    return 2;
  }
  const [from, to] = args;
  try {
    const { messages, added, mailboxes } = await copyMessages(from, to);
    const skipped = messages - added;
    console.log(`copied ${added} messages in ${mailboxes} mailboxes from ${redactUrl(from)} to ${redactUrl(to)}${skipped ? ` (${skipped} were there already)` : ""}`);
    return 0;
  } catch (error) {
    console.error(`hivemind-rendezvous copy: ${String((error as Error).message).replace(/\s+/g, " ")}`);
    return 1;
  }
}
