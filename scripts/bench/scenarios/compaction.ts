/** Compaction stall: deposits run while a large store with more dead than live bytes is compacted. */
import { rm } from "node:fs/promises";
import { join } from "node:path";
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
        figuresByRun.push(await measureStall(relay.url, relay.pid, bodies, await proofBody(trigger, await fetchRelayPem(relay.url), Math.floor(Date.now() / 1000))));
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
      "max deposit latency during compaction": figure("ms", pick("maxDuring")),
      "deposit p99 during compaction": figure("ms", pick("p99During")),
      [`deposits > ${STALL_MS} ms during compaction`]: figure("count", pick("slowDuring")),
      "max deposit latency before compaction": figure("ms", pick("maxBefore")),
      "deposits/s during/before compaction": figure("ratio", pick("rateRatio")),
    },
    runs: figuresByRun,
  };
}

/** Deposits for 2 s, triggers a compaction with one retrieve, keeps depositing until it is done (+1 s). */
async function measureStall(url: string, pid: number, bodies: string[], triggerProof: string): Promise<Record<string, number>> {
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const began = performance.now();
  const loading: Promise<LoadResult> = runLoad({ url, connections: 16, duration: 600, steps: postCycle("/deposit", bodies), timeline: true, serverPid: pid, until: finished });
  await sleep(2000);
  const compactionsBefore = await metricValue(url, "rendezvous_compactions_total");
  const triggered = performance.now();
  const response = await fetch(`${url}/retrieve`, { method: "POST", body: triggerProof });
  if (response.status !== 200) throw new Error(`trigger retrieve answered ${response.status}: ${await response.text()}`);
  let ended = NaN;
  while (performance.now() - triggered < 120_000) {
    if (await metricValue(url, "rendezvous_compactions_total") > compactionsBefore) {
      ended = performance.now();
      break;
    }
    await sleep(25);
  }
  const compactionMs = (await metricValue(url, "rendezvous_last_compaction_seconds")) * 1000;
  await sleep(1000);
  finish();
  const { timeline, otherCores } = await loading;
  if (Number.isNaN(ended)) throw new Error("no compaction within 120 s of the trigger (dead bytes not above live bytes?)");
  const during: number[] = [];
  const before: number[] = [];
  timeline!.at.forEach((at, i) => {
    const latency = timeline!.latency[i];
    if (at >= triggered && at - latency <= ended) during.push(latency);
    else if (at < triggered && at > began + 500) before.push(latency);
  });
  during.sort((a, b) => a - b);
  before.sort((a, b) => a - b);
  return {
    compactionMs,
    triggerToEndMs: ended - triggered,
    maxDuring: during.at(-1) ?? NaN,
    p99During: percentile(during, 99),
    slowDuring: during.filter((latency) => latency > STALL_MS).length,
    maxBefore: before.at(-1) ?? NaN,
    p99Before: percentile(before, 99),
    rateRatio: (during.length / (ended - triggered)) / (before.length / (triggered - began - 500)),
    /** CPU other processes used meanwhile: above ~0.2 cores the latencies say more about them than about the relay. */
    otherCores,
  };
}
