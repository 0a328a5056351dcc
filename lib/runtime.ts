/** Picks the runtime adapter this process runs on; only main.ts imports it. */
import type { RuntimeAdapter } from "./runtime/adapter.ts";

const adapter: RuntimeAdapter = "Deno" in globalThis ? await import("./runtime/deno.ts") : await import("./runtime/bun.ts");

export const { runtimeName, unsupported, args, environment, serve, onShutdownSignal, exit, tryLockFile, readIfCached, missingPermission } = adapter;
export { ListenError } from "./runtime/adapter.ts";
