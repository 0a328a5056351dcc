/**
 * The in-memory index: per mailbox, its messages in deposit order, each a position in the log.
 * Messages live in slots of typed-array columns (id, expiry, offset, length), about 40 bytes each,
 * so a Pi can index millions of messages; payloads stay on disk. The columns grow a chunk of slots at a
 * time and never copy: doubling one-piece arrays at 1M slots held the event loop for 30-50 ms.
 */
import { appendTo } from "../collections.ts";
import { isMessageId } from "./records.ts";

/** One indexed message, as handed out for reading. */
interface IndexEntry {
  id: string;
  expiresAt: number;
  /** Byte offset of the record's line in the log, and its length with the newline. */
  offset: number;
  length: number;
}

const ID_BYTES = 16;
const CHUNK_BITS = 16;
/** Slots per chunk of every column: 64k, 2 MiB across the four columns. */
const CHUNK_SLOTS = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK_SLOTS - 1;

/** One column of numbers, in chunks of {@link CHUNK_SLOTS}. */
class Column<T extends Uint32Array | Float64Array> {
  readonly #chunks: T[] = [];

  constructor(readonly makeChunk: (length: number) => T) {}

  get(slot: number): number {
    return this.#chunks[slot >>> CHUNK_BITS][slot & CHUNK_MASK];
  }

  set(slot: number, value: number): void {
    this.#chunks[slot >>> CHUNK_BITS][slot & CHUNK_MASK] = value;
  }

  grow(): void {
    this.#chunks.push(this.makeChunk(CHUNK_SLOTS));
  }

  /** Chunks for at least `slots` slots. */
  reserve(slots: number): void {
    while (this.#chunks.length * CHUNK_SLOTS < slots) this.grow();
  }
}

/**
 * New offsets of slots, gathered while a compaction copies their records and put in place all at
 * once by {@link MailboxIndex.relocate}: a column swap, where setting 500k offsets one by one held the
 * event loop 13-25 ms. Later entries for a slot win (a slot freed and reused meanwhile is caught up later).
 */
export class Relocation {
  readonly offsets = new Column((length) => new Float64Array(length));

  /** Records that `slot`'s record now starts at `offset` of the new file. */
  set(slot: number, offset: number): void {
    this.offsets.reserve(slot + 1);
    this.offsets.set(slot, offset);
  }
}

/** The message ids column: 16 bytes a slot (a UUID's 32 hex digits), in chunks of {@link CHUNK_SLOTS}. */
class IdColumn {
  readonly #chunks: Uint8Array[] = [];

