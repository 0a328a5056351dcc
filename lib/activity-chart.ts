/** The status page's chart: deposits and deliveries per hour as an inline SVG bar chart (no script, no external asset). */
import { type Html, html } from "./html.ts";
import type { HourlyActivity } from "./metrics.ts";

const WIDTH = 600;
const HEIGHT = 170;
const PLOT = { left: 40, right: 8, top: 10, bottom: 22 };
const PLOT_WIDTH = WIDTH - PLOT.left - PLOT.right;
const PLOT_HEIGHT = HEIGHT - PLOT.top - PLOT.bottom;
const BASELINE = PLOT.top + PLOT_HEIGHT;
const SERIES = [
  { key: "deposits", one: "deposit", many: "deposits", offset: 0.12 },
  { key: "delivered", one: "delivery", many: "deliveries", offset: 0.5 },
] as const;

/** "1 deposit", "3 deposits". */
const count = (n: number, { one, many }: { one: string; many: string }) => `${n} ${n === 1 ? one : many}`;

/** "14:00–15:00 UTC" for the hour starting at `hourStart` (Unix seconds). */
function hourLabel(hourStart: number): string {
  const time = (seconds: number) => new Date(seconds * 1000).toISOString().slice(11, 16);
  return `${time(hourStart)}–${time(hourStart + 3600)} UTC`;
}

/** A legend with the totals, then two bars per hour (deposits, deliveries), oldest hour on the left, the current hour on the right. */
export function activityChart(hours: HourlyActivity[]): Html {
  const highest = Math.max(1, ...hours.flatMap((hour) => [hour.deposits, hour.delivered]));
  const slot = PLOT_WIDTH / hours.length;
  const bars = hours.flatMap((hour, index) =>
    SERIES.filter(({ key }) => hour[key] > 0).map((series) => {
      const { key, offset } = series;
      const height = Math.max(1, (hour[key] / highest) * PLOT_HEIGHT);
      const x = PLOT.left + index * slot + offset * slot;
      return html`<rect class="${key}" x="${x.toFixed(1)}" y="${(BASELINE - height).toFixed(1)}" width="${(slot * 0.36).toFixed(1)}" height="${height.toFixed(1)}"><title>${hourLabel(hour.hourStart)}: ${count(hour[key], series)}</title></rect>`;
    })
  );
  const ticks = [0, 6, 12, 18].map((index) =>
    html`<text x="${(PLOT.left + index * slot).toFixed(1)}" y="${HEIGHT - 6}">−${hours.length - index} h</text>`
  );
  const totals = SERIES.map((series) => ({ ...series, total: hours.reduce((sum, hour) => sum + hour[series.key], 0) }));
  const summary = totals.map((series) => count(series.total, series)).join(", ");
  return html`<p class="legend">${totals.map(({ key, many, total }) => html`<span class="${key}"></span>${many}: ${total}`)}</p>
<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="Last ${hours.length} hours: ${summary}">
<title>Last ${hours.length} hours: ${summary}</title>
<line class="axis" x1="${PLOT.left}" y1="${BASELINE}" x2="${WIDTH - PLOT.right}" y2="${BASELINE}"/>
<line class="grid" x1="${PLOT.left}" y1="${PLOT.top}" x2="${WIDTH - PLOT.right}" y2="${PLOT.top}"/>
<text class="scale" x="${PLOT.left - 6}" y="${PLOT.top + 4}">${highest}</text>
<text class="scale" x="${PLOT.left - 6}" y="${BASELINE + 4}">0</text>
${bars}
${ticks}<text class="now" x="${WIDTH - PLOT.right}" y="${HEIGHT - 6}">now</text>
</svg>`;
}
