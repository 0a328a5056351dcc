/**
 * The index checkpoint: written at close and after a compaction, loaded at start so that only the log's
 * tail is read; a damaged, stale or mismatched one (or a crash while writing it) never loses or revives a
 * message: start-up falls back to the whole log.
 */
import { describe, expect, test } from "bun:test";
import { readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkpointPath } from "../lib/store/checkpoint.ts";
import { LOG_FILE, type MessageStore, type StoreOptions } from "../lib/store/message-store.ts";
import { tempDataDir, testStore } from "./helpers.ts";

const NOW = 1_767_225_600;
const MAILBOXES = ["m0", "m1", "m2", "m3"];
/** ~1 KiB payloads: 120 of them make a log well past the 64 KiB the checkpoint hashes. */
const payload = (n: number) => `${n}:${"x".repeat(1000)}`;

/** The frozen resolvers of crashed stores stay referenced, so their open files are never collected. */
const frozen: (() => void)[] = [];

/** Opens the store in `dir` at `now`, gathering its log events. */
async function open(dir: string, options: Partial<StoreOptions> & { now?: number } = {}) {
  const events: { event: string; fields: Record<string, unknown> }[] = [];
  const store = await testStore(dir, { clock: () => options.now ?? NOW, log: (event, fields) => events.push({ event, fields }), ...options });
  return { store, events, ignored: () => events.filter((e) => e.event === "store_checkpoint_ignored").map((e) => e.fields.reason) };
}

/** Every message of every mailbox: id, payload and expiry, oldest first. */
async function contents(store: MessageStore): Promise<Record<string, string[]>> {
  const state: Record<string, string[]> = {};
  for (const mailbox of MAILBOXES) {
    state[mailbox] = (await store.peek(mailbox)).messages.map((m) => `${m.depositId} ${m.payload.slice(0, 8)} ${m.expiresAt}`);
  }
  return state;
}

/** A closed store of 120 deposits (some expiring at NOW + 100) with every fifth removed; its contents. */
async function closedStore(dir: string) {
  const { store } = await open(dir);
  const ids: string[] = [];
  for (let i = 0; i < 120; i++) ids.push(await store.deposit(MAILBOXES[i % 4], payload(i), NOW + (i % 7 === 0 ? 100 : 600)));
  for (const mailbox of MAILBOXES) await store.remove(mailbox, ids.filter((_, i) => i % 5 === 0));
  const state = await contents(store);
  await store.close();
  return { ids, state };
}

/** Changes one byte of the log's first record payload, far more than 64 KiB before its end: only a full scan reads it. */
async function damageFirstRecord(dir: string): Promise<void> {
  const log = await readFile(join(dir, LOG_FILE), "latin1");
  const at = log.indexOf("xxxx");
  await writeFile(join(dir, LOG_FILE), `${log.slice(0, at)}y${log.slice(at + 1)}`, "latin1");
}

describe("the checkpoint is used", () => {
  test("reopening after close reads only the log after the checkpoint, with every message in order", async () => {
    const dir = await tempDataDir();
    const { state } = await closedStore(dir);
    expect((await stat(checkpointPath(join(dir, LOG_FILE)))).size).toBeGreaterThan(0);
    await damageFirstRecord(dir); // unseen by a start that loads the checkpoint
    const { store, ignored } = await open(dir);
    expect(ignored()).toEqual([]);
    expect(store.stats().damagedRecords).toBe(0);
    expect(await contents(store)).toEqual(state);
    await store.close();
    await rm(checkpointPath(join(dir, LOG_FILE)));
    const scanned = await open(dir);
    expect(scanned.store.stats().damagedRecords).toBe(1); // the same log, scanned whole, shows the damage
  });

  test("a store closed with nothing added since the checkpoint it opened from leaves it as it is (an empty one writes none); one that added to the log writes it again", async () => {
    const checkpointsWritten = (events: { event: string }[]) => events.filter((e) => e.event === "store_checkpoint_written").length;
    const empty = await open(await tempDataDir());
    await empty.store.close();
    expect(checkpointsWritten(empty.events)).toBe(0);
    const dir = await tempDataDir();
    const { state } = await closedStore(dir);
    const path = checkpointPath(join(dir, LOG_FILE));
    const written = await readFile(path);
    const idle = await open(dir);
    await idle.store.close();
    expect(checkpointsWritten(idle.events)).toBe(0);
    expect(await readFile(path)).toEqual(written);
    const busy = await open(dir);
    await busy.store.deposit("m0", payload(2000), NOW + 600);
    await busy.store.close();
    expect(checkpointsWritten(busy.events)).toBe(1);
    const reopened = await open(dir);
    expect(reopened.ignored()).toEqual([]);
    expect((await contents(reopened.store)).m0).toHaveLength(state.m0.length + 1);
    await reopened.store.compact(); // writes the compacted log's checkpoint: close has none to add
    await reopened.store.close();
    expect(checkpointsWritten(reopened.events)).toBe(1);
    const afterCompaction = await open(dir);
    expect(afterCompaction.ignored()).toEqual([]);
    expect((await contents(afterCompaction.store)).m0).toHaveLength(state.m0.length + 1);
  });

  test("deposits and removals after the checkpoint, then a crash (no close): the tail replays them", async () => {
    const dir = await tempDataDir();
    const { ids } = await closedStore(dir);
    const { store } = await open(dir);
    const late: string[] = [];
    for (let i = 0; i < 10; i++) late.push(await store.deposit(MAILBOXES[i % 4], payload(1000 + i), NOW + 600));
    for (const mailbox of MAILBOXES) await store.remove(mailbox, [...ids.filter((_, i) => i % 5 === 1), late[0], late[5]]);
    const state = await contents(store);
    const reopened = await open(dir); // the first store is never closed: a crash
    expect(reopened.ignored()).toEqual([]);
    expect(await contents(reopened.store)).toEqual(state);
    expect(reopened.store.stats().messages).toBe(Object.values(state).flat().length);
  });

  test("messages expired since the checkpoint are left out", async () => {
    const dir = await tempDataDir();
    const { state } = await closedStore(dir);
    const later = await open(dir, { now: NOW + 100 });
    const unexpired = Object.fromEntries(Object.entries(state).map(([m, rows]) => [m, rows.filter((row) => !row.endsWith(` ${NOW + 100}`))]));
    expect(await contents(later.store)).toEqual(unexpired);
    expect(later.store.stats().messages).toBe(Object.values(unexpired).flat().length);
  });

  test("a compaction writes a checkpoint of the compacted log", async () => {
    const dir = await tempDataDir();
    const { state } = await closedStore(dir);
    const checkpoint = checkpointPath(join(dir, LOG_FILE));
    await rm(checkpoint);
    const { store } = await open(dir);
    await store.compact();
    expect(store.stats().logBytes).toBeLessThan(store.stats().bytes + 1);
    expect((await stat(checkpoint)).size).toBeGreaterThan(0);
    const reopened = await open(dir); // the first store is never closed: only the compaction's checkpoint exists
    expect(reopened.ignored()).toEqual([]);
    expect(await contents(reopened.store)).toEqual(state);
  });
});

