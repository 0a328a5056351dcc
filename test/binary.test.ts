/**
 * The compiled binaries on their own: no bun, deno or node on PATH, run from outside the repository.
 * The arm64 one runs under qemu-user, as the CPUs of a Raspberry Pi 3 (Cortex-A53), 4 (A72) and 5 (A76),
 * where qemu-aarch64-static and an arm64 glibc are installed (.ci/run installs them; skipped elsewhere).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { speakMessage } from "../lib/client/messages.ts";
import { compiledBinary } from "./compiled-binary.ts";
import { tempDataDir } from "./helpers.ts";
import { BARE_ENV, runProcess, startRelayProcess } from "./processes.ts";

const QEMU = "/usr/bin/qemu-aarch64-static";
const ARM64_SYSROOT = "/usr/aarch64-linux-gnu";
const emulated = (cpu: string) => [QEMU, "-L", ARM64_SYSROOT, "-cpu", cpu];

const TARGETS = [
  { target: "bun-linux-x64", runner: [] as string[], otherRunners: [] as string[][], available: true },
  {
    target: "bun-linux-arm64",
    runner: emulated("cortex-a72"),
    otherRunners: [emulated("cortex-a53"), emulated("cortex-a76")],
    available: existsSync(QEMU) && existsSync(join(ARM64_SYSROOT, "lib", "ld-linux-aarch64.so.1")),
  },
];

for (const { target, runner, otherRunners, available } of TARGETS) {
  describe.skipIf(!available)(`compiled binary (${target}${runner.length ? `, ${runner.at(-1)} under qemu` : ""})`, () => {
    let binary = "";
    let workDir = "";
    /** Runs the binary with `args` in the bare environment to its end. */
    const run = (args: string[], through = runner) =>
      runProcess([...through, binary, ...args], { cwd: workDir, env: BARE_ENV, timeoutMs: 30_000 });

    beforeAll(async () => {
      workDir = await tempDataDir();
      binary = await compiledBinary(target);
    }, 120_000);

    test("--version → package.json's version", async () => {
      for (const through of [runner, ...otherRunners]) {
        expect(await run(["--version"], through)).toMatchObject({ code: 0, stdout: `${packageJson.version}\n` });
      }
    }, 60_000);

    test("serve with PATH=/nonexistent, then keygen → deposit → retrieve with the same binary", async () => {
      const relay = await startRelayProcess(
        [...runner, binary, "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", join(workDir, "data")],
        { cwd: workDir, env: BARE_ENV, timeoutMs: 30_000 },
      );
      const url = `http://127.0.0.1:${relay.port}`;
      const keys = join(workDir, "keys");
      expect((await run(["keygen", keys])).code).toBe(0);
      const to = join(keys, "public_key.pem");
      const key = join(keys, "private_key.pem");
      const deposited = await run(["deposit", url, "--to", to, "--from", key, "--text", "from the binary"]);
      expect(deposited).toMatchObject({ code: 0, stdout: expect.stringMatching(/^[0-9a-f-]{36}\n$/) });
      expect(await run(["retrieve", url, "--key", key])).toMatchObject({ code: 0, stdout: `${speakMessage("from the binary")}\n` });
      relay.child.kill("SIGTERM");
      expect(await relay.child.exited).toBe(0);
    }, 120_000);

    test("a second relay on the same data dir → exit 2 naming the first; after a SIGKILL the next one starts", async () => {
      const dataDir = join(workDir, "locked");
      const serve = [...runner, binary, "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, "--keyless"];
      const options = { cwd: workDir, env: BARE_ENV, timeoutMs: 30_000 };
      const first = await startRelayProcess(serve, options);
      expect(await runProcess(serve, options)).toMatchObject({
        code: 2, stderr: `hivemind-rendezvous: data dir ${dataDir} is in use by another relay (pid ${first.child.pid})\n`,
      });
      first.child.kill("SIGKILL");
      await first.child.exited;
      const next = await startRelayProcess(serve, options);
      next.child.kill("SIGTERM");
      expect(await next.child.exited).toBe(0);
    }, 120_000);
  });
}
