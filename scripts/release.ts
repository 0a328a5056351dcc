/**
 * What the release workflow runs, and what a maintainer can run locally:
 *
 *   bun scripts/release.ts --tag v0.3.0 [--dist DIR] [--check-only] [--publish]
 *
 * 1. refuses a tag that is not "v" + package.json's version (exit 1, one line on stderr), and with --publish
 *    a repository that still holds the OWNER placeholder in any file that names its URL (install.sh would
 *    download the binary and its checksums from whoever holds that account name);
 * 2. builds the x64 and arm64 binaries into DIST (default dist/) with the running (pinned) bun;
 * 3. runs the binary for this machine's CPU and refuses unless `--version` prints that version;
 * 4. copies install.sh (set to download this release's files: see `installerForRelease`) and the systemd
 *    unit beside them and writes SHA256SUMS over all four;
 * 5. with --publish, creates the GitHub release for the tag with those files (`gh`, GH_TOKEN), marked
 *    "latest" unless a published release has a higher version (see `isLatest`).
 * --check-only stops after step 1.
 */
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import packageJson from "../package.json" with { type: "json" };
import { buildBinaries, TARGETS, writeSha256Sums } from "./build.ts";

const ROOT = join(import.meta.dir, "..");

/** Null when `tag` is `v` + `version`, else why it is refused (one line). */
export function tagMismatch(tag: string, version: string): string | null {
  return tag === `v${version}` ? null : `tag ${JSON.stringify(tag)} does not match package.json's version ${version} (expected v${version})`;
}

/** The files that name the repository's URL: its metadata, the installer's download URL, and the docs' one-liners. */
const FILES_NAMING_THE_REPOSITORY = ["package.json", "install.sh", "README.md", "docs/deploy.md"];
const OWNER_PLACEHOLDER = "github.com/OWNER/";

/** Null when no text of `files` (path → text) holds the OWNER placeholder, else why a release is refused (one line). */
export function placeholderOwner(files: Record<string, string>): string | null {
  const left = Object.keys(files).filter((path) => files[path].includes(OWNER_PLACEHOLDER));
  return left.length ? `the repository URL in ${left.join(", ")} still holds the OWNER placeholder: set the real owner before publishing` : null;
}

/** install.sh's default download URL: the repository's latest release. */
const LATEST_BASE_URL = /^DEFAULT_BASE_URL=(https:\/\/github\.com\/[^/\n]+\/[^/\n]+\/releases)\/latest\/download$/m;

/**
 * install.sh as attached to release `tag`: it downloads that release's files. The one-line install
 * fetches `releases/latest/download/install.sh`; were the copy to download from `latest` too, a release
 * published while it runs would give it one release's SHA256SUMS and the next one's binary.
 */
export function installerForRelease(installer: string, tag: string): string {
  if (!LATEST_BASE_URL.test(installer)) throw new Error("install.sh has no DEFAULT_BASE_URL=https://github.com/OWNER/REPO/releases/latest/download line");
  return installer.replace(LATEST_BASE_URL, `DEFAULT_BASE_URL=$1/download/${tag}`);
}

/** Builds release `tag` into `dist` and returns every file to attach, SHA256SUMS last. */
async function buildRelease(tag: string, dist: string): Promise<string[]> {
  const binaries = await buildBinaries(dist);
  const native = join(dist, TARGETS[process.arch === "arm64" ? "bun-linux-arm64" : "bun-linux-x64"]);
  const printed = (await new Response(Bun.spawn([native, "--version"], { stdout: "pipe" }).stdout).text()).trim();
  if (printed !== packageJson.version) throw new Error(`${native} --version printed ${JSON.stringify(printed)}, not ${packageJson.version}`);
  const installer = join(dist, "install.sh");
  await writeFile(installer, installerForRelease(await readFile(join(ROOT, "install.sh"), "utf8"), tag), { mode: 0o755 });
  const unit = join(dist, "hivemind-rendezvous.service");
  await copyFile(join(ROOT, "scripts", "hivemind-rendezvous.service"), unit);
  const files = [...binaries, installer, unit];
  await writeSha256Sums(dist, files);
  return [...files, join(dist, "SHA256SUMS")];
}

/** X.Y.Z of a `vX.Y.Z` tag as three numbers, or null for any other tag. */
function tagVersion(tag: string): number[] | null {
  return /^v(\d+)\.(\d+)\.(\d+)$/.exec(tag)?.slice(1).map(Number) ?? null;
}

/**
 * Whether release `tag` is to be the repository's "latest", which the one-line install fetches: not when
 * a published release has a higher version (`tag` fixes an older line), nor for a tag that is not vX.Y.Z.
 * Left to GitHub, the release published last would be "latest", whatever its version.
 */
export function isLatest(tag: string, publishedTags: readonly string[]): boolean {
  const own = tagVersion(tag);
  if (!own) return false;
  const notAbove = (other: number[]) => (other[0] - own[0] || other[1] - own[1] || other[2] - own[2]) <= 0;
  return publishedTags.every((published) => {
    const other = tagVersion(published);
    return !other || notAbove(other);
  });
}

/** The tags of the repository's published releases (drafts and pre-releases left out). */
async function publishedTags(): Promise<string[]> {
  const gh = Bun.spawn(["gh", "release", "list", "--limit", "1000", "--exclude-drafts", "--exclude-pre-releases", "--json", "tagName", "--jq", ".[].tagName"], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const listed = await new Response(gh.stdout).text();
  if (await gh.exited !== 0) throw new Error("gh release list failed");
  return listed.split("\n").filter(Boolean);
}

/** Creates the GitHub release `tag` with `files` attached. */
async function publish(tag: string, files: string[]): Promise<void> {
  const latest = isLatest(tag, await publishedTags());
  const gh = Bun.spawn(["gh", "release", "create", tag, "--verify-tag", "--title", tag, "--generate-notes", `--latest=${latest}`, ...files], {
    stdout: "inherit",
    stderr: "inherit",
  });
  if (await gh.exited !== 0) throw new Error(`gh release create ${tag} failed`);
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { tag: { type: "string" }, dist: { type: "string" }, "check-only": { type: "boolean" }, publish: { type: "boolean" } },
    }));
  } catch {
    values = undefined;
  }
  if (!values?.tag) {
    console.error("release: usage: bun scripts/release.ts --tag vX.Y.Z [--dist DIR] [--check-only] [--publish]");
    return 2;
  }
  const mismatch = tagMismatch(values.tag, packageJson.version);
  if (mismatch) {
    console.error(`release: ${mismatch}`);
    return 1;
  }
  const placeholder = values.publish
    ? placeholderOwner(Object.fromEntries(await Promise.all(FILES_NAMING_THE_REPOSITORY.map(async (path) => [path, await readFile(join(ROOT, path), "utf8")]))))
    : null;
  if (placeholder) {
    console.error(`release: ${placeholder}`);
    return 1;
  }
  if (values["check-only"]) return 0;
  const files = await buildRelease(values.tag, values.dist ?? join(ROOT, "dist"));
  console.log(`release ${values.tag}:\n${files.map((file) => `  ${file}`).join("\n")}`);
  if (values.publish) await publish(values.tag, files);
  return 0;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
