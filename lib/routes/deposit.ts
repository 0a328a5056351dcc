/** POST /deposit: check a message for a mailbox and store it durably. */
import type { RequestContext } from "../context.ts";
import { pemDigest } from "../crypto/fingerprint.ts";
import { errors, jsonResponse } from "../errors.ts";
import { checkIntercom, type EnvelopeProblem } from "../hive-message.ts";
import { MAX_TTL_SECONDS } from "../protocol-limits.ts";
import { anyMissing, spendClaim } from "./ownership.ts";
import { limitRate } from "./rate-limit.ts";

const envelopeErrors: Record<EnvelopeProblem, () => Error> = {
  not_a_hive_message: errors.invalidPayload,
  not_intercom: errors.payloadMustBeIntercom,
  fingerprint_not_base64: errors.invalidRecipientFingerprint,
  fingerprint_mismatch: errors.recipientFingerprintMismatch,
};

/** Seconds to keep a message: a positive number (truncated) or digit string, capped at 7 days. */
export function parseTtl(value: unknown): number {
  if (value === undefined) return MAX_TTL_SECONDS;
  const number = typeof value === "string" && /^\d{1,20}$/.test(value) ? Number(value) : value;
  if (typeof number !== "number" || !(Math.trunc(number) >= 1)) throw errors.invalidTtl();
  return Math.min(Math.trunc(number), MAX_TTL_SECONDS);
}

/** Checks run in the order of the wire contract; the first failing one answers. */
export async function deposit(context: RequestContext): Promise<Response> {
  const { relay } = context;
  await limitRate(context, relay.depositLimiter);
  const body = await context.body();
  const ttl = parseTtl(body.ttl);
  const { payload, target_pubkey: target } = body;
  if (anyMissing([payload, target])) throw errors.missingFields();
  const depositor = { pubkey: body.depositor_pubkey, timestamp: body.depositor_timestamp, signature: body.depositor_signature };
  const depositorMissing = anyMissing(Object.values(depositor));
  if (relay.config.requireDepositorProof && depositorMissing) throw errors.depositorProofRequired();
  // A depositor proof that verifies is spent here, whatever happens after: it also opens the depositor's own mailbox.
  const depositorProof = depositorMissing ? null : await spendClaim(context, depositor);
  if (depositorProof && "problem" in depositorProof) throw errors.invalidDepositorSignature(); // stale or wrong alike
  if (typeof payload !== "string") throw errors.invalidPayload();
  if (typeof target !== "string") throw errors.invalidTargetPubkey();
  const key = relay.keys.lookup(target);
  const problem = checkIntercom(payload, key?.pemDigest ?? pemDigest(target));
  if (problem) throw envelopeErrors[problem]();
  if (!key) throw errors.invalidTargetPubkey();
  const depositId = await relay.store.deposit(key.mailbox, payload, Math.floor(relay.clock()) + ttl);
  relay.metrics.countDeposit();
  return jsonResponse({ status: "ok", deposit_id: depositId });
}
