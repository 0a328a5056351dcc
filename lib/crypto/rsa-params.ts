/** The RSA algorithms HiveMind uses, as WebCrypto parameters: defined once, for signing and verifying alike. */

/** RSA-PSS with SHA-256, for importing keys; sign and verify with {@link PSS_PARAMS}. */
export const PSS = { name: "RSA-PSS", hash: "SHA-256" } as const;
/** Salt length 32, as the Python stack signs. */
export const PSS_PARAMS = { name: "RSA-PSS", saltLength: 32 } as const;
/** RSA-OAEP with SHA-1 (and MGF1-SHA-1): what HiveMind wraps AES keys with. */
export const OAEP = { name: "RSA-OAEP", hash: "SHA-1" } as const;
