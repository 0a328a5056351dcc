/**
 * A checkpoint of the index (`messages.jsonl.checkpoint`), so that start-up reads it and only the log's
 * tail after it instead of the whole log. It names the log offset it covers and the SHA-256 of the log's
 * last {@link WINDOW_BYTES} before that offset: a log that was compacted, replaced or cut since does not
 * hold those bytes there, and the checkpoint is then ignored (a full scan), as one that fails its CRC.
 *
 * Layout (little-endian): "HMRIDX01", covered offset (f64), window SHA-256 (32 bytes); per mailbox its
 * 32-byte key, message count (u32) and its messages oldest first, each a packed id (16 bytes), expiry
 * (u32), offset (f64) and line length (u32); then mailbox count (u32), message count (u32), and the
 * CRC-32 of everything before it (u32).
 */
import { createHash } from "node:crypto";
import { type FileHandle, open } from "node:fs/promises";
import { crc32 } from "node:zlib";
import { replaceFileAtomically } from "../fsync.ts";
import { MailboxIndex } from "./mailbox-index.ts";
import { releaseFile } from "./release-file.ts";
import { pause } from "./work-slices.ts";

/** The checkpoint file of the log at `logPath` (written through a temp file, see `temporaryPathFor`). */
export const checkpointPath = (logPath: string) => `${logPath}.checkpoint`;

const MAGIC = new TextEncoder().encode("HMRIDX01");
const HEADER_BYTES = MAGIC.length + 8 + 32;
const KEY_BYTES = 32;
const MAILBOX_BYTES = KEY_BYTES + 4;
const MESSAGE_BYTES = 32;
const TRAILER_BYTES = 12;
/** Log bytes before the covered offset whose hash identifies the log. */
const WINDOW_BYTES = 64 << 10;
/** Bytes serialized between two pauses for other work (a few ms of work on this VM). */
const WRITE_SLICE_BYTES = 64 << 10;
/** Sync the new checkpoint every so often, so that no one sync holds deposits' fsyncs back. */
const SYNC_EVERY_BYTES = 1 << 20;
/** Bytes read at a time at start-up. */
const READ_SLICE_BYTES = 1 << 20;

/** Reads `length` bytes at `position` of the log; resolves with how many it read. */
type ReadLog = (target: Uint8Array, at: number, length: number, position: number) => Promise<number>;

/** SHA-256 of the log's bytes [end - WINDOW_BYTES, end) (from 0 when shorter); null when the log ends before `end`. */
async function windowHash(read: ReadLog, end: number): Promise<Uint8Array | null> {
  const start = Math.max(0, end - WINDOW_BYTES);
  const window = new Uint8Array(end - start);
  if (window.length && await read(window, 0, window.length, start) !== window.length) return null;
  return createHash("sha256").update(window).digest();
}

/**
 * Writes a checkpoint of `index` as it is for the log's first `coveredEnd` bytes: messages at or past
 * `coveredEnd` are left out (start-up replays them from the log). The index may change between slices:
 * what changes is a deposit (past `coveredEnd`) or a removal whose del record lies past `coveredEnd`,
 * both replayed again from the tail; no compaction may run meanwhile. Atomic: a crash leaves the old
 * checkpoint or the new one, synced every {@link SYNC_EVERY_BYTES} as the compaction's file is; the
 * old one's blocks are then freed in slices (release-file.ts), paced until `hurry` says otherwise.
 * `onStep` is a test hook ("checkpoint:written", "checkpoint:synced").
 */
export async function writeCheckpoint(
  logPath: string,
  index: MailboxIndex,
  log: { coveredEnd: number; read: ReadLog },
  options: { hurry(): boolean; onStep?: (step: string) => Promise<void> | void },
): Promise<void> {
  const { hurry, onStep } = options;
  const hash = await windowHash(log.read, log.coveredEnd);
  if (!hash) throw new Error(`the log is shorter than ${log.coveredEnd} bytes`);
  // Held open (when there is one we may write) so that, once replaced, its blocks are freed a slice at
  // a time rather than all at once by the rename.
  const old = await open(checkpointPath(logPath), "r+").catch(() => null);
  try {
    await replaceFileAtomically(checkpointPath(logPath), withCrc(serialized(index, log.coveredEnd, hash)), {
      syncEveryBytes: SYNC_EVERY_BYTES,
      onStep: (step) => onStep?.(`checkpoint:${step}`),
    });
  } catch (error) {
    await old?.close();
    throw error;
  }
  // A failed truncate only means its blocks are freed at once when it is closed.
  if (old) await releaseFile(old, hurry).catch(() => {});
}

