/** What every runtime adapter offers (lib/runtime/bun.ts, lib/runtime/deno.ts), and what they share. */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { errorResponse, errors } from "../errors.ts";
import type { ReadIfCached } from "../cached-read.ts";
import type { TryLockFile } from "../file-lock.ts";
import type { HttpRequest } from "../http-request.ts";
import { jsonLogger } from "../log.ts";

/**
 * The relay's request handler: a request, and how to look up the peer's address (called only when the
 * relay needs it, for its rate limits: Bun makes a `getpeername` call for each lookup); "" once the
 * connection is gone.
 */
export type Handler = (request: HttpRequest, peerAddress: () => string) => Promise<Response>;

/** Where and how to serve. */
export interface ServeOptions {
  host: string;
  port: number;
  /** Seconds a client may take to send a request; also how long a connection may sit idle. */
  idleTimeoutSeconds: number;
  /** Whether a peer (an address in any spelling) is a trusted proxy, whose connections carry many clients: not capped. */
  isTrustedProxy(address: string): boolean;
}

/**
 * Connections one client (an IPv4 address, an IPv6 /64) may hold at once; more are closed on arrival.
 * Trusted proxies are not capped. Enforced where the runtime shows connections (Deno, via node:http).
 */
export const MAX_CONNECTIONS_PER_CLIENT = 64;

/** A listening server. */
export interface RunningServer {
  port: number;
  /** Stops accepting connections and resolves when in-flight requests are answered. */
  stop(): Promise<void>;
}

/** Everything that differs between runtimes: serving HTTP, argv, environment, signals, exit, file locks, cached reads. */
export interface RuntimeAdapter {
  /** The runtime's name and version, for logs and /healthz (e.g. "bun 1.4.5", "deno 2.9.6"). */
  runtimeName: string;
  /** Why this runtime (too old a version) cannot run the program, one line for the operator; undefined when it can. */
  unsupported: string | undefined;
  /** Command-line arguments after the program (and script) name. */
  args(): string[];
  /** The process environment. */
  environment(): Record<string, string | undefined>;
  /** Serves `handler` on host:port; rejects with a ListenError when it cannot listen. */
  serve(handler: Handler, options: ServeOptions): Promise<RunningServer>;
  /** Calls `listener` on each SIGTERM or SIGINT. */
  onShutdownSignal(listener: () => void): void;
  /** Ends the process. */
  exit(code: number): never;
  /** See {@link TryLockFile}. */
  tryLockFile: TryLockFile;
  /** See {@link ReadIfCached}; undefined where the runtime has no such read: the store then reads through its I/O pool. */
  readIfCached: ReadIfCached | undefined;
  /** The runtime's own refusal (not the system's) of something it was not permitted at launch, as one line; undefined for any other error. */
  missingPermission(error: unknown): string | undefined;
}

/** Whether this runtime has Uint8Array's base64 methods, which lib/crypto/pem.ts uses (Deno has them from 2.5). */
export const hasBase64Bytes = typeof (Uint8Array as { fromBase64?: unknown }).fromBase64 === "function";

/** The server could not listen; the message is one line for the operator. */
export class ListenError extends Error {
  override name = "ListenError";
}

/** What the runtimes' error codes mean to an operator. */
const LISTEN_PROBLEMS: Record<string, string> = {
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "address not available",
  // Deno's node:net reports an address not on this host as EINVAL.
  EINVAL: "address not available",
  EACCES: "permission denied",
};

/** `host:port` as an operator writes it, an IPv6 address in brackets. */
export function hostAndPort({ host, port }: { host: string; port: number }): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Serves with `listen`, turning the runtime's failure to listen into a ListenError naming host:port and the problem. */
export async function listenOrThrow<T>(options: ServeOptions, listen: () => T | Promise<T>): Promise<T> {
  const address = hostAndPort(options);
  // A name is resolved first: Bun reports one that does not resolve by whatever errno its thread last left
  // (EINVAL, or none at all, which it words as "Is port … in use?").
  try {
    if (!isIP(options.host)) await lookup(options.host);
  } catch {
    throw new ListenError(`cannot listen on ${address}: no such host`);
  }
  try {
    return await listen();
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    throw new ListenError(`cannot listen on ${address}: ${LISTEN_PROBLEMS[code ?? ""] ?? message ?? String(error)}`);
  }
}

/**
 * Wraps `handler` so that `settled()` resolves once every call has finished, including calls whose
 * client has gone: the runtimes' own graceful stop does not wait for those, and the store closes next.
 */
export function trackCalls(handler: Handler): { handler: Handler; settled(): Promise<void> } {
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  // One function for every call, not a closure per call: this runs for each request.
  const finished = () => {
    if (--inFlight === 0) for (const wake of waiting.splice(0)) wake();
  };
  return {
    handler(request, peerAddress) {
      const response = handler(request, peerAddress);
      inFlight++;
      response.then(finished, finished);
      return response;
    },
    settled() {
      return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

const log = jsonLogger();

/**
 * The answer when the handler throws past the app's own error boundary: the catalog's 500, never the
 * runtime's error page (Bun's shows source lines); logged as one line without a stack.
 */
export function internalErrorResponse(error: unknown): Response {
  log("internal_error", { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  return errorResponse(errors.internalError());
}

/** Calls `listener` on each SIGTERM or SIGINT; `subscribe` registers it with the runtime. */
export function onEachShutdownSignal(subscribe: (signal: "SIGTERM" | "SIGINT", listener: () => void) => void, listener: () => void): void {
  subscribe("SIGTERM", listener);
  subscribe("SIGINT", listener);
}
