/**
 * The client's check of a server's role on a multi-host URL (target_session_attrs), where the server
 * does not report it at login (PostgreSQL before 14, a pooler): a connection cut during that check
 * leaves no broken connection behind and no unhandled rejection (see lib/postgres/role-check.ts).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Engine } from "../lib/postgres/engine.ts";
import { clusterForThisFile, postgresInstalled } from "./postgres-cluster.ts";
import { type RoleHidingProxy, roleHidingProxy } from "./postgres-proxy.ts";

const installed = postgresInstalled();
let engine: Engine | undefined;
let proxy: RoleHidingProxy | undefined;
// Registered before the cluster's own hooks, so the engine lets go while the cluster still runs.
afterAll(async () => {
  await engine?.close(0);
  await proxy?.close();
}, 30_000);
const cluster = clusterForThisFile();

describe.skipIf(!installed)("the client's role check on a multi-host URL", () => {
  test("a connection cut while the client asks the server's role: the operation that opened it and the next ones answer on the connection that replaces it", async () => {
    const url = new URL(await cluster().database());
    proxy = await roleHidingProxy(Number(url.port));
    proxy.cutRoleChecks = 1;
    const hosts = `127.0.0.1:${proxy.port},127.0.0.1:${proxy.port}`;
    engine = new Engine({
      url: `postgres://postgres@${hosts}${url.pathname}?target_session_attrs=read-write`,
      poolSize: 1,
      operationTimeoutMs: 5000,
      log: () => {},
    });
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await engine.run("role check test", (sql) => sql`SELECT ${i}::int AS i`).then(([row]) => row.i, String));
    expect({ answers, cut: proxy.cut }).toEqual({ answers: [0, 1, 2], cut: 1 });
  }, 60_000);
});
