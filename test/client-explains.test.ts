/**
 * The client explains itself: the CLI run as a process against an in-process relay on a real socket,
 * whose clock the tests set; exact stderr, stdout and exit codes.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createHash, createPublicKey, generateKeyPairSync } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { refusalHints } from "../lib/client/hints.ts";
import { RelayClient, RelayRefusal } from "../lib/client/http.ts";
import { CLIENT_COMMANDS } from "../lib/client/usage.ts";
import { intercom, json, keys, proofBody, tempDataDir, type TestRelay, testRelay } from "./helpers.ts";
import { RELAY_COMMANDS, ROOT, runProcess } from "./processes.ts";
import { speakMessage } from "../lib/client/messages.ts";

const cli = (...args: string[]) => runProcess([...RELAY_COMMANDS.bun, ...args]);
const realNow = () => Date.now() / 1000;
const HOUR = 3600;

let relay: TestRelay;
/** The relay's frozen clock, integer Unix seconds: what it checks proofs against and sends as `Date`. */
let relayNow = 0;
let url = "";
let server: ReturnType<typeof Bun.serve>;
const files = { bobPublic: "", bobPrivate: "", alicePrivate: "", smallPublic: "", smallPrivate: "" };

const setRelayClock = (now: number) => relay.setNow(relayNow = now);

beforeAll(async () => {
  relay = await testRelay();
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const response = await relay.app(request, () => "127.0.0.1");
      response.headers.set("Date", new Date(relayNow * 1000).toUTCString());
      return response;
    },
  });
  url = `http://127.0.0.1:${server.port}`;
  const dir = await tempDataDir();
  const small = generateKeyPairSync("rsa", {
    modulusLength: 512,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
  });
  const contents = {
    bobPublic: keys.bob.public_spki_pem,
    bobPrivate: keys.bob.private_pkcs1_pem,
    alicePrivate: keys.alice.private_pkcs1_pem,
    smallPublic: small.publicKey,
    smallPrivate: small.privateKey,
  };
  for (const [name, text] of Object.entries(contents) as [keyof typeof files, string][]) {
    files[name] = join(dir, `${name}.pem`);
    await writeFile(files[name], text);
  }
});
afterAll(() => server.stop(true));
beforeEach(() => setRelayClock(Math.floor(realNow())));

/** Runs the CLI; also returns the real clock's bounds around the run. */
async function timedCli(...args: string[]) {
  const before = realNow();
  const result = await cli(...args);
  return { ...result, before, after: realNow() };
}

/** The N of "your clock is N s …" in `stderr`, checked to be the skew the run saw, give or take a second. */
function reportedSkew(stderr: string, expected: { min: number; max: number }): number {
  const seconds = Number(/your clock is (\d+) s/.exec(stderr)?.[1]);
  expect(seconds).toBeGreaterThanOrEqual(Math.floor(expected.min) - 1);
  expect(seconds).toBeLessThanOrEqual(Math.ceil(expected.max) + 1);
  return seconds;
}

const clockLine = (command: string, seconds: number, direction: "behind" | "ahead of") =>
  `hivemind-rendezvous ${command}: your clock is ${seconds} s ${direction} the relay; proofs must be within 60 s of its clock: ` +
  "set the time (e.g. wait for NTP) and try again\n";

