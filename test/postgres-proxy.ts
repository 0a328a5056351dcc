/** A TCP proxy on loopback in front of PostgreSQL that can make the engine slow: each answer is held `delayMs` before it goes on. */
import { connect, createServer, type Socket } from "node:net";

/** A running proxy; set `delayMs` to slow every answer from the engine from now on. */
export interface SlowingProxy {
  port: number;
  delayMs: number;
  /** Answers held back now. */
  readonly held: number;
  close(): Promise<void>;
}

/** Starts a proxy on a free loopback port that forwards to the engine at 127.0.0.1:`port`. */
export async function slowingProxy(port: number): Promise<SlowingProxy> {
  const sockets = new Set<Socket>();
  let held = 0;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  };
  const server = createServer((client) => {
    const engine = connect(port, "127.0.0.1");
    track(client);
    track(engine);
    // Answers keep their order: each goes out `delayMs` after it arrived, and never before the one before it.
    let forwarded = Promise.resolve();
    engine.on("data", (chunk) => {
      const due = performance.now() + proxy.delayMs;
      held++;
      forwarded = forwarded.then(async () => {
        await Bun.sleep(Math.max(0, due - performance.now()));
        held--;
        if (!client.destroyed) client.write(chunk);
      });
    });
    client.on("data", (chunk) => !engine.destroyed && engine.write(chunk));
    client.on("close", () => engine.destroy());
    engine.on("close", () => void forwarded.then(() => client.destroy()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxy: SlowingProxy = {
    port: (server.address() as { port: number }).port,
    delayMs: 0,
    get held() {
      return held;
    },
    async close() {
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return proxy;
}
