/** The client: envelopes against the vectors, a sealed deposit through the app, the CLI against a relay process. */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createHash, createPublicKey } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parsePublicKeyPem, publicPemOf } from "../lib/crypto/pem.ts";
import { open, seal } from "../lib/client/envelope.ts";
import { loadIdentity } from "../lib/client/identity.ts";
import { retrieve } from "../lib/client/retrieve.ts";
import { generateKeyPair, keyFingerprint } from "../lib/client/keys.ts";
import { envelopeOf, intercomMessage, speakMessage } from "../lib/client/messages.ts";
import { intercom, json, keys, loadVector, proofBody, tempDataDir, testRelay } from "./helpers.ts";
import { RELAY_COMMANDS, runProcess, startRelayProcess } from "./processes.ts";

const PYTHON_PEM = (label: string) =>
  new RegExp(`^-----BEGIN ${label}-----\\n(?:[A-Za-z0-9+/]{64}\\n)*[A-Za-z0-9+/=]{1,64}\\n-----END ${label}-----$`);

interface SealedCase {
  id: string;
  name: string;
  request: { payload: string; target_pubkey: string };
  decrypt: { recipient: "alice" | "bob"; inner_plaintext: string; sender: "alice" | "bob" | null; aad_bound?: boolean; kind?: string };
}
const sealedCases: SealedCase[] = (await loadVector("deposits.json")).cases.filter((c: SealedCase) => c.decrypt);

describe("envelope.open", () => {
  test("the vectors hold hybrid, AAD-bound and legacy RSA envelopes", () => {
    expect(sealedCases.some((c) => c.decrypt.kind === "legacy-rsa")).toBe(true);
    expect(sealedCases.some((c) => c.decrypt.aad_bound)).toBe(true);
    expect(sealedCases.some((c) => !c.decrypt.kind && !c.decrypt.aad_bound)).toBe(true);
  });

  for (const c of sealedCases) {
    const signed = c.decrypt.sender ? `, signature verified with ${c.decrypt.sender}'s key` : ", unsigned";
    test(`open ${c.id} ${c.name} → its inner_plaintext${signed}`, async () => {
      const { recipient, sender } = c.decrypt;
      const opened = await open(envelopeOf(c.request.payload), {
        privatePem: keys[recipient].private_pkcs1_pem,
        senderPem: sender ? keys[sender].public_spki_pem : undefined,
      });
      expect(opened.plaintext).toBe(c.decrypt.inner_plaintext);
      expect(opened.signature).toBe(sender ? "verified" : "unsigned");
    });
  }

  const d01 = sealedCases.find((c) => c.id === "D01")!;
  test("open with no sender key given → verifies with the envelope's sender_pubkey", async () => {
    const opened = await open(envelopeOf(d01.request.payload), { privatePem: keys.bob.private_pkcs1_pem });
    expect(opened).toEqual({ plaintext: d01.decrypt.inner_plaintext, signature: "verified", senderPem: keys.alice.public_spki_pem });
  });

  test("open with another sender's key → throws: the signature does not match", async () => {
    const envelope = envelopeOf(d01.request.payload);
    const attempt = open(envelope, { privatePem: keys.bob.private_pkcs1_pem, senderPem: keys.bob.public_spki_pem });
    await expect(attempt).rejects.toThrow("signature does not match");
  });

  test("open with the wrong private key → throws: not encrypted for this key", async () => {
    const attempt = open(envelopeOf(d01.request.payload), { privatePem: keys.alice.private_pkcs1_pem });
    await expect(attempt).rejects.toThrow("not encrypted for this key");
  });
});

