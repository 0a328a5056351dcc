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
const latin1 = new TextDecoder("latin1");

/**
 * Every record this release writes starts `{"v":2,"crc":"<8 hex digits>",`: the CRC-32 of the rest of
 * the line (kind, id, mailbox, expiry and payload), so damage anywhere in a record is caught.
 */
const SEALED_START = encoder.encode('{"v":2,"crc":"');
/** Where the sealed part of a version 2 line starts: after the CRC's 8 digits and `",`. */
const SEALED_FROM = SEALED_START.length + 10;
/** Records of the first release: a put's `crc` covers only its payload, a del has none. */
const LEGACY_PUT_START = encoder.encode('{"k":"put",');
const LEGACY_DEL_START = encoder.encode('{"k":"del",');
const PUT_KIND = encoder.encode('"k":"put",');
const PAYLOAD_KEY = ',"p":';
const LEGACY_CRC_KEY = ',"crc":';
/** A put line's header (everything before the payload) fits in this many bytes; the payload follows. */
const HEADER_BYTES = 256;

/** `{"v":2,"crc":"…","k":"put","id":…,"mb":…,"exp":…,"p":"…"}\n`: the payload comes last, so start-up parses only the short header. */
export function encodePut(header: Omit<PutHeader, "k">, payload: string): Uint8Array<ArrayBuffer> {
  const fields = JSON.stringify({ k: "put", id: header.id, mb: header.mb, exp: header.exp }).slice(1, -1);
  return sealed(`${fields}${PAYLOAD_KEY}${JSON.stringify(payload)}}`);
}

/** `{"v":2,"crc":"…","k":"del","id":…,"mb":…}\n`. */
export function encodeDel(record: Omit<DelRecord, "k">): Uint8Array<ArrayBuffer> {
  return sealed(`${JSON.stringify({ k: "del", id: record.id, mb: record.mb }).slice(1)}`);
}

/** A version 2 line: `rest` (the fields after the CRC, with the closing brace) sealed by its CRC. */
function sealed(rest: string): Uint8Array<ArrayBuffer> {
  // crc32 of a string is the CRC of its UTF-8 bytes (Bun and Deno alike): one encode for the whole line.
  return encoder.encode(`{"v":2,"crc":"${crc32(rest).toString(16).padStart(8, "0")}",${rest}\n`);
}

function startsWith(line: Uint8Array, start: Uint8Array, at = 0): boolean {
  return start.every((byte, i) => line[at + i] === byte);
}

const isSealed = (line: Uint8Array) => startsWith(line, SEALED_START);

/** Throws SyntaxError unless the version 2 line's CRC matches the rest of it. */
function checkSeal(line: Uint8Array): void {
  const crc = latin1.decode(line.subarray(SEALED_START.length, SEALED_FROM));
  const expected = `${crc32(line.subarray(SEALED_FROM)).toString(16).padStart(8, "0")}",`;
  if (crc !== expected || line[line.length - 1] !== 0x7d) throw new SyntaxError("record fails its CRC");
}

/**
 * Where a put line's header ends and its payload JSON starts; throws SyntaxError when the line is cut
 * short or (unless told not to check) fails its CRC: the whole line's for a version 2 line, the payload's for a legacy one.
 */
function payloadBounds(line: Uint8Array, checkCrc: boolean): { headerStart: number; headerEnd: number; payloadStart: number } {
  const sealed = isSealed(line);
  if (sealed && checkCrc) checkSeal(line);
  const prefix = latin1.decode(line.subarray(0, HEADER_BYTES));
  const headerEnd = prefix.indexOf(sealed ? PAYLOAD_KEY : LEGACY_CRC_KEY);
  const colon = prefix.indexOf(PAYLOAD_KEY, headerEnd);
  if (headerEnd < 0 || colon < 0 || line[line.length - 1] !== 0x7d) throw new SyntaxError("put record without payload");
  const payloadStart = colon + PAYLOAD_KEY.length;
  if (!sealed && checkCrc) {
    const crc = Number(prefix.slice(headerEnd + LEGACY_CRC_KEY.length, colon));
    if (crc32(line.subarray(payloadStart, line.length - 1)) !== crc) throw new SyntaxError("payload fails its CRC");
  }
  return { headerStart: sealed ? SEALED_FROM : 1, headerEnd, payloadStart };
}

/** The fields of `{…}` text between `start` and `end` of the line, checked to be a record header. */
function headerFields(line: Uint8Array, start: number, end: number): RecordHeader {
  const header = JSON.parse(`{${strictUtf8.decode(line.subarray(start, end))}}`);
  const valid = isMessageId(header.id) && typeof header.mb === "string" &&
    (header.k === "put" ? Number.isSafeInteger(header.exp) : header.k === "del");
  if (!valid) throw new SyntaxError("not a record");
  return header;
}

/** True when the line is a put record, going by its start (whether it is a whole one is for {@link decodeHeader}). */
export function isPutLine(line: Uint8Array): boolean {
  return startsWith(line, LEGACY_PUT_START) || (isSealed(line) && startsWith(line, PUT_KIND, SEALED_FROM));
}

/**
 * Decodes one line (without its newline) to its header; throws SyntaxError when it is not a whole
 * record. `checkCrc: false` skips the CRC, for lines already checked when the log was opened.
 */
export function decodeHeader(line: Uint8Array, checkCrc = true): RecordHeader {
  if (isPutLine(line)) {
    const { headerStart, headerEnd } = payloadBounds(line, checkCrc);
    const header = headerFields(line, headerStart, headerEnd);
    if (header.k !== "put") throw new SyntaxError("not a put record");
    return header;
  }
  if (isSealed(line)) {
    if (checkCrc) checkSeal(line);
    return headerFields(line, SEALED_FROM, line.length - 1);
  }
  if (!startsWith(line, LEGACY_DEL_START)) throw new SyntaxError("not a record");
  return headerFields(line, 1, line.length - 1);
}

/** The payload of a put line (without its newline) the index points at; its header is not parsed again. */
export function decodePayload(line: Uint8Array): string {
  const { payloadStart } = payloadBounds(line, true);
  return JSON.parse(strictUtf8.decode(line.subarray(payloadStart, line.length - 1)));
}
