/**
 * The data dir, used by one process at a time: claimed by a relay (created if need be, checked to be a
 * writable directory, locked for the relay's life) or by `copy` writing into it, or held by `copy` while
 * it reads one.
 */
import { chown, mkdir, open, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import type { FileLock, TryLockFile } from "./file-lock.ts";

/** The file in the data dir whose lock marks it as in use; it holds the pid of the process holding the lock. */
export const LOCK_FILE = "relay.lock";
/** Created and removed at start, under the lock, to find out whether files can be created in the data dir. */
const WRITE_PROBE_FILE = "relay.lock.probe";

/**
 * In a data dir while `copy` writes into it, naming what it copies from: a relay refuses a data dir that
 * holds part of a copy (served, it would lose the rest), and the next copy into it starts over.
 */
export const UNFINISHED_COPY_FILE = "copy.unfinished";

/**
 * Whether `directory` holds part of a copy that did not finish: null when not, else where the copy came
 * from, as "from FROM". A marker this process may not read (a copy run as root) still marks one.
 */
export async function unfinishedCopyIn(directory: string): Promise<string | null> {
  const marker = join(directory, UNFINISHED_COPY_FILE);
  return await readFile(marker, "utf8").then(
    (from) => `from ${from.trim()}`,
    (error) => error.code === "ENOENT" ? null : `(${marker} cannot be read: ${error.code})`,
  );
}

/** Why the data dir cannot be used; the message is one line for the operator. */
export class DataDirError extends Error {
  override name = "DataDirError";
}

/**
 * Creates `directory` (mode 0700) if need be, checks that it is a directory this process may write,
 * and locks it: a second relay on the same directory gets a DataDirError naming the pid of the first.
 * The lock is the kernel's, so it dies with the process, even on SIGKILL or a power cut; the lock
 * file itself is never removed (removing it would let two relays lock two different files). A relay
 * (not `copy`, `forCopy`) gets a DataDirError for a data dir holding a copy that did not finish.
 */
export async function claimDataDir(directory: string, tryLockFile: TryLockFile, forCopy = false): Promise<FileLock> {
  await mkdir(directory, { recursive: true, mode: 0o700 }).catch((error) => {
    if (error.code !== "EEXIST") throw new DataDirError(`cannot create the data dir: ${error.message}`);
  });
  if (!(await stat(directory)).isDirectory()) throw new DataDirError(`data dir ${directory} is not a directory`);
  const path = join(directory, LOCK_FILE);
  const probe = join(directory, WRITE_PROBE_FILE);
  await writable(directory, async () => await (await open(path, "a", 0o600)).close());
  const lock = await lockOrRefuse(directory, tryLockFile);
  const unfinished = forCopy ? null : await unfinishedCopyIn(directory);
  if (unfinished !== null) {
    lock.release();
    throw new DataDirError(
      `data dir ${directory} holds part of a copy ${unfinished} that did not finish: run the copy again (it starts over), ` +
        `or remove ${join(directory, UNFINISHED_COPY_FILE)} to serve only what it holds`,
    );
  }
  await writable(directory, async () => {
    await writeFile(path, `${process.pid}\n`);
    await (await open(probe, "w", 0o600)).close(); // the log, its compaction and the key are files created here
    await rm(probe);
  });
  return lock;
}

/**
 * Holds the existing data dir `directory` while it is read (as `copy` reads one): locked as a relay locks
 * it, so no relay starts on it meanwhile, and with this process's pid in the lock file. Nothing else in
 * it is created or written. A data dir in which this process can neither create nor find the lock file
 * (a read-only backup) is read unlocked. DataDirError when it is not a directory or another process holds it.
 */
export async function holdDataDir(directory: string, tryLockFile: TryLockFile): Promise<FileLock> {
  const found = await stat(directory).catch((error) => {
    throw new DataDirError(`cannot read the data dir ${directory}: ${error.message}`);
  });
  if (!found.isDirectory()) throw new DataDirError(`data dir ${directory} is not a directory`);
  const path = join(directory, LOCK_FILE);
  // A data dir restored from a backup has no lock file yet: created, as a relay would.
  const lockFileThere = await open(path, "a", 0o600).then(async (file) => {
    await file.close();
    await chown(path, found.uid, found.gid).catch(() => {}); // created under sudo: still the relay's to open
    return true;
  }, async () => await exists(path));
  if (!lockFileThere) return { release() {} };
  const lock = await lockOrRefuse(directory, tryLockFile);
  await writeFile(path, `${process.pid}\n`).catch(() => {}); // read-only: the pid stays the last holder's
  return lock;
}

/** The lock on `directory`'s lock file; a DataDirError naming the holder's pid when another process holds it. */
async function lockOrRefuse(directory: string, tryLockFile: TryLockFile): Promise<FileLock> {
  const path = join(directory, LOCK_FILE);
  const lock = await tryLockFile(path).catch((error) => {
    // Not "held by another process": the lock itself failed (libc not found, ENOLCK on a network file system, …).
    throw new DataDirError(`cannot lock the data dir ${directory}: ${error instanceof Error ? error.message : String(error)}`);
  });
  if (!lock) throw new DataDirError(`data dir ${directory} is in use by another relay (pid ${await holderPid(path)})`);
  return lock;
}

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false);
}

/** Runs `step`, reporting any failure as the data dir not being writable. */
async function writable(directory: string, step: () => Promise<void>): Promise<void> {
  await step().catch((error) => {
    throw new DataDirError(`data dir ${directory} is not writable: ${error.message}`);
  });
}

/** The pid the lock's holder wrote; polled briefly, since a holder that has just taken the lock may not have written it yet. */
async function holderPid(path: string): Promise<string> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const text = (await readFile(path, "utf8")).trim();
    if (/^\d+$/.test(text)) return text;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return "unknown";
}
