/**
 * The replay guard's table: every proof is remembered across its growth, refused once full, forgotten
 * once expired; a proof is named by its mailbox, timestamp and signature.
 */
import { describe, expect, test } from "bun:test";
import { proofIdText } from "../lib/proof.ts";
import { ReplayGuard } from "../lib/replay-guard.ts";
import { spentProof } from "./helpers.ts";

const NOW = 1_767_225_600;
const ids = (count: number, prefix = "proof") => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

describe("replay guard", () => {
  test("every proof claimed up to capacity is fresh once, then replayed, across the table's growth", () => {
    const guard = new ReplayGuard(20_000);
    for (const id of ids(20_000)) expect(guard.claim(spentProof(id), NOW + 60, NOW)).toBe("fresh");
    for (const id of ids(20_000)) expect(guard.claim(spentProof(id), NOW + 60, NOW)).toBe("replayed");
    expect(guard.claim(spentProof("one more"), NOW + 60, NOW)).toBe("full");
    expect(guard.size).toBe(20_000);
  });

  test("a full guard drops only the expired proofs to make room, and keeps refusing replays of the rest", () => {
    const guard = new ReplayGuard(1000);
    for (const id of ids(500, "early")) guard.claim(spentProof(id), NOW + 10, NOW);
    for (const id of ids(500, "late")) guard.claim(spentProof(id), NOW + 60, NOW);
    expect(guard.claim(spentProof("new"), NOW + 60, NOW + 5)).toBe("full");
    expect(guard.claim(spentProof("new"), NOW + 71, NOW + 11)).toBe("fresh");
    expect(guard.size).toBe(501);
    for (const id of ids(500, "late")) expect(guard.claim(spentProof(id), NOW + 60, NOW + 11)).toBe("replayed");
    expect(guard.claim(spentProof("early-7"), NOW + 71, NOW + 11)).toBe("fresh"); // expired: its window has passed
  });

  test("an expired proof is fresh again without growing the guard", () => {
    const guard = new ReplayGuard(10);
    expect(guard.claim(spentProof("a"), NOW + 60, NOW)).toBe("fresh");
    expect(guard.claim(spentProof("a"), NOW + 60, NOW + 60)).toBe("replayed");
    expect(guard.claim(spentProof("a"), NOW + 121, NOW + 61)).toBe("fresh");
    expect(guard.size).toBe(1);
  });

  test("a proof alike but for its mailbox, its timestamp or its signature's last byte is another proof", () => {
    const guard = new ReplayGuard(10);
    const proof = spentProof("signature", { signature: Uint8Array.of(1, 2, 3) });
    expect(guard.claim(proof, NOW + 60, NOW)).toBe("fresh");
    for (const other of [{ mailbox: "1".repeat(64) }, { timestamp: proof.timestamp + 1 }, { signature: Uint8Array.of(1, 2, 4) }]) {
      expect(guard.claim({ ...proof, ...other }, NOW + 60, NOW)).toBe("fresh");
    }
    expect(guard.claim({ ...proof, signature: Uint8Array.of(1, 2, 3) }, NOW + 60, NOW)).toBe("replayed");
  });

  test("a proof's id as text (what relays sharing a database digest) is `mailbox timestamp base64(signature)`", () => {
    expect(proofIdText(spentProof("", { mailbox: "ab12", timestamp: 1_767_225_600, signature: Uint8Array.of(0xff, 0xfe) }))).toBe("ab12 1767225600 //4=");
  });
});
