/**
 * `bun scripts/bench-request-cpu.ts [DEPOSITS]`: the relay's own CPU per deposit, in-process, with no
 * HTTP server: the app function called with web Requests, 64 at a time, on a durable store (so commits
 * group as they do under load; the fsync's kernel CPU is counted too). Run it under `bun --cpu-prof-md` to see where a deposit's CPU goes.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../lib/app.ts";
import { parseConfig } from "../lib/config.ts";
import { openMessageStore } from "../lib/store/open-store.ts";
import { depositBodies } from "./bench/bodies.ts";

const DEPOSITS = Number(process.argv[2] ?? 200_000);
const CONCURRENCY = 64;
const ROUNDS = 5;

const vectors = JSON.parse(await readFile(join(import.meta.dir, "..", "test", "vectors", "keys.json"), "utf8"));
const targets = [vectors.keys.alice, vectors.keys.bob].map((key) => ({ pem: key.public_spki_pem as string, mailbox: "", signKey: null as never }));
const bodies = depositBodies(targets, 256);
const dataDir = await mkdtemp(join(tmpdir(), "rendezvous-request-cpu-"));
try {
  const invocation = parseConfig(["--deposit-rate-limit", "0", "--mailbox-max-messages", "1000000"], {});
  if (invocation.action !== "serve") throw new Error("unreachable");
  const clock = () => Math.floor(Date.now() / 1000);
  const store = await openMessageStore(dataDir, {
    maxStoreBytes: 2 ** 50, maxMessages: 10_000_000, mailboxMaxMessages: 10_000_000, durable: true,
    sweepIntervalSeconds: 0, clock, log: () => {},
  });
  const app = createApp({ config: invocation.config, store, relayPubkey: vectors.keys.relay.public_spki_pem, log: () => {} });
  const headers = { "content-type": "application/json", "content-length": String(bodies[0].length) };
  let sent = 0;
  const worker = async () => {
    while (sent < DEPOSITS) {
      const body = bodies[sent++ % bodies.length];
      const response = await app(new Request("http://127.0.0.1/deposit", { method: "POST", headers, body }), "127.0.0.1");
      if (response.status !== 200) throw new Error(`deposit answered ${response.status}: ${await response.text()}`);
      await response.arrayBuffer();
    }
  };
  const perDeposit: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    sent = 0;
    const cpu = process.cpuUsage();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const used = process.cpuUsage(cpu);
    perDeposit.push((used.user + used.system) / DEPOSITS);
  }
  perDeposit.sort((a, b) => a - b);
  console.log(`CPU per deposit over ${ROUNDS} rounds of ${DEPOSITS}: median ${perDeposit[ROUNDS >> 1].toFixed(1)} µs (min ${perDeposit[0].toFixed(1)}, max ${perDeposit[ROUNDS - 1].toFixed(1)})`);
  await store.close();
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
