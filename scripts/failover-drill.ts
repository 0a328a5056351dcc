/**
 * Failover drill (`bun scripts/failover-drill.ts [--runtime bun|deno] [--old-primary refuses|silent]`):
 * a PostgreSQL primary with a synchronous standby on loopback, two relays under that runtime (Bun by
 * default) on a multi-host URL, deposits from 8 clients; the primary is killed (-9, with its backends)
 * and the standby promoted. The dead primary's port refuses connections (as where its host is up), or
 * with `silent` accepts them and never answers (as where its host is powered off or cut off).
 * Reports acknowledged deposits lost (the goal: 0), the seconds without service and how many relays
 * still answer. Everything runs on 127.0.0.1 and is removed afterwards.
 */
import { readFileSync, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import postgres from "postgres";
import { postgresInstalled, serverDirectory, startReplicatedPair } from "./postgres-cluster.ts";
import { ROOT, type ServerProcess, startRelay } from "./bench/processes.ts";

const option = (name: string, fallback: string) => process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback;
const runtime = option("--runtime", "bun");
const silent = option("--old-primary", "refuses") === "silent";
if ((runtime !== "bun" && runtime !== "deno") || !["refuses", "silent"].includes(option("--old-primary", "refuses"))) {
  console.error("failover-drill: --runtime is bun or deno, --old-primary refuses or silent");
  process.exit(2);
}
const CLIENTS = 8;
const SECONDS_BEFORE_KILL = 3;
const SECONDS_AFTER_RECOVERY = 3;

if (!postgresInstalled()) {
  console.error("failover-drill: PostgreSQL is not installed (no pg_ctl)");
  process.exit(1);
}

const log = (message: string) => console.error(`[failover-drill] ${message}`);
const dir = await serverDirectory();
const relays: ServerProcess[] = [];
/** With `--old-primary silent`: the dead primary's port accepts and never answers, as a host that is powered off or cut off does. */
const oldPrimary = createServer(() => {});
const pair = (await startReplicatedPair())!;

try {
  const { primaryPort, standbyPort } = pair;
  log(`primary on ${primaryPort}, synchronous standby on ${standbyPort}; relays under ${runtime}`);
  const url = `postgres://postgres@127.0.0.1:${primaryPort},127.0.0.1:${standbyPort}/postgres?target_session_attrs=read-write`;
  const vectors = JSON.parse(readFileSync(join(ROOT, "test", "vectors", "keys.json"), "utf8"));
  const nodeKey = join(dir, "relay.pem");
  await writeFile(nodeKey, vectors.keys.relay.private_pkcs1_pem, { mode: 0o600 });
  for (let i = 0; i < 2; i++) relays.push(await startRelay({ runtime, dataDir: join(dir, `relay-${i}`), nodeKey, args: ["--store", url] }));
  log(`relays at ${relays.map((relay) => relay.url).join(" and ")}`);

  const payload = JSON.stringify({ msg_type: "intercom", payload: { data: "drill" }, metadata: {}, route: [], node: null, source_peer: null });
  const body = JSON.stringify({ payload, target_pubkey: vectors.keys.bob.public_spki_pem });
  const acknowledged: string[] = [];
  const answered: number[] = [];
  let failures = 0;
  let running = true;
  const clients = Array.from({ length: CLIENTS }, async (_, client) => {
    for (let round = 0; running; round++) {
      const relay = relays[(client + round) % relays.length];
      const response = await fetch(`${relay.url}/deposit`, { method: "POST", body, signal: AbortSignal.timeout(10_000) }).catch(() => null);
      const answer = response ? await response.json().catch(() => null) as { deposit_id?: string } | null : null;
      if (response?.status === 200 && answer?.deposit_id) {
        acknowledged.push(answer.deposit_id);
        answered.push(performance.now());
      } else {
        failures++;
        await Bun.sleep(50);
      }
    }
  });

  await Bun.sleep(SECONDS_BEFORE_KILL * 1000);
  const before = acknowledged.length;
  const killedAt = performance.now();
  await pair.killPrimary();
  if (silent) await new Promise<void>((resolve) => oldPrimary.listen(primaryPort, "127.0.0.1", resolve));
  log(`primary killed after ${before} acknowledged deposits${silent ? " (its port now silent)" : ""}; promoting the standby`);
  await pair.promoteStandby();
  const promotedAt = performance.now();
  while (!answered.some((at) => at > promotedAt)) await Bun.sleep(50);
  await Bun.sleep(SECONDS_AFTER_RECOVERY * 1000);
  running = false;
  await Promise.all(clients);

  // Seconds without service: the longest gap between two acknowledged deposits from the last one before the kill on.
  const times = [...answered].sort((a, b) => a - b);
  const from = times.findLastIndex((at) => at <= killedAt);
  const window = times.slice(Math.max(0, from));
  const longestGap = Math.max(...window.slice(1).map((at, i) => at - window[i]));
  const survivor = postgres({ host: "127.0.0.1", port: standbyPort, user: "postgres", database: "postgres", max: 1, onnotice: () => {} });
  const [row] = await survivor`SELECT count(*)::int AS present FROM rendezvous_messages WHERE id = ANY (${survivor.array(acknowledged, 2951)})`;
  await survivor.end();
  const relaysAnswering = (await Promise.all(relays.map((relay) => fetch(`${relay.url}/healthz`).then(() => true, () => false)))).filter(Boolean).length;
  const report = {
    runtime,
    oldPrimary: silent ? "silent" : "refuses",
    relaysAnswering,
    acknowledged: acknowledged.length,
    acknowledgedBeforeKill: before,
    lost: acknowledged.length - row.present,
    secondsWithoutService: Number((longestGap / 1000).toFixed(2)),
    secondsKillToPromoted: Number(((promotedAt - killedAt) / 1000).toFixed(2)),
    failedRequests: failures,
  };
  console.log(JSON.stringify(report, null, 2));
  process.exitCode = report.lost === 0 && relaysAnswering === relays.length ? 0 : 1;
} finally {
  await Promise.all(relays.map((relay) => relay.stop()));
  oldPrimary.close();
  await pair.drop();
  rmSync(dir, { recursive: true, force: true });
}
