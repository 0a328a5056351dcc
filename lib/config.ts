/** Configuration: flag > RENDEZVOUS_* environment variable > default, parsed once and frozen. */
import { isAbsolute } from "node:path";
import { parseArgs } from "node:util";
import { type AddressRange, parseAddressRange } from "./ip-address.ts";

type Kind = "string" | "boolean" | "integer" | "address-ranges";

interface OptionSpec {
  kind: Kind;
  default: string | number | boolean | AddressRange[];
  help: string;
  /** Smallest and largest accepted value of an integer option. */
  range?: [number, number];
}

const GiB = 1024 ** 3;

/** Every option, its default and what it does; `--help` prints this table. */
export const OPTIONS = {
  host: { kind: "string", default: "0.0.0.0", help: "address to listen on" },
  port: { kind: "integer", default: 6789, range: [0, 65535], help: "TCP port (0 picks a free one)" },
  "data-dir": { kind: "string", default: "", help: "where messages and the relay key live [hivemind/rendezvous under $XDG_DATA_HOME, else ~/.local/share; required without either]" },
  "node-key": { kind: "string", default: "", help: "PEM private key (PKCS#1 or PKCS#8) that is the relay's identity [generated in the data dir]" },
  keyless: { kind: "boolean", default: false, help: "run without a key: GET /pubkey serves \"\" like the original relay" },
  "deposit-rate-limit": { kind: "integer", default: 60, range: [0, 1e9], help: "deposits per client per window (0 = unlimited)" },
  "deposit-rate-window": { kind: "integer", default: 60, range: [1, 86400], help: "deposit rate-limit window, seconds" },
  "read-rate-limit": { kind: "integer", default: 120, range: [0, 1e9], help: "retrieve/collect/ack requests per client per window (0 = unlimited)" },
  "read-rate-window": { kind: "integer", default: 60, range: [1, 86400], help: "read rate-limit window, seconds" },
  "require-depositor-proof": { kind: "boolean", default: false, help: "refuse deposits without a depositor ownership proof" },
  "max-payload-bytes": { kind: "integer", default: 65536, range: [1024, 64 << 20], help: "largest request body accepted" },
  "mailbox-max-messages": { kind: "integer", default: 256, range: [1, 1e6], help: "messages one mailbox may hold" },
  "max-store-bytes": { kind: "integer", default: GiB, range: [1 << 20, 2 ** 50], help: "bytes of messages the store may hold" },
  "max-messages": { kind: "integer", default: 1_000_000, range: [1, 1e9], help: "messages the store may hold; bounds its memory (about 105 bytes per message at most)" },
  "trust-proxy": { kind: "address-ranges", default: [], help: "comma-separated proxy addresses or CIDR ranges (127.0.0.1, 10.0.0.0/8, fd00::/8) whose X-Forwarded-For is believed" },
  "request-timeout": { kind: "integer", default: 30, range: [1, 255], help: "seconds a client may take to send its request" },
  "sweep-interval": { kind: "integer", default: 3600, range: [0, 86400 * 7], help: "seconds between sweeps for expired messages; the log is compacted once dead records outweigh live ones (0 = no timed sweep)" },
  "log-client-addresses": { kind: "boolean", default: false, help: "include client addresses in log lines" },
  store: { kind: "string", default: "", help: "where messages, spent proofs and rate limits live: the embedded log in the data dir, or postgres://user@host/db shared by several relays" },
  "store-pool-size": { kind: "integer", default: 10, range: [1, 1000], help: "connections to PostgreSQL per relay (relays × this must stay under its max_connections)" },
  "no-status-page": { kind: "boolean", default: false, help: "answer GET / with 404 JSON instead of the HTML status page for browsers" },
  "unsafe-no-fsync": { kind: "boolean", default: false, help: "UNSAFE: answer deposits before fsync; a power cut loses them" },
} satisfies Record<string, OptionSpec>;

type OptionName = keyof typeof OPTIONS;
type ValueOf<S> = S extends { kind: "boolean" } ? boolean : S extends { kind: "integer" } ? number
  : S extends { kind: "address-ranges" } ? readonly AddressRange[] : string;
