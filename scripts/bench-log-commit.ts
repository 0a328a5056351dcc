/**
 * `bun scripts/bench-log-commit.ts [DIR]`: what one synced log write (a group commit) costs when it
 * appends to the file and when it overwrites zeros written ahead (lib/store/append-log.ts keeps such
 * zeros past the records), for a small and a large batch: wall time and the process's CPU per write,
 * with O_DSYNC (as the log writes) and with a write then fdatasync. DIR (default: the system's temp
 * directory) should be on the disk to measure. Runs under Deno too (`deno run -A`).
 */
import { constants } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const WRITES = 800;
const BATCHES = [9_000, 27_000]; // about 7 and 21 deposits of 1 KiB: a commit at 16 and at 64 connections
const ROUNDS = 2;

const dir = await mkdtemp(join(process.argv[2] ?? tmpdir(), "rendezvous-log-commit-"));
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const batch of BATCHES) {
      const cells = [];
      for (const overwrite of [false, true]) {
        for (const dsync of [true, false]) cells.push(await measure(join(dir, "log"), batch, overwrite, dsync));
      }
      console.log(`round ${round}, ${batch} bytes per write: ${cells.join(" | ")}`);
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

/** Wall and CPU µs per synced write of `batch` bytes, each after the one before. */
async function measure(path: string, batch: number, overwrite: boolean, dsync: boolean): Promise<string> {
  await rm(path, { force: true });
  if (overwrite) {
    const file = await open(path, "w");
    await file.write(new Uint8Array(batch * WRITES), 0, batch * WRITES, 0);
    await file.sync();
    await file.close();
  }
  const file = await open(path, constants.O_CREAT | constants.O_RDWR | (dsync ? constants.O_DSYNC : 0));
  const bytes = new Uint8Array(batch).fill(0x7b);
  const cpuBefore = process.cpuUsage();
  const began = performance.now();
  for (let i = 0; i < WRITES; i++) {
    await file.write(bytes, 0, batch, i * batch);
    if (!dsync) await file.datasync();
  }
  const wall = ((performance.now() - began) * 1000) / WRITES;
  const cpu = process.cpuUsage(cpuBefore);
  await file.close();
  const name = `${overwrite ? "overwrite zeros" : "append"}, ${dsync ? "O_DSYNC" : "write + fdatasync"}`;
  return `${name}: ${wall.toFixed(0)} µs, CPU ${((cpu.user + cpu.system) / WRITES).toFixed(0)} µs`;
}
