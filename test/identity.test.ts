/** The relay key: generated once and kept (0600), loaded from --node-key, or absent with --keyless. */
import { describe, expect, test } from "bun:test";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GENERATED_KEY_FILE, loadRelayKey, pubkeyFingerprint } from "../lib/identity.ts";
import { json, keys, tempDataDir } from "./helpers.ts";
import { RELAY_COMMANDS, startRelayProcess } from "./processes.ts";

describe("loadRelayKey", () => {
  test("generates a key on first start, mode 0600, and serves the same PEM after a restart, loaded from the data dir", async () => {
    const dataDir = await tempDataDir();
    const first = await loadRelayKey({ keyless: false, nodeKey: "", dataDir });
    expect(first.source).toBe("generated");
    expect(first.pubkey).toMatch(/^-----BEGIN PUBLIC KEY-----\n(.{64}\n)+.{1,64}\n-----END PUBLIC KEY-----$/);
    expect((await stat(join(dataDir, GENERATED_KEY_FILE))).mode & 0o777).toBe(0o600);
    expect(await loadRelayKey({ keyless: false, nodeKey: "", dataDir })).toEqual({ pubkey: first.pubkey, source: "data_dir" });
  });

  test("--node-key with a PKCS#1 private key serves its SPKI public key exactly as Python exports it", async () => {
    const path = join(await tempDataDir(), "node.pem");
    await writeFile(path, keys.relay.private_pkcs1_pem);
    expect(await loadRelayKey({ keyless: false, nodeKey: path, dataDir: "/nonexistent" })).toEqual({ pubkey: keys.relay.public_spki_pem, source: "node_key" });
  });

  test("--keyless serves the empty string", async () => {
    expect(await loadRelayKey({ keyless: true, nodeKey: "", dataDir: "/nonexistent" })).toEqual({ pubkey: "", source: "keyless" });
  });

  test("the fingerprint is sha256sum of the served PEM, in hex", () => {
    // printf '%s' "$(curl -s RELAY/pubkey | jq -r .pubkey)" | sha256sum, for the vectors' relay key
    expect(pubkeyFingerprint(keys.relay.public_spki_pem)).toBe("05b45083727c39c0ece7881df697789e8d84fc34094c8948255abdba93081421");
  });

  test("--node-key that is missing, public or garbage → an error naming the file", async () => {
    const dir = await tempDataDir();
    await writeFile(join(dir, "public.pem"), keys.relay.public_spki_pem);
    await writeFile(join(dir, "junk.pem"), "hello");
    for (const name of ["missing.pem", "public.pem", "junk.pem"]) {
      const path = join(dir, name);
      await expect(loadRelayKey({ keyless: false, nodeKey: path, dataDir: dir })).rejects.toThrow(path);
    }
  });
});

describe("the started log line", () => {
  /** Starts main.ts under Bun with `args`, then stops it: the fields of its started line and the PEM it served. */
  async function startedLine(args: string[]) {
    const relay = await startRelayProcess([...RELAY_COMMANDS.bun, "--host", "127.0.0.1", "--port", "0", ...args]);
    const served = (await json(await fetch(`${relay.url}/pubkey`))).pubkey as string;
    relay.child.kill("SIGTERM");
    const line = (await relay.output()).split("\n").find((text) => text.includes('"event":"started"'))!;
    const { relay_key, relay_key_sha256 } = JSON.parse(line);
    return { relay_key, relay_key_sha256, served };
  }

  test("names where the relay key came from and its fingerprint (hex SHA-256 of the PEM GET /pubkey serves)", async () => {
    const dataDir = await tempDataDir();
    const generated = await startedLine(["--data-dir", dataDir]);
    expect(generated).toEqual({ relay_key: "generated", relay_key_sha256: pubkeyFingerprint(generated.served), served: generated.served });
    expect(generated.relay_key_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(await startedLine(["--data-dir", dataDir])).toEqual({ ...generated, relay_key: "data_dir" });
    const nodeKey = join(dataDir, "node.pem");
    await writeFile(nodeKey, keys.relay.private_pkcs1_pem);
    expect(await startedLine(["--data-dir", dataDir, "--node-key", nodeKey])).toEqual({
      relay_key: "node_key", relay_key_sha256: "05b45083727c39c0ece7881df697789e8d84fc34094c8948255abdba93081421", served: keys.relay.public_spki_pem,
    });
    expect(await startedLine(["--data-dir", dataDir, "--keyless"])).toEqual({ relay_key: "keyless", relay_key_sha256: undefined, served: "" });
  }, 60_000);
});
