/** RSA-2048 client keypairs for the benchmark, made by the client's own keygen once and cached under bench-results/. */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { generateKeyPair, importPrivateKey, type PemKeyPair } from "../../lib/client/keys.ts";
import { PSS } from "../../lib/crypto/rsa-params.ts";
import { PublicKeyCache } from "../../lib/crypto/public-keys.ts";

/** One client identity: the PEM it sends, its mailbox id, and its signing key. */
export interface ClientKey {
  pem: string;
  mailbox: string;
  signKey: CryptoKey;
}

/** `count` keypairs: those cached in `cachePath`, plus new ones generated (and cached). */
export async function loadClientKeys(count: number, cachePath: string): Promise<ClientKey[]> {
  const cached: PemKeyPair[] = await readFile(cachePath, "utf8").then(JSON.parse, () => []);
  if (cached.length < count) {
    cached.push(...await Promise.all(Array.from({ length: count - cached.length }, generateKeyPair)));
    await mkdir(dirname(cachePath), { recursive: true });
    await writeFile(cachePath, JSON.stringify(cached));
  }
  const lookup = new PublicKeyCache(count + 1);
  return await Promise.all(cached.slice(0, count).map(async ({ publicPem, privatePem }) => ({
    pem: publicPem,
    mailbox: lookup.lookup(publicPem)!.mailbox,
    signKey: await importPrivateKey(privatePem, PSS),
  })));
}
