/** RSA key generation, for the relay's own key and the client's keygen alike. */
import { PSS } from "./rsa-params.ts";

/** A fresh RSA-2048 keypair (e = 65537) as DER: the SPKI public key and the PKCS#8 private key. */
export async function generateRsaKeyPair(): Promise<{ spki: Uint8Array; pkcs8: Uint8Array }> {
  const keys = await crypto.subtle.generateKey(
    { ...PSS, modulusLength: 2048, publicExponent: Uint8Array.of(1, 0, 1) },
    true,
    ["sign", "verify"],
  );
  return {
    spki: new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey)),
    pkcs8: new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
  };
}
