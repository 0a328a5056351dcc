/** Abuse limits through HTTP: rate limits with Retry-After, trusted proxies, mailbox and store caps. */
import { describe, expect, test } from "bun:test";
import { rateLimitKey } from "../lib/client-address.ts";
import type { Config } from "../lib/config.ts";
import { parseAddressRange } from "../lib/ip-address.ts";
import { RateLimiter } from "../lib/rate-limiter.ts";
import { ReplayGuard } from "../lib/replay-guard.ts";
import { intercom, json, keys, proofBody, spentProof, testConfig, testInProcess, testRelay } from "./helpers.ts";

const NOW = 1_767_225_600;
const deposit = { payload: intercom(), target_pubkey: keys.bob.public_spki_pem };

describe("deposit rate limit", () => {
  testInProcess("the 61st deposit in 60 s → 429 rate_limit_exceeded with Retry-After; other clients unaffected", async () => {
    const relay = await testRelay({ now: NOW });
    for (let i = 0; i < 60; i++) expect((await relay.request("/deposit", deposit, { peer: "10.0.0.1" })).status).toBe(200);
    const refused = await relay.request("/deposit", deposit, { peer: "10.0.0.1" });
    expect([refused.status, (await json(refused)).reason]).toEqual([429, "rate_limit_exceeded"]);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await relay.request("/deposit", deposit, { peer: "10.0.0.2" })).status).toBe(200);
  });

  test("a limited client may deposit again once the window has passed", async () => {
    const relay = await testRelay({ now: NOW, config: { depositRateLimit: 2 } });
    await relay.request("/deposit", deposit);
    await relay.request("/deposit", deposit);
    const refused = await relay.request("/deposit", deposit);
    expect(refused.status).toBe(429);
    await relay.setNow(NOW + Number(refused.headers.get("retry-after")) + 60);
    expect((await relay.request("/deposit", deposit)).status).toBe(200);
  });

  testInProcess("a flood is logged when a client's refusals start, at most once a minute per endpoint, and counted in full", async () => {
    const lines: { event: string; fields?: Record<string, unknown> }[] = [];
    const relay = await testRelay({ now: NOW, config: { depositRateLimit: 2 }, log: (event, fields) => lines.push({ event, fields }) });
    const flood = async (peer: string, count: number) => {
      for (let i = 0; i < count; i++) await relay.request("/deposit", deposit, { peer });
    };
    await flood("10.0.0.1", 50);
    await flood("10.0.0.2", 50); // the same line again: left out, and counted
    const refusals = () => lines.filter((line) => line.event === "rate_limited");
    expect(refusals()).toEqual([{ event: "rate_limited", fields: { endpoint: "/deposit" } }]);
    expect(await (await relay.request("/metrics")).text()).toContain("rendezvous_rate_limited_total 96");
    await relay.setNow(NOW + 180); // allowed again, then refused again: a new streak, a new line
    await flood("10.0.0.1", 3);
    expect(refusals()).toEqual([
      { event: "rate_limited", fields: { endpoint: "/deposit" } },
      { event: "rate_limited", fields: { endpoint: "/deposit", suppressed: 1 } },
    ]);
  });

  testInProcess("with --log-client-addresses, each client's streak of refusals has its line, naming it", async () => {
    const lines: { event: string; fields?: Record<string, unknown> }[] = [];
    const relay = await testRelay({ now: NOW, config: { depositRateLimit: 2, logClientAddresses: true }, log: (event, fields) => lines.push({ event, fields }) });
    for (const peer of ["10.0.0.1", "10.0.0.2"]) for (let i = 0; i < 5; i++) await relay.request("/deposit", deposit, { peer });
    expect(lines.filter((line) => line.event === "rate_limited")).toEqual([
      { event: "rate_limited", fields: { endpoint: "/deposit", client: "10.0.0.1" } },
      { event: "rate_limited", fields: { endpoint: "/deposit", client: "10.0.0.2" } },
    ]);
  });

  test("the rate limit answers before the body is looked at", async () => {
    const relay = await testRelay({ now: NOW, config: { depositRateLimit: 1 } });
    await relay.request("/deposit", "garbage");
    expect((await relay.request("/deposit", "garbage")).status).toBe(429);
  });
});

