/** The store through its public API: saved → reopened / compacted → state, recovery from torn and damaged logs. */
import { describe, expect, test } from "bun:test";
import { appendFile, link, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkpointPath } from "../lib/store/checkpoint.ts";
import { LOG_FILE, type MessageStore } from "../lib/store/message-store.ts";
import { deletedLogsHeld, logRecords, tempDataDir, testStore } from "./helpers.ts";
import { contents, NOW, STORE_TABLE } from "./store-table.ts";

const clock = () => NOW;

describe("saved → reopened / compacted → state", () => {
  for (const row of STORE_TABLE) {
    test(row.name, async () => {
      const dir = await tempDataDir();
      let store = await testStore(dir, { clock });
      const ids = new Map<string, string>();
      for (const step of row.steps) await step(store, ids);
      expect(await contents(store)).toEqual(row.state);
      for (let round = 0; round < 3; round++) {
        await store.close();
        store = await testStore(dir, { clock });
        expect(await contents(store)).toEqual(row.state);
        await store.compact();
        expect(await contents(store)).toEqual(row.state);
      }
      const { messages } = await store.peek("a");
      expect(store.stats().logBytes).toBe(store.stats().bytes);
      expect(messages.every((m) => ids.get(m.payload) === m.depositId)).toBe(true);
    });
  }
});

describe("mailbox names", () => {
  test("a 64-digit lowercase hex id and names that differ from one by a character or a digit's case each keep their own messages, also reopened", async () => {
    const hexId = "0123456789abcdef".repeat(4);
    const rest = hexId.slice(2);
    // Names that would share a key with another if a character that is not a digit were packed: "…fg" as the
    // id itself (f × 16 − 1 = 0xef), "g0…" as "f0…" (−16 is 0xf0 in a byte), "Ā0…" and a lone surrogate
    // then "0…" as "00…" (a code past the digits' table would pack as 0).
    const names = [hexId, hexId.toUpperCase(), hexId.slice(0, 63), `${hexId}0`, `${hexId.slice(0, 62)}fg`,
      `f0${rest}`, `g0${rest}`, `00${rest}`, `\u01000${rest}`, `\ud8000${rest}`, ""];
    const dir = await tempDataDir();
    let store = await testStore(dir, { clock });
    for (const name of names) await store.deposit(name, `for ${JSON.stringify(name)}`, NOW + 600);
    const expected = Object.fromEntries(names.map((name) => [name, [`for ${JSON.stringify(name)}`]]));
    expect(await contents(store, names)).toEqual(expected);
    await store.close();
    store = await testStore(dir, { clock });
    expect(await contents(store, names)).toEqual(expected);
    await store.close();
  });
});

