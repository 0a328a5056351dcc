/**
 * Compaction stall, the store alone (no HTTP): 16 writers deposit ~1 KiB messages (durable) while a log
 * with 1.5× more dead than live messages is compacted (and its checkpoint written); how long deposits
 * waited during it, beside the longest wait in a window of the same length and the same load without
 * compaction (1 s after it ended): their difference is what compaction added. The main thread's CPU in
 * both windows says how much of the event loop compaction took. Prints the CPU other processes used
 * meanwhile (this machine is shared). A fresh log per run.
 * `bun scripts/bench-store-compaction.ts [live=200000] [runs=2]`.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openMessageStore } from "../lib/store/open-store.ts";
import { prefillLog, syntheticMailboxes } from "./bench/prefill.ts";

const live = Number(process.argv[2] ?? 200_000);
const runs = Number(process.argv[3] ?? 2);
const WRITERS = 16;
const payload = JSON.stringify({ msg_type: "intercom", payload: { ciphertext: "x".repeat(960) } });

/** Busy CPU seconds of the whole machine so far (from /proc/stat). */
function machineBusySeconds(): number {
  const [, ...fields] = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).map(Number);
  return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]) / 100;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
/** CPU milliseconds of this thread (the event loop) so far. */
const threadCpuMs = () => (({ user, system }) => (user + system) / 1000)(process.threadCpuUsage());
/** Latencies (sorted) of the deposits that waited within [from, to]. */
const waitsWithin = (samples: { end: number; latency: number }[], from: number, to: number) =>
  samples.filter((s) => s.end >= from && s.end - s.latency <= to).map((s) => s.latency).sort((a, b) => a - b);

async function run(): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), "rendezvous-bench-compaction-"));
  try {
    const mailboxes = syntheticMailboxes(Math.ceil(live / 4));
    let swappedAt = NaN;
    const bytes = await prefillLog(dir, { live, dead: Math.ceil(live * 1.5), mailboxes, payload });
    const store = await openMessageStore(dir, {
      maxStoreBytes: 2 ** 40, maxMessages: 1e9, mailboxMaxMessages: 1e9, durable: true, sweepIntervalSeconds: 0,
      clock: () => Math.floor(Date.now() / 1000), log: (event) => event === "store_compacted" && (swappedAt = performance.now()),
    });
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    const samples: { end: number; latency: number }[] = [];
    let stop = false;
    const began = performance.now();
    const cpuBefore = process.cpuUsage();
    const busyBefore = machineBusySeconds();
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const start = performance.now();
        await store.deposit(mailboxes[(w * 7919 + i) % mailboxes.length], payload, expiresAt);
        samples.push({ end: performance.now(), latency: performance.now() - start });
      }
    });
    await Bun.sleep(2000);
    const triggered = performance.now();
    const cpuAtTrigger = threadCpuMs();
    await store.compact();
    const ended = performance.now();
    const compactionCpu = threadCpuMs() - cpuAtTrigger;
    await Bun.sleep(1000);
    const quietFrom = performance.now();
    const cpuAtQuiet = threadCpuMs();
    await Bun.sleep(ended - triggered);
    const quietCpu = threadCpuMs() - cpuAtQuiet;
    const quietTo = performance.now();
    stop = true;
    await Promise.all(writers);
    const elapsed = (performance.now() - began) / 1000;
    const own = process.cpuUsage(cpuBefore);
    const otherCores = (machineBusySeconds() - busyBefore - (own.user + own.system) / 1e6) / elapsed;
    await store.close();
    const longest = samples.filter((s) => s.end >= triggered && s.end - s.latency <= ended).reduce((a, b) => (b.latency > a.latency ? b : a));
    const during = waitsWithin(samples, triggered, ended);
    const without = waitsWithin(samples, quietFrom, quietTo);
    return {
      "log MiB": Math.round(bytes / 2 ** 20),
      "compaction ms": Math.round(ended - triggered),
      "max during ms": Math.round(during.at(-1)!),
      "max without ms": Math.round(without.at(-1)!),
      "max added ms": Math.round(during.at(-1)! - without.at(-1)!),
      "longest began ms after trigger": Math.round(longest.end - longest.latency - triggered),
      "log swapped ms after trigger": Math.round(swappedAt - triggered),
      "p99 during ms": Math.round(percentile(during, 99)),
      "p99 without ms": Math.round(percentile(without, 99)),
      "during > 20 ms": during.filter((l) => l > 20).length,
      "deposits/s during ÷ without": Number(((during.length / (ended - triggered)) / (without.length / (quietTo - quietFrom))).toFixed(2)),
      "event-loop CPU ms during": Math.round(compactionCpu),
      "event-loop CPU ms without": Math.round(quietCpu),
      "other cores": Number(otherCores.toFixed(2)),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const rows = [];
for (let i = 0; i < runs; i++) {
  rows.push(await run());
  console.log(JSON.stringify(rows.at(-1)));
}
console.table(rows);
