/**
 * The in-memory index: per mailbox, its messages in deposit order, each a position in the log.
 * Messages live in slots of typed-array columns (id, expiry, offset, length, next slot of the same
 * mailbox), 36 bytes each; mailboxes are numbered by a {@link MailboxTable} (about 52 bytes each) and
 * chain their slots from the first to the last. No JS object per message or per mailbox: a Pi can
 * index millions of either. Payloads stay on disk.
 */
import { appendTo } from "../collections.ts";
import { ByteColumn, CHUNK_SLOTS, Column, wordOf } from "./columns.ts";
import { MailboxTable } from "./mailbox-table.ts";
import { isMessageId } from "./records.ts";
import { WorkSlices } from "./work-slices.ts";

/** One indexed message, as handed out for reading. */
interface IndexEntry {
  id: string;
  expiresAt: number;
  /** Byte offset of the record's line in the log, and its length with the newline. */
  offset: number;
  length: number;
}

const ID_BYTES = 16;
const NONE = -1;

/**
 * New offsets of slots, put in place all at once by {@link MailboxIndex.relocate} (a column swap): the
 * snapshot's, gathered while a compaction copies their records, then those given records since, by
 * {@link MailboxIndex.relocateAdditions}. Later entries for a slot win (a slot freed and reused meanwhile
 * holds a record appended since).
 */
export class Relocation {
  readonly offsets = new Column((length) => new Float64Array(length));

  /** Records that `slot`'s record now starts at `offset` of the new file. */
  set(slot: number, offset: number): void {
    this.offsets.reserve(slot + 1);
    this.offsets.set(slot, offset);
  }
}

/** Mailbox id → slots, oldest first; counts and bytes of what it holds. */
export class MailboxIndex {
  readonly #mailboxes = new MailboxTable();
  /** The message ids: a UUID's 32 hex digits in 16 bytes. */
  readonly #ids = new ByteColumn(ID_BYTES);
  readonly #expiry = new Column((length) => new Uint32Array(length));
  #offsets = new Column((length) => new Float64Array(length));
  readonly #lengths = new Column((length) => new Uint32Array(length));
  /** Per slot: the next slot of its mailbox (-1 after the last); for a free slot, the next free one. */
  readonly #next = new Column((length) => new Int32Array(length));
  #free = NONE;
  /** The slots given a record since {@link trackAdditions} and not yet relocated; null when not tracking. */
  #added: number[] | null = null;
  /** No message held expires before this (a lower bound: removals leave it as it is), so a sweep before then has nothing to drop. */
  #earliestExpiry = Infinity;
  /** The sweep running, if any: one at a time, so that each can tighten {@link #earliestExpiry}. */
  #sweeping: Promise<unknown> = Promise.resolve();
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

