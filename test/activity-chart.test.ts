/** The status page's activity chart: its time axis follows the hours it is given. */
import { describe, expect, test } from "bun:test";
import { activityChart } from "../lib/activity-chart.ts";
import { HISTORY_HOURS } from "../lib/metrics.ts";

const NOW = 1_800_000_000;
const quietHours = (count: number) => Array.from({ length: count }, (_, i) => ({ hourStart: NOW - (count - 1 - i) * 3600, deposits: 0, delivered: 0 }));
const tickLabels = (count: number) => [...activityChart(quietHours(count)).text.matchAll(/<text x="[\d.]+" y="[\d.]+">([^<]*)<\/text>/g)].map((match) => match[1]);

describe("activity chart axis", () => {
  test(`${HISTORY_HOURS} hours (the status page's) → ticks at −24, −18, −12 and −6 h`, () => {
    expect(tickLabels(HISTORY_HOURS)).toEqual(["−24 h", "−18 h", "−12 h", "−6 h"]);
  });

  test("8 hours → ticks at −8, −6, −4 and −2 h, all inside the chart", () => {
    expect(tickLabels(8)).toEqual(["−8 h", "−6 h", "−4 h", "−2 h"]);
  });
});
