/** Composition root: parse the config, open the store, build the app, serve it. */
import packageJson from "./package.json" with { type: "json" };
import { createApp } from "./lib/app.ts";
import { ConfigError, helpText, parseConfig } from "./lib/config.ts";
import { loadRelayPubkey } from "./lib/identity.ts";
import { jsonLogger } from "./lib/log.ts";
import * as runtime from "./lib/runtime.ts";
import { openMessageStore } from "./lib/store/open-store.ts";

const log = jsonLogger();
async function main(): Promise<number> {
  const argv = runtime.args();
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
  const store = await openMessageStore(config.dataDir, {
    maxStoreBytes: config.maxStoreBytes,
    maxMessages: config.maxMessages,
    mailboxMaxMessages: config.mailboxMaxMessages,
    durable: !config.unsafeNoFsync,
    sweepIntervalSeconds: config.sweepInterval,
    clock: () => Math.floor(Date.now() / 1000),
    log,
  });
  const app = createApp({ config, store, relayPubkey, log });
  let server;
  try {
    server = await runtime.serve(app, {
      host: config.host,
      port: config.port,
      idleTimeoutSeconds: config.requestTimeout,
      isTrustedProxy: (address) => config.trustProxy.includes(address),
    });
  } catch (error) {
    if (!(error instanceof runtime.ListenError)) throw error;
    await store.close();
    console.error(`hivemind-rendezvous: ${error.message}`);
    return 2;
  }
  console.log(`Rendezvous server listening on ${config.host}:${server.port}`);
  log("started", { version: packageJson.version, runtime: runtime.runtimeName, data_dir: config.dataDir, stored_messages: store.stats().messages, keyless: relayPubkey === "" });

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
