/** Client public keys: PEM text → mailbox id and WebCrypto verify key, with a bounded cache. */
import type { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { parsePublicKeyPem } from "./pem.ts";
import { PSS } from "./rsa-params.ts";

/** What the relay knows about one public key text. */
export interface KnownKey {
  /** Lowercase hex SHA-256 of the key's SPKI DER: the same for its SPKI and PKCS#1 texts. */
  mailbox: string;
  /** SHA-256 of the PEM text exactly as received: what an envelope's `recipient_fingerprint` names. */
  pemDigest: Buffer;
  spki: Uint8Array<ArrayBuffer>;
  /** RSA-PSS SHA-256 verify key, imported on first use. */
  verifyKey(): Promise<CryptoKey>;
}

/** SHA-256 of bytes or of a string's UTF-8 bytes. */
export function sha256(data: Uint8Array | string): Buffer {
  return createHash("sha256").update(data).digest();
}

/** Parses and remembers the most recently used keys, so a polling node pays for the import once. */
export class PublicKeyCache {
  readonly #entries = new Map<string, KnownKey>();

  constructor(readonly capacity = 1024) {}

  /** The key behind `pem`, or null when the text is not an acceptable RSA public key. */
  lookup(pem: string): KnownKey | null {
    const cached = this.#entries.get(pem);
    if (cached) {
      this.#entries.delete(pem); // re-insert: Map order is the LRU order
      this.#entries.set(pem, cached);
      return cached;
    }
    let spki: Uint8Array<ArrayBuffer>;
    try {
      spki = parsePublicKeyPem(pem).spki;
    } catch {
      return null;
    }
    let imported: Promise<CryptoKey> | undefined;
    const key: KnownKey = {
      mailbox: sha256(spki).toString("hex"),
      pemDigest: sha256(pem),
      spki,
      verifyKey: () =>
        imported ??= crypto.subtle.importKey("spki", spki, PSS, false, ["verify"]),
    };
    this.#entries.set(pem, key);
    if (this.#entries.size > this.capacity) this.#entries.delete(this.#entries.keys().next().value!);
    return key;
  }
}
