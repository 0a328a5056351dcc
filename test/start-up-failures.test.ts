/**
 * A --trust-proxy value that is no address or range, or a data dir the relay cannot use, stops it at start
 * with one line on stderr and exit code 2 (which the systemd unit does not restart), under Bun and Deno.
 * As root, the relay runs as `nobody` for these, since root may write anywhere.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { chmod, chown, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { intercom, keys, tempDataDir } from "./helpers.ts";
import { RELAY_COMMANDS, ROOT, runProcess, RUNTIMES, startRelayProcess } from "./processes.ts";

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
/** The command prefix that drops root: the relay then meets file permissions as any service user does. */
const unprivileged = asRoot ? ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups"] : [];
/** `nobody` must be able to read the checkout (a clone under a 0700 home directory is not). */
const checkoutReadable = !asRoot || Bun.spawnSync([...unprivileged, "test", "-r", join(import.meta.dir, "..", "main.ts")]).exitCode === 0;
if (!checkoutReadable) console.warn("start-up failures: skipped: as root these run the relay as nobody, who cannot read this checkout");

let base = "";
let env: Record<string, string | undefined> = {};

beforeAll(async () => {
  base = await tempDataDir();
  if (asRoot) await chown(base, NOBODY, NOBODY);
  const denoDir = join(base, "deno-cache");
  await mkdir(denoDir);
  if (asRoot) await chown(denoDir, NOBODY, NOBODY);
  env = { ...process.env, DENO_DIR: denoDir, NO_COLOR: "1" };
});

/** A fresh path under the test's directory, which the unprivileged user owns. */
let count = 0;
const freshPath = () => join(base, `case-${++count}`);

/** A fresh data dir holding one empty file of `mode`, both owned by the unprivileged user. */
async function dataDirHolding(file: string, mode: number): Promise<string> {
  const dataDir = freshPath();
  await mkdir(dataDir, { mode: 0o700 });
  await writeFile(join(dataDir, file), "", { mode });
  if (asRoot) await Promise.all([dataDir, join(dataDir, file)].map((path) => chown(path, NOBODY, NOBODY)));
  return dataDir;
}

