/** Servers under test as child processes: the relay (Bun or Deno) and the baselines. */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The project root (scripts/bench/..). */
export const ROOT = join(import.meta.dir, "..", "..");
const DENO = join(ROOT, "node_modules", ".bin", "deno");

/** A running server. Times are milliseconds from exec. */
export interface ServerProcess {
  name: string;
  pid: number;
  url: string;
  /** Exec → "listening on" printed. */
  listenMs: number;
  /** Exec → first answered HTTP request (GET /healthz or /). */
  firstAnswerMs: number;
  /** Resident set size now, in bytes. */
  rssBytes(): number;
  /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
  stop(): Promise<void>;
}

/** How to run the relay. */
export interface RelayOptions {
  runtime: "bun" | "deno";
  dataDir: string;
  nodeKey: string;
  /** Directory for a `--cpu-prof-md` profile (Bun only). */
  profileDir?: string;
  args?: string[];
  /** The checkout whose `main.ts` runs (with its own node_modules); this one by default. */
  checkout?: string;
}

/** Starts `main.ts` on 127.0.0.1 with rate limits off and caps out of the way. */
export function startRelay(options: RelayOptions): Promise<ServerProcess> {
  const relayArgs = [
    "main.ts", "--host", "127.0.0.1", "--port", "0", "--data-dir", options.dataDir, "--node-key", options.nodeKey,
    "--deposit-rate-limit", "0", "--read-rate-limit", "0", "--max-store-bytes", String(2 ** 50),
    "--mailbox-max-messages", "1000000", ...(options.args ?? []),
  ];
  const profile = options.profileDir ? ["--cpu-prof-md", `--cpu-prof-dir=${options.profileDir}`] : [];
  const command = options.runtime === "bun"
    ? [process.execPath, ...profile, ...relayArgs]
    : [DENO, "run", "--allow-net", "--allow-read", "--allow-write", "--allow-env", ...relayArgs];
  return startServer(`relay-${options.runtime}`, command, "/healthz", options.checkout);
}

/** Starts one of the baseline servers in this directory (`baseline-echo.ts`, `baseline-verify.ts`, `baseline-insert.ts`), under Bun or Deno. */
export function startBaseline(kind: "echo" | "verify" | "insert", args: string[] = [], runtime: "bun" | "deno" = "bun"): Promise<ServerProcess> {
  const script = join(import.meta.dir, `baseline-${kind}.ts`);
  const command = runtime === "bun" ? [process.execPath, script] : [DENO, "run", "--allow-net", "--allow-read", "--allow-write", script];
  return startServer(`baseline-${kind}-${runtime}`, [...command, ...args], "/");
}

async function startServer(name: string, command: string[], probePath: string, cwd = ROOT): Promise<ServerProcess> {
  const began = performance.now();
  const child = Bun.spawn(command, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  let stderr = "";
  void (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr = (stderr + chunk).slice(-4000);
  })();
  const listening = new Promise<string>((resolve, reject) => {
    void (async () => {
      let carry = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        const lines = (carry + chunk).split("\n");
        carry = lines.pop()!;
        for (const line of lines) {
          const address = /listening on (\S+)$/.exec(line);
          if (address) resolve(address[1]);
        }
      }
      reject(new Error(`${name} exited before listening (code ${await child.exited}): ${stderr}`));
    })();
  });
  const address = await listening;
  const listenMs = performance.now() - began;
  const url = `http://${address}`;
  await fetch(url + probePath).then((response) => response.arrayBuffer());
  const firstAnswerMs = performance.now() - began;
  return {
    name,
    pid: child.pid,
    url,
    listenMs,
    firstAnswerMs,
    rssBytes: () => rssBytes(child.pid),
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await child.exited;
      clearTimeout(timer);
    },
  };
}

/** VmRSS of a process in bytes, from /proc/PID/status. */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1024 : NaN;
}
