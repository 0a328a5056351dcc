/** `npm run build`: standalone binaries of main.ts for Linux x64 and arm64, and their SHA256SUMS. */
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";

const ROOT = join(import.meta.dir, "..");
/** Bun's compile target → the binary's file name in a release. */
export const TARGETS = { "bun-linux-x64": "hivemind-rendezvous-linux-x64", "bun-linux-arm64": "hivemind-rendezvous-linux-arm64" };

/** Compiles main.ts for `target` into `outfile`; throws with bun's output when it fails. */
export async function compile(target: string, outfile: string): Promise<void> {
  const build = Bun.spawn(
    [process.execPath, "build", "--compile", `--target=${target}`, join(ROOT, "main.ts"), "--outfile", outfile],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
  );
  const [stdout, stderr, code] = await Promise.all([new Response(build.stdout).text(), new Response(build.stderr).text(), build.exited]);
  if (code !== 0) throw new Error(`bun build --target=${target} failed (exit ${code}):\n${stderr || stdout}`);
}

/** Compiles every target into `dist` (created if missing); returns the binaries' paths. */
export async function buildBinaries(dist: string): Promise<string[]> {
  await mkdir(dist, { recursive: true });
  const outputs: string[] = [];
  for (const [target, name] of Object.entries(TARGETS)) {
    const outfile = join(dist, name);
    await compile(target, outfile);
    outputs.push(outfile);
    console.log(`built ${outfile} (${(Bun.file(outfile).size / 2 ** 20).toFixed(1)} MiB)`);
  }
  return outputs;
}

/** Writes `dist/SHA256SUMS` for `paths` in `sha256sum` format: "<hex>  <file name>" lines. */
export async function writeSha256Sums(dist: string, paths: string[]): Promise<void> {
  const lines = await Promise.all(paths.map(async (path) => {
    return `${createHash("sha256").update(await readFile(path)).digest("hex")}  ${basename(path)}\n`;
  }));
  await writeFile(join(dist, "SHA256SUMS"), lines.join(""));
  console.log(`wrote ${join(dist, "SHA256SUMS")}`);
}

if (import.meta.main) {
  const dist = join(ROOT, "dist");
  await writeSha256Sums(dist, await buildBinaries(dist));
}
