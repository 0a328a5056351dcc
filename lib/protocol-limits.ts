/** The protocol's time limits, shared by the relay's routes and the bundled client. */

/** Default and largest TTL of a deposit: 7 days. */
export const MAX_TTL_SECONDS = 604_800;

/** How far (seconds) an ownership proof's timestamp may be from the relay's clock, either way. */
export const TOLERANCE_SECONDS = 60;
