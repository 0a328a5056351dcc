/** Reading one sample of the relay's Prometheus /metrics. */

/** The value of the unlabelled sample `name` (NaN when absent). */
export async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return match ? Number(match[1]) : NaN;
}