describe("clock skew", () => {
  test("retrieve with a clock an hour behind the relay → exit 1, replay_detected and 'your clock is N s behind the relay'", async () => {
    setRelayClock(Math.floor(realNow()) + HOUR);
    const result = await timedCli("retrieve", url, "--key", files.bobPrivate);
    const seconds = reportedSkew(result.stderr, { min: relayNow - result.after, max: relayNow - result.before });
    expect(result).toMatchObject({
      code: 1,
      stdout: "",
      stderr: "hivemind-rendezvous retrieve: the relay refused: replay_detected (HTTP 401)\n" + clockLine("retrieve", seconds, "behind"),
    });
  });

  test("deposit --from with a clock an hour ahead of the relay → exit 1, invalid_depositor_signature and 'N s ahead of'", async () => {
    setRelayClock(Math.floor(realNow()) - HOUR);
    const result = await timedCli("deposit", url, "--to", files.bobPublic, "--from", files.alicePrivate, "--text", "late");
    const seconds = reportedSkew(result.stderr, { min: result.before - relayNow, max: result.after - relayNow });
    expect(result).toMatchObject({
      code: 1,
      stdout: "",
      stderr: "hivemind-rendezvous deposit: the relay refused: invalid_depositor_signature (HTTP 401)\n" +
        clockLine("deposit", seconds, "ahead of"),
    });
  });

  test("deposit without --from to a relay an hour ahead → exit 0, nothing on stderr: no proof, nothing to explain", async () => {
    setRelayClock(Math.floor(realNow()) + HOUR);
    const result = await cli("deposit", url, "--to", files.bobPublic, "--text", "no proof");
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    setRelayClock(Math.floor(realNow()));
    expect(await cli("retrieve", url, "--key", files.bobPrivate)).toMatchObject({ code: 0, stdout: `${speakMessage("no proof")}\n` });
  });

  test("refusalHints → a clock line from 59 s of skew (known to about a second), with days from 2 days; none for a refusal not about a proof", () => {
    const hint = (seconds: string, direction: "behind" | "ahead of") => clockLine("x", 0, direction).replace(/^hivemind-rendezvous x: |\n$/g, "").replace("0 s", seconds);
    expect(refusalHints(new RelayRefusal(401, "replay_detected", 58), url)).toEqual([]);
    expect(refusalHints(new RelayRefusal(401, "replay_detected", null), url)).toEqual([]);
    expect(refusalHints(new RelayRefusal(429, "rate_limit_exceeded", -HOUR), url)).toEqual([]);
    expect(refusalHints(new RelayRefusal(401, "replay_detected", 59), url)).toEqual([hint("59 s", "behind")]);
    expect(refusalHints(new RelayRefusal(401, "replay_detected", -61), url)).toEqual([hint("61 s", "ahead of")]);
    expect(refusalHints(new RelayRefusal(401, "replay_detected", -218_454_531), url)).toEqual([hint("218454531 s (2528 days)", "ahead of")]);
  });

  test("refusalHints → a proxy's 413 (no reason of the relay's): the proxy's own size limit", () => {
    expect(refusalHints(new RelayRefusal(413, null, 0), url)).toEqual([
      "a proxy in front of the relay refused the request's size (nginx: client_max_body_size): it must take what the relay takes (--max-payload-bytes)",
    ]);
  });

  test("refusalHints → which keys a relay takes, for invalid_target_pubkey (an 8192-bit key on a relay under Deno)", () => {
    expect(refusalHints(new RelayRefusal(400, "invalid_target_pubkey", 0), url)).toEqual([
      "the relay takes RSA public keys of 1024 to 8192 bits as PEM (SPKI or PKCS#1), and of at most 4096 bits when it runs under Deno",
    ]);
  });

  test("refusalHints → how long to wait when the relay says (Retry-After), and why for a rate limit", () => {
    expect(refusalHints(new RelayRefusal(429, "rate_limit_exceeded", 0, 42), url)).toEqual(["the relay asks to wait 42 s before trying again (it limits requests per address)"]);
    expect(refusalHints(new RelayRefusal(503, "store_unavailable", 0, 2), url)).toEqual(["the relay asks to wait 2 s before trying again"]);
  });

  test("deposit refused by the relay's rate limit → exit 1, the reason and how long to wait", async () => {
    const limited = await testRelay({ config: { depositRateLimit: 1 } });
    const limitedServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => limited.app(request, () => "127.0.0.1") });
    try {
      const limitedUrl = `http://127.0.0.1:${limitedServer.port}`;
      expect(await cli("deposit", limitedUrl, "--to", files.bobPublic, "--text", "one")).toMatchObject({ code: 0 });
      const refused = await cli("deposit", limitedUrl, "--to", files.bobPublic, "--text", "two");
      expect(refused).toMatchObject({ code: 1, stdout: "" });
      expect(refused.stderr).toMatch(
        /^hivemind-rendezvous deposit: the relay refused: rate_limit_exceeded \(HTTP 429\)\nhivemind-rendezvous deposit: the relay asks to wait \d+ s before trying again \(it limits requests per address\)\n$/,
      );
    } finally {
      limitedServer.stop(true);
    }
  });
});

