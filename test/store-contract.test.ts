/**
 * The store contract, run against both implementations: the embedded log and PostgreSQL.
 * The same tables, the same public API (deposit, peek, take, remove, close), the same answers.
 */
import { describe, expect, test } from "bun:test";
import { openPostgresStore } from "../lib/postgres/message-store.ts";
import type { MailboxStore } from "../lib/store/mailbox-store.ts";
import { StoreError } from "../lib/store/message-store.ts";
import { tempDataDir, testStore } from "./helpers.ts";
import { clusterForThisFile, postgresInstalled } from "./postgres-cluster.ts";
import { contents, NOW, STORE_TABLE } from "./store-table.ts";

interface Caps {
  clock: () => number;
  mailboxMaxMessages?: number;
  maxStoreBytes?: number;
  maxMessages?: number;
}

/** A place a store lives (a data dir, a database) and how to open a store on it, again after closing. */
type Place = { open(caps: Caps): Promise<MailboxStore> };

const cluster = clusterForThisFile();
const installed = postgresInstalled();

const implementations: { name: string; skip: boolean; place(): Promise<Place> }[] = [
  {
    name: "embedded log",
    skip: false,
    async place() {
      const dir = await tempDataDir();
      return { open: (caps) => testStore(dir, { mailboxMaxMessages: 256, maxStoreBytes: 1 << 30, ...caps }) };
    },
  },
  {
    name: "PostgreSQL",
    skip: !installed,
    async place() {
      const url = await cluster().database();
      return {
        open: (caps) => openPostgresStore({
          url,
          poolSize: 4,
          operationTimeoutMs: 5000,
          mailboxMaxMessages: 256,
          maxStoreBytes: 1 << 30,
          maxMessages: 1_000_000,
          sweepIntervalSeconds: 0,
          log: () => {},
          ...caps,
        }),
      };
    },
  },
];

const refusal = (promise: Promise<unknown>) => promise.then(() => "ok", (error) => error instanceof StoreError ? error.kind : String(error));

