/** Retrieves, then collects (with their acks), with fresh single-use proofs vs a verify-only server in turns; and collect → ack cycles. */
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { depositBodies, fetchRelayPem, intercomPayload, proofBodies } from "../bodies.ts";
import { type BenchContext, keySlices } from "../context.ts";
import { figure, type ScenarioResult, summary } from "../figures.ts";
import type { ClientKey } from "../keys.ts";
import { BodyPool, type LoadResult, postEach, postEachOnce, processCpuSeconds, runLoad, type Step } from "../load.ts";
import { metricValue } from "../metrics.ts";
import { prefillLog, resetLog } from "../prefill.ts";
import { type ServerProcess, startBaseline } from "../processes.ts";
import { ratios } from "../stats.ts";
import { combined, cpuPerRequest, inTurns } from "../turns.ts";

const MESSAGES_PER_RETRIEVE_MAILBOX = 2;
/** Acks each retrieve-mailbox key may send in the collect turns (two connections may collect the same messages). */
const ACK_PROOFS_PER_KEY = 4;
const CONNECTIONS = 16;
/** The timed proofs go out in this many turns per server (see {@link retrievesInTurns}). */
const TURNS = 6;

/** The mailboxes the reads target, and a prefill plan that fills them (see prefill.ts). */
export function readPlan(context: BenchContext) {
  const keys = keySlices(context.keys, context.options.retrieveMailboxes);
  const perCollectMailbox = 2 * Math.ceil(context.options.collectPairs / keys.collect.length) + 10;
  const mailboxes = [
    ...keys.retrieve.flatMap((key) => Array(MESSAGES_PER_RETRIEVE_MAILBOX).fill(key.mailbox)),
    ...keys.collect.flatMap((key) => Array(perCollectMailbox).fill(key.mailbox)),
  ];
  return { keys, prefill: { live: mailboxes.length, mailboxes, payload: intercomPayload(keys.collect[0].pem) } };
}

/**
 * Signed proofs for one relay's run: a warm-up set, as many as the deposits' warm-up (`warmupRequests`:
 * a fresh relay's JIT compilers work through its first thousands of requests), and the timed set (each used once).
 */
export async function readProofs(context: BenchContext, keys: ReturnType<typeof keySlices>, relayPem: string) {
  const timestamp = Math.floor(Date.now() / 1000) + 45; // fresh for the next ~100 s
  const signing = performance.now();
  const warm = await proofBodies(keys.warmup, relayPem, context.options.warmupRequests, timestamp);
  const proofs = await proofBodies(keys.retrieve, relayPem, context.options.retrieveProofs, timestamp);
  context.log(`  signed ${warm.length + proofs.length} proofs in ${((performance.now() - signing) / 1000).toFixed(1)} s`);
  return { warm, proofs };
}

/** The warm-up both servers get: each warm-up proof once. */
async function warmUp(server: ServerProcess, warm: string[]): Promise<void> {
  await postEachOnce(server, "/retrieve", warm, CONNECTIONS);
}

/** A relay, after the warm-up: each proof once (they are single-use); also the server CPU per retrieve over the second half. */
async function singleUseRetrieves(relay: ServerProcess, signed: { warm: string[]; proofs: string[] }): Promise<TimedRetrieves> {
  await warmUp(relay, signed.warm);
  const pool = new HalvedProofPool(signed.proofs, relay.pid);
  const result = await runLoad({ url: relay.url, connections: CONNECTIONS, amount: signed.proofs.length, steps: postEach("/retrieve", pool), serverPid: relay.pid });
  return { result, warmMicroseconds: pool.warmMicroseconds() };
}

/**
 * A pool of single-use proofs that notes the server's CPU seconds when the second half of them starts
 * going out (up to CONNECTIONS proofs of the first half may still be in flight then): the second half's
 * CPU per retrieve is the cost once whatever warm-up the first half still gave is done.
 */
