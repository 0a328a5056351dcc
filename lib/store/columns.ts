/**
 * Typed-array columns indexed by slot number, in chunks of {@link CHUNK_SLOTS} slots. They grow a chunk
 * at a time and never copy: doubling one-piece arrays at 1M slots held the event loop for 30-50 ms.
 */

const CHUNK_BITS = 16;
/** Slots per chunk: 64k. */
export const CHUNK_SLOTS = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK_SLOTS - 1;

/** One number per slot. */
export class Column<T extends Uint32Array | Int32Array | Float64Array> {
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

/** `width` bytes per slot (a message id, a mailbox key). */
export class ByteColumn {
  readonly #chunks: Uint8Array[] = [];

  constructor(readonly width: number) {}

  /** The chunk that holds `slot`'s bytes (they start at {@link startOf}). */
  chunkOf(slot: number): Uint8Array {
    return this.#chunks[slot >>> CHUNK_BITS];
  }

  startOf(slot: number): number {
    return (slot & CHUNK_MASK) * this.width;
  }

  /** Stores `width` bytes of `bytes` from `from` as the slot's (a loop: a subarray view per call cost more than the copy). */
  set(slot: number, bytes: Uint8Array, from = 0): void {
    const chunk = this.chunkOf(slot);
    const at = this.startOf(slot);
    for (let i = 0; i < this.width; i++) chunk[at + i] = bytes[from + i];
  }

  /** Copies the slot's `width` bytes into `target` at `at`. */
  copyTo(slot: number, target: Uint8Array, at: number): void {
    const chunk = this.chunkOf(slot);
    const start = this.startOf(slot);
    for (let i = 0; i < this.width; i++) target[at + i] = chunk[start + i];
  }

  /** True when the slot holds the first `width` bytes of `bytes`. */
  holds(slot: number, bytes: Uint8Array): boolean {
    const chunk = this.chunkOf(slot);
    const at = this.startOf(slot);
    for (let i = 0; i < this.width; i++) if (chunk[at + i] !== bytes[i]) return false;
    return true;
  }

  /** The slot's 4 bytes from `at`, as an unsigned number. */
  word(slot: number, at: number): number {
    return wordOf(this.chunkOf(slot), this.startOf(slot) + at);
  }

  grow(): void {
    this.#chunks.push(new Uint8Array(this.width * CHUNK_SLOTS));
  }
}

/** The 4 bytes of `bytes` at `at` as an unsigned (big-endian) number. */
export function wordOf(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}
