/** The same black-box smoke suite against main.ts started as a child process under Bun and under Deno. */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { intercom, json, keys, proofBody, tempDataDir } from "./helpers.ts";

const ROOT = join(import.meta.dir, "..");
const BIN = join(ROOT, "node_modules", ".bin");
const commands = {
  bun: [join(BIN, "bun"), "main.ts"],
  deno: [join(BIN, "deno"), "run", "--allow-net", "--allow-read", "--allow-write", "--allow-env", "main.ts"],
};

const children: Bun.Subprocess[] = [];
afterAll(() => children.forEach((child) => child.kill("SIGKILL")));

/** Starts the relay and resolves once it prints its listening line. */
async function startRelay(runtime: keyof typeof commands, dataDir: string, extra: string[] = []) {
  const keyFile = join(dataDir, "node.pem");
  await writeFile(keyFile, keys.relay.private_pkcs1_pem);
  const child = Bun.spawn([...commands[runtime], "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, "--node-key", keyFile, ...extra], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "inherit",
    env: { ...process.env, NO_COLOR: "1" },
  });
  children.push(child);
  const reader = child.stdout.getReader();
  let output = "";
  const deadline = Date.now() + 20_000;
  while (!/listening on [\d.]+:(\d+)/.test(output)) {
    if (Date.now() > deadline) throw new Error(`${runtime} relay did not start: ${output}`);
    const { done, value } = await reader.read();
    if (done) throw new Error(`${runtime} relay exited: ${output}`);
    output += new TextDecoder().decode(value);
  }
  const port = Number(/listening on [\d.]+:(\d+)/.exec(output)![1]);
  const rest = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return output;
      output += new TextDecoder().decode(value);
    }
  })();
  return { child, url: `http://127.0.0.1:${port}`, output: () => rest };
}

for (const runtime of Object.keys(commands) as (keyof typeof commands)[]) {
  describe(`main.ts under ${runtime}`, () => {
    test("serves the relay key, round-trips a message across a restart, and stops cleanly on SIGTERM", async () => {
      const dataDir = await tempDataDir();
      let relay = await startRelay(runtime, dataDir);
      expect(await (await fetch(`${relay.url}/pubkey`)).json()).toEqual({ pubkey: keys.relay.public_spki_pem });
      const deposited = await fetch(`${relay.url}/deposit`, {
        method: "POST",
        body: JSON.stringify({ payload: intercom({ via: runtime }), target_pubkey: keys.bob.public_spki_pem }),
      });
      expect(deposited.status).toBe(200);

      relay.child.kill("SIGTERM");
      expect(await relay.child.exited).toBe(0);
      expect(await relay.output()).toContain('"event":"stopped"');

      relay = await startRelay(runtime, dataDir);
      const now = Math.floor(Date.now() / 1000);
      const retrieve = async () => await (await fetch(`${relay.url}/retrieve`, { method: "POST", body: JSON.stringify(await proofBody("bob", now)) })).json();
      expect(await retrieve()).toEqual({ status: "ok", messages: [intercom({ via: runtime })] });
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
      relay.child.kill("SIGTERM");
      expect(await relay.child.exited).toBe(0);
    }, 60_000);
  });
}

describe("main.ts command line", () => {
  test("a bad flag → one line on stderr and exit code 2", async () => {
    const child = Bun.spawn([...commands.bun, "--port", "nope"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    expect(await child.exited).toBe(2);
    const stderr = await new Response(child.stderr).text();
    expect(stderr.trim().split("\n")).toEqual(["hivemind-rendezvous: --port: expected a whole number from 0 to 65535, got \"nope\" (see --help)"]);
  });

  test("--version prints package.json's version", async () => {
    const child = Bun.spawn([...commands.bun, "--version"], { cwd: ROOT, stdout: "pipe" });
    expect(await child.exited).toBe(0);
    expect((await new Response(child.stdout).text()).trim()).toBe((await Bun.file(join(ROOT, "package.json")).json()).version);
  });
});
