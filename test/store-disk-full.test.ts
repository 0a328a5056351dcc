/** A full disk: the deposit fails with store_full, nothing stored is lost, and the store recovers by itself. */
import { describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdir, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LOG_FILE, StoreError } from "../lib/store/message-store.ts";
import { openMessageStore, StoreOpenError } from "../lib/store/open-store.ts";
import { deletedLogsHeld, intercom, keys, logRecords, tempDataDir, testStore } from "./helpers.ts";
import { RELAY_COMMANDS, runProcess, startRelayProcess } from "./processes.ts";

const NOW = 1_767_225_600;
const clock = () => NOW;

async function payloadsOf(store: Awaited<ReturnType<typeof testStore>>) {
  return (await store.peek("a")).messages.map((m) => m.payload);
}

describe("a write that fails with ENOSPC", () => {
  test("→ StoreError store_full; the half-written batch is cut; the next deposit succeeds", async () => {
    const dir = await tempDataDir();
    let failing = false;
    const store = await testStore(dir, {
      clock,
      onStep: (step) => {
        if (failing && step === "append:written") throw Object.assign(new Error("no space"), { code: "ENOSPC" });
      },
    });
    await store.deposit("a", "before", NOW + 600);
    failing = true;
    const refused = await store.deposit("a", "refused", NOW + 600).catch((error) => error);
    expect(refused).toBeInstanceOf(StoreError);
    expect(refused.kind).toBe("store_full");
    expect(store.stats().failingWrites).toBe("full");
    failing = false;
    await store.deposit("a", "after", NOW + 600);
    expect(store.stats().failingWrites).toBe(null);
    expect(await payloadsOf(store)).toEqual(["before", "after"]);
    await store.close();
    const reopened = await testStore(dir, { clock });
    expect(await payloadsOf(reopened)).toEqual(["before", "after"]);
    expect(reopened.stats().damagedRecords).toBe(0);
  });

  test("a full disk refusing every deposit logs store_write_failed once a minute, with how many were left out", async () => {
    let now = NOW;
    const failures: Record<string, unknown>[] = [];
    const store = await testStore(await tempDataDir(), {
      clock: () => now,
      log: (event, fields) => event === "store_write_failed" && failures.push(fields),
      onStep: (step) => {
        if (step === "append:written") throw Object.assign(new Error("no space"), { code: "ENOSPC" });
      },
    });
    const deposit = () => store.deposit("a", "refused", now + 600).catch((error) => error.kind);
    for (let i = 0; i < 50; i++) expect(await deposit()).toBe("store_full");
    expect(failures.length).toBe(1);
    now += 61;
    expect(await deposit()).toBe("store_full");
    expect(failures).toEqual([{ error: "Error: no space" }, { error: "Error: no space", suppressed: 49 }]);
    expect(store.stats()).toMatchObject({ writeFailures: { full: 51, io: 0 }, failingWrites: "full" });
  });

  test("the directory's fsync after a compaction's rename fails → the old file is kept, and the next commit syncs the directory first, failing (io) until it can, then frees it", async () => {
    const steps: string[] = [];
    const events: string[] = [];
    let directoryFails = true;
    const dir = await tempDataDir();
    const store = await testStore(dir, {
      clock,
      log: (event) => events.push(event),
      onStep: (step) => {
        if (step === "compact:dir-synced" || step === "append:directory-syncing") steps.push(step);
        if (directoryFails && (step === "compact:dir-synced" || step === "append:directory-syncing")) throw Object.assign(new Error("i/o"), { code: "EIO" });
      },
    });
    await store.deposit("a", "before", NOW + 600);
    await store.compact();
    expect([events.includes("store_release_failed"), await deletedLogsHeld(dir)]).toEqual([true, 1]); // the old file is kept
    expect((await store.deposit("a", "refused", NOW + 600).catch((error) => error)).kind).toBe("io");
    directoryFails = false;
    await store.deposit("a", "after", NOW + 600); // syncs the directory, then frees the old file
    await store.deposit("a", "later", NOW + 600);
    for (let waited = 0; waited < 3000 && await deletedLogsHeld(dir) > 0; waited += 50) await Bun.sleep(50);
    expect(await deletedLogsHeld(dir)).toBe(0);
    // Tried again before the old file is freed (it is kept), before the refused commit, and before the next one.
    expect(steps).toEqual(["compact:dir-synced", "append:directory-syncing", "append:directory-syncing", "append:directory-syncing"]);
    expect(await payloadsOf(store)).toEqual(["before", "after", "later"]);
  });

  test("a compaction that fails (a full disk) is counted and logged, and none starts again for a while (a minute by default), however many removals come", async () => {
    const now = NOW;
    let failing = true;
    const copies: string[] = [];
    const logged: [string, Record<string, unknown>][] = [];
    const store = await testStore(await tempDataDir(), {
      clock: () => now,
      compactionRetrySeconds: 2,
      log: (event, fields) => event.startsWith("store_compact") && logged.push([event, fields]),
      onStep: (step) => {
        if (step !== "compact:copied") return;
        copies.push(failing ? "failed" : "done");
        if (failing) throw Object.assign(new Error("no space"), { code: "ENOSPC" });
      },
    });
    // 20 MiB of records, then removed one by one: from 16 MiB dead on, each removal would start a compaction.
    const payload = "x".repeat(64 << 10);
    const ids = await Promise.all(Array.from({ length: 320 }, (_, i) => store.deposit(`m${i % 10}`, payload, now + 600).then((id) => ({ mailbox: `m${i % 10}`, id }))));
    /** Waits for the compaction a removal started in the background to have failed (or succeeded). */
    const settled = async (compactions: number) => {
      while (store.stats().compactionFailures + store.stats().compactions < compactions) await Bun.sleep(10);
    };
    for (const { mailbox, id } of ids.slice(0, 300)) {
      expect(await store.remove(mailbox, [id])).toBe(1);
      const { logBytes, bytes } = store.stats();
      if (logBytes - bytes > Math.max(16 << 20, bytes)) await settled(1); // worth compacting from here on
    }
    await Bun.sleep(500); // long enough for any compaction the removals started to reach its copy
    expect(copies).toEqual(["failed"]);
    expect(store.stats()).toMatchObject({ compactions: 0, compactionFailures: 1 });
    expect(logged).toEqual([["store_compaction_failed", { error: "Error: no space" }]]);
    await Bun.sleep(2000);
    failing = false;
    expect(await store.remove(ids[300].mailbox, [ids[300].id])).toBe(1);
    await settled(2);
    expect(copies).toEqual(["failed", "done"]);
    expect(store.stats()).toMatchObject({ compactions: 1, compactionFailures: 1 });
    await store.close();
  }, 30_000);

  test("any other write error → StoreError io", async () => {
    const store = await testStore(await tempDataDir(), {
      clock,
      onStep: () => {
        throw Object.assign(new Error("i/o"), { code: "EIO" });
      },
    });
    expect((await store.deposit("a", "x", NOW + 600).catch((error) => error)).kind).toBe("io");
    expect(store.stats()).toMatchObject({ writeFailures: { full: 0, io: 1 }, failingWrites: "io" });
  });
});

