/** Turning request fields into an ownership claim, and a verified claim into a single-use mailbox grant. */
import type { RequestContext } from "../context.ts";
import { errors } from "../errors.ts";
import { type OwnershipClaim, verifyOwnership } from "../proof.ts";

export const TOLERANCE_SECONDS = 60;

/** Proof field values as received; null or "" count as absent, as they did for the Python relay. */
export type ClaimFields = { pubkey: unknown; timestamp: unknown; signature: unknown };

/** True when any value is absent. */
export function anyMissing(values: unknown[]): boolean {
  return values.some((value) => value === undefined || value === null || value === "");
}

/** Integer Unix seconds from a JSON number or a digit string; throws 400 invalid_timestamp otherwise. */
export function parseTimestamp(value: unknown): number {
  const number = typeof value === "string" && /^\d{1,15}$/.test(value) ? Number(value) : value;
  if (typeof number !== "number" || !Number.isSafeInteger(number)) throw errors.invalidTimestamp();
  return number;
}

/** A proof that verified and is not yet spent. */
export interface VerifiedProof {
  mailbox: string;
  proofId: string;
  /** When the proof stops being fresh (Unix seconds); it must stay single-use until then. */
  freshUntil: number;
}

/** Verifies present claim fields, without spending the proof: the proof, or why it fails. */
export async function verifyClaim(context: RequestContext, fields: ClaimFields): Promise<VerifiedProof | "stale" | "bad_signature"> {
  const { relay } = context;
  const claim: OwnershipClaim = {
    pubkey: typeof fields.pubkey === "string" ? fields.pubkey : "",
    timestamp: parseTimestamp(fields.timestamp),
    signature: typeof fields.signature === "string" ? fields.signature : "",
  };
  const verdict = await verifyOwnership(claim, {
    relayPubkey: relay.relayPubkey,
    now: relay.clock(),
    toleranceSeconds: TOLERANCE_SECONDS,
    keys: relay.keys,
  });
  if (!verdict.valid) return verdict.problem;
  return { mailbox: verdict.mailbox, proofId: verdict.proofId, freshUntil: claim.timestamp + TOLERANCE_SECONDS };
}

/** Marks a verified proof used; throws 401 replay_detected if it already was, 503 when the guard is full. */
export async function spendProof(context: RequestContext, proof: VerifiedProof): Promise<void> {
  const use = await context.relay.replays.claim(proof.proofId, proof.freshUntil, context.relay.clock());
  if (use === "full") throw errors.serverBusy();
  if (use === "replayed") throw errors.replayDetected();
}

/** The mailbox the body's `pubkey`/`timestamp`/`signature` prove ownership of, spending the proof; throws 400/401 otherwise. */
export async function provenMailbox(context: RequestContext, body: Record<string, unknown>): Promise<string> {
  const fields = { pubkey: body.pubkey, timestamp: body.timestamp, signature: body.signature };
  if (anyMissing(Object.values(fields))) throw errors.missingFields();
  const proof = await verifyClaim(context, fields);
  if (proof === "stale") throw errors.replayDetected();
  if (proof === "bad_signature") throw errors.invalidSignature();
  await spendProof(context, proof);
  return proof.mailbox;
}
