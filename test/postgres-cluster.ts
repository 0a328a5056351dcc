/** The throwaway PostgreSQL cluster of scripts/postgres-cluster.ts, as the tests use it: one per test file, or a one-line skip. */
import { afterAll, beforeAll } from "bun:test";
import { type Cluster, postgresInstalled as installed, startCluster } from "../scripts/postgres-cluster.ts";

let toldSkipped = false;

/** True where PostgreSQL's server programs are installed; otherwise says in one line (once) that the tests on it are skipped. */
export function postgresInstalled(): boolean {
  if (!installed() && !toldSkipped) console.log("PostgreSQL is not installed (no pg_ctl): the tests on PostgreSQL are skipped");
  toldSkipped = true;
  return installed();
}

/**
 * A cluster for the calling test file: started before its tests, dropped after them. Call at the top
 * level of a test file; the getter gives the running cluster (inside tests that skip without PostgreSQL).
 */
export function clusterForThisFile(): () => Cluster {
  let cluster: Cluster | null = null;
  beforeAll(async () => {
    if (postgresInstalled()) cluster = await startCluster();
  }, 60_000);
  afterAll(async () => await cluster?.drop(), 30_000);
  return () => cluster!;
}
