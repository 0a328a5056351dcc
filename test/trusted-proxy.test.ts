/** --trust-proxy through the app: ranges of proxies, and forwarded hops that are not addresses. */
import { describe, expect, test } from "bun:test";
import { isTrustedProxy } from "../lib/client-address.ts";
import { parseAddressRange } from "../lib/ip-address.ts";
import { intercom, json, keys, testRelay } from "./helpers.ts";

const NOW = 1_767_225_600;
const deposit = { payload: intercom(), target_pubkey: keys.bob.public_spki_pem };

/** A relay allowing one deposit per client that trusts the proxies in `ranges`. */
async function relayBehind(...ranges: string[]) {
  const relay = await testRelay({ now: NOW, config: { depositRateLimit: 1, trustProxy: ranges.map((range) => parseAddressRange(range)!) } });
  return async (peer: string, forwardedFor: string) => {
    const response = await relay.request("/deposit", deposit, { peer, headers: { "x-forwarded-for": forwardedFor } });
    return [response.status, (await json(response)).reason ?? "ok"];
  };
}

describe("trusted proxy ranges", () => {
  test("two clients behind proxies in a trusted IPv4 range get separate rate limits", async () => {
    const via = await relayBehind("10.0.0.0/8");
    expect(await via("10.1.2.3", "198.51.100.1")).toEqual([200, "ok"]);
    expect(await via("10.200.0.9", "198.51.100.2")).toEqual([200, "ok"]);
    expect(await via("::ffff:10.1.2.3", "198.51.100.1")).toEqual([429, "rate_limit_exceeded"]);
    expect(await via("10.200.0.9", "198.51.100.2")).toEqual([429, "rate_limit_exceeded"]);
  });

  test("behind a chain of proxies in a trusted IPv6 range, the client is the rightmost untrusted hop", async () => {
    const via = await relayBehind("fd00::/8");
    expect(await via("fd00::1", "2001:db8:1::1, fd00::2")).toEqual([200, "ok"]);
    expect(await via("fd00::1", "2001:db8:2::1, fd00::2")).toEqual([200, "ok"]);
    expect(await via("fd00::1", "2001:db8:1::9")).toEqual([429, "rate_limit_exceeded"]);
  });

  test("isTrustedProxy (the connection cap's exemption) matches any spelling of an address in a range, and nothing else", () => {
    const ranges = ["10.0.0.0/8", "fd00::/8"].map((range) => parseAddressRange(range)!);
    expect(["10.1.2.3", "::ffff:10.1.2.3", "fd00::1", "FD00:0:0:0:0:0:0:1"].map((address) => isTrustedProxy(address, ranges))).toEqual([true, true, true, true]);
    expect(["11.0.0.1", "fe80::1", "localhost", ""].map((address) => isTrustedProxy(address, ranges))).toEqual([false, false, false, false]);
  });

  test("X-Forwarded-For from a peer outside the trusted range is ignored", async () => {
    const via = await relayBehind("10.0.0.0/8");
    expect(await via("192.0.2.1", "198.51.100.1")).toEqual([200, "ok"]);
    expect(await via("192.0.2.1", "198.51.100.2")).toEqual([429, "rate_limit_exceeded"]);
  });
});

describe("forwarded hops that are not addresses", () => {
  test("a malformed hop from a trusted proxy is no 500: the request counts against the proxy", async () => {
    const via = await relayBehind("127.0.0.1");
    expect(await via("127.0.0.1", "1:2:3:4:5:6:7:8:9::1")).toEqual([200, "ok"]);
    for (const hop of ["1:2:3:4:5:6:7:8:9::1", "unknown", "198.51.100.1:4711", "[2001:db8::1]:443", "_hidden", "::ffff:999.1.1.1"]) {
      expect([hop, ...await via("127.0.0.1", hop)]).toEqual([hop, 429, "rate_limit_exceeded"]);
    }
  });

  test("garbage left of a well-formed hop does not change the client", async () => {
    const via = await relayBehind("127.0.0.1");
    expect(await via("127.0.0.1", "not an address, 198.51.100.1")).toEqual([200, "ok"]);
    expect(await via("127.0.0.1", "1:2:3:4:5:6:7:8:9::1, 198.51.100.1")).toEqual([429, "rate_limit_exceeded"]);
  });
});
