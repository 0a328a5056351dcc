/** The relay compiled into a standalone binary, once per target for the whole test run. */
import { join } from "node:path";
import { compile } from "../scripts/build.ts";
import { tempDataDir } from "./helpers.ts";

const binaries = new Map<string, Promise<string>>();

/** The path of the relay compiled for `target` (e.g. "bun-linux-x64"), built the first time it is asked for. */
export function compiledBinary(target: string): Promise<string> {
  if (!binaries.has(target)) {
    binaries.set(target, (async () => {
      const binary = join(await tempDataDir(), "hivemind-rendezvous");
      await compile(target, binary);
      return binary;
    })());
  }
  return binaries.get(target)!;
}
