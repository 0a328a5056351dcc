/** parseConfig: flag > environment > default, and a clear error for every bad value. */
import { describe, expect, test } from "bun:test";
import { ConfigError, helpText, OPTIONS, parseConfig } from "../lib/config.ts";
import { parseAddressRange } from "../lib/ip-address.ts";

function configOf(args: string[], env: Record<string, string> = {}) {
  const invocation = parseConfig(args, env);
  if (invocation.action !== "serve") throw new Error(`expected serve, got ${invocation.action}`);
  return invocation.config;
}

describe("parseConfig", () => {
  test("defaults: 0.0.0.0:6789, 60 deposits per 60 s, data dir under XDG_DATA_HOME", () => {
    const config = configOf([], { XDG_DATA_HOME: "/xdg" });
    expect(config).toMatchObject({
      host: "0.0.0.0", port: 6789, dataDir: "/xdg/hivemind/rendezvous", depositRateLimit: 60, depositRateWindow: 60,
      requireDepositorProof: false, keyless: false, maxPayloadBytes: 65536, mailboxMaxMessages: 256, maxStoreBytes: 1024 ** 3,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  test("data dir falls back to ~/.local/share without XDG_DATA_HOME", () => {
    expect(configOf([], { HOME: "/home/pi" }).dataDir).toBe("/home/pi/.local/share/hivemind/rendezvous");
  });

  test("no default data dir without an absolute XDG_DATA_HOME or HOME (not one relative to wherever the relay starts)", () => {
    for (const env of [{}, { HOME: "" }, { HOME: "relative" }, { XDG_DATA_HOME: "xdg", HOME: "" }] as Record<string, string>[]) expect(configOf([], env).dataDir).toBe("");
    expect(configOf([], { XDG_DATA_HOME: "xdg", HOME: "/home/pi" }).dataDir).toBe("/home/pi/.local/share/hivemind/rendezvous");
    expect(configOf(["--data-dir", "data"], {}).dataDir).toBe("data");
  });

  test("a flag beats its RENDEZVOUS_ variable, which beats the default", () => {
    expect(configOf([], { RENDEZVOUS_PORT: "7000" }).port).toBe(7000);
    expect(configOf(["--port", "7100"], { RENDEZVOUS_PORT: "7000" }).port).toBe(7100);
    expect(configOf([], { RENDEZVOUS_REQUIRE_DEPOSITOR_PROOF: "true" }).requireDepositorProof).toBe(true);
    expect(configOf([], { RENDEZVOUS_TRUST_PROXY: "10.0.0.0/8" }).trustProxy).toEqual([parseAddressRange("10.0.0.0/8")!]);
  });

  test("--trust-proxy takes addresses and CIDR ranges, IPv4 and IPv6", () => {
    const ranges = ["127.0.0.1", "10.0.0.0/8", "fd00::/8", "::1", "192.168.1.0/24"];
    expect(configOf(["--trust-proxy", ranges.join(", ")]).trustProxy).toEqual(ranges.map((range) => parseAddressRange(range)!));
  });

  const bad: [string[], Record<string, string>, RegExp][] = [
    [["--port", "70000"], {}, /--port: expected a whole number from 0 to 65535/],
    [["--port", "abc"], {}, /--port/],
    [[], { RENDEZVOUS_DEPOSIT_RATE_LIMIT: "-1" }, /RENDEZVOUS_DEPOSIT_RATE_LIMIT/],
    [[], { RENDEZVOUS_KEYLESS: "maybe" }, /RENDEZVOUS_KEYLESS: expected true or false/],
    [["--no-such-flag"], {}, /no-such-flag/],
    [["--keyless", "--node-key", "relay.pem"], {}, /^--keyless and --node-key contradict each other: a keyless relay has no key$/],
    [["--data-dir", "~/relay"], {}, /^--data-dir: "~\/relay" starts with ~, which only a shell expands: give the path in full$/],
    [[], { RENDEZVOUS_NODE_KEY: "~/relay.pem" }, /^RENDEZVOUS_NODE_KEY: "~\/relay.pem" starts with ~/],
    [["--node-key", "relay.pem"], { RENDEZVOUS_KEYLESS: "1" }, /^RENDEZVOUS_KEYLESS and --node-key contradict each other/],
    [["stray"], {}, /stray/],
    [["--sweep-interval", "-1"], {}, /^Option '--sweep-interval' argument is ambiguous\. [^\n]* use '--sweep-interval=-XYZ'\.$/],
    [["--trust-proxy", "localhost"], {}, /^--trust-proxy: expected an IP address or CIDR range \(e.g. 10.0.0.0\/8, fd00::\/8\), got "localhost"$/],
    [["--trust-proxy", "127.0.0.1,10.0.0.0/33"], {}, /^--trust-proxy: expected an IP address or CIDR range .*, got "10.0.0.0\/33"$/],
    [[], { RENDEZVOUS_TRUST_PROXY: "fd00::/129" }, /^RENDEZVOUS_TRUST_PROXY: expected an IP address or CIDR range .*, got "fd00::\/129"$/],
  ];
  for (const [args, env, message] of bad) {
    test(`${[...args, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].join(" ")} → ConfigError`, () => {
      expect(() => parseConfig(args, env)).toThrow(ConfigError);
      expect(() => parseConfig(args, env)).toThrow(message);
    });
  }

  test("--help and --version are actions, not configs", () => {
    expect(parseConfig(["--help"], {})).toEqual({ action: "help" });
    expect(parseConfig(["-v"], {})).toEqual({ action: "version" });
  });

  test("helpText names every option and its variable, each number's range with its default, and lists the given client usage lines", () => {
    const text = helpText("1.2.3", ["keygen DIR"]);
    expect(text).toContain("       hivemind-rendezvous keygen DIR\n");
    for (const [name, spec] of Object.entries(OPTIONS)) {
      expect(text).toContain(`--${name}`);
      expect(text).toContain(`RENDEZVOUS_${name.toUpperCase().replaceAll("-", "_")}`);
      if ("range" in spec) expect(text).toContain(`(${spec.range[0]} to ${spec.range[1]}, default ${spec.default})`);
    }
  });
});
