/**
 * A multi-host `--store` URL (one that follows a failover) with hosts that do not answer: a host that
 * accepts connections and stays silent is passed over (the relay opens its store and serves), and with
 * no host answering the client fails each request's queries instead of reconnecting without pause.
 * These hold because scripts/patch-dependencies.mjs fixes the `postgres` client (see there).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createServer, type Server, type Socket } from "node:net";
import postgres from "postgres";
import packageJson from "../package.json" with { type: "json" };
import { createApp } from "../lib/app.ts";
import { ENGINE_TIMEOUT_MS, openStorage, type Storage, StorageError } from "../lib/storage.ts";
import { intercom, keys, testConfig } from "./helpers.ts";
import { clusterForThisFile, postgresInstalled } from "./postgres-cluster.ts";

/** A TCP host that counts the connections it accepts and then `silent`ly holds them, or closes them at once. */
async function fakeHost(silent: boolean): Promise<{ port: number; accepted: number; close(): Promise<void> }> {
  const held: Socket[] = [];
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted++;
    if (silent) held.push(socket);
    else socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    get accepted() {
      return accepted;
    },
    close: () => new Promise<void>((resolve) => (held.forEach((socket) => socket.destroy()), server.close(() => resolve()))),
  };
}

/** `url` with `hosts` (host:port) in place of its own host. */
function withHosts(url: string, hosts: string[]): string {
  const parsed = new URL(url);
  return `postgres://${parsed.username}@${hosts.join(",")}${parsed.pathname}`;
}

const installed = postgresInstalled();
const cleanups: (() => Promise<unknown>)[] = [];
// Registered before the cluster's own hooks, so the relay lets go of the engine while the cluster still runs.
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
}, 30_000);
const cluster = clusterForThisFile();

describe.skipIf(!installed)("a multi-host URL with hosts that do not answer", () => {
  test("a first host that accepts connections and never answers: the store opens, deposits answer 200, and a connection that drops comes back to the host it had reached", async () => {
    const silent = await fakeHost(true);
    cleanups.push(silent.close);
    const database = await cluster().database();
    const config = testConfig({ store: withHosts(database, [`127.0.0.1:${silent.port}`, new URL(database).host]), storePoolSize: 1 });
    const storage: Storage = await openStorage(config, keys.relay.public_spki_pem, () => {});
    cleanups.push(() => storage.store.close());
    const app = createApp({ config, store: storage.store, shared: storage.shared, relayPubkey: keys.relay.public_spki_pem, version: packageJson.version, runtime: "test", log: () => {} });
    const body = JSON.stringify({ payload: intercom(), target_pubkey: keys.bob.public_spki_pem });
    const deposit = async () => (await app(new Request("http://relay.test/deposit", { method: "POST", body }), () => "127.0.0.1")).status;
    expect(await deposit()).toBe(200);
    expect(silent.accepted).toBe(1);
    // The relay's connection dropped by the server: the next one starts at the host it had reached.
    const admin = postgres(database, { max: 1, onnotice: () => {} });
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'hivemind-rendezvous' and datname = current_database()`;
    await admin.end();
    await Bun.sleep(200);
    expect(await deposit()).toBe(200);
    expect(silent.accepted).toBe(1);
  }, 30_000);

  test("no host answering (each closes the connection at once): opening the store fails as unreachable within its deadline, after a bounded number of attempts, and none follow", async () => {
    const hosts = [await fakeHost(false), await fakeHost(false)];
    for (const host of hosts) cleanups.push(host.close);
    const config = testConfig({ store: withHosts(await cluster().database(), hosts.map((host) => `127.0.0.1:${host.port}`)), storePoolSize: 1 });
    const started = performance.now();
    const failure = await openStorage(config, keys.relay.public_spki_pem, () => {}).then(() => null, (error) => error);
    expect(failure).toBeInstanceOf(StorageError);
    expect(failure.unreachable).toBe(true);
    expect(performance.now() - started).toBeLessThan(ENGINE_TIMEOUT_MS + 2000);
    // Each try of the relay's sweeps the hosts once, and tries are 100 ms apart within the deadline: at
    // most 51 each. The unfixed client reconnected without pause and never failed the query.
    const attempts = hosts.map((host) => host.accepted);
    for (const count of attempts) expect(count).toBeLessThanOrEqual(ENGINE_TIMEOUT_MS / 100 + 1);
    await Bun.sleep(1000);
    expect(hosts.map((host) => host.accepted)).toEqual(attempts);
  }, 30_000);
});
