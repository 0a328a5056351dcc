/** Requests only a raw socket can send, to main.ts under Bun and under Deno: every answer is catalog JSON, nothing leaks, nothing floods the log. */
import { beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { intercom, keys, tempDataDir } from "./helpers.ts";
import { RELAY_COMMANDS, type RelayProcess, RUNTIMES, startRelayProcess } from "./processes.ts";

/** A parsed HTTP/1.x answer, or `null` when the relay closed the connection without one. */
interface RawAnswer {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Pause between the parts of a request written in several writes: each part arrives in a read of its own. */
const PART_GAP_MS = 50;

/**
 * Writes `request` on a fresh connection (its parts PART_GAP_MS apart when it has several; then half-closes
 * it when `halfClose`) and reads one answer: the head, then Content-Length bytes of body (none for HEAD;
 * without Content-Length, all until the close).
 */
function rawRequest(port: number, request: string | string[], options: { halfClose?: boolean } = {}): Promise<RawAnswer | null> {
  const parts = typeof request === "string" ? [request] : request;
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0) await Bun.sleep(PART_GAP_MS);
        socket.write(part);
      }
      if (options.halfClose) socket.end();
    });
    let received = "";
    /** The answer once it is complete: its Content-Length read, or (without one) the connection closed. */
    const answer = (closed = false): RawAnswer | null => {
      const headEnd = received.indexOf("\r\n\r\n");
      if (headEnd < 0) return null;
      const [statusLine, ...lines] = received.slice(0, headEnd).split("\r\n");
      const headers = new Map(lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]));
      const body = received.slice(headEnd + 4);
      const declared = headers.get("content-length");
      const length = parts[0].startsWith("HEAD ") ? 0 : declared === undefined ? Infinity : Number(declared);
      if (body.length < length && !closed) return null;
      return { status: Number(statusLine.split(" ")[1]), headers, body };
    };
    const timer = setTimeout(() => finish(new Error(`no complete answer within 10 s: ${JSON.stringify(received)}`)), 10_000);
    const finish = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(answer(true));
    };
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      received += chunk;
      if (answer()) finish();
    });
    socket.on("end", () => finish());
    // A server that refuses a request it has not read to the end may reset the connection after its answer.
    socket.on("error", (error) => finish(answer(true) ? undefined : error));
  });
}

/** The answer's reason, after checking it is the relay's JSON error body. */
function reasonOf(answer: RawAnswer | null): string {
  expect(answer).not.toBeNull();
  expect(answer!.headers.get("content-type")).toBe("application/json");
  expect(answer!.body).not.toContain("<");
  return JSON.parse(answer!.body).reason;
}

/** The relay's default body limit. */
const MAX_PAYLOAD_BYTES = 65_536;

/** A deposit body for bob of exactly `length` bytes (ASCII), padded inside the payload's data. */
function depositOfLength(length: number): string {
  const deposit = (data: string) => JSON.stringify({ payload: intercom({ data }), target_pubkey: keys.bob.public_spki_pem });
  return deposit("x".repeat(length - deposit("").length));
}

