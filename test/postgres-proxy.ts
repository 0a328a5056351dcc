/**
 * TCP proxies on loopback in front of PostgreSQL: one that can make the engine slow (each answer held
 * `delayMs` before it goes on), one that hides a server's role and can cut a connection as the client
 * asks for it.
 */
import { connect, createServer, type Socket } from "node:net";

/** A running proxy. */
interface Proxy {
  port: number;
  /** Connections accepted so far (each a login to the engine). */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * Starts a proxy on a free loopback port; `pipe` joins each client to its own connection to the engine
 * at 127.0.0.1:`port`. Resolves to `state` with the proxy's port and close().
 */
async function startProxy<State extends object>(port: number, state: State, pipe: (client: Socket, engine: Socket) => void): Promise<State & Proxy> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  };
  const counted = Object.assign(state, { connections: 0 });
  const server = createServer((client) => {
    counted.connections++;
    const engine = connect(port, "127.0.0.1");
    track(client);
    track(engine);
    client.on("close", () => engine.destroy());
    pipe(client, engine);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return Object.assign(counted, {
    port: (server.address() as { port: number }).port,
    async close() {
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => server.close(resolve));
    },
  });
}

/** A running proxy; set `delayMs` to slow every answer from the engine from now on. */
export interface SlowingProxy extends Proxy {
  delayMs: number;
  /** When set, a connection's answers are slowed only once its client has sent this text (a statement's, as it is first prepared, or a value it carries). */
  slowAfter: string | undefined;
  /** Answers held back now. */
  readonly held: number;
}

/** Starts a proxy that forwards to the engine at 127.0.0.1:`port`, each answer `delayMs` late. */
export async function slowingProxy(port: number): Promise<SlowingProxy> {
  const proxy = await startProxy(port, { delayMs: 0, held: 0, slowAfter: undefined as string | undefined }, (client, engine) => {
    // Answers keep their order: each goes out `delayMs` after it arrived, and never before the one before it.
    let forwarded = Promise.resolve();
    /** The `slowAfter` text this connection's client has sent, if any. */
    let sent: string | undefined;
    engine.on("data", (chunk) => {
      const due = performance.now() + (proxy.slowAfter === undefined || sent === proxy.slowAfter ? proxy.delayMs : 0);
      proxy.held++;
      forwarded = forwarded.then(async () => {
        await Bun.sleep(Math.max(0, due - performance.now()));
        proxy.held--;
        if (!client.destroyed) client.write(chunk);
      });
    });
    client.on("data", (chunk) => {
      if (proxy.slowAfter !== undefined && chunk.includes(proxy.slowAfter)) sent = proxy.slowAfter;
      if (!engine.destroyed) engine.write(chunk);
    });
    engine.on("close", () => void forwarded.then(() => client.destroy()));
  });
  return proxy;
}

/** A running proxy; the next `cutRoleChecks` connections that ask the server's role are cut then. */
export interface RoleHidingProxy extends Proxy {
  cutRoleChecks: number;
  /** Connections cut so far. */
  readonly cut: number;
}

/** What PostgreSQL 14+ reports at login that tells a standby from a primary. */
const ROLE_REPORTS = new Set(["in_hot_standby", "default_transaction_read_only"]);

/** The server's messages in `buffer` without its ROLE_REPORTS; `rest`: an incomplete message at the end. */
function withoutRoleReports(buffer: Buffer): { out: Buffer; rest: Buffer } {
  const kept: Buffer[] = [];
  let at = 0;
  while (buffer.length - at >= 5) {
    const end = at + 1 + buffer.readUInt32BE(at + 1);
    if (end > buffer.length) break;
    const message = buffer.subarray(at, end);
    const reported = message[0] === 0x53 ? message.toString("utf8", 5, message.indexOf(0, 5)) : ""; // S: ParameterStatus
    if (!ROLE_REPORTS.has(reported)) kept.push(message);
    at = end;
  }
  return { out: Buffer.concat(kept), rest: buffer.subarray(at) };
}

/**
 * Starts a proxy to the engine at 127.0.0.1:`port` that hides the server's role, as servers before
 * PostgreSQL 14 and connection poolers do, so a client on `target_session_attrs` asks each new
 * connection by a query (pg_is_in_recovery()); it can cut connections as that question arrives, as a
 * server going away then would.
 */
export async function roleHidingProxy(port: number): Promise<RoleHidingProxy> {
  const proxy = await startProxy(port, { cutRoleChecks: 0, cut: 0 }, (client, engine) => {
    let pending: Buffer = Buffer.alloc(0);
    engine.on("data", (chunk) => {
      const { out, rest } = withoutRoleReports(Buffer.concat([pending, chunk as Buffer]));
      pending = rest;
      if (out.length > 0 && !client.destroyed) client.write(out);
    });
    client.on("data", (chunk) => {
      if (proxy.cutRoleChecks > 0 && chunk.includes("pg_is_in_recovery")) {
        proxy.cutRoleChecks--;
        proxy.cut++;
        client.destroy();
        engine.destroy();
      } else if (!engine.destroyed) engine.write(chunk);
    });
    engine.on("close", () => client.destroy());
  });
  return proxy;
}
