/** RSA keys as PEM text: SPKI and PKCS#1 public keys, PKCS#1 and PKCS#8 private keys. */
import { sameBytes } from "../bytes.ts";
import { encodeElement, readOnly, readSequence, TAG } from "./der.ts";

/** AlgorithmIdentifier { rsaEncryption, NULL } as DER. */
const RSA_ALGORITHM = Uint8Array.from([
  0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
]);
const MIN_MODULUS_BITS = 1024;
const MAX_MODULUS_BITS = 8192;
/** Exponents above 2^33 − 1 are refused by BoringSSL (Bun) and RustCrypto's rsa (Deno) alike. */
const MAX_EXPONENT = 2 ** 33 - 1;
/**
 * The longest public key text accepted, checked before any parsing. The largest acceptable key
 * (8192 bits, exponent 2^33 − 1) is 1064 bytes of SPKI DER: 1518 characters of PEM even with CRLF
 * line ends. 4096 leaves room for other line widths and trailing newlines, and bounds what one
 * key text can cost to parse and to hold in the key cache.
 */
export const MAX_PUBLIC_KEY_PEM_LENGTH = 4096;
/** Standard base64's alphabet, padding excluded: one character class, so it matches in linear time. */
const BASE64_ALPHABET = /^[A-Za-z0-9+/]*$/;
/** A PEM label: one character class, linear time. */
const PEM_LABEL = /^[A-Z0-9 ]+$/;

/** A parsed RSA public key. */
export interface RsaPublicKey {
  /** SubjectPublicKeyInfo DER, whatever PEM form it came in. */
  spki: Uint8Array<ArrayBuffer>;
  /** RSAPublicKey (PKCS#1) DER. */
  pkcs1: Uint8Array<ArrayBuffer>;
  /** The modulus, unsigned big-endian without leading zeros: as many bytes as a signature has. */
  modulus: Uint8Array;
  modulusBits: number;
}

/**
 * Uint8Array's own base64 methods (ES2026; Bun and Deno have them, TypeScript's ES2024 lib does not):
 * decoding a proof's signature takes about 0.1 µs with them against 1.8 µs through a Buffer.
 */
type Base64Bytes = Uint8Array<ArrayBuffer> & { toBase64(): string };
const Base64Bytes = Uint8Array as unknown as { fromBase64(text: string): Base64Bytes };

/** Bytes as standard base64 (with padding). */
export function encodeBase64(bytes: Uint8Array | ArrayBuffer): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return (view as Base64Bytes).toBase64();
}

/** Strict standard base64 (with padding) to bytes, or null. */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> | null {
  if (text.length % 4 !== 0) return null;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  // Checked first: fromBase64 would also skip whitespace. Bits set before the padding are ignored, as Buffer's decoding did.
  return BASE64_ALPHABET.test(text.slice(0, text.length - padding)) ? Base64Bytes.fromBase64(text) : null;
}

/**
 * Parses a `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1) PEM of at most
 * {@link MAX_PUBLIC_KEY_PEM_LENGTH} characters whose DER is the key's one canonical encoding
 * (minimal lengths and integers, nothing trailing, rsaEncryption with NULL parameters), with an odd
 * modulus of 1024–8192 bits and an odd exponent from 3 to 2^33 − 1; throws TypeError for anything else.
 */
export function parsePublicKeyPem(text: string): RsaPublicKey {
  if (text.length > MAX_PUBLIC_KEY_PEM_LENGTH) throw new TypeError("key text too long");
  const { label, der } = parsePem(text);
  if (label !== "PUBLIC KEY" && label !== "RSA PUBLIC KEY") throw new TypeError(`not a public key: ${label}`);
  let key: RsaPublicKey;
  try {
    key = rsaPublicKey(label === "PUBLIC KEY" ? spkiToPkcs1(der) : der);
  } catch (cause) {
    throw new TypeError("not an RSA public key", { cause });
  }
  // One key, one DER: what a runtime would refuse to import, and a second mailbox for the same key, end here.
  if (!sameBytes(der, label === "PUBLIC KEY" ? key.spki : key.pkcs1)) throw new TypeError("not canonical DER");
  return key;
}