describe("read rate limit", () => {
  test("retrieve/collect/ack share their own per-client limit", async () => {
    const relay = await testRelay({ now: NOW, config: { readRateLimit: 2 } });
    expect((await relay.request("/collect", await proofBody("bob", NOW))).status).toBe(200);
    expect((await relay.request("/retrieve", await proofBody("bob", NOW))).status).toBe(200);
    const refused = await relay.request("/ack", { ...await proofBody("bob", NOW), deposit_ids: [] });
    expect(refused.status).toBe(429);
    expect((await relay.request("/deposit", deposit)).status).toBe(200);
  });
});

describe("client address behind a proxy", () => {
  testInProcess("X-Forwarded-For is ignored unless the peer is a trusted proxy", async () => {
    const relay = await testRelay({ now: NOW, config: { depositRateLimit: 1 } });
    await relay.request("/deposit", deposit, { peer: "10.0.0.9", headers: { "x-forwarded-for": "1.1.1.1" } });
    const spoofed = await relay.request("/deposit", deposit, { peer: "10.0.0.9", headers: { "x-forwarded-for": "2.2.2.2" } });
    expect(spoofed.status).toBe(429);
  });

  testInProcess("behind a trusted proxy each forwarded client has its own bucket", async () => {
    const relay = await testRelay({ now: NOW, config: { depositRateLimit: 1, trustProxy: [parseAddressRange("127.0.0.1")!] } });
    const via = (client: string) => relay.request("/deposit", deposit, { peer: "::ffff:127.0.0.1", headers: { "x-forwarded-for": `${client}, 127.0.0.1` } });
    expect((await via("1.1.1.1")).status).toBe(200);
    expect((await via("2.2.2.2")).status).toBe(200);
    expect((await via("1.1.1.1")).status).toBe(429);
  });
});

describe("the peer's address", () => {
  testInProcess("is looked up once per limited request, and not at all with both limits off (Bun pays a getpeername for it)", async () => {
    const lookups = async (config: Partial<Config>) => {
      const relay = await testRelay({ now: NOW, config });
      let count = 0;
      const peer = () => (count++, "10.0.0.1");
      const post = (path: string, body: unknown) => relay.app(new Request(`http://relay.test${path}`, { method: "POST", body: JSON.stringify(body) }), peer);
      expect((await post("/deposit", deposit)).status).toBe(200);
      expect((await post("/retrieve", await proofBody("bob", NOW))).status).toBe(200);
      return count;
    };
    expect(await lookups({ depositRateLimit: 0, readRateLimit: 0 })).toBe(0);
    expect(await lookups({ depositRateLimit: 0, readRateLimit: 5 })).toBe(1);
    expect(await lookups({ depositRateLimit: 5, readRateLimit: 5 })).toBe(2);
  });

  testInProcess("gone (the connection reset since the request came) → 499 client_closed_request, and nothing stored; with no limit the request is served", async () => {
    const gone = () => "";
    const limited = await testRelay({ now: NOW });
    const refused = await limited.app(new Request("http://relay.test/deposit", { method: "POST", body: JSON.stringify(deposit) }), gone);
    expect([refused.status, (await json(refused)).reason]).toEqual([499, "client_closed_request"]);
    expect((await json(await limited.request("/retrieve", await proofBody("bob", NOW)))).messages).toEqual([]);
    const unlimited = await testRelay({ now: NOW, config: { depositRateLimit: 0 } });
    expect((await unlimited.app(new Request("http://relay.test/deposit", { method: "POST", body: JSON.stringify(deposit) }), gone)).status).toBe(200);
  });
});

