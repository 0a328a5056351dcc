/** The relay key: generated once and kept (0600), loaded from --node-key, or absent with --keyless. */
import { describe, expect, test } from "bun:test";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GENERATED_KEY_FILE, loadRelayPubkey } from "../lib/identity.ts";
import { keys, tempDataDir } from "./helpers.ts";

describe("loadRelayPubkey", () => {
  test("generates a key on first start, mode 0600, and serves the same PEM after a restart", async () => {
    const dataDir = await tempDataDir();
    const first = await loadRelayPubkey({ keyless: false, nodeKey: "", dataDir });
    expect(first).toMatch(/^-----BEGIN PUBLIC KEY-----\n(.{64}\n)+.{1,64}\n-----END PUBLIC KEY-----$/);
    expect((await stat(join(dataDir, GENERATED_KEY_FILE))).mode & 0o777).toBe(0o600);
    expect(await loadRelayPubkey({ keyless: false, nodeKey: "", dataDir })).toBe(first);
  });

  test("--node-key with a PKCS#1 private key serves its SPKI public key exactly as Python exports it", async () => {
    const path = join(await tempDataDir(), "node.pem");
    await writeFile(path, keys.relay.private_pkcs1_pem);
    expect(await loadRelayPubkey({ keyless: false, nodeKey: path, dataDir: "/nonexistent" })).toBe(keys.relay.public_spki_pem);
  });

  test("--keyless serves the empty string", async () => {
    expect(await loadRelayPubkey({ keyless: true, nodeKey: "", dataDir: "/nonexistent" })).toBe("");
  });

  test("--node-key that is missing, public or garbage → an error naming the file", async () => {
    const dir = await tempDataDir();
    await writeFile(join(dir, "public.pem"), keys.relay.public_spki_pem);
    await writeFile(join(dir, "junk.pem"), "hello");
    for (const name of ["missing.pem", "public.pem", "junk.pem"]) {
      const path = join(dir, name);
      await expect(loadRelayPubkey({ keyless: false, nodeKey: path, dataDir: dir })).rejects.toThrow(path);
    }
  });
});
