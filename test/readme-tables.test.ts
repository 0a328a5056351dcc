/** README's tables stay honest: every option of lib/config.ts is in the options table, and the exit-code table says what the relay does. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { OPTIONS } from "../lib/config.ts";
import { tempDataDir } from "./helpers.ts";
import { RELAY_COMMANDS, ROOT, runProcess } from "./processes.ts";

const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** The rows (cells of each `| … |` line) of the first table after the line starting with `lead`. */
function tableAfter(lead: string): string[][] {
  const lines = README.slice(README.indexOf(`\n${lead}`) + 1).split("\n");
  const start = lines.findIndex((line) => line.startsWith("|"));
  const end = lines.findIndex((line, index) => index > start && !line.startsWith("|"));
  return lines.slice(start + 2, end).map((line) => line.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim()));
}

describe("README options table", () => {
  test("lists every option of lib/config.ts with its environment variable, and nothing else", () => {
    const rows = tableAfter("| flag | environment variable |").map(([flag, variable]) => [flag, variable]);
    const expected = Object.keys(OPTIONS).map((name) => [`\`--${name}\``, `\`RENDEZVOUS_${name.toUpperCase().replaceAll("-", "_")}\``]);
    expect(rows.toSorted()).toEqual(expected.toSorted());
  });
});

describe("README exit-code table (the relay's)", () => {
  const exitTable = new Map(tableAfter("The relay (`serve`, or no command):").map(([code, when]) => [Number(code), when]));
  /** Runs main.ts under Bun with `args`, which must fail at start: its exit code, checked to be one line on stderr. */
  async function exitCodeOf(args: string[]): Promise<number> {
    const { code, stderr } = await runProcess([...RELAY_COMMANDS.bun, "--host", "127.0.0.1", ...args]);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    return code;
  }

  test("each start-up failure exits with the code whose row names it", async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    try {
      const fileNotDir = join(await tempDataDir(), "file");
      await writeFile(fileNotDir, "");
      const logIsDirectory = await tempDataDir();
      await mkdir(join(logIsDirectory, "messages.jsonl"));
      const cases: [string, string[]][] = [
        ["a bad flag", ["--port", "nope"]],
        ["a data dir that is not a writable directory", ["--port", "0", "--data-dir", fileNotDir]],
        ["an unreadable or invalid `--node-key`", ["--port", "0", "--data-dir", await tempDataDir(), "--node-key", "/nonexistent.pem"]],
        ["a message store that cannot be opened", ["--port", "0", "--data-dir", logIsDirectory, "--keyless"]],
        ["a port or address it cannot listen on", ["--port", String((holder.address() as AddressInfo).port), "--data-dir", await tempDataDir(), "--keyless"]],
      ];
      for (const [words, args] of cases) expect({ words, row: exitTable.get(await exitCodeOf(args)) }).toEqual({ words, row: expect.stringContaining(words) });
    } finally {
      holder.close();
    }
  }, 60_000);
});
