/** The client subcommands: argv → checked options → keygen, deposit or retrieve; an exit code back. */
import { writeSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { strictUtf8 } from "../bytes.ts";
import { parsePrivateKeyPem, parsePublicKeyPem } from "../crypto/pem.ts";
import { MAX_TTL_SECONDS } from "../protocol-limits.ts";
import { deposit } from "./deposit.ts";
import { refusalHints } from "./hints.ts";
import { RelayRefusal } from "./http.ts";
import { keygen } from "./keygen.ts";
import { keyFingerprint } from "./keys.ts";
import { retrieve } from "./retrieve.ts";
import { CLIENT_COMMANDS, type CommandName, commandHelp, commandList } from "./usage.ts";

/** Bad arguments: exit code 2, with the command's synopsis. */
class UsageError extends Error {}

/** An input file that cannot be used (unreadable, not a key, not text): exit code 2, the file named. */
class InputError extends Error {}

type Values = Record<string, string | boolean | undefined>;

/** Runs one subcommand with its operand and option values; resolves with the exit code. */
type Runner = (operand: string, values: Values, say: (line: string) => void) => Promise<number>;

const runners: Record<CommandName, Runner> = {
  async keygen(directory) {
    if (directory === "") throw new UsageError("DIR is empty");
    checkNoTilde(directory);
    const { privatePath, publicPath, publicPem } = await keygen(directory);
    writeLine(`wrote ${privatePath} and ${publicPath}; fingerprint ${keyFingerprint(publicPem)}`);
    return 0;
  },
  async deposit(url, values, say) {
    if (!values.to) throw new UsageError("--to is required");
    if ((values.text === undefined) === (values.file === undefined)) throw new UsageError("give exactly one of --text and --file");
    const ttl = values.ttl === undefined ? undefined : parseTtl(values.ttl as string, say);
    const text = typeof values.text === "string" ? values.text : (await readInput(values.file as string)).replace(/\r?\n$/, "");
    if (text === "") throw new InputError(`the message is empty (${values.file === undefined ? "--text" : `--file ${values.file}`}): nothing to send`);
    writeLine(await deposit({
      url,
      recipientPem: await readKey(values.to as string, "public"),
      senderPrivatePem: values.from ? await readKey(values.from as string, "private") : undefined,
      ttl,
      text,
    }));
    return 0;
  },
  async retrieve(url, values) {
    if (!values.key) throw new UsageError("--key is required");
    const privatePem = await readKey(values.key as string, "private");
    // Notes too are written checked: one may carry a message that could not be opened, which is then acknowledged.
    const output = { message: writeLine, note: writeNote };
    const failures = await retrieve({ url, privatePem, keep: values.keep === true }, output);
    return failures ? 1 : 0;
  },
};

/** Runs `argv` (subcommand first); resolves with the process exit code. */
export async function runClient(argv: string[]): Promise<number> {
  const [name = "", ...args] = argv;
  if (!Object.hasOwn(CLIENT_COMMANDS, name)) {
    return console.error(`hivemind-rendezvous: unknown command ${JSON.stringify(name)}\n${commandList()}`), 2;
  }
  const command = name as CommandName;
  const say = (line: string) => console.error(`hivemind-rendezvous ${command}: ${line}`);
  let operand = "";
  try {
    const { positionals, values } = parseCommand(command, args);
    if (values.help) return console.log(commandHelp(command)), 0;
    const { name: operandName } = CLIENT_COMMANDS[command].operand;
    if (positionals.length !== 1) throw new UsageError(`expected one ${operandName}, got ${positionals.length}`);
    operand = positionals[0];
    if (operandName === "URL") checkUrl(operand);
    return await runners[command](operand, values, say);
  } catch (error) {
    if (error instanceof UsageError) return say(`${error.message} (usage: hivemind-rendezvous ${CLIENT_COMMANDS[command].synopsis})`), 2;
    if (error instanceof InputError) return say(error.message), 2;
    say((error as Error).message ?? String(error));
    if (error instanceof RelayRefusal) refusalHints(error, operand).forEach(say);
    return 1;
  }
}

function parseCommand(command: CommandName, args: string[]): { positionals: string[]; values: Values } {
  const options = Object.fromEntries(Object.entries(CLIENT_COMMANDS[command].options).map(([name, { type }]) => [name, { type }]));
  try {
    const parsed = parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
    return { positionals: parsed.positionals, values: parsed.values as Values };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** A relay's base URL: http(s), a host, perhaps a path prefix; no query or fragment (the endpoints' paths are appended). */
function checkUrl(url: string): void {
  if (!/^https?:\/\/[^/]/i.test(url) || !URL.canParse(url)) {
    const withScheme = /^[\w.-]+(?::\d+)?(?:\/|$)/.test(url) ? ` (did you mean http://${url}?)` : "";
    throw new UsageError(`not an http(s) URL: ${url}${withScheme}`);
  }
  if (/[?#]/.test(url)) throw new UsageError(`the relay's base URL takes no ?query or #fragment: ${url}`);
}

/** Refuses a path starting with ~: only a shell expands it, and not inside quotes. */
function checkNoTilde(path: string): void {
  if (path.startsWith("~")) throw new InputError(`${JSON.stringify(path)} starts with ~, which only a shell expands (not inside quotes): give the path in full`);
}

/**
 * Writes a line to standard output at once, or throws: a message is acknowledged only once it is written,
 * and a deposit's id is not lost unsaid. (Bun's console.log drops write errors, such as a full disk's.)
 */
function writeLine(line: string): void {
  writeWhole(1, "standard output", line);
}

/** {@link writeLine} for standard error. */
function writeNote(line: string): void {
  writeWhole(2, "standard error", line);
}

function writeWhole(fd: number, name: string, line: string): void {
  const bytes = new TextEncoder().encode(`${line}\n`);
  for (let written = 0; written < bytes.length;) {
    try {
      written += writeSync(fd, bytes, written);
    } catch (error) {
      // A non-blocking output (set so by another process sharing it) whose reader lags: try again shortly.
      if ((error as { code?: string }).code !== "EAGAIN") throw new Error(`cannot write to ${name}: ${(error as Error).message}`);
      Atomics.wait(PAUSE, 0, 0, 10);
    }
  }
}

/** What writeLine waits on (nothing ever wakes it): 10 ms without a busy loop, in a program with nothing else to do meanwhile. */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/** `--ttl` as whole seconds; above the relay's cap it is cut to the cap, and `say` tells so. */
function parseTtl(text: string, say: (line: string) => void): number {
  const ttl = /^\d+$/.test(text) ? Number(text) : 0;
  if (ttl < 1) throw new UsageError(`--ttl must be a whole number of seconds, at least 1, got ${JSON.stringify(text)}`);
  if (ttl <= MAX_TTL_SECONDS) return ttl;
  say(`--ttl ${text} is above the relay's cap of ${MAX_TTL_SECONDS} s (7 days); capped to ${MAX_TTL_SECONDS}`);
  return MAX_TTL_SECONDS;
}

/** A key file's text without trailing whitespace (Python writes none); checked to be the expected kind and size. */
async function readKey(path: string, kind: "public" | "private"): Promise<string> {
  const text = (await readInput(path)).replace(/\s+$/, "");
  try {
    if (kind === "public") parsePublicKeyPem(text);
    else parsePrivateKeyPem(text);
  } catch (error) {
    // A RangeError inside says what is wrong with an RSA key of the right form: its size, its exponent.
    const { message, cause } = error as Error;
    throw new InputError(`${path}: not a usable RSA ${kind} key (${cause instanceof RangeError ? cause.message : message})`);
  }
  return text;
}

/** A file's (or, for `-`, stdin's) text, which must be UTF-8. */
async function readInput(path: string): Promise<string> {
  checkNoTilde(path);
  const bytes = await readFile(path === "-" ? "/dev/stdin" : path).catch((error) => {
    throw new InputError(`cannot read ${path}: ${error.message}`);
  });
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new InputError(`${path} is not UTF-8 text`);
  }
}
