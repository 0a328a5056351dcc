/**
 * The relay on PostgreSQL, alternated in the same run with the relay on its embedded log: deposits/s
 * with one and two relay instances on one database beside a minimal server doing one INSERT per
 * request on the same server (the yardstick batching should beat), then retrieves and collect → ack
 * cycles on one relay. The relays count rate limits (set too high to refuse): on PostgreSQL that is
 * a shared table, part of what a deposit costs; one relay is also measured with rate limits off, like
 * the one-INSERT server, which counts none. A throwaway cluster on loopback (scripts/postgres-cluster.ts).
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { startCluster } from "../../postgres-cluster.ts";
import { depositBodies, fetchRelayPem } from "../bodies.ts";
import { type BenchContext, keySlices } from "../context.ts";
import { figure, type ScenarioResult, summary } from "../figures.ts";
import type { LoadResult } from "../load.ts";
import { prefillLog, resetLog } from "../prefill.ts";
import { ROOT, type ServerProcess, startBaseline } from "../processes.ts";
import { ratios } from "../stats.ts";
import { timedDeposits } from "./deposits.ts";
import { loadLine, measureReads, readFigures, readPlan, readProofs, type ReadResult } from "./retrieve.ts";

const CONNECTIONS = 64;
/** Rate limits on, and never reached. */
const COUNTED_RATE_LIMITS = ["--deposit-rate-limit", "1000000000", "--read-rate-limit", "1000000000"];
/** Rate limits off: nothing counted. */
const NO_RATE_LIMITS = ["--deposit-rate-limit", "0", "--read-rate-limit", "0"];

