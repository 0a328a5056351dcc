/**
 * The store format recorded in the data dir: a new or older data dir is marked with this release's format
 * and opens with its messages; one a newer release marked is refused with one line (exit 2 for the relay).
 */
import { describe, expect, test } from "bun:test";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LOG_FILE } from "../lib/store/message-store.ts";
import { StoreOpenError } from "../lib/store/open-store.ts";
import { STORE_FORMAT, STORE_FORMAT_FILE } from "../lib/store/store-format.ts";
import { tempDataDir, testStore } from "./helpers.ts";
import { RELAY_COMMANDS, runProcess, RUNTIMES } from "./processes.ts";

const NOW = 1_767_225_600;
const clock = () => NOW;
const ID = "0f8fad5b-d9cb-469f-a165-70867728950e";
/** A put record as 0.2.0 wrote it (a CRC of the payload's JSON only, no version marker). */
const FIRST_RELEASE_LOG = `{"k":"put","id":"${ID}","mb":"a","exp":${NOW + 600},"crc":${Bun.hash.crc32('"hello"')},"p":"hello"}\n`;

/** Opening `dir` fails: the error. */
async function refusal(dir: string): Promise<unknown> {
  return await testStore(dir, { clock }).then(() => null, (error) => error);
}

describe("store format in the data dir", () => {
  test("a new data dir is marked with this release's format", async () => {
    const dir = await tempDataDir();
    await (await testStore(dir, { clock })).close();
    expect(STORE_FORMAT).toBe(2);
    expect(await readFile(join(dir, STORE_FORMAT_FILE), "utf8")).toBe("2\n");
  });

  test("a data dir of the first release (no marker, version 1 records) opens with its messages and is marked", async () => {
    const dir = await tempDataDir();
    await writeFile(join(dir, LOG_FILE), FIRST_RELEASE_LOG);
    const store = await testStore(dir, { clock });
    expect((await store.peek("a")).messages).toEqual([{ depositId: ID, payload: "hello", expiresAt: NOW + 600 }]);
    expect(store.stats().damagedRecords).toBe(0);
    expect(await readFile(join(dir, STORE_FORMAT_FILE), "utf8")).toBe("2\n");
  });

  test("a data dir marked with an older format is opened and marked with this one", async () => {
    const dir = await tempDataDir();
    await writeFile(join(dir, STORE_FORMAT_FILE), "1\n");
    await (await testStore(dir, { clock })).close();
    expect(await readFile(join(dir, STORE_FORMAT_FILE), "utf8")).toBe("2\n");
  });

  test("a data dir marked with a newer format → StoreOpenError with one line, the log and the marker untouched", async () => {
    const dir = await tempDataDir();
    await writeFile(join(dir, LOG_FILE), FIRST_RELEASE_LOG);
    await writeFile(join(dir, STORE_FORMAT_FILE), "3\n");
    const error = await refusal(dir);
    expect(error).toBeInstanceOf(StoreOpenError);
    expect((error as Error).message).toBe(
      `cannot open the message store in ${dir}: its store format is 3, and this release reads formats up to 2: a newer release wrote it, run that one or a later one`,
    );
    expect(await readFile(join(dir, LOG_FILE), "utf8")).toBe(FIRST_RELEASE_LOG);
    expect(await readFile(join(dir, STORE_FORMAT_FILE), "utf8")).toBe("3\n");
  });

  test("a marker that is not a format number → StoreOpenError with one line", async () => {
    for (const marker of ["", "two\n", "0\n", "2\n3\n", "-1\n"]) {
      const dir = await tempDataDir();
      await writeFile(join(dir, STORE_FORMAT_FILE), marker);
      const error = await refusal(dir);
      expect(error).toBeInstanceOf(StoreOpenError);
      expect((error as Error).message).toBe(`cannot open the message store in ${dir}: store-format holds no store format number`);
    }
  });

  for (const runtime of RUNTIMES) {
    test(`the relay under ${runtime} on a data dir of a newer format → one line, exit 2`, async () => {
      const dir = await tempDataDir();
      await writeFile(join(dir, STORE_FORMAT_FILE), "3\n");
      const { code, stdout, stderr } = await runProcess([...RELAY_COMMANDS[runtime], "--host", "127.0.0.1", "--port", "0", "--keyless", "--data-dir", dir], {
        env: { ...process.env, NO_COLOR: "1" },
      });
      expect({ code, stdout, stderr }).toEqual({
        code: 2,
        stdout: "",
        stderr: `hivemind-rendezvous: cannot open the message store in ${dir}: its store format is 3, and this release reads formats up to 2: a newer release wrote it, run that one or a later one\n`,
      });
    }, 30_000);
  }
});
