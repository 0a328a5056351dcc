/** Freeing a large file that is no longer named (a replaced log or checkpoint) without stalling other writers' fsyncs. */
import type { FileHandle } from "node:fs/promises";
import { pause } from "./work-slices.ts";

/**
 * Bytes freed at a time. Freeing a block costs the disk's journal commit that records it (and, on a
 * filesystem mounted with `discard`, a discard of those blocks within that commit): every fsync
 * meanwhile waits for it. A close that freed a 1.5 GB file at once held fsyncs for 100 ms and more;
 * 16 MiB slices back to back, about 10 ms each. With a pause between slices, 2 MiB slices still held
 * 1-4 synced writes over 20 ms (39-102 ms) per 1.5 GB freed, 1 MiB slices 0 in 5 of 7 alternated runs.
 */
const SLICE_BYTES = 1 << 20;
/** Pause between two slices, so that deposits' commits go between them (about 3 s per GiB). */
const PAUSE_MS = 2;

/**
 * Closes `file` (already unlinked or renamed over), first freeing its blocks a slice at a time from
 * its end, with a pause between slices unless `hurry` says otherwise (a relay shutting down). A file
 * that still has a name (a hard link an operator made to take a backup, see docs/deploy.md) is only
 * closed: its blocks are the link's, and cutting it would cut the backup being read from it.
 */
export async function releaseFile(file: FileHandle, hurry: () => boolean = () => false): Promise<void> {
  try {
    const { size: whole, nlink } = await file.stat();
    if (nlink > 0) return;
    for (let size = whole; size > 0;) {
      size = Math.max(0, size - SLICE_BYTES);
      await file.truncate(size);
      if (!hurry()) await pause(PAUSE_MS);
    }
  } finally {
    await file.close();
  }
}
