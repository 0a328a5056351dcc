/**
 * Relay checkouts (or a baseline server) side by side, under one load that alternates between them in
 * blocks, which server goes first alternating: a slow stretch of this VM falls on all of them alike,
 * where runs one after another differ by more than most changes (docs/performance.md). Prints, per
 * server, the CPU per request of its main thread and of all its threads, and its requests/s with the
 * ratio to the first server's over all blocks and the median of the blocks' ratios; for a relay, also the
 * requests per commit of its log.
 *
 * `bun scripts/bench-ab.ts deposit|retrieve BLOCKS NAME=[deno:]CHECKOUT|echo|verify ...`, e.g.
 * `bun scripts/bench-ab.ts retrieve 12 before=../old after=. verify=verify` (a CHECKOUT needs its node_modules;
 * `deno:` runs that server under Deno, `echo` being the minimal durable server).
 * Deposits: 64 connections, 1 KiB payloads; retrieves: 16 connections, each proof once to each server.
 * `BLOCK` (requests per block, 4000), `WARM` (warm-up requests per server, 20000), `KEYS` (client keys, 64;
 * the retrieve scenario has 512) and `CONNECTIONS` in the environment.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { depositBodies, proofBodies } from "./bench/bodies.ts";
import { loadClientKeys } from "./bench/keys.ts";
import { postEachOnce, processCpuSeconds } from "./bench/load.ts";
import { metricValue } from "./bench/metrics.ts";
import { ROOT, type ServerProcess, startBaseline, startRelay } from "./bench/processes.ts";
import { percentile } from "./bench/stats.ts";
import { combined, cpuPerRequest, inTurns } from "./bench/turns.ts";

const [kind, blocksArgument, ...specs] = process.argv.slice(2);
const blocks = Number(blocksArgument);
if ((kind !== "deposit" && kind !== "retrieve") || !(blocks >= 1) || specs.length < 2 || specs.some((spec) => !spec.includes("="))) {
  console.error("usage: bun scripts/bench-ab.ts deposit|retrieve BLOCKS NAME=[deno:]CHECKOUT|echo|verify NAME=... (two or more)");
  process.exit(2);
}
const BLOCK = Number(process.env.BLOCK ?? 4000);
const WARM = Number(process.env.WARM ?? 20_000);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? (kind === "deposit" ? 64 : 16));

const tmp = await mkdtemp(join(tmpdir(), "rendezvous-bench-ab-"));
const servers: { name: string; server: ServerProcess }[] = [];
try {
  const vectors = JSON.parse(await readFile(join(ROOT, "test", "vectors", "keys.json"), "utf8"));
  const relayPem: string = vectors.keys.relay.public_spki_pem;
  const nodeKey = join(tmp, "relay_key.pem");
  await writeFile(nodeKey, vectors.keys.relay.private_pkcs1_pem, { mode: 0o600 });
  await writeFile(join(tmp, "relay-pubkey.pem"), relayPem);
  const keys = await loadClientKeys(Number(process.env.KEYS ?? 64), join(ROOT, "bench-results", ".cache", "client-keypairs-2048.json"));
  for (const spec of specs) {
    const [name, target] = spec.split("=", 2);
    const [runtime, what] = target.startsWith("deno:") ? ["deno" as const, target.slice(5)] : ["bun" as const, target];
    const server = what === "echo" ? await startBaseline("echo", [join(tmp, `${name}.jsonl`)], runtime)
      : what === "verify" ? await startBaseline("verify", [join(tmp, "relay-pubkey.pem")], runtime)
      : await startRelay({ runtime, dataDir: join(tmp, name), nodeKey, checkout: resolve(what) });
    servers.push({ name, server });
  }
  // Proofs are fresh for about 100 s, and each server takes each once: signed per block, shared by all.
  const bodies = async (count: number) =>
    kind === "deposit" ? depositBodies(keys.slice(0, 2), count) : await proofBodies(keys, relayPem, count, Math.floor(Date.now() / 1000) + 45);
  const load = (server: ServerProcess, batch: string[]) => postEachOnce(server, `/${kind}`, batch, CONNECTIONS);

  const warm = await bodies(WARM);
  for (const { server } of servers) await load(server, warm);
  const commits = () => Promise.all(servers.map(({ server }) => metricValue(server.url, "rendezvous_commits_total")));
  const commitsBefore = await commits();
  const turns = await inTurns(servers, blocks, () => bodies(BLOCK), async ({ name, server }, batch) => {
    const main = processCpuSeconds(server.pid, server.pid);
    const result = await load(server, batch);
    if (result.non2xx) console.error(`${name}: ${result.non2xx} answers not 2xx`);
    return { result, mainSeconds: processCpuSeconds(server.pid, server.pid) - main };
  });
  const commitsAfter = await commits();
  const rateOf = (i: number) => combined(turns[i].map(({ result }) => result)).rps;
  for (const [i, blocksOf] of turns.entries()) {
    const results = blocksOf.map(({ result }) => result);
    const requests = combined(results).requests;
    const mainMicros = blocksOf.reduce((sum, { mainSeconds }) => sum + mainSeconds, 0) / requests * 1e6;
    const ratios = blocksOf.map(({ result }, block) => result.rps / turns[0][block].result.rps).sort((a, b) => a - b);
    const perCommit = requests / (commitsAfter[i] - commitsBefore[i]);
    console.log(
      `${servers[i].name.padEnd(10)} main thread ${mainMicros.toFixed(1)} µs, all ${cpuPerRequest(results).toFixed(1)} µs per request; ` +
        (Number.isFinite(perCommit) ? `${perCommit.toFixed(1)} ${kind === "deposit" ? "deposits" : "retrieves"} per commit; ` : "") +
        `${rateOf(i).toFixed(0)} req/s = ${(rateOf(i) / rateOf(0)).toFixed(3)} of ${servers[0].name} ` +
        `(blocks: median ${percentile(ratios, 50).toFixed(3)}, ${ratios[0].toFixed(2)}-${ratios.at(-1)!.toFixed(2)})`,
    );
  }
} finally {
  await Promise.all(servers.map(({ server }) => server.stop()));
  await rm(tmp, { recursive: true, force: true });
}
