/**
 * Compaction stall: deposits run while a large store with more dead than live bytes is compacted (and
 * the checkpoint written after it), then as long again without compaction. The longest wait during
 * compaction is printed as it is and beside the longest in that equal window of the same load: their
 * difference is what compaction added, the rest is the machine.
 */
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { checkpointPath } from "../../../lib/store/checkpoint.ts";
import { LOG_FILE } from "../../../lib/store/message-store.ts";
import { depositBodies, fetchRelayPem, intercomPayload, proofBody } from "../bodies.ts";
import { type BenchContext, keySlices, sleep } from "../context.ts";
import { figure, type ScenarioResult } from "../figures.ts";
import { type LoadResult, postCycle, runLoad } from "../load.ts";
import { metricValue } from "../metrics.ts";
import { prefillLog, syntheticMailboxes } from "../prefill.ts";
import { percentile } from "../stats.ts";

const STALL_MS = 50;

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
      // Dead bytes must still outweigh the live ones after the deposits that run before the trigger.
      const dead = Math.ceil(live * 1.5);
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
      "compaction + checkpoint ms": figure("ms", pick("triggerToEndMs")),
      "max deposit latency during compaction": figure("ms", pick("maxDuring")),
      "max deposit latency, equal window without compaction": figure("ms", pick("maxWithout")),
      "max deposit wait added by compaction": figure("ms", pick("maxAdded")),
      "deposit p99 during compaction": figure("ms", pick("p99During")),
      "deposit p99, equal window without compaction": figure("ms", pick("p99Without")),
      [`deposits > ${STALL_MS} ms during compaction`]: figure("count", pick("slowDuring")),
      "deposits/s during/without compaction": figure("ratio", pick("rateRatio")),
    },
    runs: figuresByRun,
  };
}

/** The file's modification time, or 0 when there is none. */
const modifiedAt = (path: string) => stat(path).then((info) => info.mtimeMs, () => 0);

/**
 * Deposits for 2 s, triggers a compaction with one retrieve and keeps depositing until it and its
 * checkpoint are done, then 1 s, then as long as the compaction took (the window without compaction).
 */
async function measureStall(url: string, pid: number, checkpointPath: string, bodies: string[], triggerProof: string): Promise<Record<string, number>> {
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const loading: Promise<LoadResult> = runLoad({ url, connections: 16, duration: 600, steps: postCycle("/deposit", bodies), timeline: true, serverPid: pid, until: finished });
  await sleep(2000);
  const compactionsBefore = await metricValue(url, "rendezvous_compactions_total");
  const checkpointBefore = await modifiedAt(checkpointPath);
  const triggered = performance.now();
  const response = await fetch(`${url}/retrieve`, { method: "POST", body: triggerProof });
  if (response.status !== 200) throw new Error(`trigger retrieve answered ${response.status}: ${await response.text()}`);
  let ended = NaN;
  while (performance.now() - triggered < 120_000) {
    if (await metricValue(url, "rendezvous_compactions_total") > compactionsBefore && await modifiedAt(checkpointPath) > checkpointBefore) {
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
  await sleep(1000);
  const quietFrom = performance.now();
  await sleep(ended - triggered);
  const quietTo = performance.now();
  finish();
  const { timeline, otherCores } = await loading;
  /** Latencies (sorted) of the deposits that waited within [from, to]. */
  const waitsWithin = (from: number, to: number) => {
    const waits: number[] = [];
    timeline!.at.forEach((at, i) => at >= from && at - timeline!.latency[i] <= to && waits.push(timeline!.latency[i]));
    return waits.sort((a, b) => a - b);
  };
  const during = waitsWithin(triggered, ended);
  const without = waitsWithin(quietFrom, quietTo);
  return {
    compactionMs,
    triggerToEndMs: ended - triggered,
    maxDuring: during.at(-1) ?? NaN,
    maxWithout: without.at(-1) ?? NaN,
    maxAdded: (during.at(-1) ?? NaN) - (without.at(-1) ?? NaN),
    p99During: percentile(during, 99),
    p99Without: percentile(without, 99),
    slowDuring: during.filter((latency) => latency > STALL_MS).length,
    rateRatio: (during.length / (ended - triggered)) / (without.length / (quietTo - quietFrom)),
    /** CPU other processes used meanwhile: above ~0.2 cores the latencies say more about them than about the relay. */
    otherCores,
  };
}