/** Reads an unencrypted `RSA PRIVATE KEY` or `PRIVATE KEY` PEM: PKCS#8 for WebCrypto, SPKI of its public half. */
export function parsePrivateKeyPem(text: string): { pkcs8: Uint8Array<ArrayBuffer>; publicKey: RsaPublicKey } {
  const { label, der } = parsePem(text);
  if (label !== "RSA PRIVATE KEY" && label !== "PRIVATE KEY") throw new TypeError(`not a private key: ${label}`);
  try {
    const pkcs1 = label === "PRIVATE KEY" ? pkcs8ToPkcs1(der) : der;
    const [, modulus, exponent] = readSequence(readOnly(pkcs1, TAG.SEQUENCE), [TAG.INTEGER, TAG.INTEGER, TAG.INTEGER]);
    const publicKey = rsaPublicKeyOf(modulus, exponent);
    const pkcs8 = label === "PRIVATE KEY" ? der : encodeElement(
      TAG.SEQUENCE,
      encodeElement(TAG.INTEGER, Uint8Array.of(0)),
      RSA_ALGORITHM,
      encodeElement(TAG.OCTET_STRING, der),
    );
    return { pkcs8, publicKey };
  } catch (cause) {
    throw new TypeError("not an RSA private key", { cause });
  }
}

/** The SPKI PEM of a private key's public half, as keygen writes it and the relay serves it. */
export function publicPemOf(privatePem: string): string {
  return toPem("PUBLIC KEY", parsePrivateKeyPem(privatePem).publicKey.spki);
}

/** Writes DER as PEM the way Python HiveMind does: 64-column base64, LF, no trailing newline. */
export function toPem(label: string, der: Uint8Array): string {
  const lines = encodeBase64(der).match(/.{1,64}/g) ?? [];
  return [`-----BEGIN ${label}-----`, ...lines, `-----END ${label}-----`].join("\n");
}

/** Reads PEM text in one pass: no regular expression that could backtrack sees the whole text. */
function parsePem(text: string): { label: string; der: Uint8Array<ArrayBuffer> } {
  let end = text.length; // trailing newlines (LF or CRLF) are tolerated
  while (text[end - 1] === "\n") end -= text[end - 2] === "\r" ? 2 : 1;
  const lines = text.slice(0, end).split("\n");
  // CRLF line ends: a CR before each LF goes (the last line has no LF after it).
  for (let i = 0; i < lines.length - 1; i++) if (lines[i].endsWith("\r")) lines[i] = lines[i].slice(0, -1);
  const first = lines[0];
  const label = first.startsWith("-----BEGIN ") && first.endsWith("-----") ? first.slice(11, -5) : "";
  if (!PEM_LABEL.test(label) || lines.length < 3 || lines[lines.length - 1] !== `-----END ${label}-----`) {
    throw new TypeError("not one PEM block: a -----BEGIN …----- line first, its -----END …----- line last, base64 between them, nothing else");
  }
  // Encrypted legacy PEMs carry "Proc-Type:" headers, which are not base64 and fail here.
  const der = decodeBase64(lines.slice(1, -1).join(""));
  if (!der) throw new TypeError("PEM body is not base64");
  return { label, der };
}

/** The public key of a modulus and an exponent, each given as DER INTEGER content; throws unless acceptable. */
export function rsaPublicKeyOf(modulus: Uint8Array, exponent: Uint8Array): RsaPublicKey {
  return rsaPublicKey(rsaPkcs1(modulus, exponent));
}

