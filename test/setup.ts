/** Preloaded by bun test (bunfig.toml): cleanup that must run once, after every test file. */
import { afterAll } from "bun:test";
import { removeTempDirs } from "./helpers.ts";
import { killChildren } from "./processes.ts";

afterAll(() => {
  killChildren();
  removeTempDirs();
});
