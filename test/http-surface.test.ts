/** The HTTP surface: routing, bodies and every way a request can be malformed get a JSON error. */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { intercom, json, keys, testInProcess, testRelay, withBitsSetBeforePadding } from "./helpers.ts";
import type { Logger } from "../lib/log.ts";

const relay = await testRelay();

async function expectError(response: Response, status: number, reason: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toBe("application/json");
  expect(await json(response)).toEqual({ status: "error", reason });
}

describe("routing", () => {
  test("GET /pubkey → 200 with the relay PEM exactly", async () => {
    const response = await relay.request("/pubkey");
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(JSON.stringify({ pubkey: keys.relay.public_spki_pem }));
  });

  test("unknown path → 404 not_found", async () => {
    await expectError(await relay.request("/nope"), 404, "not_found");
    await expectError(await relay.request("/deposit/extra", {}), 404, "not_found");
  });

  test("GET /deposit → 405 method_not_allowed with Allow: POST", async () => {
    const response = await relay.request("/deposit");
    expect(response.headers.get("allow")).toBe("POST");
    await expectError(response, 405, "method_not_allowed");
  });

  test("POST /pubkey → 405 with Allow: GET, HEAD", async () => {
    const response = await relay.request("/pubkey", {});
    expect(response.headers.get("allow")).toBe("GET, HEAD");
    await expectError(response, 405, "method_not_allowed");
  });
});

describe("request targets", () => {
  /** A request as the runtime hands it over, with the URL it built from the request line and Host. */
  const withUrl = (url: string, method = "GET") => Object.defineProperty(new Request("http://relay.test/", { method }), "url", { value: url });

  testInProcess("a Host that makes the URL unparseable (Host: [::) → 400 bad_request", async () => {
    await expectError(await relay.app(withUrl("http://[::/healthz"), () => "127.0.0.1"), 400, "bad_request");
  });

  testInProcess("HTTP/1.0 without Host (Bun hands over a bare path) is served like any request", async () => {
    const response = await relay.app(withUrl("/healthz"), () => "127.0.0.1");
    expect(response.status).toBe(200);
    expect((await json(response)).status).toBe("ok");
    await expectError(await relay.app(withUrl("/nope"), () => "127.0.0.1"), 404, "not_found");
  });

  testInProcess("CONNECT host:443, as Bun (bare authority) and Deno (a URL) hand it over → 400 bad_request", async () => {
    await expectError(await relay.app(withUrl("host:443", "CONNECT"), () => "127.0.0.1"), 400, "bad_request");
    await expectError(await relay.app(new Request("http://host:443", { method: "CONNECT" }), () => "127.0.0.1"), 400, "bad_request");
  });
});

