/** Public key texts built by hand, canonical or not, for tests of what the relay accepts. */
import { toPem } from "../lib/crypto/pem.ts";
import { PSS } from "../lib/crypto/rsa-params.ts";

/** One DER element; `longForm` spells a short length in the long form, as DER forbids. */
export function element(tag: number, content: Uint8Array, longForm = false): Uint8Array {
  const length = content.length;
  const lengthBytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest % 256);
  const header = length < 0x80 && !longForm ? [tag, length] : [tag, 0x80 | lengthBytes.length, ...lengthBytes];
  return Uint8Array.from([...header, ...content]);
}

export const sequence = (...parts: Uint8Array[]) => element(0x30, Uint8Array.from(parts.flatMap((part) => [...part])));
/** A positive INTEGER in its minimal encoding, from an unsigned big-endian magnitude. */
export const integer = (magnitude: Uint8Array) => element(0x02, magnitude[0] & 0x80 ? Uint8Array.of(0, ...magnitude) : magnitude);
export const RSA_OID = element(0x06, Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01));
export const NULL = Uint8Array.of(0x05, 0x00);
/** The exponent 65537. */
export const F4 = Uint8Array.of(1, 0, 1);

/** A `PUBLIC KEY` PEM wrapping RSAPublicKey DER `pkcs1` (rsaEncryption with NULL unless `algorithm` is given). */
export function spkiPem(pkcs1: Uint8Array, algorithm = sequence(RSA_OID, NULL)): string {
  return toPem("PUBLIC KEY", sequence(algorithm, element(0x03, Uint8Array.of(0, ...pkcs1))));
}

/** The modulus of a public key PEM, unsigned big-endian, as the runtime's WebCrypto reads it. */
export async function modulusOf(pem: string): Promise<Buffer> {
  const spki = Buffer.from(pem.split("\n").slice(1, -1).join(""), "base64");
  const key = await crypto.subtle.importKey("spki", spki, PSS, true, ["verify"]);
  return Buffer.from((await crypto.subtle.exportKey("jwk", key)).n!, "base64url");
}

/** 2^bits − 1: odd, exactly `bits` bits. */
export function modulusOfBits(bits: number): Uint8Array {
  const bytes = new Uint8Array(Math.ceil(bits / 8)).fill(0xff);
  bytes[0] = 0xff >> (8 * bytes.length - bits);
  return bytes;
}

/** A big-endian unsigned number. */
export function bigIntOf(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).toString("hex") || "0"}`);
}

/** `value` as big-endian bytes: `length` of them, or as few as it takes. */
export function bytesOf(value: bigint, length = Math.ceil(value.toString(16).length / 2)): Uint8Array {
  return Uint8Array.from(Buffer.from(value.toString(16).padStart(length * 2, "0"), "hex"));
}
