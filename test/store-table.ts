/** The store tables: steps through the public API and the state they leave, for the embedded log's tests and the contract suite. */
import type { MailboxStore } from "../lib/store/mailbox-store.ts";

export const NOW = 1_767_225_600;

/** Every mailbox's payloads, oldest first. */
export async function contents(store: Pick<MailboxStore, "peek">, mailboxes = ["a", "b"]): Promise<Record<string, string[]>> {
  const state: Record<string, string[]> = {};
  for (const mailbox of mailboxes) state[mailbox] = (await store.peek(mailbox)).messages.map((m) => m.payload);
  return state;
}

type Step = (store: MailboxStore, ids: Map<string, string>) => Promise<unknown>;
const put = (mailbox: string, payload: string, expiresAt = NOW + 600): Step => async (store, ids) =>
  ids.set(payload, await store.deposit(mailbox, payload, expiresAt));
const del = (mailbox: string, ...payloads: string[]): Step => (store, ids) =>
  store.remove(mailbox, payloads.map((p) => ids.get(p) ?? "unknown"));

/** Steps, and the state of mailboxes "a" and "b" after them (all deposits expire at NOW + 600). */
export const STORE_TABLE: { name: string; steps: Step[]; state: Record<string, string[]> }[] = [
  { name: "deposits in order", steps: [put("a", "1"), put("a", "2"), put("b", "3")], state: { a: ["1", "2"], b: ["3"] } },
  { name: "a removal", steps: [put("a", "1"), put("a", "2"), del("a", "1")], state: { a: ["2"], b: [] } },
  { name: "removing from the wrong mailbox does nothing", steps: [put("a", "1"), del("b", "1")], state: { a: ["1"], b: [] } },
  { name: "expired at deposit time is never seen", steps: [put("a", "old", NOW - 1), put("a", "new")], state: { a: ["new"], b: [] } },
  { name: "everything removed", steps: [put("a", "1"), put("b", "2"), del("a", "1"), del("b", "2")], state: { a: [], b: [] } },
  { name: "payloads with newlines and unicode", steps: [put("a", 'line\n"two"\u2028 ü 🐝')], state: { a: ['line\n"two"\u2028 ü 🐝'], b: [] } },
];
