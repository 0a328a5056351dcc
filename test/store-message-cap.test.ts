/** The message cap (--max-messages) bounds the index's memory whatever the mailboxes; the index holds many mailboxes exactly. */
import { describe, expect, test } from "bun:test";
import { StoreError, type MessageStore } from "../lib/store/message-store.ts";
import { intercom, json, keys, tempDataDir, testRelay, testStore } from "./helpers.ts";

const NOW = 1_767_225_600;
const clock = () => NOW;
/** A mailbox id as the relay makes them: 64 hex digits. */
const mailboxId = (i: number) => new Bun.CryptoHasher("sha256").update(`mailbox-${i}`).digest("hex");

const refusal = (store: MessageStore, mailbox: string, expiresAt = NOW + 600) =>
  store.deposit(mailbox, "x", expiresAt).then(() => "stored", (error) => error instanceof StoreError ? error.kind : String(error));

describe("a store holding its message cap", () => {
  test("refuses the next deposit with store_full, to a new mailbox as to a known one; a delivery makes room", async () => {
    const store = await testStore(await tempDataDir(), { clock, maxMessages: 3 });
    const first = await store.deposit(mailboxId(0), "x", NOW + 600);
    for (const i of [1, 2]) await store.deposit(mailboxId(i), "x", NOW + 600);
    expect(await refusal(store, mailboxId(3))).toBe("store_full");
    expect(await refusal(store, mailboxId(0))).toBe("store_full");
    await store.remove(mailboxId(0), [first]);
    expect(await refusal(store, mailboxId(3))).toBe("stored");
    expect(store.stats().messages).toBe(3);
  });

  test("concurrent deposits to many mailboxes never overshoot it", async () => {
    const store = await testStore(await tempDataDir(), { clock, maxMessages: 4 });
    const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => refusal(store, mailboxId(i))));
    expect(outcomes.filter((outcome) => outcome === "stored").length).toBe(4);
    expect(outcomes.filter((outcome) => outcome === "store_full").length).toBe(6);
    expect(store.stats().messages).toBe(4);
  });

  test("makes room by dropping expired messages, without waiting for a sweep", async () => {
    let now = NOW;
    const store = await testStore(await tempDataDir(), { clock: () => now, maxMessages: 2 });
    for (const i of [0, 1]) await store.deposit(mailboxId(i), "x", NOW + 60);
    expect(await refusal(store, mailboxId(2))).toBe("store_full");
    now = NOW + 61;
    expect(await refusal(store, mailboxId(2))).toBe("stored");
  });

  test("over HTTP → 507 store_full", async () => {
    const relay = await testRelay({ now: NOW, config: { maxMessages: 2 } });
    const deposit = (key: "alice" | "bob") => relay.request("/deposit", { payload: intercom(), target_pubkey: keys[key].public_spki_pem });
    expect((await deposit("bob")).status).toBe(200);
    expect((await deposit("alice")).status).toBe(200);
    const full = await deposit("bob");
    expect([full.status, (await json(full)).reason]).toEqual([507, "store_full"]);
  });
});

describe("an index of many one-message mailboxes", () => {
  test("150k mailboxes (past the first hash-table doubling), half emptied and their numbers reused by new ones: every mailbox exact, after compaction and reopening", async () => {
    const dir = await tempDataDir();
    let store = await testStore(dir, { clock, durable: false });
    const count = 150_000;
    const ids = await Promise.all(Array.from({ length: count }, (_, i) => store.deposit(mailboxId(i), `p${i}`, NOW + 600)));
    await Promise.all(ids.map((id, i) => i % 2 ? 0 : store.remove(mailboxId(i), [id])));
    await Promise.all(Array.from({ length: 20_000 }, (_, i) => store.deposit(mailboxId(count + i), `new${i}`, NOW + 600)));
    await store.deposit("not a hex id", "named", NOW + 600);
    const expected = (i: number) => i >= count + 20_000 ? [] : i >= count ? [`new${i - count}`] : i % 2 ? [`p${i}`] : [];
    const sample = [0, 1, 2, 3, 65_535, 65_536, 65_537, 131_071, 131_072, 131_073, count - 1, count, count + 19_999, count + 20_000];
    const check = async () => {
      for (const i of sample) expect((await store.peek(mailboxId(i))).messages.map((m) => m.payload)).toEqual(expected(i));
      expect((await store.peek("not a hex id")).messages.map((m) => m.payload)).toEqual(["named"]);
      expect(store.stats().messages).toBe(count / 2 + 20_001);
    };
    await check();
    await store.compact();
    await check();
    await store.close();
    store = await testStore(dir, { clock });
    await check();
    const sizes = await Promise.all(Array.from({ length: count + 20_000 }, async (_, i) => (await store.peek(mailboxId(i))).messages.length));
    expect(sizes.every((size, i) => size === expected(i).length)).toBe(true);
  }, 120_000);
});
