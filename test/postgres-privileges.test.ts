/**
 * The database privileges docs/scale-out.md asks for: CREATE on the schema for the first start, and
 * afterwards only the rights to read and write the relay's tables, so a relay runs as a role that cannot
 * change the schema.
 */
import { afterAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { openPostgresStore, type PostgresMessageStore } from "../lib/postgres/message-store.ts";
import { clusterForThisFile, postgresInstalled } from "./postgres-cluster.ts";

const installed = postgresInstalled();
const opened: PostgresMessageStore[] = [];
// Registered before the cluster's own hooks, so the stores let go while the cluster still runs.
afterAll(async () => await Promise.all(opened.map((store) => store.close().catch(() => {}))));
const cluster = clusterForThisFile();
const NOW = 1_767_225_600;

async function open(url: string): Promise<PostgresMessageStore> {
  const store = await openPostgresStore({
    url,
    poolSize: 2,
    operationTimeoutMs: 5000,
    mailboxMaxMessages: 256,
    maxStoreBytes: 1 << 30,
    maxMessages: 1_000_000,
    sweepIntervalSeconds: 0,
    clock: () => NOW,
    log: () => {},
  });
  opened.push(store);
  return store;
}

describe.skipIf(!installed)("a relay's database role", () => {
  test("after the first start, a role with only the documented rights on the relay's tables opens the store, deposits and delivers", async () => {
    const ownerUrl = await cluster().database();
    await (await open(ownerUrl)).close(); // the first start creates the schema
    const admin = postgres(ownerUrl, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`
        CREATE ROLE relay_rw LOGIN;
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
        GRANT USAGE ON SCHEMA public TO relay_rw;
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO relay_rw;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO relay_rw;
      `);
      expect((await admin`SELECT has_schema_privilege('relay_rw', 'public', 'CREATE') AS can`)[0].can).toBe(false);
    } finally {
      await admin.end();
    }
    const url = new URL(ownerUrl);
    url.username = "relay_rw";
    const store = await open(url.href);
    const id = await store.deposit("mailbox", "hello", NOW + 600);
    expect((await store.take("mailbox")).map((message) => message.depositId)).toEqual([id]);
  }, 60_000);
});