/** `hivemind-rendezvous copy FROM TO` (to fill a database as a data dir is filled). */
async function copyStore(from: string, to: string): Promise<void> {
  const child = Bun.spawn([process.execPath, "main.ts", "copy", from, to], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [stderr, code] = await Promise.all([new Response(child.stderr).text(), child.exited]);
  if (code !== 0) throw new Error(`copy ${from} → database failed (${code}): ${stderr}`);
}

/** Two loads at once, half the connections each: their summed rate, the worse p99. */
async function splitLoad(context: BenchContext, servers: ServerProcess[], bodies: string[]): Promise<LoadResult> {
  const results = await Promise.all(servers.map((server) => timedDeposits(context, server, CONNECTIONS / servers.length, bodies)));
  const sum = (pick: (result: LoadResult) => number) => results.reduce((total, result) => total + pick(result), 0);
  return {
    ...results[0],
    requests: sum((result) => result.requests),
    rps: sum((result) => result.rps),
    p50: Math.max(...results.map((result) => result.p50)),
    p99: Math.max(...results.map((result) => result.p99)),
    max: Math.max(...results.map((result) => result.max)),
    non2xx: sum((result) => result.non2xx),
    errors: sum((result) => result.errors),
    serverCores: sum((result) => result.serverCores),
  };
}

/** Runs the scenario. */
export async function postgresScenario(context: BenchContext): Promise<ScenarioResult> {
  const cluster = await startCluster();
  if (!cluster) throw new Error("PostgreSQL is not installed (no pg_ctl)");
  const pool = depositBodies(keySlices(context.keys, 0).targets, 256);
  const { keys, prefill } = readPlan(context);
  const readDir = join(context.tmp, "postgres-reads");
  const readBytes = await prefillLog(readDir, prefill);
  const reads: Record<"embedded" | "relays1", ReadResult[]> = { embedded: [], relays1: [] };
  const results: Record<string, LoadResult[]> = {};
  const runs: Record<string, unknown>[] = [];
  const record = (name: string, run: number, result: LoadResult) => {
    (results[name] ??= []).push(result);
    runs.push({ name, run, ...summary(result) });
    context.log(loadLine(name, run, result));
  };
  /** Retrieves and collect → ack cycles on `relay` (stopped afterwards), its store holding the prefill. */
  const measureReadsOn = async (name: "embedded" | "relays1", run: number, relay: ServerProcess) => {
    try {
      const relayPem = await fetchRelayPem(relay.url);
      const read = await measureReads(context, relay, keys, await readProofs(context, keys, relayPem), relayPem);
      reads[name].push(read);
      record(`retrieve ${name}`, run, read.retrieve);
      record(`collectAck ${name}`, run, read.collectAck);
    } finally {
      await relay.stop();
    }
  };
  /** Measures `servers` together (one load, or two halves), then stops them. */
  const measure = async (name: string, run: number, servers: ServerProcess[]) => {
    try {
      record(name, run, servers.length === 1 ? await timedDeposits(context, servers[0], CONNECTIONS, pool) : await splitLoad(context, servers, pool));
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
  };
  try {
    for (let run = 1; run <= context.options.runs; run++) {
      const dataDir = (label: string) => join(context.tmp, `postgres-${label}-${run}`);
      await measure("embedded", run, [await context.relay("bun", dataDir("embedded"), "postgres-embedded", COUNTED_RATE_LIMITS)]);
      await rm(dataDir("embedded"), { recursive: true, force: true });
      for (const instances of [1, 2]) {
        const store = ["--store", await cluster.database(), ...COUNTED_RATE_LIMITS];
        const relays = [];
        for (let i = 0; i < instances; i++) relays.push(await context.relay("bun", dataDir(`relay${instances}-${i}`), `postgres-relay${instances}`, store));
        await measure(`relays${instances}`, run, relays);
      }
      const uncounted = ["--store", await cluster.database(), ...NO_RATE_LIMITS];
      await measure("relays1-uncounted", run, [await context.relay("bun", dataDir("relay1-uncounted"), "postgres-relay1-uncounted", uncounted)]);
      await measure("insert", run, [await startBaseline("insert", [await cluster.database()])]);
      await resetLog(readDir, readBytes);
      const readStore = await cluster.database();
      await copyStore(readDir, readStore);
      await measureReadsOn("embedded", run, await context.relay("bun", readDir, "postgres-reads-embedded", COUNTED_RATE_LIMITS));
      await measureReadsOn("relays1", run, await context.relay("bun", dataDir("reads"), "postgres-reads-relay1", ["--store", readStore, ...COUNTED_RATE_LIMITS]));
    }
  } finally {
    await cluster.drop();
    await rm(readDir, { recursive: true, force: true });
  }
  const rps = (name: string) => results[name].map((result) => result.rps);
  const p99 = (name: string) => results[name].map((result) => result.p99);
  /** The relay's (or the one-INSERT server's) own CPU per answered deposit, in µs; the database's is not in it. */
  const cpuPerRequest = (name: string) => results[name].map((result) => result.serverCores / result.rps * 1e6);
  const c = `c${CONNECTIONS}`;
  return {
    figures: {
      [`deposits/s embedded ${c}`]: figure("req/s", rps("embedded")),
      [`deposits/s postgres 1 relay ${c}`]: figure("req/s", rps("relays1")),
      [`deposits/s postgres 2 relays ${c}`]: figure("req/s", rps("relays2")),
      [`one INSERT per request req/s ${c}`]: figure("req/s", rps("insert")),
      [`postgres 1 relay/one INSERT per request ${c}`]: figure("ratio", ratios(rps("relays1"), rps("insert"))),
      [`deposits/s postgres 1 relay, rate limits off ${c}`]: figure("req/s", rps("relays1-uncounted")),
      [`postgres 1 relay, rate limits off/one INSERT per request ${c}`]: figure("ratio", ratios(rps("relays1-uncounted"), rps("insert"))),
      [`postgres 2 relays/one INSERT per request ${c}`]: figure("ratio", ratios(rps("relays2"), rps("insert"))),
      [`postgres 1 relay/embedded ${c}`]: figure("ratio", ratios(rps("relays1"), rps("embedded"))),
      [`deposit p99 embedded ${c}`]: figure("ms", p99("embedded")),
      [`deposit p99 postgres 1 relay ${c}`]: figure("ms", p99("relays1")),
      [`deposit p99 postgres 2 relays ${c}`]: figure("ms", p99("relays2")),
      [`one INSERT per request p99 ${c}`]: figure("ms", p99("insert")),
      [`server µs/deposit postgres 1 relay ${c}`]: figure("µs", cpuPerRequest("relays1")),
      [`server µs/deposit one INSERT per request ${c}`]: figure("µs", cpuPerRequest("insert")),
      ...readFigures(reads.embedded, "embedded"),
      ...readFigures(reads.relays1, "postgres 1 relay"),
      "retrieves postgres 1 relay/embedded": figure("ratio", ratios(reads.relays1.map((r) => r.retrieve.rps), reads.embedded.map((r) => r.retrieve.rps))),
      "collect+ack postgres 1 relay/embedded": figure("ratio", ratios(reads.relays1.map((r) => r.collectAck.rps), reads.embedded.map((r) => r.collectAck.rps))),
    },
    runs,
  };
}
