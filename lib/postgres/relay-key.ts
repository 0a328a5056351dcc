/** One relay key for every instance on a database: the first instance records its public key, the others must match it. */
import { publicKeyFingerprint } from "../crypto/fingerprint.ts";
import { lockDatabaseUse, unfinishedCopyFrom } from "./copy-marker.ts";
import type { Engine } from "./engine.ts";

/** An instance that may not serve this database: its key differs from the one the others serve, or a copy into it has not finished. */
export class ServingRefused extends Error {
  override name = "ServingRefused";
}

/** The start of the key's fingerprint as the started log line (relay_key_sha256) and the status page give it. */
const fingerprint = (pem: string) => pem === "" ? "keyless" : `sha256 ${publicKeyFingerprint(pem).slice(0, 16)}…`;

/**
 * Records `pubkey` (a PEM, or "" for a keyless relay) as the key of every relay on this database, unless
 * one is recorded already; throws ServingRefused when the recorded one differs, or while a copy into
 * the database has not finished (checked under the lock a copy's start takes, see copy-marker.ts).
 */
export async function agreeOnRelayKey(engine: Engine, pubkey: string): Promise<void> {
  const found = await engine.run("relay_key", (sql) => sql.begin(async (tx) => {
    await lockDatabaseUse(tx);
    const copiedFrom = await unfinishedCopyFrom(tx);
    if (copiedFrom !== null) return { copiedFrom };
    // A relay of an earlier release records its key without the lock: a statement that lost the race to it
    // cannot see its row yet; the next one can.
    for (;;) {
      const [row] = await tx`
        WITH mine AS (INSERT INTO rendezvous_facts (name, value) VALUES ('relay_pubkey', ${pubkey}) ON CONFLICT DO NOTHING RETURNING value)
        SELECT value FROM mine UNION ALL SELECT value FROM rendezvous_facts WHERE name = 'relay_pubkey'`;
      if (row) return { recorded: row.value as string };
    }
  }));
  if ("copiedFrom" in found) {
    throw new ServingRefused(
      `the database holds part of a copy from ${found.copiedFrom} that did not finish: run the copy again (it skips what is there), ` +
        "or DELETE FROM rendezvous_facts WHERE name = 'copy_unfinished' to serve only what it holds",
    );
  }
  if (found.recorded !== pubkey) {
    throw new ServingRefused(
      `this relay's key (${fingerprint(pubkey)}) differs from the one the other relays on this database serve (${fingerprint(found.recorded)}): give every relay the same --node-key`,
    );
  }
}
