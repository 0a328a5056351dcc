/**
 * The INTERCOM envelope HiveMind receivers open, sealed and opened with WebCrypto only. No I/O.
 *
 * Hybrid form, every value standard base64 except `sender_pubkey`, keys in this order:
 *   encrypted_key          RSA-OAEP (SHA-1, MGF1-SHA-1) of a fresh 32-byte AES-256 key, for the recipient
 *   ciphertext, tag        AES-256-GCM of the inner message, the 16-byte tag apart
 *   nonce                  the 16-byte GCM nonce
 *   signature              optional: RSA-PSS (SHA-256, salt 32) by the sender over the raw ciphertext bytes
 *   sender_pubkey          optional, with `signature`: the sender's SPKI PEM
 *   recipient_fingerprint  optional: SHA-256 of the exact recipient PEM text
 * Older senders bound SHA-256(recipient PEM) as GCM additional data; older still, the legacy form
 * is `ciphertext` = RSA-OAEP (SHA-1) of the whole inner message, plus `signature` over it.
 */
import { concatBytes, sameBytes, strictUtf8 } from "../bytes.ts";
import { decodeBase64, encodeBase64, publicPemOf } from "../crypto/pem.ts";
import { sha256 } from "../crypto/sha256.ts";
import { OAEP, PSS, PSS_PARAMS } from "../crypto/rsa-params.ts";
import { importPrivateKey, importPublicKey, signBase64 } from "./keys.ts";

const NONCE_BYTES = 16;
const TAG_BYTES = 16;

/** The envelope object carried as an INTERCOM message's `payload`. */
export type Envelope = Record<string, string>;

/**
 * What an opened envelope says. `verified`: the signature holds for `senderPem`;
 * `unverifiable`: signed, but with no key to check it with.
 */
export type Opened = { plaintext: string } & (
  | { signature: "verified"; senderPem: string }
  | { signature: "unsigned" | "unverifiable"; senderPem: null }
);

/** Encrypts `plaintext` for `recipientPem`; signs it when `senderPrivatePem` is given. */
export async function seal(
  plaintext: string,
  options: { recipientPem: string; senderPrivatePem?: string },
): Promise<Envelope> {
  const aesKey = crypto.getRandomValues(new Uint8Array(32));
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const gcmKey = await crypto.subtle.importKey("raw", aesKey, "AES-GCM", false, ["encrypt"]);
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, gcmKey, new TextEncoder().encode(plaintext)),
  );
  const ciphertext = sealed.slice(0, -TAG_BYTES);
  const wrapped = await crypto.subtle.encrypt(OAEP, await importPublicKey(options.recipientPem, OAEP), aesKey);
  const envelope: Envelope = {
    encrypted_key: encodeBase64(wrapped),
    ciphertext: encodeBase64(ciphertext),
    tag: encodeBase64(sealed.slice(-TAG_BYTES)),
    nonce: encodeBase64(nonce),
  };
  if (options.senderPrivatePem) {
    envelope.signature = await signBase64(await importPrivateKey(options.senderPrivatePem, PSS), ciphertext);
    envelope.sender_pubkey = publicPemOf(options.senderPrivatePem);
  }
  envelope.recipient_fingerprint = encodeBase64(sha256(options.recipientPem));
  return envelope;
}

/**
 * Decrypts an envelope with the recipient's private key and checks its signature against
 * `senderPem`, else the envelope's `sender_pubkey`. Throws an Error saying why it cannot.
 */
export async function open(
  envelope: Record<string, unknown>,
  options: { privatePem: string; senderPem?: string },
): Promise<Opened> {
  const ciphertext = field(envelope, "ciphertext");
  const hybrid = "encrypted_key" in envelope;
  const opening = hybrid ? openHybrid(envelope, ciphertext, options.privatePem) : rsaDecrypt(options.privatePem, ciphertext);
  const plaintext = await opening.catch((error) => {
    if (!(error instanceof NotForThisKey && namesAsRecipient(envelope, options.privatePem))) throw error;
    throw new Error(`${hybrid ? "encrypted_key" : "the ciphertext"} does not open with this key, though the envelope names it as the recipient: a damaged message`);
  });
  const text = decodeUtf8(plaintext);
  if (!("signature" in envelope)) return { plaintext: text, signature: "unsigned", senderPem: null };
  const senderPem = options.senderPem ?? (typeof envelope.sender_pubkey === "string" ? envelope.sender_pubkey : null);
  if (!senderPem) return { plaintext: text, signature: "unverifiable", senderPem: null };
  const verifyKey = await importPublicKey(senderPem, PSS).catch(() => {
    throw new Error("sender_pubkey is not an RSA public key");
  });
  if (!(await crypto.subtle.verify(PSS_PARAMS, verifyKey, field(envelope, "signature"), ciphertext))) {
    throw new Error("the signature does not match the sender's key");
  }
  return { plaintext: text, signature: "verified", senderPem };
}

async function openHybrid(envelope: Record<string, unknown>, ciphertext: Uint8Array<ArrayBuffer>, privatePem: string) {
  const nonce = field(envelope, "nonce");
  const sealed = concatBytes([ciphertext, field(envelope, "tag")]);
  const fingerprint = recipientFingerprint(envelope);
  const aesKey = await rsaDecrypt(privatePem, field(envelope, "encrypted_key"));
  const gcmKey = await crypto.subtle.importKey("raw", aesKey, "AES-GCM", false, ["decrypt"]).catch(() => {
    throw new Error("encrypted_key does not hold an AES key");
  });
  // Plain GCM first; then the short-lived variant that bound SHA-256(recipient PEM) as additional data:
  // the digest the sender named as recipient_fingerprint, else that of our own SPKI PEM (SHA-256).
  for (const additionalData of [undefined, fingerprint ?? sha256(publicPemOf(privatePem))]) {
    const params = { name: "AES-GCM", iv: nonce, ...(additionalData ? { additionalData } : {}) };
    const plaintext = await crypto.subtle.decrypt(params, gcmKey, sealed).catch(() => null);
    if (plaintext) return plaintext;
  }
  throw new Error("the ciphertext fails authentication");
}

/** RSA-OAEP decryption with this key failed: the data was encrypted for another. */
class NotForThisKey extends Error {
  constructor() {
    super("not encrypted for this key");
  }
}

async function rsaDecrypt(privatePem: string, data: Uint8Array<ArrayBuffer>): Promise<ArrayBuffer> {
  const key = await importPrivateKey(privatePem, OAEP);
  return await crypto.subtle.decrypt(OAEP, key, data).catch(() => {
    throw new NotForThisKey();
  });
}

/** The envelope's `recipient_fingerprint` as bytes, if it has one. */
function recipientFingerprint(envelope: Record<string, unknown>): Uint8Array | null {
  return typeof envelope.recipient_fingerprint === "string" ? decodeBase64(envelope.recipient_fingerprint) : null;
}

/** True when the envelope names the key of `privatePem` as its recipient (SHA-256 of its SPKI PEM). */
function namesAsRecipient(envelope: Record<string, unknown>, privatePem: string): boolean {
  const fingerprint = recipientFingerprint(envelope);
  return fingerprint !== null && sameBytes(fingerprint, sha256(publicPemOf(privatePem)));
}

function field(envelope: Record<string, unknown>, name: string): Uint8Array<ArrayBuffer> {
  const value = envelope[name];
  const bytes = typeof value === "string" ? decodeBase64(value) : null;
  if (!bytes) throw new Error(`envelope field ${name} is missing or not base64`);
  return bytes;
}

function decodeUtf8(bytes: ArrayBuffer): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new Error("the plaintext is not UTF-8");
  }
}

