/** The rights a relay's database role needs on the relay's tables and sequences (as scale-out.md lists them), checked at start. */
import type { Sql } from "./engine.ts";

/**
 * What the connected role lacks on the relay's tables (SELECT, INSERT, UPDATE, DELETE) and sequences
 * (USAGE) in its schema, as "INSERT on rendezvous_batches"; empty when nothing. Without the check, a
 * role missing one starts and then answers every request that needs it 500.
 */
export async function missingRights(sql: Sql): Promise<string[]> {
  const rows = await sql<{ name: string; privilege: string }[]>`
    SELECT c.relname AS name, p.privilege
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
    CROSS JOIN LATERAL unnest(CASE c.relkind WHEN 'S' THEN ARRAY['USAGE'] ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'] END) AS p(privilege)
    WHERE c.relkind IN ('r', 'S') AND c.relname LIKE 'rendezvous\\_%'
      AND NOT CASE c.relkind WHEN 'S' THEN has_sequence_privilege(c.oid, p.privilege) ELSE has_table_privilege(c.oid, p.privilege) END
    ORDER BY c.relname, p.privilege`;
  return rows.map((row) => `${row.privilege} on ${row.name}`);
}
