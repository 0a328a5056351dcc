/** Child processes for black-box tests: run a command to its end, or start a relay and wait until it listens. */
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "..");
const BIN = join(ROOT, "node_modules", ".bin");

/** How to start main.ts under each runtime. */
export const RELAY_COMMANDS = {
  bun: [join(BIN, "bun"), "main.ts"],
  deno: [join(BIN, "deno"), "run", "--allow-net", "--allow-read", "--allow-write", "--allow-env", "main.ts"],
};

/** The environment the tests run the compiled binary in: nothing on PATH (no bun, deno or node to lean on). */
export const BARE_ENV = { PATH: "/nonexistent" };

/** The runtimes the relay runs under, by name. */
export type RuntimeName = keyof typeof RELAY_COMMANDS;
export const RUNTIMES = Object.keys(RELAY_COMMANDS) as RuntimeName[];

interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

/** How `startRelayProcess` starts a relay; `detached`: in a process group of its own, led by the child (setsid). */
type StartOptions = SpawnOptions & { captureStderr?: boolean; detached?: boolean };

const children: Bun.Subprocess[] = [];

/** Kills every child the tests started; test/setup.ts calls it after the last test file. */
export function killChildren(): void {
  children.forEach((child) => child.kill("SIGKILL"));
}

/** Runs a command to its end (killed after `timeoutMs`). */
export async function runProcess(command: string[], options: SpawnOptions = {}) {
  const child = Bun.spawn(command, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, stdout: "pipe", stderr: "pipe" });
  children.push(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 20_000);
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A relay running as a child process. */
export interface RelayProcess {
  child: Bun.Subprocess;
  port: number;
  url: string;
  stop(): void;
  /** Everything it printed on stdout, once it has exited. */
  output(): Promise<string>;
  /** Everything it printed on stderr, once it has exited ("" unless started with `captureStderr`). */
  errorOutput(): Promise<string>;
}

/** Starts a relay and resolves once it prints its listening line (within `timeoutMs`); stderr is passed through unless captured. */
export async function startRelayProcess(command: string[], options: StartOptions = {}): Promise<RelayProcess> {
  const stderr = options.captureStderr ? "pipe" : "inherit";
  const child = Bun.spawn(command, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, stdout: "pipe", stderr, detached: options.detached });
  children.push(child);
  const stop = () => child.kill("SIGKILL");
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let output = "";
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no listening line: ${output}`)), options.timeoutMs ?? 20_000);
  });
  try {
    while (!/listening on \S+:(\d+)/.test(output)) {
      const { done, value } = await Promise.race([reader.read(), timeout]);
      if (done) throw new Error(`the relay exited: ${output}`);
      output += decoder.decode(value);
    }
  } catch (error) {
    stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const drained = (async () => {
    for (let read = await reader.read(); !read.done; read = await reader.read()) output += decoder.decode(read.value);
    return output;
  })();
  const port = Number(/listening on \S+:(\d+)/.exec(output)![1]);
  const errorOutput = child.stderr instanceof ReadableStream ? new Response(child.stderr).text() : Promise.resolve("");
  return { child, port, url: `http://127.0.0.1:${port}`, stop, output: () => drained, errorOutput: () => errorOutput };
}
