/** Raw TCP clients for tests of the HTTP/1.1 wire: pipelined writes, silent or slow sockets. */
import { connect, type Socket } from "node:net";

/** One HTTP/1.1 response read off the wire. */
export interface WireResponse {
  status: number;
  body: string;
}

/** An HTTP/1.1 request as bytes on the wire (Content-Length set from `body`). */
export function wireRequest(method: string, path: string, body?: string): string {
  const length = body === undefined ? "" : `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  return `${method} ${path} HTTP/1.1\r\nHost: relay.test\r\n${length}\r\n${body ?? ""}`;
}

/** Opens a TCP connection to 127.0.0.1:port; resolves once connected. */
export async function openSocket(port: number): Promise<Socket> {
  const socket = connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  return socket;
}

/** Reads (and drops) what `socket` receives; resolves when the peer closes it (true), or after `timeoutMs` with it open (false). */
export function closedWithin(socket: Socket, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.closed) return resolve(true);
    socket.on("error", () => {}).resume();
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Writes `bytes` in one write on a fresh connection and reads responses until `expected` have arrived,
 * the server closes, or `timeoutMs` passes; the socket is then destroyed.
 */
export async function exchange(port: number, bytes: string, expected: number, timeoutMs = 5000): Promise<WireResponse[]> {
  const socket = await openSocket(port);
  let received = Buffer.alloc(0);
  let responses: WireResponse[] = [];
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const finish = () => (clearTimeout(timer), resolve());
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      responses = parseResponses(received);
      if (responses.length >= expected) finish();
    });
    socket.on("close", finish);
    socket.on("error", finish);
  });
  socket.write(bytes);
  await done;
  socket.destroy();
  return responses;
}

/** The complete responses at the start of `bytes` (Content-Length or chunked bodies). */
function parseResponses(bytes: Buffer): WireResponse[] {
  const responses: WireResponse[] = [];
  for (let offset = 0; ;) {
    const headEnd = bytes.indexOf("\r\n\r\n", offset);
    if (headEnd < 0) return responses;
    const head = bytes.subarray(offset, headEnd).toString("latin1");
    const status = Number(head.split(" ")[1]);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    let body: Buffer;
    let next: number;
    if (length) {
      next = headEnd + 4 + Number(length[1]);
      if (next > bytes.length) return responses;
      body = bytes.subarray(headEnd + 4, next);
    } else {
      const chunks: Buffer[] = [];
      let position = headEnd + 4;
      for (;;) {
        const lineEnd = bytes.indexOf("\r\n", position);
        if (lineEnd < 0) return responses;
        const size = parseInt(bytes.subarray(position, lineEnd).toString("latin1"), 16);
        if (lineEnd + 2 + size + 2 > bytes.length) return responses;
        chunks.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
        position = lineEnd + 2 + size + 2;
        if (size === 0) break;
      }
      body = Buffer.concat(chunks);
      next = position;
    }
    responses.push({ status, body: body.toString("utf8") });
    offset = next;
  }
}
