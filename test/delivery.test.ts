/** Delivery through HTTP: round trips, restarts, single-use proofs, one mailbox per key, collect + ack, expiry. */
import { describe, expect, test } from "bun:test";
import { intercom, json, keys, proofBody, testInProcess, testRelay } from "./helpers.ts";

const NOW = 1_767_225_600;

async function depositTo(relay: Awaited<ReturnType<typeof testRelay>>, target: string, data: unknown, extra = {}) {
  const response = await relay.request("/deposit", { payload: intercom(data), target_pubkey: target, ...extra });
  expect(response.status).toBe(200);
  return (await json(response)).deposit_id as string;
}

describe("deposit → retrieve", () => {
  test("round trip, oldest first, then an empty retrieve", async () => {
    const relay = await testRelay({ now: NOW });
    await depositTo(relay, keys.bob.public_spki_pem, { n: 1 });
    await depositTo(relay, keys.bob.public_spki_pem, { n: 2 });
    const first = await json(await relay.request("/retrieve", await proofBody("bob", NOW)));
    expect(first).toEqual({ status: "ok", messages: [intercom({ n: 1 }), intercom({ n: 2 })] });
    const second = await json(await relay.request("/retrieve", await proofBody("bob", NOW)));
    expect(second).toEqual({ status: "ok", messages: [] });
  });

  test("messages survive a restart of the relay on the same data dir", async () => {
    const before = await testRelay({ now: NOW });
    await depositTo(before, keys.bob.public_spki_pem, { n: 1 });
    await before.stop();
    const after = await testRelay({ now: NOW, dataDir: before.dataDir });
    const retrieved = await json(await after.request("/retrieve", await proofBody("bob", NOW)));
    expect(retrieved.messages).toEqual([intercom({ n: 1 })]);
    await after.stop();
    const again = await testRelay({ now: NOW, dataDir: before.dataDir });
    expect((await json(await again.request("/retrieve", await proofBody("bob", NOW)))).messages).toEqual([]);
  });

  test("another key's proof gets an empty mailbox, not someone else's mail", async () => {
    const relay = await testRelay({ now: NOW });
    await depositTo(relay, keys.bob.public_spki_pem, { n: 1 });
    expect((await json(await relay.request("/retrieve", await proofBody("alice", NOW)))).messages).toEqual([]);
  });

  test("a key written as SPKI and as PKCS#1 is one mailbox", async () => {
    const relay = await testRelay({ now: NOW });
    await depositTo(relay, keys.alice.public_pkcs1_pem!, { form: "pkcs1" });
    await depositTo(relay, keys.alice.public_spki_pem, { form: "spki" });
    const retrieved = await json(await relay.request("/retrieve", await proofBody("alice", NOW)));
    expect(retrieved.messages).toEqual([intercom({ form: "pkcs1" }), intercom({ form: "spki" })]);
  });

  test("an expired message is never returned", async () => {
    const relay = await testRelay({ now: NOW });
    await depositTo(relay, keys.bob.public_spki_pem, { short: true }, { ttl: 60 });
    await depositTo(relay, keys.bob.public_spki_pem, { long: true });
    await relay.setNow(NOW + 61);
    const retrieved = await json(await relay.request("/retrieve", await proofBody("bob", NOW + 61)));
    expect(retrieved.messages).toEqual([intercom({ long: true })]);
  });
});

describe("concurrent retrieves", () => {
  test("two retrieves of one mailbox at once never hand out the same message twice", async () => {
    const relay = await testRelay({ now: NOW });
    for (let n = 0; n < 5; n++) await depositTo(relay, keys.bob.public_spki_pem, { n });
    const [first, second] = await Promise.all([
      proofBody("bob", NOW).then((proof) => relay.request("/retrieve", proof)).then(json),
      proofBody("bob", NOW).then((proof) => relay.request("/retrieve", proof)).then(json),
    ]);
    expect([...first.messages, ...second.messages].sort()).toEqual([0, 1, 2, 3, 4].map((n) => intercom({ n })).sort());
  });
});

