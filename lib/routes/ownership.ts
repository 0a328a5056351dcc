/** Turning request fields into an ownership claim, and a verified claim into a single-use mailbox grant. */
import type { RequestContext } from "../context.ts";
import { errors } from "../errors.ts";
import { type OwnershipClaim, type ProofVerdict, verifyOwnership } from "../proof.ts";

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

/**
 * Verifies present claim fields and marks the proof used. Resolves with the verdict; a proof
 * already used in its window comes back as `replayed`.
 */
export async function checkClaim(
  context: RequestContext,
  fields: ClaimFields,
): Promise<ProofVerdict | { valid: false; problem: "replayed" }> {
  const { relay } = context;
  const claim: OwnershipClaim = {
    pubkey: typeof fields.pubkey === "string" ? fields.pubkey : "",
    timestamp: parseTimestamp(fields.timestamp),
    signature: typeof fields.signature === "string" ? fields.signature : "",
  };
  const now = relay.clock();
  const verdict = await verifyOwnership(claim, {
    relayPubkey: relay.relayPubkey,
    now,
    toleranceSeconds: TOLERANCE_SECONDS,
    keys: relay.keys,
  });
  if (!verdict.valid) return verdict;
  const use = relay.replays.claim(verdict.proofId, claim.timestamp + TOLERANCE_SECONDS, now);
  if (use === "full") throw errors.serverBusy();
  return use === "fresh" ? verdict : { valid: false, problem: "replayed" };
}

/** The mailbox the body's `pubkey`/`timestamp`/`signature` prove ownership of; throws 400/401 otherwise. */
export async function provenMailbox(context: RequestContext, body: Record<string, unknown>): Promise<string> {
  const fields = { pubkey: body.pubkey, timestamp: body.timestamp, signature: body.signature };
  if (anyMissing(Object.values(fields))) throw errors.missingFields();
  const verdict = await checkClaim(context, fields);
  if (verdict.valid) return verdict.mailbox;
  throw verdict.problem === "bad_signature" ? errors.invalidSignature() : errors.replayDetected();
}
