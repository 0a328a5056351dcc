/** A recipient's endpoints: POST /retrieve (delete on read), /collect and /ack (at-least-once). */
import type { RequestContext } from "../context.ts";
import { errors, jsonResponse } from "../errors.ts";
import { provenMailbox } from "./ownership.ts";
import { limitRate } from "./rate-limit.ts";

const COLLECT_DEFAULT_LIMIT = 100;
/** Payload bytes one /collect answer carries at most (one message always fits). */
const COLLECT_MAX_BYTES = 4 << 20;
const MAX_ACK_IDS = 1000;

/**
 * After the read rate limit, reads the body, checks the endpoint's own fields with `parse` (so a
 * malformed request does not use up its single-use proof), then proves ownership of the mailbox.
 */
async function openMailbox<T>(context: RequestContext, parse: (body: Record<string, unknown>) => T) {
  await limitRate(context, context.relay.readLimiter);
  const body = await context.body();
  const fields = parse(body);
  return { fields, mailbox: await provenMailbox(context, body) };
}

function parseLimit(body: Record<string, unknown>): number {
  const limit = body.limit ?? COLLECT_DEFAULT_LIMIT;
  if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 1) throw errors.invalidLimit();
  return limit;
}

function parseDepositIds(body: Record<string, unknown>): string[] {
  const ids = body.deposit_ids;
  if (!Array.isArray(ids) || ids.length > MAX_ACK_IDS || !ids.every((id) => typeof id === "string")) {
    throw errors.invalidDepositIds();
  }
  return ids;
}

/** Every pending message, oldest first; they are deleted once the answer is ready. */
export async function retrieve(context: RequestContext): Promise<Response> {
  const { relay } = context;
  const { mailbox } = await openMailbox(context, () => null);
  const messages = await relay.store.take(mailbox);
  relay.metrics.countDelivered(messages.length);
  return jsonResponse({ status: "ok", messages: messages.map((message) => message.payload) });
}

/** Pending messages with their ids, oldest first, deleting nothing. */
export async function collect(context: RequestContext): Promise<Response> {
  const { relay } = context;
  const { fields: limit, mailbox } = await openMailbox(context, parseLimit);
  const { messages, more } = await relay.store.peek(mailbox, limit, COLLECT_MAX_BYTES);
  relay.metrics.countDelivered(messages.length);
  return jsonResponse({
    status: "ok",
    messages: messages.map((message) => ({ deposit_id: message.depositId, payload: message.payload, expires_at: message.expiresAt })),
    more,
  });
}

/** Removes the acknowledged messages; unknown ids are ignored. */
export async function ack(context: RequestContext): Promise<Response> {
  const { relay } = context;
  const { fields: ids, mailbox } = await openMailbox(context, parseDepositIds);
  const removed = await relay.store.remove(mailbox, ids);
  return jsonResponse({ status: "ok", removed });
}