describe("retrieve reports on stderr", () => {
  /** The fingerprint as openssl would print it: SHA-256 of the key's SPKI DER. */
  const fingerprint = (pem: string) =>
    `sha256:${createHash("sha256").update(createPublicKey(pem).export({ type: "spki", format: "der" })).digest("hex")}`;

  test("retrieve → each message on stdout; on stderr, 'signed by' the sender's fingerprint or 'not signed'", async () => {
    const signed = await cli("deposit", url, "--to", files.bobPublic, "--from", files.alicePrivate, "--text", "from alice");
    const unsigned = await cli("deposit", url, "--to", files.bobPublic, "--text", "anonymous");
    const [signedId, unsignedId] = [signed.stdout.trim(), unsigned.stdout.trim()];
    expect(await cli("retrieve", url, "--key", files.bobPrivate)).toEqual({
      code: 0,
      stdout: `${speakMessage("from alice")}\n${speakMessage("anonymous")}\n`,
      stderr: `message ${signedId}: signed by ${fingerprint(keys.alice.public_spki_pem)}\nmessage ${unsignedId}: not signed\n`,
    });
  });

  test("retrieve of a message it cannot open → exit 1, the '! … could not be opened' line and the message as the relay gave it on stderr (it is acknowledged), stdout empty", async () => {
    const payload = intercom({ encrypted_key: "AAAA", ciphertext: "AAAA", tag: "AAAA", nonce: "AAAA" });
    const response = await relay.request("/deposit", { payload, target_pubkey: keys.bob.public_spki_pem });
    const { deposit_id: id } = await json(response);
    expect(await cli("retrieve", url, "--key", files.bobPrivate)).toEqual({
      code: 1,
      stdout: "",
      stderr: `! message ${id} could not be opened: not encrypted for this key; as the relay gave it:\n${payload}\n`,
    });
  });
});

test("a server that takes the connection and never answers → 'no answer from URL within N s', not 'cannot reach'", async () => {
  const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const base = `http://127.0.0.1:${silent.port}`;
    await expect(new RelayClient(base, 300).pubkey()).rejects.toThrow(`no answer from ${base} within 0.3 s`);
  } finally {
    silent.stop(true);
  }
});

