/** Start-up: rebuild the index from the log, cut a torn final line, find damaged lines. */
import { open } from "node:fs/promises";
import { concatBytes } from "../bytes.ts";
import type { MailboxIndex } from "./mailbox-index.ts";
import { decodeRecord } from "./records.ts";

const CHUNK_BYTES = 8 << 20;
const NEWLINE = 10;

/** What replaying the log found. */
export interface ReplayReport {
  /** Where the last complete line ends: the log is cut here. */
  validEnd: number;
  /** Bytes of an unterminated final line (a write cut short by a crash). */
  tornBytes: number;
  /** Complete lines that are not records, with their offsets; they are skipped, never the lines around them. */
  damaged: { offset: number; length: number }[];
}

/** Replays every record of the log at `path` into `index`; messages expired at `now` are left out. */
export async function replayLog(path: string, index: MailboxIndex, now: number): Promise<ReplayReport> {
  const report: ReplayReport = { validEnd: 0, tornBytes: 0, damaged: [] };
  const file = await open(path, "r").catch((error) => {
    if (error.code === "ENOENT") return null;
    throw error;
  });
  if (!file) return report;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  try {
    let carry = new Uint8Array(0);
    let position = 0; // file offset of carry[0]
    for (;;) {
      const chunk = new Uint8Array(CHUNK_BYTES);
      const { bytesRead } = await file.read(chunk, 0, CHUNK_BYTES, position + carry.length);
      if (bytesRead === 0) break;
      const data = carry.length ? concatBytes([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      let lineStart = 0;
      for (let newline = data.indexOf(NEWLINE); newline >= 0; newline = data.indexOf(NEWLINE, lineStart)) {
        const offset = position + lineStart;
        const length = newline - lineStart + 1;
        try {
          applyRecord(decoder.decode(data.subarray(lineStart, newline)), offset, length, index, now);
        } catch {
          report.damaged.push({ offset, length });
        }
        lineStart = newline + 1;
      }
      carry = data.slice(lineStart);
      position += lineStart;
    }
    report.validEnd = position;
    report.tornBytes = carry.length;
    return report;
  } finally {
    await file.close();
  }
}

function applyRecord(line: string, offset: number, length: number, index: MailboxIndex, now: number): void {
  const record = decodeRecord(line);
  if (record.k === "del") index.remove(record.mb, record.id);
  else if (record.exp > now) index.add(record.mb, { id: record.id, expiresAt: record.exp, offset, length });
}
