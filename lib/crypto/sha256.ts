/** SHA-256, the one digest HiveMind uses. */
import type { Buffer } from "node:buffer";
import { hash } from "node:crypto";

/** SHA-256 of bytes or of a string's UTF-8 bytes. */
export function sha256(data: Uint8Array | string): Buffer {
  return hash("sha256", data, "buffer");
}
