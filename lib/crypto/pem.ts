/** RSA keys as PEM text: SPKI and PKCS#1 public keys, PKCS#1 and PKCS#8 private keys. */
import { Buffer } from "node:buffer";
import { encodeElement, readOnly, readSequence, TAG } from "./der.ts";

/** AlgorithmIdentifier { rsaEncryption, NULL } as DER. */
const RSA_ALGORITHM = Uint8Array.from([
  0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
]);
const MIN_MODULUS_BITS = 1024;
const MAX_MODULUS_BITS = 8192;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A parsed RSA public key. */
export interface RsaPublicKey {
  /** SubjectPublicKeyInfo DER, whatever PEM form it came in. */
  spki: Uint8Array<ArrayBuffer>;
  modulusBits: number;
}

/** Bytes as standard base64 (with padding). */
export function encodeBase64(bytes: Uint8Array | ArrayBuffer): string {
  return Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString("base64");
}

/** Strict standard base64 (with padding) to bytes, or null. */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> | null {
  return BASE64.test(text) ? new Uint8Array(Buffer.from(text, "base64")) : null;
}

/** Parses a `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1) PEM; throws TypeError for anything else. */
export function parsePublicKeyPem(text: string): RsaPublicKey {
  const { label, der } = parsePem(text);
  try {
    if (label === "PUBLIC KEY") return rsaPublicKey(spkiToPkcs1(der));
    if (label === "RSA PUBLIC KEY") return rsaPublicKey(der);
  } catch (cause) {
    throw new TypeError("not an RSA public key", { cause });
  }
  throw new TypeError(`not a public key: ${label}`);
}

/** Reads an unencrypted `RSA PRIVATE KEY` or `PRIVATE KEY` PEM: PKCS#8 for WebCrypto, SPKI of its public half. */
export function parsePrivateKeyPem(text: string): { pkcs8: Uint8Array<ArrayBuffer>; publicKey: RsaPublicKey } {
  const { label, der } = parsePem(text);
  if (label !== "RSA PRIVATE KEY" && label !== "PRIVATE KEY") throw new TypeError(`not a private key: ${label}`);
  try {
    const pkcs1 = label === "PRIVATE KEY" ? pkcs8ToPkcs1(der) : der;
    const [, modulus, exponent] = readSequence(readOnly(pkcs1, TAG.SEQUENCE), [TAG.INTEGER, TAG.INTEGER, TAG.INTEGER]);
    const publicKey = rsaPublicKey(
      encodeElement(TAG.SEQUENCE, encodeElement(TAG.INTEGER, modulus), encodeElement(TAG.INTEGER, exponent)),
    );
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

function parsePem(text: string): { label: string; der: Uint8Array<ArrayBuffer> } {
  const lines = text.replace(/\r\n/g, "\n").replace(/\n+$/, "").split("\n");
  const begin = /^-----BEGIN ([A-Z0-9 ]+)-----$/.exec(lines[0] ?? "");
  const label = begin?.[1];
  if (!label || lines.length < 3 || lines[lines.length - 1] !== `-----END ${label}-----`) {
    throw new TypeError("not PEM text");
  }
  // Encrypted legacy PEMs carry "Proc-Type:" headers, which are not base64 and fail here.
  const der = decodeBase64(lines.slice(1, -1).join(""));
  if (!der) throw new TypeError("PEM body is not base64");
  return { label, der };
}

function rsaPublicKey(pkcs1: Uint8Array): RsaPublicKey {
  const [modulus, exponent] = readSequence(readOnly(pkcs1, TAG.SEQUENCE), [TAG.INTEGER, TAG.INTEGER]);
  const modulusBits = integerBits(modulus);
  if (modulusBits < MIN_MODULUS_BITS || modulusBits > MAX_MODULUS_BITS) {
    throw new RangeError(`RSA modulus of ${modulusBits} bits; accepted sizes are ${MIN_MODULUS_BITS} to ${MAX_MODULUS_BITS} bits`);
  }
  if (integerBits(exponent) < 2 || (exponent[exponent.length - 1] & 1) === 0) throw new RangeError("bad RSA exponent");
  const bitString = encodeElement(TAG.BIT_STRING, Uint8Array.of(0), pkcs1);
  return { spki: encodeElement(TAG.SEQUENCE, RSA_ALGORITHM, bitString), modulusBits };
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

function integerBits(integer: Uint8Array): number {
  let i = 0;
  while (i < integer.length - 1 && integer[i] === 0) i++;
  if (integer[0] & 0x80) return 0; // negative
  return (integer.length - i - 1) * 8 + (32 - Math.clz32(integer[i]));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
