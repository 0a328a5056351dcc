/**
 * Deposit latency, RSS and restart time with 0 … 1M messages already stored (pre-filled log). A first
 * start scans the pre-filled log whole ("full-scan start") and leaves the checkpoint that every
 * measured restart then loads, with the log cut back to what was pre-filled.
 */
import { copyFile, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { checkpointPath } from "../../../lib/store/checkpoint.ts";
import { LOG_FILE } from "../../../lib/store/message-store.ts";
import { depositBodies, intercomPayload } from "../bodies.ts";
import { type BenchContext, keySlices, sleep } from "../context.ts";
import { figure, type ScenarioResult, summary } from "../figures.ts";
import { prefillLog, resetLog, syntheticMailboxes } from "../prefill.ts";
import { sizeLabel } from "../report.ts";
import { ratios } from "../stats.ts";
import { timedDeposits } from "./deposits.ts";

interface SizeRun {
  restartMs: number;
  listenMs: number;
  rss: number;
  rssAfterLoad: number;
  p50: number;
  p99: number;
  rps: number;
}

/** Runs the scenario. */
export async function storeSizeScenario(context: BenchContext): Promise<ScenarioResult> {
  const { options } = context;
  const targets = keySlices(context.keys, 0).targets;
  const bodies = depositBodies(targets, 256);
  const stores: { size: number; dir: string; bytes: number; fullScanMs: number }[] = [];
  const measured = new Map<number, SizeRun[]>();
  const runs: Record<string, unknown>[] = [];
  try {
    for (const size of options.sizes) {
      const dir = join(context.tmp, `store-${sizeLabel(size)}`);
      await mkdir(dir, { recursive: true });
      const began = performance.now();
      const mailboxes = syntheticMailboxes(Math.max(1, Math.ceil(size / options.perMailbox)));
      const bytes = size ? await prefillLog(dir, { live: size, mailboxes, payload: intercomPayload(targets[0].pem) }) : 0;
      context.log(`  pre-filled ${sizeLabel(size)} messages (${(bytes / 2 ** 20).toFixed(0)} MiB) in ${((performance.now() - began) / 1000).toFixed(1)} s`);
      const first = await context.relay("bun", dir, `store-${sizeLabel(size)}-first`);
      await first.stop(); // writes the checkpoint of the pre-filled log
      const checkpoint = checkpointPath(join(dir, LOG_FILE));
      if (size) await copyFile(checkpoint, `${checkpoint}.prefilled`);
      context.log(`  full-scan start ${first.firstAnswerMs.toFixed(0)} ms`);
      stores.push({ size, dir, bytes, fullScanMs: first.firstAnswerMs });
    }
    for (let run = 1; run <= options.runs; run++) {
      for (const { size, dir, bytes } of stores) {
        await resetLog(dir, bytes);
        const checkpoint = checkpointPath(join(dir, LOG_FILE));
        if (size) await copyFile(`${checkpoint}.prefilled`, checkpoint);
        else await rm(checkpoint, { force: true });
        const relay = await context.relay("bun", dir, `store-${sizeLabel(size)}`);
        try {
          await sleep(1000); // let start-up garbage settle before reading RSS
          const rss = relay.rssBytes();
          const load = await timedDeposits(context, relay, 16, bodies);
          const result = { restartMs: relay.firstAnswerMs, listenMs: relay.listenMs, rss, rssAfterLoad: relay.rssBytes(), p50: load.p50, p99: load.p99, rps: load.rps };
          (measured.get(size) ?? measured.set(size, []).get(size)!).push(result);
          runs.push({ size, run, ...result, load: summary(load) });
          context.log(`  @${sizeLabel(size)} run ${run}: restart ${result.restartMs.toFixed(0)} ms, RSS ${(rss / 2 ** 20).toFixed(1)} MiB, p50 ${load.p50.toFixed(2)} ms, p99 ${load.p99.toFixed(2)} ms, ${load.rps.toFixed(0)}/s, other ${load.otherCores.toFixed(2)} cores`);
        } finally {
          await relay.stop();
        }
      }
    }
  } finally {
    await Promise.all(stores.map(({ dir }) => rm(dir, { recursive: true, force: true })));
  }
  const figures: ScenarioResult["figures"] = {};
  const empty = measured.get(0)!;
  for (const [size, results] of measured) {
    const at = `@${sizeLabel(size)}`;
    const pick = (key: keyof SizeRun) => results.map((result) => result[key]);
    figures[`restart ms ${at}`] = figure("ms", pick("restartMs"));
    figures[`full-scan start ms ${at}`] = figure("ms", stores.filter((store) => store.size === size).map((store) => store.fullScanMs));
    figures[`RSS MiB ${at}`] = figure("MiB", pick("rss").map((bytes) => bytes / 2 ** 20));
    // Below ~100k messages the index is smaller than the heap's own noise: no per-message figure.
    if (size >= 100_000) figures[`RSS bytes/message ${at}`] = figure("B", results.map((result, i) => (result.rss - empty[i].rss) / size));
    figures[`deposit p50 ${at}`] = figure("ms", pick("p50"));
    figures[`deposit p99 ${at}`] = figure("ms", pick("p99"));
    if (size > 0) figures[`deposit p99 ${at}/@0`] = figure("ratio", ratios(pick("p99"), empty.map((result) => result.p99)));
  }
  return { figures, runs };
}
