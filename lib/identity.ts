/** The relay's identity: the public key text it serves and binds into every proof. */
import { createHash } from "node:crypto";
import { chmod, mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { publicPemOf, toPem } from "./crypto/pem.ts";
import { PSS } from "./crypto/rsa-params.ts";
import { syncDirectory } from "./fsync.ts";

/** The key file generated in the data dir when no `--node-key` is given. */
export const GENERATED_KEY_FILE = "relay_key.pem";

/** A relay key that cannot be read, written or used; the message is one line for the operator. */
export class RelayKeyError extends Error {
  override name = "RelayKeyError";
}

/** Where the relay key came from: generated in the data dir now, loaded from there, `--node-key`, or none (`--keyless`). */
export type RelayKeySource = "generated" | "data_dir" | "node_key" | "keyless";

/** The relay's identity: the public key PEM it serves ("" when keyless) and where its key came from. */
export interface RelayKey {
  pubkey: string;
  source: RelayKeySource;
}

/**
 * The relay's key: none when keyless, else the public half of `nodeKey`, or of a key generated once
 * in `dataDir` (mode 0600) so that the key survives restarts.
 */
export async function loadRelayKey(options: { keyless: boolean; nodeKey: string; dataDir: string }): Promise<RelayKey> {
  if (options.keyless) return { pubkey: "", source: "keyless" };
  const path = options.nodeKey || join(options.dataDir, GENERATED_KEY_FILE);
  const text = await readFile(path, "utf8").catch((error) => {
    if (error.code === "ENOENT" && !options.nodeKey) return null;
    throw new RelayKeyError(`cannot read the node key ${path}: ${error.message}`);
  });
  const pem = text ?? await generateKeyFile(path).catch((error) => {
    throw new RelayKeyError(`cannot write the relay key ${path}: ${error.message}`);
  });
  try {
    return { pubkey: publicPemOf(pem), source: options.nodeKey ? "node_key" : text === null ? "generated" : "data_dir" };
  } catch (error) {
    throw new RelayKeyError(`${path} is not an unencrypted RSA private key: ${(error as Error).message}`);
  }
}

/** The key's fingerprint as the operator checks it: SHA-256 of the PEM `GET /pubkey` serves (UTF-8), in hex. */
export function pubkeyFingerprint(pubkey: string): string {
  return createHash("sha256").update(pubkey).digest("hex");
}

async function generateKeyFile(path: string): Promise<string> {
  const keys = await crypto.subtle.generateKey(
    { ...PSS, modulusLength: 2048, publicExponent: Uint8Array.of(1, 0, 1) },
    true,
    ["sign", "verify"],
  );
  const pem = toPem("PRIVATE KEY", new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey)));
  const directory = join(path, "..");
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const temporary = `${path}.tmp`;
  const file = await open(temporary, "w", 0o600);
  try {
    await file.writeFile(pem);
    await file.sync();
  } finally {
    await file.close();
  }
  await chmod(temporary, 0o600); // the mode passed to open is masked by the umask
  await rename(temporary, path);
  await syncDirectory(directory);
  return pem;
}
