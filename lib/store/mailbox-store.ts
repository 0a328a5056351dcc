/** The mailboxes as the relay uses them, whichever engine holds them: the embedded log or PostgreSQL. */
import type { PostgresStoreStats } from "../postgres/message-store.ts";
import type { StoredMessage, StoreStats } from "./message-store.ts";

/** What every message store offers the handlers; see MessageStore (embedded) and PostgresMessageStore. */
export interface MailboxStore {
  /** Stores `payload` in `mailbox` until `expiresAt`; resolves with its id once it is durable. */
  deposit(mailbox: string, payload: string, expiresAt: number): Promise<string>;
  /** Unexpired messages of `mailbox`, oldest first, left in place. */
  peek(mailbox: string, limit?: number, maxBytes?: number): Promise<{ messages: StoredMessage[]; more: boolean }>;
  /** Every unexpired message of `mailbox`, oldest first, removed; never the same one to two callers. */
  take(mailbox: string): Promise<StoredMessage[]>;
  /** Removes the named messages of `mailbox`; resolves with how many went. */
  remove(mailbox: string, ids: readonly string[]): Promise<number>;
  /** Counters for /healthz and /metrics: the embedded log's, or PostgreSQL's (with `engine`). */
  stats(): StoreStats | PostgresStoreStats;
  close(): Promise<void>;
}