class HalvedProofPool extends BodyPool {
  #taken = 0;
  cpuAtHalf = NaN;

  constructor(proofs: string[], readonly serverPid: number) {
    super(proofs, false);
  }

  override next(): string {
    if (this.#taken++ === this.half) this.cpuAtHalf = processCpuSeconds(this.serverPid);
    return super.next();
  }

  /** How many proofs the first half has: the second starts at this index. */
  get half(): number {
    return this.bodies.length >> 1;
  }

  /** Server CPU µs per retrieve over the second half, read once the run is over (the server is idle then). */
  warmMicroseconds(): number {
    return (processCpuSeconds(this.serverPid) - this.cpuAtHalf) / (this.bodies.length - this.half) * 1e6;
  }
}

/** Timed retrieves on one server, and its CPU µs per retrieve once warm (see HalvedProofPool). */
interface TimedRetrieves {
  result: LoadResult;
  warmMicroseconds: number;
}

/**
 * Retrieves on the relay and on the verify-only server in turns (see turns.ts), after the same warm-up:
 * the timed proofs go out in {@link TURNS} batches, each to both servers (each proof once to each: the
 * verify-only server remembers none).
 */
async function retrievesInTurns(context: BenchContext, relay: ServerProcess, verify: ServerProcess, signed: { warm: string[]; proofs: string[] }) {
  await warmUp(verify, signed.warm);
  await warmUp(relay, signed.warm);
  const size = Math.ceil(signed.proofs.length / TURNS);
  const [relayTurns, verifyTurns] = await inTurns([relay, verify], TURNS, (turn) => signed.proofs.slice(turn * size, (turn + 1) * size), (server, proofs) =>
    postEachOnce(server, "/retrieve", proofs, CONNECTIONS));
  context.log(`  server µs per retrieve, turn by turn: ${perTurnCpu(relayTurns, verifyTurns)}`);
  const timed = (results: LoadResult[]): TimedRetrieves => ({ result: combined(results), warmMicroseconds: cpuPerRequest(results.slice(TURNS >> 1)) });
  return { relay: timed(relayTurns), verify: timed(verifyTurns) };
}

/**
 * Collects on the relay and on the verify-only server in turns, as the retrieves go (see
 * {@link retrievesInTurns}): each of the turns' proofs once to each server (without a limit: up to 100
 * messages an answer), after the retrieve mailboxes were given {@link MESSAGES_PER_RETRIEVE_MAILBOX} messages
 * each again. A collect that finds messages is followed by their ack, with a proof of its own (in place of
 * the turn's next collect: every turn sends each server the same number of requests), so the
 * relay's first turn delivers them as its first turn of retrieves did, and the later ones find none.
 */
async function collectsInTurns(context: BenchContext, relay: ServerProcess, verify: ServerProcess, keys: ClientKey[], relayPem: string) {
  await postEachOnce(relay, "/deposit", depositBodies(keys, keys.length * MESSAGES_PER_RETRIEVE_MAILBOX), CONNECTIONS);
  const timestamp = Math.floor(Date.now() / 1000) + 45;
  const collects = await proofBodies(keys, relayPem, context.options.retrieveProofs, timestamp);
  // Proofs for acks, ACK_PROOFS_PER_KEY per key: proof `n * keys.length + k` is key k's n-th (proofBodies goes round-robin).
  const ackProofs = await proofBodies(keys, relayPem, ACK_PROOFS_PER_KEY * keys.length, timestamp);
  const acksSent = new Array(keys.length).fill(0);
  const size = Math.ceil(collects.length / TURNS);
  const turn = (server: ServerProcess, first: number) => {
    let next = first;
    // What collects found, acked by the next request any connection sends.
    const found: { key: number; ids: string[] }[] = [];
    const step: Step = {
      request: (request) => {
        const ack = found.shift();
        if (ack && acksSent[ack.key] < ACK_PROOFS_PER_KEY) {
          const proof = ackProofs[acksSent[ack.key]++ * keys.length + ack.key];
          return { method: "POST", path: "/ack", body: `${proof.slice(0, -1)},"deposit_ids":${JSON.stringify(ack.ids)}}` };
        }
        request.key = next % keys.length;
        return { method: "POST", path: "/collect", body: collects[next++] };
      },
      onResponse: (status, body, request) => {
        if (status !== 200 || request.key === undefined) return;
        const ids = (JSON.parse(body).messages as { deposit_id: string }[]).map((message) => message.deposit_id);
        if (ids.length > 0) found.push({ key: request.key as number, ids });
      },
    };
    return runLoad({ url: server.url, connections: CONNECTIONS, amount: Math.min(size, collects.length - first), steps: [step], serverPid: server.pid });
  };
  const [relayTurns, verifyTurns] = await inTurns([relay, verify], TURNS, (index) => index * size, turn);
  context.log(`  server µs per collect or ack, turn by turn: ${perTurnCpu(relayTurns, verifyTurns)}`);
  return { relay: combined(relayTurns), verify: combined(verifyTurns), acks: acksSent.reduce((sum, sent) => sum + sent, 0) };
}

/** The relay's and the verify-only server's CPU µs per request, turn by turn, for a progress line. */
function perTurnCpu(relayTurns: LoadResult[], verifyTurns: LoadResult[]): string {
  const perTurn = (results: LoadResult[]) => results.map((result) => cpuPerRequest([result]).toFixed(0)).join(", ");
  return `relay ${perTurn(relayTurns)}; verify-only ${perTurn(verifyTurns)}`;
}

/** What the reads measured on one relay. */
export interface ReadResult {
  retrieve: LoadResult;
  /** Server CPU µs per retrieve over the second half of the proofs, once the JIT has warmed up. */
  warmMicrosecondsPerRetrieve: number;
  deliveredPerRetrieve: number;
  collectAck: LoadResult;
  removedPerAck: number;
}

/**
 * Timed retrieves with single-use proofs (by `retrieves`: the relay alone, unless told otherwise), then
 * collect → ack cycles, on a relay whose store holds `readPlan`'s messages.
 */
export async function measureReads(
  context: BenchContext,
  relay: ServerProcess,
  keys: ReturnType<typeof keySlices>,
  signed: { warm: string[]; proofs: string[] },
  relayPem: string,
  retrieves = () => singleUseRetrieves(relay, signed),
): Promise<ReadResult> {
  const before = await metricValue(relay.url, "rendezvous_delivered_total");
  const { result: retrieve, warmMicroseconds } = await retrieves();
  const deliveredPerRetrieve = (await metricValue(relay.url, "rendezvous_delivered_total") - before) / retrieve.requests;
  const cycle = await collectAckCycles(relay, relayPem, keys.collect, context.options.collectPairs);
  return { retrieve, warmMicrosecondsPerRetrieve: warmMicroseconds, deliveredPerRetrieve, collectAck: cycle.result, removedPerAck: cycle.removedPerAck };
}

/** The figures of a list of ReadResult, named with `label` (empty for the relay on its embedded log). */
export function readFigures(reads: ReadResult[], label = ""): ScenarioResult["figures"] {
  const name = (what: string) => label ? `${what} ${label}` : what;
  return {
    [name("retrieves/s")]: figure("req/s", reads.map((read) => read.retrieve.rps)),
    [name("server µs/retrieve")]: figure("µs", reads.map((read) => read.retrieve.serverCores / read.retrieve.rps * 1e6)),
    [name("server µs/retrieve, second half")]: figure("µs", reads.map((read) => read.warmMicrosecondsPerRetrieve)),
    [name("retrieve p99")]: figure("ms", reads.map((read) => read.retrieve.p99)),
    [name("messages per retrieve")]: figure("msgs", reads.map((read) => read.deliveredPerRetrieve)),
    [name("collect+ack cycles/s")]: figure("cycles/s", reads.map((read) => read.collectAck.rps / 2)),
    [name("collect/ack p99")]: figure("ms", reads.map((read) => read.collectAck.p99)),
    [name("messages removed per ack")]: figure("msgs", reads.map((read) => read.removedPerAck)),
  };
}

/** A progress line for a measured load. */
export function loadLine(name: string, run: number, result: LoadResult, extra: Record<string, number> = {}): string {
  return `  ${name} run ${run}: ${result.rps.toFixed(0)} req/s, p99 ${result.p99.toFixed(2)} ms, server ${result.serverCores.toFixed(2)} cores, client ${result.clientCores.toFixed(2)}, other ${result.otherCores.toFixed(2)}, non2xx ${result.non2xx} ${JSON.stringify(extra)}`;
}

/** Runs the scenario. */
export async function retrieveScenario(context: BenchContext): Promise<ScenarioResult> {
  const { options } = context;
  const { keys, prefill } = readPlan(context);
  const dir = join(context.tmp, "retrieve");
  const bytes = await prefillLog(dir, prefill);
  const verified: LoadResult[] = [];
  const reads: ReadResult[] = [];
  const collects: Awaited<ReturnType<typeof collectsInTurns>>[] = [];
  const runs: Record<string, unknown>[] = [];
  const record = (name: string, run: number, result: LoadResult, extra: Record<string, number> = {}) => {
    runs.push({ name, run, ...summary(result), ...extra });
    context.log(loadLine(name, run, result, extra));
  };
  try {
    for (let run = 1; run <= options.runs; run++) {
      await resetLog(dir, bytes);
      // Both servers fresh for each run, so that neither has had more warm-up than the other.
      const relay = await context.relay("bun", dir, "retrieve");
      let verify: ServerProcess | undefined;
      try {
        const relayPem = await fetchRelayPem(relay.url);
        await writeFile(join(context.tmp, "relay-pubkey.pem"), relayPem);
        verify = await startBaseline("verify", [join(context.tmp, "relay-pubkey.pem")]);
        const signed = await readProofs(context, keys, relayPem);
        const read = await measureReads(context, relay, keys, signed, relayPem, async () => {
          const turns = await retrievesInTurns(context, relay, verify!, signed);
          verified.push(turns.verify.result);
          return turns.relay;
        });
        record("verify", run, verified.at(-1)!);
        reads.push(read);
        record("retrieve", run, read.retrieve, { deliveredPerRetrieve: read.deliveredPerRetrieve, warmMicrosecondsPerRetrieve: read.warmMicrosecondsPerRetrieve });
        record("collectAck", run, read.collectAck, { removedPerAck: read.removedPerAck });
        const collectTurns = await collectsInTurns(context, relay, verify, keys.retrieve, relayPem);
        collects.push(collectTurns);
        record("collect verify", run, collectTurns.verify);
        record("collect", run, collectTurns.relay, { acks: collectTurns.acks });
      } finally {
        await relay.stop();
        await verify?.stop();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const verifyRates = verified.map((result) => result.rps);
  return {
    figures: {
      "verify-only req/s": figure("req/s", verifyRates),
      "retrieves/verify-only": figure("ratio", ratios(reads.map((read) => read.retrieve.rps), verifyRates)),
      "collects/verify-only": figure("ratio", ratios(collects.map(({ relay }) => relay.rps), collects.map(({ verify }) => verify.rps))),
      // Every collect of these cycles reads a message and every ack removes one durably; on the relay alone, after the turns.
      "collect+ack cycle requests/verify-only": figure("ratio", ratios(reads.map((read) => read.collectAck.rps), verifyRates)),
      "server µs/request verify-only": figure("µs", verified.map((result) => result.serverCores / result.rps * 1e6)),
      ...readFigures(reads),
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