describe("compaction", () => {
  test("drops delivered and expired records from the file", async () => {
    const dir = await tempDataDir();
    let now = NOW;
    const store = await testStore(dir, { clock: () => now });
    const keep = await store.deposit("a", "keep", NOW + 1000);
    await store.deposit("a", "expires", NOW + 10);
    const gone = await store.deposit("a", "delivered", NOW + 1000);
    await store.remove("a", [gone]);
    now = NOW + 11;
    await store.compact();
    const lines = (await logRecords(join(dir, LOG_FILE))).toString().trim().split("\n");
    expect(lines.map((line) => JSON.parse(line).id)).toEqual([keep]);
    expect(store.stats().compactions).toBe(1);
  });

  test("deposits and removals during a compaction are neither lost nor duplicated", async () => {
    const dir = await tempDataDir();
    const store = await testStore(dir, { clock });
    const early: string[] = [];
    for (let i = 0; i < 500; i++) early.push(await store.deposit(`m${i % 7}`, `early-${i}`, NOW + 600));
    await store.remove("m0", early.filter((_, i) => i % 7 === 0));
    const compaction = store.compact();
    const late = await Promise.all(Array.from({ length: 300 }, (_, i) => store.deposit(`m${i % 7}`, `late-${i}`, NOW + 600)));
    await store.remove("m1", early.filter((_, i) => i % 7 === 1));
    await compaction;
    const expected = new Set([...early.filter((_, i) => i % 7 > 1), ...late]);
    const ids = async (s: MessageStore) => {
      const all: string[] = [];
      for (let m = 0; m < 7; m++) all.push(...(await s.peek(`m${m}`)).messages.map((x) => x.depositId));
      return all;
    };
    const before = await ids(store);
    expect(before.length).toBe(expected.size);
    expect(new Set(before)).toEqual(expected);
    expect(await ids(await reopen(store, dir))).toEqual(before);
  });

  test("the replaced log's disk space is freed after the checkpoint is written, and before the compaction resolves", async () => {
    const dir = await tempDataDir();
    let heldAtCheckpoint = -1;
    const store = await testStore(dir, {
      clock,
      onStep: async (step) => {
        if (step === "checkpoint:synced") heldAtCheckpoint = await deletedLogsHeld(dir);
      },
    });
    const big = "x".repeat(200_000);
    const ids = [];
    for (let i = 0; i < 30; i++) ids.push(await store.deposit("a", `${i}${big}`, NOW + 600)); // 6 MB: several slices to free
    await store.remove("a", ids.slice(1));
    await store.compact();
    expect(heldAtCheckpoint).toBe(1);
    expect(await deletedLogsHeld(dir)).toBe(0);
    expect((await store.peek("a")).messages.map((message) => message.payload)).toEqual([`0${big}`]);
  });

  test("a hard link to the log (a backup being taken from it) keeps the log as it was through a compaction: the replaced file is not cut down", async () => {
    const dir = await tempDataDir();
    const store = await testStore(dir, { clock });
    const big = "x".repeat(200_000);
    const ids = [];
    for (let i = 0; i < 30; i++) ids.push(await store.deposit("a", `${i}${big}`, NOW + 600));
    const backupLink = join(dir, "backup-link.jsonl");
    await link(join(dir, LOG_FILE), backupLink);
    const before = await logRecords(backupLink);
    await store.remove("a", ids.slice(1));
    await store.compact();
    expect(await deletedLogsHeld(dir)).toBe(0);
    // As the log was when it was replaced: the 30 deposits, then the removals.
    const after = await logRecords(backupLink);
    expect(after.subarray(0, before.length).equals(before)).toBe(true);
    expect(after.toString().split("\n").filter((line) => line.includes(big)).length).toBe(30);
    await store.close();
  });

  test("a record changed on disk where the index points: the compaction keeps the log as it was aside, then compacts without that record", async () => {
    const dir = await tempDataDir();
    const store = await testStore(dir, { clock });
    await store.deposit("a", "first", NOW + 600);
    await store.remove("a", [await store.deposit("a", "delivered", NOW + 600)]);
    await store.deposit("a", "second", NOW + 600);
    const path = join(dir, LOG_FILE);
    const lines = (await logRecords(path)).toString("utf8").split("\n");
    await writeFile(path, lines.map((line) => line.includes('"p":"second"') ? `X${line.slice(1)}` : line).join("\n"));
    const changed = await logRecords(path);
    await store.compact();
    const aside = (await readdir(dir)).filter((name) => name.startsWith(`${LOG_FILE}.damaged-`));
    expect(aside.length).toBe(1);
    expect(await logRecords(join(dir, aside[0]))).toEqual(changed);
    expect(await readdir(dir)).not.toContain(`${LOG_FILE}.compact`);
    expect([store.stats().compactions, store.stats().damagedRecords]).toEqual([1, 1]);
    expect((await store.peek("a")).messages.map((message) => message.payload)).toEqual(["first"]);
  });
});

