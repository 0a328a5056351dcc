/** What a refusal likely means for the person at the keyboard: hints printed beside the relay's reason. */
import { TOLERANCE_SECONDS } from "../protocol-limits.ts";
import type { RelayRefusal } from "./http.ts";

/** Reasons the relay gives for a proof whose timestamp is too far from its clock (among other causes). */
const PROOF_REFUSALS = new Set<string | null>(["replay_detected", "invalid_depositor_signature"]);
const ENDPOINT_SUFFIX = /\/(?:pubkey|deposit|retrieve|collect|ack|healthz|metrics)\/*$/;

/** Hint lines for `refusal` of a request to the relay at `url`; none when nothing explains it. */
export function refusalHints(refusal: RelayRefusal, url: string): string[] {
  const hints: string[] = [];
  const skew = refusal.clockSkewSeconds;
  // The skew is known to about a second (see clockSkew): one just inside the tolerance may be just outside it.
  if (PROOF_REFUSALS.has(refusal.reason) && skew !== null && Math.abs(skew) >= TOLERANCE_SECONDS - 1) {
    hints.push(
      `your clock is ${secondsAndDays(Math.abs(skew))} ${skew > 0 ? "behind" : "ahead of"} the relay; proofs must be within ` +
        `${TOLERANCE_SECONDS} s of its clock: set the time (e.g. wait for NTP) and try again`,
    );
  }
  if (refusal.reason === "payload_too_large" && refusal.sentBytes !== null) {
    hints.push(
      `the request was ${refusal.sentBytes} bytes, more than this relay takes (its --max-payload-bytes, 65536 by default); ` +
        "sealing adds about a third, and a character outside ASCII becomes 8 bytes or more: send a shorter text",
    );
  }
  if (refusal.retryAfterSeconds !== null) {
    hints.push(`the relay asks to wait ${refusal.retryAfterSeconds} s before trying again${refusal.reason === "rate_limit_exceeded" ? " (it limits requests per address)" : ""}`);
  }
  if (refusal.status === 413 && refusal.reason === null) {
    hints.push("a proxy in front of the relay refused the request's size (nginx: client_max_body_size): it must take what the relay takes (--max-payload-bytes)");
  }
  if (refusal.reason === "invalid_target_pubkey") {
    hints.push("the relay takes RSA public keys of 1024 to 8192 bits as PEM (SPKI or PKCS#1), and of at most 4096 bits when it runs under Deno");
  }
  if (refusal.status === 404 && ENDPOINT_SUFFIX.test(url)) {
    hints.push(`${url} ends in an endpoint path; pass the relay's base URL instead: ${url.replace(ENDPOINT_SUFFIX, "")}`);
  }
  return hints;
}

/** `n` seconds, with the days beside them when there are two or more. */
function secondsAndDays(n: number): string {
  return n >= 2 * 86_400 ? `${n} s (${Math.floor(n / 86_400)} days)` : `${n} s`;
}
