/** The runtime adapter for Deno. */
import { type FileLock, type Handler, internalErrorResponse, listenOrThrow, onceOnSignals, type RunningServer, type ServeOptions, trackCalls } from "./adapter.ts";

export const runtimeName = `deno ${Deno.version.deno}`;

export function args(): string[] {
  return Deno.args;
}

export function environment(): Record<string, string | undefined> {
  return Deno.env.toObject();
}

export function serve(app: Handler, options: ServeOptions): RunningServer {
  const { handler, settled } = trackCalls(app);
  // Deno.serve has no body-size limit or idle timeout of its own: the handler enforces both.
  const server = listenOrThrow(options, () =>
    Deno.serve(
      { hostname: options.host, port: options.port, onListen() {}, onError: internalErrorResponse },
      (request, info) => handler(request, info.remoteAddr.hostname),
    ));
  return { port: server.addr.port, stop: async () => (await server.shutdown(), await settled()) };
}

export function onShutdownSignal(listener: () => void): void {
  onceOnSignals((signal, once) => Deno.addSignalListener(signal, once), listener);
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
