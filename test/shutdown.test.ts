/** Stopping while a client is still sending its body: within a grace period, and at once on a second signal. */
import { describe, expect, test } from "bun:test";
import { intercom, keys, tempDataDir } from "./helpers.ts";
import { RUNTIMES } from "./processes.ts";
import { openSocket } from "./raw-socket.ts";
import { startRelay } from "./relay-child.ts";

/** A deposit's head and one byte of its body: the rest never comes. */
const STALLED_BODY = "POST /deposit HTTP/1.1\r\nHost: relay.test\r\nContent-Length: 1000\r\n\r\n{";

/** Milliseconds from now until `child` exits, and its exit code. */
async function exitOf(child: { exited: Promise<number> }): Promise<{ code: number; milliseconds: number }> {
  const began = performance.now();
  const code = await child.exited;
  return { code, milliseconds: performance.now() - began };
}

/** A relay (with a 60 s request timeout) holding one answered deposit and one request whose body stalls. */
async function relayWithStalledRequest(runtime: (typeof RUNTIMES)[number]) {
  const relay = await startRelay(runtime, await tempDataDir(), ["--request-timeout", "60"]);
  const deposit = { payload: intercom({ text: "answered before the stop" }), target_pubkey: keys.bob.public_spki_pem };
  expect((await fetch(`${relay.url}/deposit`, { method: "POST", body: JSON.stringify(deposit) })).status).toBe(200);
  const socket = await openSocket(relay.port);
  socket.on("error", () => {}).write(STALLED_BODY);
  // A request sent after it and answered: the stalled one's head has been read by then.
  await Bun.sleep(100);
  expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
  return { relay, socket };
}

for (const runtime of RUNTIMES) {
  describe(`stopping under ${runtime}`, () => {
    test("a second SIGTERM, a while after the first, which waits for a stalled body → exit 1 at once, stop_forced", async () => {
      const { relay, socket } = await relayWithStalledRequest(runtime);
      relay.child.kill("SIGTERM");
      await Bun.sleep(1500);
      relay.child.kill("SIGTERM");
      const exit = await exitOf(relay.child);
      socket.destroy();
      expect({ code: exit.code, quick: exit.milliseconds < 3000 }).toEqual({ code: 1, quick: true });
      const output = await relay.output();
      expect(output).toContain('"event":"stopping"');
      expect(output).toContain('"event":"stop_forced"');
    }, 30_000);

    test("two SIGINTs at once (Ctrl-C under npm start: from the terminal and from npm) are one stop → exit 0, not forced", async () => {
      const relay = await startRelay(runtime, await tempDataDir());
      relay.child.kill("SIGINT");
      relay.child.kill("SIGINT");
      expect(await relay.child.exited).toBe(0);
      const output = await relay.output();
      expect(output).toContain('"event":"stopped"');
      expect(output).not.toContain("stop_forced");
    }, 30_000);
  });
}

describe("stopping under bun", () => {
  test("a body that stalls holds the stop for the 10 s grace, not the 60 s request timeout; the store is closed and the relay exits 0", async () => {
    const { relay, socket } = await relayWithStalledRequest("bun");
    relay.child.kill("SIGTERM");
    const exit = await exitOf(relay.child);
    socket.destroy();
    expect({ code: exit.code, withinTheGrace: exit.milliseconds > 9_000 && exit.milliseconds < 15_000 }).toEqual({ code: 0, withinTheGrace: true });
    const output = await relay.output();
    expect(output).toContain('"event":"stop_grace_over","seconds":10');
    expect(output).toContain('"event":"stopped"');
  }, 30_000);
});
