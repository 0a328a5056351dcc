/** The benchmark's knobs: a full profile (~10 min), a quick one (~2 min), and a few flags. */
import { parseArgs } from "node:util";

/** What to run and how long. */
export interface BenchOptions {
  quick: boolean;
  /** Repetitions of each measurement; figures are their medians. */
  runs: number;
  /** Seconds of each timed load, after `warmupRequests` of warm-up (deposits go in turns: see `depositTurns`). */
  seconds: number;
  /**
   * Requests each server answers before a timed deposit or retrieve load: a count, not seconds, so that every
   * server has run its code as often (a fresh relay's JIT compilers work through its first ~20,000
   * deposits: 310 ms of compiler threads over the first 10,000, 0–30 ms per 10,000 after 20,000).
   */
  warmupRequests: number;
  /** The deposits scenario's timed deposits: this many turns of `depositsPerTurn`, each turn to every server of a runtime. */
  depositTurns: number;
  depositsPerTurn: number;
  /** Stored-message counts for the latency, memory and restart figures; the first must be 0. */
  sizes: number[];
  /** Messages per synthetic mailbox when pre-filling. */
  perMailbox: number;
  /** Distinct signed proofs per timed retrieve run, over `retrieveMailboxes` keys. */
  retrieveProofs: number;
  retrieveMailboxes: number;
  /** collect → ack cycles per timed run. */
  collectPairs: number;
  /** Live messages (and 1.5 times as many dead) in the store being compacted. */
  compactionLive: number;
  compactionRuns: number;
  /** Scenario names to run (all when null). */
  only: Set<string> | null;
  deno: boolean;
  /** Start Bun relays with --cpu-prof-md into bench-results/profiles/. */
  profile: boolean;
}

export const SCENARIO_NAMES = ["deposits", "store-size", "retrieve", "compaction", "postgres"] as const;

/** Parses the command line (without the program); throws TypeError on a bad flag. */
export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: "boolean" },
      runs: { type: "string" },
      seconds: { type: "string" },
      only: { type: "string" },
      "no-deno": { type: "boolean" },
      profile: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) throw new TypeError(usage());
  const quick = values.quick ?? false;
  const only = values.only ? new Set(values.only.split(",")) : null;
  for (const name of only ?? []) if (!(SCENARIO_NAMES as readonly string[]).includes(name)) throw new TypeError(`unknown scenario ${name}\n${usage()}`);
  return {
    quick,
    runs: values.runs ? Number(values.runs) : 3,
    seconds: values.seconds ? Number(values.seconds) : quick ? 1 : 5,
    warmupRequests: quick ? 10_000 : 20_000,
    depositTurns: quick ? 6 : 10,
    depositsPerTurn: quick ? 2_000 : 3_000,
    sizes: quick ? [0, 10_000, 100_000] : [0, 10_000, 100_000, 1_000_000],
    perMailbox: 10,
    retrieveProofs: quick ? 6_000 : 30_000,
    retrieveMailboxes: quick ? 256 : 512,
    collectPairs: quick ? 1_000 : 6_000,
    compactionLive: quick ? 80_000 : 500_000,
    compactionRuns: quick ? 1 : 2,
    only,
    deno: !values["no-deno"],
    profile: values.profile ?? false,
  };
}

/** The --help text. */
function usage(): string {
  return [
    "Usage: bun scripts/bench.ts [--quick] [--runs N] [--seconds S] [--only a,b] [--no-deno] [--profile]",
    `  scenarios: ${SCENARIO_NAMES.join(", ")}`,
    "  --quick     ~2 minutes: shorter loads, stores up to 100k messages",
    "  --profile   write Bun CPU profiles (markdown) of every relay to bench-results/profiles/",
  ].join("\n");
}
