/** RSA key material for the client: generation, PEM forms as Python HiveMind writes them, WebCrypto imports. */
import { encodeBase64, parsePrivateKeyPem, parsePublicKeyPem, pkcs8ToPkcs1, toPem } from "../crypto/pem.ts";
import { sha256 } from "../crypto/public-keys.ts";
import { type OAEP, PSS, PSS_PARAMS } from "../crypto/rsa-params.ts";

/** A keypair as PEM text: SPKI public key and PKCS#1 private key, no trailing newline. */
export interface PemKeyPair {
  publicPem: string;
  privatePem: string;
}

/** A fresh RSA-2048 keypair, e = 65537. */
export async function generateKeyPair(): Promise<PemKeyPair> {
  const keys = await crypto.subtle.generateKey(
    { ...PSS, modulusLength: 2048, publicExponent: Uint8Array.of(1, 0, 1) },
    true,
    ["sign", "verify"],
  );
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { publicPem: toPem("PUBLIC KEY", spki), privatePem: toPem("RSA PRIVATE KEY", pkcs8ToPkcs1(pkcs8)) };
}

/**
 * A public key's fingerprint: `sha256:` and the hex SHA-256 of its SPKI DER (the relay's mailbox id),
 * the same for its SPKI and PKCS#1 texts; `openssl pkey -pubin -outform DER | sha256sum` prints it too.
 */
export function keyFingerprint(publicPem: string): string {
  return `sha256:${sha256(parsePublicKeyPem(publicPem).spki).toString("hex")}`;
}

/** Imports a private key PEM (PKCS#1 or PKCS#8) for decrypting or signing. */
export function importPrivateKey(pem: string, algorithm: typeof OAEP | typeof PSS): Promise<CryptoKey> {
  const usage = algorithm.name === "RSA-OAEP" ? "decrypt" : "sign";
  return crypto.subtle.importKey("pkcs8", parsePrivateKeyPem(pem).pkcs8, algorithm, false, [usage]);
}

/** Imports a public key PEM (SPKI or PKCS#1) for encrypting or verifying. */
export function importPublicKey(pem: string, algorithm: typeof OAEP | typeof PSS): Promise<CryptoKey> {
  const usage = algorithm.name === "RSA-OAEP" ? "encrypt" : "verify";
  return crypto.subtle.importKey("spki", parsePublicKeyPem(pem).spki, algorithm, false, [usage]);
}

/** RSA-PSS SHA-256 salt 32 signature of `message`, as standard base64. */
export async function signBase64(signingKey: CryptoKey, message: Uint8Array<ArrayBuffer>): Promise<string> {
  return encodeBase64(await crypto.subtle.sign(PSS_PARAMS, signingKey, message));
}
