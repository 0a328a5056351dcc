/** Damage to any part of a record (header or payload) is caught at start; logs of the first release still open. */
import { describe, expect, test } from "bun:test";
import { open, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { LOG_FILE } from "../lib/store/message-store.ts";
import { logRecords, tempDataDir, testStore } from "./helpers.ts";

const NOW = 1_767_225_600;
const clock = () => NOW;
const MAILBOX = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
const OTHER = "6b86b273ff34fce19c3b3f2b9e0ab8a8b3ae0dd4d6d7de0f5fa2c24b1e1ee1b2";

/** `text` with its hex digit at `at` changed to another one. */
const flipDigit = (text: string, at: number) => `${text.slice(0, at)}${text[at] === "0" ? "1" : "0"}${text.slice(at + 1)}`;

/** The copies of the log kept aside in `dir`. */
const keptAside = async (dir: string) => (await readdir(dir)).filter((name) => name.startsWith(`${LOG_FILE}.damaged-`));

/** The log's lines, the one at `at` changed by `damage`, written back. */
async function damageLine(dir: string, at: number, damage: (line: string) => string): Promise<string> {
  const path = join(dir, LOG_FILE);
  const lines = (await readFile(path, "utf8")).split("\n");
  const changed = damage(lines[at]);
  expect(changed).not.toBe(lines[at]);
  lines[at] = changed;
  await writeFile(path, lines.join("\n"));
  return lines.join("\n");
}

/** A field's value in a record line, found by its JSON key. */
const fieldOf = (line: string, key: string) => line.match(new RegExp(`"${key}":"?([^",]*)`))![1];
const flipField = (key: string, at: number) => (line: string) =>
  line.replace(`"${key}":${key === "exp" ? "" : '"'}${fieldOf(line, key)}`, (field) => flipDigit(field, field.length - fieldOf(line, key).length + at));

describe("one changed digit in a record", () => {
  const rows = [
    { part: "the mailbox id of a put", line: 1, damage: flipField("mb", 10) },
    { part: "the expiry of a put", line: 1, damage: flipField("exp", 1) },
    { part: "the message id of a put", line: 1, damage: flipField("id", 3) },
    { part: "the payload of a put", line: 1, damage: flipField("p", 5) },
    { part: "the CRC of a put", line: 1, damage: flipField("crc", 0) },
    { part: "the message id of a del", line: 3, damage: flipField("id", 3) },
  ];
  for (const row of rows) {
    test(`${row.part} → counted in damaged_records, the log copied aside, every other message served`, async () => {
      const dir = await tempDataDir();
      const store = await testStore(dir, { clock });
      for (const payload of ["0123abcd", "4567abcd", "89ababcd"]) await store.deposit(MAILBOX, payload, NOW + 600);
      await store.remove(MAILBOX, [(await store.peek(MAILBOX)).messages[2].depositId]);
      await store.deposit(OTHER, "cdef0123", NOW + 600);
      await store.close();
      const damaged = await damageLine(dir, row.line, row.damage);
      const events: string[] = [];
      const reopened = await testStore(dir, { clock, log: (event) => events.push(event) });
      expect(reopened.stats().damagedRecords).toBe(1);
      expect(events).toContain("store_damaged_records");
      const aside = await keptAside(dir);
      expect(aside.length).toBe(1);
      expect(await readFile(join(dir, aside[0]), "utf8")).toBe(damaged);
      const served = (await reopened.peek(MAILBOX)).messages.map((m) => m.payload);
      // A damaged put is skipped; a damaged del is skipped too, so its message is served again (never lost).
      expect(served).toEqual(row.line === 1 ? ["0123abcd"] : ["0123abcd", "4567abcd", "89ababcd"]);
      expect((await reopened.peek(OTHER)).messages.map((m) => m.payload)).toEqual(["cdef0123"]);
    });
  }
});

/** A put line as the first release wrote it: `crc` is the CRC-32 of the payload's JSON text only. */
function legacyPut(id: string, mb: string, exp: number, payload: string): string {
  const payloadJson = JSON.stringify(payload);
  return `${JSON.stringify({ k: "put", id, mb, exp }).slice(0, -1)},"crc":${crc32(payloadJson)},"p":${payloadJson}}\n`;
}
const legacyDel = (id: string, mb: string) => `${JSON.stringify({ k: "del", id, mb })}\n`;

describe("a log written by the first release (payload-only CRC, no version marker)", () => {
  const ids = Array.from({ length: 4 }, () => crypto.randomUUID());
  const legacyLog = () => [
    legacyPut(ids[0], MAILBOX, NOW + 600, "first"),
    legacyPut(ids[1], OTHER, NOW + 600, 'line\n"two" ü 🐝'),
    legacyPut(ids[2], MAILBOX, NOW + 600, "delivered"),
    legacyPut(ids[3], MAILBOX, NOW + 600, "third"),
    legacyDel(ids[2], MAILBOX),
  ].join("");

  test("opens with every message, which stay through new deposits, removals, compaction and reopening", async () => {
    const dir = await tempDataDir();
    await writeFile(join(dir, LOG_FILE), legacyLog());
    let store = await testStore(dir, { clock });
    expect(store.stats().damagedRecords).toBe(0);
    const payloads = async (mailbox: string) => (await store.peek(mailbox)).messages.map((m) => m.payload);
    expect((await store.peek(MAILBOX)).messages.map((m) => m.depositId)).toEqual([ids[0], ids[3]]);
    expect(await payloads(OTHER)).toEqual(['line\n"two" ü 🐝']);
    await store.deposit(MAILBOX, "new", NOW + 600);
    await store.remove(MAILBOX, [ids[0]]);
    for (let round = 0; round < 2; round++) {
      await store.close();
      store = await testStore(dir, { clock });
      expect(store.stats().damagedRecords).toBe(0);
      expect(await payloads(MAILBOX)).toEqual(["third", "new"]);
      expect(await payloads(OTHER)).toEqual(['line\n"two" ü 🐝']);
      await store.compact();
    }
  });

  test("a changed payload in an old record still fails its CRC", async () => {
    const dir = await tempDataDir();
    await writeFile(join(dir, LOG_FILE), legacyLog().replace('"p":"first"', '"p":"fir5t"'));
    const store = await testStore(dir, { clock });
    expect(store.stats().damagedRecords).toBe(1);
    expect((await store.peek(MAILBOX)).messages.map((m) => m.payload)).toEqual(["third"]);
  });
});

/** Writes `byte` over the log's byte at `at`, in place, as a disk's rot would. */
async function overwriteInPlace(dir: string, at: number, byte: string): Promise<void> {
  const file = await open(join(dir, LOG_FILE), "r+");
  await file.write(Buffer.from(byte), 0, 1, at);
  await file.close();
}

/** Changes the first digit of the first occurrence of `text` in the log, in place. */
async function rotInPlace(dir: string, text: string): Promise<void> {
  const at = (await readFile(join(dir, LOG_FILE), "latin1")).indexOf(text);
  expect(at).toBeGreaterThanOrEqual(0);
  await overwriteInPlace(dir, at, flipDigit(text, 0)[0]);
}


describe("damage that start-up did not scan: a checkpoint covered it, or it came after", () => {
  /** A store holding three messages for MAILBOX (the second to rot) and one for OTHER, with `filler` more messages after them. */
  async function filled(dir: string, filler: number, onStep?: (step: string) => Promise<void> | void) {
    const events: string[] = [];
    const store = await testStore(dir, { clock, log: (event) => events.push(event), onStep });
    for (const payload of ["0123abcd", "4567abcd", "89ababcd"]) await store.deposit(MAILBOX, payload, NOW + 600);
    await store.deposit(OTHER, "cdef0123", NOW + 600);
    for (let i = 0; i < filler; i++) await store.deposit(OTHER, `${i}`.padStart(1000, "f"), NOW + 600);
    return { store, events };
  }

  test("after start-up: the record is dropped where it is read, the rest of its mailbox served; the next start keeps the log aside and compacts the damage away", async () => {
    const dir = await tempDataDir();
    const { store, events } = await filled(dir, 0);
    await rotInPlace(dir, "4567abcd");
    expect((await store.peek(MAILBOX)).messages.map((m) => m.payload)).toEqual(["0123abcd", "89ababcd"]);
    expect([store.stats().damagedRecords, events.filter((event) => event === "store_damaged_records").length]).toEqual([1, 1]);
    expect((await store.take(MAILBOX)).map((m) => m.payload)).toEqual(["0123abcd", "89ababcd"]);
    expect(store.stats().damagedRecords).toBe(1);
    await store.close();
    expect(await readdir(dir)).not.toContain(`${LOG_FILE}.checkpoint`);

    const reopened = await testStore(dir, { clock });
    expect(reopened.stats().damagedRecords).toBe(1);
    expect((await keptAside(dir)).length).toBe(1);
    expect((await reopened.peek(MAILBOX)).messages).toEqual([]);
    expect((await reopened.peek(OTHER)).messages.map((m) => m.payload)).toEqual(["cdef0123"]);
  });

  test("a record's first byte: a compaction meets it, keeps the log aside, and compacts without it; every other message stays", async () => {
    const dir = await tempDataDir();
    const { store, events } = await filled(dir, 0);
    const second = (await readFile(join(dir, LOG_FILE), "latin1")).indexOf("\n") + 1; // where the second record ("4567abcd") starts
    await overwriteInPlace(dir, second, "x");
    await store.compact();
    expect([store.stats().damagedRecords, store.stats().compactions, events.includes("store_damage_kept_aside")]).toEqual([1, 1, true]);
    expect((await keptAside(dir)).length).toBe(1);
    expect((await store.peek(MAILBOX)).messages.map((m) => m.payload)).toEqual(["0123abcd", "89ababcd"]);
    await store.close();
    const reopened = await testStore(dir, { clock });
    expect(reopened.stats().damagedRecords).toBe(0);
    expect((await reopened.peek(MAILBOX)).messages.map((m) => m.payload)).toEqual(["0123abcd", "89ababcd"]);
    expect((await reopened.peek(OTHER)).messages.map((m) => m.payload)).toEqual(["cdef0123"]);
  });

  /** A store of MAILBOX's three messages and OTHER's one, whose `onStep` at `step` reads MAILBOX once (after the second one has rotted). */
  async function readingAt(dir: string, step: string) {
    let read: Promise<void> | undefined;
    const { store } = await filled(dir, 0, (at) => {
      if (at === step && !read) read = store.peek(MAILBOX).then(() => {});
      return read;
    });
    await rotInPlace(dir, "4567abcd");
    return store;
  }

  test("found by a read while a compaction copies: the compaction keeps the log aside before it swaps, so the damage is never dropped uncopied", async () => {
    const dir = await tempDataDir();
    const store = await readingAt(dir, "compact:copied");
    const before = await logRecords(join(dir, LOG_FILE));
    await store.compact();
    const aside = await keptAside(dir);
    expect(aside.length).toBe(1);
    expect(await logRecords(join(dir, aside[0]))).toEqual(before);
    expect([store.stats().damagedRecords, store.stats().compactions]).toEqual([1, 1]);
    expect((await store.peek(MAILBOX)).messages.map((m) => m.payload)).toEqual(["0123abcd", "89ababcd"]);
  });

  test("found by a read while a checkpoint is written: that checkpoint is removed, so the next start scans the log and finds it", async () => {
    const dir = await tempDataDir();
    const store = await readingAt(dir, "checkpoint:written");
    await store.close();
    expect(await readdir(dir)).not.toContain(`${LOG_FILE}.checkpoint`);
    const reopened = await testStore(dir, { clock });
    expect(reopened.stats().damagedRecords).toBe(1);
    expect((await keptAside(dir)).length).toBe(1);
    expect((await reopened.peek(MAILBOX)).messages.map((m) => m.payload)).toEqual(["0123abcd", "89ababcd"]);
  });

  test("under a checkpoint (more than its 64 KiB check after it): start-up trusts the checkpoint, the record is dropped when read, and the checkpoint goes so that the next start finds it", async () => {
    const dir = await tempDataDir();
    const { store } = await filled(dir, 80);
    await store.close();
    expect(await readdir(dir)).toContain(`${LOG_FILE}.checkpoint`);
    await rotInPlace(dir, "4567abcd");

    const events: string[] = [];
    const reopened = await testStore(dir, { clock, log: (event) => events.push(event) });
    expect(reopened.stats().damagedRecords).toBe(0); // the checkpoint spared start-up its scan
    expect((await reopened.peek(MAILBOX)).messages.map((m) => m.payload)).toEqual(["0123abcd", "89ababcd"]);
    expect([reopened.stats().damagedRecords, events.includes("store_damaged_records")]).toEqual([1, true]);
    await reopened.close();
    expect(await readdir(dir)).not.toContain(`${LOG_FILE}.checkpoint`);

    const again = await testStore(dir, { clock }); // a full scan: it finds the damage, keeps the log aside, compacts
    expect(again.stats().damagedRecords).toBe(1);
    expect((await keptAside(dir)).length).toBe(1);
    expect((await again.peek(MAILBOX)).messages.map((m) => m.payload)).toEqual(["0123abcd", "89ababcd"]);
    expect((await again.peek(OTHER)).messages.length).toBe(81);
  });
});
