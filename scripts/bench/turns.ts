/**
 * Servers measured in turns: the same batches of requests go to each in alternating order, so that a
 * slow stretch of this VM, whose speed drifts between runs by more than most changes (docs/performance.md),
 * falls on all of them alike.
 */
import type { LoadResult } from "./load.ts";
import { percentile } from "./stats.ts";

/** Each of `servers`' results, turn by turn: every turn's batch goes to each server, the first one alternating. */
export async function inTurns<Server, Batch, Result>(
  servers: Server[],
  turns: number,
  batchOf: (turn: number) => Batch | Promise<Batch>,
  load: (server: Server, batch: Batch) => Promise<Result>,
): Promise<Result[][]> {
  const results = servers.map((): Result[] => []);
  for (let turn = 0; turn < turns; turn++) {
    const batch = await batchOf(turn);
    const order = servers.map((_, i) => i);
    if (turn % 2) order.reverse();
    for (const i of order) results[i].push(await load(servers[i], batch));
  }
  return results;
}

/** Server CPU µs per request over `results`. */
export function cpuPerRequest(results: LoadResult[]): number {
  return results.reduce((sum, result) => sum + result.serverCores * result.seconds, 0) / results.reduce((sum, result) => sum + result.requests, 0) * 1e6;
}

/** Turns as one load: counts and seconds summed, cores averaged over the time, latency percentiles the turns' medians, max the largest. */
export function combined(results: LoadResult[]): LoadResult {
  const total = (pick: (result: LoadResult) => number) => results.reduce((sum, result) => sum + pick(result), 0);
  const seconds = total((result) => result.seconds);
  const requests = total((result) => result.requests);
  const overTime = (pick: (result: LoadResult) => number) => total((result) => pick(result) * result.seconds) / seconds;
  const median = (pick: (result: LoadResult) => number) => percentile(results.map(pick).sort((a, b) => a - b), 50);
  return {
    requests,
    seconds,
    rps: requests / seconds,
    p50: median((result) => result.p50),
    p99: median((result) => result.p99),
    max: Math.max(...results.map((result) => result.max)),
    non2xx: total((result) => result.non2xx),
    errors: total((result) => result.errors),
    serverCores: overTime((result) => result.serverCores),
    clientCores: overTime((result) => result.clientCores),
    otherCores: overTime((result) => result.otherCores),
  };
}
