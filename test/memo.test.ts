import { describe, expect, test } from "bun:test";
import { rateLimitKey } from "../lib/client-address.ts";
import { memoize } from "../lib/memo.ts";

describe("memoize", () => {
  test("answers what the function answers, before and after its capacity is reached, computing each argument once while remembered", () => {
    const computed: string[] = [];
    const bucket = memoize((address: string) => (computed.push(address), rateLimitKey(address)), 2);
    const addresses = ["192.0.2.7", "2001:db8:1:2::abcd", "192.0.2.7", "::1", "2001:db8:1:2::abcd", "192.0.2.7"];
    expect(addresses.map(bucket)).toEqual(addresses.map(rateLimitKey));
    // 192.0.2.7 is remembered on its second call; ::1 fills the memo past 2, so it starts again.
    expect(computed).toEqual(["192.0.2.7", "2001:db8:1:2::abcd", "::1", "2001:db8:1:2::abcd", "192.0.2.7"]);
  });

  test("computes an argument of more than 256 characters every time, so a full memo stays small", () => {
    let calls = 0;
    const length = memoize((text: string) => (calls++, text.length));
    const long = `/${"a".repeat(256)}`;
    expect([length(long), length(long), length("/deposit"), length("/deposit")]).toEqual([257, 257, 8, 8]);
    expect(calls).toBe(3);
  });

  test("remembers an undefined answer like any other", () => {
    let calls = 0;
    const nothing = memoize(() => (calls++, undefined));
    nothing("a");
    nothing("a");
    expect(calls).toBe(1);
  });
});
