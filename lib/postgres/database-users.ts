/**
 * Who uses a database, recorded in rendezvous_facts: the relays, by the one key they all serve (the first
 * to start records it, the others must match it), and a copy into it that has not finished (recorded as
 * it starts, removed once every message is in). Relays refuse a database holding part of a copy: served
 * part-way, they would record their key and the copy could not be run again. A copy's start and a
 * relay's each check and record under one lock, so that neither slips past the other.
 */
import type postgres from "postgres";
import { publicKeyFingerprint } from "../crypto/fingerprint.ts";
import type { Engine, Sql } from "./engine.ts";

/** An instance that may not serve this database: its key differs from the one the others serve, or a copy into it has not finished. */
export class ServingRefused extends Error {
  override name = "ServingRefused";
}

/** Takes the lock under which copies and relays check and record their use of the database, until `tx` ends (class 5, see schema.ts). */
async function lockDatabaseUse(tx: postgres.TransactionSql): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(5, hashtext(current_schema()))`;
}

/** What an unfinished copy into this database copies from (no password), or null when there is none. */
export async function unfinishedCopyFrom(sql: Sql | postgres.TransactionSql): Promise<string | null> {
  const [row] = await sql`SELECT value FROM rendezvous_facts WHERE name = 'copy_unfinished'`;
  return row?.value ?? null;
}

/** The start of the key's fingerprint as the started log line (relay_key_sha256) and the status page give it. */
const fingerprint = (pem: string) => pem === "" ? "keyless" : `sha256 ${publicKeyFingerprint(pem).slice(0, 16)}…`;

/**
 * Records `pubkey` (a PEM, or "" for a keyless relay) as the key of every relay on this database, unless
 * one is recorded already; throws ServingRefused when the recorded one differs, or while a copy into
 * the database has not finished.
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

/**
 * Records a copy from `from` (no password) as started, unless a relay has started on the database (its
 * key is recorded): "served" then. `earlier`: an unfinished copy was recorded already.
 */
export async function startCopy(engine: Engine, from: string): Promise<"served" | { earlier: boolean }> {
  // Tried again while the engine cannot be reached: a commit whose answer was lost only makes `earlier` true.
  return await engine.run("copy_marker", (sql) => sql.begin(async (tx) => {
    await lockDatabaseUse(tx);
    const [served] = await tx`SELECT 1 FROM rendezvous_facts WHERE name = 'relay_pubkey'`;
    if (served) return "served" as const;
    const earlier = await unfinishedCopyFrom(tx) !== null;
    await tx`INSERT INTO rendezvous_facts (name, value) VALUES ('copy_unfinished', ${from}) ON CONFLICT (name) DO UPDATE SET value = excluded.value`;
    return { earlier };
  }), true);
}

/** Records the copy as finished. */
export async function markCopyFinished(engine: Engine): Promise<void> {
  await engine.run("copy_marker", (sql) => sql`DELETE FROM rendezvous_facts WHERE name = 'copy_unfinished'`, true);
}
