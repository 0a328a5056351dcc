/**
 * Start-up time of the store alone (no HTTP) with N messages stored (~1 KiB payloads, 1 per mailbox
 * by default): opening by a full scan of the log, writing the checkpoint at close, and reopening from
 * the checkpoint plus the log after it. Each open runs in a fresh process (cold JIT, as a restart); its
 * CPU time is printed beside the wall time, which other load on the machine stretches.
 * `bun scripts/bench-store-restart.ts [messages=1000000] [runs=3] [perMailbox=1]`.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOG_FILE } from "../lib/store/message-store.ts";
import { checkpointPath } from "../lib/store/checkpoint.ts";
import { openMessageStore } from "../lib/store/open-store.ts";
import { prefillLog, syntheticMailboxes } from "./bench/prefill.ts";

const [mode, dir] = process.argv[2]?.startsWith("--") ? process.argv.slice(2) : [""];

/** One open and close in this process: prints how long each took, in ms. */
async function openAndClose(): Promise<void> {
  const began = performance.now();
  const cpu = process.cpuUsage();
  const store = await openMessageStore(dir, {
    maxStoreBytes: 2 ** 40, maxMessages: 1e9, mailboxMaxMessages: 1e9, durable: true, sweepIntervalSeconds: 0,
    clock: () => Math.floor(Date.now() / 1000), log: () => {},
  });
  const openMs = performance.now() - began;
  const used = process.cpuUsage(cpu);
  const openCpuMs = (used.user + used.system) / 1000;
  const messages = store.stats().messages;
  const closing = performance.now();
  await store.close();
  console.log(JSON.stringify({ openMs, openCpuMs, closeMs: performance.now() - closing, messages }));
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const spread = (values: number[]) => `${median(values).toFixed(0)} (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`;

if (mode === "--open") await openAndClose();
else {
  const messages = Number(process.argv[2] ?? 1_000_000);
  const runs = Number(process.argv[3] ?? 3);
  const perMailbox = Number(process.argv[4] ?? 1);
  const storeDir = await mkdtemp(join(tmpdir(), "rendezvous-bench-restart-"));
  try {
    const payload = JSON.stringify({ msg_type: "intercom", payload: { ciphertext: "x".repeat(960) } });
    const bytes = await prefillLog(storeDir, { live: messages, mailboxes: syntheticMailboxes(Math.ceil(messages / perMailbox)), payload });
    console.log(`pre-filled ${messages} messages (${(bytes / 2 ** 20).toFixed(0)} MiB)`);
    const open = () => {
      const child = spawnSync(process.execPath, [import.meta.path, "--open", storeDir], { encoding: "utf8" });
      if (child.status !== 0) throw new Error(child.stderr);
      const result = JSON.parse(child.stdout);
      if (result.messages !== messages) throw new Error(`opened with ${result.messages} of ${messages} messages`);
      return result as { openMs: number; openCpuMs: number; closeMs: number };
    };
    const [full, fullCpu, close, fromCheckpoint, fromCheckpointCpu]: number[][] = [[], [], [], [], []];
    for (let run = 0; run < runs; run++) {
      await rm(checkpointPath(join(storeDir, LOG_FILE)), { force: true });
      const first = open();
      full.push(first.openMs);
      fullCpu.push(first.openCpuMs);
      close.push(first.closeMs);
      const second = open();
      fromCheckpoint.push(second.openMs);
      fromCheckpointCpu.push(second.openCpuMs);
    }
    console.table([
      { open: "full scan", "wall ms": spread(full), "CPU ms": spread(fullCpu) },
      { open: "from the checkpoint", "wall ms": spread(fromCheckpoint), "CPU ms": spread(fromCheckpointCpu) },
      { open: "(close, writing the checkpoint)", "wall ms": spread(close), "CPU ms": "" },
    ]);
  } finally {
    await rm(storeDir, { recursive: true, force: true });
  }
}