describe("usage", () => {
  test("an unknown command → exit 2 and the list of commands on stderr", async () => {
    expect(await cli("frobnicate", url)).toEqual({
      code: 2,
      stdout: "",
      stderr: [
        'hivemind-rendezvous: unknown command "frobnicate"',
        "Commands:",
        "  serve     run the relay (the default without a command)",
        "  copy      copy every live message from one store to another",
        "  keygen    write a new keypair",
        "  deposit   leave an encrypted message for a key at a relay",
        "  retrieve  fetch and open this key's messages from a relay",
        "Each command takes --help.",
        "",
      ].join("\n"),
    });
  });

  const readme = readFile(join(ROOT, "README.md"), "utf8");
  for (const [name, command] of Object.entries(CLIENT_COMMANDS)) {
    test(`${name} --help → exit 0, its usage line, operand and every option on stdout; the README shows the same usage`, async () => {
      const result = await cli(name, "--help");
      expect(result).toMatchObject({ code: 0, stderr: "" });
      expect(result.stdout).toStartWith(`Usage: hivemind-rendezvous ${command.synopsis}\n`);
      for (const option of [command.operand.name, ...Object.values(command.options).map((o) => o.form), "-h, --help"]) {
        expect(result.stdout).toContain(`\n  ${option} `);
      }
      expect(await cli(name, "-h")).toEqual(result);
      expect(await readme).toContain(`| \`${command.synopsis.replaceAll("|", "\\|")}\` |`);
    });
  }

  const smallKeyCases = [
    { command: "deposit", kind: "public", flag: "--to", path: () => files.smallPublic, more: ["--text", "x"] },
    { command: "retrieve", kind: "private", flag: "--key", path: () => files.smallPrivate, more: [] },
  ] as const;
  for (const { command, kind, flag, path, more } of smallKeyCases) {
    test(`${command} ${flag} a 512-bit ${kind} key → exit 2, saying that 1024 to 8192 bits are accepted`, async () => {
      expect(await cli(command, url, flag, path(), ...more)).toEqual({
        code: 2,
        stdout: "",
        stderr: `hivemind-rendezvous ${command}: ${path()}: not a usable RSA ${kind} key (RSA modulus of 512 bits; ` +
          "accepted sizes are 1024 to 8192 bits)\n",
      });
    });
  }

  const endpointUrlCases = [
    { command: "deposit", path: "/deposit", args: () => ["--to", files.bobPublic, "--text", "x"] },
    { command: "retrieve", path: "/retrieve/", args: () => ["--key", files.bobPrivate] },
  ];
  for (const { command, path, args } of endpointUrlCases) {
    test(`${command} with URL${path} → exit 1, not_found and a hint to pass the relay's base URL`, async () => {
      expect(await cli(command, url + path, ...args())).toEqual({
        code: 1,
        stdout: "",
        stderr: `hivemind-rendezvous ${command}: the relay refused: not_found (HTTP 404)\n` +
          `hivemind-rendezvous ${command}: ${url}${path} ends in an endpoint path; pass the relay's base URL instead: ${url}\n`,
      });
    });
  }

  const usage = (command: keyof typeof CLIENT_COMMANDS) => ` (usage: hivemind-rendezvous ${CLIENT_COMMANDS[command].synopsis})`;

  test("keygen of an empty DIR, or one starting with ~ → exit 2, nothing created; onto a file → exit 1, 'a file is in the way'", async () => {
    const dir = await tempDataDir();
    expect(await cli("keygen", "")).toEqual({ code: 2, stdout: "", stderr: `hivemind-rendezvous keygen: DIR is empty${usage("keygen")}\n` });
    expect(await cli("keygen", "~/keys")).toEqual({
      code: 2,
      stdout: "",
      stderr: 'hivemind-rendezvous keygen: "~/keys" starts with ~, which only a shell expands (not inside quotes): give the path in full\n',
    });
    expect(existsSync(join(ROOT, "~"))).toBe(false);
    await writeFile(join(dir, "afile"), "");
    expect(await cli("keygen", join(dir, "afile"))).toEqual({
      code: 1,
      stdout: "",
      stderr: `hivemind-rendezvous keygen: cannot create the directory ${join(dir, "afile")}: a file is in the way\n`,
    });
  });

  test("deposit of an empty text, an empty file or a file not UTF-8 → exit 2, saying so; nothing deposited", async () => {
    const dir = await tempDataDir();
    await writeFile(join(dir, "empty.txt"), "\n");
    await writeFile(join(dir, "binary"), new Uint8Array([0x68, 0x69, 0xff, 0xfe]));
    const deposit = (...input: string[]) => cli("deposit", url, "--to", files.bobPublic, ...input);
    expect(await deposit("--text", "")).toEqual({ code: 2, stdout: "", stderr: "hivemind-rendezvous deposit: the message is empty (--text): nothing to send\n" });
    expect(await deposit("--file", join(dir, "empty.txt"))).toEqual({
      code: 2,
      stdout: "",
      stderr: `hivemind-rendezvous deposit: the message is empty (--file ${join(dir, "empty.txt")}): nothing to send\n`,
    });
    expect(await deposit("--file", join(dir, "binary"))).toEqual({ code: 2, stdout: "", stderr: `hivemind-rendezvous deposit: ${join(dir, "binary")} is not UTF-8 text\n` });
    expect(await cli("retrieve", url, "--key", files.bobPrivate)).toMatchObject({ code: 0, stdout: "" });
  });

  test("a URL in capitals is one; without http:// → exit 2 and the URL meant; with ?query or #fragment → exit 2", async () => {
    const upper = await cli("deposit", url.replace("http://", "HTTP://"), "--to", files.bobPublic, "--text", "shouted");
    expect(upper).toMatchObject({ code: 0, stderr: "" });
    const bare = url.replace("http://", "");
    expect(await cli("retrieve", bare, "--key", files.bobPrivate)).toEqual({
      code: 2,
      stdout: "",
      stderr: `hivemind-rendezvous retrieve: not an http(s) URL: ${bare} (did you mean http://${bare}?)${usage("retrieve")}\n`,
    });
    for (const suffix of ["?x=1", "/#top"]) {
      expect(await cli("retrieve", url + suffix, "--key", files.bobPrivate)).toEqual({
        code: 2,
        stdout: "",
        stderr: `hivemind-rendezvous retrieve: the relay's base URL takes no ?query or #fragment: ${url}${suffix}${usage("retrieve")}\n`,
      });
    }
    expect(await cli("retrieve", url, "--key", files.bobPrivate)).toMatchObject({ code: 0, stdout: `${speakMessage("shouted")}\n` });
  });

  test("deposit too large for the relay → exit 1, payload_too_large and how large the request was", async () => {
    const small = await testRelay({ config: { maxPayloadBytes: 1024 } });
    const smallServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => small.app(request, () => "127.0.0.1") });
    try {
      const result = await cli("deposit", `http://127.0.0.1:${smallServer.port}`, "--to", files.bobPublic, "--text", "é".repeat(200));
      expect(result).toMatchObject({ code: 1, stdout: "" });
      expect(result.stderr).toMatch(
        /^hivemind-rendezvous deposit: the relay refused: payload_too_large \(HTTP 413\)\nhivemind-rendezvous deposit: the request was \d+ bytes, more than this relay takes \(its --max-payload-bytes, 65536 by default\); sealing adds about a third, and a character outside ASCII becomes 8 bytes or more: send a shorter text\n$/,
      );
      const sent = Number(/the request was (\d+) bytes/.exec(result.stderr)![1]);
      expect(sent).toBeGreaterThan(1024 + 200 * 8);
      expect(sent).toBeLessThan(4096);
    } finally {
      smallServer.stop(true);
    }
  });

  test("deposit --ttl above 604800 → exit 0, 'capped' on stderr, and the relay keeps it 604800 s", async () => {
    const result = await cli("deposit", url, "--to", files.bobPublic, "--ttl", "1000000", "--text", "long");
    expect(result).toMatchObject({
      code: 0,
      stderr: "hivemind-rendezvous deposit: --ttl 1000000 is above the relay's cap of 604800 s (7 days); capped to 604800\n",
    });
    expect(result.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    const id = result.stdout.trim();
    const collected = await json(await relay.request("/collect", await proofBody("bob", relayNow)));
    expect(collected.messages).toEqual([expect.objectContaining({ deposit_id: id, expires_at: relayNow + 604800 })]);
    expect(await json(await relay.request("/ack", { ...await proofBody("bob", relayNow), deposit_ids: [id] }))).toMatchObject({ removed: 1 });
    const huge = await cli("deposit", url, "--to", files.bobPublic, "--ttl", "99999999999999999999", "--text", "longer");
    expect(huge).toMatchObject({
      code: 0,
      stderr: "hivemind-rendezvous deposit: --ttl 99999999999999999999 is above the relay's cap of 604800 s (7 days); capped to 604800\n",
    });
    expect(await cli("retrieve", url, "--key", files.bobPrivate)).toMatchObject({ code: 0, stdout: `${speakMessage("longer")}\n` });
  });
});
