/**
 * Durable deposits/s at 16 and 64 connections, on Bun and Deno, alternated with two baselines: the
 * minimal JSON server and the minimal durable one (the target's yardstick: the ceiling for any server
 * that answers only once a deposit is on disk), the latter also under Deno (node:http and Deno.serve).
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { depositBodies } from "../bodies.ts";
import { type BenchContext, keySlices } from "../context.ts";
import { figure, type ScenarioResult, summary } from "../figures.ts";
import { type LoadResult, postCycle, runLoad } from "../load.ts";
import { metricValue } from "../metrics.ts";
import { type ServerProcess, startBaseline } from "../processes.ts";
import { ratios } from "../stats.ts";

const CONNECTIONS = [16, 64];

/**
 * Warms `server` up, then measures deposits (or echoes) for the configured seconds; `onTimed` is
 * awaited right before and right after the timed run (a relay's counters are read there).
 */
export async function timedDeposits(context: BenchContext, server: ServerProcess, connections: number, bodies: string[], onTimed = async () => {}): Promise<LoadResult> {
  const { seconds, warmupRequests } = context.options;
  const load = { url: server.url, connections, steps: postCycle("/deposit", bodies) };
  await runLoad({ ...load, amount: warmupRequests });
  await onTimed();
  const result = await runLoad({ ...load, duration: seconds, serverPid: server.pid });
  await onTimed();
  return result;
}

/** A relay's timed deposits and how many of them each group commit (one synced write) carried on average. */
async function relayDeposits(context: BenchContext, relay: ServerProcess, connections: number, bodies: string[]) {
  const commits: number[] = [];
  const result = await timedDeposits(context, relay, connections, bodies, async () => {
    commits.push(await metricValue(relay.url, "rendezvous_commits_total"));
  });
  return { result, depositsPerCommit: result.requests / (commits[1] - commits[0]) };
}

