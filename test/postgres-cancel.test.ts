/**
 * A query past its deadline is cancelled on the server, not only abandoned by the relay: the engine
 * calls the client's own canceller (lib/postgres/engine.ts, cancelQuery), an internal of the pinned
 * `postgres` client. This fails if a client upgrade takes that canceller away.
 */
import { afterAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { Engine } from "../lib/postgres/engine.ts";
import { StoreError } from "../lib/store/message-store.ts";
import { clusterForThisFile, postgresInstalled } from "./postgres-cluster.ts";

const installed = postgresInstalled();
const closers: (() => Promise<void>)[] = [];
// Registered before the cluster's own hooks, so the connections let go while the cluster still runs.
afterAll(async () => await Promise.all(closers.map((close) => close())), 30_000);
const cluster = clusterForThisFile();

describe.skipIf(!installed)("a query past its deadline", () => {
  test("fails as unavailable at the deadline, and the server stops running it", async () => {
    const url = await cluster().database();
    const engine = new Engine({ url, poolSize: 1, operationTimeoutMs: 1000, log: () => {} });
    const observer = postgres(url, { max: 1, onnotice: () => {} });
    closers.push(() => engine.close(0), () => observer.end({ timeout: 0 }));
    const began = performance.now();
    const outcome = await engine.run("sleep", (sql) => sql`SELECT pg_sleep(30) AS slept`).then(() => "answered", (error) => error);
    const waited = performance.now() - began;
    expect(outcome).toBeInstanceOf(StoreError);
    expect((outcome as StoreError).kind).toBe("unavailable");
    expect(waited).toBeLessThan(5000);
    const sleeping = async () => (await observer`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'`)[0].n;
    let running = await sleeping();
    for (let tries = 0; running > 0 && tries < 50; tries++) {
      await Bun.sleep(100);
      running = await sleeping();
    }
    expect(running).toBe(0);
  }, 60_000);
});
