/** `hivemind-rendezvous copy`: embedded data dir → PostgreSQL → embedded data dir, the same messages with the same ids and expiry. */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import postgres from "postgres";
import { UNFINISHED_COPY_FILE } from "../lib/data-dir-lock.ts";
import { LOG_FILE, type MessageStore } from "../lib/store/message-store.ts";
import { tempDataDir, testStore } from "./helpers.ts";
import { clusterForThisFile, postgresInstalled } from "./postgres-cluster.ts";
import { RELAY_COMMANDS, ROOT, runProcess, startRelayProcess } from "./processes.ts";

const installed = postgresInstalled();
const cluster = clusterForThisFile();

const copy = (from: string, to: string) => runProcess([...RELAY_COMMANDS.bun, "copy", from, to]);

const MAILBOXES = Array.from({ length: 7 }, (_, i) => `mailbox-${i}`);

/** The messages (id, payload, expiry) of each mailbox `names` names, oldest first. */
async function messagesIn(store: MessageStore, names: string[]): Promise<Record<string, unknown[]>> {
  const state: Record<string, unknown[]> = {};
  for (const mailbox of names) state[mailbox] = (await store.peek(mailbox)).messages;
  return state;
}

describe.skipIf(!installed)("copy between stores", () => {
  test("embedded → PostgreSQL → embedded: every live message with its id and expiry, in order; expired ones stay behind; a second copy adds nothing", async () => {
    const now = Math.floor(Date.now() / 1000);
    const origin = await tempDataDir();
    const store = await testStore(origin, { clock: () => now });
    for (let i = 0; i < 300; i++) await store.deposit(MAILBOXES[i % 7], `message ${i} ✉️\n"quoted"`, now + 600 + i);
    await store.deposit("mailbox-0", "expired", now - 1);
    const expected = await messagesIn(store, MAILBOXES);
    await store.close();
    expect(Object.values(expected).flat().length).toBe(300);

    const url = await cluster().database();
    expect(await copy(origin, url)).toMatchObject({ code: 0, stdout: `copied 300 messages in 7 mailboxes from ${origin} to ${url}\n` });
    expect(await copy(origin, url)).toMatchObject({ code: 0, stdout: `copied 0 messages in 7 mailboxes from ${origin} to ${url} (300 were there already)\n` });
    // Once a relay has started on the database (it records its key there), a copy into it would bring back what it delivers.
    const relay = await startRelayProcess([...RELAY_COMMANDS.bun, "--host", "127.0.0.1", "--port", "0", "--keyless", "--store", url]);
    relay.child.kill("SIGTERM");
    expect(await relay.child.exited).toBe(0);
    expect(await copy(origin, url)).toEqual({
      code: 1,
      stdout: "",
      stderr: `hivemind-rendezvous copy: a relay has started on ${url} (its key is recorded there): a copy into it would bring back the messages relays delivered from it; ` +
        "copy into a database no relay has run on (one that none has delivered from can be dropped and created again)\n",
    });

    const back = await tempDataDir();
    expect(await copy(url, back)).toMatchObject({ code: 0, stdout: `copied 300 messages in 7 mailboxes from ${url} to ${back}\n` });
    expect(await messagesIn(await testStore(back, { clock: () => now }), MAILBOXES)).toEqual(expected);
  }, 60_000);

  test("interrupted part-way (Ctrl-C) into PostgreSQL → exit 1 saying so; a relay refuses to start on the database, naming FROM (exit 2), and so does a copy from it; run again, the copy adds the rest, then relays start", async () => {
    const now = Math.floor(Date.now() / 1000);
    const { dataDir: from, names, messages } = await largeDataDir(now);
    const url = await cluster().database();
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const someCopied = async () => (await sql`SELECT count(*)::int AS n FROM rendezvous_messages`.catch(() => [{ n: 0 }]))[0].n > 0;
      expect(await stopCopyPartWay(from, url, someCopied, "SIGINT")).toEqual({ code: 1, signal: null, stderr: "hivemind-rendezvous copy: interrupted before it finished: run it again\n" });
      await expectCopyFromRefused(url, from);
      const serve = [...RELAY_COMMANDS.bun, "--host", "127.0.0.1", "--port", "0", "--keyless", "--store", url];
      expect(await runProcess(serve)).toEqual({
        code: 2,
        stdout: "",
        stderr: `hivemind-rendezvous: the database holds part of a copy from ${from} that did not finish: ` +
          "run the copy again (it skips what is there), or DELETE FROM rendezvous_facts WHERE name = 'copy_unfinished' to serve only what it holds\n",
      });
      const again = await copy(from, url);
      expect(again).toMatchObject({ code: 0, stderr: "" });
      expect(again.stdout).toMatch(new RegExp(`^copied \\d+ messages in 300 mailboxes from ${from} to ${url} \\(\\d+ were there already\\)\n$`));
      const back = await tempDataDir();
      expect(await copy(url, back)).toMatchObject({ code: 0, stdout: `copied 3000 messages in 300 mailboxes from ${url} to ${back}\n` });
      expect(await messagesIn(await testStore(back, { clock: () => now }), names)).toEqual(messages);
      const relay = await startRelayProcess(serve);
      relay.child.kill("SIGTERM");
      expect(await relay.child.exited).toBe(0);
    } finally {
      await sql.end();
    }
  }, 60_000);
});

