/**
 * No request stalls the relay, whatever its bytes: a key text built to make a backtracking parser go
 * quadratic (31 000 newlines and one character, a 62 KB body) is refused while /healthz keeps answering
 * at once, on every endpoint that reads a key, over a real socket, under Bun and under Deno.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { intercom, json, tempDataDir } from "./helpers.ts";
import { type RelayProcess, RUNTIMES } from "./processes.ts";
import { startRelay } from "./relay-child.ts";

const HEALTH_DEADLINE_MS = 50;
const NEWLINE_FLOOD = "\n".repeat(31_000) + "x";

const attacks: Record<string, (now: number) => unknown> = {
  "/deposit": () => ({ payload: intercom(), target_pubkey: NEWLINE_FLOOD }),
  "/retrieve": (now) => ({ pubkey: NEWLINE_FLOOD, timestamp: now, signature: "AAAA" }),
  "/collect": (now) => ({ pubkey: NEWLINE_FLOOD, timestamp: now, signature: "AAAA", limit: 1 }),
  "/ack": (now) => ({ pubkey: NEWLINE_FLOOD, timestamp: now, signature: "AAAA", deposit_ids: [] }),
};
const refusals: Record<string, [number, string]> = {
  "/deposit": [400, "invalid_target_pubkey"],
  "/retrieve": [401, "invalid_signature"],
  "/collect": [401, "invalid_signature"],
  "/ack": [401, "invalid_signature"],
};

/** Sends `body` to `path` and, back to back until it is answered, GET /healthz: the attack's answer and each probe's latency. */
async function healthDuring(relay: RelayProcess, path: string, body: unknown) {
  const attack = fetch(`${relay.url}${path}`, { method: "POST", body: JSON.stringify(body) });
  let answered = false;
  attack.finally(() => (answered = true)).catch(() => {});
  const latencies: number[] = [];
  do {
    const started = performance.now();
    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
    latencies.push(performance.now() - started);
  } while (!answered);
  const response = await attack;
  return { answer: [response.status, (await json(response)).reason], slowest: Math.max(...latencies) };
}

for (const runtime of RUNTIMES) {
  describe(`a newline-flood key text under ${runtime}`, () => {
    let relay: RelayProcess;
    beforeAll(async () => {
      relay = await startRelay(runtime, await tempDataDir());
      await fetch(`${relay.url}/healthz`); // the first answer may pay for compilation
    }, 30_000); // Deno starting cold can take longer than a hook's default 5 s
    afterAll(() => relay.stop());

    for (const [path, attack] of Object.entries(attacks)) {
      test(`on ${path} → ${refusals[path].join(" ")}, and /healthz answers within ${HEALTH_DEADLINE_MS} ms meanwhile`, async () => {
        const { answer, slowest } = await healthDuring(relay, path, attack(Math.floor(Date.now() / 1000)));
        expect(answer).toEqual(refusals[path]);
        expect(slowest).toBeLessThan(HEALTH_DEADLINE_MS);
      }, 30_000);
    }
  });
}
