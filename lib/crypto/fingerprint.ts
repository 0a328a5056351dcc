/** A public key's fingerprint, as nodes, operators and the relay's mailbox ids all name a key. */
import { parsePublicKeyPem } from "./pem.ts";
import { sha256 } from "./sha256.ts";

/**
 * Lowercase hex SHA-256 of the key's SPKI DER: the same for its SPKI and PKCS#1 texts, the relay's
 * mailbox id, and what `openssl pkey -pubin -outform DER | sha256sum` prints.
 */
export function publicKeyFingerprint(publicPem: string): string {
  return spkiFingerprint(parsePublicKeyPem(publicPem).spki);
}

/** {@link publicKeyFingerprint} of a key already parsed to its SPKI DER. */
export function spkiFingerprint(spki: Uint8Array): string {
  return sha256(spki).toString("hex");
}
