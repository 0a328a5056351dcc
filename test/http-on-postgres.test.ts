/** The HTTP suites (the vectors among them) once more, with every test relay keeping its state in PostgreSQL. */
import { describe, expect, test } from "bun:test";
import { clusterForThisFile, postgresInstalled } from "./postgres-cluster.ts";
import { RELAY_COMMANDS, runProcess } from "./processes.ts";

const SUITES = ["http-surface", "vectors", "delivery", "limits", "input-fuzz"].map((name) => `test/${name}.test.ts`);
const installed = postgresInstalled();
const cluster = clusterForThisFile();


describe.skipIf(!installed)("the HTTP suites against relays on PostgreSQL", () => {
  test(SUITES.join(", "), async () => {
    const url = await cluster().database();
    const run = await runProcess([RELAY_COMMANDS.bun[0], "test", ...SUITES], {
      env: { ...process.env, RENDEZVOUS_TEST_STORE: url },
      timeoutMs: 170_000,
    });
    const failed = run.stderr.split("\n").filter((line) => line.includes("(fail)") || line.includes("Unhandled error"));
    expect({ code: run.code, failed }).toEqual({ code: 0, failed: [] });
    expect(run.stderr).toMatch(/^ *[1-9]\d* pass$/m);
  }, 180_000);
});
