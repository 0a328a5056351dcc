/** `npm start` and `deno task start` as a service manager or a shell runs them: SIGTERM stops the relay; Deno fetches nothing. */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { json, tempDataDir } from "./helpers.ts";
import { ROOT, startRelayProcess } from "./processes.ts";

const BIN = join(ROOT, "node_modules", ".bin");
/** The pinned bun and deno first on PATH, as after `npm install`; npm and node from the test's own PATH. */
const ENV = { ...process.env, PATH: `${BIN}:${process.env.PATH}`, NO_COLOR: "1" };

/** Pids of the processes whose command line mentions `marker` (Linux /proc). */
async function processesMentioning(marker: string): Promise<number[]> {
  const pids = (await readdir("/proc")).filter((name) => /^\d+$/.test(name));
  const commandLines = await Promise.all(pids.map((pid) => readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")));
  return pids.filter((_, i) => commandLines[i].split("\0").includes(marker)).map(Number);
}

/** Whether a server can listen on 127.0.0.1:`port` now. */
function portIsFree(port: number): boolean {
  try {
    Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}

/** Bytes of every file under `directory`. */
async function directoryBytes(directory: string): Promise<number> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  const sizes = await Promise.all(entries.filter((entry) => entry.isFile()).map(async (entry) => (await stat(join(entry.parentPath, entry.name))).size));
  return sizes.reduce((sum, size) => sum + size, 0);
}

const LAUNCHERS = {
  "npm start": (dataDir: string) => ["npm", "start", "--", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, "--keyless"],
  "deno task start": (dataDir: string) => [join(BIN, "deno"), "task", "start", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, "--keyless"],
};

for (const [name, command] of Object.entries(LAUNCHERS)) {
  describe(name, () => {
    test("kill -TERM of the launcher stops the relay: no relay process remains and the port is free", async () => {
      const dataDir = await tempDataDir();
      try {
        const relay = await startRelayProcess(command(dataDir), { env: ENV, timeoutMs: 60_000 });
        expect(await json(await fetch(`${relay.url}/healthz`))).toMatchObject({ status: "ok" });
        relay.child.kill("SIGTERM");
        expect(await relay.child.exited).toBe(0);
        expect(await relay.output()).toContain('"event":"stopped"');
        expect(await processesMentioning(dataDir)).toEqual([]);
        expect(portIsFree(relay.port)).toBe(true);
      } finally {
        for (const pid of await processesMentioning(dataDir)) process.kill(pid, "SIGKILL");
      }
    }, 90_000);
  });
}

describe("deno task start", () => {
  test("from an empty Deno cache it answers /healthz having fetched no npm package", async () => {
    const dataDir = await tempDataDir();
    const denoDir = await tempDataDir();
    const relay = await startRelayProcess(LAUNCHERS["deno task start"](dataDir), { env: { ...ENV, DENO_DIR: denoDir }, timeoutMs: 120_000 });
    try {
      expect(await json(await fetch(`${relay.url}/healthz`))).toMatchObject({ status: "ok" });
    } finally {
      relay.child.kill("SIGTERM");
      await relay.child.exited;
    }
    expect(existsSync(join(denoDir, "npm", "registry.npmjs.org"))).toBe(false);
    // What remains is Deno's own caches of the relay's code (about 5 MB); the devDependencies were 340 MB.
    expect(await directoryBytes(denoDir)).toBeLessThan(16 << 20);
  }, 150_000);
});