  write(slot: number, id: string): void {
    writeId(id, this.#chunks[slot >>> CHUNK_BITS], (slot & CHUNK_MASK) * ID_BYTES);
  }

  read(slot: number): string {
    return readId(this.#chunks[slot >>> CHUNK_BITS], (slot & CHUNK_MASK) * ID_BYTES);
  }

  /** The first 4 bytes of the slot's id, as a number: a cheap key to look the id up by. */
  prefix(slot: number): number {
    return prefixOf(this.#chunks[slot >>> CHUNK_BITS], (slot & CHUNK_MASK) * ID_BYTES);
  }

  /** True when the slot holds the id packed in `packed`. */
  holds(slot: number, packed: Uint8Array): boolean {
    const chunk = this.#chunks[slot >>> CHUNK_BITS];
    const at = (slot & CHUNK_MASK) * ID_BYTES;
    for (let i = 0; i < ID_BYTES; i++) if (chunk[at + i] !== packed[i]) return false;
    return true;
  }

  grow(): void {
    this.#chunks.push(new Uint8Array(ID_BYTES * CHUNK_SLOTS));
  }
}

/** Mailbox id → slots, oldest first; counts and bytes of what it holds. */
export class MailboxIndex {
  readonly #mailboxes = new Map<string, number[]>();
  readonly #ids = new IdColumn();
  readonly #expiry = new Column((length) => new Uint32Array(length));
  #offsets = new Column((length) => new Float64Array(length));
  readonly #lengths = new Column((length) => new Uint32Array(length));
  #free: number[] = [];
  #used = 0;
  #count = 0;
  #bytes = 0;
  readonly #probe = new Uint8Array(ID_BYTES);

  /** Messages indexed, expired ones not yet dropped included. */
  get count(): number {
    return this.#count;
  }

  /** Bytes of log lines that hold indexed messages. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Indexes a message; `id` must be a message id (see {@link isMessageId}). */
  add(mailbox: string, id: string, entry: { expiresAt: number; offset: number; length: number }): void {
    const slot = this.#free.pop() ?? this.#grow();
    this.#ids.write(slot, id);
    this.#expiry.set(slot, Math.min(entry.expiresAt, 0xffff_ffff));
    this.#offsets.set(slot, entry.offset);
    this.#lengths.set(slot, entry.length);
    appendTo(this.#mailboxes, mailbox, slot);
    this.#count++;
    this.#bytes += entry.length;
  }

  /**
   * The slot of each of `ids` in `mailbox` (-1 when it is not there), in one pass over the mailbox: a
   * scan per id made emptying a mailbox of n messages cost n² comparisons. Ids are matched by their
   * first 4 bytes, then in full.
   */
  findAll(mailbox: string, ids: readonly string[]): number[] {
    const found = ids.map(() => -1);
    const slots = this.#mailboxes.get(mailbox);
    if (!slots) return found;
    if (ids.length === 1) {
      // The common case (one ack, or a compaction chunk holding one line of this mailbox): a scan, no allocation.
      if (isMessageId(ids[0])) {
        writeId(ids[0], this.#probe, 0);
        found[0] = slots.find((slot) => this.#ids.holds(slot, this.#probe)) ?? -1;
      }
      return found;
    }
    const wanted = new Map<number, { packed: Uint8Array; at: number }[]>();
    ids.forEach((id, at) => {
      if (!isMessageId(id)) return;
      const packed = new Uint8Array(ID_BYTES);
      writeId(id, packed, 0);
      appendTo(wanted, prefixOf(packed, 0), { packed, at });
    });
    for (const slot of slots) {
      for (const { packed, at } of wanted.get(this.#ids.prefix(slot)) ?? []) if (this.#ids.holds(slot, packed)) found[at] = slot;
    }
    return found;
  }

  /** Those of `ids` that `mailbox` holds unexpired, once each. */
  heldAmong(mailbox: string, ids: readonly string[], now: number): string[] {
    const slots = new Set(this.findAll(mailbox, ids).filter((slot) => slot >= 0 && this.#expiry.get(slot) > now));
    return [...slots].map((slot) => this.#ids.read(slot));
  }

  /** Removes every message of `mailbox` whose id is among `ids`; returns how many went. */
  removeAll(mailbox: string, ids: readonly string[]): number {
    const doomed = new Set(this.findAll(mailbox, ids).filter((slot) => slot >= 0));
    if (doomed.size > 0) this.#keepOnly(mailbox, this.#mailboxes.get(mailbox)!, (slot) => !doomed.has(slot));
    return doomed.size;
  }

  /** The first unexpired messages of a mailbox, oldest first: at most `limit`, and `maxBytes` of records once one is in. */
  head(mailbox: string, now: number, limit = Infinity, maxBytes = Infinity): { entries: IndexEntry[]; more: boolean } {
    const entries: IndexEntry[] = [];
    let bytes = 0;
    for (const slot of this.#mailboxes.get(mailbox) ?? []) {
      const expiresAt = this.#expiry.get(slot);
      if (expiresAt <= now) continue;
      const length = this.#lengths.get(slot);
      if (entries.length >= limit || (entries.length > 0 && bytes + length > maxBytes)) return { entries, more: true };
      bytes += length;
      entries.push({ id: this.#ids.read(slot), expiresAt, offset: this.#offsets.get(slot), length });
    }
    return { entries, more: false };
  }

  /** The mailboxes that hold messages (expired ones not yet dropped included). */
  mailboxes(): IterableIterator<string> {
    return this.#mailboxes.keys();
  }

  /** How many messages a mailbox holds, counting expired ones not yet dropped. */
  size(mailbox: string): number {
    return this.#mailboxes.get(mailbox)?.length ?? 0;
  }

  /** Drops a mailbox's expired messages; returns how many it still holds. */
  dropExpired(mailbox: string, now: number): number {
    const slots = this.#mailboxes.get(mailbox);
    if (slots) this.#dropExpired(mailbox, slots, now);
    return this.size(mailbox);
  }

  offsetOf(slot: number): number {
    return this.#offsets.get(slot);
  }

  /** Puts a compaction's new offsets in place (slots it has no entry for hold no message). */
  relocate(relocation: Relocation): void {
    relocation.offsets.reserve(this.#used);
    this.#offsets = relocation.offsets;
  }

  /** Drops every expired message, yielding to other work between slices; resolves with how many. */
  async sweepExpired(now: number): Promise<number> {
    const before = this.#count;
    let visited = 0;
    for (const [mailbox, slots] of this.#mailboxes) {
      this.#dropExpired(mailbox, slots, now);
      if (++visited % 10_000 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return before - this.#count;
  }

  #dropExpired(mailbox: string, slots: number[], now: number): void {
    this.#keepOnly(mailbox, slots, (slot) => this.#expiry.get(slot) > now);
  }

  /** Keeps the slots of `mailbox` that pass `keep` (in order) and frees the others. */
  #keepOnly(mailbox: string, slots: number[], keep: (slot: number) => boolean): void {
    const kept: number[] = [];
    for (const slot of slots) {
      if (keep(slot)) {
        kept.push(slot);
        continue;
      }
      this.#count--;
      this.#bytes -= this.#lengths.get(slot);
      this.#free.push(slot);
    }
    if (kept.length === slots.length) return;
    if (kept.length) this.#mailboxes.set(mailbox, kept);
    else this.#mailboxes.delete(mailbox);
  }

  #grow(): number {
    if (this.#used % CHUNK_SLOTS === 0) for (const column of [this.#ids, this.#expiry, this.#offsets, this.#lengths]) column.grow();
    return this.#used++;
  }
}

/** Packs a lowercase UUID's 32 hex digits into 16 bytes at `at`. */
function writeId(id: string, target: Uint8Array, at: number): void {
  const digit = (i: number) => {
    const code = id.charCodeAt(i);
    return code <= 57 ? code - 48 : code - 87;
  };
  for (let i = 0, j = at; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) continue; // the dashes
    target[j++] = digit(i) * 16 + digit(++i);
  }
}

/** The 4 bytes at `at` as an unsigned number. */
function prefixOf(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

function readId(source: Uint8Array, at: number): string {
  let hex = "";
  for (let i = 0; i < ID_BYTES; i++) hex += source[at + i].toString(16).padStart(2, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
