/**
 * A copy into the database that has not finished: `copy` records what it copies from as it starts and
 * removes the record once every message is in, and a relay refuses to start while it is there (served
 * part-way, the relays would record their key and the copy could not be run again). A copy's start and
 * a relay's (see relay-key.ts) each check and record under one lock, so that neither slips past the other.
 */
import type postgres from "postgres";
import type { Engine, Sql } from "./engine.ts";

/**
 * Takes the lock under which `copy` and relays check and record their use of the database, until `tx`
 * ends (advisory lock class 5: see schema.ts for the others).
 */
export async function lockDatabaseUse(tx: postgres.TransactionSql): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(5, hashtext(current_schema()))`;
}

/** What an unfinished copy into this database copies from (no password), or null when there is none. */
export async function unfinishedCopyFrom(sql: Sql | postgres.TransactionSql): Promise<string | null> {
  const [row] = await sql`SELECT value FROM rendezvous_facts WHERE name = 'copy_unfinished'`;
  return row?.value ?? null;
}

/**
 * Records a copy from `from` (no password) as started, unless a relay has started on the database (it
 * records its key there): "served" then. `earlier`: an unfinished copy was recorded already.
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
