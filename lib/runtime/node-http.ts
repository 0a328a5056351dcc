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
 * The app is handed a light HttpRequest read straight from node:http's request, not a web Request: building
 * one (its Headers, its body) cost about 18 µs of server CPU per deposit under Deno. A body that came with
 * its head is handed over as bytes (a ReadableStream.from(incoming) per request cost about 30% of the relay's
 * server CPU per deposit under Deno: 340 -> 245 µs, A/B on a loaded VM); only a body still arriving is streamed.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { concatBytes } from "../bytes.ts";
import { rateLimitKey } from "../client-address.ts";
import { errorResponse, errors } from "../errors.ts";
import type { HttpRequest } from "../http-request.ts";
import { type Handler, internalErrorResponse, MAX_CONNECTIONS_PER_CLIENT, type ServeOptions } from "./adapter.ts";

/** A character that ends a URL's authority, or may not be in one: never in a Host. */
const AUTHORITY_END = /[/?#@\\\s]/;

/** How often node:http looks for requests past their deadline. */
const TIMEOUT_CHECK_MS = 500;

/** Serves `handler` on host:port with node:http; resolves once listening. */
export async function serveNodeHttp(handler: Handler, options: ServeOptions): Promise<{ port: number; close(): Promise<void> }> {
  // Like Deno.serve: HTTP/1.1 without Host is passed on.
  const server = createServer({ connectionsCheckingInterval: TIMEOUT_CHECK_MS, requireHostHeader: false }, (incoming, outgoing) => {
    // The parser emits a request on its head and goes on with the rest of the same read: a body that came
    // with the head is in `incoming`, and the request complete, one microtask later. Bytes after it that are
    // no request have by then made node:http answer a bare 400 and close the connection: the request is
    // refused before it acts (a deposit stored or a mailbox emptied with no answer would be duplicated by the
    // client's retry, or lost), as under Bun (see closedBehindPipeline in bun.ts).
    queueMicrotask(() => {
      if (incoming.socket.destroyed) return;
      // A Host holding what ends an authority would move the path the URL is built with (see IncomingRequest).
      const badHost = AUTHORITY_END.test(incoming.headers.host ?? "");
      const peerAddress = incoming.socket.remoteAddress ?? "";
      const response = badHost ? Promise.resolve(errorResponse(errors.badRequest())) : handler(new IncomingRequest(incoming), () => peerAddress).catch(internalErrorResponse);
      response.then((answer) => send(answer, incoming, outgoing)).catch(() => outgoing.destroy());
    });
  });
  // A request's head and body must arrive within the timeout, and a kept-alive connection may sit idle as long.
  server.headersTimeout = server.requestTimeout = server.keepAliveTimeout = options.idleTimeoutSeconds * 1000;
  server.on("connection", capPerClient(options.isTrustedProxy));
  // node:http hands CONNECT over apart, as a raw socket: 400, as the app answers it.
  server.on("connect", (incoming: IncomingMessage, socket: Socket) => {
    const outgoing = new ServerResponse(incoming);
    outgoing.assignSocket(socket);
    outgoing.shouldKeepAlive = false;
    send(errorResponse(errors.badRequest()), incoming, outgoing).then(() => socket.end(), () => socket.destroy());
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

/**
 * A node:http request as the app's HttpRequest. Its url is the one the client sent, parseable or not (from
 * Host, like Deno.serve's and Bun's; a bare path without Host or with an empty one, like Bun's): the app judges it.
 */
class IncomingRequest implements HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHeaders;
  readonly #incoming: IncomingMessage;
  /** The body, when it arrived with the head; null while it is still arriving. */
  readonly #whole: Uint8Array | null;
  #body: ReadableStream<Uint8Array> | null | undefined;

  constructor(incoming: IncomingMessage) {
    const target = incoming.url!;
    const host = incoming.headers.host;
    this.method = incoming.method!;
    // An empty Host (what a client sends for a target without authority) counts as none.
    this.url = target.startsWith("/") && host ? `http://${host}${target}` : target;
    this.headers = new IncomingHeaders(incoming.headers);
    this.#incoming = incoming;
    this.#whole = incoming.complete ? wholeBody(incoming) : null;
  }

  bytes(): Uint8Array | Promise<Uint8Array> {
    return this.#whole ?? collect(this.#incoming);
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#body === undefined) {
      const whole = this.#whole;
      this.#body = whole === null
        ? ReadableStream.from<Uint8Array>(this.#incoming)
        : whole.length === 0
        ? null
        : new ReadableStream({ start: (controller) => (controller.enqueue(whole), controller.close()) });
    }
    return this.#body;
  }
}

/**
 * node:http's headers, looked up by a name in any case. node:http joins a repeated header with ", " as
 * Headers does (X-Forwarded-For, X-Forwarded-Proto, Accept: all the app reads), save a few it keeps the
 * first of (Host, User-Agent, Content-Type...; its parser refuses a repeated Content-Length), Cookie (joined
 * with "; ") and Set-Cookie (an array, joined here).
 */
class IncomingHeaders {
  readonly #fields: IncomingHttpHeaders;

  constructor(fields: IncomingHttpHeaders) {
    this.#fields = fields;
  }

  get(name: string): string | null {
    const value = this.#fields[name.toLowerCase()];
    return value === undefined ? null : typeof value === "string" ? value : value.join(", ");
  }
}

/**
 * The body of a request that has arrived whole. It is already in memory: node:http stops reading a socket
 * once a request holds more than its high-water mark (16 KiB) unread, so a body that arrived whole is at
 * most that and one socket read (64 KiB).
 */
function wholeBody(incoming: IncomingMessage): Uint8Array {
  // Deno's read() hands over one buffered chunk at a time.
  const chunks: Buffer[] = [];
  for (let chunk: Buffer | null; (chunk = incoming.read()) !== null;) chunks.push(chunk);
  return chunks.length === 1 ? chunks[0] : concatBytes(chunks);
}

/** The rest of a body still arriving, as one array; rejects when the client goes away mid-body. */
async function collect(incoming: IncomingMessage): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of incoming) chunks.push(chunk);
  return concatBytes(chunks);
}

/**
 * Writes `response` to `incoming`'s node:http response; a HEAD answer keeps its Content-Length. An answer
 * before the body was read whole (400, 408, 413) closes the connection once it is out, or node:http would
 * wait for the rest of the body, however slowly it comes. The relay's answers are small text
 * (JSON, HTML, Prometheus), buffered whole and written as a string, which node:http sends in one piece with
 * the head (bytes go as a second buffer: about 1.5 µs more per answer under Deno).
 */
async function send(response: Response, incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
  if (!incoming.complete) outgoing.shouldKeepAlive = false;
  const body = await response.text();
  const headers: Record<string, string> = { "content-length": String(Buffer.byteLength(body)) };
  response.headers.forEach((value, name) => (headers[name] = value));
  outgoing.writeHead(response.status, headers);
  outgoing.end(body);
}
