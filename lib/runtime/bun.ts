/** The runtime adapter for Bun (and the binary compiled with `bun build --compile`). */
import { dlopen, FFIType, type Pointer, ptr, read } from "bun:ffi";
import { closeSync, openSync } from "node:fs";
import { constants } from "node:os";
import type { ReadIfCached } from "../cached-read.ts";
import type { FileLock } from "../file-lock.ts";
import { type Handler, hasBase64Bytes, internalErrorResponse, listenOrThrow, onEachShutdownSignal, type RunningServer, type ServeOptions, trackCalls } from "./adapter.ts";

export const runtimeName = `bun ${Bun.version}`;

export const unsupported = hasBase64Bytes ? undefined : `Bun ${Bun.version} is too old: run the Bun package.json names, or later`;

export function args(): string[] {
  return process.argv.slice(2);
}

export function environment(): Record<string, string | undefined> {
  return process.env;
}

export async function serve(app: Handler, options: ServeOptions): Promise<RunningServer> {
  const { handler, settled } = trackCalls(app);
  const server = await listenOrThrow(options, () =>
    Bun.serve({
      hostname: options.host,
      port: options.port,
      // Bun closes connections idle this long (its own default is 10 s); the handler times body reads too.
      // Bun.serve shows no connection that has sent no request, so connections per client are not capped here.
      idleTimeout: options.idleTimeoutSeconds,
      async fetch(request, bunServer) {
        if (await closedBehindPipeline(request)) return NOT_SENT;
        const answer = handler(request, () => bunServer.requestIP(request)?.address ?? "");
        return request.method === "HEAD" ? withDate(answer) : answer;
      },
      error: internalErrorResponse,
    }));
  return { port: server.port!, stop: async () => (await server.stop(false), await settled()) };
}

/**
 * Bun 1.4 answers no request pipelined behind one still being handled: on parsing the next request in
 * the same read it closes the connection, unanswered (oven-sh/bun#38128), after this request has started.
 * The close happens within that read, so one macrotask later it shows as this request's aborted signal:
 * such a request is refused before it acts (a deposit stored or a mailbox emptied with no answer would
 * be duplicated by the client's retry, or lost). A request pipelined in a later read still meets that
 * close mid-way, as with any client that goes away before its answer.
 */
async function closedBehindPipeline(request: Request): Promise<boolean> {
  await nextTurn();
  return request.signal.aborted;
}

let turnEnd: Promise<void> | null = null;

/** Resolves on the event loop's next turn: the requests that arrive in one turn all wait for the same one. */
function nextTurn(): Promise<void> {
  return turnEnd ??= new Promise((resolve) => setImmediate(() => (turnEnd = null, resolve())));
}

/** Bun adds a Date to every answer but one without a body (HEAD's), which must carry GET's headers. */
async function withDate(answer: Promise<Response>): Promise<Response> {
  const response = await answer;
  if (!response.headers.has("date")) response.headers.set("Date", new Date().toUTCString());
  return response;
}

/** The answer to a request whose connection is closed: never sent. */
const NOT_SENT = new Response(null, { status: 499 });

export function onShutdownSignal(listener: () => void): void {
  onEachShutdownSignal((signal, each) => process.on(signal, each), listener);
}

export function exit(code: number): never {
  return process.exit(code);
}

/** None: Bun grants everything. */
export function missingPermission(): undefined {
  return undefined;
}

const LOCK_EX = 2;
const LOCK_NB = 4;
/** libc's flock(2), and where it leaves errno (Bun has no file lock of its own). */
const LIBC = process.platform === "darwin" ? { path: "libSystem.B.dylib", errno: "__error" } : { path: "libc.so.6", errno: "__errno_location" };
let libc: { flock(fd: number, operation: number): number; errno: Pointer } | undefined;

/**
 * libc's flock and the address of this thread's errno. The address is taken once: it is the same for
 * the thread's life (JavaScript runs on one thread), so errno is read with a plain load right after
 * flock returns, not through a second call into libc that could itself set errno first.
 */
function openLibc(): NonNullable<typeof libc> {
  const { symbols } = dlopen(LIBC.path, {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    [LIBC.errno]: { args: [], returns: FFIType.ptr },
  });
  return { flock: (fd, operation) => symbols.flock(fd, operation), errno: symbols[LIBC.errno]() as Pointer };
}

/** Rejects when libc cannot be loaded (e.g. musl, whose libc is not libc.so.6), the file cannot be opened, or flock fails other than "held". */
export async function tryLockFile(path: string): Promise<FileLock | undefined> {
  libc ??= openLibc();
  const fd = openSync(path, "r");
  if (libc.flock(fd, LOCK_EX | LOCK_NB) === 0) return { release: () => closeSync(fd) };
  const errno = read.i32(libc.errno); // first, before closeSync can set errno again
  closeSync(fd);
  if (errno === constants.errno.EWOULDBLOCK) return undefined;
  const name = Object.entries(constants.errno).find(([, number]) => number === errno)?.[0] ?? `errno ${errno}`;
  throw new Error(`flock ${path}: ${name}`);
}

/** preadv2's flag: take the bytes only if they are in the page cache, else fail with EAGAIN (Linux 4.14). */
const RWF_NOWAIT = 8;
/** The one iovec of a cached read: the target's address and the length, each a 64-bit word (little-endian, as on every Linux Bun runs on) in two 32-bit halves. */
const iovec = new Uint32Array(4);
const WORD = 2 ** 32;
let preadv2: ((fd: number, iov: Pointer, count: number, position: number, flags: number) => number) | null | undefined;

/**
 * Linux's preadv2 with RWF_NOWAIT, from glibc (loaded at the first read). A record deposited or read
 * lately is in the page cache: taken here it costs about 2 µs, and about 20 µs more of CPU through Bun's
 * I/O pool (the hand-offs between threads). Elsewhere (macOS, musl, a kernel before 4.14) it answers -1
 * and the store reads through the pool.
 */
export const readIfCached: ReadIfCached = (fd, target, at, length, position) => {
  if (preadv2 === undefined) preadv2 = openPreadv2(); // null (unavailable) is kept: looked up once
  // The kernel writes where the iovec points: never past the target, whatever a caller asks.
  if (!preadv2 || !(length > 0 && at >= 0 && at + length <= target.length)) return -1;
  const address = ptr(target, at);
  iovec[0] = address % WORD;
  iovec[1] = address / WORD;
  iovec[2] = length;
  return preadv2(fd, ptr(iovec), 1, position, RWF_NOWAIT);
};

function openPreadv2(): typeof preadv2 {
  if (process.platform !== "linux") return null;
  try {
    const { symbols } = dlopen(LIBC.path, {
      preadv2: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.i64, FFIType.i32], returns: FFIType.i64_fast },
    });
    return (fd, iov, count, position, flags) => Number(symbols.preadv2(fd, iov, count, position, flags));
  } catch {
    return null;
  }
}