describe("HEAD", () => {
  for (const path of ["/pubkey", "/healthz"]) {
    test(`HEAD ${path} → GET's status and headers, no body, Content-Length of GET's body`, async () => {
      const frozen = await testRelay({ now: 1_800_000_000 });
      const get = await frozen.request(path);
      const getBody = new Uint8Array(await get.arrayBuffer());
      const head = await frozen.request(path, undefined, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-type")).toBe(get.headers.get("content-type"));
      expect(head.headers.get("content-length")).toBe(String(getBody.length));
      expect(head.body).toBeNull();
    });
  }

  test("HEAD /metrics → 200 text, no body, the length its text has now", async () => {
    const head = await relay.request("/metrics", undefined, { method: "HEAD" });
    expect([head.status, head.headers.get("content-type"), head.body]).toEqual([200, "text/plain; version=0.0.4; charset=utf-8", null]);
    expect(Number(head.headers.get("content-length"))).toBeGreaterThan(1000);
  });

  test("HEAD on a POST route → 405 with Allow: POST and no body", async () => {
    const response = await relay.request("/deposit", undefined, { method: "HEAD" });
    expect([response.status, response.headers.get("allow"), response.body]).toEqual([405, "POST", null]);
  });
});

describe("internal errors", () => {
  testInProcess("an unexpected error → 500 internal_error without internals; logged at most once a minute per endpoint, with the count left out", async () => {
    const lines: [string, Record<string, unknown>][] = [];
    const log: Logger = (event, fields = {}) => lines.push([event, fields]);
    const broken = await testRelay({ now: 1_800_000_000, log });
    broken.store.stats = () => {
      throw new Error("disk geometry at /secret/path");
    };
    for (let i = 0; i < 5; i++) {
      const response = await broken.request("/healthz");
      expect(await response.text()).toBe('{"status":"error","reason":"internal_error"}');
      expect(response.status).toBe(500);
    }
    expect(lines.map(([event, fields]) => [event, fields.endpoint, fields.suppressed])).toEqual([["internal_error", "/healthz", undefined]]);
    expect(String(lines[0][1].error)).toContain("disk geometry");
    await broken.request("/metrics");
    broken.setNow(1_800_000_060);
    await broken.request("/healthz");
    expect(lines.map(([event, fields]) => [event, fields.endpoint, fields.suppressed])).toEqual([
      ["internal_error", "/healthz", undefined],
      ["internal_error", "/metrics", undefined],
      ["internal_error", "/healthz", 4],
    ]);
  });
});

describe("request bodies", () => {
  test("empty body → 400 empty_body", async () => {
    await expectError(await relay.request("/deposit", ""), 400, "empty_body");
    await expectError(await relay.request("/retrieve", undefined, { method: "POST" }), 400, "empty_body");
  });

  test("unparseable JSON → 400 invalid_json", async () => {
    await expectError(await relay.request("/deposit", "{not json"), 400, "invalid_json");
  });

  for (const body of ["[]", "42", '"text"', "null", "true"]) {
    test(`JSON that is not an object (${body}) → 400 invalid_json`, async () => {
      await expectError(await relay.request("/retrieve", body), 400, "invalid_json");
    });
  }

  test("body that is not UTF-8 → 400 invalid_json", async () => {
    await expectError(await relay.request("/deposit", Uint8Array.of(0x7b, 0xff, 0x7d)), 400, "invalid_json");
  });

  test("invalid UTF-8 inside a JSON string → 400 invalid_json, and a U+FFFD sent as valid UTF-8 is read as text", async () => {
    const body = (inside: number[]) => Uint8Array.of(...new TextEncoder().encode('{"payload":"'), ...inside, ...new TextEncoder().encode('","target_pubkey":"x"}'));
    await expectError(await relay.request("/deposit", body([0xff])), 400, "invalid_json");
    // A 4-byte sequence cut after 3 reads as one U+FFFD, as many bytes in UTF-8 as it replaced.
    await expectError(await relay.request("/deposit", body([0xf0, 0x90, 0x80])), 400, "invalid_json");
    await expectError(await relay.request("/deposit", body([0xef, 0xbf, 0xbd])), 400, "invalid_payload");
  });

  test("a field with a lone surrogate → 400 invalid_json", async () => {
    await expectError(await relay.request("/deposit", '{"payload":"\\ud800","target_pubkey":"x"}'), 400, "invalid_json");
  });

  test("Content-Length over the limit → 413 payload_too_large", async () => {
    const big = "x".repeat(70_000);
    await expectError(await relay.request("/deposit", JSON.stringify({ payload: big, target_pubkey: "x" })), 413, "payload_too_large");
  });

  testInProcess("chunked body without Content-Length over the limit → 413, the rest unread", async () => {
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        if (pulled > 1000) return controller.close(); // 16 MB: far more than the limit
        controller.enqueue(new Uint8Array(16_384).fill(0x20));
      },
    });
    const response = await relay.app(new Request("http://relay.test/deposit", { method: "POST", body: stream, duplex: "half" } as RequestInit), () => "127.0.0.1");
    await expectError(response, 413, "payload_too_large");
    expect(pulled).toBeLessThan(10);
  });

  testInProcess("chunked body under the limit is read whole", async () => {
    const text = JSON.stringify({ payload: intercom(), target_pubkey: keys.bob.public_spki_pem });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        const bytes = new TextEncoder().encode(text);
        for (let i = 0; i < bytes.length; i += 100) controller.enqueue(bytes.slice(i, i + 100));
        controller.close();
      },
    });
    const response = await relay.app(new Request("http://relay.test/deposit", { method: "POST", body: stream, duplex: "half" } as RequestInit), () => "127.0.0.1");
    expect(response.status).toBe(200);
  });

  for (const declared of [true, false]) {
    testInProcess(`a body cut short (the client closed mid-body), ${declared ? "with" : "without"} Content-Length → 400 incomplete_body`, async () => {
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"payload"'));
          controller.error(new Error("The connection was closed."));
        },
      });
      const headers = declared ? { "Content-Length": "1000" } : undefined;
      const response = await relay.app(new Request("http://relay.test/deposit", { method: "POST", body: stream, headers, duplex: "half" } as RequestInit), () => "127.0.0.1");
      await expectError(response, 400, "incomplete_body");
    });
  }

  testInProcess("a body that stalls past the request timeout → 408 request_timeout", async () => {
    const slow = await testRelay({ config: { requestTimeout: 1 } });
    const stream = new ReadableStream<Uint8Array>({ start(controller) { controller.enqueue(new TextEncoder().encode("{")); } });
    const response = await slow.app(new Request("http://relay.test/deposit", { method: "POST", body: stream, duplex: "half" } as RequestInit), () => "127.0.0.1");
    await expectError(response, 408, "request_timeout");
  });
});

