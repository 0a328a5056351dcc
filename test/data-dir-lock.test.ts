/** One relay per data dir: a second one is refused (exit 2, one line naming the holder), a killed one leaves no lock. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { LOCK_FILE } from "../lib/data-dir-lock.ts";
import { intercom, json, keys, tempDataDir } from "./helpers.ts";
import { RELAY_COMMANDS, runProcess, type RuntimeName, RUNTIMES, startRelayProcess } from "./processes.ts";


/** The command line of a relay on `dataDir` under `runtime`. */
const relayCommand = (runtime: RuntimeName, dataDir: string) => [...RELAY_COMMANDS[runtime], "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, "--keyless"];

/** The one line a relay prints when `dataDir` is held by `pid`. */
const inUseLine = (dataDir: string, pid: number) => `hivemind-rendezvous: data dir ${dataDir} is in use by another relay (pid ${pid})`;

for (const [first, second] of [["bun", "bun"], ["deno", "deno"], ["bun", "deno"], ["deno", "bun"]] as [RuntimeName, RuntimeName][]) {
  test(`a relay under ${second} on the data dir of a running relay under ${first} → one line naming its pid, exit 2`, async () => {
    const dataDir = await tempDataDir();
    const holder = await startRelayProcess(relayCommand(first, dataDir));
    const refused = await runProcess(relayCommand(second, dataDir));
    expect(refused).toMatchObject({ code: 2, stdout: "", stderr: `${inUseLine(dataDir, holder.child.pid)}\n` });
    expect((await fetch(`${holder.url}/healthz`)).status).toBe(200);
    holder.child.kill("SIGTERM");
    expect(await holder.child.exited).toBe(0);
  }, 60_000);
}

for (const runtime of RUNTIMES) {
  describe(`data dir lock under ${runtime}`, () => {
    test("a relay killed with SIGKILL leaves no lock: the next relay starts and has the messages", async () => {
      const dataDir = await tempDataDir();
      const killed = await startRelayProcess(relayCommand(runtime, dataDir));
      const deposit = { payload: intercom(), target_pubkey: keys.bob.public_spki_pem };
      expect((await fetch(`${killed.url}/deposit`, { method: "POST", body: JSON.stringify(deposit) })).status).toBe(200);
      killed.child.kill("SIGKILL");
      await killed.child.exited;
      expect(await Bun.file(join(dataDir, LOCK_FILE)).text()).toBe(`${killed.child.pid}\n`);
      const next = await startRelayProcess(relayCommand(runtime, dataDir));
      expect(await json(await fetch(`${next.url}/healthz`))).toMatchObject({ status: "ok", stored_messages: 1 });
      expect(await Bun.file(join(dataDir, LOCK_FILE)).text()).toBe(`${next.child.pid}\n`);
      next.child.kill("SIGTERM");
      expect(await next.child.exited).toBe(0);
    }, 60_000);

    test("two relays started at the same instant: exactly one runs, the other exits 2 naming it", async () => {
      for (let round = 0; round < 3; round++) {
        const dataDir = await tempDataDir();
        const relays = [0, 1].map(() => Bun.spawn(relayCommand(runtime, dataDir), { stdout: "pipe", stderr: "pipe" }));
        try {
          const loser = await Promise.race(relays.map(async (child) => (await child.exited, child)));
          const winner = relays.find((child) => child !== loser)!;
          expect(await loser.exited).toBe(2);
          expect(await new Response(loser.stderr).text()).toBe(`${inUseLine(dataDir, winner.pid)}\n`);
          const output = await firstLine(winner.stdout);
          expect(output).toStartWith("Rendezvous server listening on 127.0.0.1:");
          expect(winner.exitCode).toBeNull();
          winner.kill("SIGTERM");
          expect(await winner.exited).toBe(0);
        } finally {
          relays.forEach((child) => child.kill("SIGKILL"));
        }
      }
    }, 90_000);
  });
}

/** The first line of `stream` (empty if it ends first). */
async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("\n")) {
    const read = await reader.read();
    if (read.done) break;
    text += decoder.decode(read.value);
  }
  reader.releaseLock();
  return text.split("\n")[0];
}