describe("single-use proofs", () => {
  test("the same proof twice on /retrieve → the second is 401 replay_detected", async () => {
    const relay = await testRelay({ now: NOW });
    const proof = await proofBody("bob", NOW);
    expect((await relay.request("/retrieve", proof)).status).toBe(200);
    const replay = await relay.request("/retrieve", proof);
    expect(replay.status).toBe(401);
    expect((await json(replay)).reason).toBe("replay_detected");
  });

  test("a proof used on /collect cannot be reused on /ack", async () => {
    const relay = await testRelay({ now: NOW });
    const proof = await proofBody("bob", NOW);
    expect((await relay.request("/collect", proof)).status).toBe(200);
    const replay = await relay.request("/ack", { ...proof, deposit_ids: [] });
    expect([replay.status, (await json(replay)).reason]).toEqual([401, "replay_detected"]);
  });

  test("the same signature in another base64 spelling is still a replay", async () => {
    const relay = await testRelay({ now: NOW });
    const proof = await proofBody("bob", NOW);
    expect((await relay.request("/retrieve", proof)).status).toBe(200);
    // 256 bytes → base64 ends in "=="; the last symbol carries 4 unused bits that decoders ignore.
    const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const last = proof.signature.length - 3;
    const respelled = proof.signature.slice(0, last) + chars[chars.indexOf(proof.signature[last]) ^ 1] + "==";
    const replay = await relay.request("/retrieve", { ...proof, signature: respelled });
    expect([replay.status, (await json(replay)).reason]).toEqual([401, "replay_detected"]);
  });

  test("a depositor proof is single-use too", async () => {
    const relay = await testRelay({ now: NOW });
    const proof = await proofBody("alice", NOW);
    const depositor = { depositor_pubkey: proof.pubkey, depositor_timestamp: proof.timestamp, depositor_signature: proof.signature };
    await depositTo(relay, keys.bob.public_spki_pem, { n: 1 }, depositor);
    const replay = await relay.request("/deposit", { payload: intercom(), target_pubkey: keys.bob.public_spki_pem, ...depositor });
    expect([replay.status, (await json(replay)).reason]).toEqual([401, "replay_detected"]);
  });

  test("a depositor proof that verified is spent even when the deposit is refused for its content", async () => {
    const relay = await testRelay({ now: NOW });
    await depositTo(relay, keys.alice.public_spki_pem, { for: "alice" });
    const proof = await proofBody("alice", NOW);
    const depositor = { depositor_pubkey: proof.pubkey, depositor_timestamp: proof.timestamp, depositor_signature: proof.signature };
    const refused = await relay.request("/deposit", { payload: "{", target_pubkey: keys.bob.public_spki_pem, ...depositor });
    expect([refused.status, (await json(refused)).reason]).toEqual([400, "invalid_payload"]);
    // The same signed bytes open the depositor's own mailbox: they must not still be unspent.
    const retrieve = await relay.request("/retrieve", proof);
    expect([retrieve.status, (await json(retrieve)).reason]).toEqual([401, "replay_detected"]);
    const again = await relay.request("/deposit", { payload: intercom(), target_pubkey: keys.bob.public_spki_pem, ...depositor });
    expect([again.status, (await json(again)).reason]).toEqual([401, "replay_detected"]);
    expect((await json(await relay.request("/retrieve", await proofBody("alice", NOW)))).messages).toEqual([intercom({ for: "alice" })]);
  });

  testInProcess("a proof signed over 60 s from the relay's clock → 401 replay_detected; logged once a minute with its skew, and counted (a relay clock off shows there)", async () => {
    const lines: { event: string; fields?: Record<string, unknown> }[] = [];
    const relay = await testRelay({ now: NOW, log: (event, fields) => lines.push({ event, fields }) });
    for (const signedAt of [NOW + 3 * 86400, NOW - 61, NOW + 61]) {
      const refused = await relay.request("/retrieve", await proofBody("bob", signedAt));
      expect([refused.status, (await json(refused)).reason]).toEqual([401, "replay_detected"]);
    }
    expect((await relay.request("/retrieve", await proofBody("bob", NOW + 60))).status).toBe(200);
    relay.setNow(NOW + 60);
    const proof = await proofBody("alice", NOW - 3600);
    const depositor = { depositor_pubkey: proof.pubkey, depositor_timestamp: proof.timestamp, depositor_signature: proof.signature };
    const stale = await relay.request("/deposit", { payload: intercom(), target_pubkey: keys.bob.public_spki_pem, ...depositor });
    expect([stale.status, (await json(stale)).reason]).toEqual([401, "invalid_depositor_signature"]);
    expect(lines.filter((line) => line.event === "proof_stale")).toEqual([
      { event: "proof_stale", fields: { endpoint: "/retrieve", skew_seconds: 3 * 86400 } },
      { event: "proof_stale", fields: { endpoint: "/deposit", skew_seconds: -3660, suppressed: 2 } },
    ]);
    // Every one counted, apart from the real replays the same answer also covers.
    expect(await (await relay.request("/metrics")).text()).toContain("\nrendezvous_proofs_stale_total 4\n");
  });

  test("two fresh proofs in the same second both work (collect, then ack)", async () => {
    const relay = await testRelay({ now: NOW });
    const id = await depositTo(relay, keys.bob.public_spki_pem, { n: 1 });
    expect((await relay.request("/collect", await proofBody("bob", NOW))).status).toBe(200);
    const acked = await json(await relay.request("/ack", { ...await proofBody("bob", NOW), deposit_ids: [id] }));
    expect(acked).toEqual({ status: "ok", removed: 1 });
  });
});

