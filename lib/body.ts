/** Reading a request body as a JSON object, within a byte limit and a deadline. */
import { concatBytes, strictUtf8 } from "./bytes.ts";
import { errors, RelayError } from "./errors.ts";
import type { HttpRequest } from "./http-request.ts";

/** Replaces invalid bytes with U+FFFD rather than throwing. */
const utf8 = new TextDecoder();

/** Reads the body of `request` as a JSON object; throws RelayErrors for every way it can be wrong. */
export async function readJsonObject(
  request: HttpRequest,
  limits: { maxBytes: number; timeoutMs: number },
): Promise<Record<string, unknown>> {
  const declared = request.headers.get("content-length");
  if (Number(declared) > limits.maxBytes) throw errors.payloadTooLarge();
  const bytes = await readLimited(request, declared !== null, limits);
  if (bytes.length === 0) throw errors.emptyBody();
  let value: unknown;
  try {
    // Invalid UTF-8 always decodes to U+FFFD, so only a text that has one needs the strict (slower) pass.
    const text = utf8.decode(bytes);
    if (text.includes("\uFFFD")) strictUtf8.decode(bytes);
    value = JSON.parse(text);
  } catch {
    throw errors.invalidJson();
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw errors.invalidJson();
  // Signed and hashed strings are used exactly as received, so each must have a UTF-8 form.
  for (const field of Object.values(value)) {
    if (typeof field === "string" && !field.isWellFormed()) throw errors.invalidJson();
  }
  return value as Record<string, unknown>;
}

/**
 * The body's bytes, read within `maxBytes` and the deadline; `declared` when it came with a Content-Length.
 * A body cut short (the client closed or reset the connection mid-body) is 400 incomplete_body.
 */
async function readLimited(request: HttpRequest, declared: boolean, limits: { maxBytes: number; timeoutMs: number }): Promise<Uint8Array> {
  // A declared length (already checked against the limit) is all the server will read: take it whole.
  const whole = declared ? request.bytes() : null;
  // A body that has already arrived needs no deadline (a timer costs about 2.5 µs under Deno).
  if (whole instanceof Uint8Array) return whole;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(errors.requestTimeout()), limits.timeoutMs);
  });
  try {
    if (whole) return await Promise.race([whole, deadline]);
    return await readChunked(request, limits.maxBytes, deadline);
  } catch (error) {
    throw error instanceof RelayError ? error : errors.incompleteBody();
  } finally {
    clearTimeout(timer);
  }
}

/** Streams a body of unknown length, stopping (without buffering the rest) once it passes `maxBytes`. */
async function readChunked(request: HttpRequest, maxBytes: number, deadline: Promise<never>): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), deadline]);
      if (done) return concatBytes(chunks);
      total += value.length;
      if (total > maxBytes) throw errors.payloadTooLarge();
      chunks.push(value);
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  }
}
