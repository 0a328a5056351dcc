/** Every case of the shared vectors, replayed through the HTTP handler with the relay clock frozen at the case's `now`. */
import { describe, expect, test } from "bun:test";
import { proofMessage } from "../lib/proof.ts";
import { parseTimestamp } from "../lib/routes/ownership.ts";
import { json, keys, loadVector, proofBody, testRelay } from "./helpers.ts";

interface Expected {
  status: number | null;
  reason: string | null;
}
interface Case {
  id: string;
  name: string;
  now?: number;
  normative?: boolean;
  relay_pubkey: string;
  require_depositor_proof?: boolean;
  request: Record<string, unknown>;
  expected: Expected;
  expected_recommended?: Expected;
  decrypt?: { recipient: "alice" | "bob" };
}

const proofs = await loadVector<{ now: number; cases: Case[] }>("ownership_proofs.json");
const deposits = await loadVector<{ now: number; cases: Case[] }>("deposits.json");

/** docs/protocol.md Part B decisions for cases where the original relay's answer is not the contract. */
const partB: Record<string, Expected> = {
  D41: { status: 400, reason: "invalid_target_pubkey" },
};

/** What this relay must answer: the normative answer, else Part B's, else the recommended one. */
function answerFor(c: Case): Expected {
  if (c.normative !== false && c.expected.status !== null) return c.expected;
  return partB[c.id] ?? c.expected_recommended ?? c.expected;
}

async function expectAnswer(response: Response, expected: Expected) {
  const body = await json(response);
  const actual: Expected = { status: response.status, reason: body.reason ?? null };
  expect(actual).toEqual(expected);
  expect(response.headers.get("content-type")).toBe("application/json");
  expect(body.status).toBe(expected.status === 200 ? "ok" : "error");
  return body;
}

describe("ownership_proofs.json through POST /retrieve", () => {
  for (const c of proofs.cases) {
    const expected = answerFor(c);
    test(`${c.id} ${c.name} → ${expected.status} ${expected.reason ?? ""}`, async () => {
      const relay = await testRelay({ now: c.now ?? proofs.now, relayPubkey: c.relay_pubkey });
      const body = await expectAnswer(await relay.request("/retrieve", c.request), expected);
      if (expected.status === 200) expect(body.messages).toEqual([]);
    });
  }
});

describe("deposits.json through POST /deposit", () => {
  for (const c of deposits.cases) {
    const expected = answerFor(c);
    test(`${c.id} ${c.name} → ${expected.status} ${expected.reason ?? ""}`, async () => {
      const relay = await testRelay({
        now: c.now ?? deposits.now,
        relayPubkey: c.relay_pubkey,
        config: { requireDepositorProof: c.require_depositor_proof ?? false },
      });
      const body = await expectAnswer(await relay.request("/deposit", c.request), expected);
      if (expected.status !== 200) return;
      expect(body.deposit_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      // The recipient gets the payload string back byte for byte.
      const recipient = c.request.target_pubkey === keys.alice.public_spki_pem ? "alice" : "bob";
      const now = c.now ?? deposits.now;
      const retrieved = await json(await relay.request("/retrieve", await proofBody(recipient, now, { relayPem: c.relay_pubkey })));
      expect(retrieved.messages).toEqual([c.request.payload]);
    });
  }
});

describe("proofMessage against the vectors' relay_message_hex", () => {
  test("rebuilds the exact bytes the relay must verify, for every case with a usable timestamp", () => {
    const cases = proofs.cases.filter((c) => (c as Case & { relay_message_hex: string | null }).relay_message_hex);
    expect(cases.length).toBeGreaterThan(15);
    for (const c of cases) {
      const message = proofMessage(c.request.pubkey as string, c.relay_pubkey, parseTimestamp(c.request.timestamp));
      expect(Buffer.from(message).toString("hex")).toBe((c as Case & { relay_message_hex: string }).relay_message_hex);
    }
  });
});
