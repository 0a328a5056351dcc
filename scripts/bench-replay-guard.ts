/**
 * Memory of the replay guard at capacity: bytes per remembered proof, as the growth of the process's
 * resident set after a full GC (neither runtime counts typed arrays in heapUsed or external). Proofs are
 * shaped like the relay's (a mailbox, a timestamp, a 2048-bit signature). `bun scripts/bench-replay-guard.ts` or
 * `deno run --v8-flags=--expose-gc scripts/bench-replay-guard.ts`.
 */
import { randomBytes } from "node:crypto";
import process from "node:process";
import { ReplayGuard } from "../lib/replay-guard.ts";

const CAPACITY = 200_000;
const NOW = 1_767_225_600;

function collectGarbage(): void {
  const global = globalThis as { Bun?: { gc(force: boolean): void }; gc?: () => void };
  if (global.Bun) global.Bun.gc(true);
  else if (global.gc) global.gc();
  else throw new Error("no way to force a GC: under Deno, pass --v8-flags=--expose-gc");
}

function usedBytes(): number {
  collectGarbage();
  return process.memoryUsage().rss;
}

const mailbox = randomBytes(32).toString("hex");
const proof = () => ({ mailbox, timestamp: NOW, signature: randomBytes(256) });
// As many claims first, on a guard with room for one, so that the heap has grown for their garbage
// (proofs, digests) before the baseline: what remains is what the guard holds.
const room = new ReplayGuard(1);
for (let i = 0; i < CAPACITY; i++) room.claim(proof(), NOW + 60, NOW);
const before = usedBytes();
const guard = new ReplayGuard(CAPACITY);
for (let i = 0; i < CAPACITY; i++) if (guard.claim(proof(), NOW + 60, NOW) !== "fresh") throw new Error("not fresh");
const after = usedBytes();
const runtime = (globalThis as { Deno?: unknown }).Deno ? "deno" : "bun";
console.log(`${runtime}: ${guard.size} proofs remembered, ${((after - before) / guard.size).toFixed(1)} bytes per proof`);
