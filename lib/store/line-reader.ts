/** Walks the lines of a byte range of the log in large chunks. */
import { concatBytes } from "../bytes.ts";

const NEWLINE = 10;

/** One line: its bytes without the newline, and where it starts in the file. */
export interface Line {
  bytes: Uint8Array;
  offset: number;
}

/** The complete lines of `data` (which starts at file offset `offset`), and the unterminated rest. */
export function splitLines(data: Uint8Array, offset: number): { lines: Line[]; rest: Uint8Array } {
  const lines: Line[] = [];
  let start = 0;
  for (let newline = data.indexOf(NEWLINE); newline >= 0; newline = data.indexOf(NEWLINE, start)) {
    lines.push({ bytes: data.subarray(start, newline), offset: offset + start });
    start = newline + 1;
  }
  return { lines, rest: data.subarray(start) };
}

/**
 * Yields the complete lines of [from, to), a chunk's worth at a time. An unterminated last line
 * is not yielded: the caller sees it as the gap between the last line's end and `to`.
 */
export async function* readLines(
  read: (position: number, length: number) => Promise<Uint8Array>,
  from: number,
  to: number,
  chunkBytes: number,
): AsyncGenerator<Line[]> {
  let rest: Uint8Array = new Uint8Array(0);
  for (let position = from; position < to;) {
    const chunk = await read(position, Math.min(chunkBytes, to - position));
    if (chunk.length === 0) break; // the file is shorter than it was said to be
    const split = splitLines(rest.length ? concatBytes([rest, chunk]) : chunk, position - rest.length);
    position += chunk.length;
    rest = split.rest;
    if (split.lines.length) yield split.lines;
  }
}

/** The offset just past a line and its newline. */
export const lineEnd = (line: Line) => line.offset + line.bytes.length + 1;
