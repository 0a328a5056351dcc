/** File helpers shared by the store and the key file: whole positional writes, directory fsync, atomic replacement. */
import { chmod, type FileHandle, open, rename, rm } from "node:fs/promises";
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
 * `syncEveryBytes` syncs the temp file as it grows, so that no one sync is long (a long one holds other
 * writers' fsyncs back). `onStep` is a test hook awaited after the temp file is written ("written") and
 * synced ("synced").
 */
export async function replaceFileAtomically(
  path: string,
  parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: { syncEveryBytes?: number; onStep?(step: string): Promise<void> | void } = {},
): Promise<void> {
  const temporary = temporaryPathFor(path);
  const file = await open(temporary, "w", 0o600);
  try {
    await chmod(temporary, 0o600); // open's mode applies only to a new file, not to a temp file a crash left behind
    let position = 0;
    let unsynced = 0;
    for await (const part of parts) {
      await writeAll(file, part, position);
      position += part.length;
      unsynced += part.length;
      if (unsynced >= (options.syncEveryBytes ?? Infinity)) await file.datasync().then(() => (unsynced = 0));
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
