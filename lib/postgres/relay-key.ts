/** One relay key for every instance on a database: the first instance records its public key, the others must match it. */
import { publicKeyFingerprint } from "../crypto/fingerprint.ts";
import type { Engine } from "./engine.ts";

/** An instance whose key differs from the one its database's other instances serve. */
export class RelayKeyMismatch extends Error {
  override name = "RelayKeyMismatch";
}

/** The start of the key's fingerprint as the started log line (relay_key_sha256) and the status page give it. */
const fingerprint = (pem: string) => pem === "" ? "keyless" : `sha256 ${publicKeyFingerprint(pem).slice(0, 16)}…`;

/** Whether a relay has started on this database: it records its key there (see {@link agreeOnRelayKey}). */
export async function servedByRelays(engine: Engine): Promise<boolean> {
  const rows = await engine.run("relay_key", (sql) => sql`SELECT 1 FROM rendezvous_facts WHERE name = 'relay_pubkey'`, true);
  return rows.length > 0;
}

/**
 * Records `pubkey` (a PEM, or "" for a keyless relay) as the key of every relay on this database,
 * unless one is recorded already; throws RelayKeyMismatch when the recorded one differs.
 */
export async function agreeOnRelayKey(engine: Engine, pubkey: string): Promise<void> {
  let recorded: string | undefined;
  // A statement that lost the race to record the key cannot see the winner's row yet; the next one can.
  while (recorded === undefined) {
    const [row] = await engine.run("relay_key", (sql) => sql`
      WITH mine AS (INSERT INTO rendezvous_facts (name, value) VALUES ('relay_pubkey', ${pubkey}) ON CONFLICT DO NOTHING RETURNING value)
      SELECT value FROM mine UNION ALL SELECT value FROM rendezvous_facts WHERE name = 'relay_pubkey'`);
    recorded = row?.value;
  }
  if (recorded !== pubkey) {
    throw new RelayKeyMismatch(
      `this relay's key (${fingerprint(pubkey)}) differs from the one the other relays on this database serve (${fingerprint(recorded)}): give every relay the same --node-key`,
    );
  }
}
