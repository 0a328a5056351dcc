/**
 * Serving through node:http, for the Deno adapter. Deno.serve (2.9) has no header, request or idle
 * timeout and no hook on connections (a keepAliveTimeout option is proposed: denoland/deno#34172): a
 * socket that never sends a request, or sends its head a line at a time, stays open for ever, and
 * nothing counts connections. Deno.listen + Deno.serveHttp, which gave each connection to the program,
 * is gone in Deno 2; a TCP front proxying to Deno.serve would have to parse HTTP to time request heads.
 * Deno's node:http runs on node:net sockets, honours headersTimeout, requestTimeout and keepAliveTimeout,
 * and its "connection" event sees every socket before it is read. The price is CPU: the minimal durable
 * server needs 82 µs per deposit on node:http against 39 µs on Deno.serve (quiet 2-core VM). A relay
 * open to the Internet needs bounded connections more; once Deno.serve has timeouts and a connection hook
 * (still none in 2.9.6), this file can go.
 *
 * The bridge to the app's web Request is kept cheap: a body that came with its head is handed over as
 * bytes (a ReadableStream.from(incoming) per request cost about 30% of the relay's server CPU per deposit
 * under Deno: 340 -> 245 µs, A/B on a loaded VM), and headers are appended to the Request's own Headers
 * (a Headers object in RequestInit is copied through the generic iterator: 12.8 -> 5.9 µs per Request).
 */
import { createServer, type IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { rateLimitKey } from "../client-address.ts";
import { errorResponse, errors } from "../errors.ts";
import { type Handler, internalErrorResponse, MAX_CONNECTIONS_PER_CLIENT, type ServeOptions } from "./adapter.ts";

/** How often node:http looks for requests past their deadline. */
const TIMEOUT_CHECK_MS = 500;

/** Serves `handler` on host:port with node:http; resolves once listening. */
export async function serveNodeHttp(handler: Handler, options: ServeOptions): Promise<{ port: number; close(): Promise<void> }> {
  // Like Deno.serve: HTTP/1.1 without Host is passed on.
  const server = createServer({ connectionsCheckingInterval: TIMEOUT_CHECK_MS, requireHostHeader: false }, (incoming, outgoing) => {
    // The parser emits a request on its head and goes on with the rest of the same read: a body that came
    // with the head is in `incoming`, and the request complete, one microtask later.
    queueMicrotask(() => {
      const request = toRequest(incoming);
      const answer = request ? handler(request, incoming.socket.remoteAddress ?? "").catch(internalErrorResponse) : refusal();
      answer.then((response) => send(response, outgoing)).catch(() => outgoing.destroy());
    });
  });
  // A request's head and body must arrive within the timeout, and a kept-alive connection may sit idle as long.
  server.headersTimeout = server.requestTimeout = server.keepAliveTimeout = options.idleTimeoutSeconds * 1000;
  server.on("connection", capPerClient(options.isTrustedProxy));
  // node:http hands CONNECT over as a raw socket.
  server.on("connect", (incoming: IncomingMessage, socket: Socket) => {
    const outgoing = new ServerResponse(incoming);
    outgoing.assignSocket(socket);
    outgoing.shouldKeepAlive = false;
    refusal().then((response) => send(response, outgoing)).then(() => socket.end(), () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => (server.off("error", reject), resolve()));
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeIdleConnections())),
  };
}

/** A "connection" listener that destroys a client's connections beyond MAX_CONNECTIONS_PER_CLIENT at once. */
function capPerClient(isTrustedProxy: (address: string) => boolean): (socket: Socket) => void {
  const open = new Map<string, number>();
  return (socket) => {
    const address = socket.remoteAddress ?? "";
    if (isTrustedProxy(address)) return;
    const key = rateLimitKey(address);
    const count = open.get(key) ?? 0;
    if (count >= MAX_CONNECTIONS_PER_CLIENT) return void socket.destroy();
    open.set(key, count + 1);
    socket.once("close", () => {
      const left = open.get(key)! - 1;
      if (left) open.set(key, left);
      else open.delete(key);
    });
  };
}

/** The answer to a request a web Request cannot carry (CONNECT, TRACE, TRACK): 400, as the app answers CONNECT. */
const refusal = () => Promise.resolve(errorResponse(errors.badRequest()));

/**
 * The web Request for a node:http request, or null for a method a Request cannot carry. Its url is the
 * one the client sent, parseable or not (from Host, like Deno.serve's and Bun's; a bare path without Host, like
 * Bun's): the app judges it. A Request cannot be built on an unparseable URL, so it is built on a placeholder
 * and given the received one.
 */
function toRequest(incoming: IncomingMessage): Request | null {
  const method = incoming.method ?? "GET";
  const target = incoming.url ?? "/";
  const host = incoming.headers.host;
  const url = target.startsWith("/") && host !== undefined ? `http://${host}${target}` : target;
  const parseable = URL.canParse(url);
  let request: Request;
  try {
    request = new Request(parseable ? url : "http://relay.invalid/", { method, body: bodyOf(incoming, method), duplex: "half" } as RequestInit);
    // Cheaper than a Headers in the init, which Request copies through the generic iterator.
    const { headers } = request;
    for (let i = 0; i < incoming.rawHeaders.length; i += 2) headers.append(incoming.rawHeaders[i], incoming.rawHeaders[i + 1]);
  } catch {
    return null;
  }
  return parseable ? request : Object.defineProperty(request, "url", { value: url });
}

/**
 * The body of `incoming`: its bytes when it has arrived whole, else a stream the app reads within its own
 * size and time limits. A whole body is already in memory: node:http stops reading a socket once a request
 * holds more than its high-water mark (16 KiB) unread, so a body that arrived whole is at most that and
 * one socket read (64 KiB).
 */
function bodyOf(incoming: IncomingMessage, method: string): Uint8Array | ReadableStream<Uint8Array> | undefined {
  if (method === "GET" || method === "HEAD") return undefined;
  if (!incoming.complete) return ReadableStream.from<Uint8Array>(incoming);
  // Deno's read() hands over one buffered chunk at a time.
  const chunks: Buffer[] = [];
  for (let chunk: Buffer | null; (chunk = incoming.read()) !== null;) chunks.push(chunk);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/** Writes `response` (the relay's are small: buffered whole) to node:http; a HEAD answer keeps its Content-Length. */
async function send(response: Response, outgoing: ServerResponse): Promise<void> {
  const body = await response.bytes();
  const headers: Record<string, string> = { "content-length": String(body.length) };
  response.headers.forEach((value, name) => (headers[name] = value));
  outgoing.writeHead(response.status, headers);
  outgoing.end(body);
}
