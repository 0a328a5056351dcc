/** `npm run bench`: the relay's benchmark suite on 127.0.0.1 (see scripts/bench/options.ts for flags). */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, startRelay } from "./bench/processes.ts";

if (!existsSync(join(ROOT, "node_modules", "autocannon"))) {
  console.error("bench: autocannon is not installed; run `npm ci` first");
  process.exit(1);
}
const { parseBenchArgs } = await import("./bench/options.ts");
const { keysNeeded } = await import("./bench/context.ts");
const { loadClientKeys } = await import("./bench/keys.ts");
const { renderReport, writeResults } = await import("./bench/report.ts");
const { runScenarios } = await import("./bench/scenarios/index.ts");

let options;
try {
  options = parseBenchArgs(process.argv.slice(2));
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}

const began = performance.now();
const code = codeVersion();
const log = (message: string) => console.error(`[${((performance.now() - began) / 1000).toFixed(1).padStart(6)} s] ${message}`);
const resultsDir = join(ROOT, "bench-results");
const tmp = await mkdtemp(join(tmpdir(), "rendezvous-bench-"));
const cleanUp = () => rm(tmp, { recursive: true, force: true });
process.on("SIGINT", () => void cleanUp().finally(() => process.exit(130)));

try {
  const vectors = JSON.parse(await readFile(join(ROOT, "test", "vectors", "keys.json"), "utf8"));
  const nodeKey = join(tmp, "relay_key.pem");
  await writeFile(nodeKey, vectors.keys.relay.private_pkcs1_pem, { mode: 0o600 });
  log("loading client keys (generated once, cached in bench-results/.cache)");
  const keys = await loadClientKeys(keysNeeded(options.retrieveMailboxes), join(resultsDir, ".cache", "client-keypairs-2048.json"));
  const context = {
    options,
    tmp,
    keys,
    log,
    relay: (runtime: "bun" | "deno", dataDir: string, label: string, args?: string[]) =>
      startRelay({ runtime, dataDir, nodeKey, args, profileDir: options.profile && runtime === "bun" ? join(resultsDir, "profiles", label) : undefined }),
  };
  const results = await runScenarios(context);
  console.log(renderReport(results));
  const path = await writeResults(resultsDir, {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, bun: Bun.version, platform: process.platform },
    code,
    loadGenerator: "autocannon (in-process, under Bun)",
    options: { ...options, only: options.only && [...options.only] },
    seconds: (performance.now() - began) / 1000,
    results,
  });
  log(`wrote ${path}`);
} finally {
  await cleanUp();
}

/** The commit measured, and whether lib/ or main.ts had uncommitted changes. */
function codeVersion(): { commit: string; dirty: boolean } {
  const git = (...args: string[]) => Bun.spawnSync(["git", ...args], { cwd: ROOT }).stdout.toString().trim();
  return { commit: git("rev-parse", "HEAD"), dirty: git("status", "--porcelain", "--", "lib", "main.ts") !== "" };
}