describe("a large index", () => {
  test("140k messages (the index's slots span three chunks): removals, reused slots, compaction and reopening keep mailboxes exact", async () => {
    const dir = await tempDataDir();
    const store = await testStore(dir, { clock, durable: false });
    const mailbox = (i: number) => `m${i % 1400}`;
    const deposited = await Promise.all(Array.from({ length: 140_000 }, (_, i) => store.deposit(mailbox(i), `p${i}`, NOW + 600)));
    // Half the messages of m0..m99 go, freeing slots in every chunk; new deposits to them take those slots.
    const removed = new Set(deposited.filter((_, i) => i % 1400 < 100 && Math.floor(i / 1400) % 2 === 0));
    for (let m = 0; m < 100; m++) await store.remove(`m${m}`, [...removed].filter((_, k) => k % 100 === m));
    for (let i = 0; i < 5000; i++) await store.deposit(mailbox(i % 100), `again${i}`, NOW + 600);
    const sample = ["m0", "m1", "m99", "m100", "m1399"];
    const expected = Object.fromEntries(sample.map((name) => [name, [
      ...deposited.flatMap((id, i) => mailbox(i) === name && !removed.has(id) ? [`p${i}`] : []),
      ...Array.from({ length: 5000 }, (_, i) => i).flatMap((i) => mailbox(i % 100) === name ? [`again${i}`] : []),
    ]]));
    expect(expected.m0).toHaveLength(100);
    expect(await contents(store, sample)).toEqual(expected);
    expect(store.stats().messages).toBe(140_000);
    await store.compact();
    expect(await contents(store, sample)).toEqual(expected);
    const reopened = await reopen(store, dir);
    expect(await contents(reopened, sample)).toEqual(expected);
    expect(reopened.stats().messages).toBe(140_000);
  }, 60_000);

  test("removals from a mailbox's front, middle and end keep its order, its count and where later deposits go", async () => {
    const store = await testStore(await tempDataDir(), { clock, mailboxMaxMessages: 4 });
    const id: Record<string, string> = {};
    const deposit = async (...payloads: string[]) => {
      for (const payload of payloads) id[payload] = await store.deposit("a", payload, NOW + 600);
    };
    const removed = (...payloads: string[]) => store.remove("a", payloads.map((payload) => id[payload]));
    const held = async () => (await store.peek("a")).messages.map((message) => message.payload);
    await deposit("1", "2", "3", "4");
    expect(await removed("1")).toBe(1);
    expect(await held()).toEqual(["2", "3", "4"]);
    expect(await removed("3")).toBe(1);
    await deposit("5");
    expect(await held()).toEqual(["2", "4", "5"]);
    expect(await removed("5")).toBe(1);
    await deposit("6", "7");
    expect(await held()).toEqual(["2", "4", "6", "7"]);
    await expect(store.deposit("a", "over the cap", NOW + 600)).rejects.toMatchObject({ kind: "mailbox_full" });
    expect(await removed("2", "6")).toBe(2);
    await deposit("8", "9");
    expect(await held()).toEqual(["4", "7", "8", "9"]);
    await expect(store.deposit("a", "over the cap", NOW + 600)).rejects.toMatchObject({ kind: "mailbox_full" });
    expect(store.stats().messages).toBe(4);
  });

  test("one mailbox of 50k messages: removals (ids repeated, unknown, not ids, out of order) survive reopening and compaction; a take empties it in order", async () => {
    const dir = await tempDataDir();
    let store = await testStore(dir, { clock, durable: false, mailboxMaxMessages: 100_000 });
    const ids = await Promise.all(Array.from({ length: 50_000 }, (_, i) => store.deposit("big", `p${i}`, NOW + 600)));
    const acked = ids.filter((_, i) => i % 10 === 0).reverse();
    expect(await store.remove("big", [...acked, ...acked.slice(0, 5), crypto.randomUUID(), "not-an-id"])).toBe(acked.length);
    expect(await store.remove("big", acked)).toBe(0);
    store = await reopen(store, dir);
    expect(store.stats().messages).toBe(45_000);
    await store.compact();
    const taken = await store.take("big");
    expect(taken.map((message) => message.payload)).toEqual(ids.flatMap((_, i) => i % 10 === 0 ? [] : [`p${i}`]));
    expect((await store.peek("big")).messages).toEqual([]);
    expect((await reopen(store, dir)).stats().messages).toBe(0);
  }, 60_000);
});

/**
 * A store in a fresh dir holding `count` messages round-robin in m0…m3 ("first-<i>"), m0's removed, and its
 * compaction started and held at `step` (`reached` resolves there) until `release()`.
 */
async function compactionHeldAt(step: string, count: number) {
  const dir = await tempDataDir();
  let release = () => {};
  let arrived = () => {};
  const reached = new Promise<void>((resolve) => (arrived = resolve));
  const store = await testStore(dir, {
    clock,
    onStep: (at) => {
      if (at !== step) return;
      arrived();
      return new Promise<void>((resolve) => (release = resolve));
    },
  });
  const first: string[] = [];
  for (let i = 0; i < count; i++) first.push(await store.deposit(`m${i % 4}`, `first-${i}`, NOW + 600));
  await store.remove("m0", first.filter((_, i) => i % 4 === 0));
  const compaction = store.compact();
  await reached;
  return { dir, store, first, compaction, release: () => release() };
}

