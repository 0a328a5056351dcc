/**
 * What each client subcommand accepts and how it describes itself: the one source of the client's
 * usage text (its --help, its errors, and the relay's --help). It imports only the protocol's limits,
 * so the relay can show it without loading the client.
 */
import { MAX_TTL_SECONDS } from "../protocol-limits.ts";

/** One `--name` option of a subcommand. */
interface ClientOptionSpec {
  type: "string" | "boolean";
  /** How the option appears in the help, e.g. `--to PUB.pem`. */
  form: string;
  help: string;
}

/** A subcommand's synopsis, summary, positional operand and options. */
export interface CommandSpec {
  /** Everything after the program name on the usage line. */
  synopsis: string;
  /** One line for the list of commands. */
  brief: string;
  summary: string;
  operand: { name: string; help: string };
  options: Record<string, ClientOptionSpec>;
}

const RELAY_URL = { name: "URL", help: "the relay's base URL, e.g. http://relay:6789 (not an endpoint such as …/deposit)" };

/** The client subcommands, in the order the help lists them. */
export const CLIENT_COMMANDS = {
  keygen: {
    synopsis: "keygen DIR",
    brief: "write a new keypair",
    summary: "Writes a new RSA-2048 keypair, DIR/private_key.pem (mode 0600) and DIR/public_key.pem, and prints its fingerprint. Refuses to overwrite a key.",
    operand: { name: "DIR", help: "the directory to write into (created if needed)" },
    options: {},
  },
  deposit: {
    brief: "leave an encrypted message for a key at a relay",
    synopsis: "deposit URL --to PUB.pem [--from PRIV.pem] [--ttl SECONDS] (--text TEXT | --file FILE|-)",
    summary: "Seals a text for the owner of PUB.pem and leaves it at the relay; prints the deposit id.",
    operand: RELAY_URL,
    options: {
      to: { type: "string", form: "--to PUB.pem", help: "the recipient's public key (SPKI or PKCS#1 PEM)" },
      from: { type: "string", form: "--from PRIV.pem", help: "sign the message and the deposit with this private key" },
      ttl: { type: "string", form: "--ttl SECONDS", help: `how long the relay keeps it; at most ${MAX_TTL_SECONDS} (${MAX_TTL_SECONDS / 86400} days), the default` },
      text: { type: "string", form: "--text TEXT", help: "the text to send" },
      file: { type: "string", form: "--file FILE|-", help: "send the text in FILE (- for stdin); one trailing newline is dropped" },
    },
  },
  retrieve: {
    brief: "fetch and open this key's messages from a relay",
    synopsis: "retrieve URL --key PRIV.pem [--keep]",
    summary: "Fetches this key's messages, prints each one opened on stdout and, on stderr, whether it was signed and by " +
      "which key (SHA-256 fingerprint); then acknowledges them, so the relay deletes them.",
    operand: RELAY_URL,
    options: {
      key: { type: "string", form: "--key PRIV.pem", help: "the recipient's private key (PKCS#1 or PKCS#8 PEM)" },
      keep: { type: "boolean", form: "--keep", help: "acknowledge nothing: leave the messages (shows the first 100)" },
    },
  },
} satisfies Record<string, CommandSpec>;

/** A client subcommand's name. */
export type CommandName = keyof typeof CLIENT_COMMANDS;

/** One usage line per client subcommand, without the program name. */
export function clientUsageLines(): string[] {
  return Object.values(CLIENT_COMMANDS).map((command) => command.synopsis);
}

/** A subcommand's `--help` text. */
export function commandHelp(name: CommandName): string {
  const command: CommandSpec = CLIENT_COMMANDS[name];
  return [
    `Usage: hivemind-rendezvous ${command.synopsis}`,
    "",
    command.summary,
    "",
    ...table([
      [command.operand.name, command.operand.help],
      ...Object.values(command.options).map((option) => [option.form, option.help]),
      ["-h, --help", "this text"],
    ]),
  ].join("\n");
}

/** What an unknown subcommand is answered with: every command, the relay's own included. */
export function commandList(): string {
  return [
    "Commands:",
    ...table([["serve", "run the relay (the default without a command)"], ["copy", "copy every live message from one store to another"], ...Object.entries(CLIENT_COMMANDS).map(([name, command]) => [name, command.brief])]),
    "Each command takes --help.",
  ].join("\n");
}

function table(rows: string[][]): string[] {
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`);
}