/** Each part with the trailer's CRC-32 of every byte before it. */
async function* withCrc(parts: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let crc = 0;
  for await (const part of parts) {
    crc = crc32(part, crc);
    yield part;
  }
  const trailer = new Uint8Array(4);
  new DataView(trailer.buffer).setUint32(0, crc, true);
  yield trailer;
}

async function* serialized(index: MailboxIndex, coveredEnd: number, hash: Uint8Array): AsyncGenerator<Uint8Array> {
  const header = new Uint8Array(HEADER_BYTES);
  header.set(MAGIC);
  new DataView(header.buffer).setFloat64(MAGIC.length, coveredEnd, true);
  header.set(hash, MAGIC.length + 8);
  yield header;
  let mailboxes = 0;
  let messages = 0;
  let slice = new Uint8Array(WRITE_SLICE_BYTES * 2);
  for (let number = 0; number < index.mailboxNumbers;) {
    let used = 0;
    for (; number < index.mailboxNumbers && used < WRITE_SLICE_BYTES; number++) {
      if (!index.holdsMailbox(number)) continue;
      const slots: number[] = [];
      index.forEachSlot(number, (slot) => index.offsetOf(slot) < coveredEnd && slots.push(slot));
      if (!slots.length) continue;
      const needed = used + MAILBOX_BYTES + slots.length * MESSAGE_BYTES;
      if (needed > slice.length) slice = grown(slice, used, needed);
      const view = new DataView(slice.buffer);
      index.copyMailboxKey(number, slice, used);
      view.setUint32(used + KEY_BYTES, slots.length, true);
      used += MAILBOX_BYTES;
      for (const slot of slots) {
        index.copyId(slot, slice, used);
        view.setUint32(used + 16, index.expiryOf(slot), true);
        view.setFloat64(used + 20, index.offsetOf(slot), true);
        view.setUint32(used + 28, index.lengthOf(slot), true);
        used += MESSAGE_BYTES;
      }
      mailboxes++;
      messages += slots.length;
    }
    yield slice.slice(0, used);
    await pause();
  }
  const counts = new Uint8Array(8);
  new DataView(counts.buffer).setUint32(0, mailboxes, true);
  new DataView(counts.buffer).setUint32(4, messages, true);
  yield counts;
}

function grown(buffer: Uint8Array, keep: number, length: number): Uint8Array<ArrayBuffer> {
  const bigger = new Uint8Array(length);
  bigger.set(buffer.subarray(0, keep));
  return bigger;
}

/** A checkpoint read back: the index it holds and the log offset from which the log is to be replayed. */
export interface LoadedCheckpoint {
  index: MailboxIndex;
  coveredEnd: number;
}

/**
 * Loads the checkpoint of the log at `logPath` into a new index, leaving out messages expired at `now`.
 * Resolves with null when there is none, and with the reason when it cannot be used (unreadable, damaged,
 * or not of this log as it is now): the caller then replays the whole log.
 */
