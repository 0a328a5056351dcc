/** JSON text exactly as Python's json.dumps writes it by default: ", " and ": " separators, ASCII only. */

/** A JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Serialises `value` byte for byte as `json.dumps(value)` would, keeping the object key order. */
export function pythonJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value).map(([key, item]) => `${asciiJson(key)}: ${pythonJson(item)}`).join(", ")}}`;
  }
  if (typeof value === "number" && !Number.isSafeInteger(value)) throw new RangeError("only integers serialise the same in Python");
  return asciiJson(value);
}

// ensure_ascii: everything outside printable ASCII becomes \uXXXX (lowercase hex), UTF-16 unit by unit.
function asciiJson(value: string | number | boolean | null): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