describe("recipient fingerprints", () => {
  const target = keys.bob.public_spki_pem;
  const canonical = createHash("sha256").update(target).digest("base64"); // 43 digits and one "="
  const bitsSetBeforePadding = withBitsSetBeforePadding(canonical);
  const cases: [string, string, number, string][] = [
    ["the SHA-256 of the target PEM text", canonical, 200, "ok"],
    ["the same digest spelt with bits set before its padding", bitsSetBeforePadding, 200, "ok"],
    ["the SHA-256 of another key's PEM text", createHash("sha256").update(keys.alice.public_spki_pem).digest("base64"), 400, "recipient_fingerprint_mismatch"],
    ["the digest without its padding", canonical.slice(0, 43), 400, "invalid_recipient_fingerprint"],
  ];
  test("the respelt digest differs from the standard one as text", () => expect(bitsSetBeforePadding).not.toBe(canonical));
  for (const [name, fingerprint, status, reason] of cases) {
    test(`${name} → ${status} ${reason}`, async () => {
      const response = await relay.request("/deposit", { payload: intercom({ recipient_fingerprint: fingerprint, ciphertext: "AA==" }), target_pubkey: target });
      expect(response.status).toBe(status);
      expect((await json(response)).reason ?? "ok").toBe(reason);
    });
  }
});

describe("field types", () => {
  const target = keys.bob.public_spki_pem;
  const cases: [string, Record<string, unknown>, number, string][] = [
    ["payload as a number", { payload: 42, target_pubkey: target }, 400, "invalid_payload"],
    ["target_pubkey as a number", { payload: intercom(), target_pubkey: 7 }, 400, "invalid_target_pubkey"],
    ["target_pubkey a private key", { payload: intercom(), target_pubkey: keys.bob.private_pkcs1_pem }, 400, "invalid_target_pubkey"],
    ["ttl true", { payload: intercom(), target_pubkey: target, ttl: true }, 400, "invalid_ttl"],
    ["ttl 0.5", { payload: intercom(), target_pubkey: target, ttl: 0.5 }, 400, "invalid_ttl"],
    ["ttl '6.5'", { payload: intercom(), target_pubkey: target, ttl: "6.5" }, 400, "invalid_ttl"],
    ["ttl 1e300 (clamped)", { payload: intercom(), target_pubkey: target, ttl: 1e300 }, 200, "ok"],
    ["timestamp a float", { pubkey: target, timestamp: 1.5, signature: "AA==" }, 400, "invalid_timestamp"],
    ["timestamp 'abc'", { pubkey: target, timestamp: "abc", signature: "AA==" }, 400, "invalid_timestamp"],
    ["timestamp an object", { pubkey: target, timestamp: {}, signature: "AA==" }, 400, "invalid_timestamp"],
    ["timestamp 1e300", { pubkey: target, timestamp: 1e300, signature: "AA==" }, 400, "invalid_timestamp"],
    ["pubkey a number", { pubkey: 5, timestamp: Math.floor(Date.now() / 1000), signature: "AA==" }, 401, "invalid_signature"],
    ["signature a list", { pubkey: target, timestamp: Math.floor(Date.now() / 1000), signature: ["AA=="] }, 401, "invalid_signature"],
  ];
  for (const [name, body, status, reason] of cases) {
    test(`${name} → ${status} ${reason}`, async () => {
      const path = "payload" in body ? "/deposit" : "/retrieve";
      const response = await relay.request(path, body);
      expect(response.status).toBe(status);
      expect((await json(response)).reason ?? "ok").toBe(reason);
    });
  }
});
