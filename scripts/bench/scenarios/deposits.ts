/**
 * Durable deposits/s at 16 and 64 connections, on Bun and Deno, in turns with two baselines: the
 * minimal JSON server and the minimal durable one (the target's yardstick: the ceiling for any server
 * that answers only once a deposit is on disk), the latter also under Deno (node:http and Deno.serve).
 * Each runtime's servers take turns among themselves, the Bun ones first: in turns with all six, each
 * Deno server sat idle through five turns, V8's memory reducer shrank its heap, and the relay paid more
 * than the baselines for growing it back (docs/performance.md, "Deno's turns").
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { depositBodies } from "../bodies.ts";
import { type BenchContext, keySlices } from "../context.ts";
import { figure, type ScenarioResult, summary } from "../figures.ts";
import { BodyPool, type LoadResult, postCycle, postEach, runLoad } from "../load.ts";
import { metricValue } from "../metrics.ts";
import { type ServerProcess, startBaseline } from "../processes.ts";
import { ratios } from "../stats.ts";
import { combined, inTurns } from "../turns.ts";

const CONNECTIONS = [16, 64];

/** Warms `server` up, then measures deposits for the configured seconds. */
export async function timedDeposits(context: BenchContext, server: ServerProcess, connections: number, bodies: string[]): Promise<LoadResult> {
  const { seconds, warmupRequests } = context.options;
  const load = { url: server.url, connections, steps: postCycle("/deposit", bodies) };
  await runLoad({ ...load, amount: warmupRequests });
  return await runLoad({ ...load, duration: seconds, serverPid: server.pid });
}

/** A server of one turn group, and whether it is a relay (it counts its commits). */
interface Contender {
  name: string;
  server: ServerProcess;
  relay: boolean;
}

/**
 * The same deposits to each of `contenders` in turns (see turns.ts), after the same warm-up: the timed
 * deposits go out in `depositTurns` batches of `depositsPerTurn`, each batch to every server. Resolves with
 * each one's combined load and, for a relay, how many deposits each group commit (one synced write) carried.
 */
async function depositsInTurns(context: BenchContext, contenders: Contender[], connections: number, bodies: string[]) {
  const { depositTurns, depositsPerTurn, warmupRequests } = context.options;
  // `amount` deposits drawn from `pool`, each request built as it goes: a load of fixed requests (postCycle)
  // builds all of them for every connection at its start, which in a short turn is most of the load generator's work.
  const load = (server: ServerProcess, pool: string[], amount: number) =>
    runLoad({ url: server.url, connections, amount, steps: postEach("/deposit", new BodyPool(pool)), serverPid: server.pid });
  for (const { server } of contenders) await load(server, bodies, warmupRequests);
  const commits = () => Promise.all(contenders.map(({ server, relay }) => relay ? metricValue(server.url, "rendezvous_commits_total") : NaN));
  const before = await commits();
  const turns = await inTurns(contenders, depositTurns, () => bodies, ({ server }, pool) => load(server, pool, depositsPerTurn));
  const after = await commits();
  return contenders.map((contender, i) => {
    const result = combined(turns[i]);
    return { ...contender, result, depositsPerCommit: result.requests / (after[i] - before[i]) };
  });
}

/** Runs the scenario. */
export async function depositsScenario(context: BenchContext): Promise<ScenarioResult> {
  const { options } = context;
  const pool = depositBodies(keySlices(context.keys, 0).targets, 256);
  const results: Record<string, LoadResult[]> = {};
  /** Deposits per group commit, per relay run: fewer means more commit work per deposit. */
  const perCommit: Record<string, number[]> = {};
  const runs: Record<string, unknown>[] = [];
  const record = (name: string, run: number, result: LoadResult) => {
    (results[name] ??= []).push(result);
    runs.push({ name, run, ...summary(result) });
    context.log(`  ${name} run ${run}: ${result.rps.toFixed(0)} req/s, p99 ${result.p99.toFixed(2)} ms, server ${result.serverCores.toFixed(2)} cores, client ${result.clientCores.toFixed(2)}, other ${result.otherCores.toFixed(2)} cores, non2xx ${result.non2xx}`);
  };
  for (let run = 1; run <= options.runs; run++) {
    for (const connections of CONNECTIONS) {
      const dir = join(context.tmp, `deposits-c${connections}-${run}`);
      await mkdir(dir);
      /** Per runtime, the servers that take turns among themselves (see above): name, start, whether it is a relay. */
      const groups: [string, () => Promise<ServerProcess>, boolean][][] = [[
        ["baseline", () => startBaseline("echo"), false],
        ["durable", () => startBaseline("echo", [join(dir, "durable.jsonl")]), false],
        ["bun", () => context.relay("bun", join(dir, "bun"), `deposits-bun-c${connections}`), true],
      ]];
      if (options.deno && connections === 64) {
        // The minimal durable server under Deno: on node:http as the relay's Deno adapter serves, and on Deno.serve.
        groups.push([
          ["durable-deno", () => startBaseline("echo", [join(dir, "durable-deno.jsonl")], "deno"), false],
          ["durable-deno-serve", () => startBaseline("echo", [join(dir, "durable-deno-serve.jsonl"), "--deno-serve"], "deno"), false],
          ["deno", () => context.relay("deno", join(dir, "deno"), `deposits-deno-c${connections}`), true],
        ]);
      }
      try {
        for (const group of groups) {
          // Every server fresh for each run, so that none has had more warm-up than another.
          const contenders: Contender[] = [];
          try {
            for (const [name, start, relay] of group) contenders.push({ name, server: await start(), relay });
            for (const { name, relay, result, depositsPerCommit } of await depositsInTurns(context, contenders, connections, pool)) {
              record(`${name}.c${connections}`, run, result);
              if (relay) (perCommit[`${name}.c${connections}`] ??= []).push(depositsPerCommit);
            }
          } finally {
            await Promise.all(contenders.map(({ server }) => server.stop()));
          }
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
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
    // Shown, not judged: the two relays are in different turn groups, measured one after the other.
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
