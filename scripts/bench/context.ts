/** What every scenario is handed: options, scratch space, the relay key, client keys, a logger. */
import type { ClientKey } from "./keys.ts";
import type { BenchOptions } from "./options.ts";
import type { ServerProcess } from "./processes.ts";

/** Shared by the scenarios of one benchmark run. */
export interface BenchContext {
  options: BenchOptions;
  /** A temp directory, removed at the end. */
  tmp: string;
  /** Client keys; scenarios take disjoint slices (see KEY_SLICES). */
  keys: ClientKey[];
  /** Starts a relay on `dataDir` (profiled when asked), with `args` added to its command line. */
  relay(runtime: "bun" | "deno", dataDir: string, label: string, args?: string[]): Promise<ServerProcess>;
  /** Progress line on stderr. */
  log(message: string): void;
}

/** Which client keys each use takes: deposit targets, warm-up provers, retrieve mailboxes, collect mailboxes. */
export function keySlices(keys: ClientKey[], retrieveMailboxes: number) {
  return {
    targets: keys.slice(0, 64),
    warmup: keys.slice(64, 96),
    retrieve: keys.slice(96, 96 + retrieveMailboxes),
    collect: keys.slice(96 + retrieveMailboxes, 96 + retrieveMailboxes + 16),
  };
}

/** Keys needed for `retrieveMailboxes`. */
export const keysNeeded = (retrieveMailboxes: number) => 96 + retrieveMailboxes + 16;

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