type CamelCase<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<CamelCase<T>>}` : S;

/** The relay's settings, one field per option (camelCased). */
export type Config = { readonly [K in OptionName as CamelCase<K>]: ValueOf<(typeof OPTIONS)[K]> };

/** What the command line asks for: run with a config, or print help or the version. */
export type Invocation = { action: "serve"; config: Config } | { action: "help" } | { action: "version" };

/** A bad flag or variable; the message is one line for the operator. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses argv (without the program) and the environment into a frozen Config. */
export function parseConfig(args: string[], env: Record<string, string | undefined>): Invocation {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
        ...Object.fromEntries(Object.entries(OPTIONS).map(([name, spec]) => [name, { type: spec.kind === "boolean" ? "boolean" : "string" }])),
      } as Record<string, { type: "string" | "boolean"; short?: string }>,
    });
  } catch (error) {
    // One line, as every configuration error is: parseArgs explains some on three (a value starting with "-").
    throw new ConfigError((error as Error).message.replace(/\s*\n\s*/g, " "));
  }
  if (parsed.values.help) return { action: "help" };
  if (parsed.values.version) return { action: "version" };
  const config: Record<string, unknown> = {};
  /** Where each option's value came from, for errors that name two of them. */
  const sources: Record<string, string> = {};
  for (const [name, spec] of Object.entries(OPTIONS) as [OptionName, OptionSpec][]) {
    const envName = `RENDEZVOUS_${name.toUpperCase().replaceAll("-", "_")}`;
    const flag = parsed.values[name];
    const raw = flag !== undefined ? flag : env[envName];
    const source = flag !== undefined ? `--${name}` : envName;
    sources[name] = source;
    config[name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())] = raw === undefined || raw === "" && spec.kind !== "string"
      ? spec.default
      : convert(raw, spec, source);
  }
  config.dataDir ||= defaultDataDir(env);
  for (const [name, path] of Object.entries({ "data-dir": config.dataDir, "node-key": config.nodeKey })) {
    // A systemd Environment= line or a quoted argument passes ~ through as a character.
    if (String(path).startsWith("~")) throw new ConfigError(`${sources[name]}: ${JSON.stringify(path)} starts with ~, which only a shell expands: give the path in full`);
  }
  if (config.keyless && config.nodeKey) {
    throw new ConfigError(`${sources.keyless} and ${sources["node-key"]} contradict each other: a keyless relay has no key`);
  }
  return { action: "serve", config: Object.freeze(config) as Config };
}

/** `--help` text, generated from {@link OPTIONS}, with the client's usage lines (without the program name). */
export function helpText(version: string, clientUsageLines: string[]): string {
  const rows = Object.entries(OPTIONS).map(([name, spec]) => {
    const flag = spec.kind === "boolean" ? `--${name}` : `--${name} <${spec.kind === "integer" ? "n" : "value"}>`;
    const range = "range" in spec ? `${spec.range[0]} to ${spec.range[1]}, ` : "";
    const fallback = spec.kind === "boolean" || spec.default === "" || (Array.isArray(spec.default) && !spec.default.length)
      ? ""
      : ` (${range}default ${spec.default})`;
    return `  ${flag.padEnd(32)}${spec.help}${fallback}\n  ${"".padEnd(32)}env RENDEZVOUS_${name.toUpperCase().replaceAll("-", "_")}`;
  });
  return [
    `hivemind-rendezvous ${version}: store-and-forward relay for HiveMind nodes`,
    "",
    "Usage: hivemind-rendezvous [serve] [options]",
    ...clientUsageLines.map((line) => `       hivemind-rendezvous ${line}`),
    "       hivemind-rendezvous copy FROM TO      (every live message; FROM and TO each a data dir or postgres://…)",
    "",
    "Options (flag > environment variable > default):",
    ...rows,
    "  -h, --help                      this text",
    "  -v, --version                   print the version",
  ].join("\n");
}

function convert(raw: string | boolean, spec: OptionSpec, source: string): unknown {
  if (spec.kind === "boolean") {
    if (typeof raw === "boolean") return raw;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new ConfigError(`${source}: expected true or false, got ${JSON.stringify(raw)}`);
  }
  const text = String(raw);
  if (spec.kind === "address-ranges") return text.split(",").map((item) => item.trim()).filter(Boolean).map((item) => addressRange(item, source));
  if (spec.kind === "string") return text;
  const [min, max] = spec.range!;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) throw new ConfigError(`${source}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

function addressRange(text: string, source: string): AddressRange {
  const range = parseAddressRange(text);
  if (!range) throw new ConfigError(`${source}: expected an IP address or CIDR range (e.g. 10.0.0.0/8, fd00::/8), got ${JSON.stringify(text)}`);
  return range;
}

/**
 * `hivemind/rendezvous` under XDG_DATA_HOME, else under ~/.local/share; "" when neither is an absolute
 * path (a service started without HOME): a default relative to wherever the relay was started would
 * give it another key and another store each time, so --data-dir must then be given.
 */
function defaultDataDir(env: Record<string, string | undefined>): string {
  const { XDG_DATA_HOME = "", HOME = "" } = env;
  const base = isAbsolute(XDG_DATA_HOME) ? XDG_DATA_HOME : isAbsolute(HOME) ? `${HOME}/.local/share` : "";
  return base && `${base}/hivemind/rendezvous`;
}
