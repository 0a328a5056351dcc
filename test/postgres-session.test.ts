/** The session settings the relay's statements count on, whatever the database's defaults. */
import { afterAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { Engine } from "../lib/postgres/engine.ts";
import { clusterForThisFile, postgresInstalled } from "./postgres-cluster.ts";

const installed = postgresInstalled();
let engine: Engine | undefined;
// Registered before the cluster's own hooks, so the engine lets go while the cluster still runs.
afterAll(async () => await engine?.close(0), 30_000);
const cluster = clusterForThisFile();

describe.skipIf(!installed)("the relay's PostgreSQL sessions", () => {
  test("run READ COMMITTED on a database whose default is SERIALIZABLE (retried batches and upserts count on it)", async () => {
    const url = await cluster().database();
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`ALTER DATABASE ${new URL(url).pathname.slice(1)} SET default_transaction_isolation = 'serializable'`);
    } finally {
      await admin.end();
    }
    const plain = postgres(url, { max: 1, onnotice: () => {} });
    try {
      expect((await plain`SHOW transaction_isolation`)[0].transaction_isolation).toBe("serializable"); // the default, for a new session
    } finally {
      await plain.end();
    }
    engine = new Engine({ url, poolSize: 1, operationTimeoutMs: 5000, log: () => {} });
    const [row] = await engine.run("isolation test", (sql) => sql`SHOW transaction_isolation`);
    expect(row.transaction_isolation).toBe("read committed");
  }, 60_000);
});
