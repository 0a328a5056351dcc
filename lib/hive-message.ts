/** What the relay checks of a deposited HiveMessage: an INTERCOM envelope, addressed to the target key. */
import type { PemDigest } from "./crypto/fingerprint.ts";
import { decodeBase64 } from "./crypto/pem.ts";

/** The message types HiveMind's bus knows; anything else is not a HiveMessage. */
const KNOWN_TYPES = new Set([
  "shake", "bus", "shared_bus", "intercom", "broadcast", "propagate",
  "escalate", "hello", "query", "cascade", "ping", "rendezvous", "bin",
]);

/** Why a deposited payload is refused. */
export type EnvelopeProblem =
  | "not_a_hive_message"
  | "not_intercom"
  | "fingerprint_not_base64"
  | "fingerprint_mismatch";

/**
 * Checks that `payload` is a serialised INTERCOM HiveMessage and, when its envelope names a
 * `recipient_fingerprint`, that it is `targetPemDigest` (SHA-256 of the exact target PEM text). Null when it passes.
 */
export function checkIntercom(payload: string, targetPemDigest: PemDigest): EnvelopeProblem | null {
  let message: unknown;
  try {
    message = JSON.parse(payload);
  } catch {
    return "not_a_hive_message";
  }
  if (!isObject(message) || !KNOWN_TYPES.has(message.msg_type as string) || !isObject(message.payload)) {
    return "not_a_hive_message";
  }
  if (message.msg_type !== "intercom") return "not_intercom";
  const envelope = message.payload;
  if (!("recipient_fingerprint" in envelope)) return null;
  const named = envelope.recipient_fingerprint;
  if (named === targetPemDigest.base64) return null; // as clients spell it: no decoding needed
  const fingerprint = typeof named === "string" ? decodeBase64(named) : null;
  if (!fingerprint) return "fingerprint_not_base64";
  return targetPemDigest.bytes.equals(fingerprint) ? null : "fingerprint_mismatch";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
