/** Turning request fields into an ownership claim, and a verified claim into a single-use mailbox grant. */
import type { RequestContext } from "../context.ts";
import { errors } from "../errors.ts";
import { type OwnershipClaim, verifyOwnership } from "../proof.ts";
import { TOLERANCE_SECONDS } from "../protocol-limits.ts";

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
 * Verifies present claim fields and, when the proof holds, spends it at once, whatever the request
 * goes on to do: the claimer's mailbox, or why the proof fails. Throws 401 replay_detected for a proof
 * already spent, 503 server_busy when the replay guard is full, 400 invalid_timestamp.
 */
export async function spendClaim(context: RequestContext, fields: ClaimFields): Promise<{ mailbox: string } | { problem: "stale" | "bad_signature" }> {
  const { relay } = context;
  const claim: OwnershipClaim = {
    pubkey: typeof fields.pubkey === "string" ? fields.pubkey : "",
    timestamp: parseTimestamp(fields.timestamp),
    signature: typeof fields.signature === "string" ? fields.signature : "",
  };
  const now = relay.clock();
  const verdict = await verifyOwnership(claim, { relayPubkey: relay.relayPubkey, now, toleranceSeconds: TOLERANCE_SECONDS, keys: relay.keys });
  if (!verdict.valid) {
    // Proofs from every client off by about the same: it is this machine's clock that is off.
    if (verdict.problem === "stale") {
      relay.metrics.staleProofs++;
      relay.logRepeated("proof_stale", "proof_stale", { endpoint: context.endpoint, skew_seconds: Math.round(claim.timestamp - now) });
    }
    return { problem: verdict.problem };
  }
  const use = await relay.replays.claim(verdict.proof, claim.timestamp + TOLERANCE_SECONDS, relay.clock());
  if (use === "full") throw errors.serverBusy();
  if (use === "replayed") throw errors.replayDetected();
  return { mailbox: verdict.proof.mailbox };
}

/** The mailbox the body's `pubkey`/`timestamp`/`signature` prove ownership of, spending the proof; throws 400/401 otherwise. */
export async function provenMailbox(context: RequestContext, body: Record<string, unknown>): Promise<string> {
  const fields = { pubkey: body.pubkey, timestamp: body.timestamp, signature: body.signature };
  if (anyMissing(Object.values(fields))) throw errors.missingFields();
  const proof = await spendClaim(context, fields);
  if ("mailbox" in proof) return proof.mailbox;
  throw proof.problem === "stale" ? errors.replayDetected() : errors.invalidSignature();
}
