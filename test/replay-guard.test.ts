/** The replay guard's table: every proof is remembered across its growth, refused once full, forgotten once expired. */
import { describe, expect, test } from "bun:test";
import { ReplayGuard } from "../lib/replay-guard.ts";

const NOW = 1_767_225_600;
const ids = (count: number, prefix = "proof") => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

describe("replay guard", () => {
  test("every proof claimed up to capacity is fresh once, then replayed, across the table's growth", () => {
    const guard = new ReplayGuard(20_000);
    for (const id of ids(20_000)) expect(guard.claim(id, NOW + 60, NOW)).toBe("fresh");
    for (const id of ids(20_000)) expect(guard.claim(id, NOW + 60, NOW)).toBe("replayed");
    expect(guard.claim("one more", NOW + 60, NOW)).toBe("full");
    expect(guard.size).toBe(20_000);
  });

  test("a full guard drops only the expired proofs to make room, and keeps refusing replays of the rest", () => {
    const guard = new ReplayGuard(1000);
    for (const id of ids(500, "early")) guard.claim(id, NOW + 10, NOW);
    for (const id of ids(500, "late")) guard.claim(id, NOW + 60, NOW);
    expect(guard.claim("new", NOW + 60, NOW + 5)).toBe("full");
    expect(guard.claim("new", NOW + 71, NOW + 11)).toBe("fresh");
    expect(guard.size).toBe(501);
    for (const id of ids(500, "late")) expect(guard.claim(id, NOW + 60, NOW + 11)).toBe("replayed");
    expect(guard.claim("early-7", NOW + 71, NOW + 11)).toBe("fresh"); // expired: its window has passed
  });

  test("an expired proof is fresh again without growing the guard", () => {
    const guard = new ReplayGuard(10);
    expect(guard.claim("a", NOW + 60, NOW)).toBe("fresh");
    expect(guard.claim("a", NOW + 60, NOW + 60)).toBe("replayed");
    expect(guard.claim("a", NOW + 121, NOW + 61)).toBe("fresh");
    expect(guard.size).toBe(1);
  });
});
