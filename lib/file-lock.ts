/** An exclusive file lock as the runtime adapters take it and the data dir holds it. */

/** An exclusive lock on a file, held until released or until the process ends, however it ends. */
export interface FileLock {
  release(): void;
}

/**
 * Takes an exclusive advisory lock (flock) on the existing file at `path` without waiting; undefined
 * when another process holds it; rejects on any other failure. The kernel drops the lock when the
 * process dies (even by SIGKILL).
 */
export type TryLockFile = (path: string) => Promise<FileLock | undefined>;