for (const runtime of RUNTIMES) {
  describe(`main.ts under ${runtime} on a raw socket`, () => {
    let relay: RelayProcess;
    beforeAll(async () => {
      const args = ["--host", "127.0.0.1", "--port", "0", "--data-dir", await tempDataDir(), "--keyless"];
      relay = await startRelayProcess([...RELAY_COMMANDS[runtime], ...args], { env: { ...process.env, NO_COLOR: "1" }, captureStderr: true });
    }, 30_000); // Deno starting cold (its first type check) can take longer than a hook's default 5 s

    test("Host: [:: → 400 bad_request", async () => {
      const answer = await rawRequest(relay.port, "GET /healthz HTTP/1.1\r\nHost: [::\r\n\r\n");
      expect([answer?.status, reasonOf(answer)]).toEqual([400, "bad_request"]);
    });

    test("an empty Host (allowed for a target without authority) → served; a Host holding / ? or # never moves the path", async () => {
      const body = JSON.stringify({ payload: intercom(), target_pubkey: keys.bob.public_spki_pem });
      const empty = await rawRequest(relay.port, `POST /deposit HTTP/1.1\r\nHost: \r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      expect([empty?.status, JSON.parse(empty!.body).status]).toEqual([200, "ok"]);
      for (const host of ["a/b", "a?b", "a#b"]) {
        const answer = await rawRequest(relay.port, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
        // Bun's parser takes such a Host; under Deno it is refused, as RFC 9112 has it for an invalid Host.
        expect([answer?.status, runtime === "bun" ? JSON.parse(answer!.body).status : reasonOf(answer)]).toEqual(runtime === "bun" ? [200, "ok"] : [400, "bad_request"]);
      }
    });

    test("HTTP/1.0 without Host → served: 200 on /healthz, 404 not_found elsewhere", async () => {
      const health = await rawRequest(relay.port, "GET /healthz HTTP/1.0\r\n\r\n");
      expect([health?.status, JSON.parse(health!.body).status]).toEqual([200, "ok"]);
      const unknown = await rawRequest(relay.port, "GET /nope HTTP/1.0\r\n\r\n");
      expect([unknown?.status, reasonOf(unknown)]).toEqual([404, "not_found"]);
    });

    test("HTTP/1.0 GET / without Host, Accept: text/html → 200, the status page with a placeholder for the relay's address", async () => {
      const answer = await rawRequest(relay.port, "GET / HTTP/1.0\r\nAccept: text/html\r\n\r\n");
      expect([answer?.status, answer?.headers.get("content-type")]).toEqual([200, "text/html; charset=utf-8"]);
      expect(answer!.body).toContain("<pre>http://&lt;relay-address&gt;:&lt;port&gt;</pre>");
    });

    test("OPTIONS * → 400: bad_request under Deno; Bun answers it itself, with no body (docs/protocol.md Part E)", async () => {
      const answer = await rawRequest(relay.port, "OPTIONS * HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n");
      expect([answer?.status, runtime === "deno" ? reasonOf(answer) : answer?.body]).toEqual([400, runtime === "deno" ? "bad_request" : ""]);
    });

    test("CONNECT host:443 → 400 bad_request", async () => {
      const answer = await rawRequest(relay.port, "CONNECT host:443 HTTP/1.1\r\nHost: host:443\r\n\r\n");
      expect([answer?.status, reasonOf(answer)]).toEqual([400, "bad_request"]);
    });

    test("TRACE → what any other method gets: 405 with Allow on a route, 404 elsewhere", async () => {
      const route = await rawRequest(relay.port, "TRACE /deposit HTTP/1.1\r\nHost: relay\r\n\r\n");
      expect([route?.status, reasonOf(route), route?.headers.get("allow")]).toEqual([405, "method_not_allowed", "POST"]);
      const elsewhere = await rawRequest(relay.port, "TRACE /nope HTTP/1.1\r\nHost: relay\r\n\r\n");
      expect([elsewhere?.status, reasonOf(elsewhere)]).toEqual([404, "not_found"]);
    });

    test("HEAD /pubkey → 200 with GET's Content-Type, Content-Length and a Date, no body", async () => {
      const get = await rawRequest(relay.port, "GET /pubkey HTTP/1.1\r\nHost: relay\r\n\r\n");
      const head = await rawRequest(relay.port, "HEAD /pubkey HTTP/1.1\r\nHost: relay\r\n\r\n");
      expect([head?.status, head?.headers.get("content-type"), head?.headers.get("content-length"), head?.body])
        .toEqual([200, "application/json", String(get!.body.length), ""]);
      expect([get?.headers.get("date"), head?.headers.get("date")].map((date) => Math.abs(Date.parse(date ?? "") - Date.now()) < 5000)).toEqual([true, true]);
    });

    test("a body cut short (Content-Length: 1000, 10 bytes, write side shut) → 400 incomplete_body", async () => {
      const answer = await rawRequest(relay.port, 'POST /deposit HTTP/1.1\r\nHost: relay\r\nContent-Length: 1000\r\n\r\n{"payload"', { halfClose: true });
      // Both runtimes drop the half-closed connection unanswered: the relay's verdict shows in the metrics.
      expect(answer).toBeNull();
      const counted = 'rendezvous_requests_total{endpoint="/deposit",status="400",reason="incomplete_body"} 1';
      let metrics = "";
      for (let attempt = 0; attempt < 30 && !metrics.includes(counted); attempt++) {
        if (attempt > 0) await Bun.sleep(100);
        metrics = await (await fetch(`${relay.url}/metrics`)).text();
      }
      expect(metrics).toContain(counted);
    }, 10_000);

    test("a deposit body of exactly --max-payload-bytes in one write (more than one socket read) → 200", async () => {
      const body = depositOfLength(MAX_PAYLOAD_BYTES);
      const answer = await rawRequest(relay.port, `POST /deposit HTTP/1.1\r\nHost: relay\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      expect([answer?.status, JSON.parse(answer!.body).status]).toEqual([200, "ok"]);
    });

    test("a deposit whose head, body start and body end come in three writes → 200", async () => {
      const body = depositOfLength(2000);
      const head = `POST /deposit HTTP/1.1\r\nHost: relay\r\nContent-Length: ${body.length}\r\n\r\n`;
      const answer = await rawRequest(relay.port, [head, body.slice(0, 1000), body.slice(1000)]);
      expect([answer?.status, JSON.parse(answer!.body).status]).toEqual([200, "ok"]);
    });

    test("a chunked body over --max-payload-bytes in one write → 413 payload_too_large", async () => {
      const chunk = " ".repeat(MAX_PAYLOAD_BYTES + 1);
      const answer = await rawRequest(relay.port, `POST /deposit HTTP/1.1\r\nHost: relay\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`);
      expect([answer?.status, reasonOf(answer)]).toEqual([413, "payload_too_large"]);
    });

    test("a chunked deposit in one write (whole when the relay reads it) → 200; one with only the last chunk → 400 empty_body", async () => {
      const body = depositOfLength(2000);
      const head = "POST /deposit HTTP/1.1\r\nHost: relay\r\nTransfer-Encoding: chunked\r\n\r\n";
      const whole = await rawRequest(relay.port, `${head}${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
      expect([whole?.status, JSON.parse(whole!.body).status]).toEqual([200, "ok"]);
      const empty = await rawRequest(relay.port, `${head}0\r\n\r\n`);
      expect([empty?.status, reasonOf(empty)]).toEqual([400, "empty_body"]);
    });

    test("a chunked body within --max-payload-bytes in three writes (still arriving when the relay reads it) → 200", async () => {
      const body = depositOfLength(2000);
      const chunk = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n`;
      const head = "POST /deposit HTTP/1.1\r\nHost: relay\r\nTransfer-Encoding: chunked\r\n\r\n";
      const answer = await rawRequest(relay.port, [head, chunk(body.slice(0, 1000)), chunk(body.slice(1000)) + "0\r\n\r\n"]);
      expect([answer?.status, JSON.parse(answer!.body).status]).toEqual([200, "ok"]);
    });

    test("a chunked body whose end never comes, past --max-payload-bytes in its second write → 413 payload_too_large at once", async () => {
      const chunk = `${(40_000).toString(16)}\r\n${" ".repeat(40_000)}\r\n`;
      const head = "POST /deposit HTTP/1.1\r\nHost: relay\r\nTransfer-Encoding: chunked\r\n\r\n";
      const answer = await rawRequest(relay.port, [head, chunk, chunk]);
      expect([answer?.status, reasonOf(answer)]).toEqual([413, "payload_too_large"]);
    });

    test("the runtime's own refusals (docs/protocol.md Part E) have empty bodies", async () => {
      const parserAnswer = async (request: string) => {
        const answer = await rawRequest(relay.port, request);
        return [answer?.status, answer?.body];
      };
      const expected = runtime === "bun"
        ? { version: 505, noHost: 400, bigHeader: 431 }
        : { version: 400, noHost: 200, bigHeader: 431 };
      expect(await parserAnswer("GET /healthz HTTP/2.5\r\nHost: relay\r\n\r\n")).toEqual([expected.version, ""]);
      expect(await parserAnswer(`GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Big: ${"a".repeat(200_000)}\r\n\r\n`)).toEqual([expected.bigHeader, ""]);
      const noHost = await rawRequest(relay.port, "GET /healthz HTTP/1.1\r\n\r\n");
      expect(noHost?.status).toBe(expected.noHost);
    });

    test("a declared body that stalls past --request-timeout → 408 request_timeout", async () => {
      const args = ["--host", "127.0.0.1", "--port", "0", "--data-dir", await tempDataDir(), "--keyless", "--request-timeout", "1"];
      const impatient = await startRelayProcess([...RELAY_COMMANDS[runtime], ...args], { env: { ...process.env, NO_COLOR: "1" } });
      try {
        const answer = await rawRequest(impatient.port, 'POST /deposit HTTP/1.1\r\nHost: relay\r\nContent-Length: 1000\r\n\r\n{"payload"');
        expect([answer?.status, reasonOf(answer)]).toEqual([408, "request_timeout"]);
      } finally {
        impatient.stop();
      }
    });

    test("X-Forwarded-For sent as two header lines from a trusted proxy → read as one list, the client its rightmost untrusted hop", async () => {
      const args = ["--host", "127.0.0.1", "--port", "0", "--data-dir", await tempDataDir(), "--keyless", "--deposit-rate-limit", "1", "--trust-proxy", "127.0.0.1,10.0.0.0/8"];
      const behindProxy = await startRelayProcess([...RELAY_COMMANDS[runtime], ...args], { env: { ...process.env, NO_COLOR: "1" } });
      const body = depositOfLength(2000);
      const deposit = async (forwardedFor: string[]) => {
        const lines = forwardedFor.map((hop) => `X-Forwarded-For: ${hop}\r\n`).join("");
        const answer = await rawRequest(behindProxy.port, `POST /deposit HTTP/1.1\r\nHost: relay\r\n${lines}Content-Length: ${body.length}\r\n\r\n${body}`);
        return [answer?.status, JSON.parse(answer!.body).reason ?? "ok"];
      };
      try {
        expect(await deposit(["198.51.100.1"])).toEqual([200, "ok"]);
        // The same client, named by the last line (taking only the first would see 198.51.100.9)...
        expect(await deposit(["198.51.100.9", "198.51.100.1"])).toEqual([429, "rate_limit_exceeded"]);
        // ...and by the first, behind a trusted hop in the last (taking only the last would see the proxy 10.0.0.1).
        expect(await deposit(["198.51.100.1", "10.0.0.1"])).toEqual([429, "rate_limit_exceeded"]);
      } finally {
        behindProxy.stop();
      }
    });

    test("after all of these: no internal_error in the log, nothing on stderr", async () => {
      relay.child.kill("SIGTERM");
      expect(await relay.child.exited).toBe(0);
      expect(await relay.output()).not.toContain("internal_error");
      expect(await relay.errorOutput()).toBe("");
    });
  });
}
