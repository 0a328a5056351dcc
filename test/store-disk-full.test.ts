/** A full disk: the deposit fails with store_full, nothing stored is lost, and the store recovers by itself. */
import { describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StoreError } from "../lib/store/message-store.ts";
import { tempDataDir, testStore } from "./helpers.ts";

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
    failing = false;
    await store.deposit("a", "after", NOW + 600);
    expect(await payloadsOf(store)).toEqual(["before", "after"]);
    await store.close();
    const reopened = await testStore(dir, { clock });
    expect(await payloadsOf(reopened)).toEqual(["before", "after"]);
    expect(reopened.stats().damagedRecords).toBe(0);
  });

  test("any other write error → StoreError io", async () => {
    const store = await testStore(await tempDataDir(), {
      clock,
      onStep: () => {
        throw Object.assign(new Error("i/o"), { code: "EIO" });
      },
    });
    expect((await store.deposit("a", "x", NOW + 600).catch((error) => error)).kind).toBe("io");
  });
});

/** Mounts a 1 MiB tmpfs, when this machine lets us (root with mount rights). */
async function smallTmpfs(): Promise<string | null> {
  const dir = join(await tempDataDir(), "tmpfs");
  await mkdir(dir);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir], { stdio: "ignore" });
    return dir;
  } catch {
    return null;
  }
}

const tmpfs = await smallTmpfs();

describe("a real full disk (1 MiB tmpfs)", () => {
  test.skipIf(!tmpfs)("deposits until the disk is full → store_full; space returns → deposits resume; nothing lost", async () => {
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
});
