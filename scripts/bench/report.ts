/** The results: a table on stdout, targets met or missed, and a JSON file under bench-results/. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Figure, ScenarioResult } from "./figures.ts";

/** A stored-message count as a short label: 0, 10k, 1M. */
export function sizeLabel(count: number): string {
  return count >= 1e6 ? `${count / 1e6}M` : count >= 1e3 ? `${count / 1e3}k` : String(count);
}

interface Target {
  goal: string;
  /** Figure names, in order of preference: the first one present is judged. */
  figures: string[];
  pass(value: number): boolean;
}

/** The targets, each judged on the median of its figure. */
const TARGETS: Target[] = [
  { goal: "deposits/s >= 90% of the minimal durable server (c16)", figures: ["deposits/durable-baseline c16"], pass: (v) => v >= 0.9 },
  { goal: "deposits/s >= 90% of the minimal durable server (c64)", figures: ["deposits/durable-baseline c64"], pass: (v) => v >= 0.9 },
  { goal: "Deno deposits/s >= 85% of the minimal durable server under Deno (c64)", figures: ["deposits/durable-baseline deno c64"], pass: (v) => v >= 0.85 },
  { goal: "deposit p99 at the largest store <= 1.2x empty", figures: ["deposit p99 @1M/@0", "deposit p99 @100k/@0"], pass: (v) => v <= 1.2 },
  { goal: "retrieves/s >= 85% of verify-only server", figures: ["retrieves/verify-only"], pass: (v) => v >= 0.85 },
  { goal: "collects (and their acks)/s >= 85% of verify-only server", figures: ["collects/verify-only"], pass: (v) => v >= 0.85 },
  { goal: "RSS <= 100 bytes per stored message at 1M", figures: ["RSS bytes/message @1M"], pass: (v) => v <= 100 },
  { goal: "restart with 1M messages <= 1 s", figures: ["restart ms @1M"], pass: (v) => v <= 1000 },
  { goal: "no deposit waits > 20 ms because of compaction", figures: ["max deposit latency during compaction beyond 20 ms and the windows without"], pass: (v) => v <= 0 },
];

const format = (value: number, unit: string) =>
  !Number.isFinite(value) ? "n/a" : unit === "ratio" ? value.toFixed(3) : Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2);

/** The figures as an aligned text table, then the targets. */
export function renderReport(results: Record<string, ScenarioResult | { error: string }>): string {
  const rows: string[][] = [["figure", "median", "min", "max", "unit", "runs"]];
  const all: Record<string, Figure> = {};
  for (const [scenario, result] of Object.entries(results)) {
    if ("error" in result) {
      rows.push([`${scenario}: FAILED ${result.error.split("\n")[0]}`, "", "", "", "", ""]);
      continue;
    }
    for (const [name, item] of Object.entries(result.figures)) {
      all[name] = item;
      rows.push([name, format(item.median, item.unit), format(item.min, item.unit), format(item.max, item.unit), item.unit, String(item.runs.length)]);
    }
  }
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  const table = rows.map((row) => row.map((cell, column) => column === 0 ? cell.padEnd(widths[0]) : cell.padStart(widths[column])).join("  "));
  const verdicts = TARGETS.map((target) => {
    const name = target.figures.find((candidate) => all[candidate]);
    if (!name) return `  [ -- ] ${target.goal}: not measured`;
    const value = all[name].median;
    return `  [${target.pass(value) ? "PASS" : "MISS"}] ${target.goal}: ${name} = ${format(value, all[name].unit)}`;
  });
  return [...table, "", "Targets (medians):", ...verdicts].join("\n");
}

/** Writes everything to bench-results/<timestamp>.json; resolves with the path. */
export async function writeResults(directory: string, document: Record<string, unknown>): Promise<string> {
  await mkdir(directory, { recursive: true });
  const path = join(directory, `${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(path, JSON.stringify(document, null, 2) + "\n");
  return path;
}