export async function loadCheckpoint(logPath: string, now: number): Promise<LoadedCheckpoint | string | null> {
  // One the relay's user may not read (`copy` run as root left it) is only a cache: the log is read instead, and the next checkpoint replaces it.
  const file = await openIfThere(checkpointPath(logPath)).catch((error) => `not readable (${error.code ?? error})`);
  if (typeof file === "string" || !file) return file;
  const logFile = await openIfThere(logPath);
  try {
    if (!logFile) return "of another log (compacted, replaced or cut since)";
    const readLog: ReadLog = async (target, at, length, position) => (await logFile.read(target, at, length, position)).bytesRead;
    const { size } = await file.stat();
    if (size < HEADER_BYTES + TRAILER_BYTES) return "cut short";
    const read = async (length: number, position: number) => {
      const bytes = new Uint8Array(length);
      const { bytesRead } = await file.read(bytes, 0, length, position);
      return bytes.subarray(0, bytesRead);
    };
    const header = await read(HEADER_BYTES, 0);
    if (!MAGIC.every((byte, i) => header[i] === byte)) return "not a checkpoint";
    const coveredEnd = new DataView(header.buffer).getFloat64(MAGIC.length, true);
    if (!Number.isSafeInteger(coveredEnd) || coveredEnd < 0) return "damaged header";
    const hash = await windowHash(readLog, coveredEnd);
    if (!hash || !hash.every((byte, i) => header[MAGIC.length + 8 + i] === byte)) return "of another log (compacted, replaced or cut since)";
    const index = new MailboxIndex();
    const counted = { mailboxes: 0, messages: 0 };
    const bodyEnd = size - TRAILER_BYTES;
    let crc = crc32(header);
    let buffer = new Uint8Array(READ_SLICE_BYTES);
    let held = 0; // bytes of a mailbox not yet whole, at the start of `buffer`
    for (let position = HEADER_BYTES; position < bodyEnd;) {
      const { bytesRead } = await file.read(buffer, held, Math.min(buffer.length - held, bodyEnd - position), position);
      if (bytesRead === 0) return "cut short";
      crc = crc32(buffer.subarray(held, held + bytesRead), crc);
      position += bytesRead;
      const data = buffer.subarray(0, held + bytesRead);
      const parsed = parseMailboxes(data, index, { coveredEnd, now, counted });
      if (parsed.damaged) return "damaged";
      buffer.copyWithin(0, parsed.end, data.length);
      held = data.length - parsed.end;
      if (parsed.needed > buffer.length) {
        if (parsed.needed > held + bodyEnd - position) return "cut short";
        buffer = grown(buffer, held, parsed.needed);
      }
    }
    if (held) return "cut short";
    const trailer = await read(TRAILER_BYTES, bodyEnd);
    const view = new DataView(trailer.buffer, trailer.byteOffset);
    crc = crc32(trailer.subarray(0, 8), crc);
    if (view.getUint32(8, true) !== crc) return "fails its CRC";
    if (view.getUint32(0, true) !== counted.mailboxes || view.getUint32(4, true) !== counted.messages) return "damaged";
    return { index, coveredEnd };
  } finally {
    await file.close();
    await logFile?.close();
  }
}

/** The file at `path` opened for reading, or null when there is none. */
function openIfThere(path: string): Promise<FileHandle | null> {
  return open(path, "r").catch((error) => {
    if (error.code === "ENOENT") return null;
    throw error;
  });
}

/**
 * Adds the whole mailboxes at the start of `data` to `index`: where they end, and how many bytes the
 * next (unfinished) one needs. `damaged` when a message points outside the covered log.
 */
function parseMailboxes(
  data: Uint8Array,
  index: MailboxIndex,
  bounds: { coveredEnd: number; now: number; counted: { mailboxes: number; messages: number } },
): { end: number; needed: number; damaged: boolean } {
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  let at = 0;
  while (at + MAILBOX_BYTES <= data.length) {
    const count = view.getUint32(at + KEY_BYTES, true);
    const needed = MAILBOX_BYTES + count * MESSAGE_BYTES;
    if (at + needed > data.length) return { end: at, needed, damaged: false };
    let number = -1; // the mailbox's number once one of its messages is in
    for (let message = at + MAILBOX_BYTES; message < at + needed; message += MESSAGE_BYTES) {
      const expiresAt = view.getUint32(message + 16, true);
      const offset = view.getFloat64(message + 20, true);
      const length = view.getUint32(message + 28, true);
      if (!(offset >= 0 && length > 0 && offset + length <= bounds.coveredEnd)) return { end: at, needed: 0, damaged: true };
      if (expiresAt > bounds.now) number = index.addPacked(data, at, message, { expiresAt, offset, length }, number);
    }
    bounds.counted.mailboxes++;
    bounds.counted.messages += count;
    at += needed;
  }
  return { end: at, needed: MAILBOX_BYTES, damaged: false };
}
