/** What this runtime's WebCrypto can verify RSA-PSS signatures with, found out once by asking it. */
import { rsaPublicKeyOf } from "./pem.ts";
import { PSS, PSS_PARAMS } from "./rsa-params.ts";

const SMALLEST_MODULUS_BITS = 1024;
const LARGEST_MODULUS_BITS = 8192;

/**
 * The largest RSA modulus, in bits (1024–8192), this runtime verifies signatures with: 8192 on Bun
 * (BoringSSL), 4096 on Deno (RustCrypto's rsa, which imports larger keys but refuses to verify with them).
 */
export const MAX_VERIFIABLE_MODULUS_BITS = await largestVerifiableModulus();

async function largestVerifiableModulus(): Promise<number> {
  if (await verifiesWith(LARGEST_MODULUS_BITS)) return LARGEST_MODULUS_BITS;
  let [low, high] = [SMALLEST_MODULUS_BITS, LARGEST_MODULUS_BITS - 1]; // verifiesWith(low) is assumed
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (await verifiesWith(middle)) low = middle;
    else high = middle - 1;
  }
  return low;
}

/** True when a key of `bits` bits imports and checks a signature (here a wrong one) without an error. */
async function verifiesWith(bits: number): Promise<boolean> {
  const modulus = new Uint8Array(Math.ceil(bits / 8)).fill(0xff); // 2^bits − 1: odd, exactly `bits` bits
  modulus[0] = 0xff >> (8 * modulus.length - bits);
  const { spki } = rsaPublicKeyOf(modulus[0] & 0x80 ? Uint8Array.of(0, ...modulus) : modulus, Uint8Array.of(1, 0, 1));
  try {
    const key = await crypto.subtle.importKey("spki", spki, PSS, false, ["verify"]);
    await crypto.subtle.verify(PSS_PARAMS, key, new Uint8Array(modulus.length), new Uint8Array(0));
    return true;
  } catch {
    return false;
  }
}
