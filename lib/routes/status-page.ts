/**
 * GET / for a browser: a small server-rendered HTML page on the relay's state (no script, no external
 * asset). It shows only what the operator may see: never a mailbox id, a key, a payload or a client address.
 */
import { activityChart } from "../activity-chart.ts";
import { isTrustedProxy } from "../client-address.ts";
import type { RequestContext } from "../context.ts";
import { errors, RelayError } from "../errors.ts";
import { Html, html } from "../html.ts";
import { HISTORY_HOURS } from "../metrics.ts";
import { lacksHost, requestUrl } from "../router.ts";

const HEADERS = {
  "Content-Type": "text/html; charset=utf-8",
  "Cache-Control": "no-store",
  // The same URL answers JSON to clients that do not ask for HTML.
  Vary: "Accept",
  "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
};

/**
 * The quality (0–1) the Accept header gives `type`, by an exact media-range match; 0 when not listed.
 * Wildcards are ignored: `*\/*` (curl, most libraries) is not a request for HTML.
 */
function acceptQuality(accept: string, type: string): number {
  for (const range of accept.split(",")) {
    const [mediaType, ...parameters] = range.split(";").map((part) => part.trim().toLowerCase());
    if (mediaType !== type) continue;
    const q = parameters.find((parameter) => parameter.startsWith("q="));
    const quality = q === undefined ? 1 : Number(q.slice(2));
    return Number.isFinite(quality) ? quality : 0;
  }
  return 0;
}

/** True when the client lists text/html, at least as high as application/json. */
function wantsHtml(accept: string | null): boolean {
  const htmlQuality = acceptQuality(accept ?? "", "text/html");
  return htmlQuality > 0 && htmlQuality >= acceptQuality(accept ?? "", "application/json");
}

/** "3 d 4 h", "5 h 12 min", "42 s": the two largest units. */
function duration(seconds: number): string {
  const parts: [number, string][] = [
    [Math.floor(seconds / 86400), "d"],
    [Math.floor(seconds / 3600) % 24, "h"],
    [Math.floor(seconds / 60) % 60, "min"],
    [seconds % 60, "s"],
  ];
  const first = parts.findIndex(([value]) => value > 0);
  if (first === -1) return "0 s";
  return parts.slice(first, first + 2).filter(([value]) => value > 0).map(([value, unit]) => `${value} ${unit}`).join(" ");
}

/** "1,000,000" */
function grouped(count: number): string {
  return String(count).replace(/\B(?=(\d{3})+$)/g, ",");
}

/** "1.5 MiB" */
function bytes(count: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
  const power = count > 0 ? Math.min(units.length - 1, Math.floor(Math.log2(count) / 10)) : 0;
  return power === 0 ? `${count} bytes` : `${(count / 1024 ** power).toFixed(1).replace(/\.0$/, "")} ${units[power]}`;
}

/** A meter (amber from 90 %) and "value of cap (percent)", both written by `format`. */
function usage(value: number, cap: number, format: (count: number) => string): Html {
  return html`<meter min="0" max="${cap}" value="${value}" high="${Math.floor(cap * 0.9)}"></meter>${format(value)} of ${format(cap)} (${(value / cap * 100).toFixed(1)} %)`;
}

/** What stands for the relay's address in the URL shown to a client that sent no Host (HTTP/1.0). */
const UNKNOWN_HOST = "<relay-address>:<port>";

/**
 * The URL a node should be given: the Host the browser used (a placeholder without one), https when a
 * trusted proxy (`--trust-proxy`) says so in X-Forwarded-Proto; any other peer's X-Forwarded-Proto is ignored.
 */
function baseUrl({ request, peer, relay }: RequestContext): string {
  const url = requestUrl(request);
  const forwardedProto = isTrustedProxy(peer(), relay.config.trustProxy)
    ? request.headers.get("x-forwarded-proto")?.trim().toLowerCase()
    : undefined;
  return `${forwardedProto === "https" ? "https:" : url.protocol}//${lacksHost(url) ? UNKNOWN_HOST : url.host}`;
}

/** 404 not_found, as for any unknown path; it varies with Accept, since a browser gets the page here. */
function notForThisClient(): never {
  const { status, reason } = errors.notFound();
  throw new RelayError(status, reason, { Vary: "Accept" });
}

