/** File helpers shared by the store and the key file: whole positional writes, directory fsync. */
import { type FileHandle, open } from "node:fs/promises";

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
