/**
 * GET /: the HTML status page for browsers, through the app function (contents, what it never shows,
 * escaping, content negotiation, the option that turns it off), and in headless Chromium when installed.
 */
import { describe, expect, test } from "bun:test";
import { createPublicKey } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { parseAddressRange } from "../lib/ip-address.ts";
import { intercom, json, keys, proofBody, tempDataDir, testRelay, testStore } from "./helpers.ts";
import { RELAY_COMMANDS, runProcess, startRelayProcess } from "./processes.ts";

const BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
const NOW = 1_800_000_000; // 2027-01-15 08:00:00 UTC, the start of an hour
const SECRET = "do-not-show-this-payload";

/** What sha256sum prints for the SPKI DER of `pem`, computed apart from the relay's code. */
const spkiSha256 = (pem: string) => new Bun.CryptoHasher("sha256").update(createPublicKey(pem).export({ type: "spki", format: "der" })).digest("hex");

type Relay = Awaited<ReturnType<typeof testRelay>>;

/** GET `url` from the relay's app as a browser at `peer` would. */
const browse = (relay: Relay, url = "http://pi.local:6789/", headers: Record<string, string> = {}, peer = "192.0.2.1") =>
  relay.app(new Request(url, { headers: { accept: BROWSER_ACCEPT, ...headers } }), () => peer);

const depositForBob = (relay: Relay, peer = "192.0.2.1") =>
  relay.request("/deposit", { payload: intercom({ data: SECRET }), target_pubkey: keys.bob.public_spki_pem }, { peer });

