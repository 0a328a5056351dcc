/** The closed set of log record kinds, one JSON line each. */

/** A deposited message. `p` comes last so a reader can find the header without the payload. */
export interface PutRecord {
  k: "put";
  id: string;
  mb: string;
  exp: number;
  p: string;
}

/** A message delivered (retrieved or acknowledged) and so removed from its mailbox. */
export interface DelRecord {
  k: "del";
  id: string;
  mb: string;
}

export type LogRecord = PutRecord | DelRecord;

const encoder = new TextEncoder();

/** One record as its log line, newline included. */
export function encodeRecord(record: LogRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record) + "\n");
}

/** Parses one line (without its newline); throws SyntaxError when it is not a well-formed record. */
export function decodeRecord(line: string): LogRecord {
  const value = JSON.parse(line);
  if (typeof value?.id !== "string" || typeof value.mb !== "string") throw new SyntaxError("record without id or mailbox");
  if (value.k === "del") return value;
  if (value.k === "put" && Number.isSafeInteger(value.exp) && typeof value.p === "string") return value;
  throw new SyntaxError(`not a record: ${String(value.k)}`);
}
