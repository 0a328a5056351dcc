/** The runtime adapter for Bun (and the binary compiled with `bun build --compile`). */
import { type Handler, internalErrorResponse, listenOrThrow, onceOnSignals, type RunningServer, type ServeOptions } from "./adapter.ts";

export const runtimeName = `bun ${Bun.version}`;

export function args(): string[] {
  return process.argv.slice(2);
}

export function environment(): Record<string, string | undefined> {
  return process.env;
}

export function serve(handler: Handler, options: ServeOptions): RunningServer {
  const server = listenOrThrow(options, () =>
    Bun.serve({
      hostname: options.host,
      port: options.port,
      // Bun closes connections idle this long (its own default is 10 s); the handler times body reads too.
      idleTimeout: options.idleTimeoutSeconds,
      fetch: (request, bunServer) => handler(request, bunServer.requestIP(request)?.address ?? ""),
      error: internalErrorResponse,
    }));
  return { port: server.port!, stop: () => server.stop(false) };
}

export function onShutdownSignal(listener: () => void): void {
  onceOnSignals((signal, once) => process.on(signal, once), listener);
}

export function exit(code: number): never {
  return process.exit(code);
}
