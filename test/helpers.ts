/** Shared test helpers: the vectors, a temp data dir, a relay with a frozen clock, proof signing. */
import { test } from "bun:test";
import { rmSync } from "node:fs";
import { mkdtemp, readdir, readFile, readlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { type App, createApp } from "../lib/app.ts";
import { type Config, parseConfig } from "../lib/config.ts";
import type { Logger } from "../lib/log.ts";
import type { VerifiedProof } from "../lib/proof.ts";
import { signProof } from "../lib/client/identity.ts";
import { importPrivateKey } from "../lib/client/keys.ts";
import { PSS } from "../lib/crypto/rsa-params.ts";
import postgres from "postgres";
import { openPostgresStore } from "../lib/postgres/message-store.ts";
import { postgresState } from "../lib/postgres/shared-state.ts";
import type { SharedState } from "../lib/shared-state.ts";
import type { MailboxStore } from "../lib/store/mailbox-store.ts";
import { LOG_FILE, type MessageStore, type StoreOptions } from "../lib/store/message-store.ts";
import { openMessageStore } from "../lib/store/open-store.ts";
import { RELAY_UNDER_TEST, testRelayProcess } from "./test-relay-process.ts";

export const VECTORS_DIR = join(import.meta.dir, "vectors");

/** A parsed vector file. */
export async function loadVector<T = any>(name: string): Promise<T> {
  return await Bun.file(join(VECTORS_DIR, name)).json();
}

interface KeyPair {
  public_spki_pem: string;
  public_pkcs1_pem?: string;
  private_pkcs1_pem: string;
}
export const keys: Record<"alice" | "bob" | "relay", KeyPair> = (await loadVector("keys.json")).keys;

const cleanups: string[] = [];

/** Removes every temp dir the tests made; test/setup.ts calls it after the last test file. */
export function removeTempDirs(): void {
  cleanups.forEach((path) => rmSync(path, { recursive: true, force: true }));
}
/** Every store a test opened stays referenced, so an unclosed (e.g. "crashed") one is never garbage-collected with open files. */
const openedStores: MessageStore[] = [];

/** A fresh directory, removed when the tests end. */
export async function tempDataDir(): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), "rendezvous-test-"));
  cleanups.push(path);
  return path;
}

/** The records of the log file at `path`: its bytes without the zeros an open store writes past them. */
export async function logRecords(path: string): Promise<Buffer> {
  const bytes = await readFile(path);
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return bytes.subarray(0, end);
}

/** The default config with overrides. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  const invocation = parseConfig([], {});
  if (invocation.action !== "serve") throw new Error("unreachable");
  return { ...invocation.config, ...overrides };
}

/** Opens a store in `dataDir` with test defaults. */
export async function testStore(dataDir: string, options: Partial<StoreOptions> = {}): Promise<MessageStore> {
  const store = await openMessageStore(dataDir, {
    maxStoreBytes: 1 << 30,
    maxMessages: 1_000_000,
    mailboxMaxMessages: 256,
    durable: true,
    sweepIntervalSeconds: 0,
    clock: () => Math.floor(Date.now() / 1000),
    log: () => {},
    ...options,
  });
  openedStores.push(store);
  return store;
}

/**
 * With RENDEZVOUS_TEST_STORE set to a PostgreSQL URL, test relays keep their mailboxes, spent proofs
 * and rate limits there, in one schema per data dir: test/http-on-postgres.test.ts runs the HTTP
 * suites so. Unset, they use the embedded log in the data dir.
 */
const POSTGRES_URL = process.env.RENDEZVOUS_TEST_STORE;
const admin = POSTGRES_URL ? postgres(POSTGRES_URL, { max: 1, onnotice: () => {} }) : null;
const schemas = new Map<string, string>();

/** The URL of the PostgreSQL schema of the test relay on `dataDir` (created the first time). */
async function postgresSchema(dataDir: string): Promise<string> {
  if (!schemas.has(dataDir)) {
    const schema = `relay_${schemas.size}`;
    await admin!.unsafe(`CREATE SCHEMA ${schema}`);
    schemas.set(dataDir, `${POSTGRES_URL}?search_path=${schema}`);
  }
  return schemas.get(dataDir)!;
}

