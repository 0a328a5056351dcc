/**
 * Several relay processes (Bun and Deno) on one PostgreSQL database, as behind a load balancer:
 * shared proofs, mailboxes and rate limits; one relay key; a relay or the engine killed under load; a
 * failover from a primary to its standby on a multi-host URL.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import postgres from "postgres";
import { ENGINE_TIMEOUT_MS } from "../lib/storage.ts";
import { freePort, startReplicatedPair } from "../scripts/postgres-cluster.ts";
import { compiledBinary } from "./compiled-binary.ts";
import { intercom, keys, proofBody, tempDataDir } from "./helpers.ts";
import { clusterForThisFile, postgresInstalled } from "./postgres-cluster.ts";
import { roleHidingProxy, slowingProxy } from "./postgres-proxy.ts";
import { BARE_ENV, RELAY_COMMANDS, type RelayProcess, runProcess, type RuntimeName, RUNTIMES, startRelayProcess } from "./processes.ts";

const installed = postgresInstalled();
const cluster = clusterForThisFile();
let relayKeyFile = "";

beforeAll(async () => {
  relayKeyFile = join(await tempDataDir(), "relay.pem");
  await writeFile(relayKeyFile, keys.relay.private_pkcs1_pem, { mode: 0o600 });
});

/** The arguments of a relay on `url` with the vectors' relay key (unless `keyFile` says otherwise). */
async function relayArgs(url: string, extra: string[] = [], keyFile = relayKeyFile): Promise<string[]> {
  return ["--host", "127.0.0.1", "--port", "0", "--data-dir", await tempDataDir(), "--node-key", keyFile, "--store", url, ...extra];
}

async function startInstance(url: string, extra: string[] = [], runtime: RuntimeName = "bun"): Promise<RelayProcess> {
  return await startRelayProcess([...RELAY_COMMANDS[runtime], ...await relayArgs(url, extra)], { env: { ...process.env, NO_COLOR: "1" } });
}

/** Two relays on `url`, one under Bun and one under Deno. */
async function relayUnderEachRuntime(url: string, extra: string[] = []): Promise<RelayProcess[]> {
  return await Promise.all(RUNTIMES.map((runtime) => startInstance(url, extra, runtime)));
}

const UNLIMITED = ["--deposit-rate-limit", "0", "--read-rate-limit", "0", "--mailbox-max-messages", "100000"];

