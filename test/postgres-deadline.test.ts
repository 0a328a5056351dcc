/**
 * A request touches PostgreSQL for one bounded time: whatever it does (rate limit, proof, store), an
 * engine that has become slow gets it 503 store_unavailable with Retry-After within one deadline
 * (ENGINE_TIMEOUT_MS from its first call), not one deadline per call.
 */
import { afterAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import packageJson from "../package.json" with { type: "json" };
import { createApp } from "../lib/app.ts";
import { mayHaveRun, type Sql } from "../lib/postgres/engine.ts";
import { openPostgresStore, type PostgresMessageStore, type PostgresStoreStats } from "../lib/postgres/message-store.ts";
import { ENGINE_TIMEOUT_MS, openStorage, type Storage } from "../lib/storage.ts";
import { StoreError } from "../lib/store/message-store.ts";
import { intercom, keys, proofBody, testConfig } from "./helpers.ts";
import { clusterForThisFile, postgresInstalled } from "./postgres-cluster.ts";
import { type SlowingProxy, slowingProxy } from "./postgres-proxy.ts";

const installed = postgresInstalled();
let storage: Storage | undefined;
let proxy: SlowingProxy | undefined;
let store: PostgresMessageStore | undefined;
// Registered before the cluster's own hooks, so the relay lets go of the engine while the cluster still runs.
afterAll(async () => {
  if (proxy) proxy.delayMs = 0;
  await storage?.store.close().catch(() => {});
  await store?.close().catch(() => {});
  await proxy?.close();
}, 30_000);
const cluster = clusterForThisFile();

/** A store on `url` with one connection, whose requests get 1.5 s on the engine. */
function oneConnectionStore(url: string, clock: () => number): Promise<PostgresMessageStore> {
  return openPostgresStore({
    url, poolSize: 1, operationTimeoutMs: 1500, mailboxMaxMessages: 10, maxStoreBytes: 1 << 20, maxMessages: 100, sweepIntervalSeconds: 0, clock, log: () => {},
  });
}

/** Slack over the deadline for a loaded machine: this bounds the answer, it does not time it. */
const MARGIN_MS = 2000;

describe.skipIf(!installed)("one deadline per request on PostgreSQL", () => {
  test("an engine answering each statement in 4 s (each under the 5 s bound): deposit, retrieve, collect and ack answer 503 store_unavailable with Retry-After within 5 s + 2 s", async () => {
    const url = new URL(await cluster().database());
    proxy = await slowingProxy(Number(url.port));
    url.port = String(proxy.port);
    const config = testConfig({ store: url.href, storePoolSize: 1 });
    storage = await openStorage(config, keys.relay.public_spki_pem, () => {});
    const app = createApp({ config, store: storage.store, shared: storage.shared, relayPubkey: keys.relay.public_spki_pem, version: packageJson.version, runtime: "test", log: () => {} });
    const now = () => Math.floor(Date.now() / 1000);
    let age = 0;
    /** Each request kind, with a fresh proof each time (older timestamps, so no two are the same proof). */
    const requests: Record<string, () => Promise<unknown>> = {
      "/deposit": async () => ({ payload: intercom(), target_pubkey: keys.bob.public_spki_pem }),
      "/retrieve": async () => await proofBody("bob", now() - age++),
      "/collect": async () => await proofBody("bob", now() - age++),
      "/ack": async () => ({ ...await proofBody("bob", now() - age++), deposit_ids: [crypto.randomUUID()] }),
    };
    const send = async (path: string) => {
      const body = JSON.stringify(await requests[path]());
      const started = performance.now();
      const response = await app(new Request(`http://relay.test${path}`, { method: "POST", body }), () => "127.0.0.1");
      return { status: response.status, reason: (await response.json() as { reason?: string }).reason ?? "ok", retryAfter: response.headers.get("retry-after"), ms: performance.now() - started };
    };
    // Every statement prepared and the one connection open while the engine is quick.
    for (const path of Object.keys(requests)) expect(await send(path)).toMatchObject({ status: 200 });

    const engine = () => (storage!.store.stats() as PostgresStoreStats).engine;
    for (const path of Object.keys(requests)) {
      proxy.delayMs = 4000;
      const { ms, ...answer } = await send(path);
      // Each request kind starts from a quick engine with nothing in flight.
      proxy.delayMs = 0;
      while (proxy.held > 0 || engine().inFlight > 0 || engine().state === "down") await Bun.sleep(50);
      expect({ path, ...answer, withinTheBound: ms < ENGINE_TIMEOUT_MS + MARGIN_MS })
        .toEqual({ path, status: 503, reason: "store_unavailable", retryAfter: "2", withinTheBound: true });
    }
  }, 120_000);

  test("statements cancelled by the server (a statement_timeout, here behind a table lock): 503 store_unavailable with Retry-After, not 500", async () => {
    const url = new URL(await cluster().database());
    const admin = postgres(url.href, { max: 1, onnotice: () => {} });
    url.searchParams.set("statement_timeout", "200");
    const config = testConfig({ store: url.href, storePoolSize: 2 });
    const opened = await openStorage(config, keys.relay.public_spki_pem, () => {});
    try {
      const app = createApp({ config, store: opened.store, shared: opened.shared, relayPubkey: keys.relay.public_spki_pem, version: packageJson.version, runtime: "test", log: () => {} });
      const deposit = async () => {
        const body = JSON.stringify({ payload: intercom(), target_pubkey: keys.bob.public_spki_pem });
        const response = await app(new Request("http://relay.test/deposit", { method: "POST", body }), () => "127.0.0.1");
        return [response.status, (await response.json() as { reason?: string }).reason ?? "ok", response.headers.get("retry-after")];
      };
      expect(await deposit()).toEqual([200, "ok", null]);
      let release = () => {};
      const locked = new Promise<void>((resolve) => {
        void admin.begin(async (tx) => {
          await tx`LOCK TABLE rendezvous_messages IN ACCESS EXCLUSIVE MODE`;
          resolve();
          await new Promise<void>((done) => (release = done));
        });
      });
      await locked;
      expect(await deposit()).toEqual([503, "store_unavailable", "2"]);
      release();
      expect(await deposit()).toEqual([200, "ok", null]);
    } finally {
      await opened.store.close();
      await admin.end({ timeout: 5 });
    }
  }, 30_000);

  test("a take whose delete goes unanswered past the deadline hands back the messages it read: the delete happened, and none is lost", async () => {
    const url = new URL(await cluster().database());
    proxy ??= await slowingProxy(Number(url.port));
    url.port = String(proxy.port);
    const now = Math.floor(Date.now() / 1000);
    store = await oneConnectionStore(url.href, () => now);
    /** A take of `mailbox`'s two messages with each answer 3 s late once the client has sent `slowAfter`. */
    const takeSlowedAfter = async (mailbox: string, slowAfter: (ids: string[]) => string) => {
      const ids = [await store!.deposit(mailbox, "first", now + 600), await store!.deposit(mailbox, "second", now + 600)];
      Object.assign(proxy!, { delayMs: 3000, slowAfter: slowAfter(ids) });
      const taken = await store!.engine.oneRequest(() => store!.take(mailbox));
      Object.assign(proxy!, { delayMs: 0, slowAfter: undefined });
      while (proxy!.held > 0) await Bun.sleep(50);
      expect(taken.map((message) => [message.depositId, message.payload])).toEqual([[ids[0], "first"], [ids[1], "second"]]);
      expect(await store!.peek(mailbox)).toEqual({ messages: [], more: false });
    };
    // The delete's statement sent for the first time (its text, then its run: a relay that answered 503 here lost both).
    await takeSlowedAfter("bob", () => "rendezvous_remove");
    // Sent again, prepared: the only statement that carries the ids runs at once, and its answer misses the request's 1.5 s.
    await takeSlowedAfter("carol", (ids) => ids[0]);
  }, 30_000);

  test("at the deadline, an operation sent and unanswered may have run (one pipelined behind it too); one still waiting for a connection was never sent", async () => {
    const url = await cluster().database();
    const outcome = (promise: Promise<unknown>) => promise.then(() => "done", (error) => [error instanceof StoreError && error.kind, mayHaveRun(error)]);
    /** What two operations started at once on one connection come to, with a deadline of 1.5 s for both. */
    const both = async (first: (sql: Sql) => Promise<unknown>, second: (sql: Sql) => Promise<unknown>) => {
      const own = await oneConnectionStore(url, () => Math.floor(Date.now() / 1000));
      try {
        return await own.engine.oneRequest(() => Promise.all([outcome(own.engine.run("first", first)), outcome(own.engine.run("second", second))]));
      } finally {
        await own.close();
      }
    };
    // The client pipelines statements on a busy connection: the second is sent behind the first.
    expect(await both((sql) => sql`SELECT pg_sleep(4)`, (sql) => sql`SELECT 1`)).toEqual([["unavailable", true], ["unavailable", true]]);
    // A transaction holds its connection: a statement meanwhile waits for one.
    expect(await both((sql) => sql.begin((tx) => tx`SELECT pg_sleep(4)`), (sql) => sql`SELECT 1`)).toEqual([["unavailable", true], ["unavailable", false]]);
  }, 30_000);
});