describe("IPv6 clients", () => {
  testInProcess("addresses in one /64 share a bucket; another /64 has its own", async () => {
    const relay = await testRelay({ now: NOW, config: { depositRateLimit: 1 } });
    expect((await relay.request("/deposit", deposit, { peer: "2001:db8:1:2::1" })).status).toBe(200);
    expect((await relay.request("/deposit", deposit, { peer: "2001:db8:1:2:ffff:0:0:9" })).status).toBe(429);
    expect((await relay.request("/deposit", deposit, { peer: "2001:db8:1:3::1" })).status).toBe(200);
  });

  test("rateLimitKey spells one /64 one way", () => {
    expect(rateLimitKey("2001:0db8:0001:0002:0000:0000:0000:0001")).toBe("2001:db8:1:2::/64");
    expect(rateLimitKey("2001:db8:1:2::abcd")).toBe("2001:db8:1:2::/64");
    expect(rateLimitKey("::1")).toBe("0:0:0:0::/64");
    expect(rateLimitKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(rateLimitKey("192.0.2.7")).toBe("192.0.2.7");
  });
});

describe("capacity", () => {
  test("a mailbox holding its cap → 507 mailbox_full; other mailboxes still accept", async () => {
    const relay = await testRelay({ now: NOW, config: { mailboxMaxMessages: 3 } });
    for (let i = 0; i < 3; i++) expect((await relay.request("/deposit", deposit)).status).toBe(200);
    const full = await relay.request("/deposit", deposit);
    expect([full.status, (await json(full)).reason]).toEqual([507, "mailbox_full"]);
    expect((await relay.request("/deposit", { ...deposit, target_pubkey: keys.alice.public_spki_pem })).status).toBe(200);
  });

  testInProcess("refusals for want of room are logged once a minute per reason, with the count left out", async () => {
    const lines: { event: string; fields?: Record<string, unknown> }[] = [];
    const relay = await testRelay({ now: NOW, config: { mailboxMaxMessages: 1 }, log: (event, fields) => lines.push({ event, fields }) });
    for (let i = 0; i < 4; i++) await relay.request("/deposit", deposit);
    relay.setNow(NOW + 60);
    expect((await relay.request("/deposit", deposit)).status).toBe(507);
    expect(lines.filter((line) => line.event === "mailbox_full")).toEqual([
      { event: "mailbox_full", fields: {} },
      { event: "mailbox_full", fields: { suppressed: 2 } },
    ]);
  });

  testInProcess("a store holding its byte cap → 507 store_full, and room comes back after delivery", async () => {
    const relay = await testRelay({ now: NOW, config: { maxStoreBytes: 100_000 } });
    const big = { ...deposit, payload: intercom({ blob: "x".repeat(40_000) }) };
    expect((await relay.request("/deposit", big)).status).toBe(200);
    expect((await relay.request("/deposit", big)).status).toBe(200);
    const full = await relay.request("/deposit", big);
    expect([full.status, (await json(full)).reason]).toEqual([507, "store_full"]);
    // The cap is in /metrics beside what is held; on the embedded log, the refusal was the cap's, not a full disk's.
    const metrics = await (await relay.request("/metrics")).text();
    const embedded = !("engine" in relay.store.stats());
    const lines = ["rendezvous_max_store_bytes 100000", `rendezvous_max_messages ${testConfig().maxMessages}`, ...embedded ? ['rendezvous_store_write_failures_total{kind="full"} 0'] : []];
    for (const line of lines) expect(metrics).toContain(`\n${line}\n`);
    expect((await json(await relay.request("/retrieve", await proofBody("bob", NOW)))).messages.length).toBe(2);
    expect((await relay.request("/deposit", big)).status).toBe(200);
  });
});

describe("expiry frees room", () => {
  testInProcess("once stored messages expire, a full store accepts deposits again without waiting for a sweep", async () => {
    const relay = await testRelay({ now: NOW, config: { maxStoreBytes: 100_000 } });
    const big = { ...deposit, payload: intercom({ blob: "x".repeat(40_000) }), ttl: 60 };
    expect((await relay.request("/deposit", big)).status).toBe(200);
    expect((await relay.request("/deposit", big)).status).toBe(200);
    expect((await relay.request("/deposit", big)).status).toBe(507);
    await relay.setNow(NOW + 61);
    expect((await relay.request("/deposit", big)).status).toBe(200);
  });
});

describe("memory bounds", () => {
  test("the replay guard holds at most its capacity and forgets expired proofs", () => {
    const guard = new ReplayGuard(1000);
    for (let i = 0; i < 1000; i++) expect(guard.claim(spentProof(`proof-${i}`), NOW + 60, NOW)).toBe("fresh");
    expect(guard.claim(spentProof("one-more"), NOW + 60, NOW)).toBe("full");
    expect(guard.claim(spentProof("proof-5"), NOW + 60, NOW)).toBe("replayed");
    expect(guard.claim(spentProof("later"), NOW + 200, NOW + 61)).toBe("fresh");
    expect(guard.size).toBe(1);
  });

  test("the rate limiter remembers at most its capacity of client addresses", () => {
    const limiter = new RateLimiter(5, 60, 10_000);
    for (let i = 0; i < 50_000; i++) limiter.take(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, NOW);
    expect(limiter.size).toBe(10_000);
  });
});
