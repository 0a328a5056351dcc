/** HTML built with a tagged template that escapes every interpolated value. */

/** Markup that is already safe: the `html` tag inserts it as is. */
export class Html {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** `text` with `& < > " '` replaced by entities: safe in element content and in quoted attributes. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => ENTITIES[character]);
}

/**
 * `html\`<p>${value}</p>\``: every interpolated value is escaped, except `Html` (nested templates);
 * arrays are joined, each item treated the same way.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  return new Html(strings.reduce((text, string, index) => text + insert(values[index - 1]) + string));
}

function insert(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(insert).join("");
  return escapeHtml(String(value));
}