describe("compaction while slots are reused", () => {
  test("messages removed and replaced (their index slots reused) while a compaction waits to swap are read back right, before and after reopening", async () => {
    // Every record is copied; the swap has not happened.
    const { dir, store, first, compaction, release } = await compactionHeldAt("compact:copied", 200);
    await store.remove("m1", first.filter((_, i) => i % 4 === 1)); // frees slots the copy has seen live
    const replacements = await Promise.all(Array.from({ length: 50 }, (_, i) => store.deposit("m2", `replacement-${i}`, NOW + 600)));
    release();
    await compaction;
    const expected = {
      m0: [],
      m1: [],
      m2: [...first.flatMap((_, i) => i % 4 === 2 ? [`first-${i}`] : []), ...replacements.map((_, i) => `replacement-${i}`)],
      m3: first.flatMap((_, i) => i % 4 === 3 ? [`first-${i}`] : []),
    };
    expect(store.stats().compactions).toBe(1);
    expect(await contents(store, ["m0", "m1", "m2", "m3"])).toEqual(expected);
    expect(await contents(await reopen(store, dir), ["m0", "m1", "m2", "m3"])).toEqual(expected);
  });
});

describe("compaction while records are appended", () => {
  test("records appended while the snapshot is copied (more than the last round copies), some removed and their slots reused, are read back right, before and after reopening", async () => {
    // The snapshot is copied; what is appended from now on is caught up.
    const { dir, store, first, compaction, release } = await compactionHeldAt("compact:snapshot-copied", 100);
    const big = (i: number) => `appended-${i}-${"x".repeat(4096)}`;
    const appended = await Promise.all(Array.from({ length: 60 }, (_, i) => store.deposit("m1", big(i), NOW + 600)));
    await store.remove("m1", appended.filter((_, i) => i % 2 === 0)); // slots of records appended since
    await store.remove("m3", first.filter((_, i) => i % 4 === 3)); // slots of records in the snapshot
    const reused = await Promise.all(Array.from({ length: 40 }, (_, i) => store.deposit("m2", `reused-${i}`, NOW + 600)));
    release();
    await compaction;
    const expected = {
      m0: [],
      m1: [...first.flatMap((_, i) => i % 4 === 1 ? [`first-${i}`] : []), ...appended.flatMap((_, i) => i % 2 === 1 ? [big(i)] : [])],
      m2: [...first.flatMap((_, i) => i % 4 === 2 ? [`first-${i}`] : []), ...reused.map((_, i) => `reused-${i}`)],
      m3: [],
    };
    expect(store.stats().compactions).toBe(1);
    expect(await contents(store, ["m0", "m1", "m2", "m3"])).toEqual(expected);
    expect(await contents(await reopen(store, dir), ["m0", "m1", "m2", "m3"])).toEqual(expected);
  });
});

