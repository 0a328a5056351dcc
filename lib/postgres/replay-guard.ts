/** Single-use proofs across every relay instance: a proof spent on one is replayed on all. */
import { sha256 } from "../crypto/sha256.ts";
import { proofIdText, type VerifiedProof } from "../proof.ts";
import { ARRAY_OF } from "./array-types.ts";
import { laneOfKey } from "./batcher.ts";
import type { Engine } from "./engine.ts";

interface Claim {
  /** SHA-256 of the proof's id as text, hex: every relay version on the database names a proof so. */
  digest: string;
  expiresAt: number;
  now: number;
}

/** Claims one statement carries at most, and statements in flight (proofs split by lane). */
const BATCH_CLAIMS = 512;
const LANES = 2;

/**
 * Remembers spent proofs (by the SHA-256 of their id as text) in the shared database until their freshness
 * window has passed. Claims that arrive together go in one statement and one commit.
 */
export class PostgresReplayGuard {
  readonly #submit: (item: Claim) => Promise<"fresh" | "replayed">;

  constructor(readonly engine: Engine) {
    this.#submit = engine.batched({
      lanes: LANES,
      maxItems: BATCH_CLAIMS,
      laneOf: (claim) => laneOfKey(claim.digest, LANES),
      send: (claims) => this.#claimAll(claims),
    });
  }

  /**
   * Marks `proof` used until `expiresAt` (Unix seconds): "fresh" the first time on any instance,
   * "replayed" after. Racing claims of one proof have exactly one winner (one row, one upsert).
   */
  claim(proof: VerifiedProof, expiresAt: number, now: number): Promise<"fresh" | "replayed"> {
    return this.#submit({ digest: sha256(proofIdText(proof)).toString("hex"), expiresAt: Math.ceil(expiresAt), now: Math.floor(now) });
  }

  /**
   * One upsert for the batch, in digest order (so batches on several instances cannot deadlock); a
   * proof claimed twice in one batch is fresh at most the first time.
   */
  async #claimAll(claims: Claim[]): Promise<("fresh" | "replayed")[]> {
    const first = new Map<string, Claim>();
    for (const claim of claims) if (!first.has(claim.digest)) first.set(claim.digest, claim);
    const unique = [...first.values()].sort((a, b) => a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0);
    // A spent proof whose window passed before the batch's earliest claim may be spent again.
    const now = Math.min(...unique.map((claim) => claim.now));
    const won = await this.engine.run("claim_proof", (sql) =>
      sql`INSERT INTO rendezvous_proofs AS p (digest, expires_at)
        SELECT decode(c.digest, 'hex'), c.expires_at
        FROM unnest(${sql.array(unique.map((c) => c.digest), ARRAY_OF.text)}::text[], ${sql.array(unique.map((c) => c.expiresAt), ARRAY_OF.int8)}::bigint[])
          WITH ORDINALITY AS c (digest, expires_at, n)
        ORDER BY c.n
        ON CONFLICT (digest) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE p.expires_at < ${now}
        RETURNING encode(p.digest, 'hex') AS digest`);
    const fresh = new Set(won.map((row) => row.digest as string));
    return claims.map((claim) => fresh.has(claim.digest) && first.get(claim.digest) === claim ? "fresh" : "replayed");
  }
}
