/** `hivemind-rendezvous copy`: embedded data dir → PostgreSQL → embedded data dir, the same messages with the same ids and expiry. */
import { describe, expect, test } from "bun:test";
import type { MessageStore } from "../lib/store/message-store.ts";
import { tempDataDir, testStore } from "./helpers.ts";
import { clusterForThisFile, postgresInstalled } from "./postgres-cluster.ts";
import { RELAY_COMMANDS, runProcess } from "./processes.ts";

const installed = postgresInstalled();
const cluster = clusterForThisFile();


const copy = (from: string, to: string) => runProcess([...RELAY_COMMANDS.bun, "copy", from, to]);

const MAILBOXES = Array.from({ length: 7 }, (_, i) => `mailbox-${i}`);

/** Every mailbox's messages (id, payload, expiry), oldest first. */
async function everything(store: MessageStore): Promise<Record<string, unknown[]>> {
  const state: Record<string, unknown[]> = {};
  for (const mailbox of MAILBOXES) state[mailbox] = (await store.peek(mailbox)).messages;
  return state;
}

describe.skipIf(!installed)("copy between stores", () => {
  test("embedded → PostgreSQL → embedded: every live message with its id and expiry, in order; expired ones stay behind; a second copy adds nothing", async () => {
    const now = Math.floor(Date.now() / 1000);
    const origin = await tempDataDir();
    const store = await testStore(origin, { clock: () => now });
    for (let i = 0; i < 300; i++) await store.deposit(MAILBOXES[i % 7], `message ${i} ✉️\n"quoted"`, now + 600 + i);
    await store.deposit("mailbox-0", "expired", now - 1);
    const expected = await everything(store);
    await store.close();
    expect(Object.values(expected).flat().length).toBe(300);

    const url = await cluster().database();
    expect(await copy(origin, url)).toMatchObject({ code: 0, stdout: `copied 300 messages in 7 mailboxes from ${origin} to ${url}\n` });
    expect(await copy(origin, url)).toMatchObject({ code: 0, stdout: `copied 0 messages in 7 mailboxes from ${origin} to ${url} (300 were there already)\n` });

    const back = await tempDataDir();
    expect(await copy(url, back)).toMatchObject({ code: 0, stdout: `copied 300 messages in 7 mailboxes from ${url} to ${back}\n` });
    expect(await everything(await testStore(back, { clock: () => now }))).toEqual(expected);
  }, 60_000);
});

describe("copy into a data dir", () => {
  test("into an embedded data dir that holds messages → exit 1, in one line", async () => {
    const now = Math.floor(Date.now() / 1000);
    const [from, to] = [await tempDataDir(), await tempDataDir()];
    const target = await testStore(to, { clock: () => now });
    await target.deposit("a", "already here", now + 600);
    await target.close();
    expect(await copy(from, to)).toMatchObject({
      code: 1,
      stderr: `hivemind-rendezvous copy: ${to} already holds 1 messages: copy into an empty data dir\n`,
    });
  }, 30_000);
});
