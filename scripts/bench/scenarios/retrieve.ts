/** Retrieves with fresh single-use proofs vs a verify-only server, then collect → ack cycles. */
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fetchRelayPem, intercomPayload, proofBodies } from "../bodies.ts";
import { type BenchContext, keySlices } from "../context.ts";
import { figure, type ScenarioResult, summary } from "../figures.ts";
import type { ClientKey } from "../keys.ts";
import { BodyPool, type LoadResult, postEach, runLoad, type Step } from "../load.ts";
import { metricValue } from "../metrics.ts";
import { prefillLog, resetLog } from "../prefill.ts";
import { type ServerProcess, startBaseline } from "../processes.ts";
import { ratios } from "../stats.ts";

const MESSAGES_PER_RETRIEVE_MAILBOX = 2;
const CONNECTIONS = 16;
const WARMUP_PROOFS = 1000;

/** Runs the scenario. */
export async function retrieveScenario(context: BenchContext): Promise<ScenarioResult> {
  const { options } = context;
  const keys = keySlices(context.keys, options.retrieveMailboxes);
  const perCollectMailbox = 2 * Math.ceil(options.collectPairs / keys.collect.length) + 10;
  const dir = join(context.tmp, "retrieve");
  const plan = [
    ...keys.retrieve.flatMap((key) => Array(MESSAGES_PER_RETRIEVE_MAILBOX).fill(key.mailbox)),
    ...keys.collect.flatMap((key) => Array(perCollectMailbox).fill(key.mailbox)),
  ];
  const bytes = await prefillLog(dir, { live: plan.length, mailboxes: plan, payload: intercomPayload(keys.collect[0].pem) });
  const results: Record<string, LoadResult[]> = { verify: [], retrieve: [], collectAck: [] };
  const delivered: number[] = [];
  const removed: number[] = [];
  const runs: Record<string, unknown>[] = [];
  let verify: ServerProcess | undefined;
  try {
    for (let run = 1; run <= options.runs; run++) {
      await resetLog(dir, bytes);
      const relay = await context.relay("bun", dir, "retrieve");
      try {
        const relayPem = await fetchRelayPem(relay.url);
        if (!verify) {
          await writeFile(join(context.tmp, "relay-pubkey.pem"), relayPem);
          verify = await startBaseline("verify", [join(context.tmp, "relay-pubkey.pem")]);
        }
        const timestamp = Math.floor(Date.now() / 1000) + 45; // fresh for the next ~100 s
        const signing = performance.now();
        const warm = await proofBodies(keys.warmup, relayPem, WARMUP_PROOFS, timestamp);
        const proofs = await proofBodies(keys.retrieve, relayPem, options.retrieveProofs, timestamp);
        context.log(`  signed ${warm.length + proofs.length} proofs in ${((performance.now() - signing) / 1000).toFixed(1)} s`);
        // The relay gets each proof once (they are single-use); the verify-only server, which keeps no
        // replay state, gets the same proofs over and over for the configured seconds.
        const timed = async (server: ServerProcess, singleUse: boolean) => {
          const load = { url: server.url, connections: CONNECTIONS };
          await runLoad({ ...load, amount: warm.length, steps: postEach("/retrieve", new BodyPool(warm, false)) });
          return await runLoad(singleUse
            ? { ...load, amount: proofs.length, steps: postEach("/retrieve", new BodyPool(proofs, false)), serverPid: server.pid }
            : { ...load, duration: options.seconds, steps: postEach("/retrieve", new BodyPool(proofs)), serverPid: server.pid });
        };
        const record = (name: string, result: LoadResult, extra: Record<string, number> = {}) => {
          results[name].push(result);
          runs.push({ name, run, ...summary(result), ...extra });
          context.log(`  ${name} run ${run}: ${result.rps.toFixed(0)} req/s, p99 ${result.p99.toFixed(2)} ms, server ${result.serverCores.toFixed(2)} cores, client ${result.clientCores.toFixed(2)}, other ${result.otherCores.toFixed(2)}, non2xx ${result.non2xx} ${JSON.stringify(extra)}`);
        };
        record("verify", await timed(verify, false));
        const before = await metricValue(relay.url, "rendezvous_delivered_total");
        const retrieved = await timed(relay, true);
        delivered.push((await metricValue(relay.url, "rendezvous_delivered_total") - before) / retrieved.requests);
        record("retrieve", retrieved, { deliveredPerRetrieve: delivered.at(-1)! });
        const cycle = await collectAckCycles(relay, relayPem, keys.collect, options.collectPairs);
        removed.push(cycle.removedPerAck);
        record("collectAck", cycle.result, { removedPerAck: cycle.removedPerAck });
      } finally {
        await relay.stop();
      }
    }
  } finally {
    await verify?.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const rps = (name: string) => results[name].map((result) => result.rps);
  return {
    figures: {
      "verify-only req/s": figure("req/s", rps("verify")),
      "retrieves/s": figure("req/s", rps("retrieve")),
      "retrieves/verify-only": figure("ratio", ratios(rps("retrieve"), rps("verify"))),
      "server µs/retrieve": figure("µs", results.retrieve.map((result) => result.serverCores / result.rps * 1e6)),
      "server µs/request verify-only": figure("µs", results.verify.map((result) => result.serverCores / result.rps * 1e6)),
      "retrieve p99": figure("ms", results.retrieve.map((result) => result.p99)),
      "messages per retrieve": figure("msgs", delivered),
      "collect+ack cycles/s": figure("cycles/s", rps("collectAck").map((value) => value / 2)),
      "collect/ack p99": figure("ms", results.collectAck.map((result) => result.p99)),
      "messages removed per ack": figure("msgs", removed),
    },
    runs,
  };
}

/** `pairs` cycles of POST /collect (limit 1) then POST /ack of what it returned, round-robin over `keys`. */
async function collectAckCycles(relay: ServerProcess, relayPem: string, keys: ClientKey[], pairs: number) {
  const perKey = 2 * Math.ceil(pairs / keys.length) + 2;
  const proofs = await proofBodies(keys, relayPem, perKey * keys.length, Math.floor(Date.now() / 1000) + 45);
  const used = new Array(keys.length).fill(0);
  const nextProof = (key: number, field: string) => proofs[used[key]++ * keys.length + key].slice(0, -1) + `,${field}}`;
  let cycles = 0;
  let removed = 0;
  let acks = 0;
  const steps: Step[] = [
    {
      request: (context) => {
        context.key = cycles++ % keys.length;
        return { method: "POST", path: "/collect", body: nextProof(context.key as number, `"limit":1`) };
      },
      onResponse: (status, body, context) => {
        context.ids = status === 200 ? (JSON.parse(body).messages as { deposit_id: string }[]).map((message) => message.deposit_id) : [];
      },
    },
    {
      request: (context) => ({ method: "POST", path: "/ack", body: nextProof(context.key as number, `"deposit_ids":${JSON.stringify(context.ids ?? [])}`) }),
      onResponse: (status, body) => {
        acks++;
        if (status === 200) removed += JSON.parse(body).removed;
      },
    },
  ];
  const result = await runLoad({ url: relay.url, connections: CONNECTIONS, amount: 2 * pairs, steps, serverPid: relay.pid });
  return { result, removedPerAck: removed / acks };
}
