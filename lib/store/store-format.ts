/**
 * The store's format, recorded in the data dir (`store-format`, one number) so that a release refuses a
 * data dir written by a newer one instead of misreading it. Format 2: sealed version 2 records (a
 * CRC of the whole line), read together with the first release's records, which had no marker.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { replaceFileAtomically } from "../fsync.ts";

/** The format this release writes, and the newest it reads. */
export const STORE_FORMAT = 2;
export const STORE_FORMAT_FILE = "store-format";

/** The data dir holds a format this release cannot read (or an unreadable marker); the message is one line. */
export class StoreFormatError extends Error {
  override name = "StoreFormatError";
}

/**
 * The format recorded in `directory`, 0 when none (a new data dir, or one of a release before the
 * marker). Throws {@link StoreFormatError} for a format newer than this release reads or a marker
 * that is not a format number.
 */
export async function readableStoreFormat(directory: string): Promise<number> {
  const text = await readFile(join(directory, STORE_FORMAT_FILE), "latin1").catch((error) => {
    if (error.code === "ENOENT") return null;
    throw error;
  });
  if (text !== null && !/^[1-9][0-9]{0,8}\n?$/.test(text)) throw new StoreFormatError(`${STORE_FORMAT_FILE} holds no store format number`);
  const format = text === null ? 0 : Number(text);
  if (format > STORE_FORMAT) {
    throw new StoreFormatError(`its store format is ${format}, and this release reads formats up to ${STORE_FORMAT}: a newer release wrote it, run that one or a later one`);
  }
  return format;
}

/** Checks the format recorded in `directory` (see {@link readableStoreFormat}) and records {@link STORE_FORMAT} when none or an older one is. */
export async function claimStoreFormat(directory: string): Promise<void> {
  if (await readableStoreFormat(directory) < STORE_FORMAT) {
    await replaceFileAtomically(join(directory, STORE_FORMAT_FILE), [new TextEncoder().encode(`${STORE_FORMAT}\n`)]);
  }
}