const STYLE = new Html(`
:root { color-scheme: light dark; --fg: #1d232a; --muted: #5b6570; --line: #d5dae0; --card: #f6f7f9; --ok: #1a7f37; --warn: #9a6700; --deposits: #2f6fde; --delivered: #22a06b; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ee; --muted: #9aa4af; --line: #3a424b; --card: #1c2127; --ok: #4ac26b; --warn: #d4a72c; } }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; } h2 { font-size: 1.1rem; margin: 2rem 0 .5rem; }
.sub { color: var(--muted); margin: 0; }
.health { font-weight: 600; } .health.ok { color: var(--ok); } .health.warn { color: var(--warn); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1.25rem; margin: 1rem 0; padding: 1rem; background: var(--card); border-radius: 8px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
meter { width: 12rem; height: 1rem; vertical-align: middle; margin-right: .5rem; }
code, pre { font: 14px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: var(--card); padding: .75rem 1rem; border-radius: 8px; white-space: pre-wrap; overflow-wrap: anywhere; }
.fingerprint { word-break: break-all; }
.chart { width: 100%; height: auto; display: block; }
.chart text { font: 11px system-ui, sans-serif; fill: var(--muted); } .chart .scale { text-anchor: end; } .chart .now { text-anchor: end; }
.chart .axis { stroke: var(--muted); } .chart .grid { stroke: var(--line); stroke-dasharray: 3 3; }
.chart .deposits, .legend .deposits { fill: var(--deposits); background: var(--deposits); }
.chart .delivered, .legend .delivered { fill: var(--delivered); background: var(--delivered); }
.legend { color: var(--muted); font-size: .9rem; } .legend span { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; margin: 0 .3rem 0 1rem; vertical-align: -1px; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: .85rem; }
`);

/** GET /: the status page for a browser; 404 JSON (as for any unknown path) when turned off or when HTML is not asked for. */
export function statusPage(context: RequestContext): Response {
  const { request, relay } = context;
  if (relay.config.noStatusPage) throw errors.notFound();
  if (!wantsHtml(request.headers.get("accept"))) notForThisClient();
  const { config, metrics, version } = relay;
  const stats = relay.store.stats();
  const uptime = Math.floor(relay.uptimeSeconds());
  const fingerprint = relay.relayKeyFingerprint;
  const url = baseUrl(context);
  const health = "engine" in stats
    ? stats.engine.state === "up" ? html`<span class="health ok">ok</span>` : html`<span class="health warn">the database does not answer</span>`
    : stats.failingWrites
    ? html`<span class="health warn">${stats.failingWrites === "full" ? "the disk is full" : "the disk fails writes"}: deposits and acknowledgements fail</span>`
    : stats.damagedRecords === 0
    ? html`<span class="health ok">ok</span>`
    : html`<span class="health warn">running, but ${stats.damagedRecords} damaged log lines were set aside at start</span> (see the <code>messages.jsonl.damaged-*</code> file)`;
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hivemind-rendezvous ${version}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>hivemind-rendezvous</h1>
<p class="sub">Store-and-forward relay for HiveMind nodes · version ${version}</p>
</header>
<dl class="facts">
<dt>Health</dt><dd>${health}</dd>
<dt>Up for</dt><dd>${duration(uptime)} <span class="sub">(since ${new Date((relay.clock() - uptime) * 1000).toISOString().slice(0, 16).replace("T", " ")} UTC)</span></dd>
<dt>Stored messages</dt><dd>${usage(stats.messages, config.maxMessages, grouped)} <span class="sub">(max ${grouped(config.mailboxMaxMessages)} per mailbox)</span></dd>
<dt>Stored bytes</dt><dd>${usage(stats.bytes, config.maxStoreBytes, bytes)}</dd>
<dt>Largest deposit</dt><dd>${bytes(config.maxPayloadBytes)}</dd>
</dl>

<h2>Last ${HISTORY_HOURS} hours</h2>
${activityChart(metrics.hourlyActivity())}
<p class="sub">Hourly, counted in memory since the relay started.</p>

<h2>Relay key</h2>
${fingerprint
    ? html`<p>SHA-256 fingerprint:<br><code class="fingerprint">${fingerprint}</code></p>
<p class="sub">Nodes bind every proof to this key. Check it from a node:</p>
<pre>curl -s ${url}/pubkey | jq -r .pubkey | openssl pkey -pubin -outform DER | sha256sum</pre>`
    : html`<p>None: this relay runs <code>--keyless</code>, so proofs are not bound to a relay key.</p>`}

<h2>Point a node at this relay</h2>
<p>Give your HiveMind nodes this relay URL:</p>
<pre>${url}</pre>
<p>With the bundled client (<code>hivemind-rendezvous</code>), for example:</p>
<pre>hivemind-rendezvous keygen ./bob
hivemind-rendezvous deposit ${url} --to ./bob/public_key.pem --text "dinner is ready"
hivemind-rendezvous retrieve ${url} --key ./bob/private_key.pem</pre>
${url.startsWith("http:") ? html`<p class="sub">Behind a TLS proxy, give nodes the proxy's <code>https://</code> URL instead.</p>` : ""}

<footer>Mailboxes, keys, messages and client addresses are never shown here. Machine-readable: <code>/healthz</code> (JSON), <code>/metrics</code> (Prometheus).</footer>
</body>
</html>
`;
  return new Response(page.text, { headers: HEADERS });
}
