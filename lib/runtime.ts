/** Everything that differs between Deno and Bun: serving HTTP, argv, environment, signals, exit. */

/** The relay's request handler: a request and the peer's address. */
export type Handler = (request: Request, peerAddress: string) => Promise<Response>;

/** A listening server. */
export interface RunningServer {
  port: number;
  /** Stops accepting connections and resolves when in-flight requests are answered. */
  stop(): Promise<void>;
}

// Minimal types for the Deno global, so the Bun-typed project type-checks without Deno's lib.
interface DenoServer {
  addr: { port: number };
  shutdown(): Promise<void>;
}
interface DenoGlobal {
  args: string[];
  env: { toObject(): Record<string, string> };
  serve(
    options: { hostname: string; port: number; onListen?(): void },
    handler: (request: Request, info: { remoteAddr: { hostname: string } }) => Promise<Response>,
  ): DenoServer;
  addSignalListener(signal: "SIGTERM" | "SIGINT", listener: () => void): void;
  exit(code: number): never;
}

const deno = (globalThis as { Deno?: DenoGlobal }).Deno;

/** The runtime's name and version, for logs and /healthz. */
export const runtimeName = deno ? "deno" : `bun ${Bun.version}`;

/** Command-line arguments after the program (and script) name. */
export function args(): string[] {
  return deno ? deno.args : process.argv.slice(2);
}

/** The process environment. */
export function environment(): Record<string, string | undefined> {
  return deno ? deno.env.toObject() : process.env;
}

/** Serves `handler` on host:port. */
export function serve(handler: Handler, options: { host: string; port: number; idleTimeoutSeconds: number }): RunningServer {
  if (deno) {
    // Deno.serve has no body-size limit or idle timeout of its own: the handler enforces both.
    const server = deno.serve(
      { hostname: options.host, port: options.port, onListen() {} },
      (request, info) => handler(request, info.remoteAddr.hostname),
    );
    return { port: server.addr.port, stop: () => server.shutdown() };
  }
  const server = Bun.serve({
    hostname: options.host,
    port: options.port,
    // Bun closes connections idle this long (its own default is 10 s); the handler times body reads too.
    idleTimeout: options.idleTimeoutSeconds,
    fetch: (request, bunServer) => handler(request, bunServer.requestIP(request)?.address ?? ""),
  });
  return { port: server.port!, stop: () => server.stop(false) };
}

/** Calls `listener` once on SIGTERM or SIGINT. */
export function onShutdownSignal(listener: () => void): void {
  let called = false;
  const once = () => {
    if (!called) listener();
    called = true;
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    if (deno) deno.addSignalListener(signal, once);
    else process.on(signal, once);
  }
}

/** Ends the process. */
export function exit(code: number): never {
  return deno ? deno.exit(code) : process.exit(code);
}
