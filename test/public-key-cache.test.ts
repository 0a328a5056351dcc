/** The relay's cache of parsed public keys: the most recently used ones, whatever copy of their text a request carries. */
import { expect, test } from "bun:test";
import { PublicKeyCache } from "../lib/crypto/public-keys.ts";
import { keys } from "./helpers.ts";

const [alice, bob, relay] = [keys.alice.public_spki_pem, keys.bob.public_spki_pem, keys.relay.public_spki_pem];
/** An equal text in a string of its own, as each request's JSON.parse gives it. */
const copyOf = (text: string) => JSON.parse(JSON.stringify(text)) as string;

test("the public-key cache keeps the most recently used keys, found by an equal copy of their text", () => {
  const cache = new PublicKeyCache(2);
  const aliceKey = cache.lookup(alice);
  const bobKey = cache.lookup(bob);
  expect(aliceKey?.mailbox).toMatch(/^[0-9a-f]{64}$/);
  expect(cache.lookup(copyOf(alice))).toBe(aliceKey); // a hit makes alice the most recent
  cache.lookup(relay); // evicts bob, the least recently used
  expect(cache.lookup(copyOf(alice))).toBe(aliceKey);
  const bobAgain = cache.lookup(copyOf(bob));
  expect(bobAgain).not.toBe(bobKey); // parsed afresh
  expect(bobAgain?.mailbox).toBe(bobKey!.mailbox);
  expect(cache.lookup("not a key")).toBeNull();
});
