/** main.ts as a child process under Bun or Deno, serving with the vectors' relay key. */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { keys } from "./helpers.ts";
import { RELAY_COMMANDS, type RuntimeName, startRelayProcess } from "./processes.ts";

/** Starts main.ts under `runtime` on 127.0.0.1 (a free port) with the vectors' relay key, plus `extra` flags. */
export async function startRelay(runtime: RuntimeName, dataDir: string, extra: string[] = []) {
  const keyFile = join(dataDir, "node.pem");
  await writeFile(keyFile, keys.relay.private_pkcs1_pem, { mode: 0o600 });
  const args = ["--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, "--node-key", keyFile, ...extra];
  return startRelayProcess([...RELAY_COMMANDS[runtime], ...args], { env: { ...process.env, NO_COLOR: "1" } });
}
