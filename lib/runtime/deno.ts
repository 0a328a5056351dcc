/** The runtime adapter for Deno. */
import type { FileLock } from "../file-lock.ts";
import { type Handler, hasBase64Bytes, listenOrThrow, onEachShutdownSignal, type RunningServer, type ServeOptions, trackCalls } from "./adapter.ts";
import { serveNodeHttp } from "./node-http.ts";

export const runtimeName = `deno ${Deno.version.deno}`;

/**
 * Deno 2.7 brought the last of what the relay uses of it (FsFile.tryLock; Uint8Array.fromBase64 came in
 * 2.5): an older one would fail mid-way.
 */
export const unsupported = typeof Deno.FsFile.prototype.tryLock === "function" && hasBase64Bytes
  ? undefined
  : `Deno ${Deno.version.deno} is too old: run Deno 2.7 or later`;

export function args(): string[] {
  return Deno.args;
}

export function environment(): Record<string, string | undefined> {
  return Deno.env.toObject();
}

export async function serve(app: Handler, options: ServeOptions): Promise<RunningServer> {
  const { handler, settled } = trackCalls(app);
  const server = await listenOrThrow(options, () => serveNodeHttp(handler, options));
  return { port: server.port, stop: async () => (await server.close(), await settled()) };
}

export function onShutdownSignal(listener: () => void): void {
  onEachShutdownSignal((signal, each) => Deno.addSignalListener(signal, each), listener);
}

export function exit(code: number): never {
  return Deno.exit(code);
}

export async function tryLockFile(path: string): Promise<FileLock | undefined> {
  const file = await Deno.open(path, { read: true });
  const locked = await file.tryLock(true).catch((error) => {
    file.close();
    throw error;
  });
  if (locked) return { release: () => file.close() };
  file.close();
  return undefined;
}

/** None: Deno reaches preadv2 only through FFI, a permission the relay does not ask for. */
export const readIfCached = undefined;