/** A data dir holding 3,000 messages of 4 KiB in 300 mailboxes (a copy of it takes a while); resolves with it, the names and its messages. */
async function largeDataDir(now: number) {
  const dataDir = await tempDataDir();
  const names = Array.from({ length: 300 }, (_, i) => `box-${i}`);
  const store = await testStore(dataDir, { clock: () => now });
  await Promise.all(Array.from({ length: 3000 }, (_, i) => store.deposit(names[i % 300], `${i} ${"x".repeat(4096)}`, now + 600)));
  const messages = await messagesIn(store, names);
  await store.close();
  return { dataDir, names, messages };
}

/** A copy from `partial`, which holds part of a copy from `from` → exit 1 naming both, and nothing made at its TO. */
async function expectCopyFromRefused(partial: string, from: string): Promise<void> {
  const onwards = join(await tempDataDir(), "onwards");
  expect(await copy(partial, onwards)).toEqual({
    code: 1,
    stdout: "",
    stderr: `hivemind-rendezvous copy: ${partial} holds part of a copy from ${from} that did not finish: run that copy again first\n`,
  });
  expect(existsSync(onwards)).toBe(false);
}

/** Starts `copy FROM TO` and sends it `signal` once `written` says it has copied some; resolves with its exit code and stderr. */
async function stopCopyPartWay(from: string, to: string, written: () => Promise<boolean>, signal: "SIGKILL" | "SIGINT") {
  const child = Bun.spawn([...RELAY_COMMANDS.bun, "copy", from, to], { cwd: ROOT, stdout: "ignore", stderr: "pipe" });
  while (!(await written())) {
    if (child.exitCode !== null) throw new Error(`the copy ended (exit ${child.exitCode}) before it could be stopped part-way`);
    await Bun.sleep(1);
  }
  child.kill(signal);
  const [stderr, code] = await Promise.all([new Response(child.stderr).text(), child.exited]);
  return { code, signal: child.signalCode, stderr };
}

