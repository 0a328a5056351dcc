/** The relay's identity: the public key text it serves and binds into every proof. */
import { mkdir, readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { publicKeyFingerprint } from "./crypto/fingerprint.ts";
import { publicPemOf, toPem } from "./crypto/pem.ts";
import { generateRsaKeyPair } from "./crypto/rsa-keygen.ts";
import { replaceFileAtomically } from "./fsync.ts";

/** The key file generated in the data dir when no `--node-key` is given. */
export const GENERATED_KEY_FILE = "relay_key.pem";

/** A relay key that cannot be read, written or used; the message is one line for the operator. */
export class RelayKeyError extends Error {
  override name = "RelayKeyError";
}

/** Where the relay key came from: generated in the data dir now, loaded from there, `--node-key`, or none (`--keyless`). */
export type RelayKeySource = "generated" | "data_dir" | "node_key" | "keyless";

/** The relay's identity: the public key PEM it serves ("" when keyless), its fingerprint and where its key came from. */
export interface RelayKey {
  pubkey: string;
  /** Lowercase hex SHA-256 of the key's SPKI DER (see `publicKeyFingerprint`); "" when keyless. */
  fingerprint: string;
  source: RelayKeySource;
  /**
   * The key file, when its permissions let other users of the machine read or replace it: any access for
   * others, or write access for its group; else null. Its group may read it: that is how a key owned by
   * root reaches the service user (docs/deploy.md), through the service's own group.
   */
  exposedFile: { path: string; mode: string } | null;
}

/**
 * The relay's key: none when keyless, else the public half of `nodeKey`, or of a key generated once
 * in `dataDir` (mode 0600) so that the key survives restarts.
 */
export async function loadRelayKey(options: { keyless: boolean; nodeKey: string; dataDir: string }): Promise<RelayKey> {
  if (options.keyless) return { pubkey: "", fingerprint: "", source: "keyless", exposedFile: null };
  const path = options.nodeKey || join(options.dataDir, GENERATED_KEY_FILE);
  const unreadable = (error: Error) => new RelayKeyError(`cannot read the ${options.nodeKey ? "node key" : "relay key"} ${path}: ${error.message}`);
  const text = await readFile(path, "utf8").catch((error) => {
    if (error.code === "ENOENT" && !options.nodeKey) return null;
    throw unreadable(error);
  });
  const pem = text ?? await generateKeyFile(path).catch((error) => {
    throw new RelayKeyError(`cannot write the relay key ${path}: ${error.message}`);
  });
  let pubkey;
  try {
    pubkey = publicPemOf(pem);
  } catch (error) {
    // A RangeError inside says what is wrong with an RSA key of the right form: its size, its exponent.
    const { message, cause } = error as Error;
    throw new RelayKeyError(`${path} is not an unencrypted RSA private key of 1024 to 8192 bits: ${cause instanceof RangeError ? cause.message : message}`);
  }
  const mode = await stat(path).then(({ mode }) => mode & 0o777, (error) => {
    throw unreadable(error);
  });
  return {
    pubkey,
    fingerprint: publicKeyFingerprint(pubkey),
    source: options.nodeKey ? "node_key" : text === null ? "generated" : "data_dir",
    exposedFile: mode & 0o027 ? { path, mode: `0${mode.toString(8)}` } : null,
  };
}

async function generateKeyFile(path: string): Promise<string> {
  const pem = toPem("PRIVATE KEY", (await generateRsaKeyPair()).pkcs8);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await replaceFileAtomically(path, [new TextEncoder().encode(pem)]);
  return pem;
}