/** Mounts a tmpfs of `size` (1 MiB by default), when this machine lets us (root with mount rights). */
async function smallTmpfs(size = "1m"): Promise<string | null> {
  const dir = join(await tempDataDir(), "tmpfs");
  await mkdir(dir);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "ignore" });
    return dir;
  } catch {
    return null;
  }
}

const tmpfs = await smallTmpfs();
const noTmpfs = !tmpfs;

describe("a real full disk (1 MiB tmpfs)", () => {
  test.skipIf(noTmpfs)("deposits until the disk is full → store_full; space returns → deposits resume; nothing lost", async () => {
    const dir = tmpfs!;
    try {
      await writeFile(join(dir, "filler"), new Uint8Array(400_000));
      const store = await testStore(join(dir, "store"), { clock });
      const stored: string[] = [];
      let refusal: unknown;
      for (let i = 0; i < 100 && !refusal; i++) {
        const payload = `${i}:${"x".repeat(30_000)}`;
        await store.deposit("a", payload, NOW + 600).then(() => stored.push(payload), (error) => (refusal = error));
      }
      expect(refusal).toBeInstanceOf(StoreError);
      expect((refusal as StoreError).kind).toBe("store_full");
      expect(stored.length).toBeGreaterThan(5);
      expect(await payloadsOf(store)).toEqual(stored);
      await rm(join(dir, "filler"));
      await store.deposit("a", "after", NOW + 600);
      await store.close();
      const reopened = await testStore(join(dir, "store"), { clock });
      expect(await payloadsOf(reopened)).toEqual([...stored, "after"]);
      expect(reopened.stats().damagedRecords).toBe(0);
      await reopened.close();
    } finally {
      execFileSync("umount", [dir]);
    }
  });

  test.skipIf(noTmpfs)("a relay on it: /healthz says failing_writes \"full\" and the status page warns while deposits get 507; both clear once a write succeeds", async () => {
    const dir = (await smallTmpfs("8m"))!; // room for the zeros a relay writes ahead of its log (4 MiB)
    const relay = await startRelayProcess([...RELAY_COMMANDS.bun, "--host", "127.0.0.1", "--port", "0", "--data-dir", join(dir, "data"), "--keyless", "--deposit-rate-limit", "0"]);
    try {
      const deposit = async () => (await fetch(`${relay.url}/deposit`, { method: "POST", body: JSON.stringify({ payload: intercom({ blob: "x".repeat(30_000) }), target_pubkey: keys.bob.public_spki_pem }) })).status;
      const health = async () => (await (await fetch(`${relay.url}/healthz`)).json() as { failing_writes: unknown }).failing_writes;
      const page = async () => await (await fetch(`${relay.url}/`, { headers: { Accept: "text/html" } })).text();
      expect([await deposit(), await health()]).toEqual([200, null]);
      await fillDisk(dir);
      let status = 200;
      while (status === 200) status = await deposit(); // the zeros written ahead of the log take a few more
      expect(status).toBe(507);
      expect(await health()).toBe("full");
      expect(await page()).toContain('<span class="health warn">the disk is full: deposits and acknowledgements fail</span>');
      await rm(join(dir, "filler"));
      expect([await deposit(), await health()]).toEqual([200, null]);
      expect(await page()).toContain('<span class="health ok">ok</span>');
    } finally {
      relay.child.kill("SIGTERM");
      await relay.child.exited;
      execFileSync("umount", [dir]);
    }
  }, 30_000);

  test.skipIf(noTmpfs)("copy into a data dir on it → exit 1 with the cause; no relay starts on the part copied until a copy finishes", async () => {
    const dir = (await smallTmpfs())!;
    const from = await tempDataDir();
    const source = await testStore(from);
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 60; i++) await source.deposit(`m${i % 3}`, `${i}:${"x".repeat(30_000)}`, now + 600);
    await source.close();
    try {
      const to = join(dir, "copy");
      const result = await runProcess([...RELAY_COMMANDS.bun, "copy", from, to]);
      expect(result).toEqual({
        code: 1,
        stdout: "",
        stderr: `hivemind-rendezvous copy: store: store_full: no space left for the log; the copy stopped part-way: run it again (no relay starts on ${to} until a copy into it finishes)\n`,
      });
      const serve = await runProcess([...RELAY_COMMANDS.bun, "--host", "127.0.0.1", "--port", "0", "--data-dir", to, "--keyless"]);
      expect(serve).toMatchObject({ code: 2, stderr: expect.stringContaining(`data dir ${to} holds part of a copy from ${from} that did not finish`) });
    } finally {
      execFileSync("umount", [dir]);
    }
  }, 30_000);
});

