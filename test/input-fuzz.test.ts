/** Random field values of every JSON type, on every POST endpoint: always a JSON answer, never a 500. */
import { describe, expect, test } from "bun:test";
import { decodeBase64, encodeBase64 } from "../lib/crypto/pem.ts";
import { bigIntOf, bytesOf, F4, integer, modulusOf, sequence, spkiPem } from "./der-keys.ts";
import { intercom, json, keys, proofBody, testRelay } from "./helpers.ts";

const NOW = 1_767_225_600;

/** A small seeded PRNG (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const proof = await proofBody("bob", NOW);
const bobModulus = await modulusOf(keys.bob.public_spki_pem);
/** Inputs from the attacks of issue 11: each new kind of key text and signature spelling. */
const attackSamples: unknown[] = [
  "\n".repeat(20_000) + "x", // quadratic for a trailing-newline regex
  keys.bob.public_spki_pem + "\n".repeat(4000), // a valid key past the length cap
  keys.bob.public_spki_pem.replaceAll("\n", "\r\n") + "\r\n",
  spkiPem(sequence(integer(Uint8Array.of(0, ...bobModulus)), integer(F4))), // non-canonical DER
  spkiPem(sequence(integer(bobModulus), integer(Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 13)))), // exponent 2^64 + 13
  encodeBase64(bytesOf(bigIntOf(decodeBase64(proof.signature)!) + bigIntOf(bobModulus))), // S + n
  encodeBase64(new Uint8Array(256).fill(0xff)), // the modulus's length, above the modulus
  encodeBase64(Uint8Array.of(0, ...decodeBase64(proof.signature)!)), // the same number, one byte too long
];
const samples: unknown[] = [
  ...attackSamples,
  undefined, null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53, "", "0", "-5", "1767225600", "abc", "\u2028",
  "é".repeat(3), [], [1, "a"], {}, { msg_type: "intercom" }, keys.bob.public_spki_pem, keys.alice.public_pkcs1_pem,
  keys.bob.private_pkcs1_pem, keys.bob.public_spki_pem + "\n", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
  intercom(), intercom({ recipient_fingerprint: 5 }), intercom({ recipient_fingerprint: "====" }), "[]", "{",
  proof.signature, proof.signature.slice(1), NOW, String(NOW), NOW + 61, ["x".repeat(40)], "x".repeat(5000),
];
const fields: Record<string, string[]> = {
  "/deposit": ["payload", "target_pubkey", "ttl", "depositor_pubkey", "depositor_timestamp", "depositor_signature"],
  "/retrieve": ["pubkey", "timestamp", "signature"],
  "/collect": ["pubkey", "timestamp", "signature", "limit"],
  "/ack": ["pubkey", "timestamp", "signature", "deposit_ids"],
};

describe("random field values", () => {
  for (const [path, names] of Object.entries(fields)) {
    test(`${path}: 400 random bodies → a JSON answer, never a 5xx`, async () => {
      const relay = await testRelay({ now: NOW, config: { depositRateLimit: 0, readRateLimit: 0 } });
      const next = random(path.length);
      const seen = new Set<number>();
      for (let i = 0; i < 400; i++) {
        const body = Object.fromEntries(names.flatMap((name) => {
          const value = samples[Math.floor(next() * samples.length)];
          return value === undefined ? [] : [[name, value]];
        }));
        const response = await relay.request(path, body);
        const answer = await json(response);
        seen.add(response.status);
        expect(response.status).toBeLessThan(500);
        expect(response.headers.get("content-type")).toBe("application/json");
        expect(answer.status).toBe(response.status === 200 ? "ok" : "error");
      }
      expect(seen.size).toBeGreaterThan(1);
    });
  }
});
