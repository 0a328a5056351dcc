/**
 * Compaction stall: deposits run while a large store with more dead than live bytes is compacted (with
 * the checkpoint written after it and the old log file freed), and in windows of the same load and
 * length without compaction, one right before it and one from 3 s after it. The longest wait during
 * compaction is printed as it is, and the goal is judged on how far it goes beyond both 20 ms and the
 * longest wait in the windows without, which have the machine's own disk and VM stalls too; beside them,
 * the deposits over 20 ms that compaction is blamed for: those of its window beyond the share of slow
 * ones in the windows without (docs/performance.md). The relay's mean commit (one synced log
 * write) in each window, from its metrics, does not depend on the load generator's CPU.
 */
import { readdir, readlink, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { checkpointPath } from "../../../lib/store/checkpoint.ts";
import { LOG_FILE } from "../../../lib/store/message-store.ts";
import { depositBodies, fetchRelayPem, intercomPayload, proofBody } from "../bodies.ts";
import { type BenchContext, keySlices, sleep } from "../context.ts";
import { figure, type ScenarioResult } from "../figures.ts";
import { type LoadResult, postCycle, runLoad } from "../load.ts";
import { metricValue } from "../metrics.ts";
import { prefillLog, syntheticMailboxes } from "../prefill.ts";
import { percentile, slowBeyondWindowsWithout } from "../stats.ts";

const STALL_MS = 50;
const SLOW_MS = 20;
/** Deposits run this long before the trigger, so that the window without compaction before it is as long as it. */
const BEFORE_MS = 12_000;
/** The window without compaction after it starts this long after it is done. */
const SETTLE_MS = 3000;

/** Runs the scenario. */
export async function compactionScenario(context: BenchContext): Promise<ScenarioResult> {
  const { options } = context;
  const { targets, warmup } = keySlices(context.keys, 0);
  const trigger = warmup[0];
  const bodies = depositBodies(targets, 256);
  const figuresByRun: Record<string, number>[] = [];
  for (let run = 1; run <= options.compactionRuns; run++) {
    const dir = join(context.tmp, `compaction-${run}`);
    try {
      const live = options.compactionLive;
      const mailboxes = [trigger.mailbox, ...syntheticMailboxes(Math.ceil(live / options.perMailbox))];
      // Dead bytes must still outweigh the live ones after the deposits that run before the trigger (under 10k/s here).
      const dead = Math.ceil(Math.max(live * 1.5, live + (BEFORE_MS / 1000) * 12_000));
      const bytes = await prefillLog(dir, { live, dead, mailboxes, payload: intercomPayload(targets[0].pem) });
      context.log(`  pre-filled ${live} live + ${dead} dead messages (${(bytes / 2 ** 20).toFixed(0)} MiB)`);
      const relay = await context.relay("bun", dir, "compaction");
      try {
        const proof = await proofBody(trigger, await fetchRelayPem(relay.url), Math.floor(Date.now() / 1000));
        figuresByRun.push(await measureStall(relay.url, relay.pid, checkpointPath(join(dir, LOG_FILE)), bodies, proof));
        context.log(`  run ${run}: ${JSON.stringify(figuresByRun.at(-1))}`);
      } finally {
        await relay.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const pick = (key: string) => figuresByRun.map((item) => item[key]);
  return {
    figures: {
      "compaction ms": figure("ms", pick("compactionMs")),
      "compaction to old log freed ms": figure("ms", pick("triggerToEndMs")),
      "max deposit latency during compaction": figure("ms", pick("maxDuring")),
      "max deposit latency, equal window before": figure("ms", pick("maxBefore")),
      "max deposit latency, equal window after": figure("ms", pick("maxAfter")),
      // What the goal is judged on: what compaction adds to the longest wait the machine has without it.
      [`max deposit latency during compaction beyond ${SLOW_MS} ms and the windows without`]: figure("ms", pick("maxBeyondWithout")),
      [`deposits > ${SLOW_MS} ms during compaction`]: figure("count", pick("slowDuring")),
      [`deposits > ${SLOW_MS} ms attributed to compaction`]: figure("count", pick("slowAttributed")),
      "deposit p99 during compaction": figure("ms", pick("p99During")),
      "deposit p99, equal windows without": figure("ms", pick("p99Without")),
      "mean commit ms during compaction": figure("ms", pick("commitDuring")),
      "mean commit ms, equal windows without": figure("ms", pick("commitWithout")),
      [`deposits > ${STALL_MS} ms during compaction`]: figure("count", pick("stallsDuring")),
      "deposits/s during/without compaction": figure("ratio", pick("rateRatio")),
    },
    runs: figuresByRun,
  };
}

/** The file's modification time, or 0 when there is none. */
const modifiedAt = (path: string) => stat(path).then((info) => info.mtimeMs, () => 0);

/** Whether process `pid` holds a deleted log file open (a replaced log not yet freed). */
async function holdsDeletedLog(pid: number): Promise<boolean> {
  const fds = await readdir(`/proc/${pid}/fd`);
  const targets = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => "")));
  return targets.some((target) => target.includes(LOG_FILE) && target.endsWith("(deleted)"));
}

/** The relay's commit counters at a moment (performance.now()). */
interface CommitSample {
  at: number;
  commits: number;
  seconds: number;
}

/**
 * Deposits for {@link BEFORE_MS}, triggers a compaction with one retrieve and keeps depositing until it,
 * its checkpoint and the freeing of the old log are done, then {@link SETTLE_MS}, then as long as that
 * took. The windows without compaction are as long as the one with it: the last stretch before the
 * trigger and the one after the pause.
 */
async function measureStall(url: string, pid: number, checkpointPath: string, bodies: string[], triggerProof: string): Promise<Record<string, number>> {
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const loading: Promise<LoadResult> = runLoad({ url, connections: 16, duration: 600, steps: postCycle("/deposit", bodies), timeline: true, serverPid: pid, until: finished });
  const commitSamples: CommitSample[] = [];
  const sampling = (async () => {
    for (let stopped = false; !stopped; stopped = await Promise.race([finished.then(() => true), sleep(200).then(() => false)])) {
      const [commits, seconds] = await Promise.all([metricValue(url, "rendezvous_commits_total"), metricValue(url, "rendezvous_commit_seconds_total")]);
      commitSamples.push({ at: performance.now(), commits, seconds });
    }
  })();
  await sleep(BEFORE_MS);
  const compactionsBefore = await metricValue(url, "rendezvous_compactions_total");
  const checkpointBefore = await modifiedAt(checkpointPath);
  const triggered = performance.now();
  const response = await fetch(`${url}/retrieve`, { method: "POST", body: triggerProof });
  if (response.status !== 200) throw new Error(`trigger retrieve answered ${response.status}: ${await response.text()}`);
  let ended = NaN;
  while (performance.now() - triggered < 120_000) {
    // The relay's metrics last (checked from here, the others cost the relay nothing): asked every 25 ms,
    // they would load it more during compaction than in the windows without.
    if (
      await modifiedAt(checkpointPath) > checkpointBefore && !await holdsDeletedLog(pid) &&
      await metricValue(url, "rendezvous_compactions_total") > compactionsBefore
    ) {
      ended = performance.now();
      break;
    }
    await sleep(25);
  }
  if (Number.isNaN(ended)) {
    finish();
    await loading;
    throw new Error("no compaction and checkpoint within 120 s of the trigger (dead bytes not above live bytes?)");
  }
  const compactionMs = (await metricValue(url, "rendezvous_last_compaction_seconds")) * 1000;
  await sleep(SETTLE_MS);
  const afterFrom = performance.now();
  await sleep(ended - triggered);
  const afterTo = performance.now();
  finish();
  const { timeline, otherCores } = await loading;
  await sampling;
  /** Latencies (sorted) of the deposits that waited within [from, to]. */
  const waitsWithin = (from: number, to: number) => {
    const waits: number[] = [];
    timeline!.at.forEach((at, i) => at >= from && at - timeline!.latency[i] <= to && waits.push(timeline!.latency[i]));
    return waits.sort((a, b) => a - b);
  };
  /** Mean commit milliseconds within [from, to], from the samples nearest inside it. */
  const meanCommit = (from: number, to: number) => {
    const inside = commitSamples.filter((sample) => sample.at >= from && sample.at <= to);
    const [first, last] = [inside[0], inside.at(-1)];
    return first && last && last.commits > first.commits ? ((last.seconds - first.seconds) * 1000) / (last.commits - first.commits) : NaN;
  };
  const length = ended - triggered;
  const windows = { during: [triggered, ended], before: [Math.max(triggered - BEFORE_MS + 1000, triggered - length), triggered], after: [afterFrom, afterTo] };
  const [during, before, after] = [windows.during, windows.before, windows.after].map(([from, to]) => waitsWithin(from, to));
  const slow = slowBeyondWindowsWithout(SLOW_MS, during, before, after);
  const without = [...before, ...after].sort((a, b) => a - b);
  const withoutMs = windows.before[1] - windows.before[0] + afterTo - afterFrom;
  return {
    compactionMs,
    triggerToEndMs: length,
    maxDuring: slow.longest[0],
    maxBefore: slow.longest[1],
    maxAfter: slow.longest[2],
    maxBeyondWithout: slow.longest[0] - Math.max(SLOW_MS, slow.longest[1], slow.longest[2]),
    slowDuring: slow.counts[0],
    slowBefore: slow.counts[1],
    slowAfter: slow.counts[2],
    slowAttributed: slow.attributed,
    p99During: percentile(during, 99),
    p99Without: percentile(without, 99),
    commitDuring: meanCommit(triggered, ended),
    commitWithout: (meanCommit(windows.before[0], windows.before[1]) + meanCommit(afterFrom, afterTo)) / 2,
    stallsDuring: during.filter((latency) => latency > STALL_MS).length,
    rateRatio: (during.length / length) / (without.length / withoutMs),
    /** CPU other processes used meanwhile: above ~0.2 cores the latencies say more about them than about the relay. */
    otherCores,
  };
}