describe("a copy killed part-way (kill -9)", () => {
  test("into a data dir → a relay refuses to start on it, naming FROM (exit 2), and so does a copy from it; the copy run again starts over, then the relay serves every message", async () => {
    const now = Math.floor(Date.now() / 1000);
    const { dataDir: from, names, messages } = await largeDataDir(now);
    const to = join(await tempDataDir(), "copy");
    // Records written (the log starts with zeros written ahead of them).
    const someCopied = async () => ((await Bun.file(join(to, LOG_FILE)).slice(0, 1).bytes().catch(() => null))?.[0] ?? 0) !== 0;
    expect(await stopCopyPartWay(from, to, someCopied, "SIGKILL")).toMatchObject({ signal: "SIGKILL" }); // killed, not finished meanwhile
    expect(existsSync(join(to, UNFINISHED_COPY_FILE))).toBe(true);
    await expectCopyFromRefused(to, from);

    const serve = [...RELAY_COMMANDS.bun, "--host", "127.0.0.1", "--port", "0", "--data-dir", to, "--keyless"];
    expect(await runProcess(serve)).toEqual({
      code: 2,
      stdout: "",
      stderr: `hivemind-rendezvous: data dir ${to} holds part of a copy from ${from} that did not finish: run the copy again (it starts over), ` +
        `or remove ${to}/${UNFINISHED_COPY_FILE} to serve only what it holds\n`,
    });
    expect(await copy(from, to)).toEqual({ code: 0, stdout: `copied 3000 messages in 300 mailboxes from ${from} to ${to}\n`, stderr: "" });
    expect(existsSync(join(to, UNFINISHED_COPY_FILE))).toBe(false);
    const copied = await testStore(to, { clock: () => now });
    expect(await messagesIn(copied, names)).toEqual(messages);
    await copied.close();
    const relay = await startRelayProcess(serve);
    relay.child.kill("SIGTERM");
    expect(await relay.child.exited).toBe(0);
  }, 60_000);
});

/** A data dir holding one message for mailbox "a". */
async function dataDirWithOneMessage(): Promise<string> {
  const dataDir = await tempDataDir();
  const store = await testStore(dataDir);
  await store.deposit("a", "one message", Math.floor(Date.now() / 1000) + 600);
  await store.close();
  return dataDir;
}

