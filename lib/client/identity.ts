/** The client's own key: the public PEM it claims and fresh, single-use ownership proofs for it. */
import { proofMessage } from "../proof.ts";
import type { Proof } from "./http.ts";
import { publicPemOf } from "../crypto/pem.ts";
import { PSS } from "../crypto/rsa-params.ts";
import { importPrivateKey, signBase64 } from "./keys.ts";

/** A private key ready to prove ownership of its public half. */
export interface ClientIdentity {
  /** The public key it proves ownership of, as its proofs spell it. */
  publicPem: string;
  /** A new proof for `relayPem` (each one is single-use at the relay). */
  prove(relayPem: string, now?: number): Promise<Proof>;
}

/** An ownership proof's signature: RSA-PSS SHA-256 salt 32 over the canonical bytes, as base64. */
export function signProof(signingKey: CryptoKey, claimerPem: string, relayPem: string, timestamp: number): Promise<string> {
  return signBase64(signingKey, proofMessage(claimerPem, relayPem, timestamp));
}

/** Reads a private key PEM (PKCS#1 or PKCS#8); throws TypeError when it is not one. */
export async function loadIdentity(privatePem: string): Promise<ClientIdentity> {
  const publicPem = publicPemOf(privatePem);
  const signingKey = await importPrivateKey(privatePem, PSS);
  return {
    publicPem,
    async prove(relayPem, now = Date.now() / 1000) {
      const timestamp = Math.floor(now);
      return { pubkey: publicPem, timestamp, signature: await signProof(signingKey, publicPem, relayPem, timestamp) };
    },
  };
}
