/** Composition root: parse the config, open the store, build the app, serve it. */
import packageJson from "./package.json" with { type: "json" };
import { createApp } from "./lib/app.ts";
import { ConfigError, helpText, parseConfig } from "./lib/config.ts";
import { loadRelayPubkey } from "./lib/identity.ts";
import { jsonLogger } from "./lib/log.ts";
import * as runtime from "./lib/runtime.ts";
import { openStorage, StorageError } from "./lib/storage.ts";

const log = jsonLogger();
async function main(): Promise<number> {
  const argv = runtime.args();
  if (argv[0] === "copy") return await (await import("./lib/copy.ts")).runCopy(argv.slice(1));
  // A command other than serve makes this program a client (loaded only then), which answers unknown ones too.
  if (argv.length && !argv[0].startsWith("-") && argv[0] !== "serve") return await (await import("./lib/client/cli.ts")).runClient(argv);
  let invocation;
  try {
    invocation = parseConfig(argv[0] === "serve" ? argv.slice(1) : argv, runtime.environment());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`hivemind-rendezvous: ${error.message} (see --help)`);
    return 2;
  }
  if (invocation.action === "help") return console.log(helpText(packageJson.version)), 0;
  if (invocation.action === "version") return console.log(packageJson.version), 0;
  const { config } = invocation;

  let relayPubkey: string;
  try {
    relayPubkey = await loadRelayPubkey(config);
  } catch (error) {
    console.error(`hivemind-rendezvous: ${(error as Error).message}`);
    return 2;
  }
  let storage;
  try {
    storage = await openStorage(config, relayPubkey, log);
  } catch (error) {
    if (!(error instanceof StorageError)) throw error;
    console.error(`hivemind-rendezvous: ${error.message}`);
    return 2;
  }
  const { store, shared } = storage;
  const app = createApp({ config, store, shared, relayPubkey, log });
  const server = runtime.serve(app, { host: config.host, port: config.port, idleTimeoutSeconds: config.requestTimeout });
  console.log(`Rendezvous server listening on ${config.host}:${server.port}`);
  log("started", { version: packageJson.version, runtime: runtime.runtimeName, data_dir: config.dataDir, store: storage.location, stored_messages: store.stats().messages, keyless: relayPubkey === "" });

  return await new Promise<number>((resolve) => {
    runtime.onShutdownSignal(async () => {
      log("stopping", {});
      await server.stop();
      await store.close();
      log("stopped", {});
      resolve(0);
    });
  });
}

runtime.exit(await main());
