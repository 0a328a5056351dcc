/**
 * The test relay of test/helpers.ts served by a relay process instead of the app in this process:
 * main.ts under Deno, or a compiled binary, over a real socket. RENDEZVOUS_TEST_RELAY chooses it
 * ("deno", or the binary's path); test/http-on-postgres.test.ts runs the HTTP suites so.
 *
 * The relay's clock is frozen where a test freezes it, by libfaketime (LD_PRELOAD) parsing FAKETIME once:
 * a test that moves the clock restarts the relay on its data dir (and database) at the new time.
 * libfaketime 0.9.10 cannot be told a new time safely while the relay runs: re-reading a timestamp
 * file on every call (FAKETIME_NO_CACHE) races between threads and now and then hands one of them the
 * real time. What only the app in this process offers (a made-up peer or request, the store
 * object, the log, a config no flag can give) throws here: such tests are `testInProcess`.
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, onTestFinished } from "bun:test";
import { OPTIONS } from "../lib/config.ts";
import { BARE_ENV, RELAY_COMMANDS, startRelayProcess } from "./processes.ts";

/** Where Debian's libfaketime is (package faketime). */
const LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/** True where libfaketime is installed, which a relay process needs to run the suites' frozen clocks. */
export const faketimeInstalled = () => existsSync(LIBFAKETIME);

/** What the suites run against: "deno", a binary's path, or undefined for the app in this process. */
export const RELAY_UNDER_TEST = process.env.RENDEZVOUS_TEST_RELAY || undefined;

/** How testRelayProcess starts a relay. */
export interface RelayProcessOptions {
  dataDir: string;
  /** Unix seconds (whole) the relay's clock is frozen at; the real clock when undefined. */
  now?: number;
  /** The PEM of the key the relay serves, with its private key; "" for a keyless relay. */
  relayKey: { pubkey: string; privatePem?: string };
  /** Config fields (camelCased flags) to pass as flags. */
  config: Record<string, unknown>;
  /** --store, when not the embedded log. */
  store?: string;
}

/** A relay process the tests talk to as they would to the app. */
export interface RelayUnderTest {
  /** Where it listens; a new port after each setNow. */
  readonly url: string;
  /** Restarts it with its clock frozen at `now`. */
  setNow(now: number): Promise<void>;
  /** Stops it (SIGTERM) and waits for it to exit, as a restart would. */
  stop(): Promise<void>;
}

const frozenAt = (now: number) => {
  if (!Number.isInteger(now)) throw new Error(`a relay process freezes its clock at whole seconds, not ${now}`);
  return new Date(now * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "");
};

/** Starts the relay RELAY_UNDER_TEST names on `options.dataDir`; it stops when the test (or the file, at top level) ends. */
export async function testRelayProcess(options: RelayProcessOptions): Promise<RelayUnderTest> {
  const binary = RELAY_UNDER_TEST === "deno" ? RELAY_COMMANDS.deno : [RELAY_UNDER_TEST!];
  const args = ["--host", "127.0.0.1", "--port", "0", "--data-dir", options.dataDir, ...configFlags(options.config)];
  if (options.store) args.push("--store", options.store, "--store-pool-size", "2");
  if (options.relayKey.pubkey === "") args.push("--keyless");
  else {
    const keyFile = join(options.dataDir, "relay-key.pem");
    await writeFile(keyFile, options.relayKey.privatePem!, { mode: 0o600 });
    args.push("--node-key", keyFile);
  }
  const start = (now: number | undefined) => {
    const env: Record<string, string | undefined> = RELAY_UNDER_TEST === "deno" ? { ...process.env, NO_COLOR: "1" } : { ...BARE_ENV };
    // A frozen wall clock; timers (the monotonic clock) run as usual.
    if (now !== undefined) Object.assign(env, { LD_PRELOAD: LIBFAKETIME, FAKETIME: frozenAt(now), DONT_FAKE_MONOTONIC: "1", TZ: "UTC" });
    return startRelayProcess([...binary, ...args], { env, timeoutMs: 30_000 });
  };
  let relay = await start(options.now);
  const stop = async () => {
    relay.child.kill("SIGTERM");
    await relay.child.exited;
  };
  try {
    onTestFinished(stop);
  } catch {
    afterAll(stop); // started at the top level of a test file
  }
  return {
    get url() {
      return relay.url;
    },
    async setNow(now) {
      if (options.now === undefined) throw new Error("a relay process started on the real clock cannot be frozen later");
      await stop();
      relay = await start(now);
    },
    stop,
  };
}

/** `config` as flags; a field no flag spells throws (the test needs the app in this process). */
function configFlags(config: Record<string, unknown>): string[] {
  return Object.entries(config).flatMap(([field, value]) => {
    const flag = field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const spec = (OPTIONS as Record<string, { kind: string }>)[flag];
    if (!spec || spec.kind === "address-ranges") throw new Error(`config ${field} cannot be given to a relay process; mark the test testInProcess`);
    if (spec.kind === "boolean") return value ? [`--${flag}`] : [];
    return [`--${flag}`, String(value)];
  });
}
