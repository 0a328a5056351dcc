/** SHA-256, the one digest HiveMind uses. */
import type { Buffer } from "node:buffer";
import { createHash } from "node:crypto";

/** SHA-256 of bytes or of a string's UTF-8 bytes. */
export function sha256(data: Uint8Array | string): Buffer {
  return createHash("sha256").update(data).digest();
}