describe("GET / status page", () => {
  test("a browser gets HTML: version, uptime, health, stored messages and bytes against the caps, the last 24 h, the key's fingerprint, the URL", async () => {
    const relay = await testRelay({ now: NOW, config: { maxStoreBytes: 2 << 20, maxMessages: 1000, mailboxMaxMessages: 50 } });
    for (let i = 0; i < 3; i++) expect((await depositForBob(relay)).status).toBe(200);
    expect((await json(await relay.request("/retrieve", await proofBody("bob", NOW)))).messages.length).toBe(3);
    for (let i = 0; i < 2; i++) await depositForBob(relay);
    relay.setNow(NOW + 3725);

    const response = await browse(relay);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const page = await response.text();
    expect(page).toStartWith("<!doctype html>");
    expect(page).toContain(`version ${packageJson.version}`);
    expect(page).toContain('<dt>Health</dt><dd><span class="health ok">ok</span></dd>');
    expect(page).toContain("<dt>Up for</dt><dd>1 h 2 min ");
    expect(page).toContain(
      '<dt>Stored messages</dt><dd><meter min="0" max="1000" value="2" high="900"></meter>2 of 1,000 (0.2 %) <span class="sub">(max 50 per mailbox)</span></dd>',
    );
    const bytes = relay.store.stats().bytes;
    expect(bytes).toBeGreaterThan(0);
    expect(page).toContain(`<meter min="0" max="${2 << 20}" value="${bytes}"`);
    expect(page).toContain(`${bytes} bytes of 2 MiB (${(bytes / (2 << 20) * 100).toFixed(1)} %)`);
    expect(page).toContain("<dt>Largest deposit</dt><dd>64 KiB</dd>");
    expect(page).toContain("deposits: 5<span");
    expect(page).toContain("deliveries: 3</p>");
    expect(page).toContain(`<code class="fingerprint">${spkiSha256(keys.relay.public_spki_pem)}</code>`);
    expect(page).toContain("<pre>http://pi.local:6789</pre>");
    expect(page).toContain("curl -s http://pi.local:6789/pubkey | jq -r .pubkey | openssl pkey -pubin -outform DER | sha256sum");
    expect(page).not.toContain("<script");
  });

  test("uptime is counted on a clock that only moves forward: the wall clock jumping days ahead (a Pi's, at boot) leaves it as it was", async () => {
    let monotonic = 1000;
    const relay = await testRelay({ now: NOW, uptimeClock: () => monotonic });
    monotonic += 90;
    relay.setNow(NOW + 3 * 86400);
    expect((await json(await relay.request("/healthz"))).uptime_seconds).toBe(90);
    expect(await (await relay.request("/metrics")).text()).toContain("\nrendezvous_uptime_seconds 90\n");
    const page = await (await browse(relay)).text();
    expect(page).toContain('<dt>Up for</dt><dd>1 min 30 s <span class="sub">(since 2027-01-18 07:58 UTC)</span></dd>');
  });

  test("the chart has a bar per series and active hour, in its hour's slot; after 24 h they are gone", async () => {
    const relay = await testRelay({ now: NOW + 10 });
    await depositForBob(relay);
    await depositForBob(relay);
    relay.setNow(NOW + 5 * 3600 + 10);
    await depositForBob(relay);
    await relay.request("/collect", await proofBody("bob", NOW + 5 * 3600 + 10));
    const bars = (page: string) => [...page.matchAll(/<rect class="(\w+)" x="([\d.]+)"[^>]*><title>([^<]*)<\/title>/g)].map((match) => match.slice(1));

    const page = await (await browse(relay)).text();
    expect(page).toContain('aria-label="Last 24 hours: 3 deposits, 3 deliveries"');
    // 24 slots of (600 - 48) / 24 = 23 px from x = 40; the current hour is the last slot (index 23).
    expect(bars(page)).toEqual([
      ["deposits", (40 + 18 * 23 + 0.12 * 23).toFixed(1), "08:00–09:00 UTC: 2 deposits"],
      ["deposits", (40 + 23 * 23 + 0.12 * 23).toFixed(1), "13:00–14:00 UTC: 1 deposit"],
      ["delivered", (40 + 23 * 23 + 0.5 * 23).toFixed(1), "13:00–14:00 UTC: 3 deliveries"],
    ]);

    relay.setNow(NOW + 24 * 3600 + 10);
    expect(bars(await (await browse(relay)).text()).map(([, , title]) => title)).toEqual(["13:00–14:00 UTC: 1 deposit", "13:00–14:00 UTC: 3 deliveries"]);
    relay.setNow(NOW + 29 * 3600 + 10);
    const later = await (await browse(relay)).text();
    expect(bars(later)).toEqual([]);
    expect(later).toContain("deposits: 0<span");
  });

  test("it never shows mailbox ids, keys, payloads, deposit ids or client addresses", async () => {
    const relay = await testRelay({ config: { trustProxy: [parseAddressRange("127.0.0.1")!] } });
    const depositor = "198.51.100.23";
    const deposited = await json(await relay.request("/deposit", { payload: intercom({ data: SECRET }), target_pubkey: keys.bob.public_spki_pem }, {
      peer: "127.0.0.1",
      headers: { "x-forwarded-for": depositor },
    }));
    expect(deposited.status).toBe("ok");
    await relay.request("/collect", await proofBody("alice", Math.floor(Date.now() / 1000)), { peer: "203.0.113.50" });
    const page = await (await browse(relay, "http://relay.example:6789/", { "x-forwarded-for": "203.0.113.99" }, "127.0.0.1")).text();

    const pemLines = (pem: string) => pem.split("\n").filter((line) => !line.startsWith("-----") && line.length > 8);
    const secrets = [
      SECRET,
      deposited.deposit_id,
      spkiSha256(keys.bob.public_spki_pem), // bob's mailbox id
      spkiSha256(keys.alice.public_spki_pem),
      ...pemLines(keys.bob.public_spki_pem),
      ...pemLines(keys.alice.public_spki_pem),
      ...pemLines(keys.relay.public_spki_pem),
      ...pemLines(keys.relay.private_pkcs1_pem),
      depositor,
      "203.0.113.50",
      "203.0.113.99",
      "127.0.0.1",
      "BEGIN",
    ];
    for (const secret of secrets) expect(page).not.toContain(secret);
    expect(page).toContain("deposits: 1<span"); // the page did see the activity
  });

  test("text taken from the request is escaped: a Host with quotes and & appears as entities", async () => {
    const relay = await testRelay();
    const page = await (await browse(relay, `http://a"b'c&d.example:6789/`)).text();
    expect(page).toContain("<pre>http://a&quot;b&#39;c&amp;d.example:6789</pre>");
    expect(page).not.toContain(`a"b'c&d`);
  });

  test("X-Forwarded-Proto: https from a --trust-proxy peer → the https URL, and no advice to use one", async () => {
    const relay = await testRelay({ config: { trustProxy: [parseAddressRange("10.0.0.0/8")!] } });
    const page = await (await browse(relay, "http://relay.example.org/", { "x-forwarded-proto": "https" }, "10.1.2.3")).text();
    expect(page).toContain("<pre>https://relay.example.org</pre>");
    expect(page).not.toContain("Behind a TLS proxy");
  });

  test("X-Forwarded-Proto: https from a peer that is not a trusted proxy → ignored: the http URL", async () => {
    const relay = await testRelay({ config: { trustProxy: [parseAddressRange("10.0.0.0/8")!] } });
    const page = await (await browse(relay, "http://relay.example.org/", { "x-forwarded-proto": "https" }, "192.0.2.1")).text();
    expect(page).toContain("<pre>http://relay.example.org</pre>");
    expect(page).not.toContain("https://relay.example.org");
  });

  test("a request without Host (HTTP/1.0: a bare path, as Bun gives it) → 200 HTML with a placeholder for the relay's address", async () => {
    const request = new Request("http://placeholder.invalid/", { headers: { accept: BROWSER_ACCEPT } });
    Object.defineProperty(request, "url", { value: "/" });
    const response = await (await testRelay()).app(request, () => "192.0.2.1");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(await response.text()).toContain("<pre>http://&lt;relay-address&gt;:&lt;port&gt;</pre>");
  });

  test("headers: no caching, Vary: Accept, a CSP that allows no script and nothing external, nosniff", async () => {
    const response = await browse(await testRelay());
    expect(Object.fromEntries(response.headers)).toMatchObject({
      "cache-control": "no-store",
      vary: "Accept",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    });
  });

  test("a keyless relay → says it has no key, and no fingerprint", async () => {
    const page = await (await browse(await testRelay({ relayPubkey: "" }))).text();
    expect(page).toContain("None: this relay runs <code>--keyless</code>");
    expect(page).not.toContain("SHA-256 fingerprint");
    expect(page).not.toContain('<code class="fingerprint">');
  });

  test("damaged log lines found at start → health says so", async () => {
    const dataDir = await tempDataDir();
    const store = await testStore(dataDir);
    for (const payload of ["1", "2"]) await store.deposit("a".repeat(64), payload, Math.floor(Date.now() / 1000) + 600);
    await store.close();
    const log = join(dataDir, "messages.jsonl");
    const lines = (await readFile(log, "utf8")).split("\n");
    lines[lines.length - 2] = `#${lines[lines.length - 2].slice(1)}`; // the last complete record
    await writeFile(log, lines.join("\n"));
    const page = await (await browse(await testRelay({ dataDir }))).text();
    expect(page).toContain('<span class="health warn">running, but 1 damaged log lines were set aside at start</span>');
  });

  const jsonClients: [string, Record<string, string>][] = [
    ["no Accept", {}],
    ["Accept: */*", { accept: "*/*" }],
    ["Accept: application/json", { accept: "application/json" }],
    ["Accept: application/json, text/html;q=0.5", { accept: "application/json, text/html;q=0.5" }],
    ["Accept: text/html;q=0", { accept: "text/html;q=0" }],
  ];
  for (const [label, headers] of jsonClients) {
    test(`${label} → 404 not_found JSON, as for any unknown path`, async () => {
      const relay = await testRelay();
      const response = await relay.app(new Request("http://relay.test/", { headers }), () => "192.0.2.1");
      expect(response.status).toBe(404);
      expect(response.headers.get("content-type")).toBe("application/json");
      expect(response.headers.get("vary")).toBe("Accept"); // a cache must not give this answer to a browser
      expect(await response.json()).toEqual({ status: "error", reason: "not_found" });
    });
  }

  test("--no-status-page → a browser gets 404 not_found JSON", async () => {
    const response = await browse(await testRelay({ config: { noStatusPage: true } }));
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ status: "error", reason: "not_found" });
  });

  test("POST / → 405 method_not_allowed, Allow: GET, HEAD", async () => {
    const response = await (await testRelay()).request("/", "{}");
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, HEAD");
    expect(await response.json()).toEqual({ status: "error", reason: "method_not_allowed" });
  });
});