  /** Indexes a message at the end of its mailbox; `id` must be a message id (see {@link isMessageId}). */
  add(mailbox: string, id: string, entry: { expiresAt: number; offset: number; length: number }): void {
    writeId(id, this.#probe, 0);
    this.#append(this.#mailboxes.findOrAdd(mailbox), this.#probe, 0, entry);
  }

  /**
   * Indexes a message at the end of a mailbox, both named by bytes of `source`: the mailbox's 32-byte key
   * at `keyAt` (as {@link copyMailboxKey} gives it), the message's packed 16-byte id at `idAt` (as {@link copyId} gives it).
   * Returns the mailbox's number: passed back as `number` for the next message of the same mailbox (with
   * no other change to the index in between), it spares looking the key up again.
   */
  addPacked(source: Uint8Array, keyAt: number, idAt: number, entry: { expiresAt: number; offset: number; length: number }, number = NONE): number {
    if (number === NONE) number = this.#mailboxes.findOrAddKey(source, keyAt);
    this.#append(number, source, idAt, entry);
    return number;
  }

  /** Every mailbox number in use is below this; numbers are stable while their mailbox holds messages. */
  get mailboxNumbers(): number {
    return this.#mailboxes.numbered;
  }

  /** True when mailbox `number` holds messages. */
  holdsMailbox(number: number): boolean {
    return this.#mailboxes.size.get(number) > 0;
  }

  /** Copies the 32-byte key of mailbox `number` into `target` at `at`. */
  copyMailboxKey(number: number, target: Uint8Array, at: number): void {
    this.#mailboxes.copyKey(number, target, at);
  }

  /** Calls `visit` with each slot of mailbox `number`, oldest first. */
  forEachSlot(number: number, visit: (slot: number) => void): void {
    if (this.#mailboxes.size.get(number) === 0) return;
    for (let slot = this.#mailboxes.first.get(number); slot !== NONE; slot = this.#next.get(slot)) visit(slot);
  }

  /** Copies the slot's packed 16-byte id into `target` at `at`. */
  copyId(slot: number, target: Uint8Array, at: number): void {
    this.#ids.copyTo(slot, target, at);
  }

  expiryOf(slot: number): number {
    return this.#expiry.get(slot);
  }

  lengthOf(slot: number): number {
    return this.#lengths.get(slot);
  }

  #append(number: number, source: Uint8Array, idAt: number, entry: { expiresAt: number; offset: number; length: number }): void {
    const slot = this.#takeSlot();
    this.#ids.set(slot, source, idAt);
    const expiresAt = Math.min(entry.expiresAt, 0xffff_ffff);
    this.#expiry.set(slot, expiresAt);
    if (expiresAt < this.#earliestExpiry) this.#earliestExpiry = expiresAt;
    this.#offsets.set(slot, entry.offset);
    this.#lengths.set(slot, entry.length);
    this.#next.set(slot, NONE);
    this.#added?.push(slot);
    const { first, last, size } = this.#mailboxes;
    const held = size.get(number);
    if (held === 0) first.set(number, slot);
    else this.#next.set(last.get(number), slot);
    last.set(number, slot);
    size.set(number, held + 1);
    this.#count++;
    this.#bytes += entry.length;
  }

  /**
   * The slot of each of `ids` in `mailbox` (-1 when it is not there), in one pass over the mailbox: a
   * scan per id made emptying a mailbox of n messages cost n² comparisons. Ids are matched by their
   * first 4 bytes, then in full.
   */
  findAll(mailbox: string, ids: readonly string[]): number[] {
    const found = ids.map(() => NONE);
    const number = this.#mailboxes.find(mailbox);
    if (number === NONE) return found;
    const first = this.#mailboxes.first.get(number);
    if (ids.length === 1) {
      // The common case (one ack, or a compaction chunk holding one line of this mailbox): a scan, no allocation.
      if (isMessageId(ids[0])) {
        writeId(ids[0], this.#probe, 0);
        for (let slot = first; slot !== NONE && found[0] === NONE; slot = this.#next.get(slot)) {
          if (this.#ids.holds(slot, this.#probe)) found[0] = slot;
        }
      }
      return found;
    }
    const wanted = new Map<number, { packed: Uint8Array; at: number }[]>();
    ids.forEach((id, at) => {
      if (!isMessageId(id)) return;
      const packed = new Uint8Array(ID_BYTES);
      writeId(id, packed, 0);
      appendTo(wanted, wordOf(packed, 0), { packed, at });
    });
    for (let slot = first; slot !== NONE; slot = this.#next.get(slot)) {
      for (const { packed, at } of wanted.get(this.#ids.word(slot, 0)) ?? []) if (this.#ids.holds(slot, packed)) found[at] = slot;
    }
    return found;
  }

  /** Those of `ids` that `mailbox` holds unexpired, once each. */
  heldAmong(mailbox: string, ids: readonly string[], now: number): string[] {
    const slots = new Set(this.findAll(mailbox, ids).filter((slot) => slot >= 0 && this.#expiry.get(slot) > now));
    return [...slots].map((slot) => this.#readId(slot));
  }

  /** Removes every message of `mailbox` whose id is among `ids`; returns how many went. */
  removeAll(mailbox: string, ids: readonly string[]): number {
    const doomed = new Set(this.findAll(mailbox, ids).filter((slot) => slot >= 0));
    if (doomed.size > 0) this.#keepOnly(this.#mailboxes.find(mailbox), (slot) => !doomed.has(slot), doomed.size);
    return doomed.size;
  }

  /** The first unexpired messages of a mailbox, oldest first: at most `limit`, and `maxBytes` of records once one is in. */
  head(mailbox: string, now: number, limit = Infinity, maxBytes = Infinity): { entries: IndexEntry[]; more: boolean } {
    const entries: IndexEntry[] = [];
    const number = this.#mailboxes.find(mailbox);
    let bytes = 0;
    for (let slot = number === NONE ? NONE : this.#mailboxes.first.get(number); slot !== NONE; slot = this.#next.get(slot)) {
      const expiresAt = this.#expiry.get(slot);
      if (expiresAt <= now) continue;
      const length = this.#lengths.get(slot);
      if (entries.length >= limit || (entries.length > 0 && bytes + length > maxBytes)) return { entries, more: true };
      bytes += length;
      entries.push({ id: this.#readId(slot), expiresAt, offset: this.#offsets.get(slot), length });
    }
    return { entries, more: false };
  }

  /** How many messages a mailbox holds, counting expired ones not yet dropped. */
  size(mailbox: string): number {
    const number = this.#mailboxes.find(mailbox);
    return number === NONE ? 0 : this.#mailboxes.size.get(number);
  }

  /** Drops a mailbox's expired messages; returns how many it still holds. */
  dropExpired(mailbox: string, now: number): number {
    const number = this.#mailboxes.find(mailbox);
    if (number === NONE) return 0;
    this.#dropExpired(number, now);
    return this.#mailboxes.size.get(number);
  }

  offsetOf(slot: number): number {
    return this.#offsets.get(slot);
  }

  /** Starts noting the slots records are given (from a compaction's snapshot on), or with false stops. */
  trackAdditions(on: boolean): void {
    this.#added = on ? [] : null;
  }

  /**
   * Records in `relocation` that each slot given a record since the last call (or {@link trackAdditions})
   * holds it `shift` bytes earlier: records appended since a compaction's snapshot, copied as they are. A
   * slot freed and given another record meanwhile is noted again, so its latest record wins.
   */
  relocateAdditions(relocation: Relocation, shift: number): void {
    for (const slot of this.#added ?? []) relocation.set(slot, this.#offsets.get(slot) + shift);
    if (this.#added) this.#added.length = 0;
  }

  /**
   * Makes the message in `slot` count as expired: its record is not where the index says (damage a
   * compaction met). It is never served again, and the next sweep drops it.
   */
  expireSlot(slot: number): void {
    this.#expiry.set(slot, 0);
    this.#earliestExpiry = 0;
  }

  /** Puts a compaction's new offsets in place (slots it has no entry for hold no message). */
  relocate(relocation: Relocation): void {
    relocation.offsets.reserve(this.#used);
    this.#offsets = relocation.offsets;
  }

  /**
   * Drops every expired message, yielding to other work between slices; resolves with how many. Does not
   * walk the index when no message can have expired; sweeps run one after another.
   */
  sweepExpired(now: number): Promise<number> {
    const sweep = this.#sweeping.then(() => this.#sweepExpired(now));
    this.#sweeping = sweep.catch(() => {});
    return sweep;
  }

  async #sweepExpired(now: number): Promise<number> {
    if (now < this.#earliestExpiry) return 0;
    let dropped = 0;
    // Lowered again by each message kept below and by each one added meanwhile.
    this.#earliestExpiry = Infinity;
    const keep = (slot: number) => {
      const expiresAt = this.#expiry.get(slot);
      if (expiresAt <= now) return (dropped++, false);
      if (expiresAt < this.#earliestExpiry) this.#earliestExpiry = expiresAt;
      return true;
    };
    const slices = new WorkSlices();
    for (let number = 0; number < this.#mailboxes.numbered; number++) {
      if (this.#mailboxes.size.get(number) > 0) this.#keepOnly(number, keep);
      if (number % 256 === 255) await slices.yieldIfDue();
    }
    return dropped;
  }

  #dropExpired(number: number, now: number): void {
    this.#keepOnly(number, (slot) => this.#expiry.get(slot) > now);
  }

  /**
   * Keeps the slots of mailbox `number` that pass `keep` (in order) and frees the others; frees the mailbox once
   * empty. Given `failing`, how many slots fail `keep`, the walk stops once they have gone (an ack of the oldest
   * messages walks those, not the whole mailbox).
   */
  #keepOnly(number: number, keep: (slot: number) => boolean, failing = Infinity): void {
    const { first, last, size } = this.#mailboxes;
    let kept = 0;
    let previous = NONE;
    let slot = first.get(number);
    let freed = 0;
    while (slot !== NONE && freed < failing) {
      const next = this.#next.get(slot);
      if (keep(slot)) {
        this.#link(number, previous, slot);
        previous = slot;
        kept++;
      } else {
        this.#count--;
        this.#bytes -= this.#lengths.get(slot);
        this.#next.set(slot, this.#free);
        this.#free = slot;
        freed++;
      }
      slot = next;
    }
    if (slot !== NONE) {
      // Stopped early: the rest of the list, its last slot included, stays as it is.
      this.#link(number, previous, slot);
      size.set(number, size.get(number) - freed);
      return;
    }
    if (kept === 0) return this.#mailboxes.delete(number);
    this.#next.set(previous, NONE);
    last.set(number, previous);
    size.set(number, kept);
  }

  /** Makes `slot` follow `previous` in mailbox `number`'s list, or head it when `previous` is NONE. */
  #link(number: number, previous: number, slot: number): void {
    if (previous === NONE) this.#mailboxes.first.set(number, slot);
    else this.#next.set(previous, slot);
  }

  #takeSlot(): number {
    const slot = this.#free;
    if (slot !== NONE) {
      this.#free = this.#next.get(slot);
      return slot;
    }
    if (this.#used % CHUNK_SLOTS === 0) for (const column of [this.#ids, this.#expiry, this.#offsets, this.#lengths, this.#next]) column.grow();
    return this.#used++;
  }

  #readId(slot: number): string {
    return readId(this.#ids.chunkOf(slot), this.#ids.startOf(slot));
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

/** Each byte's two lowercase hex digits. */
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

/** The lowercase UUID whose 16 bytes {@link writeId} packed at `at`. */
function readId(source: Uint8Array, at: number): string {
  const hex = (from: number, to: number) => {
    let digits = "";
    for (let i = from; i < to; i++) digits += HEX[source[at + i]];
    return digits;
  };
  return `${hex(0, 4)}-${hex(4, 6)}-${hex(6, 8)}-${hex(8, 10)}-${hex(10, 16)}`;
}
