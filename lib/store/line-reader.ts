/** Walks the lines of a byte range of the log in large chunks, through one reused buffer. */

const NEWLINE = 10;

/** One line: its bytes without the newline, and where it starts in the file. */
export interface Line {
  bytes: Uint8Array;
  offset: number;
}

/** Reads into `target` at `at` up to `length` bytes from file offset `position`; resolves with how many. */
export type ReadInto = (target: Uint8Array, at: number, length: number, position: number) => Promise<number>;

/** The complete lines of `data` (which starts at file offset `offset`), and where the unterminated rest begins. */
function splitLines(data: Uint8Array, offset: number): { lines: Line[]; restStart: number } {
  const lines: Line[] = [];
  let start = 0;
  for (let newline = data.indexOf(NEWLINE); newline >= 0; newline = data.indexOf(NEWLINE, start)) {
    lines.push({ bytes: data.subarray(start, newline), offset: offset + start });
    start = newline + 1;
  }
  return { lines, restStart: start };
}

/**
 * Yields the complete lines of [from, to), a chunk's worth at a time. The lines view one buffer
 * that the next chunk overwrites: use them before asking for more. An unterminated last line is
 * not yielded: the caller sees it as the gap between the last line's end and `to`.
 */
export async function* readLines(read: ReadInto, from: number, to: number, chunkBytes: number): AsyncGenerator<Line[]> {
  let buffer: Uint8Array = new Uint8Array(chunkBytes * 2);
  let restLength = 0;
  for (let position = from; position < to;) {
    if (buffer.length - restLength < chunkBytes) buffer = grown(buffer, restLength, restLength + chunkBytes); // a line longer than a chunk
    const bytesRead = await read(buffer, restLength, Math.min(chunkBytes, to - position), position);
    if (bytesRead === 0) break; // the file is shorter than it was said to be
    const data = buffer.subarray(0, restLength + bytesRead);
    const { lines, restStart } = splitLines(data, position - restLength);
    position += bytesRead;
    if (lines.length) yield lines;
    buffer.copyWithin(0, restStart, data.length);
    restLength = data.length - restStart;
  }
}

function grown(buffer: Uint8Array, keep: number, length: number): Uint8Array {
  const bigger = new Uint8Array(length);
  bigger.set(buffer.subarray(0, keep));
  return bigger;
}

/** The offset just past a line and its newline. */
export const lineEnd = (line: Line) => line.offset + line.bytes.length + 1;