for (const implementation of implementations) {
  describe.skipIf(implementation.skip)(`store contract on the ${implementation.name}`, () => {
    for (const row of STORE_TABLE) {
      test(`saved → reopened → state: ${row.name}`, async () => {
        const place = await implementation.place();
        let store = await place.open({ clock: () => NOW });
        const ids = new Map<string, string>();
        for (const step of row.steps) await step(store, ids);
        expect(await contents(store)).toEqual(row.state);
        await store.close();
        store = await place.open({ clock: () => NOW });
        expect(await contents(store)).toEqual(row.state);
        const { messages } = await store.peek("a");
        expect(messages.every((m) => ids.get(m.payload) === m.depositId && m.expiresAt === NOW + 600)).toBe(true);
        await store.close();
      });
    }

    test("the mailbox cap is exact when 60 deposits race for 10 places", async () => {
      const store = await (await implementation.place()).open({ clock: () => NOW, mailboxMaxMessages: 10 });
      const outcomes = await Promise.all(Array.from({ length: 60 }, (_, i) => refusal(store.deposit("a", `m${i}`, NOW + 600))));
      expect(outcomes.filter((o) => o === "ok").length).toBe(10);
      expect(outcomes.filter((o) => o === "mailbox_full").length).toBe(50);
      expect((await store.peek("a")).messages.length).toBe(10);
      expect(await refusal(store.deposit("b", "other mailbox", NOW + 600))).toBe("ok");
      await store.close();
    });

    test("expired messages leave room in a full mailbox and are never returned by peek, take or remove", async () => {
      let now = NOW;
      const store = await (await implementation.place()).open({ clock: () => now, mailboxMaxMessages: 2 });
      const short = await store.deposit("a", "short", NOW + 10);
      await store.deposit("a", "long", NOW + 100);
      expect(await refusal(store.deposit("a", "third", NOW + 100))).toBe("mailbox_full");
      now = NOW + 10;
      expect(await store.remove("a", [short])).toBe(0);
      expect(await refusal(store.deposit("a", "third", NOW + 100))).toBe("ok");
      expect((await store.peek("a")).messages.map((m) => m.payload)).toEqual(["long", "third"]);
      expect((await store.take("a")).map((m) => m.payload)).toEqual(["long", "third"]);
      await store.close();
    });

    test("a full store refuses with store_full, and takes deposits again once expired messages are swept", async () => {
      let now = NOW;
      const kib = "x".repeat(1024);
      const store = await (await implementation.place()).open({ clock: () => now, maxStoreBytes: 1 << 20 });
      const outcomes: string[] = [];
      for (let chunk = 0; chunk < 11; chunk++) {
        outcomes.push(...await Promise.all(Array.from({ length: 100 }, (_, i) => refusal(store.deposit(`m${i % 50}`, kib, NOW + 10)))));
      }
      expect(outcomes.slice(0, 900).every((o) => o === "ok")).toBe(true);
      expect(outcomes.at(-1)).toBe("store_full");
      now = NOW + 11;
      expect(await refusal(store.deposit("a", kib, NOW + 600))).toBe("ok");
      await store.close();
    });

    test("a store holding its message cap refuses with store_full, to a new mailbox as to a known one; a removal and an expiry make room", async () => {
      let now = NOW;
      const store = await (await implementation.place()).open({ clock: () => now, maxMessages: 3 });
      const first = await store.deposit("a", "1", NOW + 600);
      await store.deposit("b", "2", NOW + 600);
      await store.deposit("c", "3", NOW + 10);
      expect([await refusal(store.deposit("d", "4", NOW + 600)), await refusal(store.deposit("a", "4", NOW + 600))]).toEqual(["store_full", "store_full"]);
      expect(await store.remove("a", [first])).toBe(1);
      expect(await refusal(store.deposit("d", "4", NOW + 600))).toBe("ok");
      expect(await refusal(store.deposit("e", "5", NOW + 600))).toBe("store_full");
      now = NOW + 10;
      expect(await refusal(store.deposit("e", "5", NOW + 600))).toBe("ok");
      await store.close();
    });

    test("peek: a limit, a byte budget (one message always fits) and whether more wait", async () => {
      const store = await (await implementation.place()).open({ clock: () => NOW });
      for (let i = 0; i < 5; i++) await store.deposit("a", `${i}`.repeat(100), NOW + 600);
      const first = await store.peek("a", 2);
      expect([first.messages.map((m) => m.payload[0]), first.more]).toEqual([["0", "1"], true]);
      const all = await store.peek("a", 5);
      expect([all.messages.length, all.more]).toEqual([5, false]);
      const oneFits = await store.peek("a", 10, 1);
      expect([oneFits.messages.length, oneFits.more]).toEqual([1, true]);
      await store.close();
    });

    test("remove: repeated, unknown and malformed ids are ignored; the count is of messages that went", async () => {
      const store = await (await implementation.place()).open({ clock: () => NOW });
      const ids = await Promise.all(["1", "2", "3"].map((p) => store.deposit("a", p, NOW + 600)));
      expect(await store.remove("a", [ids[0], ids[0], crypto.randomUUID(), "not-an-id", ids[2]])).toBe(2);
      expect(await store.remove("a", [ids[0]])).toBe(0);
      expect(await store.remove("b", [ids[1]])).toBe(0);
      expect((await store.take("a")).map((m) => m.depositId)).toEqual([ids[1]]);
      await store.close();
    });

    test("concurrent takes of one mailbox hand out every message exactly once", async () => {
      const store = await (await implementation.place()).open({ clock: () => NOW, mailboxMaxMessages: 1000 });
      const ids = await Promise.all(Array.from({ length: 500 }, (_, i) => store.deposit("a", `m${i}`, NOW + 600)));
      const takes = await Promise.all(Array.from({ length: 8 }, () => store.take("a")));
      const taken = takes.flat().map((m) => m.depositId);
      expect(taken.length).toBe(500);
      expect(new Set(taken)).toEqual(new Set(ids));
      await store.close();
    });
  });
}
