/**
 * Connections a client opens and then holds, on a real socket under Deno: closed once they are silent,
 * slow or idle past --request-timeout, and capped per client address.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "node:net";
import { MAX_CONNECTIONS_PER_CLIENT } from "../lib/runtime/adapter.ts";
import { tempDataDir } from "./helpers.ts";
import { RELAY_COMMANDS, type RelayProcess, startRelayProcess } from "./processes.ts";
import { closedWithin, exchange, openSocket, wireRequest } from "./raw-socket.ts";

const REQUEST_TIMEOUT_SECONDS = 2;
/** Slack for the server's timeout checks (every 0.5 s on Deno) and a loaded machine. */
const MARGIN_MS = 2500;

async function startRelay(requestTimeout: number): Promise<RelayProcess> {
  const args = ["--host", "127.0.0.1", "--port", "0", "--data-dir", await tempDataDir(), "--keyless", "--request-timeout", String(requestTimeout)];
  return await startRelayProcess([...RELAY_COMMANDS.deno, ...args]);
}

/** Writes a header line every 300 ms, never ending the head, until the socket closes. */
function trickleHeaders(socket: Socket): void {
  socket.write("POST /deposit HTTP/1.1\r\nHost: relay.test\r\n");
  const timer = setInterval(() => socket.write("X-Slow: 1\r\n"), 300);
  socket.once("close", () => clearInterval(timer));
}

/**
 * Sends a deposit's head declaring `length` body bytes, then a body byte every 300 ms until the socket
 * closes; the text received comes with the close.
 */
function trickleBody(socket: Socket, length: number, host = "relay.test"): { received: () => string } {
  let received = "";
  socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
  socket.write(`POST /deposit HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${length}\r\n\r\n{`);
  const timer = setInterval(() => socket.write(" "), 300);
  socket.once("close", () => clearInterval(timer));
  return { received: () => received };
}

// Deno only: Bun closes a connection idle between requests after its idleTimeout (rounded up to its 4 s
// timer ticks) and one that has not sent a whole request head within about 10 s, whatever the option.
describe("connection time bounds under deno", () => {
  let relay: RelayProcess;
  beforeAll(async () => (relay = await startRelay(REQUEST_TIMEOUT_SECONDS)));
  afterAll(() => relay.stop());

  test("a silent socket, an idle kept-alive one and a request head sent a line at a time are closed within --request-timeout", async () => {
    const [silent, idle, slow] = await Promise.all([openSocket(relay.port), openSocket(relay.port), openSocket(relay.port)]);
    idle.write(wireRequest("GET", "/healthz"));
    trickleHeaders(slow);
    const deadline = REQUEST_TIMEOUT_SECONDS * 1000 + MARGIN_MS;
    expect(await Promise.all([silent, idle, slow].map((socket) => closedWithin(socket, deadline)))).toEqual([true, true, true]);
  }, 15_000);

  test("a body sent a byte at a time gets 408 at --request-timeout and one declared too large 413 at once, each on a connection then closed while the client still sends", async () => {
    const [slow, large] = await Promise.all([openSocket(relay.port), openSocket(relay.port)]);
    const [slowBody, largeBody] = [trickleBody(slow, 1000), trickleBody(large, 10_000_000)];
    const deadline = REQUEST_TIMEOUT_SECONDS * 1000 + MARGIN_MS;
    expect(await Promise.all([closedWithin(slow, deadline), closedWithin(large, MARGIN_MS)])).toEqual([true, true]);
    expect(slowBody.received()).toStartWith("HTTP/1.1 408 ");
    expect(slowBody.received()).toEndWith(`{"status":"error","reason":"request_timeout"}`);
    expect(largeBody.received()).toStartWith("HTTP/1.1 413 ");
    expect(largeBody.received()).toEndWith(`{"status":"error","reason":"payload_too_large"}`);
  }, 15_000);

  test("a body sent a byte at a time with a Host holding a / gets 400 at once, on a connection then closed (well before --request-timeout)", async () => {
    const socket = await openSocket(relay.port);
    const body = trickleBody(socket, 1000, "a/b");
    expect(await closedWithin(socket, 1000)).toBe(true);
    expect(body.received()).toStartWith("HTTP/1.1 400 ");
    expect(body.received()).toEndWith(`{"status":"error","reason":"bad_request"}`);
  }, 15_000);
});

describe("connections per client under deno", () => {
  let relay: RelayProcess;
  const sockets: Socket[] = [];
  beforeAll(async () => (relay = await startRelay(30)));
  afterAll(() => (sockets.forEach((socket) => socket.destroy()), relay.stop()));

  test(`the ${MAX_CONNECTIONS_PER_CLIENT + 1}th connection from one address is closed at once; the others are served`, async () => {
    for (let i = 0; i < MAX_CONNECTIONS_PER_CLIENT; i++) sockets.push(await openSocket(relay.port));
    const extra = await openSocket(relay.port);
    expect(await closedWithin(extra, 1000)).toBe(true);

    const answered = await exchangeOn(sockets[0], wireRequest("GET", "/healthz"));
    expect(answered).toContain("HTTP/1.1 200");
    const closing = sockets.pop()!;
    closing.end();
    expect(await closedWithin(closing, 5000)).toBe(true);
    expect((await exchange(relay.port, wireRequest("GET", "/healthz"), 1)).map((response) => response.status)).toEqual([200]);
  }, 20_000);
});

describe("connections from a trusted proxy under deno", () => {
  test(`are not capped: ${MAX_CONNECTIONS_PER_CLIENT + 1} stay open`, async () => {
    const args = ["--host", "127.0.0.1", "--port", "0", "--data-dir", await tempDataDir(), "--keyless", "--trust-proxy", "127.0.0.1"];
    const relay = await startRelayProcess([...RELAY_COMMANDS.deno, ...args]);
    const sockets = await Promise.all(Array.from({ length: MAX_CONNECTIONS_PER_CLIENT + 1 }, () => openSocket(relay.port)));
    try {
      expect(await closedWithin(sockets.at(-1)!, 1000)).toBe(false);
      expect(await exchangeOn(sockets.at(-1)!, wireRequest("GET", "/healthz"))).toContain("HTTP/1.1 200");
    } finally {
      sockets.forEach((socket) => socket.destroy());
      relay.stop();
    }
  }, 20_000);
});

/** Writes `bytes` on an open socket and resolves with the first data it gets back. */
function exchangeOn(socket: Socket, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once("data", (chunk: Buffer) => resolve(chunk.toString("latin1")));
    socket.write(bytes);
  });
}