describe("envelope.seal", () => {
  const recipientPem = keys.bob.public_spki_pem;

  test("seal → open round trip: the plaintext, verified as alice's", async () => {
    const envelope = await seal("secret", { recipientPem, senderPrivatePem: keys.alice.private_pkcs1_pem });
    const opened = await open(envelope, { privatePem: keys.bob.private_pkcs1_pem });
    expect(opened).toEqual({ plaintext: "secret", signature: "verified", senderPem: keys.alice.public_spki_pem });
  });

  test("seal → the vectors' field order, 16-byte nonce and tag, fingerprint of the recipient PEM", async () => {
    const envelope = await seal("x", { recipientPem, senderPrivatePem: keys.alice.private_pkcs1_pem });
    expect(Object.keys(envelope)).toEqual(Object.keys(envelopeOf(sealedCases.find((c) => c.id === "D01")!.request.payload)));
    expect(Buffer.from(envelope.nonce, "base64")).toHaveLength(16);
    expect(Buffer.from(envelope.tag, "base64")).toHaveLength(16);
    expect(envelope.recipient_fingerprint).toBe((await loadVector("keys.json")).keys.bob.recipient_fingerprint);
  });

  test("seal without a sender → no signature, opens as unsigned", async () => {
    const envelope = await seal("x", { recipientPem });
    expect(envelope.signature).toBeUndefined();
    expect((await open(envelope, { privatePem: keys.bob.private_pkcs1_pem })).signature).toBe("unsigned");
  });

  test("open of a sealed envelope with one ciphertext byte flipped → throws", async () => {
    const envelope = await seal("secret", { recipientPem });
    const bytes = Buffer.from(envelope.ciphertext, "base64");
    bytes[0] ^= 1;
    const attempt = open({ ...envelope, ciphertext: bytes.toString("base64") }, { privatePem: keys.bob.private_pkcs1_pem });
    await expect(attempt).rejects.toThrow("fails authentication");
  });
});

describe("messages", () => {
  const d01 = sealedCases.find((c) => c.id === "D01")!;

  test("speakMessage → the vectors' inner_plaintext byte for byte", () => {
    expect(speakMessage("D01 from alice")).toBe(d01.decrypt.inner_plaintext);
  });

  test("intercomMessage → D01's payload byte for byte, as Python's json.dumps wrote it", () => {
    const envelope = envelopeOf(d01.request.payload) as Record<string, string>;
    expect(intercomMessage(envelope, d01.request.target_pubkey)).toBe(d01.request.payload);
  });

  test("speakMessage escapes non-ASCII as Python does", () => {
    expect(speakMessage("é☃😀")).toContain(String.raw`"utterance": "\u00e9\u2603\ud83d\ude00"`);
  });
});

describe("keys", () => {
  test("generateKeyPair → RSA-2048 as SPKI and PKCS#1 PEM, 64 columns, no trailing newline", async () => {
    const pair = await generateKeyPair();
    expect(pair.publicPem).toMatch(PYTHON_PEM("PUBLIC KEY"));
    expect(pair.privatePem).toMatch(PYTHON_PEM("RSA PRIVATE KEY"));
    expect(publicPemOf(pair.privatePem)).toBe(pair.publicPem);
    expect(parsePublicKeyPem(pair.publicPem).modulusBits).toBe(2048);
  });

  test("publicPemOf a vector's PKCS#1 private key → its public_spki_pem", () => {
    expect(publicPemOf(keys.alice.private_pkcs1_pem)).toBe(keys.alice.public_spki_pem);
  });
});

describe("a sealed envelope through the relay app", () => {
  test("POST /deposit of a signed envelope with a depositor proof → 200; bob's /collect opens it", async () => {
    const now = Math.floor(Date.now() / 1000);
    const relay = await testRelay({ now });
    const recipientPem = keys.bob.public_spki_pem;
    const envelope = await seal(speakMessage("via the app"), { recipientPem, senderPrivatePem: keys.alice.private_pkcs1_pem });
    const proof = await (await loadIdentity(keys.alice.private_pkcs1_pem)).prove(keys.relay.public_spki_pem, now);
    const response = await relay.request("/deposit", {
      payload: intercomMessage(envelope, recipientPem),
      target_pubkey: recipientPem,
      depositor_pubkey: proof.pubkey,
      depositor_timestamp: proof.timestamp,
      depositor_signature: proof.signature,
    });
    expect(response.status).toBe(200);
    const collected = await json(await relay.request("/collect", await proofBody("bob", now)));
    const opened = await open(envelopeOf(collected.messages[0].payload), { privatePem: keys.bob.private_pkcs1_pem });
    expect(opened.plaintext).toBe(speakMessage("via the app"));
    expect(opened.signature).toBe("verified");
  });
});