/** The store of a test relay on `dataDir`: the embedded log there, or PostgreSQL (see POSTGRES_URL). */
async function testRelayStorage(dataDir: string, options: Partial<StoreOptions>): Promise<{ store: MailboxStore; shared?: SharedState }> {
  if (!POSTGRES_URL) return { store: await testStore(dataDir, options) };
  const store = await openPostgresStore({
    url: await postgresSchema(dataDir),
    poolSize: 2, // the suites open a relay per test and never close it: the test cluster allows 400 connections
    operationTimeoutMs: 5000,
    maxStoreBytes: options.maxStoreBytes!,
    maxMessages: options.maxMessages!,
    mailboxMaxMessages: options.mailboxMaxMessages!,
    sweepIntervalSeconds: 0,
    clock: options.clock!,
    log: () => {},
  });
  return { store, shared: postgresState(store.engine) };
}

/**
 * A relay app on a temp store; `now` freezes its clock (Unix seconds). With RENDEZVOUS_TEST_RELAY
 * set, a relay process serves it instead (see test/test-relay-process.ts): `app`, `store`, `log` and
 * a `peer` other than 127.0.0.1 are then out of reach, and the tests that use them are `testInProcess`.
 */
export interface TestRelay {
  app: App;
  store: MailboxStore;
  dataDir: string;
  /** POSTs `body` (JSON-encoded unless a string or bytes) or GETs when body is undefined. */
  request(path: string, body?: unknown, init?: RequestInit & { peer?: string }): Promise<Response>;
  /** Sets the frozen clock (a relay process is restarted at it: await it). */
  setNow(now: number): Promise<void> | void;
  /** Closes its store (or stops its process), as a restart would. */
  stop(): Promise<void>;
}

/** A test that needs the app in this process (see TestRelay): skipped where a relay process serves the suites. */
export const testInProcess = test.skipIf(RELAY_UNDER_TEST !== undefined);

/** The body and method `TestRelay.request` sends. */
function requestInit(body: unknown, init: RequestInit): RequestInit {
  const method = init.method ?? (body === undefined ? "GET" : "POST");
  const raw = body === undefined || typeof body === "string" || body instanceof Uint8Array;
  return { ...init, method, body: raw ? body as string | Uint8Array<ArrayBuffer> | undefined : JSON.stringify(body) };
}

const inProcessOnly = (what: string) => () => {
  throw new Error(`${what} needs the app in this process: mark the test testInProcess`);
};

/** The test relay as a relay process (RENDEZVOUS_TEST_RELAY). */
async function testRelayOnAProcess(
  options: { now?: number; relayPubkey?: string; config?: Partial<Config>; dataDir: string; log?: Logger; uptimeClock?: () => number },
): Promise<TestRelay> {
  if (options.log) inProcessOnly("a log")();
  if (options.uptimeClock) inProcessOnly("an uptime clock")();
  const pubkey = options.relayPubkey ?? keys.relay.public_spki_pem;
  const known = Object.values(keys).find((pair) => pair.public_spki_pem === pubkey);
  if (pubkey !== "" && !known) inProcessOnly("a relay key without its private key")();
  const relay = await testRelayProcess({
    dataDir: options.dataDir,
    now: options.now,
    relayKey: { pubkey, privatePem: known?.private_pkcs1_pem },
    config: options.config ?? {},
    store: POSTGRES_URL && await postgresSchema(options.dataDir),
  });
  return {
    get app(): App {
      return inProcessOnly("relay.app")();
    },
    get store(): MailboxStore {
      return inProcessOnly("relay.store")();
    },
    dataDir: options.dataDir,
    setNow: (now) => relay.setNow(now),
    stop: () => relay.stop(),
    request(path, body, init = {}) {
      const { peer, ...rest } = init;
      if (peer !== undefined && peer !== "127.0.0.1") inProcessOnly(`a peer other than 127.0.0.1 (${peer})`)();
      return fetch(`${relay.url}${path}`, requestInit(body, rest));
    },
  };
}

