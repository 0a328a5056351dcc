/** A scenario's output: named figures (medians with spread) and the raw runs behind them. */
import { type Spread, spread } from "./stats.ts";
import type { LoadResult } from "./load.ts";

/** One reported figure. */
export interface Figure extends Spread {
  unit: string;
}

/** What a scenario returns. */
export interface ScenarioResult {
  figures: Record<string, Figure>;
  /** Raw per-run details, for the JSON file. */
  runs: Record<string, unknown>[];
}

/** A figure from per-run values. */
export function figure(unit: string, values: number[]): Figure {
  return { unit, ...spread(values) };
}

/** A load result without its timeline, rounded for the JSON file. */
export function summary(result: LoadResult): Record<string, number> {
  const { timeline: _timeline, ...rest } = result;
  return Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, Math.round(value * 1000) / 1000]));
}