const CHROMIUM = Bun.which("chromium");
if (!CHROMIUM) console.log("status-page.test.ts: chromium is not installed (apt-get install chromium): the headless browser test is skipped");

describe.skipIf(!CHROMIUM)("GET / in headless Chromium", () => {
  test("a relay process serves the page to Chromium, which renders the facts and the chart", async () => {
    const relay = await startRelayProcess([...RELAY_COMMANDS.bun, "--host", "127.0.0.1", "--port", "0", "--data-dir", await tempDataDir()]);
    try {
      const deposited = await fetch(`${relay.url}/deposit`, {
        method: "POST",
        body: JSON.stringify({ payload: intercom({ data: SECRET }), target_pubkey: keys.bob.public_spki_pem }),
      });
      expect(deposited.status).toBe(200);
      const { pubkey } = await (await fetch(`${relay.url}/pubkey`)).json() as { pubkey: string };
      const shot = join(await tempDataDir(), "status.png");
      const chromium = (extra: string[]) =>
        runProcess([CHROMIUM!, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=900,1300", ...extra, `${relay.url}/`], {
          timeoutMs: 60_000,
        });
      const dom = await chromium(["--dump-dom"]);
      expect(dom.code).toBe(0);
      expect(dom.stdout).toContain(`version ${packageJson.version}`);
      expect(dom.stdout).toContain('<span class="health ok">ok</span>');
      expect(dom.stdout).toContain("</meter>1 of 1,000,000 (0.0 %) <span");
      expect(dom.stdout).toContain('aria-label="Last 24 hours: 1 deposit, 0 deliveries"');
      expect(dom.stdout).toContain(`<code class="fingerprint">${spkiSha256(pubkey)}</code>`);
      expect(dom.stdout).toContain(`<pre>${relay.url}</pre>`);
      expect(dom.stdout).not.toContain(SECRET);
      expect((await chromium([`--screenshot=${shot}`])).code).toBe(0);
      expect([...(await readFile(shot)).subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    } finally {
      relay.stop();
    }
  }, 120_000);
});
