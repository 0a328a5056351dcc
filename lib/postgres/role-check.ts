/**
 * The client's check of a server's role, made safe. With `target_session_attrs` (a multi-host URL that
 * follows a failover), postgres 3.4.9 reads a new connection's role from the `in_hot_standby` and
 * `default_transaction_read_only` the server reports at login; where it reports neither (PostgreSQL
 * before 14, or a pooler in front), the client asks `show transaction_read_only; select
 * pg_catalog.pg_is_in_recovery()` by a query it starts with `execute()` and never awaits
 * (connection.js, fetchState). When the connection drops during that query:
 * - the query's promise rejects with no one to observe it, which ends a relay under Deno;
 * - the client keeps it as the connection's query and hands it the first answer of the next
 *   connection (an empty result), on which its answer handler throws: every later query on that
 *   connection fails with a TypeError (500 storage_error), after the connect timeout each time.
 * This relies on client internals: the check is a Query (the class of `sql\`…\`` results) whose
 * statement names pg_catalog.pg_is_in_recovery(), started by `execute()` after its own `resolve` is
 * set. test/postgres-role-check.test.ts and the failover test in test/scale-out.test.ts fail when
 * that no longer holds; drop this file when the client awaits its check and forgets it on a drop.
 */
import type postgres from "postgres";

/** The client's Query, as much of it as the role check uses. */
interface ClientQuery {
  strings: readonly string[];
  resolve(answer: unknown[]): void;
  catch(onRejected: () => void): unknown;
  execute(): unknown;
}

/** What tells the role check from other queries: the client's own statement. */
const ROLE_CHECK = "pg_catalog.pg_is_in_recovery()";

let guarded = false;

/**
 * Makes every role check of the client safe (once per process, for every pool): its rejection is
 * observed here (it is the client's, no request waits on it: the request's own query fails by itself),
 * and an answer that is not its two results (the next connection's, after a drop) is ignored, so the
 * client asks the new connection again.
 */
export function guardRoleChecks(sql: postgres.Sql): void {
  if (guarded) return;
  guarded = true;
  const queryPrototype = Object.getPrototypeOf(sql`SELECT 1`) as ClientQuery;
  const execute = queryPrototype.execute;
  queryPrototype.execute = function (this: ClientQuery) {
    if (this.strings.some((text) => text.includes(ROLE_CHECK))) {
      const resolve = this.resolve;
      this.resolve = (answer) => answer.length === 2 && resolve(answer);
      this.catch(() => {});
    }
    return execute.call(this);
  };
}
