/** The HiveMessages the client writes and reads, serialised as Python HiveMind serialises them. */
import { type JsonValue, pythonJson } from "./python-json.ts";

/** A serialised HiveMessage with the fields and key order of Python's HiveMessage.serialize(). */
function hiveMessage(msgType: string, payload: JsonValue, targetPubkey: string | null = null): string {
  return pythonJson({
    msg_type: msgType,
    payload,
    metadata: {},
    route: [],
    node: null,
    target_site_id: null,
    target_pubkey: targetPubkey,
    source_peer: null,
  });
}

/** The inner BUS message a receiving node speaks: `{"type": "speak", "data": {"utterance": …}}`. */
export function speakMessage(utterance: string): string {
  return hiveMessage("bus", { type: "speak", data: { utterance }, context: {} });
}

/** The outer INTERCOM message carrying `envelope` to `recipientPem`. */
export function intercomMessage(envelope: Record<string, string>, recipientPem: string): string {
  return hiveMessage("intercom", envelope, recipientPem);
}

/** The envelope inside a deposited INTERCOM payload string; throws an Error when it is none. */
export function envelopeOf(payload: string): Record<string, unknown> {
  let message: unknown;
  try {
    message = JSON.parse(payload);
  } catch {
    throw new Error("the payload is not JSON");
  }
  const { msg_type: type, payload: envelope } = (message ?? {}) as Record<string, unknown>;
  if (type !== "intercom") throw new Error("the payload is not an INTERCOM message");
  if (typeof envelope !== "object" || envelope === null || Array.isArray(envelope)) {
    throw new Error("the INTERCOM message carries no envelope");
  }
  return envelope as Record<string, unknown>;
}