/** A store in `dir` holding "1", "2", "3" in mailbox a, with the put line of "2" damaged; resolves with the log's text. */
async function storeWithDamage(dir: string): Promise<string> {
  const store = await testStore(dir, { clock });
  for (const payload of ["1", "2", "3"]) await store.deposit("a", payload, NOW + 600);
  await store.close();
  const damaged = (await readFile(join(dir, LOG_FILE), "utf8")).replace('"p":"2"', '"p":"#"');
  await writeFile(join(dir, LOG_FILE), damaged);
  return damaged;
}

const copiesAside = async (dir: string) => (await readdir(dir)).filter((name) => name.startsWith(`${LOG_FILE}.damaged-`));

/** Fills the file system of `dir` until a write fails with ENOSPC. */
async function fillDisk(dir: string): Promise<void> {
  const filler = await open(join(dir, "filler"), "w");
  try {
    for (;;) await filler.write(new Uint8Array(4096));
  } catch (error) {
    expect((error as { code?: string }).code).toBe("ENOSPC");
  } finally {
    await filler.close();
  }
}

describe("a damaged log on a disk with no room for the copy aside", () => {
  test("ENOSPC while copying aside → the store opens, reports the damage, serves the rest, and keeps the damaged line in the log until a copy can be written", async () => {
    const dir = await tempDataDir();
    const damaged = await storeWithDamage(dir);
    let full = true;
    const events: { event: string; fields: Record<string, unknown> }[] = [];
    const store = await testStore(dir, {
      clock,
      log: (event, fields) => events.push({ event, fields }),
      onStep: (step) => {
        if (full && step === "damage:copy") throw Object.assign(new Error("no space"), { code: "ENOSPC" });
      },
    });
    expect(store.stats().damagedRecords).toBe(1);
    expect(events.find((e) => e.event === "store_damaged_records")?.fields).toMatchObject({ count: 1, kept_as: null });
    expect(await payloadsOf(store)).toEqual(["1", "3"]);
    expect(await store.compact().catch((error) => error.code)).toBe("ENOSPC"); // no copy, no compaction
    expect((await logRecords(join(dir, LOG_FILE))).toString("utf8")).toBe(damaged);
    expect(await copiesAside(dir)).toEqual([]);
    full = false;
    await store.compact();
    const aside = await copiesAside(dir);
    expect(aside.length).toBe(1);
    expect((await logRecords(join(dir, aside[0]))).toString("utf8")).toBe(damaged); // the copy of an open log has its zeros too
    expect(events.map((e) => e.event)).toContain("store_damage_kept_aside");
    const reopened = await testStore(dir, { clock });
    expect(reopened.stats().damagedRecords).toBe(0);
    expect(await payloadsOf(reopened)).toEqual(["1", "3"]);
  });

  test.skipIf(noTmpfs)("a real full disk (1 MiB tmpfs) → the store opens with the damage reported and in place, and serves the rest", async () => {
    const dir = (await smallTmpfs())!;
    try {
      const storeDir = join(dir, "store");
      const damaged = await storeWithDamage(storeDir);
      await fillDisk(dir);
      const events: string[] = [];
      const store = await testStore(storeDir, { clock, log: (event) => events.push(event) });
      expect(store.stats().damagedRecords).toBe(1);
      expect(events).toContain("store_damaged_records");
      expect(await payloadsOf(store)).toEqual(["1", "3"]);
      expect((await logRecords(join(storeDir, LOG_FILE))).toString("utf8")).toBe(damaged);
      expect(await copiesAside(storeDir)).toEqual([]);
      await store.close();
      await rm(join(dir, "filler"));
      const reopened = await testStore(storeDir, { clock });
      expect(await copiesAside(storeDir)).toHaveLength(1);
      expect(await payloadsOf(reopened)).toEqual(["1", "3"]);
      await reopened.close();
    } finally {
      execFileSync("umount", [dir]);
    }
  });
});

describe("a read-only data dir", () => {
  test.skipIf(noTmpfs)("that holds messages → StoreOpenError with one line naming the directory", async () => {
    const dir = (await smallTmpfs())!;
    try {
      const storeDir = join(dir, "store");
      const store = await testStore(storeDir, { clock });
      await store.deposit("a", "kept", NOW + 600);
      await store.close();
      execFileSync("mount", ["-o", "remount,ro", dir]);
      const error = await openMessageStore(storeDir, {
        maxStoreBytes: 1 << 20, maxMessages: 100, mailboxMaxMessages: 10, durable: true, sweepIntervalSeconds: 0, clock, log: () => {},
      }).catch((error) => error);
      expect(error).toBeInstanceOf(StoreOpenError);
      expect(error.message).toStartWith(`cannot open the message store in ${storeDir}: `);
      expect(error.message).toMatch(/EROFS|read-only/i);
      expect(error.message).not.toContain("\n");
    } finally {
      execFileSync("umount", [dir]);
    }
  });
});
