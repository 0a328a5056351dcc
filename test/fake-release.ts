/** A release directory served over HTTP on 127.0.0.1, standing in for GitHub's download URL, and install.sh run against it. */
import { join } from "node:path";
import { ROOT, runProcess } from "./processes.ts";

/** A local HTTP server for the files of `directory`; `requested` lists the paths asked for. */
export interface ReleaseServer {
  url: string;
  requested: string[];
  stop(): void;
}

/** Serves `directory` (flat: one level of files) until `stop()`. */
export function serveRelease(directory: string): ReleaseServer {
  const requested: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const name = new URL(request.url).pathname.slice(1);
      requested.push(name);
      const file = Bun.file(join(directory, name));
      return !name.includes("/") && await file.exists() ? new Response(file) : new Response("Not Found", { status: 404 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, requested, stop: () => server.stop(true) };
}

/** install.sh must run under dash (Debian's /bin/sh), found on the test's own PATH. */
const DASH = Bun.which("dash") ?? "dash is not installed";

/**
 * Runs install.sh (the repository's, unless `script` names another copy) under dash with `args` and extra
 * environment (PATH and HOME are kept), in the repository's directory unless `cwd` names another.
 */
export function runInstaller(args: string[], env: Record<string, string> = {}, script = join(ROOT, "install.sh"), cwd = ROOT) {
  return runProcess([DASH, script, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    timeoutMs: 60_000,
  });
}
