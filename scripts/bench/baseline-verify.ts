/** Baseline: JSON in, one RSA-PSS-2048 proof verified (imported keys cached), JSON out. Nothing else. */
import { readFileSync } from "node:fs";
import { proofMessage } from "../../lib/proof.ts";

const relayPem = readFileSync(process.argv[2], "utf8");
const keys = new Map<string, Promise<CryptoKey>>();

/** The verify key for a PEM, imported once. */
function verifyKey(pem: string): Promise<CryptoKey> {
  let key = keys.get(pem);
  if (!key) {
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
    key = crypto.subtle.importKey("spki", der, { name: "RSA-PSS", hash: "SHA-256" }, false, ["verify"]);
    keys.set(pem, key);
  }
  return key;
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request) {
    if (request.method !== "POST") return Response.json({ status: "ok" });
    const body = await request.json() as { pubkey: string; timestamp: number; signature: string };
    const valid = await crypto.subtle.verify(
      { name: "RSA-PSS", saltLength: 32 },
      await verifyKey(body.pubkey),
      Buffer.from(body.signature, "base64"),
      proofMessage(body.pubkey, relayPem, body.timestamp),
    );
    return Response.json(valid ? { status: "ok", messages: [] } : { status: "error", reason: "invalid_signature" }, { status: valid ? 200 : 401 });
  },
});
console.log(`Baseline server listening on 127.0.0.1:${server.port}`);
