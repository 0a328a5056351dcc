/**
 * Failover drill (`bun scripts/failover-drill.ts`): a PostgreSQL primary with a synchronous standby on
 * loopback, two relays on a multi-host URL, deposits from 8 clients; the primary is killed (-9, with
 * its backends) and the standby promoted. Reports acknowledged deposits lost (the goal: 0) and the
 * seconds without service. Everything runs on 127.0.0.1 and is removed afterwards.
 */
import { readFileSync, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import postgres from "postgres";
import { freePort, killServer, postgresInstalled, runServerProgram, serverDirectory } from "./postgres-cluster.ts";
import { ROOT, type ServerProcess, startRelay } from "./bench/processes.ts";

const CLIENTS = 8;
const SECONDS_BEFORE_KILL = 3;
const SECONDS_AFTER_RECOVERY = 3;

if (!postgresInstalled()) {
  console.error("failover-drill: PostgreSQL is not installed (no pg_ctl)");
  process.exit(1);
}

const log = (message: string) => console.error(`[failover-drill] ${message}`);
const dir = await serverDirectory();
const [primaryPort, standbyPort] = [await freePort(), await freePort()];
const primaryData = join(dir, "primary");
const standbyData = join(dir, "standby");
const relays: ServerProcess[] = [];

/** Starts the server on `data` at `port` with extra settings. */
const startServer = (data: string, port: number, settings: string[] = []) =>
  runServerProgram("pg_ctl", [
    "-D", data, "-l", `${data}.log`, "-w", "-t", "60", "-o",
    [`-p ${port}`, `-k ${dir}`, "-c listen_addresses=127.0.0.1", ...settings.map((setting) => `-c ${setting}`)].join(" "),
    "start",
  ]);

try {
  log(`primary on ${primaryPort}, synchronous standby on ${standbyPort}`);
  await runServerProgram("initdb", ["-D", primaryData, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"]);
  await startServer(primaryData, primaryPort, ["synchronous_commit=on", "synchronous_standby_names='ANY 1 (standby1)'"]);
  await runServerProgram("pg_basebackup", [
    "-D", standbyData, "-R", "-X", "stream", "-d", `host=127.0.0.1 port=${primaryPort} user=postgres application_name=standby1`,
  ]);
  await startServer(standbyData, standbyPort);
  const primary = postgres({ host: "127.0.0.1", port: primaryPort, user: "postgres", database: "postgres", max: 1, onnotice: () => {} });
  while ((await primary`SELECT 1 FROM pg_stat_replication WHERE application_name = 'standby1' AND sync_state IN ('sync', 'quorum')`).length === 0) {
    await Bun.sleep(100);
  }
  await primary.end();

  const url = `postgres://postgres@127.0.0.1:${primaryPort},127.0.0.1:${standbyPort}/postgres?target_session_attrs=read-write`;
  const vectors = JSON.parse(readFileSync(join(ROOT, "test", "vectors", "keys.json"), "utf8"));
  const nodeKey = join(dir, "relay.pem");
  await writeFile(nodeKey, vectors.keys.relay.private_pkcs1_pem, { mode: 0o600 });
  for (let i = 0; i < 2; i++) relays.push(await startRelay({ runtime: "bun", dataDir: join(dir, `relay-${i}`), nodeKey, args: ["--store", url] }));
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
  await killServer(primaryData);
  log(`primary killed after ${before} acknowledged deposits; promoting the standby`);
  await runServerProgram("pg_ctl", ["-D", standbyData, "-w", "promote"]);
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
  const report = {
    acknowledged: acknowledged.length,
    acknowledgedBeforeKill: before,
    lost: acknowledged.length - row.present,
    secondsWithoutService: Number((longestGap / 1000).toFixed(2)),
    secondsKillToPromoted: Number(((promotedAt - killedAt) / 1000).toFixed(2)),
    failedRequests: failures,
  };
  console.log(JSON.stringify(report, null, 2));
  process.exitCode = report.lost === 0 ? 0 : 1;
} finally {
  await Promise.all(relays.map((relay) => relay.stop()));
  await runServerProgram("pg_ctl", ["-D", standbyData, "-m", "immediate", "-w", "stop"]).catch(() => {});
  await runServerProgram("pg_ctl", ["-D", primaryData, "-m", "immediate", "-w", "stop"]).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
