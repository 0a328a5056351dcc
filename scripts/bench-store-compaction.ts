/**
 * Compaction stall, the store alone (no HTTP): 16 writers deposit ~1 KiB messages (durable) while a log
 * with 1.5× more dead than live messages is compacted (with its checkpoint and the release of the old
 * file), and in windows of the same length and the same load without compaction: one right before it,
 * and one that starts 3 s after it is done. What compaction is blamed for is what its window has beyond
 * the windows without (see docs/performance.md, "attributed"): deposits that waited over 20 ms, the log's
 * commits (synced writes) over 20 ms, event-loop stalls. The longest wait during compaction is printed as it is, and each
 * wait over 20 ms is counted in the phase of the compaction it began in. Prints the CPU other processes
 * used meanwhile (this machine is shared). A fresh log per run.
 * `bun scripts/bench-store-compaction.ts [live=200000] [runs=2]`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openMessageStore } from "../lib/store/open-store.ts";
import { machineBusySeconds } from "./bench/load.ts";
import { prefillLog, syntheticMailboxes } from "./bench/prefill.ts";
import { type Interval, percentile, slowBeyondWindowsWithout } from "./bench/stats.ts";

const live = Number(process.argv[2] ?? 200_000);
const runs = Number(process.argv[3] ?? 2);
const WRITERS = 16;
const SLOW_MS = 20;
/** Deposits run this long before the compaction, so that the window without it before can be as long as it. */
const BEFORE_MS = 8000;
/** The window without compaction after it starts this long after it is done (and its old file released). */
const SETTLE_MS = 3000;
const payload = JSON.stringify({ msg_type: "intercom", payload: { ciphertext: "x".repeat(960) } });


/** Intervals (a deposit's wait, a log commit, an event-loop stall) that overlap [from, to], their lengths sorted. */
const within = (intervals: Interval[], from: number, to: number) =>
  intervals.filter((i) => i.end >= from && i.end - i.ms <= to).map((i) => i.ms).sort((a, b) => a - b);

async function run(): Promise<Record<string, number | string>> {
  const dir = await mkdtemp(join(tmpdir(), "rendezvous-bench-compaction-"));
  try {
    const mailboxes = syntheticMailboxes(Math.ceil(live / 4));
    const bytes = await prefillLog(dir, { live, dead: Math.ceil(live * 1.5), mailboxes, payload });
    const steps: { step: string; at: number }[] = [];
    const commits: Interval[] = [];
    let writing = NaN;
    const store = await openMessageStore(dir, {
      maxStoreBytes: 2 ** 40, maxMessages: 1e9, mailboxMaxMessages: 1e9, durable: true, sweepIntervalSeconds: 0,
      clock: () => Math.floor(Date.now() / 1000),
      log: (event) => steps.push({ step: event, at: performance.now() }),
      onStep: (step) => {
        const at = performance.now();
        if (step === "append:writing") writing = at;
        else if (step === "append:written") commits.push({ end: at, ms: at - writing });
        else steps.push({ step, at });
      },
    });
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    const waits: Interval[] = [];
    const stalls: Interval[] = [];
    let stop = false;
    const began = performance.now();
    const cpuBefore = process.cpuUsage();
    const busyBefore = machineBusySeconds();
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const start = performance.now();
        await store.deposit(mailboxes[(w * 7919 + i) % mailboxes.length], payload, expiresAt);
        waits.push({ end: performance.now(), ms: performance.now() - start });
      }
    });
    // The event loop's stalls: how late a 1 ms timer fires beyond its millisecond.
    const ticker = (async () => {
      while (!stop) {
        const start = performance.now();
        await Bun.sleep(1);
        const end = performance.now();
        if (end - start > 3) stalls.push({ end, ms: end - start - 1 });
      }
    })();
    await Bun.sleep(BEFORE_MS);
    const triggered = performance.now();
    await store.compact();
    const ended = performance.now();
    const length = ended - triggered;
    await Bun.sleep(SETTLE_MS);
    const afterFrom = performance.now();
    await Bun.sleep(length);
    const afterTo = performance.now();
    stop = true;
    await Promise.all([...writers, ticker]);
    const elapsed = (performance.now() - began) / 1000;
    const own = process.cpuUsage(cpuBefore);
    const otherCores = (machineBusySeconds() - busyBefore - (own.user + own.system) / 1e6) / elapsed;
    await store.close();
    const windows = { during: [triggered, ended], before: [Math.max(began + 1000, triggered - length), triggered], after: [afterFrom, afterTo] } as const;
    const measure = (intervals: Interval[]) =>
      slowBeyondWindowsWithout(SLOW_MS, within(intervals, ...windows.during), within(intervals, ...windows.before), within(intervals, ...windows.after));
    const during = within(waits, triggered, ended);
    const stepAt = (name: string) => steps.find((s) => s.step === name)?.at ?? NaN;
    const phases: [string, number][] = [
      ["copy", triggered], ["swap", stepAt("compact:synced")], ["checkpoint", stepAt("compact:dir-synced")],
      ["release", stepAt("store_checkpoint_written")], ["done", ended],
    ];
    const phaseOf = (at: number) => phases.findLast(([, from]) => at >= from)?.[0] ?? "copy";
    const slowByPhase: Record<string, number> = {};
    for (const wait of waits) {
      const start = wait.end - wait.ms;
      if (wait.ms > SLOW_MS && wait.end >= triggered && start <= ended) slowByPhase[phaseOf(start)] = (slowByPhase[phaseOf(start)] ?? 0) + 1;
    }
    const deposits = measure(waits);
    const logCommits = measure(commits);
    const loopStalls = measure(stalls);
    const since = (at: number) => Math.round(at - triggered);
    return {
      "log MiB": Math.round(bytes / 2 ** 20),
      "compaction ms (copy, swap, checkpoint, release)": `${Math.round(length)} (${phases.slice(1).map(([, at], i) => since(at) - since(phases[i][1])).join(", ")})`,
      "max wait during / before / after ms": deposits.longest.map(Math.round).join(" / "),
      "p99 during / before / after ms": [windows.during, windows.before, windows.after].map((w) => Math.round(percentile(within(waits, ...w), 99))).join(" / "),
      [`waits > ${SLOW_MS} ms during / before / after`]: deposits.counts.join(" / "),
      [`waits > ${SLOW_MS} ms attributed`]: deposits.attributed,
      [`waits > ${SLOW_MS} ms by phase`]: JSON.stringify(slowByPhase),
      [`log commits > ${SLOW_MS} ms during / before / after`]: logCommits.counts.join(" / "),
      "longest log commit during / before / after ms": logCommits.longest.map(Math.round).join(" / "),
      "log commit p99 during / before / after ms": [windows.during, windows.before, windows.after].map((w) => percentile(within(commits, ...w), 99).toFixed(1)).join(" / "),
      [`log commits > ${SLOW_MS} ms attributed`]: logCommits.attributed,
      [`loop stalls > ${SLOW_MS} ms during / before / after`]: loopStalls.counts.join(" / "),
      "longest loop stall during / before / after ms": loopStalls.longest.map(Math.round).join(" / "),
      "deposits/s during ÷ before": Number(((during.length / length) / (within(waits, ...windows.before).length / (windows.before[1] - windows.before[0]))).toFixed(2)),
      "other cores": Number(otherCores.toFixed(2)),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

for (let i = 0; i < runs; i++) console.log(JSON.stringify(await run()));
