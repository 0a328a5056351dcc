/** The closed set of log record kinds, one JSON line each, and their encoding. */
import { crc32 } from "node:zlib";
import { strictUtf8 } from "../bytes.ts";

/** A deposited message, without its payload (which stays on disk). */
export interface PutHeader {
  k: "put";
  id: string;
  mb: string;
  exp: number;
}

/** A message delivered (retrieved or acknowledged) and so removed from its mailbox. */
export interface DelRecord {
  k: "del";
  id: string;
  mb: string;
}

export type RecordHeader = PutHeader | DelRecord;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True for the lowercase UUIDs the store gives messages. */
export const isMessageId = (id: unknown): id is string => typeof id === "string" && UUID.test(id);

const encoder = new TextEncoder();
const PUT_START = encoder.encode('{"k":"put",');
const PAYLOAD_KEY = ',"crc":';
/** A put line's header (kind, id, mailbox, expiry, crc) fits in this many bytes; the payload follows. */
const HEADER_BYTES = 256;

/**
 * `{"k":"put","id":…,"mb":…,"exp":…,"crc":…,"p":"…"}\n`. The payload comes last and `crc` is the
 * CRC-32 of its JSON text, so start-up reads only the short header and still catches a damaged payload.
 */
export function encodePut(header: Omit<PutHeader, "k">, payload: string): Uint8Array<ArrayBuffer> {
  const payloadJson = JSON.stringify(payload);
  const head = JSON.stringify({ k: "put", id: header.id, mb: header.mb, exp: header.exp }).slice(0, -1);
  // crc32 of a string is the CRC of its UTF-8 bytes (Bun and Deno alike): one encode for the whole line.
  return encoder.encode(`${head}${PAYLOAD_KEY}${crc32(payloadJson)},"p":${payloadJson}}\n`);
}

/** `{"k":"del","id":…,"mb":…}\n`. */
export function encodeDel(record: Omit<DelRecord, "k">): Uint8Array<ArrayBuffer> {
  return encoder.encode(`${JSON.stringify({ k: "del", id: record.id, mb: record.mb })}\n`);
}

const latin1 = new TextDecoder("latin1");

/**
 * Where a put line's header ends and its payload JSON starts; throws SyntaxError when the line is cut
 * short or (unless told not to check) the payload fails its CRC.
 */
function payloadBounds(line: Uint8Array, checkCrc: boolean): { prefix: string; headerEnd: number; payloadStart: number } {
  const prefix = latin1.decode(line.subarray(0, HEADER_BYTES));
  const headerEnd = prefix.indexOf(PAYLOAD_KEY);
  const colon = prefix.indexOf(',"p":', headerEnd);
  if (headerEnd < 0 || colon < 0) throw new SyntaxError("put record without crc or payload");
  const payloadStart = colon + 5;
  const crc = Number(prefix.slice(headerEnd + PAYLOAD_KEY.length, colon));
  const payload = line.subarray(payloadStart, line.length - 1);
  if (line[line.length - 1] !== 0x7d || (checkCrc && crc32(payload) !== crc)) throw new SyntaxError("payload fails its CRC");
  return { prefix, headerEnd, payloadStart };
}

/** The header of a put line; throws SyntaxError when damaged. */
function putHeader(line: Uint8Array, checkCrc: boolean): PutHeader {
  const { prefix, headerEnd } = payloadBounds(line, checkCrc);
  const header = JSON.parse(`${prefix.slice(0, headerEnd)}}`);
  if (!isMessageId(header.id) || typeof header.mb !== "string" || !Number.isSafeInteger(header.exp)) {
    throw new SyntaxError("put header without id, mailbox or expiry");
  }
  return header;
}

/** True when the line starts as a put record does (whether it is a whole one is for {@link decodeHeader}). */
export function isPutLine(line: Uint8Array): boolean {
  return PUT_START.every((byte, i) => line[i] === byte);
}

/**
 * Decodes one line (without its newline) to its header; throws SyntaxError when it is not a whole
 * record. `checkCrc: false` skips the payload check, for lines already checked when the log was opened.
 */
export function decodeHeader(line: Uint8Array, checkCrc = true): RecordHeader {
  if (isPutLine(line)) return putHeader(line, checkCrc);
  const record = JSON.parse(strictUtf8.decode(line));
  if (record?.k !== "del" || !isMessageId(record.id) || typeof record.mb !== "string") {
    throw new SyntaxError("not a record");
  }
  return record;
}

/** The payload of a put line (without its newline) the index points at; its header is not parsed again. */
export function decodePayload(line: Uint8Array): string {
  const { payloadStart } = payloadBounds(line, true);
  return JSON.parse(strictUtf8.decode(line.subarray(payloadStart, line.length - 1)));
}
