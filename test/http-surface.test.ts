/** The HTTP surface: routing, bodies and every way a request can be malformed get a JSON error. */
import { describe, expect, test } from "bun:test";
import { intercom, json, keys, testRelay } from "./helpers.ts";

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

  test("POST /pubkey → 405 with Allow: GET", async () => {
    const response = await relay.request("/pubkey", {});
    expect(response.headers.get("allow")).toBe("GET");
    await expectError(response, 405, "method_not_allowed");
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

  test("a field with a lone surrogate → 400 invalid_json", async () => {
    await expectError(await relay.request("/deposit", '{"payload":"\\ud800","target_pubkey":"x"}'), 400, "invalid_json");
  });

  test("Content-Length over the limit → 413 payload_too_large", async () => {
    const big = "x".repeat(70_000);
    await expectError(await relay.request("/deposit", JSON.stringify({ payload: big, target_pubkey: "x" })), 413, "payload_too_large");
  });

  test("chunked body without Content-Length over the limit → 413, the rest unread", async () => {
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        if (pulled > 1000) return controller.close(); // 16 MB: far more than the limit
        controller.enqueue(new Uint8Array(16_384).fill(0x20));
      },
    });
    const response = await relay.app(new Request("http://relay.test/deposit", { method: "POST", body: stream, duplex: "half" } as RequestInit), "127.0.0.1");
    await expectError(response, 413, "payload_too_large");
    expect(pulled).toBeLessThan(10);
  });

  test("chunked body under the limit is read whole", async () => {
    const text = JSON.stringify({ payload: intercom(), target_pubkey: keys.bob.public_spki_pem });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        const bytes = new TextEncoder().encode(text);
        for (let i = 0; i < bytes.length; i += 100) controller.enqueue(bytes.slice(i, i + 100));
        controller.close();
      },
    });
    const response = await relay.app(new Request("http://relay.test/deposit", { method: "POST", body: stream, duplex: "half" } as RequestInit), "127.0.0.1");
    expect(response.status).toBe(200);
  });

  test("a body that stalls past the request timeout → 408 request_timeout", async () => {
    const slow = await testRelay({ config: { requestTimeout: 1 } });
    const stream = new ReadableStream<Uint8Array>({ start(controller) { controller.enqueue(new TextEncoder().encode("{")); } });
    const response = await slow.app(new Request("http://relay.test/deposit", { method: "POST", body: stream, duplex: "half" } as RequestInit), "127.0.0.1");
    await expectError(response, 408, "request_timeout");
  });
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
