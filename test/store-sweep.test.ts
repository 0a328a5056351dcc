/** Sweeps of the store's index: every expired message is dropped, whenever it was added, and nothing else. */
import { describe, expect, test } from "bun:test";
import { MailboxIndex } from "../lib/store/mailbox-index.ts";

const NOW = 1_800_000_000;
let nextId = 0;
const id = () => `00000000-0000-4000-8000-${(nextId++).toString(16).padStart(12, "0")}`;
const add = (index: MailboxIndex, mailbox: string, expiresAt: number) => index.add(mailbox, id(), { expiresAt, offset: 0, length: 100 });

describe("sweepExpired", () => {
  test("drops exactly the messages expired at its time", async () => {
    const index = new MailboxIndex();
    for (const [mailbox, expiresAt] of [["a", NOW + 10], ["a", NOW + 20], ["b", NOW + 20], ["b", NOW + 30]] as const) add(index, mailbox, expiresAt);
    expect(await index.sweepExpired(NOW + 9)).toBe(0);
    expect(await index.sweepExpired(NOW + 10)).toBe(1);
    expect(await index.sweepExpired(NOW + 10)).toBe(0);
    expect(await index.sweepExpired(NOW + 25)).toBe(2);
    expect([index.size("a"), index.size("b"), index.count]).toEqual([0, 1, 1]);
  });

  test("a message that expires before all those held when the last sweep found nothing to drop is dropped by the next", async () => {
    const index = new MailboxIndex();
    add(index, "a", NOW + 100);
    expect(await index.sweepExpired(NOW + 50)).toBe(0);
    add(index, "b", NOW + 60);
    expect(await index.sweepExpired(NOW + 70)).toBe(1);
    expect([index.size("a"), index.size("b")]).toEqual([1, 0]);
  });

  test("a message added to a mailbox the running sweep has passed is dropped by the next sweep once expired", async () => {
    const index = new MailboxIndex();
    add(index, "first", NOW + 5); // expired at the sweep's time: the sweep walks the index
    for (let i = 0; i < 200_000; i++) add(index, `m${i}`, NOW + 1000);
    let sweepDone = false;
    const sweep = index.sweepExpired(NOW + 10).then((dropped) => ((sweepDone = true), dropped));
    await new Promise((resolve) => setTimeout(resolve, 0)); // the sweep's first slice has run: "first" is behind it
    expect(sweepDone).toBe(false);
    add(index, "first", NOW + 20);
    expect(await sweep).toBe(1);
    expect(await index.sweepExpired(NOW + 21)).toBe(1);
    expect(index.size("first")).toBe(0);
    expect(index.count).toBe(200_000);
  });

  test("sweeps asked for while one runs run after it, each at its own time", async () => {
    const index = new MailboxIndex();
    for (let i = 0; i < 50_000; i++) add(index, `m${i}`, NOW + 10 + (i % 3));
    const dropped = await Promise.all([index.sweepExpired(NOW + 10), index.sweepExpired(NOW + 11), index.sweepExpired(NOW + 12)]);
    expect(dropped).toEqual([16_667, 16_667, 16_666]);
    expect(index.count).toBe(0);
  });
});
