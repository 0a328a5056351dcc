/** The little ASN.1 DER the relay needs: read a TLV, write a TLV. Nothing else. */

export const TAG = { INTEGER: 0x02, BIT_STRING: 0x03, OCTET_STRING: 0x04, NULL: 0x05, OID: 0x06, SEQUENCE: 0x30 } as const;

/** One element: its tag and the bytes of its content. */
export interface DerElement {
  tag: number;
  content: Uint8Array;
  /** Offset just past this element in the buffer it was read from. */
  end: number;
}

/** Reads the element starting at `offset`; throws SyntaxError on anything malformed. */
export function readElement(bytes: Uint8Array, offset = 0): DerElement {
  if (offset + 2 > bytes.length) throw new SyntaxError("DER: truncated header");
  const tag = bytes[offset];
  let length = bytes[offset + 1];
  let cursor = offset + 2;
  if (length & 0x80) {
    const lengthBytes = length & 0x7f;
    if (lengthBytes < 1 || lengthBytes > 4 || cursor + lengthBytes > bytes.length) {
      throw new SyntaxError("DER: bad length");
    }
    length = 0;
    for (let i = 0; i < lengthBytes; i++) length = length * 256 + bytes[cursor++];
  }
  const end = cursor + length;
  if (end > bytes.length) throw new SyntaxError("DER: truncated content");
  return { tag, content: bytes.subarray(cursor, end), end };
}

/** Reads every element inside a constructed element's content, checking each tag. */
export function readSequence(content: Uint8Array, tags: number[]): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const tag of tags) {
    const element = readElement(content, offset);
    if (element.tag !== tag) throw new SyntaxError(`DER: expected tag ${tag}, got ${element.tag}`);
    parts.push(element.content);
    offset = element.end;
  }
  return parts;
}

/** Reads a whole buffer as exactly one element of the given tag. */
export function readOnly(bytes: Uint8Array, tag: number): Uint8Array {
  const element = readElement(bytes);
  if (element.tag !== tag || element.end !== bytes.length) throw new SyntaxError("DER: unexpected element");
  return element.content;
}

/** Encodes one element. */
export function encodeElement(tag: number, ...contents: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const length = contents.reduce((sum, part) => sum + part.length, 0);
  const header = length < 0x80 ? [tag, length] : [tag, ...lengthBytes(length)];
  const out = new Uint8Array(header.length + length);
  out.set(header);
  let offset = header.length;
  for (const part of contents) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function lengthBytes(length: number): number[] {
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return [0x80 | bytes.length, ...bytes];
}