describe("retrieve", () => {
  let hideCollect = false;
  let failAcks = false;
  let url = "";
  let deposit: (payload: string) => Promise<Response>;
  const servers: Array<{ stop(force: boolean): unknown }> = [];
  afterAll(() => servers.forEach((server) => server.stop(true)));
  beforeAll(async () => {
    const relay = await testRelay({ now: Date.now() / 1000, relayPubkey: "" });
    deposit = (payload) => relay.request("/deposit", { payload, target_pubkey: keys.bob.public_spki_pem });
    // An original relay has no /collect: it answers 404 not_found there.
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (request) => {
        const path = new URL(request.url).pathname;
        if (hideCollect && path === "/collect") return Response.json({ status: "error", reason: "not_found" }, { status: 404 });
        // A proxy in front of the relay failing: its 502 page.
        if (failAcks && path === "/ack") return new Response("Bad Gateway", { status: 502 });
        return relay.app(request, () => "127.0.0.1");
      },
    });
    servers.push(server);
    url = `http://127.0.0.1:${server.port}`;
  });
  afterEach(() => {
    hideCollect = false;
    failAcks = false;
  });
  /** A retrieve whose output takes `writable` lines, then fails as a full disk would; `error` when it rejects. */
  const run = async (keep: boolean, writable = Infinity) => {
    const lines: string[] = [];
    const notes: string[] = [];
    const message = (line: string) => {
      if (lines.length === writable) throw new Error("cannot write to standard output: ENOSPC");
      lines.push(line);
    };
    const outcome: { failures?: number; error?: string } = await retrieve({ url, privatePem: keys.bob.private_pkcs1_pem, keep }, { message, note: (line) => notes.push(line) })
      .then((failures) => ({ failures }), (error: Error) => ({ error: error.message }));
    return { ...outcome, lines, notes };
  };
  const sealedFor = async (text: string) => intercomMessage(await seal(speakMessage(text), { recipientPem: keys.bob.public_spki_pem }), keys.bob.public_spki_pem);
  const nothingWaiting = `no messages waiting for ${keyFingerprint(keys.bob.public_spki_pem)}`;

  test("retrieve with a message it cannot open → a note saying so, no message line, counted as a failure, acknowledged", async () => {
    await deposit(intercom({ encrypted_key: "AAAA", ciphertext: "AAAA", tag: "AAAA", nonce: "AAAA" }));
    const first = await run(false);
    expect(first.failures).toBe(1);
    expect(first.lines).toEqual([]);
    expect(first.notes).toEqual([expect.stringMatching(/^! message [0-9a-f-]{36} could not be opened: not encrypted for this key; as the relay gave it:$/), expect.stringContaining('"ciphertext"')]);
    expect(await run(false)).toEqual({ failures: 0, lines: [], notes: [nothingWaiting] });
  });

  test("retrieve of a message naming this key as its recipient that it cannot open → 'a damaged message', not 'not encrypted for this key'", async () => {
    const { recipient_fingerprint } = (await loadVector("keys.json")).keys.bob;
    await deposit(intercom({ encrypted_key: "AAAA", ciphertext: "AAAA", tag: "AAAA", nonce: "AAAA", recipient_fingerprint }));
    const result = await run(false);
    expect(result.failures).toBe(1);
    expect(result.notes).toEqual([
      expect.stringMatching(/^! message [0-9a-f-]{36} could not be opened: encrypted_key does not open with this key, though the envelope names it as the recipient: a damaged message; as the relay gave it:$/),
      expect.stringContaining(recipient_fingerprint),
    ]);
  });

  test("retrieve of an RSA-only envelope naming this key as its recipient that it cannot open (docs/api.md's placeholder) → 'a damaged message'", async () => {
    const { recipient_fingerprint } = (await loadVector("keys.json")).keys.bob;
    await deposit(intercom({ ciphertext: "aGVsbG8=", recipient_fingerprint }));
    const result = await run(false);
    expect(result.failures).toBe(1);
    expect(result.notes[0]).toMatch(/^! message [0-9a-f-]{36} could not be opened: the ciphertext does not open with this key, though the envelope names it as the recipient: a damaged message; as the relay gave it:$/);
  });

  test("retrieve whose output fails at the second message → rejects, says so, acknowledges nothing: the next retrieve has both", async () => {
    await deposit(await sealedFor("first"));
    await deposit(await sealedFor("second"));
    const failed = await run(false, 1);
    expect(failed.error).toBe("cannot write to standard output: ENOSPC");
    expect(failed.notes.at(-1)).toBe("not acknowledged: the relay keeps these 2 messages and gives them again next time");
    expect((await run(false)).lines).toEqual([speakMessage("first"), speakMessage("second")]);
  });

  test("retrieve whose ack fails (a proxy's 502) → rejects, says the messages shown come again; they do", async () => {
    await deposit(await sealedFor("shown twice"));
    failAcks = true;
    const failed = await run(false);
    expect(failed).toMatchObject({ error: "HTTP 502 with no reason: a proxy's error, or not a rendezvous relay", lines: [speakMessage("shown twice")] });
    expect(failed.notes.at(-1)).toBe("the acknowledgement failed: unless it reached the relay, it gives this message again next time");
    failAcks = false;
    const again = await run(false);
    expect(again.lines).toEqual([speakMessage("shown twice")]);
    expect(await run(false)).toEqual({ failures: 0, lines: [], notes: [nothingWaiting] });
  });

  test("retrieve from a relay without /collect → falls back to POST /retrieve", async () => {
    hideCollect = true;
    await deposit(await sealedFor("old relay"));
    expect(await run(false)).toEqual({
      failures: 0,
      lines: [speakMessage("old relay")],
      notes: ["this relay has no /collect: retrieving with /retrieve, which deletes the messages as it answers", "message 1: not signed"],
    });
  });

  test("retrieve from a relay without /collect whose output fails at the first message → both messages, sealed, in the notes: the relay has deleted them", async () => {
    hideCollect = true;
    const payloads = [await sealedFor("lost unless noted"), await sealedFor("this one too")];
    for (const payload of payloads) await deposit(payload);
    const failed = await run(false, 0);
    expect(failed.error).toBe("cannot write to standard output: ENOSPC");
    expect(failed.notes).toEqual([
      "this relay has no /collect: retrieving with /retrieve, which deletes the messages as it answers",
      "message 1: not signed",
      "the relay deleted these messages as it answered: the 2 not written follow, as the relay gave them",
      ...payloads,
    ]);
  });

  test("retrieve --keep from a relay without /collect → throws rather than delete", async () => {
    hideCollect = true;
    expect((await run(true)).error).toContain("--keep");
  });
});

