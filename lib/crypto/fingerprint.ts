/** A public key's fingerprint, as nodes, operators and the relay's mailbox ids all name a key; and the digest an envelope names its recipient by. */
import type { Buffer } from "node:buffer";
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

/** A SHA-256 of a PEM text, as bytes and as standard base64 (the way clients write a `recipient_fingerprint`). */
export interface PemDigest {
  bytes: Buffer;
  base64: string;
}

/** The {@link PemDigest} of `pem` exactly as received. */
export function pemDigest(pem: string): PemDigest {
  const bytes = sha256(pem);
  return { bytes, base64: bytes.toString("base64") };
}