for (const runtime of RUNTIMES) {
  describe.skipIf(!checkoutReadable)(`start-up failures under ${runtime}`, () => {
    const relayCommand = (dataDir: string) => [...unprivileged, ...RELAY_COMMANDS[runtime], "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir];
    /** Starts a relay on `dataDir` that must fail: its exit code and stderr lines. */
    const failedStart = async (dataDir: string) => {
      const { code, stdout, stderr } = await runProcess(relayCommand(dataDir), { env });
      return { code, stdout, stderr: stderr.split("\n").filter(Boolean) };
    };

    test("--trust-proxy that is neither an address nor a CIDR range → one line, exit 2", async () => {
      for (const value of ["localhost", "10.0.0.0/33"]) {
        const { code, stderr } = await runProcess([...relayCommand(freshPath()), "--trust-proxy", `127.0.0.1,${value}`], { env });
        expect({ code, stderr }).toEqual({
          code: 2,
          stderr: `hivemind-rendezvous: --trust-proxy: expected an IP address or CIDR range (e.g. 10.0.0.0/8, fd00::/8), got ${JSON.stringify(value)} (see --help)\n`,
        });
      }
    }, 30_000);

    test("no --data-dir and no HOME (a service without one) → one line, exit 2; not a data dir relative to wherever it started", async () => {
      const { code, stderr } = await runProcess([...unprivileged, ...RELAY_COMMANDS[runtime], "--host", "127.0.0.1", "--port", "0"], { env: { PATH: process.env.PATH, DENO_DIR: env.DENO_DIR, NO_COLOR: "1" } });
      expect({ code, stderr }).toEqual({ code: 2, stderr: "hivemind-rendezvous: no --data-dir, and no absolute XDG_DATA_HOME or HOME to put the default one under\n" });
    }, 30_000);

    test("data dir is a file → one line, exit 2", async () => {
      const file = freshPath();
      await writeFile(file, "not a directory");
      expect(await failedStart(file)).toEqual({ code: 2, stdout: "", stderr: [`hivemind-rendezvous: data dir ${file} is not a directory`] });
    }, 30_000);

    test("data dir under a file → one line, exit 2", async () => {
      const file = freshPath();
      await writeFile(file, "not a directory");
      const dataDir = join(file, "data");
      expect(await failedStart(dataDir)).toEqual({
        code: 2, stdout: "", stderr: [`hivemind-rendezvous: cannot create the data dir: ENOTDIR: not a directory, mkdir '${dataDir}'`],
      });
    }, 30_000);

    test("empty data dir the relay's user may not write → one line, exit 2", async () => {
      const dataDir = freshPath();
      await mkdir(dataDir, { mode: 0o500 });
      if (asRoot) await chown(dataDir, NOBODY, NOBODY);
      expect(await failedStart(dataDir)).toEqual({
        code: 2, stdout: "", stderr: [`hivemind-rendezvous: data dir ${dataDir} is not writable: EACCES: permission denied, open '${join(dataDir, "relay.lock")}'`],
      });
    }, 30_000);

    /** A fresh data dir a relay stored one message in, then stopped (writing its checkpoint). */
    const dataDirWithOneMessage = async () => {
      const dataDir = freshPath();
      const relay = await startRelayProcess(relayCommand(dataDir), { env });
      const deposit = { payload: intercom(), target_pubkey: keys.bob.public_spki_pem };
      expect((await fetch(`${relay.url}/deposit`, { method: "POST", body: JSON.stringify(deposit) })).status).toBe(200);
      relay.child.kill("SIGTERM");
      expect(await relay.child.exited).toBe(0);
      return dataDir;
    };

    test("read-only data dir that holds messages (and the lock file) → one line, exit 2", async () => {
      const dataDir = await dataDirWithOneMessage();
      await chmod(dataDir, 0o500);
      expect(await failedStart(dataDir)).toEqual({
        code: 2, stdout: "", stderr: [`hivemind-rendezvous: data dir ${dataDir} is not writable: EACCES: permission denied, open '${join(dataDir, "relay.lock.probe")}'`],
      });
    }, 30_000);

    test("lock file the relay's user may write but not read, so the lock cannot be taken → one line, exit 2", async () => {
      const dataDir = await dataDirHolding("relay.lock", 0o200);
      const { code, stdout, stderr } = await failedStart(dataDir);
      expect({ code, stdout, lines: stderr.length }).toEqual({ code: 2, stdout: "", lines: 1 });
      expect(stderr[0]).toStartWith(`hivemind-rendezvous: cannot lock the data dir ${dataDir}: `);
      expect(stderr[0]).toMatch(/permission denied/i);
    }, 30_000);

    test("a checkpoint the relay's user may not read (copy run as root left it) → ignored: the relay reads the log, serves its messages, and writes its own", async () => {
      const dataDir = await dataDirWithOneMessage();
      const checkpoint = join(dataDir, "messages.jsonl.checkpoint");
      if (asRoot) await chown(checkpoint, 0, 0);
      await chmod(checkpoint, 0o600);
      const again = await startRelayProcess(relayCommand(dataDir), { env, captureStderr: true });
      expect(await (await fetch(`${again.url}/healthz`)).json()).toMatchObject({ status: "ok", stored_messages: 1 });
      again.child.kill("SIGTERM");
      expect(await again.child.exited).toBe(0);
      expect(await again.output()).toMatch(asRoot ? /"event":"store_checkpoint_ignored","reason":"not readable \(EACCES\)"/ : /"event":"stopped"/);
      if (asRoot) expect((await stat(checkpoint)).uid).toBe(NOBODY);
    }, 30_000);

    test("message log the relay's user may not write → one line naming it, exit 2", async () => {
      const dataDir = await dataDirHolding("messages.jsonl", 0o400);
      expect(await failedStart(dataDir)).toEqual({
        code: 2, stdout: "", stderr: [`hivemind-rendezvous: cannot open the message store in ${dataDir}: EACCES: permission denied, open '${join(dataDir, "messages.jsonl")}'`],
      });
    }, 30_000);
  });
}

describe("start-up under Deno without a permission the relay needs", () => {
  const withoutPermission = (flag: string) => RELAY_COMMANDS.deno.filter((part) => part !== flag);
  const advice = "(the relay needs --allow-net --allow-read --allow-write --allow-env, as deno.json's start task gives it)";
  const cases = [
    { flag: "--allow-env", line: `Requires env access, run again with the --allow-env flag ${advice}` },
    { flag: "--allow-net", line: `Requires net access to "127.0.0.1:0", run again with the --allow-net flag ${advice}` },
  ];
  test("the advice names the permissions of deno.json's start task, which the tests' Deno command gives too", async () => {
    const startTask: string = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8")).tasks.start;
    const granted = startTask.match(/--allow-\w+/g);
    expect(advice).toBe(`(the relay needs ${granted!.join(" ")}, as deno.json's start task gives it)`);
    expect(RELAY_COMMANDS.deno.filter((part) => part.startsWith("--allow"))).toEqual(granted!);
  });
  for (const { flag, line } of cases) {
    test(`without ${flag} → one line naming it, exit 2; no stack trace`, async () => {
      const result = await runProcess([...withoutPermission(flag), "--host", "127.0.0.1", "--port", "0", "--data-dir", await tempDataDir(), "--keyless"], { env });
      expect(result).toEqual({ code: 2, stdout: "", stderr: `hivemind-rendezvous: ${line}\n` });
    }, 30_000);
  }
});
