/** The runtime adapters under each runtime: what they answer when the handler itself throws; and how a stop waits for calls. */
import { describe, expect, test } from "bun:test";
import type { HttpRequest } from "../lib/http-request.ts";
import { trackCalls } from "../lib/runtime/adapter.ts";
import { RELAY_COMMANDS, RUNTIMES, startRelayProcess } from "./processes.ts";

for (const runtime of RUNTIMES) {
  describe(`runtime adapter under ${runtime}`, () => {
    test("a throwing handler → the catalog's 500 internal_error JSON and one log line without a stack", async () => {
      const command = [...RELAY_COMMANDS[runtime].slice(0, -1), "test/fixtures/throwing-server.ts"];
      const server = await startRelayProcess(command);
      const response = await fetch(`${server.url}/anything`);
      expect(response.status).toBe(500);
      expect(response.headers.get("content-type")).toBe("application/json");
      expect(await response.text()).toBe('{"status":"error","reason":"internal_error"}');
      server.stop();
      const logged = (await server.output()).split("\n").filter((line) => line.includes("internal_error"));
      expect(logged).toHaveLength(1);
      expect(JSON.parse(logged[0])).toMatchObject({ event: "internal_error", error: "Error: handler exploded" });
    }, 30_000);
  });
}

describe("trackCalls", () => {
  test("settled() resolves once every call has finished, those begun while it waits and those that failed included", async () => {
    const pending: { finish(): void; fail(): void }[] = [];
    const { handler, settled } = trackCalls(() =>
      new Promise<Response>((resolve, reject) => pending.push({ finish: () => resolve(new Response("ok")), fail: () => reject(new Error("gone")) }))
    );
    const request = {} as HttpRequest;
    await settled(); // nothing in flight
    void handler(request, () => "peer").catch(() => {});
    void handler(request, () => "peer");
    let done = false;
    const waited = settled().then(() => (done = true));
    pending[0].fail();
    await Bun.sleep(1);
    expect(done).toBe(false);
    void handler(request, () => "peer"); // begun while settled() waits
    pending[1].finish();
    await Bun.sleep(1);
    expect(done).toBe(false);
    pending[2].finish();
    await waited;
    expect(done).toBe(true);
  });
});
