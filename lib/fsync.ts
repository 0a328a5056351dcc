/** File helpers shared by the store and the key file: whole positional writes, directory fsync, atomic replacement. */
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

/** Writes all of `bytes` at `position` (a write may take fewer bytes than asked). */
export async function writeAll(file: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += (await file.write(bytes, written, bytes.length - written, position + written)).bytesWritten;
  }
}

/** fsync a directory, so that a rename or a new file in it survives a power cut. */
export async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, "r");
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

/** The temp file {@link replaceFileAtomically} writes for `path`; a crash may leave it behind. */
export const temporaryPathFor = (path: string) => `${path}.tmp`;

/**
 * Replaces the file at `path` with `parts` (written in order) so that a crash leaves either the old
 * file or the whole new one: a temp file (see {@link temporaryPathFor}), fsync, rename, directory fsync.
 * `inTurn`, when given, runs each part's write and sync as one task (a turn of a log's queue, so that
 * no large sync meets another writer's). `onStep` is a test hook awaited after the temp file is written
 * ("written") and synced ("synced").
 */
export async function replaceFileAtomically(
  path: string,
  parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: { inTurn?(task: () => Promise<void>): Promise<void>; onStep?(step: string): Promise<void> | void } = {},
): Promise<void> {
  const temporary = temporaryPathFor(path);
  const file = await open(temporary, "w", 0o600);
  try {
    let position = 0;
    for await (const part of parts) {
      const at = position;
      position += part.length;
      if (options.inTurn) await options.inTurn(async () => (await writeAll(file, part, at), await file.datasync()));
      else await writeAll(file, part, at);
    }
    await options.onStep?.("written");
    await file.sync();
    await options.onStep?.("synced");
  } catch (error) {
    await file.close().catch(() => {});
    await rm(temporary, { force: true });
    throw error;
  }
  await file.close();
  await rename(temporary, path);
  await syncDirectory(dirname(path));
}
