/** The same black-box smoke suite against main.ts started as a child process under Bun and under Deno. */
import { describe, expect, test } from "bun:test";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { intercom, json, keys, proofBody, tempDataDir } from "./helpers.ts";
import { RELAY_COMMANDS, ROOT, runProcess, RUNTIMES, startRelayProcess } from "./processes.ts";
import { startRelay } from "./relay-child.ts";

for (const runtime of RUNTIMES) {
  describe(`main.ts under ${runtime}`, () => {
    // Non-ASCII text: its record's CRC (taken over the UTF-8 of a string) is checked again at the restart.
    test("serves the relay key, round-trips a message across a restart, and stops cleanly on SIGTERM", async () => {
      const dataDir = await tempDataDir();
      let relay = await startRelay(runtime, dataDir);
      expect(await (await fetch(`${relay.url}/pubkey`)).json()).toEqual({ pubkey: keys.relay.public_spki_pem });
      const deposited = await fetch(`${relay.url}/deposit`, {
        method: "POST",
        body: JSON.stringify({ payload: intercom({ via: runtime, text: "grüße 🐝" }), target_pubkey: keys.bob.public_spki_pem }),
      });
      expect(deposited.status).toBe(200);

      relay.child.kill("SIGTERM");
      expect(await relay.child.exited).toBe(0);
      const output = await relay.output();
      expect(output).toContain('"event":"stopped"');
      expect(output).toMatch(new RegExp(`"runtime":"${runtime} \\d+\\.\\d+\\.\\d+"`));

      relay = await startRelay(runtime, dataDir);
      const now = Math.floor(Date.now() / 1000);
      const retrieve = async () => await (await fetch(`${relay.url}/retrieve`, { method: "POST", body: JSON.stringify(await proofBody("bob", now)) })).json();
      expect(await retrieve()).toEqual({ status: "ok", messages: [intercom({ via: runtime, text: "grüße 🐝" })] });
      expect(await retrieve()).toEqual({ status: "ok", messages: [] });
      relay.child.kill("SIGTERM");
      expect(await relay.child.exited).toBe(0);
    }, 60_000);

    test("answers bad requests with JSON errors on a real socket", async () => {
      const relay = await startRelay(runtime, await tempDataDir(), ["--max-payload-bytes", "2048"]);
      const answer = async (path: string, init?: RequestInit) => {
        const response = await fetch(`${relay.url}${path}`, init);
        return [response.status, (await json(response)).reason, response.headers.get("allow")];
      };
      expect(await answer("/nowhere")).toEqual([404, "not_found", null]);
      expect(await answer("/deposit")).toEqual([405, "method_not_allowed", "POST"]);
      expect(await answer("/deposit", { method: "POST", body: "{" })).toEqual([400, "invalid_json", null]);
      expect(await answer("/deposit", { method: "POST", body: "x".repeat(5000) })).toEqual([413, "payload_too_large", null]);
      const chunked = new ReadableStream({
        pull(controller) {
          controller.enqueue(new Uint8Array(1024).fill(0x20));
        },
      });
      expect(await answer("/deposit", { method: "POST", body: chunked, duplex: "half" } as RequestInit)).toEqual([413, "payload_too_large", null]);
      const health = await (await fetch(`${relay.url}/healthz`)).json();
      expect(health).toMatchObject({ status: "ok", stored_messages: 0 });
      const metrics = await (await fetch(`${relay.url}/metrics`)).text();
      expect(metrics).toContain('rendezvous_requests_total{endpoint="/deposit",status="413",reason="payload_too_large"} 2');
      expect(metrics).toMatch(new RegExp(`\nrendezvous_build_info\\{version="${packageJson.version}",runtime="${runtime} \\d+\\.\\d+\\.\\d+"\\} 1\n`));
      const resident = Number(/\nprocess_resident_memory_bytes (\d+)\n/.exec(metrics)?.[1]);
      expect(resident).toBeGreaterThan(10 * 2 ** 20);
      expect(resident).toBeLessThan(2 ** 30);
      relay.child.kill("SIGTERM");
      expect(await relay.child.exited).toBe(0);
    }, 60_000);

    test("a runtime too old for the relay (no Uint8Array.fromBase64) → one line on stderr and exit code 2, for the server and the client alike", async () => {
      const asOnAnOldRuntime = [...RELAY_COMMANDS[runtime].slice(0, -1), join("test", "fixtures", "old-runtime.ts")];
      const tooOld = runtime === "bun"
        ? `Bun ${Bun.version} is too old: run the Bun package.json names, or later`
        : `Deno ${packageJson.devDependencies.deno} is too old: run Deno 2.7 or later`;
      for (const args of [["--keyless", "--data-dir", await tempDataDir()], ["keygen", "--help"]]) {
        expect(await runProcess([...asOnAnOldRuntime, ...args])).toMatchObject({ code: 2, stderr: `hivemind-rendezvous: ${tooOld}\n` });
      }
    }, 60_000);

    test("a port already held, an address not on this host or a host name that does not resolve → one line on stderr and exit code 2", async () => {
      const holder = createServer();
      await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
      const heldPort = (holder.address() as AddressInfo).port;
      try {
        const listenFailure = async (host: string, port: number) => {
          const args = ["--host", host, "--port", String(port), "--data-dir", await tempDataDir(), "--keyless"];
          const { code, stderr } = await runProcess([...RELAY_COMMANDS[runtime], ...args]);
          return [code, stderr.trim().split("\n")] as [number, string[]];
        };
        expect(await listenFailure("127.0.0.1", heldPort)).toEqual([2, [`hivemind-rendezvous: cannot listen on 127.0.0.1:${heldPort}: address already in use`]]);
        // 192.0.2.1 is TEST-NET-1, reserved for documentation: no host has it.
        expect(await listenFailure("192.0.2.1", 6789)).toEqual([2, ["hivemind-rendezvous: cannot listen on 192.0.2.1:6789: address not available"]]);
        // .invalid never resolves (RFC 2606).
        expect(await listenFailure("nonsense.invalid", 6789)).toEqual([2, ["hivemind-rendezvous: cannot listen on nonsense.invalid:6789: no such host"]]);
      } finally {
        holder.close();
      }
    }, 60_000);
  });
}

describe("deno task start", () => {
  test("starts the relay with the deno on PATH (here the pinned one, as after `npm install`)", async () => {
    const dataDir = await tempDataDir();
    const env = { ...process.env, PATH: `${join(ROOT, "node_modules", ".bin")}:${process.env.PATH}` };
    try {
      const relay = await startRelayProcess([RELAY_COMMANDS.deno[0], "task", "start", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, "--keyless"], { env });
      expect(await json(await fetch(`${relay.url}/pubkey`))).toEqual({ pubkey: "" });
    } finally {
      // deno task runs the relay as a grandchild: stop it by its unique data dir.
      await runProcess(["pkill", "-f", "--", `--data-dir ${dataDir}`]);
    }
  }, 30_000);
});

describe("main.ts command line", () => {
  test("a bad flag → one line on stderr and exit code 2", async () => {
    const { code, stderr } = await runProcess([...RELAY_COMMANDS.bun, "--port", "nope"]);
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toEqual(["hivemind-rendezvous: --port: expected a whole number from 0 to 65535, got \"nope\" (see --help)"]);
  });

  test("--version prints package.json's version", async () => {
    const { code, stdout } = await runProcess([...RELAY_COMMANDS.bun, "--version"]);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe((await Bun.file(join(ROOT, "package.json")).json()).version);
  });
});
