/** `keygen DIR`: a new keypair written as private_key.pem (mode 0600) and public_key.pem. */
import { chmod, type FileHandle, mkdir, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { generateKeyPair, type PemKeyPair } from "./keys.ts";

/** File names keygen writes inside its directory. */
const KEY_FILES = { private: "private_key.pem", public: "public_key.pem" } as const;

/** Generates a keypair into `directory` (created if needed); refuses to overwrite an existing key. */
export async function keygen(directory: string): Promise<{ privatePath: string; publicPath: string; publicPem: string }> {
  await mkdir(directory, { recursive: true, mode: 0o700 }).catch((error) => {
    const inTheWay = error.code === "EEXIST" || error.code === "ENOTDIR";
    throw new Error(`cannot create the directory ${directory}: ${inTheWay ? "a file is in the way" : error.message}`);
  });
  const privatePath = join(directory, KEY_FILES.private);
  const publicPath = join(directory, KEY_FILES.public);
  // Both files are claimed before the (slow) generation, so an existing key is refused up front.
  const privateFile = await createNew(privatePath, 0o600);
  const publicFile = await createNew(publicPath, 0o644).catch(async (error) => {
    await privateFile.close();
    await rm(privatePath);
    throw error;
  });
  let pair: PemKeyPair;
  try {
    pair = await generateKeyPair();
    await writeSynced(privateFile, pair.privatePem);
    await writeSynced(publicFile, pair.publicPem);
  } finally {
    await Promise.allSettled([privateFile.close(), publicFile.close()]);
  }
  await chmod(privatePath, 0o600); // the mode given to open is masked by the umask
  return { privatePath, publicPath, publicPem: pair.publicPem };
}

async function createNew(path: string, mode: number): Promise<FileHandle> {
  return await open(path, "wx", mode).catch((error) => {
    throw new Error(error.code === "EEXIST" ? `${path} already exists; not overwriting it` : `cannot write ${path}: ${error.message}`);
  });
}

async function writeSynced(file: FileHandle, text: string): Promise<void> {
  await file.writeFile(text);
  await file.sync();
}