async function post(relay: RelayProcess, path: string, body: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(`${relay.url}${path}`, { method: "POST", body: JSON.stringify(body) });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

const depositFor = (who: "alice" | "bob", text: string) => ({ payload: intercom({ text }), target_pubkey: keys[who].public_spki_pem });

/** Every message id in `who`'s mailbox, collected through `relay` (one proof per page, older timestamps for later pages). */
async function collectIds(relay: RelayProcess, who: "alice" | "bob"): Promise<string[]> {
  const now = Math.floor(Date.now() / 1000);
  const answer = await post(relay, "/collect", { ...await proofBody(who, now), limit: 1_000_000 });
  expect(answer.status).toBe(200);
  return answer.body.messages.map((message: { deposit_id: string }) => message.deposit_id);
}

/** Deposits from `clients` loops until `stop()`, each round to the next of `relays`; the ids of the answered 200s, the slowest answer. */
function depositLoad(relays: () => RelayProcess[], clients: number) {
  const acknowledged: string[] = [];
  const statuses = new Map<string, number>();
  let slowestMs = 0;
  let running = true;
  const loops = Array.from({ length: clients }, async (_, client) => {
    for (let round = 0; running; round++) {
      const targets = relays();
      const relay = targets[(client + round) % targets.length];
      const started = performance.now();
      const answer = await post(relay, "/deposit", depositFor("bob", `c${client} r${round}`)).catch(() => null);
      slowestMs = Math.max(slowestMs, performance.now() - started);
      const key = answer ? `${answer.status} ${answer.body.reason ?? "ok"}` : "no answer";
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      if (answer?.status === 200) acknowledged.push(answer.body.deposit_id);
      if (!answer || answer.status !== 200) await Bun.sleep(20);
    }
  });
  return {
    acknowledged,
    statuses,
    slowestMs: () => slowestMs,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe("the database password in a --store URL", () => {
  test("is never printed, however the URL is spelt: a password with / or @ not percent-encoded, a mistyped scheme, a copy's URL (which creates nothing at TO)", async () => {
    const port = await freePort();
    const cases = [
      { url: `postgres://relay:ab/cd@127.0.0.1:${port}/rendezvous`, shown: `postgres://relay:***@127.0.0.1:${port}/rendezvous` },
      { url: `postgres://relay:p@ss@127.0.0.1:${port}/rendezvous`, shown: `postgres://relay:***@127.0.0.1:${port}/rendezvous` },
      { url: "postgre://relay:secret@db.internal/rendezvous", shown: "postgre://relay:***@db.internal/rendezvous" },
      { url: "postgresql:relay:secret@db.internal/rendezvous", shown: "postgresql:relay:***@db.internal/rendezvous" },
    ];
    for (const { url, shown } of cases) {
      const result = await runProcess([...RELAY_COMMANDS.bun, ...await relayArgs(url)]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(shown);
      expect(result.stderr).not.toMatch(/ab\/cd|p@ss|secret/);
    }
    const to = join(await tempDataDir(), "new");
    const copy = await runProcess([...RELAY_COMMANDS.bun, "copy", `postgres://relay:se#cret@127.0.0.1:${port}/x`, to]);
    expect(copy).toEqual({ code: 1, stdout: "", stderr: `hivemind-rendezvous copy: cannot open postgres://relay:***@127.0.0.1:${port}/x: Invalid URL\n` });
    expect(existsSync(to)).toBe(false);
  }, 30_000);
});

describe.skipIf(!installed)("several relays on one PostgreSQL database", () => {
  test("a relay under Bun and one under Deno: a deposit on one is retrieved on the other; a proof spent on one is replay_detected on the other", async () => {
    const url = await cluster().database();
    const [onBun, onDeno] = [await startInstance(url), await startInstance(url, [], "deno")];
    expect((await post(onBun, "/deposit", depositFor("bob", "across"))).status).toBe(200);
    const proof = await proofBody("bob", Math.floor(Date.now() / 1000));
    expect((await post(onDeno, "/retrieve", proof)).body).toEqual({ status: "ok", messages: [intercom({ text: "across" })] });
    expect(await post(onBun, "/retrieve", proof)).toMatchObject({ status: 401, body: { status: "error", reason: "replay_detected" } });
    const health = await (await fetch(`${onDeno.url}/healthz`)).json();
    expect(health).toMatchObject({ status: "ok", engine: "up" });
    const metrics = await (await fetch(`${onBun.url}/metrics`)).text();
    expect(metrics).toContain("\nrendezvous_engine_up 1\n");
    expect(metrics).toMatch(/\nrendezvous_engine_seconds_count [1-9]\d*\n/);
    expect(metrics).toMatch(/\nrendezvous_commits_total [1-9]\d*\n/);
    onBun.stop();
    onDeno.stop();
  }, 60_000);

  test("8 retrieves racing on two relays (Bun and Deno) hand out each of 200 messages exactly once", async () => {
    const url = await cluster().database();
    const relays = await relayUnderEachRuntime(url, UNLIMITED);
    // From 8 clients at once: a relay under Deno closes a client's connections past 64 (MAX_CONNECTIONS_PER_CLIENT).
    const deposits = await Promise.all(Array.from({ length: 8 }, async (_, client) => {
      const statuses = [];
      for (let i = client; i < 200; i += 8) statuses.push((await post(relays[i % 2], "/deposit", depositFor("bob", `m${i}`))).status);
      return statuses;
    }));
    expect(deposits.flat().filter((status) => status === 200).length).toBe(200);
    const now = Math.floor(Date.now() / 1000);
    const answers = await Promise.all(Array.from({ length: 8 }, async (_, i) => await post(relays[i % 2], "/retrieve", await proofBody("bob", now - i))));
    const messages = answers.flatMap((answer) => answer.body.messages);
    expect(messages.length).toBe(200);
    expect(new Set(messages).size).toBe(200);
    relays.forEach((relay) => relay.stop());
  }, 60_000);

  test("the rate limit is shared: 3 requests a window across two relays (Bun and Deno), then 429 on either", async () => {
    const url = await cluster().database();
    const relays = await relayUnderEachRuntime(url, ["--read-rate-limit", "3"]);
    const reasons = [];
    for (let i = 0; i < 5; i++) reasons.push((await post(relays[i % 2], "/collect", {})).body.reason);
    expect(reasons).toEqual(["missing_fields", "missing_fields", "missing_fields", "rate_limit_exceeded", "rate_limit_exceeded"]);
    relays.forEach((relay) => relay.stop());
  }, 60_000);

  test("two relays on one host with the same --data-dir (Bun and Deno): with --node-key neither creates nor locks it, and both serve", async () => {
    const url = await cluster().database();
    const dataDir = join(await tempDataDir(), "never-made");
    const relays = await Promise.all(RUNTIMES.map((runtime) =>
      startRelayProcess([...RELAY_COMMANDS[runtime], "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, "--node-key", relayKeyFile, "--store", url], { env: { ...process.env, NO_COLOR: "1" } })
    ));
    for (const relay of relays) expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
    expect(existsSync(dataDir)).toBe(false);
    relays.forEach((relay) => relay.stop());
  }, 60_000);

  test("a relay whose key differs from the others' refuses to start, in one line", async () => {
    const url = await cluster().database();
    const first = await startInstance(url);
    const otherKey = join(await tempDataDir(), "other.pem");
    await writeFile(otherKey, keys.alice.private_pkcs1_pem, { mode: 0o600 });
    const refused = await runProcess([...RELAY_COMMANDS.bun, ...await relayArgs(url, [], otherKey)]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^hivemind-rendezvous: this relay's key \(sha256 [0-9a-f]{16}…\) differs from the one the other relays on this database serve \(sha256 [0-9a-f]{16}…\): give every relay the same --node-key\n$/);
    first.stop();
  }, 60_000);

  test("a database that does not answer at start → one line and exit code 1 (worth a restart); a --store that is not postgres:// → exit code 2", async () => {
    const nobody = `postgres://postgres@127.0.0.1:${await freePort()}/rendezvous`;
    const unreachable = await runProcess([...RELAY_COMMANDS.bun, ...await relayArgs(nobody)]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(new RegExp(`^hivemind-rendezvous: cannot open the store at ${nobody}: store: unavailable: .*ECONNREFUSED.*\n$`));
    const wrong = await runProcess([...RELAY_COMMANDS.bun, ...await relayArgs("mysql://db/x")]);
    expect(wrong).toMatchObject({ code: 2, stderr: 'hivemind-rendezvous: --store: expected postgres://… (or nothing, for the embedded log), got "mysql://db/x"\n' });
  }, 60_000);

  test("the relay's login refused (its role set NOLOGIN, its connections ended): 503 store_unavailable and /healthz down, requests trying no login meanwhile and the relay ever less often; up again once it may log in; refused at start → one line, exit code 2", async () => {
    const url = await cluster().database();
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    const proxy = await slowingProxy(Number(new URL(url).port)); // not slowing: to count the relay's logins (connections)
    try {
      await admin.unsafe(`CREATE ROLE relay_login LOGIN; ALTER DATABASE ${new URL(url).pathname.slice(1)} OWNER TO relay_login`);
      const asRelay = url.replace("postgres@", "relay_login@");
      const relay = await startInstance(asRelay.replace(`:${new URL(url).port}/`, `:${proxy.port}/`));
      expect((await post(relay, "/deposit", depositFor("bob", "before"))).status).toBe(200);
      const health = async () => {
        const response = await fetch(`${relay.url}/healthz`);
        return [response.status, (await response.json() as { engine: string }).engine];
      };
      await admin`ALTER ROLE relay_login NOLOGIN`;
      await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'relay_login'`;
      const refusedAt = Date.now();
      while ((await post(relay, "/deposit", depositFor("bob", "while refused"))).status !== 503) expect(Date.now() - refusedAt).toBeLessThan(10_000);
      expect(await post(relay, "/deposit", depositFor("bob", "while refused"))).toMatchObject({ status: 503, body: { status: "error", reason: "store_unavailable" } });
      expect(await health()).toEqual([503, "down"]);
      // A failed login is a line in the server's log, and may count towards locking the role out or banning the host.
      const loginsBefore = proxy.connections;
      for (let i = 0; i < 20; i++) expect((await post(relay, "/deposit", depositFor("bob", "while refused"))).status).toBe(503);
      await Bun.sleep(4500);
      // Requests try none (before, each of the 20 tried one); the probes, 1 and 2 s apart, two or three.
      expect(proxy.connections - loginsBefore).toBeGreaterThanOrEqual(2);
      expect(proxy.connections - loginsBefore).toBeLessThanOrEqual(3);
      const atStart = await runProcess([...RELAY_COMMANDS.bun, ...await relayArgs(asRelay)]);
      expect(atStart.code).toBe(2);
      expect(atStart.stderr).toMatch(/^hivemind-rendezvous: cannot open the store at .*: role "relay_login" is not permitted to log in\n$/);
      await admin`ALTER ROLE relay_login LOGIN`;
      // Back at the relay's next probe (4 or 8 s apart by now).
      const allowedAt = Date.now();
      while ((await health())[0] !== 200) {
        expect(Date.now() - allowedAt).toBeLessThan(20_000);
        await Bun.sleep(200);
      }
      expect((await post(relay, "/deposit", depositFor("bob", "after"))).status).toBe(200);
      expect(await health()).toEqual([200, "up"]);
      relay.stop();
    } finally {
      await admin.end({ timeout: 0 });
      await proxy.close();
    }
  }, 60_000);

  test("kill -9 of one of two relays (Bun and Deno) during deposits from 8 clients: every acknowledged id is stored exactly once", async () => {
    const url = await cluster().database();
    const relays = await relayUnderEachRuntime(url, UNLIMITED);
    let alive = relays;
    const load = depositLoad(() => alive, 8);
    await Bun.sleep(700);
    relays[0].child.kill("SIGKILL");
    alive = [relays[1]];
    await Bun.sleep(700);
    await load.stop();
    const stored = await collectIds(relays[1], "bob");
    expect(load.acknowledged.length).toBeGreaterThan(50);
    expect(new Set(stored).size).toBe(stored.length);
    expect(stored).toEqual(expect.arrayContaining(load.acknowledged));
    relays[1].stop();
  }, 60_000);
});

describe.skipIf(!installed)("the compiled binary on PostgreSQL", () => {
  test("x64 binary with PATH=/nonexistent beside a relay under Bun: a deposit on the binary is retrieved on the other", async () => {
    const url = await cluster().database();
    const onBinary = await startRelayProcess([await compiledBinary("bun-linux-x64"), ...await relayArgs(url)], { env: BARE_ENV, timeoutMs: 30_000 });
    const onBun = await startInstance(url);
    expect((await post(onBinary, "/deposit", depositFor("bob", "from the binary"))).status).toBe(200);
    const proof = await proofBody("bob", Math.floor(Date.now() / 1000));
    expect((await post(onBun, "/retrieve", proof)).body).toEqual({ status: "ok", messages: [intercom({ text: "from the binary" })] });
    expect(await post(onBinary, "/retrieve", proof)).toMatchObject({ status: 401, body: { reason: "replay_detected" } });
    onBinary.stop();
    onBun.stop();
  }, 120_000);
});

/**
 * Deposits from 8 clients on `relays` while `takeDown()` makes the engine unreachable and `bringBack()`
 * (once every relay has answered 503) makes it reachable again. Requires: meanwhile each relay answers
 * a deposit 503 store_unavailable with Retry-After and /healthz 503 "down"; within 10 s of the return a
 * 200 from each; no answer later than the deadline + 2 s, none missing, only 200s and 503s (a second
 * later, so every connection of the pools has been used again); each acknowledged deposit stored once;
 * /healthz "up" and no relay exited.
 */
async function expectOutageSurvived(relays: RelayProcess[], takeDown: () => Promise<void>, bringBack: () => Promise<void>): Promise<void> {
  const load = depositLoad(() => relays, 8);
  await Bun.sleep(500);
  await takeDown();
  await Promise.all(relays.map(async (relay) => {
    const during = await post(relay, "/deposit", depositFor("alice", "while down"));
    expect([during.status, during.body, during.headers.get("retry-after")]).toEqual([503, { status: "error", reason: "store_unavailable" }, "2"]);
    const health = await fetch(`${relay.url}/healthz`);
    expect([health.status, (await health.json() as { engine: string }).engine]).toEqual([503, "down"]);
  }));
  await bringBack();
  const backAt = Date.now();
  for (const relay of relays) {
    while ((await post(relay, "/deposit", depositFor("alice", "after"))).status !== 200) {
      expect(Date.now() - backAt).toBeLessThan(10_000);
      await Bun.sleep(100);
    }
  }
  await Bun.sleep(1000);
  await load.stop();
  expect(load.slowestMs()).toBeLessThan(ENGINE_TIMEOUT_MS + 2000);
  expect(load.statuses.get("no answer")).toBeUndefined();
  expect([...load.statuses.keys()].sort()).toEqual(["200 ok", "503 store_unavailable"]);
  const stored = await collectIds(relays[1], "bob");
  expect(new Set(stored).size).toBe(stored.length);
  expect(stored).toEqual(expect.arrayContaining(load.acknowledged));
  for (const relay of relays) {
    const health = await fetch(`${relay.url}/healthz`);
    expect([health.status, (await health.json() as { engine: string }).engine]).toEqual([200, "up"]);
    expect(relay.child.exitCode).toBeNull();
  }
}

describe.skipIf(!installed)("PostgreSQL killed and restarted under load", () => {
  for (const runtime of RUNTIMES) {
    test(`two relays under ${runtime}: 503 store_unavailable with Retry-After meanwhile, within 5 s + 2 s, and /healthz says so; no relay crashes; nothing acknowledged is lost`, async () => {
      const url = await cluster().database();
      const relays = [await startInstance(url, UNLIMITED, runtime), await startInstance(url, UNLIMITED, runtime)];
      await expectOutageSurvived(relays, () => cluster().crash(), () => cluster().start());
      relays.forEach((relay) => relay.stop());
    }, 90_000);
  }
});

describe.skipIf(!installed)("PostgreSQL failover on a multi-host URL", () => {
  test("primary killed -9 and standby promoted, the servers' role unreported (as before PostgreSQL 14, or behind a pooler) so the client asks each new connection, and those questions cut on the standby until its promotion: relays under Bun and Deno stay up, answer 503 store_unavailable and /healthz down meanwhile, 200 after; nothing acknowledged is lost", async () => {
    const pair = (await startReplicatedPair())!;
    const proxies = [await roleHidingProxy(pair.primaryPort), await roleHidingProxy(pair.standbyPort)];
    const relays: RelayProcess[] = [];
    try {
      const hosts = proxies.map((proxy) => `127.0.0.1:${proxy.port}`).join(",");
      relays.push(...await relayUnderEachRuntime(`postgres://postgres@${hosts}/postgres?target_session_attrs=read-write`, UNLIMITED));
      const takeDown = async () => {
        // A connection to the standby is cut as the client asks its role, as a server restarting or a flaky network would.
        proxies[1].cutRoleChecks = Infinity;
        await pair.killPrimary();
      };
      const bringBack = async () => {
        // The client still asks the role by the query role-check.ts guards, and the cut reached it.
        expect(proxies[1].cut).toBeGreaterThan(0);
        proxies[1].cutRoleChecks = 0;
        await pair.promoteStandby();
      };
      await expectOutageSurvived(relays, takeDown, bringBack);
    } finally {
      relays.forEach((relay) => relay.stop());
      await Promise.all(proxies.map((proxy) => proxy.close()));
      await pair.drop();
    }
  }, 120_000);
});
