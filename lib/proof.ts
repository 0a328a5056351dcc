/** Ownership proofs: the canonical signed bytes and their RSA-PSS verification. No HTTP here. */
import { decodeBase64, encodeBase64 } from "./crypto/pem.ts";
import type { PublicKeyCache } from "./crypto/public-keys.ts";

const DOMAIN = "hivemind-rendezvous-v1";

/** What a client claims: "I own `pubkey`", signed at `timestamp` (Unix seconds). */
export interface OwnershipClaim {
  pubkey: string;
  timestamp: number;
  signature: string;
}

/**
 * A proof whose signature holds, as the replay guards name it: the same for every request that carries
 * it, whatever else differs. A signature that verifies has one spelling (its modulus's length, a number
 * below the modulus), so its bytes name the proof; its base64 does not (bits set before the padding
 * decode to the same bytes).
 */
export interface VerifiedProof {
  /** The claimer's mailbox. */
  mailbox: string;
  timestamp: number;
  signature: Uint8Array;
}

/** The outcome of checking a claim: the proof, when it holds. */
export type ProofVerdict =
  | { valid: true; proof: VerifiedProof }
  | { valid: false; problem: "stale" | "bad_signature" };

/** A proof's id as text, `mailbox timestamp base64(signature)`: what relays sharing a database name it by. */
export function proofIdText(proof: VerifiedProof): string {
  return `${proof.mailbox} ${proof.timestamp} ${encodeBase64(proof.signature)}`;
}

/** `domain 0x00 claimer 0x00 relay 0x00 timestamp` as UTF-8, exactly as the Python clients sign it. */
export function proofMessage(claimerPem: string, relayPem: string, timestamp: number): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${DOMAIN}\0${claimerPem}\0${relayPem}\0${timestamp}`);
}

/** Checks freshness first, then the signature, as the original relay did. */
export async function verifyOwnership(
  claim: OwnershipClaim,
  context: { relayPubkey: string; now: number; toleranceSeconds: number; keys: PublicKeyCache },
): Promise<ProofVerdict> {
  if (Math.abs(context.now - claim.timestamp) > context.toleranceSeconds) return { valid: false, problem: "stale" };
  const key = context.keys.lookup(claim.pubkey);
  const signature = decodeBase64(claim.signature);
  const valid = key && signature && await key.verify(signature, proofMessage(claim.pubkey, context.relayPubkey, claim.timestamp));
  if (!valid) return { valid: false, problem: "bad_signature" };
  return { valid: true, proof: { mailbox: key.mailbox, timestamp: claim.timestamp, signature } };
}
