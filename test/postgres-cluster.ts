/**
 * A throwaway PostgreSQL cluster for tests: a temporary directory, a loopback port, started as the
 * `postgres` user when the tests run as root (PostgreSQL refuses root), removed afterwards.
 * Where PostgreSQL is not installed, `startCluster` resolves null and says so in one line.
 */
import { afterAll, beforeAll } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { runProcess } from "./processes.ts";

/** A running cluster. */
export interface Cluster {
  port: number;
  /** A URL for a database of its own, created on demand. */
  database(): Promise<string>;
  /** kill -9 of the postmaster (and so of every backend); `start` brings it back on the same data. */
  crash(): Promise<void>;
  start(): Promise<void>;
  /** Stops the cluster and removes its directory. */
  drop(): Promise<void>;
}

/** Debian installs the server programs outside PATH, one directory per major version. */
function serverBinDir(): string | null {
  const debian = "/usr/lib/postgresql";
  const versions = existsSync(debian) ? readdirSync(debian).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) if (existsSync(join(debian, version, "bin", "pg_ctl"))) return join(debian, version, "bin");
  const onPath = Bun.which("pg_ctl");
  return onPath ? join(onPath, "..") : null;
}

const BIN = serverBinDir();
let toldSkipped = false;

/** True where PostgreSQL's server programs are installed; otherwise prints one line, once. */
export function postgresInstalled(): boolean {
  if (!BIN && !toldSkipped) console.log("PostgreSQL is not installed (no pg_ctl): the tests on PostgreSQL are skipped");
  toldSkipped = true;
  return BIN !== null;
}

const asRoot = process.getuid?.() === 0;

/** Runs a server program, as `postgres` when we are root; throws with its output when it fails. */
async function run(program: string, args: string[]): Promise<void> {
  const command = [join(BIN!, program), ...args];
  const result = await runProcess(asRoot ? ["runuser", "-u", "postgres", "--", ...command] : command, { timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`${program} failed (${result.code}): ${result.stdout}${result.stderr}`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts a fresh cluster on a loopback port; null where PostgreSQL is not installed. */
export async function startCluster(): Promise<Cluster | null> {
  if (!postgresInstalled()) return null;
  const dir = await mkdtemp(join(tmpdir(), "rendezvous-pg-"));
  if (asRoot) await runProcess(["chown", "postgres", dir]);
  const data = join(dir, "data");
  const port = await freePort();
  await run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"]);
  const start = () =>
    run("pg_ctl", ["-D", data, "-l", join(dir, "log"), "-w", "-t", "30", "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=400`, "start"]);
  await start();
  const admin = postgres({ host: "127.0.0.1", port, user: "postgres", database: "postgres", max: 1, onnotice: () => {} });
  let databases = 0;
  return {
    port,
    async database() {
      const name = `test_${++databases}`;
      await admin.unsafe(`CREATE DATABASE ${name}`);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async crash() {
      // The postmaster and its backends at once, as a power cut would: a backend left behind holds the shared memory.
      const postmaster = Number((await Bun.file(join(data, "postmaster.pid")).text()).split("\n")[0]);
      const pids = [postmaster, ...childrenOf(postmaster)];
      for (const pid of pids) process.kill(pid, "SIGKILL");
      while (pids.some(isAlive)) await Bun.sleep(20);
    },
    start,
    async drop() {
      await admin.end({ timeout: 0 });
      await run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The processes whose parent is `parent`, from /proc. */
function childrenOf(parent: number): number[] {
  return readdirSync("/proc").filter((name) => /^\d+$/.test(name)).filter((pid) => {
    try {
      return Number(readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ")[1]) === parent;
    } catch {
      return false; // gone meanwhile
    }
  }).map(Number);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A cluster for the calling test file: started before its tests, dropped after them. Call at the top
 * level of a test file; the getter gives the running cluster (inside tests that skip without PostgreSQL).
 */
export function clusterForThisFile(): () => Cluster {
  let cluster: Cluster | null = null;
  beforeAll(async () => {
    cluster = await startCluster();
  }, 60_000);
  afterAll(async () => await cluster?.drop(), 30_000);
  return () => cluster!;
}
