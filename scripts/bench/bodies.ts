/** Request bodies: 1 KiB INTERCOM deposits and signed ownership proofs. */
import { createHash, randomBytes } from "node:crypto";
import { signProof } from "../../lib/client/identity.ts";
import type { ClientKey } from "./keys.ts";

/** A HiveMessage JSON string of exactly `bytes` characters: an INTERCOM addressed to `targetPem`. */
export function intercomPayload(targetPem: string, bytes = 1024): string {
  const fingerprint = createHash("sha256").update(targetPem).digest("base64");
  const envelope = (ciphertext: string) =>
    JSON.stringify({ msg_type: "intercom", payload: { recipient_fingerprint: fingerprint, ciphertext }, metadata: {}, route: [], node: null, source_peer: null });
  const room = bytes - envelope("").length;
  return envelope(randomBytes(room).toString("base64").slice(0, room));
}

/** `count` deposit bodies, round-robin over `targets`. */
export function depositBodies(targets: ClientKey[], count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const target = targets[i % targets.length];
    return JSON.stringify({ payload: intercomPayload(target.pem), target_pubkey: target.pem });
  });
}

/** A proof body signed by `key` for `relayPem` at `timestamp`, with `extra` fields. */
export async function proofBody(key: ClientKey, relayPem: string, timestamp: number, extra: Record<string, unknown> = {}): Promise<string> {
  const signature = await signProof(key.signKey, key.pem, relayPem, timestamp);
  return JSON.stringify({ pubkey: key.pem, timestamp, signature, ...extra });
}

/** `count` distinct proof bodies, round-robin over `keys` (RSA-PSS signatures are randomized). */
export async function proofBodies(keys: ClientKey[], relayPem: string, count: number, timestamp: number): Promise<string[]> {
  const bodies: string[] = new Array(count);
  const CHUNK = 512;
  for (let start = 0; start < count; start += CHUNK) {
    await Promise.all(Array.from({ length: Math.min(CHUNK, count - start) }, async (_, i) => {
      bodies[start + i] = await proofBody(keys[(start + i) % keys.length], relayPem, timestamp);
    }));
  }
  return bodies;
}

/** The relay's key text, as every proof must bind it. */
export async function fetchRelayPem(url: string): Promise<string> {
  const { pubkey } = await (await fetch(`${url}/pubkey`)).json() as { pubkey: string };
  return pubkey;
}
