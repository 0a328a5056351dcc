/**
 * A signature has one spelling: S + n (S a spent proof's signature, n the key's modulus) is refused
 * as 401 invalid_signature before it is verified, on both runtimes, so it cannot replay the proof.
 * Deno's WebCrypto alone would accept S + n when it fits in the modulus's length. Its base64 may have
 * more than one (bits set before the padding decode to the same bytes): each is the same spent proof.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeBase64, encodeBase64 } from "../lib/crypto/pem.ts";
import { bigIntOf, bytesOf, modulusOf } from "./der-keys.ts";
import { intercom, json, keys, proofBody, tempDataDir, withBitsSetBeforePadding } from "./helpers.ts";
import { type RelayProcess, RUNTIMES } from "./processes.ts";
import { startRelay } from "./relay-child.ts";

const modulus = await modulusOf(keys.bob.public_spki_pem);
const n = bigIntOf(modulus);
const LENGTH = modulus.length;

/** A fresh proof of bob's whose S + n takes `length` bytes (PSS is randomised: sign until one does). */
async function proofWithLongerTwin(now: number, length: number) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const proof = await proofBody("bob", now);
    const sum = bigIntOf(decodeBase64(proof.signature)!) + n;
    if (sum < 1n << BigInt(8 * length) && sum >= 1n << BigInt(8 * (length - 1))) {
      return { proof, twin: encodeBase64(bytesOf(sum, length)) };
    }
  }
  throw new Error(`no signature whose S + n takes ${length} bytes`);
}

async function post(relay: RelayProcess, path: string, body: unknown) {
  const response = await fetch(`${relay.url}${path}`, { method: "POST", body: JSON.stringify(body) });
  return [response.status, await json(response)] as const;
}

for (const runtime of RUNTIMES) {
  describe(`S + n under ${runtime}`, () => {
    let relay: RelayProcess;
    beforeAll(async () => {
      relay = await startRelay(runtime, await tempDataDir());
    }, 30_000); // Deno starting cold can take longer than a hook's default 5 s
    afterAll(() => relay.stop());

    // The vectors' bob key is 2048 bits with a top byte of 0xb1: S + n takes 256 bytes when S < 2^2048 − n, else 257.
    for (const [kind, length] of [["of the modulus's length", LENGTH], ["one byte longer", LENGTH + 1]] as const) {
      test(`a spent proof's signature plus the modulus, ${kind} → 401 invalid_signature on /retrieve and /ack, the mail untouched`, async () => {
        const now = Math.floor(Date.now() / 1000);
        const [deposited] = await post(relay, "/deposit", { payload: intercom({ kind }), target_pubkey: keys.bob.public_spki_pem });
        expect(deposited).toBe(200);
        const { proof, twin } = await proofWithLongerTwin(now, length);
        const [, collected] = await post(relay, "/collect", proof);
        expect(collected.messages.map((message: { payload: string }) => message.payload)).toEqual([intercom({ kind })]);
        const ids = collected.messages.map((message: { deposit_id: string }) => message.deposit_id);

        expect(await post(relay, "/retrieve", { ...proof, signature: twin })).toEqual([401, { status: "error", reason: "invalid_signature" }]);
        expect(await post(relay, "/ack", { ...proof, signature: twin, deposit_ids: ids })).toEqual([401, { status: "error", reason: "invalid_signature" }]);
        const [, after] = await post(relay, "/retrieve", await proofBody("bob", now));
        expect(after.messages).toEqual([intercom({ kind })]);
      }, 30_000);
    }

    test("a spent proof's signature spelt with bits set before its padding → 401 replay_detected", async () => {
      const proof = await proofBody("bob", Math.floor(Date.now() / 1000));
      const respelt = withBitsSetBeforePadding(proof.signature);
      expect(respelt).not.toBe(proof.signature);
      expect(decodeBase64(respelt)).toEqual(decodeBase64(proof.signature));
      expect((await post(relay, "/retrieve", proof))[0]).toBe(200);
      expect(await post(relay, "/retrieve", { ...proof, signature: respelt })).toEqual([401, { status: "error", reason: "replay_detected" }]);
    });
  });
}
