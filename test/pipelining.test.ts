/**
 * HTTP/1.1 pipelining on a real socket under each runtime: requests sent in one write are either all
 * answered in order, or refused before any of them acts — never acted on and left unanswered.
 */
import { describe, expect, test } from "bun:test";
import { intercom, keys, proofBody, tempDataDir, testStore } from "./helpers.ts";
import { RELAY_COMMANDS, RUNTIMES, startRelayProcess } from "./processes.ts";
import { exchange, wireRequest } from "./raw-socket.ts";

const depositBody = (text: string) => JSON.stringify({ payload: intercom({ text }), target_pubkey: keys.alice.public_spki_pem });

for (const runtime of RUNTIMES) {
  describe(`pipelined requests under ${runtime}`, () => {
    /** Runs `exchange` against a fresh relay holding `waiting` messages, stops it (SIGTERM: in-flight requests finish) and counts what it stored. */
    async function afterExchange(waiting: number, exchangeWith: (port: number) => Promise<number[]>) {
      const dataDir = await tempDataDir();
      const relay = await startRelayProcess([...RELAY_COMMANDS[runtime], "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, "--keyless"]);
      for (let i = 0; i < waiting; i++) await fetch(`${relay.url}/deposit`, { method: "POST", body: depositBody(`waiting ${i}`) });
      const statuses = await exchangeWith(relay.port);
      relay.child.kill("SIGTERM");
      expect(await relay.child.exited).toBe(0);
      const store = await testStore(dataDir);
      const stored = store.stats().messages;
      await store.close();
      return { statuses, stored };
    }

    test("two deposits in one write → both answered 200 and stored, or neither stored", async () => {
      const { statuses, stored } = await afterExchange(0, async (port) => {
        const responses = await exchange(port, wireRequest("POST", "/deposit", depositBody("one")) + wireRequest("POST", "/deposit", depositBody("two")), 2);
        return responses.map((response) => response.status);
      });
      expect([statuses, stored]).toEqual(statuses.length ? [[200, 200], 2] : [[], 0]);
    }, 30_000);

    test("/retrieve and GET /healthz in one write → the message is delivered, or still stored", async () => {
      let delivered = 0;
      const { statuses, stored } = await afterExchange(1, async (port) => {
        const proof = JSON.stringify(await proofBody("alice", Math.floor(Date.now() / 1000), { relayPem: "" }));
        const responses = await exchange(port, wireRequest("POST", "/retrieve", proof) + wireRequest("GET", "/healthz"), 2);
        delivered = responses.length ? JSON.parse(responses[0].body).messages.length : 0;
        return responses.map((response) => response.status);
      });
      expect([statuses, delivered, stored]).toEqual(statuses.length ? [[200, 200], 1, 0] : [[], 0, 1]);
    }, 30_000);

    // Bytes that are no request, behind a whole one in the same read: the parser's error closes the connection.
    test("/retrieve with a stray byte behind it in one write → the message is delivered, or still stored", async () => {
      let delivered = 0;
      const { statuses, stored } = await afterExchange(1, async (port) => {
        const proof = JSON.stringify(await proofBody("alice", Math.floor(Date.now() / 1000), { relayPem: "" }));
        const responses = await exchange(port, `${wireRequest("POST", "/retrieve", proof)}x`, 1);
        delivered = responses[0]?.status === 200 ? JSON.parse(responses[0].body).messages.length : 0;
        return responses.map((response) => response.status);
      });
      expect([delivered, stored]).toEqual(statuses[0] === 200 ? [1, 0] : [0, 1]);
    }, 30_000);

    test("a deposit with a line that is no request behind it in one write → answered 200 and stored, or not stored", async () => {
      const { statuses, stored } = await afterExchange(0, async (port) => {
        const responses = await exchange(port, `${wireRequest("POST", "/deposit", depositBody("one"))}GARBAGE\r\n\r\n`, 1);
        return responses.map((response) => response.status);
      });
      expect(stored).toBe(statuses[0] === 200 ? 1 : 0);
    }, 30_000);
  });
}
