/** Durability helpers shared by the store and the key file. */
import { open } from "node:fs/promises";

/** fsync a directory, so that a rename or a new file in it survives a power cut. */
export async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, "r");
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
