/** The compiled x64 binary on its own: no bun, deno or node on PATH, run from outside the repository. */
import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { speakMessage } from "../lib/client/messages.ts";
import { compile } from "../scripts/build.ts";
import { tempDataDir } from "./helpers.ts";
import { runProcess, startRelayProcess } from "./processes.ts";

const BARE_ENV = { PATH: "/nonexistent" };
let binary = "";
let workDir = "";

beforeAll(async () => {
  workDir = await tempDataDir();
  binary = join(workDir, "hivemind-rendezvous");
  await compile("bun-linux-x64", binary);
}, 60_000);

describe("compiled binary (bun-linux-x64)", () => {
  test("--version → package.json's version", async () => {
    expect(await run([binary, "--version"])).toMatchObject({ code: 0, stdout: `${packageJson.version}\n` });
  });

  test("serve with PATH=/nonexistent, then keygen → deposit → retrieve with the same binary", async () => {
    const relay = await startRelay([binary, "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", join(workDir, "data")]);
    const url = `http://127.0.0.1:${relay.port}`;
    const keys = join(workDir, "keys");
    expect((await run([binary, "keygen", keys])).code).toBe(0);
    const to = join(keys, "public_key.pem");
    const key = join(keys, "private_key.pem");
    const deposited = await run([binary, "deposit", url, "--to", to, "--from", key, "--text", "from the binary"]);
    expect(deposited).toMatchObject({ code: 0, stdout: expect.stringMatching(/^[0-9a-f-]{36}\n$/) });
    expect(await run([binary, "retrieve", url, "--key", key])).toMatchObject({ code: 0, stdout: `${speakMessage("from the binary")}\n` });
  });
});

/** Runs a command in the bare environment to its end. */
const run = (command: string[]) => runProcess(command, { cwd: workDir, env: BARE_ENV, timeoutMs: 15_000 });
/** Starts the relay in the bare environment. */
const startRelay = (command: string[]) => startRelayProcess(command, { cwd: workDir, env: BARE_ENV, timeoutMs: 15_000 });
