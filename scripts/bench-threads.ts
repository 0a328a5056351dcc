/**
 * `bun scripts/bench-threads.ts [CONNECTIONS] [SECONDS] [WARMUP_SECONDS] [ROUNDS]`: server CPU per
 * deposit over HTTP split by thread (/proc/PID/task), the relay (Bun) and the minimal durable server
 * (`bench/baseline-echo.ts FILE`) alternating, each a fresh process warmed up first. The main thread
 * ("bun" or "bun.exe"), the JIT compilers ("JITWorker", "JSCWarmUp"), mimalloc's purging thread ("mi-scavenger") and
 * the pool that runs writes and fsyncs ("Bun Pool") each show apart; CPU time is disturbed less by other
 * load than req/s. The environment passes on to both servers (e.g. MIMALLOC_PURGE_DELAY).
 */
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { depositBodies } from "./bench/bodies.ts";
import { postCycle, runLoad } from "./bench/load.ts";
import { startBaseline, startRelay } from "./bench/processes.ts";

const [connections = 64, seconds = 2, warmupSeconds = 1, rounds = 3] = process.argv.slice(2).map(Number);

/** CPU µs (user + system) of each of `pid`'s threads, summed by name with digits dropped ("Bun Pool 3" → "Bun Pool #"). */
function threadMicroseconds(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8");
    } catch {
      continue; // the thread ended
    }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/\d+/g, "#");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    byName.set(name, (byName.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10_000); // USER_HZ 100
  }
  return byName;
}

const vectors = JSON.parse(await readFile(join(import.meta.dirname!, "..", "test", "vectors", "keys.json"), "utf8"));
const targets = [vectors.keys.alice, vectors.keys.bob].map((key) => ({ pem: key.public_spki_pem, mailbox: "", signKey: null as never }));
const bodies = depositBodies(targets, 256);
const tmp = await mkdtemp(join(tmpdir(), "rendezvous-threads-"));
try {
  const nodeKey = join(tmp, "relay_key.pem");
  await writeFile(nodeKey, vectors.keys.relay.private_pkcs1_pem, { mode: 0o600 });
  for (let round = 1; round <= rounds; round++) {
    for (const kind of ["relay", "durable-baseline"] as const) {
      const path = join(tmp, `${kind}-${round}`);
      const server = kind === "relay" ? await startRelay({ runtime: "bun", dataDir: path, nodeKey }) : await startBaseline("echo", [path]);
      try {
        const load = { url: server.url, connections, steps: postCycle("/deposit", bodies) };
        await runLoad({ ...load, duration: warmupSeconds });
        const before = threadMicroseconds(server.pid);
        const result = await runLoad({ ...load, duration: seconds, serverPid: server.pid });
        const threads = [...threadMicroseconds(server.pid)]
          .map(([name, micros]) => [name, (micros - (before.get(name) ?? 0)) / result.requests] as const)
          .filter(([, perDeposit]) => perDeposit > 0.5)
          .map(([name, perDeposit]) => `${name} ${perDeposit.toFixed(1)}`);
        console.log(`${kind} c${connections} round ${round}: ${result.rps.toFixed(0)} deposits/s, server ${(result.serverCores / result.rps * 1e6).toFixed(0)} µs/deposit: ${threads.join(", ")}; other load ${result.otherCores.toFixed(2)} cores`);
      } finally {
        await server.stop();
      }
    }
  }
} finally {
  await rm(tmp, { recursive: true, force: true });
}
