/** The relay key: generated once and kept (0600), loaded from --node-key, or absent with --keyless. */
import { describe, expect, test } from "bun:test";
import { chmod, mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { GENERATED_KEY_FILE, loadRelayKey } from "../lib/identity.ts";
import { json, keys, tempDataDir } from "./helpers.ts";
import { RELAY_COMMANDS, startRelayProcess } from "./processes.ts";

/** `curl -s RELAY/pubkey | jq -r .pubkey | openssl pkey -pubin -outform DER | sha256sum` for the vectors' relay key. */
const RELAY_KEY_SHA256 = "84d0e23255a39c1ae6bf9d3f734549321ec9432be2a7bf7dab38b97b68f7283c";

/** What sha256sum prints for the SPKI DER of `pem`, computed apart from the relay's code. */
const spkiSha256 = (pem: string) => new Bun.CryptoHasher("sha256").update(createPublicKey(pem).export({ type: "spki", format: "der" })).digest("hex");

describe("loadRelayKey", () => {
  test("generates a key on first start, mode 0600, and serves the same PEM after a restart, loaded from the data dir", async () => {
    const dataDir = await tempDataDir();
    const first = await loadRelayKey({ keyless: false, nodeKey: "", dataDir });
    expect(first.source).toBe("generated");
    expect(first.pubkey).toMatch(/^-----BEGIN PUBLIC KEY-----\n(.{64}\n)+.{1,64}\n-----END PUBLIC KEY-----$/);
    expect((await stat(join(dataDir, GENERATED_KEY_FILE))).mode & 0o777).toBe(0o600);
    expect(await loadRelayKey({ keyless: false, nodeKey: "", dataDir })).toEqual({ pubkey: first.pubkey, fingerprint: first.fingerprint, source: "data_dir", exposedFile: null });
  });

  test("--node-key with a PKCS#1 private key serves its SPKI public key exactly as Python exports it", async () => {
    const path = join(await tempDataDir(), "node.pem");
    await writeFile(path, keys.relay.private_pkcs1_pem, { mode: 0o600 });
    expect(await loadRelayKey({ keyless: false, nodeKey: path, dataDir: "/nonexistent" })).toEqual({
      pubkey: keys.relay.public_spki_pem,
      fingerprint: RELAY_KEY_SHA256,
      source: "node_key",
      exposedFile: null,
    });
  });

  test("--keyless serves the empty string", async () => {
    expect(await loadRelayKey({ keyless: true, nodeKey: "", dataDir: "/nonexistent" })).toEqual({ pubkey: "", fingerprint: "", source: "keyless", exposedFile: null });
  });

  test("a key file others may read or write, or its group write, is named with its mode; 0600, 0400 and 0640 (the service's group reads it) are not", async () => {
    const path = join(await tempDataDir(), "node.pem");
    await writeFile(path, keys.relay.private_pkcs1_pem);
    for (const [mode, exposed] of [[0o600, null], [0o400, null], [0o640, null], [0o440, null], [0o644, "0644"], [0o604, "0604"], [0o620, "0620"], [0o660, "0660"]] as const) {
      await chmod(path, mode);
      expect((await loadRelayKey({ keyless: false, nodeKey: path, dataDir: "/nonexistent" })).exposedFile).toEqual(exposed && { path, mode: exposed });
    }
  });

  test("the fingerprint of a generated key is the hex SHA-256 of its SPKI DER", async () => {
    const generated = await loadRelayKey({ keyless: false, nodeKey: "", dataDir: await tempDataDir() });
    expect(generated.fingerprint).toBe(spkiSha256(generated.pubkey));
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

  test("a key file that cannot be used → one line naming it and what is wrong: its size, its kind, or the data dir's key unreadable", async () => {
    const dir = await tempDataDir();
    const small = join(dir, "small.pem");
    await writeFile(small, generateKeyPairSync("rsa", { modulusLength: 512 }).privateKey.export({ type: "pkcs8", format: "pem" }));
    await expect(loadRelayKey({ keyless: false, nodeKey: small, dataDir: dir })).rejects.toThrow(
      `${small} is not an unencrypted RSA private key of 1024 to 8192 bits: RSA modulus of 512 bits; accepted sizes are 1024 to 8192 bits`,
    );
    const publicKey = join(dir, "public.pem");
    await writeFile(publicKey, keys.relay.public_spki_pem);
    await expect(loadRelayKey({ keyless: false, nodeKey: publicKey, dataDir: dir })).rejects.toThrow(
      `${publicKey} is not an unencrypted RSA private key of 1024 to 8192 bits: not a private key: PUBLIC KEY`,
    );
    const dataDir = await tempDataDir();
    await mkdir(join(dataDir, GENERATED_KEY_FILE));
    await expect(loadRelayKey({ keyless: false, nodeKey: "", dataDir })).rejects.toThrow(
      `cannot read the relay key ${join(dataDir, GENERATED_KEY_FILE)}: EISDIR`,
    );
  });
});

describe("the started log line", () => {
  /** Starts main.ts under Bun with `args`, then stops it: the fields of its started line and the PEM it served. */
  async function startedLine(args: string[]) {
    const relay = await startRelayProcess([...RELAY_COMMANDS.bun, "--host", "127.0.0.1", "--port", "0", ...args]);
    const served = (await json(await fetch(`${relay.url}/pubkey`))).pubkey as string;
    relay.child.kill("SIGTERM");
    const line = (await relay.output()).split("\n").find((text) => text.includes('"event":"started"'))!;
    const { relay_key, relay_key_sha256, unsafe_no_fsync } = JSON.parse(line);
    return { relay_key, relay_key_sha256, served, ...(unsafe_no_fsync === undefined ? {} : { unsafe_no_fsync }) };
  }

  test("names where the relay key came from and its fingerprint (hex SHA-256 of the SPKI DER of the key GET /pubkey serves)", async () => {
    const dataDir = await tempDataDir();
    const generated = await startedLine(["--data-dir", dataDir]);
    expect(generated).toEqual({ relay_key: "generated", relay_key_sha256: spkiSha256(generated.served), served: generated.served });
    expect(generated.relay_key_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(await startedLine(["--data-dir", dataDir])).toEqual({ ...generated, relay_key: "data_dir" });
    const nodeKey = join(dataDir, "node.pem");
    await writeFile(nodeKey, keys.relay.private_pkcs1_pem, { mode: 0o600 });
    expect(await startedLine(["--data-dir", dataDir, "--node-key", nodeKey])).toEqual({
      relay_key: "node_key", relay_key_sha256: RELAY_KEY_SHA256, served: keys.relay.public_spki_pem,
    });
    expect(await startedLine(["--data-dir", dataDir, "--keyless"])).toEqual({ relay_key: "keyless", relay_key_sha256: undefined, served: "" });
  }, 60_000);

  test("says unsafe_no_fsync when --unsafe-no-fsync is on (and nothing of it when off)", async () => {
    const dataDir = await tempDataDir();
    expect(await startedLine(["--data-dir", dataDir, "--keyless", "--unsafe-no-fsync"])).toMatchObject({ unsafe_no_fsync: true });
    expect(await startedLine(["--data-dir", dataDir, "--keyless"])).not.toHaveProperty("unsafe_no_fsync");
  }, 60_000);
});
