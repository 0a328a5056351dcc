/** Type oids of the arrays the relay sends as statement parameters (`sql.array(values, oid)`). */
export const ARRAY_OF = { text: 1009, int8: 1016, float8: 1022, uuid: 2951 } as const;
