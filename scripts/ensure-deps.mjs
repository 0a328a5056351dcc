// Installs the pinned dependencies (postgres; bun, deno, typescript) on a fresh clone, so `npm start`
// and `npm test` work on a machine that has only Node.js and npm; then applies the relay's fixes to them
// (patch-dependencies.mjs, also npm's postinstall: it does nothing to files already fixed).
import { existsSync } from "node:fs";
import { execSync } from "node:child_process";

const needed = ["node_modules/.bin/bun", "node_modules/.bin/deno", "node_modules/.bin/tsc", "node_modules/postgres/package.json"];
if (!needed.every((path) => existsSync(path))) {
  execSync("npm ci --no-audit --no-fund", { stdio: "inherit" });
}
await import("./patch-dependencies.mjs");
