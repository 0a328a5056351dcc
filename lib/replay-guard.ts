/** Single-use proofs: remembers each accepted proof until its freshness window has passed. */

/** A claim's outcome: first use, a replay, or no room to remember it. */
export type ProofUse = "fresh" | "replayed" | "full";

/** Where spent proofs are remembered: this process (ReplayGuard) or a database every instance shares. */
export interface SpentProofs {
  claim(proofId: string, expiresAt: number, now: number): ProofUse | Promise<ProofUse>;
}

/** Remembers proofs by id until they expire; bounded in memory. */
export class ReplayGuard implements SpentProofs {
  readonly #seen = new Map<string, number>();

  constructor(readonly capacity = 200_000) {}

  /**
   * Marks `proofId` used until `expiresAt` (Unix seconds). Returns "fresh" the first time,
   * "replayed" after, and "full" when `capacity` unexpired proofs are already held.
   */
  claim(proofId: string, expiresAt: number, now: number): ProofUse {
    const until = this.#seen.get(proofId);
    if (until !== undefined && until >= now) return "replayed";
    this.#forgetExpired(now);
    if (this.#seen.size >= this.capacity) return "full";
    this.#seen.set(proofId, expiresAt);
    return "fresh";
  }

  /** How many proofs are remembered. */
  get size(): number {
    return this.#seen.size;
  }

  #forgetExpired(now: number): void {
    // Insertion order is close to expiry order (timestamps are within the window), so stop at
    // the first live entry, unless the guard is full: then sweep all of it.
    const full = this.#seen.size >= this.capacity;
    for (const [id, until] of this.#seen) {
      if (until < now) this.#seen.delete(id);
      else if (!full) break;
    }
  }
}
