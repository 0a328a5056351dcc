/**
 * Memory of the store's index at rest, in bytes of RSS per mailbox and per message, for `mailboxes`
 * mailboxes holding `perMailbox` messages each (tiny payloads): once filled by deposits, and once
 * reopened from the log. Each is measured in a fresh process. Not timed; prints the figures.
 * `bun scripts/bench-store-memory.ts [mailboxes=200000] [perMailbox=1]`.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openMessageStore } from "../lib/store/open-store.ts";

const [mode, dir, mailboxArg, perMailboxArg] = process.argv[2]?.startsWith("--") ? process.argv.slice(2) : ["", "", ...process.argv.slice(2)];
const mailboxCount = Number(mailboxArg ?? 200_000);
const perMailbox = Number(perMailboxArg ?? 1);
const messages = mailboxCount * perMailbox;

/** RSS once garbage is collected and freed pages are handed back. */
async function settledRss(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    Bun.gc(true);
    await Bun.sleep(300);
  }
  return process.memoryUsage().rss;
}

const openStore = () => openMessageStore(dir, {
  maxStoreBytes: 2 ** 40, maxMessages: 1e9, mailboxMaxMessages: 1e9, durable: false, sweepIntervalSeconds: 0,
  clock: () => Math.floor(Date.now() / 1000), log: () => {},
});

/** One measurement, in this (fresh) process: prints a JSON line with the RSS grown. */
async function measure(): Promise<void> {
  const before = await settledRss();
  const store = await openStore();
  if (mode === "--deposit") {
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    for (let i = 0; i < messages; i += 1000) {
      await Promise.all(Array.from({ length: Math.min(1000, messages - i) }, (_, k) => {
        const mailbox = createHash("sha256").update(`bench-mailbox-${(i + k) % mailboxCount}`).digest("hex"); // a new string, as a request makes
        return store.deposit(mailbox, "x", expiresAt);
      }));
    }
  }
  const grown = (await settledRss()) - before;
  if (store.stats().messages !== messages) throw new Error(`the store holds ${store.stats().messages} of ${messages} messages`);
  await store.close();
  console.log(JSON.stringify({ grown }));
}

if (mode) await measure();
else {
  const storeDir = await mkdtemp(join(tmpdir(), "rendezvous-bench-memory-"));
  try {
    const rows = ["--deposit", "--reopen"].map((step) => {
      const child = spawnSync(process.execPath, [import.meta.path, step, storeDir, String(mailboxCount), String(perMailbox)], { encoding: "utf8" });
      if (child.status !== 0) throw new Error(child.stderr);
      const { grown } = JSON.parse(child.stdout);
      return {
        filled: step === "--deposit" ? "by deposits" : "by reopening",
        mailboxes: mailboxCount,
        "messages/mailbox": perMailbox,
        "RSS grown MiB": (grown / 2 ** 20).toFixed(1),
        "RSS B/mailbox": Math.round(grown / mailboxCount),
        "RSS B/message": Math.round(grown / messages),
      };
    });
    console.table(rows);
  } finally {
    await rm(storeDir, { recursive: true, force: true });
  }
}