describe("a checkpoint that does not fit the log falls back to a full scan", () => {
  /** A closed store, `spoil` applied to its data dir: reopening finds the same messages, having ignored the checkpoint (for `reason`). */
  async function expectFallback(spoil: (dir: string, checkpoint: string) => Promise<void>, reason?: string) {
    const dir = await tempDataDir();
    const { state } = await closedStore(dir);
    await spoil(dir, checkpointPath(join(dir, LOG_FILE)));
    const { store, ignored } = await open(dir);
    expect(ignored()).toEqual(reason ? [reason] : [expect.any(String)]);
    expect(await contents(store)).toEqual(state);
  }
  const MISMATCH = "of another log (compacted, replaced or cut since)";

  test("cut short at any length", async () => {
    const dir = await tempDataDir();
    await closedStore(dir);
    const size = (await stat(checkpointPath(join(dir, LOG_FILE)))).size;
    for (const length of [0, 10, 47, 48, 60, 48 + 36 + 32 * 3, size - 13, size - 12, size - 1]) {
      await expectFallback((_, checkpoint) => truncate(checkpoint, length));
    }
  });

  test("one flipped byte anywhere", async () => {
    const dir = await tempDataDir();
    await closedStore(dir);
    const size = (await stat(checkpointPath(join(dir, LOG_FILE)))).size;
    // magic, covered offset, window hash, a mailbox key, its count, a message id, expiry, offset, length, the counts, the CRC
    for (const at of [0, 9, 20, 48, 80, 84, 90, 104, 110, 116, size - 10, size - 2]) {
      await expectFallback(async (_, checkpoint) => {
        const bytes = await readFile(checkpoint);
        bytes[at] ^= 0x10;
        await writeFile(checkpoint, bytes);
      });
    }
  });

  test("from another data dir's log", async () => {
    const other = await tempDataDir();
    await closedStore(other);
    await expectFallback(async (_, checkpoint) => writeFile(checkpoint, await readFile(checkpointPath(join(other, LOG_FILE)))), MISMATCH);
  });

  test("the log compacted after it (by a release without checkpoints, or a failed checkpoint write)", async () => {
    await expectFallback(async (dir, checkpoint) => {
      const old = await readFile(checkpoint);
      const { store } = await open(dir);
      await store.compact();
      await store.close();
      await writeFile(checkpoint, old);
    }, MISMATCH);
  });

  test("the log cut back before its end (restored from an older backup): the same messages as a full scan of it", async () => {
    const dir = await tempDataDir();
    await closedStore(dir);
    const log = join(dir, LOG_FILE);
    const text = await readFile(log, "latin1");
    await truncate(log, text.lastIndexOf("\n", text.length - 200) + 1);
    const loaded = await open(dir);
    expect(loaded.ignored()).toEqual([MISMATCH]);
    const state = await contents(loaded.store);
    await rm(checkpointPath(log));
    expect(await contents((await open(dir)).store)).toEqual(state);
  });
});

describe("a crash while writing the checkpoint", () => {
  for (const step of ["checkpoint:written", "checkpoint:synced"]) {
    test(`frozen at ${step}: reopening loses and revives nothing`, async () => {
      const dir = await tempDataDir();
      const { ids } = await closedStore(dir);
      let reached = () => {};
      const frozenAt = new Promise<void>((resolve) => (reached = resolve));
      const { store } = await open(dir, {
        onStep: (at) => {
          if (at !== step) return;
          reached();
          return new Promise<void>((resolve) => frozen.push(resolve));
        },
      });
      for (let i = 0; i < 10; i++) await store.deposit(MAILBOXES[i % 4], payload(2000 + i), NOW + 600);
      for (const mailbox of MAILBOXES) await store.remove(mailbox, ids.filter((_, i) => i % 5 === 2));
      const state = await contents(store);
      void store.close();
      await frozenAt;
      const reopened = await open(dir);
      expect(await contents(reopened.store)).toEqual(state);
    });
  }
});