describe("CLI against a relay process", () => {
  let url = "";
  let keyDir = "";
  beforeAll(async () => {
    const relay = await startRelayProcess([...RELAY_COMMANDS.bun, "--host", "127.0.0.1", "--port", "0", "--data-dir", await tempDataDir(), "--keyless"]);
    url = relay.url;
    keyDir = join(await tempDataDir(), "keys");
  });
  const cli = (...args: string[]) => runProcess([...RELAY_COMMANDS.bun, ...args]);
  const speak = (text: string) => `${speakMessage(text)}\n`;

  test("keygen DIR → private_key.pem (mode 0600) and public_key.pem in Python's PEM forms; prints the key's fingerprint", async () => {
    const result = await cli("keygen", keyDir);
    expect(result.code).toBe(0);
    const privatePem = await readFile(join(keyDir, "private_key.pem"), "utf8");
    const spki = createPublicKey(privatePem).export({ type: "spki", format: "der" });
    const fingerprint = `sha256:${createHash("sha256").update(spki).digest("hex")}`;
    expect(result.stdout).toBe(`wrote ${join(keyDir, "private_key.pem")} and ${join(keyDir, "public_key.pem")}; fingerprint ${fingerprint}\n`);
    expect(privatePem).toMatch(PYTHON_PEM("RSA PRIVATE KEY"));
    expect(await readFile(join(keyDir, "public_key.pem"), "utf8")).toBe(publicPemOf(privatePem));
    expect((await stat(join(keyDir, "private_key.pem"))).mode & 0o777).toBe(0o600);
  });

  test("keygen into a DIR holding a key → exit 1, the key kept", async () => {
    const before = await readFile(join(keyDir, "private_key.pem"), "utf8");
    const result = await cli("keygen", keyDir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("already exists");
    expect(await readFile(join(keyDir, "private_key.pem"), "utf8")).toBe(before);
  });

  test("deposit --text, retrieve → prints the inner plaintext; a second retrieve prints nothing", async () => {
    const deposited = await cli("deposit", url, "--to", join(keyDir, "public_key.pem"), "--text", "hello relay");
    expect(deposited.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    expect(await cli("retrieve", url, "--key", join(keyDir, "private_key.pem"))).toMatchObject({ code: 0, stdout: speak("hello relay") });
    expect(await cli("retrieve", url, "--key", join(keyDir, "private_key.pem"))).toMatchObject({ code: 0, stdout: "" });
  });

  test("retrieve --keep leaves the messages for the next retrieve", async () => {
    const to = join(keyDir, "public_key.pem");
    await cli("deposit", url, "--to", to, "--from", join(keyDir, "private_key.pem"), "--ttl", "60", "--text", "one");
    await cli("deposit", url, "--to", to, "--text", "two");
    const key = join(keyDir, "private_key.pem");
    expect(await cli("retrieve", url, "--key", key, "--keep")).toMatchObject({ code: 0, stdout: speak("one") + speak("two") });
    expect(await cli("retrieve", url, "--key", key)).toMatchObject({ code: 0, stdout: speak("one") + speak("two") });
    expect(await cli("retrieve", url, "--key", key)).toMatchObject({ code: 0, stdout: "" });
  });

  test("retrieve > /dev/full → exit 1, the write error said, nothing acknowledged: the next retrieve prints the message", async () => {
    const key = join(keyDir, "private_key.pem");
    await cli("deposit", url, "--to", join(keyDir, "public_key.pem"), "--text", "kept");
    const full = await runProcess(["sh", "-c", '"$@" > /dev/full', "sh", ...RELAY_COMMANDS.bun, "retrieve", url, "--key", key]);
    expect(full.code).toBe(1);
    expect(full.stderr).toContain("hivemind-rendezvous retrieve: cannot write to standard output: ENOSPC");
    expect(await cli("retrieve", url, "--key", key)).toMatchObject({ code: 0, stdout: speak("kept") });
  });

  test("retrieve 2> /dev/full of a message it cannot open → exit 1, nothing acknowledged: the next retrieve gives it, sealed, on stderr", async () => {
    const key = join(keyDir, "private_key.pem");
    const payload = intercom({ encrypted_key: "AAAA", ciphertext: "AAAA", tag: "AAAA", nonce: "AAAA" });
    const targetPubkey = await readFile(join(keyDir, "public_key.pem"), "utf8");
    expect((await fetch(`${url}/deposit`, { method: "POST", body: JSON.stringify({ payload, target_pubkey: targetPubkey }) })).status).toBe(200);
    const full = await runProcess(["sh", "-c", '"$@" 2> /dev/full', "sh", ...RELAY_COMMANDS.bun, "retrieve", url, "--key", key]);
    expect([full.code, full.stdout]).toEqual([1, ""]);
    const again = await cli("retrieve", url, "--key", key);
    expect([again.code, again.stderr.split("\n")[1]]).toEqual([1, payload]);
  });

  test("deposit refused by the relay → exit 1 with the reason", async () => {
    const result = await cli("deposit", `${url}/nowhere`, "--to", join(keyDir, "public_key.pem"), "--text", "x");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("not_found");
  });

  test("deposit without --to → exit 2 with a one-line error", async () => {
    const result = await cli("deposit", url, "--text", "x");
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  });
});