describe("collect + ack (at-least-once)", () => {
  test("collect returns ids and expiry, deletes nothing; ack removes; unknown ids are a no-op", async () => {
    const relay = await testRelay({ now: NOW });
    const ids = [
      await depositTo(relay, keys.bob.public_spki_pem, { n: 1 }, { ttl: 100 }),
      await depositTo(relay, keys.bob.public_spki_pem, { n: 2 }),
    ];
    const collected = await json(await relay.request("/collect", await proofBody("bob", NOW)));
    expect(collected).toEqual({
      status: "ok",
      messages: [
        { deposit_id: ids[0], payload: intercom({ n: 1 }), expires_at: NOW + 100 },
        { deposit_id: ids[1], payload: intercom({ n: 2 }), expires_at: NOW + 604_800 },
      ],
      more: false,
    });
    const again = await json(await relay.request("/collect", await proofBody("bob", NOW)));
    expect(again.messages.length).toBe(2);
    const acked = await json(await relay.request("/ack", { ...await proofBody("bob", NOW), deposit_ids: [ids[0], "no-such-id"] }));
    expect(acked).toEqual({ status: "ok", removed: 1 });
    const left = await json(await relay.request("/collect", await proofBody("bob", NOW)));
    expect(left.messages.map((m: { deposit_id: string }) => m.deposit_id)).toEqual([ids[1]]);
  });

  test("collect honours limit and says there is more", async () => {
    const relay = await testRelay({ now: NOW });
    for (let n = 0; n < 3; n++) await depositTo(relay, keys.bob.public_spki_pem, { n });
    const page = await json(await relay.request("/collect", { ...await proofBody("bob", NOW), limit: 2 }));
    expect(page.messages.map((m: { payload: string }) => m.payload)).toEqual([intercom({ n: 0 }), intercom({ n: 1 })]);
    expect(page.more).toBe(true);
  });

  test("bad limit → 400 invalid_limit; bad deposit_ids → 400 invalid_deposit_ids; the proof stays usable", async () => {
    const relay = await testRelay({ now: NOW });
    const proof = await proofBody("bob", NOW);
    const badLimit = await relay.request("/collect", { ...proof, limit: 0 });
    expect([badLimit.status, (await json(badLimit)).reason]).toEqual([400, "invalid_limit"]);
    const badIds = await relay.request("/ack", { ...proof, deposit_ids: "abc" });
    expect([badIds.status, (await json(badIds)).reason]).toEqual([400, "invalid_deposit_ids"]);
    expect((await relay.request("/collect", proof)).status).toBe(200);
  });

  test("an acknowledged message stays gone after a restart", async () => {
    const relay = await testRelay({ now: NOW });
    const id = await depositTo(relay, keys.bob.public_spki_pem, { n: 1 });
    await relay.request("/ack", { ...await proofBody("bob", NOW), deposit_ids: [id] });
    await relay.stop();
    const after = await testRelay({ now: NOW, dataDir: relay.dataDir });
    expect((await json(await after.request("/collect", await proofBody("bob", NOW)))).messages).toEqual([]);
  });
});