export async function testRelay(options: {
  now?: number;
  relayPubkey?: string;
  config?: Partial<Config>;
  dataDir?: string;
  log?: Logger;
  /** The relay's uptime clock (seconds); by default the frozen clock, so that setNow is time passing. In process only. */
  uptimeClock?: () => number;
} = {}): Promise<TestRelay> {
  const dataDir = options.dataDir ?? await tempDataDir();
  if (RELAY_UNDER_TEST) return await testRelayOnAProcess({ ...options, dataDir });
  let now = options.now ?? Date.now() / 1000;
  const clock = () => now;
  const config = testConfig(options.config);
  const { store, shared } = await testRelayStorage(dataDir, {
    clock: () => Math.floor(clock()),
    maxStoreBytes: config.maxStoreBytes,
    maxMessages: config.maxMessages,
    mailboxMaxMessages: config.mailboxMaxMessages,
  });
  const relayPubkey = options.relayPubkey ?? keys.relay.public_spki_pem;
  const app = createApp({
    config,
    store,
    shared,
    relayPubkey,
    version: packageJson.version,
    runtime: "test",
    log: options.log ?? (() => {}),
    clock,
    uptimeClock: options.uptimeClock ?? clock,
  });
  return {
    app,
    store,
    dataDir,
    setNow: (value) => void (now = value),
    stop: () => store.close(),
    request(path, body, init = {}) {
      return app(new Request(`http://relay.test${path}`, requestInit(body, init)), () => init.peer ?? "127.0.0.1");
    },
  };
}

const signingKeys = new Map<string, Promise<CryptoKey>>();

/** A `/retrieve`-style body proving ownership of `who`'s key (SPKI text unless `pem` is given). */
export async function proofBody(
  who: "alice" | "bob",
  timestamp: number,
  options: { pem?: string; relayPem?: string } = {},
): Promise<{ pubkey: string; timestamp: number; signature: string }> {
  const pubkey = options.pem ?? keys[who].public_spki_pem;
  const privatePem = keys[who].private_pkcs1_pem;
  if (!signingKeys.has(privatePem)) signingKeys.set(privatePem, importPrivateKey(privatePem, PSS));
  const signature = await signProof(await signingKeys.get(privatePem)!, pubkey, options.relayPem ?? keys.relay.public_spki_pem, timestamp);
  return { pubkey, timestamp, signature };
}

/** A proof for the replay guards, named by `name` (its signature's bytes): one mailbox, one timestamp. */
export function spentProof(name: string, parts: Partial<VerifiedProof> = {}): VerifiedProof {
  return { mailbox: "0".repeat(64), timestamp: 1_767_225_600, signature: new TextEncoder().encode(name), ...parts };
}

/** A minimal valid INTERCOM payload string. */
export function intercom(data: unknown = { data: "hello" }): string {
  return JSON.stringify({ msg_type: "intercom", payload: data, metadata: {}, route: [], node: null, source_peer: null });
}

/** The response's JSON body. */
export async function json(response: Response): Promise<any> {
  return await response.json();
}

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * Padded base64 `text` with the bits its last digit carries past the bytes set (two before "=", four
 * before "=="): another spelling of the same bytes.
 */
export function withBitsSetBeforePadding(text: string): string {
  const padding = text.endsWith("==") ? 2 : 1;
  const last = text.length - padding - 1;
  return text.slice(0, last) + BASE64_ALPHABET[BASE64_ALPHABET.indexOf(text[last]) | (padding === 2 ? 0b1111 : 0b11)] + text.slice(last + 1);
}

/** How many log files of `dir` that are no longer named (replaced by a compaction) this process holds open. */
export async function deletedLogsHeld(dir: string): Promise<number> {
  const targets = await Promise.all((await readdir("/proc/self/fd")).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => "")));
  return targets.filter((target) => target === `${join(dir, LOG_FILE)} (deleted)`).length;
}
