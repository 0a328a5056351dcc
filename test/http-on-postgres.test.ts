/**
 * The HTTP suites (the vectors among them) once more, with every test relay keeping its state in
 * PostgreSQL: the app in this process under Bun, relay processes under Deno, and the compiled binary.
 */
import { describe, expect, test } from "bun:test";
import { compiledBinary } from "./compiled-binary.ts";
import { clusterForThisFile, postgresInstalled } from "./postgres-cluster.ts";
import { RELAY_COMMANDS, runProcess } from "./processes.ts";
import { faketimeInstalled } from "./test-relay-process.ts";

const SUITES = ["http-surface", "vectors", "delivery", "limits", "input-fuzz"].map((name) => `test/${name}.test.ts`);
const installed = postgresInstalled();
const faketime = faketimeInstalled();
if (installed && !faketime) console.log("libfaketime is not installed (Debian package faketime): the HTTP suites against relay processes on PostgreSQL are skipped");
const cluster = clusterForThisFile();

/** Runs the suites in a child `bun test` whose test relays use a fresh database (and `relay`, see test/test-relay-process.ts); every test must pass. */
async function runSuites(relay: string | undefined, timeoutMs: number) {
  const url = await cluster().database();
  const run = await runProcess([RELAY_COMMANDS.bun[0], "test", "--timeout", "30000", ...SUITES], {
    env: { ...process.env, RENDEZVOUS_TEST_STORE: url, RENDEZVOUS_TEST_RELAY: relay },
    timeoutMs,
  });
  const failed = run.stderr.split("\n").filter((line) => line.includes("(fail)") || line.includes("Unhandled error"));
  expect({ code: run.code, failed }).toEqual({ code: 0, failed: [] });
  expect(run.stderr).toMatch(/^ *[1-9]\d* pass$/m);
}

describe.skipIf(!installed)("the HTTP suites against relays on PostgreSQL", () => {
  test(`the app in this process under Bun: ${SUITES.join(", ")}`, async () => await runSuites(undefined, 170_000), 180_000);

  test.skipIf(!faketime)("relay processes under Deno (main.ts), over real sockets", async () => await runSuites("deno", 590_000), 600_000);

  test.skipIf(!faketime)("relay processes of the compiled x64 binary, with PATH=/nonexistent", async () => {
    await runSuites(await compiledBinary("bun-linux-x64"), 590_000);
  }, 720_000);
});
