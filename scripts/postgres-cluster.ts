/**
 * A throwaway PostgreSQL cluster for tests, benchmarks and drills: a temporary directory, a loopback
 * port, started as the `postgres` user when run as root (PostgreSQL refuses root), removed afterwards.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";

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

/** True where PostgreSQL's server programs are installed. */
export const postgresInstalled = (): boolean => BIN !== null;

const asRoot = process.getuid?.() === 0;

/** Runs a server program, as `postgres` when we are root; throws with its output when it fails. */
export async function runServerProgram(program: string, args: string[]): Promise<void> {
  const command = [join(BIN!, program), ...args];
  const child = Bun.spawn(asRoot ? ["runuser", "-u", "postgres", "--", ...command] : command, { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${program} failed (${code}): ${stdout}${stderr}`);
}

/** A fresh directory the `postgres` user owns (when we are root). */
export async function serverDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "rendezvous-pg-"));
  if (asRoot) await runAsIs(["chown", "postgres", dir]);
  return dir;
}

async function runAsIs(command: string[]): Promise<void> {
  if ((await Bun.spawn(command).exited) !== 0) throw new Error(`${command.join(" ")} failed`);
}

/** A loopback port nothing listens on now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts a fresh cluster on a loopback port; null where PostgreSQL is not installed. */
export async function startCluster(): Promise<Cluster | null> {
  if (!postgresInstalled()) return null;
  const dir = await serverDirectory();
  const data = join(dir, "data");
  const port = await freePort();
  await runServerProgram("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"]);
  const start = () =>
    runServerProgram("pg_ctl", ["-D", data, "-l", join(dir, "log"), "-w", "-t", "30", "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=400`, "start"]);
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
    crash: () => killServer(data),
    start,
    async drop() {
      await admin.end({ timeout: 0 });
      await runServerProgram("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A primary with a synchronous standby (a commit waits until the standby has it), on loopback. */
export interface ReplicatedPair {
  primaryPort: number;
  standbyPort: number;
  /** kill -9 of the primary and its backends, as a power cut would. */
  killPrimary(): Promise<void>;
  /** Makes the standby a primary (pg_ctl promote, waiting until it accepts writes). */
  promoteStandby(): Promise<void>;
  /** Stops both servers and removes their directory. */
  drop(): Promise<void>;
}

/**
 * Starts a primary (synchronous_commit = on, `synchronous_standby_names = 'ANY 1 (standby1)'`) and a
 * standby streaming from it, each on a loopback port; resolves once the standby is synchronous. Null
 * where PostgreSQL is not installed.
 */
export async function startReplicatedPair(): Promise<ReplicatedPair | null> {
  if (!postgresInstalled()) return null;
  const dir = await serverDirectory();
  const [primaryPort, standbyPort] = [await freePort(), await freePort()];
  const [primaryData, standbyData] = [join(dir, "primary"), join(dir, "standby")];
  const startServer = (data: string, port: number, settings: string[] = []) =>
    runServerProgram("pg_ctl", [
      "-D", data, "-l", `${data}.log`, "-w", "-t", "60", "-o",
      [`-p ${port}`, `-k ${dir}`, "-c listen_addresses=127.0.0.1", ...settings.map((setting) => `-c ${setting}`)].join(" "),
      "start",
    ]);
  const stop = (data: string) => runServerProgram("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
  const drop = async () => {
    await stop(standbyData);
    await stop(primaryData);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await runServerProgram("initdb", ["-D", primaryData, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"]);
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
  } catch (error) {
    await drop();
    throw error;
  }
  return {
    primaryPort,
    standbyPort,
    killPrimary: () => killServer(primaryData),
    promoteStandby: () => runServerProgram("pg_ctl", ["-D", standbyData, "-w", "promote"]),
    drop,
  };
}

/**
 * kill -9 of the server on `data`: the postmaster and its backends at once, as a power cut would (a
 * backend left behind would hold the shared memory); resolves once they are gone.
 */
export async function killServer(data: string): Promise<void> {
  const postmaster = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
  const pids = [postmaster, ...childrenOf(postmaster)];
  for (const pid of pids) process.kill(pid, "SIGKILL");
  while (pids.some(isAlive)) await Bun.sleep(20);
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
