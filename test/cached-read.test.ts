/** Records read from the page cache where the runtime can (Bun on Linux), through the I/O pool otherwise: the same bytes either way. */
import { describe, expect, test } from "bun:test";
import { open, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ReadIfCached } from "../lib/cached-read.ts";
import { readIfCached } from "../lib/runtime/bun.ts";
import { LOG_FILE } from "../lib/store/message-store.ts";
import { tempDataDir, testStore } from "./helpers.ts";

describe("Bun's readIfCached", () => {
  test.skipIf(process.platform !== "linux")("bytes just written are in the page cache: exactly those asked for, into the target at its offset; none past the end", async () => {
    const path = join(await tempDataDir(), "file");
    const bytes = Uint8Array.from({ length: 8192 }, (_, i) => i % 251);
    await writeFile(path, bytes);
    const file = await open(path, "r");
    try {
      const target = new Uint8Array(64).fill(0xee);
      expect(readIfCached(file.fd, target, 5, 50, 4000)).toBe(50);
      expect([...target.subarray(5, 55)]).toEqual([...bytes.subarray(4000, 4050)]);
      expect([target[4], target[55]]).toEqual([0xee, 0xee]);
      expect(readIfCached(file.fd, target, 0, 64, 8180)).toBe(12);
      expect(readIfCached(file.fd, target, 0, 64, 8192)).toBe(0);
    } finally {
      await file.close();
    }
  });

  test("a read it cannot make (no such file descriptor) → -1, for the caller to read through the I/O pool", () => {
    expect(readIfCached(-1, new Uint8Array(16), 0, 16, 0)).toBe(-1);
  });

  test("a range outside the target → -1, and the target and what lies past it untouched", async () => {
    const path = join(await tempDataDir(), "file");
    await writeFile(path, new Uint8Array(4096).fill(1));
    const file = await open(path, "r");
    try {
      const memory = new Uint8Array(64);
      const target = memory.subarray(0, 32);
      for (const [at, length] of [[0, 33], [16, 17], [-1, 8], [32, 1], [0, -1], [0, 0]]) {
        expect(readIfCached(file.fd, target, at, length, 0)).toBe(-1);
      }
      expect(memory.every((byte) => byte === 0)).toBe(true);
    } finally {
      await file.close();
    }
  });
});

describe("the store's record reads", () => {
  const PAYLOADS = ["first", "second, with ✓ in it", "x".repeat(5000)];

  /** The payloads peeked from a store that reads records with `read`, after depositing PAYLOADS. */
  async function peeked(read: ReadIfCached): Promise<string[]> {
    const store = await testStore(await tempDataDir(), { readIfCached: read });
    for (const payload of PAYLOADS) await store.deposit("a", payload, Math.floor(Date.now() / 1000) + 3600);
    return (await store.peek("a")).messages.map((message) => message.payload);
  }

  test.skipIf(process.platform !== "linux")("records just deposited are read from the page cache: each once, in full, the payloads deposited", async () => {
    const answers: number[] = [];
    const payloads = await peeked((fd, target, at, length, position) => {
      const read = readIfCached(fd, target, at, length, position);
      answers.push(read === length ? 1 : 0);
      return read;
    });
    expect(payloads).toEqual(PAYLOADS);
    expect(answers).toEqual([1, 1, 1]);
  });

  test.skipIf(process.platform !== "linux")("a record read leaves the log's access time as it was: no inode update for a read on the event loop to wait on", async () => {
    const dataDir = await tempDataDir();
    const store = await testStore(dataDir, { readIfCached });
    await store.deposit("a", "payload", Math.floor(Date.now() / 1000) + 3600);
    const log = join(dataDir, LOG_FILE);
    const { mtime } = await stat(log);
    const accessed = new Date(mtime.getTime() - 100_000); // before the last write: under relatime a read would move it
    await utimes(log, accessed, mtime);
    expect((await store.peek("a")).messages.map((message) => message.payload)).toEqual(["payload"]);
    expect((await stat(log)).atimeMs).toBe(accessed.getTime());
  });

  test("records not in the page cache (-1) are read through the I/O pool: the payloads deposited", async () => {
    expect(await peeked(() => -1)).toEqual(PAYLOADS);
  });

  test("a record only partly in the page cache (a short read) is read again in full: the payloads deposited", async () => {
    expect(await peeked((_fd, target, at, length) => (target.fill(0x7b, at, at + length - 1), length - 1))).toEqual(PAYLOADS);
  });
});
