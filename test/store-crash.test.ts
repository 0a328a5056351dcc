/** Crashes: a store frozen at every step of a write and of a compaction, a relay killed with SIGKILL, and power cuts. */
import { describe, expect, test } from "bun:test";
import { constants, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { LOG_FILE } from "../lib/store/message-store.ts";
import type { MessageStore } from "../lib/store/message-store.ts";
import { intercom, json, keys, proofBody, tempDataDir, testStore } from "./helpers.ts";
import { RELAY_COMMANDS, startRelayProcess } from "./processes.ts";

const NOW = 1_767_225_600;
const clock = () => NOW;
/** Freezes the step for good; the resolvers stay referenced so the frozen store's files are not collected. */
const frozen: (() => void)[] = [];
const never = () => new Promise<void>((resolve) => frozen.push(resolve));

/**
 * A store holding `count` acknowledged deposits over m0..m3. `freezeAt(step)` makes that step of a
 * later write or compaction hang for good (the crash) and resolves once it is reached.
 */
async function storeToCrash(count: number) {
  const dir = await tempDataDir();
  let crashAt = "";
  let reached = () => {};
  const onStep = (at: string) => {
    if (at !== crashAt) return;
    reached();
    return never();
  };
  const store = await testStore(dir, { clock, onStep });
  const acknowledged = new Set<string>();
  for (let i = 0; i < count; i++) acknowledged.add(await store.deposit(`m${i % 4}`, `p${i}`, NOW + 600));
  const freezeAt = (step: string) => {
    crashAt = step;
    return new Promise<void>((resolve) => (reached = resolve));
  };
  return { dir, store, acknowledged, freezeAt };
}

/** Every message id in mailboxes m0..m3. */
async function allIds(store: MessageStore): Promise<string[]> {
  const ids: string[] = [];
  for (let m = 0; m < 4; m++) ids.push(...(await store.peek(`m${m}`)).messages.map((message) => message.depositId));
  return ids;
}

/** Acknowledged ⊆ found ⊆ attempted, each at most once, nothing delivered comes back. */
function expectConsistent(found: string[], acknowledged: Set<string>, removed: Set<string>) {
  expect(new Set(found).size).toBe(found.length);
  for (const id of acknowledged) if (!removed.has(id)) expect(found).toContain(id);
  for (const id of removed) expect(found).not.toContain(id);
}

const writeSteps = ["append:writing", "append:written"];
const compactionSteps = ["compact:snapshot-copied", "compact:copied", "compact:synced", "compact:tail-synced", "compact:renamed", "compact:dir-synced"];

describe("a crash at each step of a write", () => {
  for (const step of writeSteps) {
    test(`frozen at ${step}: acknowledged deposits survive, the frozen one at most once`, async () => {
      const { dir, store, acknowledged, freezeAt } = await storeToCrash(20);
      const frozen = freezeAt(step);
      void store.deposit("m0", "in flight", NOW + 600);
      await frozen;
      const reopened = await testStore(dir, { clock });
      const found = await allIds(reopened);
      expectConsistent(found, acknowledged, new Set());
      expect(found.length - acknowledged.size).toBeLessThanOrEqual(1);
    });
  }
});

describe("a crash at each step of a compaction", () => {
  for (const step of compactionSteps) {
    test(`frozen at ${step}: reopening loses and duplicates nothing`, async () => {
      const { dir, store, acknowledged, freezeAt } = await storeToCrash(200);
      const removed = new Set([...acknowledged].filter((_, i) => i % 3 === 0));
      for (let m = 0; m < 4; m++) await store.remove(`m${m}`, [...removed]);
      const frozen = freezeAt(step);
      void store.compact();
      await frozen;
      // Before the exclusive phase, deposits still go through and must survive too.
      if (step === "compact:snapshot-copied" || step === "compact:copied" || step === "compact:synced") {
        for (let i = 0; i < 10; i++) acknowledged.add(await store.deposit(`m${i % 4}`, `late${i}`, NOW + 600));
      }
      for (let round = 0; round < 2; round++) {
        const reopened = await testStore(dir, { clock });
        expectConsistent(await allIds(reopened), acknowledged, removed);
        expect((await allIds(reopened)).length).toBe(acknowledged.size - removed.size);
        await reopened.close();
      }
    });
  }
});

describe("a relay killed with SIGKILL while deposits are in flight", () => {
  const start = (dataDir: string) => startRelayProcess([...RELAY_COMMANDS.bun, "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir,
    "--keyless", "--deposit-rate-limit", "0", "--read-rate-limit", "0", "--mailbox-max-messages", "100000"]);

  test("every acknowledged message is there exactly once after a restart", async () => {
    const dataDir = await tempDataDir();
    const relay = await start(dataDir);
    const acknowledged = new Set<string>();
    let stop = false;
    const worker = async (n: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const response = await fetch(`${relay.url}/deposit`, {
            method: "POST",
            body: JSON.stringify({ payload: intercom({ n, i }), target_pubkey: keys.bob.public_spki_pem }),
          });
          if (response.status === 200) acknowledged.add((await json(response)).deposit_id);
        } catch {
          return; // the relay is gone
        }
      }
    };
    const workers = Array.from({ length: 16 }, (_, n) => worker(n));
    while (acknowledged.size < 300) await Bun.sleep(10);
    relay.child.kill("SIGKILL");
    stop = true;
    await Promise.all(workers);
    await relay.child.exited;

    const restarted = await start(dataDir);
    const now = Math.floor(Date.now() / 1000);
    const collected = await json(await fetch(`${restarted.url}/collect`, {
      method: "POST",
      body: JSON.stringify({ ...await proofBody("bob", now, { relayPem: "" }), limit: 100_000 }),
    }));
    const found: string[] = collected.messages.map((m: { deposit_id: string }) => m.deposit_id);
    expect(new Set(found).size).toBe(found.length);
    for (const id of acknowledged) expect(found).toContain(id);
    expect(collected.more).toBe(false);
  }, 60_000);
});

/** The open flags of each descriptor this process holds on `path` (Linux's /proc). */
function openFlagsOf(path: string): number[] {
  return readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== path) return [];
      return [parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))![1], 8)];
    } catch {
      return []; // closed meanwhile
    }
  });
}

describe("a power cut", () => {
  // A write is answered once the log's write resolves: the log must be synced by that write itself.
  test("the log is written with O_DSYNC, before and after a compaction swaps a new file in", async () => {
    const dir = await tempDataDir();
    const store = await testStore(dir, { clock });
    const ids = [];
    for (let i = 0; i < 40; i++) ids.push(await store.deposit("m0", `p${i}`, NOW + 600));
    const logPath = join(dir, LOG_FILE);
    const dsync = () => openFlagsOf(logPath).map((flags) => (flags & constants.O_DSYNC) !== 0);
    expect(dsync()).toEqual([true]);
    await store.remove("m0", ids.slice(0, 30));
    await store.compact();
    expect(dsync()).toEqual([true]);
    await store.deposit("m0", "after", NOW + 600);
    await store.close();
    expect((await (await testStore(dir, { clock })).peek("m0")).messages.map((message) => message.payload)).toEqual([...ids.slice(30).map((_, i) => `p${30 + i}`), "after"]);
  });
});
