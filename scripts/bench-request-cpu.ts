/**
 * `bun scripts/bench-request-cpu.ts [deposit|retrieve] [COUNT] [CHECKOUT ...]`: the relay's own CPU per
 * request, in-process, with no HTTP server: the app function called with web Requests, 64 at a time, on a
 * durable store (so commits group as they do under load; the fsync's kernel CPU is counted too).
 * `retrieve` sends single-use proofs for empty mailboxes (signed beforehand, not counted; the relay's
 * clock stays at their timestamp): the proof's cost around its RSA verify. Runs under Deno too
 * (`deno run -A --v8-flags=--expose-gc`); under `bun --cpu-prof-md` or `deno run --cpu-prof` it shows where a
 * request's CPU goes. The user-mode part is printed apart: it is the relay's own code, and other load on
 * the machine disturbs it less than the kernel's share (writes, fsync).
 *
 * With CHECKOUTs (this one by default; each needs its node_modules), each gets its own app and store in
 * this process, and the rounds go to them in turn, the first alternating: each is printed with the median
 * of its rounds' ratios to the first's, which resolves a few per cent where runs one after another do not.
 * `ROUNDS` (5) in the environment; `WITHOUT_RSA=1` answers every signature check true at once, leaving the
 * relay's own CPU around it, which the verify's (on other threads, noisier) otherwise hides; `KEYS=N` signs
 * the proofs with N client keys (the benchmark's cached ones) instead of the two test vectors' keys.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { signProof } from "../lib/client/identity.ts";
import { importPrivateKey } from "../lib/client/keys.ts";
import { PSS } from "../lib/crypto/rsa-params.ts";
import { depositBodies } from "./bench/bodies.ts";
import { loadClientKeys } from "./bench/keys.ts";

const [kindArgument, countArgument, ...checkoutArguments] = process.argv.slice(2);
const kind = kindArgument === "retrieve" ? "retrieve" : "deposit";
const COUNT = Number(countArgument ?? (kind === "deposit" ? 20_000 : 4_000));
const ROOT = join(import.meta.dirname!, "..");
const checkouts = checkoutArguments.length ? checkoutArguments.map((checkout) => resolve(checkout)) : [ROOT];
const CONCURRENCY = 64;
const ROUNDS = Number(process.env.ROUNDS ?? 5);
if (process.env.WITHOUT_RSA === "1") crypto.subtle.verify = () => Promise.resolve(true);

const vectors = JSON.parse(await readFile(join(ROOT, "test", "vectors", "keys.json"), "utf8"));
const clients = [vectors.keys.alice, vectors.keys.bob];
const relayPem: string = vectors.keys.relay.public_spki_pem;
/** The proofs' timestamp, and the relays' clock throughout: no proof goes stale however long the run. */
const NOW = Math.floor(Date.now() / 1000);

/** Each round's request bodies, as bytes (as a server reads them): reusable deposits, or fresh proofs (single-use, but each app has its own guard). */
async function roundBodies(): Promise<Uint8Array[][]> {
  const utf8 = new TextEncoder();
  return (await roundTexts()).map((bodies) => bodies.map((body) => utf8.encode(body)));
}

/** Each round's request bodies as text. */
async function roundTexts(): Promise<string[][]> {
  if (kind === "deposit") {
    const bodies = depositBodies(clients.map((key) => ({ pem: key.public_spki_pem, mailbox: "", signKey: null as never })), 256);
    return Array.from({ length: ROUNDS }, () => Array.from({ length: COUNT }, (_, i) => bodies[i % bodies.length]));
  }
  const signers = process.env.KEYS
    ? await loadClientKeys(Number(process.env.KEYS), join(ROOT, "bench-results", ".cache", "client-keypairs-2048.json"))
    : await Promise.all(clients.map(async (key) => ({ pem: key.public_spki_pem as string, signKey: await importPrivateKey(key.private_pkcs1_pem, PSS) })));
  const proof = async (i: number) => {
    const { pem: pubkey, signKey } = signers[i % signers.length];
    return JSON.stringify({ pubkey, timestamp: NOW, signature: await signProof(signKey, pubkey, relayPem, NOW) });
  };
  return await Promise.all(Array.from({ length: ROUNDS }, (_, round) => Promise.all(Array.from({ length: COUNT }, (_, i) => proof(round * COUNT + i)))));
}

