/**
 * The arrays the relay's statements send and read, written and read here: the client is told not to
 * look types up (see Engine), so it knows only these.
 */

/** Type oids of the arrays the relay sends as statement parameters (`sql.array(values, oid)`) or reads back. */
export const ARRAY_OF = { text: 1009, int8: 1016, float8: 1022, uuid: 2951, bool: 1000, int4: 1007 } as const;

/** How an element of each array type reads back; elements of the others stay text. */
const ELEMENT_OF: Partial<Record<number, (text: string) => unknown>> = {
  [ARRAY_OF.bool]: (text) => text === "t",
  [ARRAY_OF.int4]: Number,
  [ARRAY_OF.float8]: Number,
};

/** A one-dimensional array literal: every element quoted, `"` and `\\` escaped. */
function arrayLiteral(items: readonly unknown[]): string {
  return `{${items.map((item) => `"${String(item).replace(/[\\"]/g, "\\$&")}"`).join(",")}}`;
}

/** The elements of a one-dimensional array literal, as text; an unquoted NULL is null. */
function parseArrayLiteral(literal: string): (string | null)[] {
  const items: (string | null)[] = [];
  for (let i = 1; i < literal.length - 1; i++) {
    let item = "";
    if (literal[i] === '"') {
      for (i++; literal[i] !== '"'; i++) item += literal[literal[i] === "\\" ? ++i : i];
      i++;
      items.push(item);
    } else {
      for (; literal[i] !== "," && i < literal.length - 1; i++) item += literal[i];
      items.push(item === "NULL" ? null : item);
    }
  }
  return items;
}

/** The client's `types` option for every array in ARRAY_OF. */
export function arrayTypes(): Record<string, { to: number; from: number[]; serialize(items: unknown[]): string; parse(literal: string): unknown[] }> {
  return Object.fromEntries(Object.entries(ARRAY_OF).map(([name, oid]) => {
    const element = ELEMENT_OF[oid];
    const parse = element
      ? (literal: string) => parseArrayLiteral(literal).map((item) => item === null ? null : element(item))
      : parseArrayLiteral;
    return [`${name}Array`, { to: oid, from: [oid], serialize: arrayLiteral, parse }];
  }));
}
