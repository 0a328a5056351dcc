/**
 * What only the PostgreSQL implementations promise: several instances on one database (schema,
 * caps, single-use proofs, rate limits), a retried batch stored once, an engine that goes away.
 */
import { afterAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { type PostgresMessageStore, openPostgresStore, type PostgresStoreOptions } from "../lib/postgres/message-store.ts";
import { PostgresRateLimiter } from "../lib/postgres/rate-limiter.ts";
import { PostgresReplayGuard } from "../lib/postgres/replay-guard.ts";
import { agreeOnRelayKey, ServingRefused, startCopy } from "../lib/postgres/database-users.ts";
import { openPostgres } from "../lib/postgres/open.ts";
import { RELAY_SEQUENCES, RELAY_TABLES, SCHEMA_VERSION } from "../lib/postgres/schema.ts";
import { RateLimiter } from "../lib/rate-limiter.ts";
import { StoreError } from "../lib/store/message-store.ts";
import { keys, spentProof } from "./helpers.ts";
import { clusterForThisFile, postgresInstalled } from "./postgres-cluster.ts";

const NOW = 1_767_225_600;
const installed = postgresInstalled();
const opened: PostgresMessageStore[] = [];

// Registered before the cluster's own hooks, so the stores close while the cluster still runs. Each close
// may wait up to 5 s for a statement in flight (Engine.close), longer than a hook's default time.
afterAll(async () => await Promise.all(opened.map((store) => store.close().catch(() => {}))), 30_000);
const cluster = clusterForThisFile();

/** A relay instance's store on `url`. */
async function instance(url: string, options: Partial<PostgresStoreOptions> = {}): Promise<PostgresMessageStore> {
  const store = await openPostgresStore({
    url,
    poolSize: 4,
    operationTimeoutMs: 3000,
    mailboxMaxMessages: 256,
    maxStoreBytes: 1 << 30,
    maxMessages: 1_000_000,
    sweepIntervalSeconds: 0,
    clock: () => NOW,
    log: () => {},
    ...options,
  });
  opened.push(store);
  return store;
}

const outcome = (promise: Promise<unknown>) => promise.then(() => "ok", (error) => error instanceof StoreError ? error.kind : String(error));

describe.skipIf(!installed)("several relay instances on one PostgreSQL database", () => {
  test("six instances starting at the same instant on an empty database all start; the schema is applied once", async () => {
    const url = await cluster().database();
    const stores = await Promise.all(Array.from({ length: 6 }, () => instance(url)));
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    expect(await sql`SELECT version FROM rendezvous_schema`).toEqual([{ version: SCHEMA_VERSION }] as never);
    await sql.end();
    expect(await stores[5].deposit("a", "works", NOW + 60)).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("six relays and a copy starting at the same instant: either the copy is refused and every relay serves the one key, or the copy starts and every relay is refused", async () => {
    const url = await cluster().database();
    for (let round = 0; round < 5; round++) {
      const [copying, ...relays] = await Promise.all(Array.from({ length: 7 }, () => instance(url)));
      const [copy, ...served] = await Promise.all([
        startCopy(copying.engine, "/var/lib/pi").then((started) => (started === "served" ? "refused" : "started")),
        ...relays.map((relay) => agreeOnRelayKey(relay.engine, keys.relay.public_spki_pem).then(() => "served", (error) => (error instanceof ServingRefused ? "refused" : String(error)))),
      ]);
      expect(served).toEqual(Array(6).fill(copy === "started" ? "refused" : "served"));
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      await sql`DELETE FROM rendezvous_facts`; // the next round starts from an unused database
      await sql.end();
    }
  }, 60_000);

  test("after the first start, a role with only the rights scale-out.md lists (no CREATE) opens the store, deposits and delivers", async () => {
    const ownerUrl = await cluster().database();
    await (await instance(ownerUrl)).close(); // the first start creates the schema
    const admin = postgres(ownerUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`
      CREATE ROLE relay_rw LOGIN;
      REVOKE CREATE ON SCHEMA public FROM PUBLIC;
      GRANT USAGE ON SCHEMA public TO relay_rw;
      GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO relay_rw;
      GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO relay_rw;
    `);
    expect(await admin`SELECT has_schema_privilege('relay_rw', 'public', 'CREATE') AS can`).toEqual([{ can: false }] as never);
    await admin.end();
    const url = new URL(ownerUrl);
    url.username = "relay_rw";
    const store = await instance(url.href);
    const id = await store.deposit("mailbox", "hello", NOW + 600);
    expect((await store.take("mailbox")).map((message) => message.depositId)).toEqual([id]);
  });

  test("a role missing one of those rights (USAGE on the sequences) is refused at open, in one line naming it", async () => {
    const ownerUrl = await cluster().database();
    await (await instance(ownerUrl)).close();
    const admin = postgres(ownerUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`
      CREATE ROLE relay_no_seq LOGIN;
      GRANT USAGE ON SCHEMA public TO relay_no_seq;
      GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO relay_no_seq;
      REVOKE INSERT ON rendezvous_batches FROM relay_no_seq;
    `);
    await admin.end();
    const url = new URL(ownerUrl);
    url.username = "relay_no_seq";
    const options = { url: url.href, poolSize: 2, operationTimeoutMs: 3000, mailboxMaxMessages: 256, maxStoreBytes: 1 << 30, maxMessages: 1_000_000, sweepIntervalSeconds: 0, clock: () => NOW, log: () => {} };
    const refused = await openPostgres(options, keys.relay.public_spki_pem).then(() => null, (error) => error as Error);
    expect(refused?.message).toBe(
      "the database role lacks INSERT on rendezvous_batches, USAGE on rendezvous_messages_seq_seq: grant what docs/scale-out.md lists",
    );
  });

  test("the tables and sequences a relay's role is checked for are those the migrations create (the schema's version table apart)", async () => {
    const url = await cluster().database();
    await instance(url);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    const rows = await sql<{ relname: string; relkind: string }[]>`
      SELECT relname, relkind FROM pg_class WHERE relkind IN ('r', 'S') AND relname LIKE 'rendezvous\_%' AND relname <> 'rendezvous_schema' ORDER BY relname`;
    await sql.end();
    expect(rows.filter((row) => row.relkind === "r").map((row) => row.relname)).toEqual(RELAY_TABLES);
    expect(rows.filter((row) => row.relkind === "S").map((row) => row.relname)).toEqual(RELAY_SEQUENCES);
  });

  test("an instance refuses a database whose schema is newer than it knows, in one line", async () => {
    const url = await cluster().database();
    await instance(url);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    await sql`UPDATE rendezvous_schema SET version = ${SCHEMA_VERSION + 1}`;
    await sql.end();
    const refused = await instance(url).then(() => null, (error) => error as Error);
    expect(refused?.message).toBe(`the database's schema is version ${SCHEMA_VERSION + 1}, newer than this relay's ${SCHEMA_VERSION}: upgrade the relay`);
  });

  test("the mailbox cap is exact when two instances race 2 × 40 deposits for 10 places", async () => {
    const url = await cluster().database();
    const stores = [await instance(url, { mailboxMaxMessages: 10 }), await instance(url, { mailboxMaxMessages: 10 })];
    const outcomes = await Promise.all(Array.from({ length: 80 }, (_, i) => outcome(stores[i % 2].deposit("a", `m${i}`, NOW + 60))));
    expect(outcomes.filter((o) => o === "ok").length).toBe(10);
    expect((await stores[0].peek("a")).messages.length).toBe(10);
  });

  test("a mailbox holding more than the cap (the cap lowered since) takes no deposit until removals bring it below the cap", async () => {
    const url = await cluster().database();
    const before = await instance(url, { mailboxMaxMessages: 10 });
    const ids = await Promise.all(Array.from({ length: 5 }, (_, i) => before.deposit("a", `m${i}`, NOW + 60)));
    const after = await instance(url, { mailboxMaxMessages: 3 });
    expect(await outcome(after.deposit("a", "refused", NOW + 60))).toBe("mailbox_full");
    expect(await after.remove("a", ids.slice(0, 1))).toBe(1);
    expect(await outcome(after.deposit("a", "still refused: 4 held", NOW + 60))).toBe("mailbox_full");
    expect(await after.remove("a", ids.slice(1, 3))).toBe(2);
    expect(await outcome(after.deposit("a", "the third", NOW + 60))).toBe("ok");
    expect(await outcome(after.deposit("a", "a fourth", NOW + 60))).toBe("mailbox_full");
  });

  test("a deposit batch sent again after its answer was lost is stored once and answers as the first time", async () => {
    const url = await cluster().database();
    await instance(url, { mailboxMaxMessages: 1 });
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    const batch = crypto.randomUUID();
    const ids = [crypto.randomUUID(), crypto.randomUUID()];
    const send = () => sql`SELECT rendezvous_deposit(${batch}::uuid, ${sql.array(ids, 2951)}, ${sql.array(["a", "a"], 1009)},
      ${sql.array(["one", "two"], 1009)}, ${sql.array([NOW + 60, NOW + 60], 1016)}, ${NOW}, 1, ${1 << 30}, 0) AS verdicts`;
    const first = await send();
    const again = await send();
    expect(first[0].verdicts).toEqual(["ok", "mailbox_full"]);
    expect(again[0].verdicts).toEqual(["ok", "mailbox_full"]);
    expect(await sql`SELECT id, payload FROM rendezvous_messages`).toEqual([{ id: ids[0], payload: "one" }] as never);
    await sql.end();
  });

  test("16 claims of one proof on two instances at once: exactly one is fresh; the proof is fresh again once expired", async () => {
    const url = await cluster().database();
    const guards = [new PostgresReplayGuard((await instance(url)).engine), new PostgresReplayGuard((await instance(url)).engine)];
    for (let round = 0; round < 5; round++) {
      const verdicts = await Promise.all(Array.from({ length: 16 }, (_, i) => guards[i % 2].claim(spentProof(`proof-${round}`), NOW + 60, NOW)));
      expect(verdicts.filter((v) => v === "fresh").length).toBe(1);
    }
    expect(await guards[1].claim(spentProof("proof-0"), NOW + 60, NOW + 60)).toBe("replayed");
    expect(await guards[1].claim(spentProof("proof-0"), NOW + 200, NOW + 61)).toBe("fresh");
  });

  test("the sweep of spent rows: proofs a tolerance (60 s) past their expiry, rate windows past theirs, batches an hour old; 10,000 rows a statement until none is left", async () => {
    const url = await cluster().database();
    const store = await instance(url);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await sql.unsafe(`
        INSERT INTO rendezvous_proofs SELECT decode(lpad(to_hex(g), 64, '0'), 'hex'), ${NOW - 61} FROM generate_series(1, 25000) g;
        INSERT INTO rendezvous_proofs SELECT decode(lpad(to_hex(g), 64, '0'), 'hex'), ${NOW - 60} FROM generate_series(25001, 25010) g;
        INSERT INTO rendezvous_proofs SELECT decode(lpad(to_hex(g), 64, '0'), 'hex'), ${NOW + 30} FROM generate_series(25011, 25020) g;
        INSERT INTO rendezvous_rate_windows (key, window_start, count, expires_at) VALUES ('a', 0, 1, ${NOW - 1}), ('b', 0, 1, ${NOW}), ('c', 0, 1, ${NOW + 60});
        INSERT INTO rendezvous_batches (id, created_at) VALUES (gen_random_uuid(), ${NOW - 3601}), (gen_random_uuid(), ${NOW - 3600});
      `);
      await store.sweepSpent();
      const left = await sql`SELECT (SELECT count(*) FROM rendezvous_proofs)::int AS proofs, (SELECT min(expires_at) FROM rendezvous_proofs)::int AS oldest,
        (SELECT array_agg(key ORDER BY key) FROM rendezvous_rate_windows) AS windows, (SELECT count(*) FROM rendezvous_batches)::int AS batches`;
      expect(left).toEqual([{ proofs: 20, oldest: NOW - 60, windows: ["b", "c"], batches: 1 }] as never);
    } finally {
      await sql.end();
    }
  });

  test("a mailbox's size row goes once it holds nothing (emptied by expiry or removal, or never filled), and a count below what it holds is raised; the cap stays exact after", async () => {
    const url = await cluster().database();
    let now = NOW;
    const store = await instance(url, { mailboxMaxMessages: 3, clock: () => now });
    await Promise.all([
      store.deposit("expired", "a", NOW + 10), store.deposit("expired", "b", NOW + 10),
      store.deposit("taken", "c", NOW + 600),
      store.deposit("kept", "d", NOW + 10), store.deposit("kept", "e", NOW + 600),
    ]);
    expect(await store.take("taken")).toHaveLength(1);
    // A store too full for any deposit: its refusal writes no count for the new mailbox.
    const full = await instance(url, { maxStoreBytes: 1, clock: () => now });
    expect(await outcome(full.deposit("refused", "f", NOW + 600))).toBe("store_full");
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      // A count below what the mailbox holds, as one capped before schema version 4 could be.
      await sql`UPDATE rendezvous_mailbox_sizes SET held = 0 WHERE mailbox = 'kept'`;
      now = NOW + 20;
      expect(await store.sweep()).toBe(3);
      await store.sweepSpent();
      expect(await sql`SELECT mailbox, held, emptied FROM rendezvous_mailbox_sizes`).toEqual([{ mailbox: "kept", held: 1, emptied: false }] as never);
    } finally {
      await sql.end();
    }
    const outcomes = async (mailbox: string, count: number) => await Promise.all(Array.from({ length: count }, (_, i) => outcome(store.deposit(mailbox, `m${i}`, now + 60))));
    expect(await outcomes("expired", 4)).toEqual(["ok", "ok", "ok", "mailbox_full"]);
    expect(await outcomes("kept", 3)).toEqual(["ok", "ok", "mailbox_full"]);
  });

  test("the rate limit is exact when 2 × 12 requests of one client arrive at once on two instances: 5 allowed, 19 refused", async () => {
    const url = await cluster().database();
    const shared = [new PostgresRateLimiter((await instance(url)).engine, 5, 60), new PostgresRateLimiter((await instance(url)).engine, 5, 60)];
    const decisions = await Promise.all(Array.from({ length: 24 }, (_, i) => shared[i % 2].take("client", NOW + 0.5)));
    expect(decisions.filter((decision) => decision.allowed).length).toBe(5);
    expect(decisions.filter((decision) => !decision.allowed && decision.firstRefusal).length).toBe(1);
  });

  test("requests of several clients counted together, across window boundaries, answer as the in-memory limiter one by one", async () => {
    const url = await cluster().database();
    const shared = new PostgresRateLimiter((await instance(url)).engine, 5, 60);
    const local = new RateLimiter(5, 60);
    const requests = [0, 1, 2, 3, 4, 5, 6, 30, 59, 60, 61, 75, 90, 119, 121, 185].flatMap((t) => [["a", NOW + t + 0.5], ["b", NOW + t * 2 + 0.5]] as const);
    requests.sort((x, y) => x[1] - y[1]);
    const batched = await Promise.all(requests.map(([client, now]) => shared.take(client, now)));
    expect(batched).toEqual(requests.map(([client, now]) => local.take(client, now)));
  });

  test("the rate limit is shared by two instances and answers as the in-memory limiter does", async () => {
    const url = await cluster().database();
    const shared = [new PostgresRateLimiter((await instance(url)).engine, 5, 60), new PostgresRateLimiter((await instance(url)).engine, 5, 60)];
    const local = new RateLimiter(5, 60);
    const times = [0, 1, 2, 3, 4, 5, 6, 30, 59, 60, 61, 75, 90, 119, 121].map((t) => NOW + t + 0.5);
    for (const [i, now] of times.entries()) expect(await shared[i % 2].take("client", now)).toEqual(local.take("client", now));
    expect(await shared[0].take("other client", NOW)).toEqual({ allowed: true });
  });
});

describe.skipIf(!installed)("PostgreSQL going away", () => {
  test("while the engine is down, operations fail as unavailable within the deadline; once it is back the same store works", async () => {
    const url = await cluster().database();
    const store = await instance(url, { operationTimeoutMs: 1500 });
    const kept = await store.deposit("a", "before", NOW + 600);
    await cluster().crash();
    const started = performance.now();
    expect(await outcome(store.deposit("a", "while down", NOW + 600))).toBe("unavailable");
    expect(await outcome(store.peek("a"))).toBe("unavailable");
    expect(performance.now() - started).toBeLessThan(2 * 1500 + 1000);
    expect(store.stats().engine.state).toBe("down");
    await cluster().start();
    expect(await outcome(store.deposit("a", "after", NOW + 600))).toBe("ok");
    expect((await store.take("a")).map((m) => [m.depositId === kept, m.payload])).toEqual([[true, "before"], [false, "after"]]);
    expect(store.stats().engine.state).toBe("up");
  }, 60_000);

  test("a server that only reads (a standby answering during a failover, or set read-only) fails deposits as unavailable, not as a storage error", async () => {
    const url = await cluster().database();
    await (await instance(url)).close();
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    await admin.unsafe(`ALTER DATABASE ${new URL(url).pathname.slice(1)} SET default_transaction_read_only = on`);
    await admin.end();
    const store = await instance(url, { operationTimeoutMs: 1000 });
    expect(await outcome(store.deposit("a", "refused", NOW + 600))).toBe("unavailable");
    expect(store.stats().engine.state).toBe("down");
  }, 30_000);
});
