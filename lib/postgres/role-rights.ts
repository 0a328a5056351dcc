/** The rights a relay's database role needs on the relay's tables and sequences (as scale-out.md lists them), checked at start. */
import type { Sql } from "./engine.ts";
import { RELAY_SEQUENCES, RELAY_TABLES } from "./schema.ts";

const NEEDED = [
  ...RELAY_TABLES.flatMap((name) => ["SELECT", "INSERT", "UPDATE", "DELETE"].map((privilege) => ({ name, privilege, sequence: false }))),
  ...RELAY_SEQUENCES.map((name) => ({ name, privilege: "USAGE", sequence: true })),
];

/**
 * What the connected role lacks of {@link NEEDED}, as "INSERT on rendezvous_batches"; empty when nothing.
 * Names resolve through the search path, as the relay's statements do. Without the check, a role missing
 * a right starts and then answers 500 every request that needs it.
 */
export async function missingRights(sql: Sql): Promise<string[]> {
  const rows = await sql.unsafe<{ missing: string }[]>(`
    SELECT n.privilege || ' on ' || n.name AS missing
    FROM (VALUES ${NEEDED.map(({ name, privilege, sequence }) => `('${name}', '${privilege}', ${sequence})`).join(", ")}) AS n(name, privilege, sequence)
    WHERE NOT CASE WHEN n.sequence THEN has_sequence_privilege(to_regclass(n.name), n.privilege)
                   ELSE has_table_privilege(to_regclass(n.name), n.privilege) END`);
  return rows.map((row) => row.missing);
}
