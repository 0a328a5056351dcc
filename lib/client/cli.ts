/** The client subcommands: argv → checked options → keygen, deposit or retrieve; an exit code back. */
import { readFile } from "node:fs/promises";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { parsePrivateKeyPem, parsePublicKeyPem } from "../crypto/pem.ts";
import { deposit } from "./deposit.ts";
import { keygen } from "./keygen.ts";
import { retrieve } from "./retrieve.ts";

/** Bad arguments or input files: exit code 2. */
class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values = Record<string, string | boolean | undefined>;

interface Command {
  usage: string;
  options: Options;
  run(positionals: string[], values: Values): Promise<number>;
}

const commands: Record<string, Command> = {
  keygen: {
    usage: "keygen DIR",
    options: {},
    async run([directory]) {
      const { privatePath, publicPath } = await keygen(directory);
      console.log(`wrote ${privatePath} and ${publicPath}`);
      return 0;
    },
  },
  deposit: {
    usage: "deposit URL --to PUB.pem [--from PRIV.pem] [--ttl SECONDS] (--text TEXT | --file FILE|-)",
    options: { to: { type: "string" }, from: { type: "string" }, ttl: { type: "string" }, text: { type: "string" }, file: { type: "string" } },
    async run([url], values) {
      if (!values.to) throw new UsageError("--to is required");
      if ((values.text === undefined) === (values.file === undefined)) throw new UsageError("give exactly one of --text and --file");
      const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
      if (ttl !== undefined && !(Number.isSafeInteger(ttl) && ttl >= 1)) throw new UsageError("--ttl must be a whole number of seconds");
      const text = typeof values.text === "string" ? values.text : (await readInput(values.file as string)).replace(/\r?\n$/, "");
      console.log(await deposit({
        url,
        recipientPem: await readKey(values.to as string, "public"),
        senderPrivatePem: values.from ? await readKey(values.from as string, "private") : undefined,
        ttl,
        text,
      }));
      return 0;
    },
  },
  retrieve: {
    usage: "retrieve URL --key PRIV.pem [--keep]",
    options: { key: { type: "string" }, keep: { type: "boolean" } },
    async run([url], values) {
      if (!values.key) throw new UsageError("--key is required");
      const privatePem = await readKey(values.key as string, "private");
      const output = { message: (line: string) => console.log(line), note: (line: string) => console.error(line) };
      const failures = await retrieve({ url, privatePem, keep: values.keep === true }, output);
      return failures ? 1 : 0;
    },
  },
};

/** Runs `argv` (subcommand first); resolves with the process exit code. */
export async function runClient(argv: string[]): Promise<number> {
  const [name = "", ...args] = argv;
  const command = commands[name];
  if (!command) return console.error(`hivemind-rendezvous: unknown command ${name}`), 2;
  try {
    const { positionals, values } = parseCommand(args, command.options);
    if (values.help) return console.log(`Usage: hivemind-rendezvous ${command.usage}`), 0;
    if (positionals.length !== 1) throw new UsageError(`expected one ${name === "keygen" ? "DIR" : "URL"}, got ${positionals.length}`);
    if (name !== "keygen") checkUrl(positionals[0]);
    return await command.run(positionals, values);
  } catch (error) {
    const usage = error instanceof UsageError;
    console.error(`hivemind-rendezvous ${name}: ${(error as Error).message ?? error}${usage ? ` (usage: hivemind-rendezvous ${command.usage})` : ""}`);
    return usage ? 2 : 1;
  }
}

function parseCommand(args: string[], options: Options): { positionals: string[]; values: Values } {
  try {
    const parsed = parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
    return { positionals: parsed.positionals, values: parsed.values as Values };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function checkUrl(url: string): void {
  if (!/^https?:\/\/[^/]/.test(url) || !URL.canParse(url)) throw new UsageError(`not an http(s) URL: ${url}`);
}

/** A key file's text without trailing whitespace (Python writes none); checked to be the expected kind. */
async function readKey(path: string, kind: "public" | "private"): Promise<string> {
  const text = (await readInput(path)).replace(/\s+$/, "");
  try {
    if (kind === "public") parsePublicKeyPem(text);
    else parsePrivateKeyPem(text);
  } catch (error) {
    throw new UsageError(`${path}: not an RSA ${kind} key (${(error as Error).message})`);
  }
  return text;
}

async function readInput(path: string): Promise<string> {
  return await readFile(path === "-" ? "/dev/stdin" : path, "utf8").catch((error) => {
    throw new UsageError(`cannot read ${path}: ${error.message}`);
  });
}
