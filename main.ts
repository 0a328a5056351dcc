/** Composition root: parse the config, open the store, build the app, serve it. */
import packageJson from "./package.json" with { type: "json" };
import { createApp } from "./lib/app.ts";
import { isTrustedProxy } from "./lib/client-address.ts";
import { ConfigError, helpText, parseConfig } from "./lib/config.ts";
import { clientUsageLines } from "./lib/client/usage.ts";
import { claimDataDir, DataDirError } from "./lib/data-dir-lock.ts";
import { loadRelayKey, RelayKeyError } from "./lib/identity.ts";
import { jsonLogger } from "./lib/log.ts";
import * as runtime from "./lib/runtime.ts";
import { isPostgresUrl, openStorage, StorageError } from "./lib/storage.ts";
import { StoreOpenError } from "./lib/store/open-store.ts";
import { pause } from "./lib/store/work-slices.ts";

const log = jsonLogger();
async function main(): Promise<number> {
  if (runtime.unsupported) return console.error(`hivemind-rendezvous: ${runtime.unsupported}`), 2;
  const argv = runtime.args();
  // A command other than serve makes this program a client (loaded only then), which answers unknown ones too.
  if (argv[0] === "copy") return await (await import("./lib/copy.ts")).runCopy(argv.slice(1), runtime);
  if (argv.length && !argv[0].startsWith("-") && argv[0] !== "serve") return await (await import("./lib/client/cli.ts")).runClient(argv);
  let invocation;
  try {
    invocation = parseConfig(argv[0] === "serve" ? argv.slice(1) : argv, runtime.environment());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`hivemind-rendezvous: ${error.message} (see --help)`);
    return 2;
  }
  if (invocation.action === "help") return console.log(helpText(packageJson.version, clientUsageLines())), 0;
  if (invocation.action === "version") return console.log(packageJson.version), 0;
  const { config } = invocation;

  let dataDirLock, relayKey, storage;
  try {
    // On PostgreSQL with the key given, nothing is kept in the data dir: relays on one host need none each.
    const usesDataDir = !isPostgresUrl(config.store) || (!config.nodeKey && !config.keyless);
    if (usesDataDir && !config.dataDir) throw new DataDirError("no --data-dir, and no absolute XDG_DATA_HOME or HOME to put the default one under");
    dataDirLock = usesDataDir ? await claimDataDir(config.dataDir, runtime.tryLockFile) : undefined;
    relayKey = await loadRelayKey(config);
    storage = await openStorage(config, relayKey.pubkey, log, runtime.readIfCached);
  } catch (error) {
    const problem = startUpProblem(error);
    if (problem === undefined) throw error;
    console.error(`hivemind-rendezvous: ${problem}`);
    // A database that cannot be reached yet is worth another try (systemd restarts on exit code 1).
    return error instanceof StorageError && error.unreachable ? 1 : 2;
  }
  const { store, shared } = storage;
  const app = createApp({ config, store, shared, relayPubkey: relayKey.pubkey, version: packageJson.version, runtime: runtime.runtimeName, log });
  let server;
  try {
    server = await runtime.serve(app, {
      host: config.host,
      port: config.port,
      idleTimeoutSeconds: config.requestTimeout,
      isTrustedProxy: (address) => isTrustedProxy(address, config.trustProxy),
    });
  } catch (error) {
    if (!(error instanceof runtime.ListenError)) throw error;
    await store.close();
    console.error(`hivemind-rendezvous: ${error.message}`);
    return 2;
  }
  // Listening for signals before saying so: a SIGTERM right after the listening line stops the relay cleanly.
  const stopped = new Promise<number>((resolve) => {
    let stoppingSince: number | undefined;
    runtime.onShutdownSignal(async () => {
      // A second signal a while after the first: stop now. What was answered is on disk; the next start
      // only reads more of the log. Not one right after it: Ctrl-C under `npm start` reaches the relay
      // twice, from the terminal and forwarded by npm.
      if (stoppingSince !== undefined) {
        if (performance.now() - stoppingSince < REPEAT_SIGNAL_MS) return;
        log("stop_forced", {});
        runtime.exit(1);
      }
      stoppingSince = performance.now();
      log("stopping", {});
      try {
        // Requests in flight get a grace period, not a client's whole --request-timeout: a service manager kills a stop that lasts 30 s.
        const graceOver = await Promise.race([server.stop().then(() => false), pause(STOP_GRACE_MS).then(() => true)]);
        if (graceOver) log("stop_grace_over", { seconds: STOP_GRACE_MS / 1000 });
        await store.close();
        log("stopped", {});
        resolve(0);
      } catch (error) {
        log("stop_failed", { error: error instanceof Error ? error.message : String(error) });
        resolve(1);
      } finally {
        dataDirLock?.release();
      }
    });
  });
  console.log(`Rendezvous server listening on ${config.host}:${server.port}`);
  log("started", {
    version: packageJson.version,
    runtime: runtime.runtimeName,
    data_dir: dataDirLock ? config.dataDir : null,
    store: storage.location,
    stored_messages: store.stats().messages,
    // Durability off is said where an operator looks first (a power cut loses answered deposits).
    ...(config.unsafeNoFsync ? { unsafe_no_fsync: true } : {}),
    relay_key: relayKey.source,
    ...(relayKey.fingerprint ? { relay_key_sha256: relayKey.fingerprint } : {}),
  });
  if (relayKey.exposedFile) log("relay_key_exposed", relayKey.exposedFile);

  return await stopped;
}

/** How long a stop waits for requests in flight (a body still arriving) before closing the store. */
const STOP_GRACE_MS = 10_000;
/** A signal within this long of the first is the same stop (see the shutdown handler). */
const REPEAT_SIGNAL_MS = 1000;

/**
 * A start-up failure the operator must fix, as one line (exit code 2, which systemd does not restart):
 * an unusable or busy data dir, a relay key that cannot be read or written, a store that cannot be opened
 * (or a database whose relays serve another key).
 */
function startUpProblem(error: unknown): string | undefined {
  const known = error instanceof DataDirError || error instanceof RelayKeyError || error instanceof StoreOpenError || error instanceof StorageError;
  return known ? error.message : undefined;
}

// A permission Deno was not given is one line (exit code 2, as any start-up problem the operator must fix), not a stack trace.
runtime.exit(await main().catch((error) => {
  const missing = runtime.missingPermission(error);
  if (missing === undefined) throw error;
  console.error(`hivemind-rendezvous: ${missing}`);
  return 2;
}));
