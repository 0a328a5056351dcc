/**
 * The store alone, no HTTP: durable deposits per second with one writer (one fsync per record) and with
 * 16 and 64 concurrent writers (group commit), then the same without fsync. `bun scripts/bench-store.ts [seconds]`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openMessageStore } from "../lib/store/open-store.ts";

const seconds = Number(process.argv[2] ?? 2);
const payload = JSON.stringify({ msg_type: "intercom", payload: { ciphertext: "x".repeat(960) } }); // ~1 KiB
const rows: Record<string, string | number>[] = [];

for (const durable of [true, false]) {
  for (const writers of [1, 16, 64]) {
    const dir = await mkdtemp(join(tmpdir(), "rendezvous-bench-store-"));
    const store = await openMessageStore(dir, {
      maxStoreBytes: 2 ** 40, maxMessages: 1e9, mailboxMaxMessages: 1e9, durable, sweepIntervalSeconds: 0, clock: () => Math.floor(Date.now() / 1000), log: () => {},
    });
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    const began = performance.now();
    let deposits = 0;
    await Promise.all(Array.from({ length: writers }, async () => {
      while (performance.now() - began < seconds * 1000) await store.deposit(`mailbox-${deposits++ % 1000}`, payload, expiresAt);
    }));
    const elapsed = (performance.now() - began) / 1000;
    const { commits, commitMilliseconds } = store.stats();
    rows.push({
      fsync: durable ? "per commit" : "off (unsafe)",
      writers,
      "deposits/s": Math.round(deposits / elapsed),
      "records/commit": (deposits / commits).toFixed(1),
      "ms/commit": (commitMilliseconds / commits).toFixed(2),
    });
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
console.table(rows);