/** A checkout's relay in this process: its app on a durable store in a temp dir, and its rounds' CPU µs per request. */
async function openRelay(checkout: string) {
  const { createApp } = await import(join(checkout, "lib", "app.ts"));
  const { parseConfig } = await import(join(checkout, "lib", "config.ts"));
  const { openMessageStore } = await import(join(checkout, "lib", "store", "open-store.ts"));
  const invocation = parseConfig(["--deposit-rate-limit", "0", "--read-rate-limit", "0", "--mailbox-max-messages", "1000000"], {});
  const dataDir = await mkdtemp(join(tmpdir(), "rendezvous-request-cpu-"));
  const clock = () => NOW;
  const store = await openMessageStore(dataDir, {
    maxStoreBytes: 2 ** 50, maxMessages: 10_000_000, mailboxMaxMessages: 10_000_000, durable: true,
    sweepIntervalSeconds: 0, clock, log: () => {},
  });
  const app = createApp({ config: invocation.config, store, relayPubkey: relayPem, version: "bench", runtime: "bench", log: () => {}, clock });
  return { checkout, app, store, dataDir, perRequest: [] as number[], userPerRequest: [] as number[] };
}

/** Sends `bodies` to `app`, CONCURRENCY at a time; throws on any answer but 200. */
async function send(app: (request: Request, peer: () => string) => Promise<Response>, bodies: Uint8Array[]): Promise<void> {
  let sent = 0;
  const worker = async () => {
    while (sent < bodies.length) {
      const body = bodies[sent++];
      const headers = { "content-type": "application/json", "content-length": String(body.length) };
      const response = await app(new Request(`http://127.0.0.1/${kind}`, { method: "POST", headers, body }), () => "127.0.0.1");
      if (response.status !== 200) throw new Error(`${kind} answered ${response.status}: ${await response.text()}`);
      await response.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

/** A full collection, where the runtime allows one: each round starts without the one before's garbage. */
function collectGarbage(): void {
  const global = globalThis as { Bun?: { gc(force: boolean): void }; gc?: () => void };
  if (global.Bun) global.Bun.gc(true);
  else global.gc?.();
}

const rounds = await roundBodies();
const relays: Awaited<ReturnType<typeof openRelay>>[] = [];
try {
  for (const checkout of checkouts) relays.push(await openRelay(checkout));
  for (const [round, bodies] of rounds.entries()) {
    for (const relay of round % 2 ? [...relays].reverse() : relays) {
      collectGarbage();
      const cpu = process.cpuUsage();
      await send(relay.app, bodies);
      const used = process.cpuUsage(cpu);
      relay.perRequest.push((used.user + used.system) / bodies.length);
      relay.userPerRequest.push(used.user / bodies.length);
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
  const spread = (values: number[]) => `median ${median(values).toFixed(1)} µs (min ${Math.min(...values).toFixed(1)}, max ${Math.max(...values).toFixed(1)})`;
  for (const relay of relays) {
    const { commits } = relay.store.stats();
    const perCommit = kind === "deposit" ? `; ${(ROUNDS * COUNT / commits).toFixed(1)} deposits per commit` : "";
    const ratio = relays.length > 1 ? `; ÷ the first, median of the rounds' ratios ${median(relay.perRequest.map((cpu, round) => cpu / relays[0].perRequest[round])).toFixed(3)}` : "";
    const name = relays.length > 1 ? `${relay.checkout}: ` : "";
    console.log(`${name}CPU per ${kind} over ${ROUNDS} rounds of ${COUNT}: ${spread(relay.perRequest)}; user mode ${spread(relay.userPerRequest)}${perCommit}${ratio}`);
  }
} finally {
  for (const relay of relays) {
    await relay.store.close();
    await rm(relay.dataDir, { recursive: true, force: true });
  }
}
