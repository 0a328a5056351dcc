/**
 * `bun scripts/bench-request-cpu.ts [deposit|retrieve] [COUNT]`: the relay's own CPU per request,
 * in-process, with no HTTP server: the app function called with web Requests, 64 at a time, on a
 * durable store (so commits group as they do under load; the fsync's kernel CPU is counted too).
 * `retrieve` sends single-use proofs for empty mailboxes (signed beforehand, not counted): the proof's
 * cost around its RSA verify. Runs under Deno too (`deno run -A`); under `bun --cpu-prof-md` or
 * `deno run --cpu-prof` it shows where a request's CPU goes. The user-mode part is printed apart: it is the
 * relay's own code, and other load on the machine disturbs it less than the kernel's share (writes, fsync).
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../lib/app.ts";
import { signProof } from "../lib/client/identity.ts";
import { importPrivateKey } from "../lib/client/keys.ts";
import { parseConfig } from "../lib/config.ts";
import { PSS } from "../lib/crypto/rsa-params.ts";
import { openMessageStore } from "../lib/store/open-store.ts";
import { depositBodies } from "./bench/bodies.ts";

const kind = process.argv[2] === "retrieve" ? "retrieve" : "deposit";
const COUNT = Number(process.argv[3] ?? (kind === "deposit" ? 20_000 : 4_000));
const CONCURRENCY = 64;
const ROUNDS = 5;

const vectors = JSON.parse(await readFile(join(import.meta.dirname!, "..", "test", "vectors", "keys.json"), "utf8"));
const clients = [vectors.keys.alice, vectors.keys.bob];
const relayPem: string = vectors.keys.relay.public_spki_pem;

/** Each round's request bodies: reusable deposits, or fresh proofs (they are single-use). */
async function roundBodies(): Promise<string[][]> {
  if (kind === "deposit") {
    const bodies = depositBodies(clients.map((key) => ({ pem: key.public_spki_pem, mailbox: "", signKey: null as never })), 256);
    return Array.from({ length: ROUNDS }, () => Array.from({ length: COUNT }, (_, i) => bodies[i % bodies.length]));
  }
  const signers = await Promise.all(clients.map((key) => importPrivateKey(key.private_pkcs1_pem, PSS)));
  const timestamp = Math.floor(Date.now() / 1000) + 30;
  const proof = async (i: number) => {
    const pubkey = clients[i % clients.length].public_spki_pem;
    return JSON.stringify({ pubkey, timestamp, signature: await signProof(signers[i % signers.length], pubkey, relayPem, timestamp) });
  };
  return await Promise.all(Array.from({ length: ROUNDS }, (_, round) => Promise.all(Array.from({ length: COUNT }, (_, i) => proof(round * COUNT + i)))));
}

const rounds = await roundBodies();
const dataDir = await mkdtemp(join(tmpdir(), "rendezvous-request-cpu-"));
try {
  const invocation = parseConfig(["--deposit-rate-limit", "0", "--read-rate-limit", "0", "--mailbox-max-messages", "1000000"], {});
  if (invocation.action !== "serve") throw new Error("unreachable");
  const clock = () => Math.floor(Date.now() / 1000);
  const store = await openMessageStore(dataDir, {
    maxStoreBytes: 2 ** 50, maxMessages: 10_000_000, mailboxMaxMessages: 10_000_000, durable: true,
    sweepIntervalSeconds: 0, clock, log: () => {},
  });
  const app = createApp({
    config: invocation.config, store, relayPubkey: relayPem, version: "bench", log: () => {},
  });
  const perRequest: number[] = [];
  const userPerRequest: number[] = [];
  for (const bodies of rounds) {
    let sent = 0;
    const worker = async () => {
      while (sent < bodies.length) {
        const body = bodies[sent++];
        const headers = { "content-type": "application/json", "content-length": String(body.length) };
        const response = await app(new Request(`http://127.0.0.1/${kind}`, { method: "POST", headers, body }), "127.0.0.1");
        if (response.status !== 200) throw new Error(`${kind} answered ${response.status}: ${await response.text()}`);
        await response.arrayBuffer();
      }
    };
    const cpu = process.cpuUsage();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const used = process.cpuUsage(cpu);
    perRequest.push((used.user + used.system) / bodies.length);
    userPerRequest.push(used.user / bodies.length);
  }
  const spread = (values: number[]) => {
    values.sort((a, b) => a - b);
    return `median ${values[ROUNDS >> 1].toFixed(1)} µs (min ${values[0].toFixed(1)}, max ${values[ROUNDS - 1].toFixed(1)})`;
  };
  const { commits } = store.stats();
  const perCommit = kind === "deposit" ? `; ${(ROUNDS * COUNT / commits).toFixed(1)} deposits per commit` : "";
  console.log(`CPU per ${kind} over ${ROUNDS} rounds of ${COUNT}: ${spread(perRequest)}; user mode ${spread(userPerRequest)}${perCommit}`);
  await store.close();
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