/** Runs `check` with the pid of a relay serving `dataDir`, checks that the relay still answers, then stops it. */
async function whileRelayRuns(dataDir: string, check: (pid: number) => Promise<void>): Promise<void> {
  const relay = await startRelayProcess([...RELAY_COMMANDS.bun, "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, "--keyless"]);
  try {
    await check(relay.child.pid);
    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
  } finally {
    relay.child.kill("SIGTERM");
    await relay.child.exited;
  }
}

describe("copy and the data dirs of running relays", () => {
  test("into the data dir of a running relay → exit 1 naming it (its log would overwrite the copied records)", async () => {
    const [from, to] = [await dataDirWithOneMessage(), await tempDataDir()];
    await whileRelayRuns(to, async (pid) => {
      expect(await copy(from, to)).toMatchObject({ code: 1, stdout: "", stderr: `hivemind-rendezvous copy: data dir ${to} is in use by another relay (pid ${pid})\n` });
    });
    expect(await copy(from, to)).toMatchObject({ code: 0, stdout: `copied 1 messages in 1 mailboxes from ${from} to ${to}\n` });
    // FROM had no lock file (never served, as a data dir restored from a backup): the copy made one to hold it.
    expect(await readFile(join(from, "relay.lock"), "utf8")).toMatch(/^\d+\n$/);
  }, 60_000);

  test("from the data dir of a running relay → exit 1 naming it, and nothing is created at the target", async () => {
    const from = await dataDirWithOneMessage();
    const to = join(await tempDataDir(), "new");
    await whileRelayRuns(from, async (pid) => {
      expect(await copy(from, to)).toMatchObject({ code: 1, stdout: "", stderr: `hivemind-rendezvous copy: data dir ${from} is in use by another relay (pid ${pid})\n` });
    });
    expect(existsSync(to)).toBe(false);
  }, 60_000);
});

describe("copy from what is not a data dir this release reads", () => {
  const refusal = (problem: string) => ({ code: 1, stdout: "", stderr: `hivemind-rendezvous copy: ${problem}\n` });

  test("a path that does not exist (a typo) → exit 1, and nothing is created at the target", async () => {
    const from = join(await tempDataDir(), "typo");
    const to = join(await tempDataDir(), "new");
    expect(await copy(from, to)).toMatchObject(refusal(`cannot read the data dir ${from}: ENOENT: no such file or directory, stat '${from}'`));
    expect(existsSync(to)).toBe(false);
  }, 30_000);

  test("a directory with no message log → exit 1, and nothing is created at the target", async () => {
    const from = join(await tempDataDir(), "empty");
    await mkdir(from);
    const to = join(await tempDataDir(), "new");
    expect(await copy(from, to)).toMatchObject(refusal(`cannot read the data dir ${from}: it holds no message log (messages.jsonl): is it a relay's data dir?`));
    expect(existsSync(to)).toBe(false);
  }, 30_000);

  test("the same data dir as FROM and TO, however spelt → exit 1", async () => {
    const from = await dataDirWithOneMessage();
    const to = `${from}/.`;
    expect(await copy(from, to)).toMatchObject(refusal(`${from} and ${to} are the same data dir`));
  }, 30_000);

  test("a data dir a newer release wrote → exit 1, as the relay refuses it", async () => {
    const from = await dataDirWithOneMessage();
    await writeFile(join(from, "store-format"), "3\n");
    expect(await copy(from, await tempDataDir())).toMatchObject(
      refusal(`cannot read the data dir ${from}: its store format is 3, and this release reads formats up to 2: a newer release wrote it, run that one or a later one`),
    );
  }, 30_000);
});

test("copy --help → exit 0, its usage on stdout", async () => {
  const result = await runProcess([...RELAY_COMMANDS.bun, "copy", "--help"]);
  expect(result).toMatchObject({ code: 0, stderr: "" });
  expect(result.stdout).toStartWith("Usage: hivemind-rendezvous copy FROM TO\n");
}, 30_000);

describe("copy from a data dir whose log has a damaged line", () => {
  test("→ the rest copied, exit 0, and the damaged line's offset said on stderr (a relay would keep it aside)", async () => {
    const now = Math.floor(Date.now() / 1000);
    const [from, to] = [await tempDataDir(), await tempDataDir()];
    const store = await testStore(from, { clock: () => now });
    for (const payload of ["1", "2", "3"]) await store.deposit("a", payload, now + 600);
    await store.close();
    const log = await readFile(join(from, LOG_FILE), "utf8");
    await writeFile(join(from, LOG_FILE), log.replace('"p":"2"', '"p":"#"'));
    const offset = log.split("\n")[0].length + 1;
    expect(await copy(from, to)).toEqual({
      code: 0,
      stdout: `copied 2 messages in 1 mailboxes from ${from} to ${to}\n`,
      stderr: `hivemind-rendezvous copy: skipped 1 damaged lines of ${from}'s log, at offsets ${offset}\n`,
    });
    expect((await (await testStore(to, { clock: () => now })).peek("a")).messages.map((message) => message.payload)).toEqual(["1", "3"]);
  }, 30_000);
});

describe("copy into a data dir", () => {
  test("from a relay's data dir into one with no relay key, or another (a new relay's) → exit 0, and a note that the key stays behind (nodes would get 401 from another)", async () => {
    const relayOn = async (dir: string) => {
      const relay = await startRelayProcess([...RELAY_COMMANDS.bun, "--host", "127.0.0.1", "--port", "0", "--data-dir", dir]);
      relay.child.kill("SIGTERM");
      await relay.child.exited;
      return dir;
    };
    const from = await relayOn(await tempDataDir());
    for (const to of [join(await tempDataDir(), "new"), await relayOn(await tempDataDir())]) {
      expect(await copy(from, to)).toEqual({
        code: 0,
        stdout: `copied 0 messages in 0 mailboxes from ${from} to ${to}\n`,
        stderr: `hivemind-rendezvous copy: the relay key was not copied: to keep the relay's identity, copy ${from}/relay_key.pem into ${to} (mode 0600, the relay's user) before a relay serves it\n`,
      });
    }
  }, 30_000);

  test("into an embedded data dir that holds messages → exit 1, in one line", async () => {
    const now = Math.floor(Date.now() / 1000);
    const [from, to] = [await dataDirWithOneMessage(), await tempDataDir()];
    const target = await testStore(to, { clock: () => now });
    await target.deposit("a", "already here", now + 600);
    await target.close();
    expect(await copy(from, to)).toMatchObject({
      code: 1,
      stderr: `hivemind-rendezvous copy: ${to} already holds 1 messages: copy into an empty data dir\n`,
    });
  }, 30_000);
});
