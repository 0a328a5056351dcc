/** Runs the selected scenarios in order; one failing scenario is reported and the rest still run. */
import type { BenchContext } from "../context.ts";
import type { ScenarioResult } from "../figures.ts";
import type { SCENARIO_NAMES } from "../options.ts";
import { compactionScenario } from "./compaction.ts";
import { depositsScenario } from "./deposits.ts";
import { postgresScenario } from "./postgres.ts";
import { retrieveScenario } from "./retrieve.ts";
import { storeSizeScenario } from "./store-size.ts";

/** Every name `--only` accepts has its scenario, and only those (checked by tsc). */
const SCENARIOS: Record<(typeof SCENARIO_NAMES)[number], (context: BenchContext) => Promise<ScenarioResult>> = {
  deposits: depositsScenario,
  "store-size": storeSizeScenario,
  retrieve: retrieveScenario,
  compaction: compactionScenario,
  postgres: postgresScenario,
};

/** Each selected scenario's result, or its error. */
export async function runScenarios(context: BenchContext): Promise<Record<string, ScenarioResult | { error: string }>> {
  const results: Record<string, ScenarioResult | { error: string }> = {};
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    if (context.options.only && !context.options.only.has(name)) continue;
    context.log(`scenario ${name}`);
    try {
      results[name] = await scenario(context);
    } catch (error) {
      context.log(`scenario ${name} failed: ${(error as Error).stack}`);
      results[name] = { error: String((error as Error).stack ?? error) };
    }
  }
  return results;
}
