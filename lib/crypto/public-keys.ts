/** Client public keys: PEM text → mailbox id and signature check, with a bounded cache. */
import { type PemDigest, pemDigest, spkiFingerprint } from "./fingerprint.ts";
import { MAX_PUBLIC_KEY_PEM_LENGTH, parsePublicKeyPem } from "./pem.ts";
import { PSS, PSS_PARAMS } from "./rsa-params.ts";
import { MAX_VERIFIABLE_MODULUS_BITS } from "./verify-limits.ts";

/** What the relay knows about one public key text. */
export interface KnownKey {
  /** Lowercase hex SHA-256 of the key's SPKI DER: the same for its SPKI and PKCS#1 texts. */
  mailbox: string;
  /** SHA-256 of the PEM text exactly as received: what an envelope's `recipient_fingerprint` names. */
  pemDigest: PemDigest;
  /**
   * True when `signature` is an RSA-PSS SHA-256 signature of `message` by this key, spelt the one
   * way a signature can be: exactly as many bytes as the modulus, and a number below it.
   */
  verify(signature: Uint8Array<ArrayBuffer>, message: Uint8Array<ArrayBuffer>): Promise<boolean>;
}

/**
 * Parses and remembers the most recently used keys, so a polling node pays for the import once.
 * It knows exactly the keys this runtime can verify signatures with (see `parsePublicKeyPem` and
 * `MAX_VERIFIABLE_MODULUS_BITS`): a deposit for any other key could never be retrieved.
 */
export class PublicKeyCache {
  /** Each key under the text it was first seen as (`pem`, kept with it). */
  readonly #entries = new Map<string, { pem: string; key: KnownKey }>();

  constructor(readonly capacity = 1024) {}

  /** The key behind `pem`, or null when the text is not an acceptable RSA public key. */
  lookup(pem: string): KnownKey | null {
    if (pem.length > MAX_PUBLIC_KEY_PEM_LENGTH) return null; // before hashing or parsing it
    const cached = this.#entries.get(pem);
    if (cached) {
      // Re-inserted (Map order is the LRU order) under the text it was cached as, not this request's
      // equal copy: a copy kept by the long-lived map would outlive its request, ~450 bytes of old
      // garbage per request for the collector.
      this.#entries.delete(pem);
      this.#entries.set(cached.pem, cached);
      return cached.key;
    }
    let parsed;
    try {
      parsed = parsePublicKeyPem(pem);
    } catch {
      return null;
    }
    if (parsed.modulusBits > MAX_VERIFIABLE_MODULUS_BITS) return null;
    const { spki, modulus } = parsed;
    let imported: Promise<CryptoKey> | undefined;
    const key: KnownKey = {
      mailbox: spkiFingerprint(spki),
      pemDigest: pemDigest(pem),
      async verify(signature, message) {
        if (signature.length !== modulus.length || compareBytes(signature, modulus) >= 0) return false;
        imported ??= crypto.subtle.importKey("spki", spki, PSS, false, ["verify"]);
        return await crypto.subtle.verify(PSS_PARAMS, await imported, signature, message);
      },
    };
    this.#entries.set(pem, { pem, key });
    if (this.#entries.size > this.capacity) this.#entries.delete(this.#entries.keys().next().value!);
    return key;
  }
}

/** Compares two big-endian numbers of the same byte length. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
