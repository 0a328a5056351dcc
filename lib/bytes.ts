/** Byte-array helpers. */

/** Strict UTF-8: invalid bytes throw. Without `stream`, each decode stands alone, so one decoder serves every caller. */
export const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The parts joined into one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Whether two arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
