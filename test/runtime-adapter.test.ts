/** The runtime adapters under each runtime: what they answer when the handler itself throws. */
import { describe, expect, test } from "bun:test";
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
