/**
 * A copy into the database that has not finished: `copy` records what it copies from as it starts and
 * removes the record once every message is in, and a relay refuses to start while it is there (served
 * part-way, the relays would record their key and the copy could not be run again).
 */
import type { Engine } from "./engine.ts";

/** What `copy` copies from (no password), or null when no copy into this database is unfinished. */
export async function unfinishedCopyFrom(engine: Engine): Promise<string | null> {
  const [row] = await engine.run("copy_marker", (sql) => sql`SELECT value FROM rendezvous_facts WHERE name = 'copy_unfinished'`, true);
  return row?.value ?? null;
}

/** Records a copy from `from` (no password) as started. */
export async function markCopyStarted(engine: Engine, from: string): Promise<void> {
  await engine.run("copy_marker", (sql) => sql`
    INSERT INTO rendezvous_facts (name, value) VALUES ('copy_unfinished', ${from})
    ON CONFLICT (name) DO UPDATE SET value = excluded.value`, true);
}

/** Records the copy as finished. */
export async function markCopyFinished(engine: Engine): Promise<void> {
  await engine.run("copy_marker", (sql) => sql`DELETE FROM rendezvous_facts WHERE name = 'copy_unfinished'`, true);
}