/** RSAPublicKey DER of two INTEGER contents. */
function rsaPkcs1(modulus: Uint8Array, exponent: Uint8Array): Uint8Array<ArrayBuffer> {
  return encodeElement(TAG.SEQUENCE, encodeElement(TAG.INTEGER, modulus), encodeElement(TAG.INTEGER, exponent));
}

/** Checks an RSAPublicKey's numbers and encodes them canonically. */
function rsaPublicKey(pkcs1: Uint8Array): RsaPublicKey {
  const [modulus, exponent] = readSequence(readOnly(pkcs1, TAG.SEQUENCE), [TAG.INTEGER, TAG.INTEGER]);
  const unsignedModulus = unsignedInteger(modulus);
  const modulusBits = bitLength(unsignedModulus);
  if (modulusBits < MIN_MODULUS_BITS || modulusBits > MAX_MODULUS_BITS) {
    throw new RangeError(`RSA modulus of ${modulusBits} bits; accepted sizes are ${MIN_MODULUS_BITS} to ${MAX_MODULUS_BITS} bits`);
  }
  if (!isOdd(unsignedModulus)) throw new RangeError("RSA modulus is even");
  const unsignedExponent = unsignedInteger(exponent);
  const exponentValue = unsignedExponent.length > 5 ? Infinity : unsignedExponent.reduce((value, byte) => value * 256 + byte, 0);
  if (exponentValue < 3 || exponentValue > MAX_EXPONENT || !isOdd(unsignedExponent)) throw new RangeError("bad RSA exponent");
  const canonical = rsaPkcs1(modulus, exponent);
  const bitString = encodeElement(TAG.BIT_STRING, Uint8Array.of(0), canonical);
  return { spki: encodeElement(TAG.SEQUENCE, RSA_ALGORITHM, bitString), pkcs1: canonical, modulus: unsignedModulus, modulusBits };
}

function spkiToPkcs1(spki: Uint8Array): Uint8Array {
  const [algorithm, bitString] = readSequence(readOnly(spki, TAG.SEQUENCE), [TAG.SEQUENCE, TAG.BIT_STRING]);
  const [oid] = readSequence(algorithm, [TAG.OID]);
  if (!sameBytes(oid, RSA_ALGORITHM.subarray(4, 13))) throw new TypeError("not an RSA key");
  if (bitString[0] !== 0) throw new SyntaxError("DER: bit string with unused bits");
  return bitString.subarray(1);
}

/** The RSAPrivateKey (PKCS#1) inside a PrivateKeyInfo (PKCS#8); throws unless it holds an RSA key. */
export function pkcs8ToPkcs1(pkcs8: Uint8Array): Uint8Array {
  const [, algorithm, key] = readSequence(readOnly(pkcs8, TAG.SEQUENCE), [TAG.INTEGER, TAG.SEQUENCE, TAG.OCTET_STRING]);
  const [oid] = readSequence(algorithm, [TAG.OID]);
  if (!sameBytes(oid, RSA_ALGORITHM.subarray(4, 13))) throw new TypeError("not an RSA key");
  return key;
}

/** The magnitude of a non-negative DER INTEGER in its minimal encoding; throws for negative or padded ones. */
function unsignedInteger(integer: Uint8Array): Uint8Array {
  if (integer.length === 0 || integer[0] & 0x80) throw new RangeError("DER: empty or negative INTEGER");
  if (integer[0] !== 0) return integer;
  if (integer.length === 1) return integer.subarray(1);
  if (!(integer[1] & 0x80)) throw new RangeError("DER: INTEGER with a needless leading zero");
  return integer.subarray(1);
}

function bitLength(unsigned: Uint8Array): number {
  return unsigned.length === 0 ? 0 : (unsigned.length - 1) * 8 + (32 - Math.clz32(unsigned[0]));
}

function isOdd(unsigned: Uint8Array): boolean {
  return unsigned.length > 0 && (unsigned[unsigned.length - 1] & 1) === 1;
}

