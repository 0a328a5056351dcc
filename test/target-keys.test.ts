/**
 * A deposit is accepted exactly for the keys whose owner can then retrieve it on this runtime:
 * canonical DER, an odd modulus of 1024–8192 bits on Bun and 1024–4096 on Deno, an odd exponent
 * from 3 to 2^33 − 1. Every other key → 400 invalid_target_pubkey. Under Bun and Deno, over a real socket.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { signProof } from "../lib/client/identity.ts";
import { importPrivateKey } from "../lib/client/keys.ts";
import { publicPemOf, toPem } from "../lib/crypto/pem.ts";
import { PSS } from "../lib/crypto/rsa-params.ts";
import { element, F4, integer, modulusOf, modulusOfBits, NULL, RSA_OID, sequence, spkiPem } from "./der-keys.ts";
import { intercom, json, keys, tempDataDir } from "./helpers.ts";
import { type RelayProcess, type RuntimeName, RUNTIMES } from "./processes.ts";
import { startRelay } from "./relay-child.ts";

const edgeKeys: Record<string, string> = (await Bun.file(join(import.meta.dir, "fixtures", "edge-keys.json")).json()).keys;

const bobModulus = await modulusOf(keys.bob.public_spki_pem);
const evenModulus = Uint8Array.from(bobModulus);
evenModulus[evenModulus.length - 1] &= 0xfe;

/**
 * Keys no runtime verifies a proof for (their mail was lost), and other DER spellings of a key the
 * relay used to re-encode: all were accepted as targets before. One key has one DER.
 */
const refusedEverywhere: Record<string, string> = {
  "a modulus INTEGER with a needless leading zero": spkiPem(sequence(element(0x02, Uint8Array.of(0, 0, ...bobModulus)), integer(F4))),
  "an exponent INTEGER with a needless leading zero": spkiPem(sequence(integer(bobModulus), element(0x02, Uint8Array.of(0, ...F4)))),
  "an exponent length in the long form": spkiPem(sequence(integer(bobModulus), element(0x02, F4, true))),
  "an algorithm identifier length in the long form": spkiPem(sequence(integer(bobModulus), integer(F4)), element(0x30, Uint8Array.of(...RSA_OID, ...NULL), true)),
  "an algorithm identifier without its NULL": spkiPem(sequence(integer(bobModulus), integer(F4)), sequence(RSA_OID)),
  "a third INTEGER after the exponent": spkiPem(sequence(integer(bobModulus), integer(F4), integer(F4))),
  "an RSA PUBLIC KEY with a padded modulus": toPem("RSA PUBLIC KEY", sequence(element(0x02, Uint8Array.of(0, 0, ...bobModulus)), integer(F4))),
  "an exponent of 2^64 + 13": spkiPem(sequence(integer(bobModulus), integer(Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 13)))),
  "an exponent of 2^33 + 1": spkiPem(sequence(integer(bobModulus), integer(Uint8Array.of(2, 0, 0, 0, 1)))),
  "an even modulus": spkiPem(sequence(integer(evenModulus), integer(F4))),
};

/** Keys at the edges, with what each runtime must answer for a deposit to them. */
const edges: { name: string; pem: string; accepted: Record<RuntimeName, boolean>; privatePem?: string }[] = [
  { name: "a key text with CRLF line ends and two trailing CRLFs", pem: keys.bob.public_spki_pem.replaceAll("\n", "\r\n") + "\r\n\r\n", privatePem: keys.bob.private_pkcs1_pem, accepted: { bun: true, deno: true } },
  { name: "a key text ending in a lone CR", pem: keys.bob.public_spki_pem + "\r", accepted: { bun: false, deno: false } },
  { name: "an exponent of 2^33 − 1", pem: publicPemOf(edgeKeys.rsa_1024_e_2_33_minus_1), privatePem: edgeKeys.rsa_1024_e_2_33_minus_1, accepted: { bun: true, deno: true } },
  { name: "a 4096-bit modulus", pem: publicPemOf(edgeKeys.rsa_4096), privatePem: edgeKeys.rsa_4096, accepted: { bun: true, deno: true } },
  { name: "a 4097-bit modulus", pem: spkiPem(sequence(integer(modulusOfBits(4097)), integer(F4))), accepted: { bun: true, deno: false } },
  { name: "an 8192-bit modulus", pem: publicPemOf(edgeKeys.rsa_8192), privatePem: edgeKeys.rsa_8192, accepted: { bun: true, deno: false } },
  { name: "an 8193-bit modulus", pem: spkiPem(sequence(integer(modulusOfBits(8193)), integer(F4))), accepted: { bun: false, deno: false } },
];

async function post(relay: RelayProcess, path: string, body: unknown) {
  const response = await fetch(`${relay.url}${path}`, { method: "POST", body: JSON.stringify(body) });
  return [response.status, await json(response)] as const;
}

for (const runtime of RUNTIMES) {
  describe(`deposit targets under ${runtime}`, () => {
    let relay: RelayProcess;
    beforeAll(async () => {
      relay = await startRelay(runtime, await tempDataDir());
    }, 30_000); // Deno starting cold can take longer than a hook's default 5 s
    afterAll(() => relay.stop());

    for (const [name, pem] of Object.entries(refusedEverywhere)) {
      test(`${name} → 400 invalid_target_pubkey`, async () => {
        expect(await post(relay, "/deposit", { payload: intercom(), target_pubkey: pem })).toEqual([400, { status: "error", reason: "invalid_target_pubkey" }]);
      });
    }

    for (const { name, pem, accepted, privatePem } of edges) {
      const verdict = accepted[runtime] ? (privatePem ? "200, and its owner retrieves it" : "200") : "400 invalid_target_pubkey";
      test(`${name} → ${verdict}`, async () => {
        const [status, answer] = await post(relay, "/deposit", { payload: intercom({ to: name }), target_pubkey: pem });
        if (!accepted[runtime]) return expect([status, answer]).toEqual([400, { status: "error", reason: "invalid_target_pubkey" }]);
        expect(status).toBe(200);
        if (!privatePem) return;
        const signingKey = await importPrivateKey(privatePem, PSS);
        const timestamp = Math.floor(Date.now() / 1000);
        const signature = await signProof(signingKey, pem, keys.relay.public_spki_pem, timestamp);
        expect(await post(relay, "/retrieve", { pubkey: pem, timestamp, signature })).toEqual([200, { status: "ok", messages: [intercom({ to: name })] }]);
      }, 30_000);
    }
  });
}
