/** The runtime adapter for Deno. */
import { isIP } from "node:net";
import type { FileLock } from "../file-lock.ts";
import { type Handler, hasBase64Bytes, hostAndPort, listenOrThrow, onEachShutdownSignal, type RunningServer, type ServeOptions, trackCalls } from "./adapter.ts";
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
  requireNetPermission(options);
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

/**
 * Throws NotCapable, as Deno would, when listening on an IP address is not permitted: node:http's listen
 * meets a missing --allow-net in a callback of its own, where it can only crash the process with its stack.
 */
function requireNetPermission(options: ServeOptions): void {
  if (!isIP(options.host)) return; // a name's permission depends on what it resolves to: left to the listen itself
  const address = hostAndPort(options);
  if (Deno.permissions.querySync({ name: "net", host: address }).state === "granted") return;
  throw new Deno.errors.NotCapable(`Requires net access to "${address}", run again with the --allow-net flag`);
}

/** A permission missing from the command line (NotCapable; PermissionDenied is the system's EACCES). */
export function missingPermission(error: unknown): string | undefined {
  if (!(error instanceof Deno.errors.NotCapable)) return undefined;
  return `${error.message} (the relay needs --allow-net --allow-read --allow-write --allow-env, as deno.json's start task gives it)`;
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
