/**
 * scripts/release.ts, what the release workflow runs: the tag check, then one full release build into a
 * temporary dist, which install.sh then installs from a local server as a user would from GitHub.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { installerForRelease, isLatest, placeholderOwner, tagMismatch } from "../scripts/release.ts";
import { runInstaller, serveRelease } from "./fake-release.ts";
import { intercom, keys, proofBody, tempDataDir } from "./helpers.ts";
import { ROOT, runProcess, startRelayProcess } from "./processes.ts";

const BUN = join(ROOT, "node_modules", ".bin", "bun");
const release = (args: string[]) => runProcess([BUN, join(ROOT, "scripts", "release.ts"), ...args], { timeoutMs: 180_000 });
const VERSION = packageJson.version;

describe("release tag check", () => {
  test(`tagMismatch: v${VERSION} passes; a tag without v, another version, a suffix are refused`, () => {
    expect(tagMismatch(`v${VERSION}`, VERSION)).toBeNull();
    for (const tag of [VERSION, "v9.9.9", `v${VERSION}-rc1`, ""]) {
      expect(tagMismatch(tag, VERSION)).toBe(`tag ${JSON.stringify(tag)} does not match package.json's version ${VERSION} (expected v${VERSION})`);
    }
  });

  test("release.ts --tag v9.9.9 → exit 1, one line, nothing built", async () => {
    const dist = join(await tempDataDir(), "dist");
    expect(await release(["--tag", "v9.9.9", "--dist", dist])).toEqual({
      code: 1,
      stdout: "",
      stderr: `release: tag "v9.9.9" does not match package.json's version ${VERSION} (expected v${VERSION})\n`,
    });
    expect(await Bun.file(dist).exists()).toBe(false);
  });

  test("placeholderOwner: every file whose repository URL holds OWNER is named; real owners pass", () => {
    const real = "https://github.com/hivemind-org/hivemind-rendezvous";
    const placeholder = "https://github.com/OWNER/hivemind-rendezvous";
    expect(placeholderOwner({ "package.json": real, "install.sh": real })).toBeNull();
    expect(placeholderOwner({ "package.json": real, "install.sh": `BASE=${placeholder}/releases`, "README.md": placeholder })).toBe(
      "the repository URL in install.sh, README.md still holds the OWNER placeholder: set the real owner before publishing",
    );
  });

  test.skipIf(!packageJson.repository.url.includes("OWNER"))("release.ts --publish while the repository URL holds OWNER → exit 1, one line, nothing built", async () => {
    const dist = join(await tempDataDir(), "dist");
    expect(await release(["--tag", `v${VERSION}`, "--dist", dist, "--publish"])).toEqual({
      code: 1,
      stdout: "",
      stderr: "release: the repository URL in package.json, install.sh, README.md, docs/deploy.md still holds the OWNER placeholder: set the real owner before publishing\n",
    });
    expect(await Bun.file(dist).exists()).toBe(false);
  });

  test("installerForRelease: the release's install.sh downloads from that release's tag, not from latest; nothing else changes", async () => {
    const installer = await readFile(join(ROOT, "install.sh"), "utf8");
    const repository = packageJson.repository.url.replace(/\.git$/, "");
    const stamped = installerForRelease(installer, "v1.2.3");
    expect(stamped).toBe(installer.replace(`\nDEFAULT_BASE_URL=${repository}/releases/latest/download\n`, `\nDEFAULT_BASE_URL=${repository}/releases/download/v1.2.3\n`));
    expect(stamped).not.toBe(installer);
    expect(() => installerForRelease(installer.replaceAll("/latest/download", "/download/v0.1.0"), "v1.2.3")).toThrow("install.sh has no DEFAULT_BASE_URL=");
  });

  test("isLatest: a release is the latest unless a published one has a higher version (a fix to an older line is not)", () => {
    expect(isLatest("v0.3.0", [])).toBe(true);
    expect(isLatest("v0.3.0", ["v0.2.9", "v0.3.0-rc1", "nightly"])).toBe(true);
    expect(isLatest("v0.3.1", ["v0.3.0", "v0.2.0"])).toBe(true);
    expect(isLatest("v0.10.0", ["v0.9.0"])).toBe(true);
    expect(isLatest("v0.2.5", ["v0.3.0", "v0.2.4"])).toBe(false);
    expect(isLatest("v0.9.0", ["v0.10.0"])).toBe(false);
    expect(isLatest("v0.99.0", ["v1.0.0"])).toBe(false);
    expect(isLatest("v2.0.0", ["v1.99.99"])).toBe(true);
    expect(isLatest("v0.3.0", ["v0.3.0"])).toBe(true);
    expect(isLatest("v1.0.0-rc1", [])).toBe(false);
  });

  test("release.ts without --tag → exit 2 and the usage line", async () => {
    expect(await release([])).toEqual({
      code: 2,
      stdout: "",
      stderr: "release: usage: bun scripts/release.ts --tag vX.Y.Z [--dist DIR] [--check-only] [--publish]\n",
    });
  });

  test(`release.ts --tag v${VERSION} --check-only → exit 0 without building`, async () => {
    expect(await release(["--tag", `v${VERSION}`, "--check-only"])).toEqual({ code: 0, stdout: "", stderr: "" });
  });
});

describe(`release.ts --tag v${VERSION} (one full build)`, () => {
  let dist = "";
  let built: Awaited<ReturnType<typeof release>>;
  let server: ReturnType<typeof serveRelease>;

  beforeAll(async () => {
    dist = join(await tempDataDir(), "dist");
    built = await release(["--tag", `v${VERSION}`, "--dist", dist]);
    server = serveRelease(dist);
  }, 180_000);
  afterAll(() => server?.stop());

  test("exit 0; dist holds both binaries, install.sh, the unit and SHA256SUMS, which sha256sum -c accepts", async () => {
    expect(built).toMatchObject({ code: 0, stderr: "" });
    const files = ["hivemind-rendezvous-linux-x64", "hivemind-rendezvous-linux-arm64", "install.sh", "hivemind-rendezvous.service"];
    expect((await readdir(dist)).sort()).toEqual([...files, "SHA256SUMS"].sort());
    expect(await readFile(join(dist, "install.sh"), "utf8")).toBe(installerForRelease(await readFile(join(ROOT, "install.sh"), "utf8"), `v${VERSION}`));
    expect(await runProcess(["sha256sum", "-c", "SHA256SUMS"], { cwd: dist })).toMatchObject({
      code: 0,
      stdout: files.map((file) => `${file}: OK\n`).join(""),
    });
  });

  test("the release's install.sh, run as it is, downloads from that release's tag by default", async () => {
    const repository = packageJson.repository.url.replace(/\.git$/, "");
    const usage = await runInstaller(["--help"], {}, join(dist, "install.sh"));
    expect(usage).toMatchObject({ code: 0, stdout: expect.stringContaining(`(default ${repository}/releases/download/v${VERSION})\n`) });
  });

  test("install.sh from that release on a local server → the installed binary prints the tag's version", async () => {
    const prefix = await tempDataDir();
    const installed = await runInstaller(["--prefix", prefix], { HIVEMIND_RENDEZVOUS_BASE_URL: server.url, HIVEMIND_RENDEZVOUS_ARCH: "x86_64" });
    const target = join(prefix, "bin", "hivemind-rendezvous");
    expect(installed).toMatchObject({ code: 0, stderr: expect.stringContaining(`installed ${target} ${VERSION}\n`) });
    expect(await runProcess([target, "--version"], { env: { PATH: "/nonexistent" } })).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
  }, 60_000);

  test("re-running install.sh over a relay that has run keeps its data dir: same relay key, the waiting message is delivered", async () => {
    const prefix = await tempDataDir();
    const env = { HIVEMIND_RENDEZVOUS_BASE_URL: server.url, HIVEMIND_RENDEZVOUS_ARCH: "x86_64", HIVEMIND_RENDEZVOUS_PREFIX: prefix };
    const target = join(prefix, "bin", "hivemind-rendezvous");
    const dataDir = join(prefix, "data");
    const startRelay = () =>
      startRelayProcess([target, "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir], { env: { PATH: "/nonexistent" }, timeoutMs: 30_000 });
    expect((await runInstaller([], env)).code).toBe(0);

    const before = await startRelay();
    const { pubkey } = await (await fetch(`${before.url}/pubkey`)).json() as { pubkey: string };
    const deposit = { payload: intercom({ data: "kept across the upgrade" }), target_pubkey: keys.bob.public_spki_pem };
    expect((await fetch(`${before.url}/deposit`, { method: "POST", body: JSON.stringify(deposit) })).status).toBe(200);
    before.child.kill("SIGTERM");
    expect(await before.child.exited).toBe(0);

    expect(await runInstaller([], env)).toMatchObject({ code: 0, stderr: expect.stringContaining(`reinstalled ${target} ${VERSION}\n`) });
    const after = await startRelay();
    try {
      expect(await (await fetch(`${after.url}/pubkey`)).json()).toEqual({ pubkey });
      const proof = await proofBody("bob", Math.floor(Date.now() / 1000), { relayPem: pubkey });
      const retrieved = await fetch(`${after.url}/retrieve`, { method: "POST", body: JSON.stringify(proof) });
      expect(await retrieved.json()).toEqual({ status: "ok", messages: [deposit.payload] });
    } finally {
      after.stop();
    }
  }, 90_000);
});
