/** Single-use proofs across every relay instance: a proof spent on one is replayed on all. */
import { sha256 } from "../crypto/public-keys.ts";
import type { Engine } from "./engine.ts";

/** Remembers spent proofs (by the SHA-256 of their id) in the shared database until their freshness window has passed. */
export class PostgresReplayGuard {
  constructor(readonly engine: Engine) {}

  /**
   * Marks `proofId` used until `expiresAt` (Unix seconds): "fresh" the first time on any instance,
   * "replayed" after. Racing claims of one proof have exactly one winner (one row, one upsert).
   */
  async claim(proofId: string, expiresAt: number, now: number): Promise<"fresh" | "replayed"> {
    const rows = await this.engine.run("claim_proof", (sql) =>
      sql`INSERT INTO rendezvous_proofs AS p (digest, expires_at) VALUES (${sha256(proofId)}, ${Math.ceil(expiresAt)})
        ON CONFLICT (digest) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE p.expires_at < ${Math.floor(now)}
        RETURNING 1`);
    return rows.length === 1 ? "fresh" : "replayed";
  }
}