/** Runs the scenario. */
export async function depositsScenario(context: BenchContext): Promise<ScenarioResult> {
  const { options } = context;
  const pool = depositBodies(keySlices(context.keys, 0).targets, 256);
  const echo = await startBaseline("echo");
  const results: Record<string, LoadResult[]> = {};
  /** Deposits per group commit, per relay run: fewer means more commit work per deposit. */
  const perCommit: Record<string, number[]> = {};
  const runs: Record<string, unknown>[] = [];
  const record = (name: string, run: number, result: LoadResult) => {
    (results[name] ??= []).push(result);
    runs.push({ name, run, ...summary(result) });
    context.log(`  ${name} run ${run}: ${result.rps.toFixed(0)} req/s, p99 ${result.p99.toFixed(2)} ms, server ${result.serverCores.toFixed(2)} cores, client ${result.clientCores.toFixed(2)}, other ${result.otherCores.toFixed(2)} cores, non2xx ${result.non2xx}`);
  };
  try {
    for (let run = 1; run <= options.runs; run++) {
      for (const connections of CONNECTIONS) {
        record(`baseline.c${connections}`, run, await timedDeposits(context, echo, connections, pool));
        const durableFile = join(context.tmp, `durable-baseline-${connections}-${run}.jsonl`);
        const durable = await startBaseline("echo", [durableFile]);
        try {
          record(`durable.c${connections}`, run, await timedDeposits(context, durable, connections, pool));
        } finally {
          await durable.stop();
          await rm(durableFile, { force: true });
        }
        if (options.deno && connections === 64) {
          // The minimal durable server under Deno: on node:http as the relay's Deno adapter serves, and on Deno.serve.
          for (const [name, extra] of [["durable-deno", []], ["durable-deno-serve", ["--deno-serve"]]] as const) {
            const file = join(context.tmp, `${name}-${run}.jsonl`);
            const server = await startBaseline("echo", [file, ...extra], "deno");
            try {
              record(`${name}.c${connections}`, run, await timedDeposits(context, server, connections, pool));
            } finally {
              await server.stop();
              await rm(file, { force: true });
            }
          }
        }
        for (const runtime of ["bun", "deno"] as const) {
          if (runtime === "deno" && (!options.deno || connections !== 64)) continue;
          const dataDir = join(context.tmp, `deposits-${runtime}-${connections}-${run}`);
          const relay = await context.relay(runtime, dataDir, `deposits-${runtime}-c${connections}`);
          try {
            const { result, depositsPerCommit } = await relayDeposits(context, relay, connections, pool);
            record(`${runtime}.c${connections}`, run, result);
            (perCommit[`${runtime}.c${connections}`] ??= []).push(depositsPerCommit);
          } finally {
            await relay.stop();
            await rm(dataDir, { recursive: true, force: true });
          }
        }
      }
    }
  } finally {
    await echo.stop();
  }
  const rps = (name: string) => (results[name] ?? []).map((result) => result.rps);
  const perCore = (name: string) => (results[name] ?? []).map((result) => result.rps / result.serverCores);
  /** Server CPU per answered request, in µs: less disturbed by other load on the machine than req/s. */
  const cpuPerRequest = (name: string) => (results[name] ?? []).map((result) => result.serverCores / result.rps * 1e6);
  const figures: ScenarioResult["figures"] = {};
  for (const connections of CONNECTIONS) {
    const c = `c${connections}`;
    figures[`baseline req/s ${c}`] = figure("req/s", rps(`baseline.${c}`));
    figures[`deposits/s bun ${c}`] = figure("req/s", rps(`bun.${c}`));
    figures[`deposit p50 bun ${c}`] = figure("ms", results[`bun.${c}`].map((result) => result.p50));
    figures[`deposit p99 bun ${c}`] = figure("ms", results[`bun.${c}`].map((result) => result.p99));
    figures[`deposits/baseline ${c}`] = figure("ratio", ratios(rps(`bun.${c}`), rps(`baseline.${c}`)));
    figures[`deposits/baseline per server-core ${c}`] = figure("ratio", ratios(perCore(`bun.${c}`), perCore(`baseline.${c}`)));
    figures[`durable-baseline req/s ${c}`] = figure("req/s", rps(`durable.${c}`));
    figures[`durable-baseline/baseline ${c}`] = figure("ratio", ratios(rps(`durable.${c}`), rps(`baseline.${c}`)));
    figures[`deposits/durable-baseline ${c}`] = figure("ratio", ratios(rps(`bun.${c}`), rps(`durable.${c}`)));
    figures[`server µs/deposit bun ${c}`] = figure("µs", cpuPerRequest(`bun.${c}`));
    figures[`server µs/deposit durable-baseline ${c}`] = figure("µs", cpuPerRequest(`durable.${c}`));
    figures[`deposits per commit bun ${c}`] = figure("deposits", perCommit[`bun.${c}`] ?? []);
  }
  if (options.deno) {
    figures["deposits/s deno c64"] = figure("req/s", rps("deno.c64"));
    figures["deposit p99 deno c64"] = figure("ms", results["deno.c64"].map((result) => result.p99));
    figures["bun/deno deposits c64"] = figure("ratio", ratios(rps("bun.c64"), rps("deno.c64")));
    figures["durable-baseline req/s deno c64"] = figure("req/s", rps("durable-deno.c64"));
    figures["durable-baseline req/s deno-serve c64"] = figure("req/s", rps("durable-deno-serve.c64"));
    figures["deposits/durable-baseline deno c64"] = figure("ratio", ratios(rps("deno.c64"), rps("durable-deno.c64")));
    // Shown, not judged: Deno.serve cannot bound connections, so the relay cannot serve on it (docs/performance.md).
    figures["deposits/durable-baseline deno-serve c64"] = figure("ratio", ratios(rps("deno.c64"), rps("durable-deno-serve.c64")));
    figures["durable-baseline deno node:http/Deno.serve c64"] = figure("ratio", ratios(rps("durable-deno.c64"), rps("durable-deno-serve.c64")));
    figures["server µs/deposit deno c64"] = figure("µs", cpuPerRequest("deno.c64"));
    figures["deposits per commit deno c64"] = figure("deposits", perCommit["deno.c64"] ?? []);
    figures["server µs/deposit durable-baseline deno c64"] = figure("µs", cpuPerRequest("durable-deno.c64"));
    figures["server µs/deposit durable-baseline deno-serve c64"] = figure("µs", cpuPerRequest("durable-deno-serve.c64"));
  }
  return { figures, runs };
}
