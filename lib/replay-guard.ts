/** Single-use proofs: remembers each accepted proof until its freshness window has passed. */
import { sha256 } from "./crypto/sha256.ts";
import type { VerifiedProof } from "./proof.ts";

/** Each proof is remembered as 128 bits of SHA-256 of its id (see ReplayGuard.#digest), in four 32-bit words. */
const DIGEST_WORDS = 4;
/** The table is never more than 3/4 full, so a linear probe stays a few slots long. */
const MAX_LOAD = 0.75;
const INITIAL_SLOTS = 1024;
const UTF8 = new TextEncoder();

/** A claim's outcome: first use, a replay, or no room to remember it. */
export type ProofUse = "fresh" | "replayed" | "full";

/** Where spent proofs are remembered: this process (ReplayGuard) or a database every instance shares. */
export interface SpentProofs {
  claim(proof: VerifiedProof, expiresAt: number, now: number): ProofUse | Promise<ProofUse>;
}

/**
 * Remembers proofs by a digest of their id until they expire; bounded in memory. An open-addressing
 * table of fixed-size digests and expiry seconds in typed arrays: 20 bytes a slot, 26.7 bytes a proof at
 * capacity. It grows by doubling up to what `capacity` needs and drops expired proofs when it
 * grows or is full.
 */
export class ReplayGuard implements SpentProofs {
  readonly #maxSlots: number;
  #digests = new Uint32Array(0);
  /** The digest being looked up: its first {@link DIGEST_WORDS} words (the table lives in memory only, so byte order does not matter). */
  readonly #probeBytes = new Uint8Array(32);
  readonly #probe = new Uint32Array(this.#probeBytes.buffer, 0, DIGEST_WORDS);
  /** Unix seconds until which the slot's proof is remembered; 0 marks an empty slot. */
  #expiries = new Uint32Array(0);
  #size = 0;
  /** The earliest expiry held: until then, dropping expired proofs would free nothing. */
  #earliestExpiry = Infinity;
  /** The bytes a proof's digest is taken of (see {@link #digest}), reused from claim to claim. */
  #idBytes = new Uint8Array(1024);

  constructor(readonly capacity = 200_000) {
    this.#maxSlots = Math.ceil(capacity / MAX_LOAD);
    this.#rebuild(Math.min(INITIAL_SLOTS, this.#maxSlots), 0);
  }

  /**
   * Marks `proof` used until `expiresAt` (Unix seconds). Returns "fresh" the first time,
   * "replayed" after, and "full" when `capacity` unexpired proofs are already held.
   */
  claim(proof: VerifiedProof, expiresAt: number, now: number): ProofUse {
    const until = Math.min(Math.max(Math.ceil(expiresAt), 1), 0xffff_ffff);
    this.#probeBytes.set(this.#digest(proof));
    const probe = this.#probe;
    let slot = this.#find(probe, 0);
    if (this.#expiries[slot] !== 0) {
      if (this.#expiries[slot] >= now) return "replayed";
      this.#remember(slot, probe, 0, until); // the same id, expired: remembered afresh
      return "fresh";
    }
    if (this.#size >= this.capacity) {
      if (now > this.#earliestExpiry) this.#rebuild(this.#expiries.length, now);
      if (this.#size >= this.capacity) return "full";
      slot = this.#find(probe, 0);
    } else if (this.#size + 1 > this.#expiries.length * MAX_LOAD) {
      this.#rebuild(Math.min(this.#expiries.length * 2, this.#maxSlots), now);
      slot = this.#find(probe, 0);
    }
    this.#size++;
    this.#remember(slot, probe, 0, until);
    return "fresh";
  }

  /** How many proofs are remembered (expired ones included until they are dropped). */
  get size(): number {
    return this.#size;
  }

  /**
   * SHA-256 of `mailbox timestamp ` in UTF-8 followed by the signature's bytes: the proof's id as text
   * (proof.ts) with the signature's bytes for its base64, which would cost more than the digest.
   */
  #digest(proof: VerifiedProof): Uint8Array {
    const text = `${proof.mailbox} ${proof.timestamp} `;
    const most = 3 * text.length + proof.signature.length; // UTF-8 takes at most 3 bytes per UTF-16 unit
    if (most > this.#idBytes.length) this.#idBytes = new Uint8Array(most);
    const { written } = UTF8.encodeInto(text, this.#idBytes);
    this.#idBytes.set(proof.signature, written);
    return sha256(this.#idBytes.subarray(0, written + proof.signature.length));
  }

  /** The slot holding the digest at `words[from]`, or the empty slot where it would go. */
  #find(words: Uint32Array, from: number): number {
    const slots = this.#expiries.length;
    const word0 = words[from], word1 = words[from + 1], word2 = words[from + 2], word3 = words[from + 3];
    for (let slot = word0 % slots; ; slot = (slot + 1) % slots) {
      if (this.#expiries[slot] === 0) return slot;
      const at = slot * DIGEST_WORDS;
      const digests = this.#digests;
      if (digests[at] === word0 && digests[at + 1] === word1 && digests[at + 2] === word2 && digests[at + 3] === word3) return slot;
    }
  }

  /** Stores the digest at `words[from]` in `slot`, remembered until `until`. */
  #remember(slot: number, words: Uint32Array, from: number, until: number): void {
    const at = slot * DIGEST_WORDS;
    for (let word = 0; word < DIGEST_WORDS; word++) this.#digests[at + word] = words[from + word];
    this.#expiries[slot] = until;
    this.#earliestExpiry = Math.min(this.#earliestExpiry, until);
  }

  /** Re-inserts the proofs still remembered at `now` into a table of `slots` slots. */
  #rebuild(slots: number, now: number): void {
    const [digests, expiries] = [this.#digests, this.#expiries];
    this.#digests = new Uint32Array(slots * DIGEST_WORDS);
    this.#expiries = new Uint32Array(slots);
    this.#size = 0;
    this.#earliestExpiry = Infinity;
    for (let slot = 0; slot < expiries.length; slot++) {
      if (expiries[slot] === 0 || expiries[slot] < now) continue;
      this.#size++;
      this.#remember(this.#find(digests, slot * DIGEST_WORDS), digests, slot * DIGEST_WORDS, expiries[slot]);
    }
  }
}
