/** The in-memory index: per mailbox, its messages in deposit order, each a position in the log. */

/** Where one stored message lives. Payloads stay on disk. */
export interface IndexEntry {
  id: string;
  expiresAt: number;
  /** Byte offset of the record's line in the log, and its length with the newline. */
  offset: number;
  length: number;
}

/** Mailbox id → entries, oldest first; counts and bytes of what it holds. */
export class MailboxIndex {
  readonly #mailboxes = new Map<string, IndexEntry[]>();
  #count = 0;
  #bytes = 0;

  get count(): number {
    return this.#count;
  }

  /** Bytes of log lines that hold live messages. */
  get bytes(): number {
    return this.#bytes;
  }

  add(mailbox: string, entry: IndexEntry): void {
    const entries = this.#mailboxes.get(mailbox);
    if (entries) entries.push(entry);
    else this.#mailboxes.set(mailbox, [entry]);
    this.#count++;
    this.#bytes += entry.length;
  }

  /** The entry of message `id` in `mailbox`, expired or not. */
  find(mailbox: string, id: string): IndexEntry | undefined {
    return this.#mailboxes.get(mailbox)?.find((entry) => entry.id === id);
  }

  /** Removes one message; returns it, or undefined when the mailbox does not hold it. */
  remove(mailbox: string, id: string): IndexEntry | undefined {
    const entries = this.#mailboxes.get(mailbox);
    const at = entries?.findIndex((entry) => entry.id === id) ?? -1;
    if (!entries || at < 0) return undefined;
    const [removed] = entries.splice(at, 1);
    this.#forget(mailbox, entries, removed);
    return removed;
  }

  /** The unexpired messages of a mailbox, oldest first; drops the expired ones it meets. */
  live(mailbox: string, now: number): readonly IndexEntry[] {
    const entries = this.#mailboxes.get(mailbox);
    if (!entries) return [];
    if (entries.some((entry) => entry.expiresAt <= now)) this.#dropExpired(mailbox, entries, now);
    return this.#mailboxes.get(mailbox) ?? [];
  }

  /** Drops every expired message, yielding to other work between slices; resolves with how many. */
  async sweepExpired(now: number): Promise<number> {
    const before = this.#count;
    let visited = 0;
    for (const [mailbox, entries] of this.#mailboxes) {
      this.#dropExpired(mailbox, entries, now);
      if (++visited % 10_000 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return before - this.#count;
  }

  #dropExpired(mailbox: string, entries: IndexEntry[], now: number): void {
    const kept = entries.filter((entry) => entry.expiresAt > now);
    if (kept.length === entries.length) return;
    for (const entry of entries) if (entry.expiresAt <= now) this.#forget(mailbox, kept, entry);
    if (kept.length) this.#mailboxes.set(mailbox, kept);
  }

  #forget(mailbox: string, remaining: IndexEntry[], entry: IndexEntry): void {
    this.#count--;
    this.#bytes -= entry.length;
    if (remaining.length === 0) this.#mailboxes.delete(mailbox);
  }
}