describe("compaction under random deposits and removals", () => {
  const MAILBOXES = ["a", "b", "c", "d", "e", "f"];
  /** Each mailbox's messages as `id:payload`, sorted: the same for the store and the model. */
  const sorted = (byMailbox: Record<string, string[]>) => Object.fromEntries(MAILBOXES.map((mailbox) => [mailbox, [...byMailbox[mailbox]].sort()]));

  for (const seed of [1, 2, 3]) {
    test(`seed ${seed}: four compactions (held at the catch-up, at the swap, not held) with deposits and removals going on; the store matches a model after each and after reopening`, async () => {
      let state = seed * 7919;
      const random = () => (state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
      const model = new Map<string, { mailbox: string; payload: string }>();
      const live: string[] = [];
      const deposit = async () => {
        const mailbox = MAILBOXES[Math.floor(random() * MAILBOXES.length)];
        const payload = `p-${"y".repeat(Math.floor(random() * (random() < 0.1 ? 20_000 : 600)))}`;
        const id = await store.deposit(mailbox, payload, NOW + 600);
        model.set(id, { mailbox, payload });
        live.push(id);
      };
      const removeSome = async () => {
        const picked = Array.from({ length: Math.min(5, live.length) }, () => live.splice(Math.floor(random() * live.length), 1)[0]);
        await Promise.all(picked.map((id) => store.remove(model.get(id)!.mailbox, [id]).then(() => model.delete(id))));
      };
      const churn = (operations: number) => Promise.all(Array.from({ length: operations }, () => random() < 0.6 ? deposit() : removeSome()));
      const expected = () => {
        const byMailbox = Object.fromEntries(MAILBOXES.map((mailbox) => [mailbox, [] as string[]]));
        for (const [id, { mailbox, payload }] of model) byMailbox[mailbox].push(`${id}:${payload}`);
        return sorted(byMailbox);
      };
      const actual = async (from: MessageStore) => {
        const byMailbox: Record<string, string[]> = {};
        for (const mailbox of MAILBOXES) byMailbox[mailbox] = (await from.peek(mailbox)).messages.map((message) => `${message.depositId}:${message.payload}`);
        return sorted(byMailbox);
      };
      let holdAt = "";
      const dir = await tempDataDir();
      const store = await testStore(dir, {
        clock,
        mailboxMaxMessages: 100_000,
        onStep: async (step) => {
          if (step === holdAt) for (let i = 0; i < 3; i++) await churn(30);
        },
      });
      for (let i = 0; i < 3000; i++) await deposit();
      for (let i = 0; i < 300; i++) await removeSome();
      for (const step of ["compact:snapshot-copied", "compact:copied", "none", "compact:snapshot-copied"]) {
        holdAt = step;
        let done = false;
        const compaction = store.compact().finally(() => (done = true));
        while (!done) await churn(8);
        await compaction;
        holdAt = "";
        expect(await actual(store)).toEqual(expected());
      }
      expect(store.stats().compactions).toBe(4);
      await store.close();
      expect(await actual(await testStore(dir, { clock }))).toEqual(expected());
    }, 60_000);
  }
});


/** A closed log in `dir` holding "1", "2", "3" in mailbox a, its second line changed by `spoil`; resolves with its lines. */
async function logWithSecondLine(dir: string, spoil: (line: string) => string): Promise<string[]> {
  const store = await testStore(dir, { clock });
  for (const payload of ["1", "2", "3"]) await store.deposit("a", payload, NOW + 600);
  await store.close();
  const path = join(dir, LOG_FILE);
  const lines = (await readFile(path, "latin1")).split("\n");
  lines[1] = spoil(lines[1]);
  await writeFile(path, lines.join("\n"), "latin1");
  return lines;
}

async function reopen(store: MessageStore, dir: string): Promise<MessageStore> {
  await store.close();
  return testStore(dir, { clock });
}

describe("close", () => {
  test("waits for a read in flight and leaves the log whole", async () => {
    const dir = await tempDataDir();
    const store = await testStore(dir, { clock });
    for (let i = 0; i < 50; i++) await store.deposit("a", `m${i}`, NOW + 600);
    const reading = store.peek("a");
    await store.close();
    expect((await reading).messages.length).toBe(50);
    expect((await contents(await testStore(dir, { clock }))).a.length).toBe(50);
  });

  test("the log and a compacted log are private to the relay (0600)", async () => {
    const dir = await tempDataDir();
    const store = await testStore(dir, { clock });
    expect((await stat(join(dir, LOG_FILE))).mode & 0o777).toBe(0o600);
    await store.deposit("a", "x", NOW + 600);
    await store.compact();
    expect((await stat(join(dir, LOG_FILE))).mode & 0o777).toBe(0o600);
  });
});

describe("zeros written ahead of the records", () => {
  test("an open durable log keeps zeros past its records, commits overwrite them, and a close cuts them off", async () => {
    const dir = await tempDataDir();
    const path = join(dir, LOG_FILE);
    const store = await testStore(dir, { clock });
    const payload = "x".repeat(2000);
    // About 430 KB of records: past the first piece of zeros (256 KiB), so commits land on zeros written ahead.
    const ids = await Promise.all(Array.from({ length: 200 }, () => store.deposit("a", payload, NOW + 600)));
    const records = store.stats().logBytes;
    let bytes = await readFile(path);
    for (let wait = 0; bytes.length <= records && wait < 200; wait++) bytes = await Bun.sleep(10).then(() => readFile(path));
    expect(bytes.length).toBeGreaterThan(records);
    expect(bytes.subarray(records).every((byte) => byte === 0)).toBe(true);
    expect(bytes[records - 1]).toBe(0x0a);
    await store.close();
    expect((await stat(path)).size).toBe(records);
    const reopened = await testStore(dir, { clock });
    expect((await reopened.peek("a")).messages.map((message) => message.depositId)).toEqual(ids);
  });

  test("a write cut short over zeros (a stretch of them inside it) is skipped and reported, not kept aside as damage", async () => {
    const dir = await tempDataDir();
    const path = join(dir, LOG_FILE);
    // Its middle blocks never reached the disk.
    const lines = await logWithSecondLine(dir, (line) => `${line.slice(0, 20)}${"\0".repeat(40)}${line.slice(60)}`);
    await appendFile(path, new Uint8Array(300_000));
    await rm(checkpointPath(path)); // a power cut: no checkpoint of these records
    const events: { event: string; fields: Record<string, unknown> }[] = [];
    const reopened = await testStore(dir, { clock, log: (event, fields) => events.push({ event, fields }) });
    expect(await contents(reopened)).toEqual({ a: ["1", "3"], b: [] });
    expect(events).toEqual([{ event: "store_zeroed_lines_skipped", fields: { count: 1, offsets: [lines[0].length + 1] } }]);
    expect(reopened.stats().damagedRecords).toBe(1);
    expect((await readdir(dir)).filter((name) => name.startsWith(`${LOG_FILE}.damaged-`))).toEqual([]);
  });
});

describe("recovery on open", () => {
  const TORN = '{"v":2,"crc":"0534143d","k":"put","id":"x","mb":"a","exp":1767226200,"p":"tor';
  const ZEROS = new Uint8Array(300_000); // written ahead of the records by a relay that then crashed
  const TAILS = [
    { name: "a torn final line (a write cut short) is cut off and logged", tail: [TORN], events: ["store_torn_tail_cut"] },
    { name: "zeros past the records are cut off with no report", tail: [ZEROS], events: [] },
    { name: "a torn final line before such zeros is cut off and logged", tail: [TORN, ZEROS], events: ["store_torn_tail_cut"] },
  ];
  for (const { name, tail, events: expected } of TAILS) {
    test(`${name}; the records before it stay`, async () => {
      const dir = await tempDataDir();
      const store = await testStore(dir, { clock });
      await store.deposit("a", "1", NOW + 600);
      await store.close();
      const intact = (await stat(join(dir, LOG_FILE))).size;
      for (const part of tail) await appendFile(join(dir, LOG_FILE), part);
      const events: string[] = [];
      const reopened = await testStore(dir, { clock, log: (event) => events.push(event) });
      expect(await contents(reopened)).toEqual({ a: ["1"], b: [] });
      expect(events).toEqual(expected);
      expect((await logRecords(join(dir, LOG_FILE))).length).toBe(intact);
      await reopened.deposit("a", "2", NOW + 600);
      expect(await contents(await reopen(reopened, dir))).toEqual({ a: ["1", "2"], b: [] });
    });
  }

  test("a damaged line in the middle is kept aside and reported; the records around it are served", async () => {
    const dir = await tempDataDir();
    const lines = await logWithSecondLine(dir, (line) => line.replace('"k":"put"', '"k":#ut"'));
    const events: string[] = [];
    const reopened = await testStore(dir, { clock, log: (event) => events.push(event) });
    expect(await contents(reopened)).toEqual({ a: ["1", "3"], b: [] });
    expect(reopened.stats().damagedRecords).toBe(1);
    expect(events).toContain("store_damaged_records");
    const aside = (await readdir(dir)).filter((name) => name.startsWith(`${LOG_FILE}.damaged-`));
    expect(aside.length).toBe(1);
    expect(await readFile(join(dir, aside[0]), "utf8")).toBe(lines.join("\n"));
    // The log itself was rewritten without the damage, so the next start is clean.
    const again = await reopen(reopened, dir);
    expect(again.stats().damagedRecords).toBe(0);
    expect(await contents(again)).toEqual({ a: ["1", "3"], b: [] });
  });

  test("a payload changed on disk (still valid JSON) fails its CRC and counts as damaged", async () => {
    const dir = await tempDataDir();
    const store = await testStore(dir, { clock });
    for (const payload of ["first", "second"]) await store.deposit("a", payload, NOW + 600);
    await store.close();
    const path = join(dir, LOG_FILE);
    await writeFile(path, (await readFile(path, "utf8")).replace('"p":"first"', '"p":"fir5t"'));
    const reopened = await testStore(dir, { clock });
    expect(await contents(reopened)).toEqual({ a: ["second"], b: [] });
    expect(reopened.stats().damagedRecords).toBe(1);
  });

  test("a leftover compaction file from a crash is removed on open", async () => {
    const dir = await tempDataDir();
    await writeFile(join(dir, `${LOG_FILE}.compact`), "half a compaction");
    const store = await testStore(dir, { clock });
    expect(await readdir(dir)).not.toContain(`${LOG_FILE}.compact`);
    expect(await contents(store)).toEqual({ a: [], b: [] });
  });
});
