/** RSA-2048 client keypairs for the benchmark, generated once and cached under bench-results/. */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { toPem } from "../../lib/crypto/pem.ts";
import { PublicKeyCache } from "../../lib/crypto/public-keys.ts";

/** One client identity: the PEM it sends, its mailbox id, and its signing key. */
export interface ClientKey {
  pem: string;
  mailbox: string;
  signKey: CryptoKey;
}

const RSA_PSS = { name: "RSA-PSS", hash: "SHA-256" } as const;

/** `count` keypairs: those cached in `cachePath`, plus new ones generated (and cached). */
export async function loadClientKeys(count: number, cachePath: string): Promise<ClientKey[]> {
  const cached: { pem: string; pkcs8: string }[] = await readFile(cachePath, "utf8").then(JSON.parse, () => []);
  if (cached.length < count) {
    const fresh = await Promise.all(Array.from({ length: count - cached.length }, generatePair));
    cached.push(...fresh);
    await mkdir(dirname(cachePath), { recursive: true });
    await writeFile(cachePath, JSON.stringify(cached));
  }
  const lookup = new PublicKeyCache(count + 1);
  return await Promise.all(cached.slice(0, count).map(async ({ pem, pkcs8 }) => ({
    pem,
    mailbox: lookup.lookup(pem)!.mailbox,
    signKey: await crypto.subtle.importKey("pkcs8", Buffer.from(pkcs8, "base64"), RSA_PSS, false, ["sign"]),
  })));
}

async function generatePair(): Promise<{ pem: string; pkcs8: string }> {
  const pair = await crypto.subtle.generateKey(
    { ...RSA_PSS, modulusLength: 2048, publicExponent: Uint8Array.of(1, 0, 1) },
    true,
    ["sign", "verify"],
  );
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", pair.privateKey)).toString("base64");
  return { pem: toPem("PUBLIC KEY", spki), pkcs8 };
}
