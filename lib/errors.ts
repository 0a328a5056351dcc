/** The catalog of every error the relay answers with, and how one is rendered as HTTP. */

/** An error a client caused or must know about: a status, a stable reason, optional headers. */
export class RelayError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly headers?: Record<string, string>,
  ) {
    super(reason);
    this.name = "RelayError";
  }
}

const entry = (status: number, reason: string) => () => new RelayError(status, reason);

/** Every reason the relay can answer with; handlers `throw errors.x()`. */
export const errors = {
  badRequest: entry(400, "bad_request"),
  notFound: entry(404, "not_found"),
  emptyBody: entry(400, "empty_body"),
  incompleteBody: entry(400, "incomplete_body"),
  invalidJson: entry(400, "invalid_json"),
  payloadTooLarge: entry(413, "payload_too_large"),
  requestTimeout: entry(408, "request_timeout"),
  missingFields: entry(400, "missing_fields"),
  invalidTtl: entry(400, "invalid_ttl"),
  invalidTimestamp: entry(400, "invalid_timestamp"),
  invalidLimit: entry(400, "invalid_limit"),
  invalidDepositIds: entry(400, "invalid_deposit_ids"),
  invalidPayload: entry(400, "invalid_payload"),
  payloadMustBeIntercom: entry(400, "payload_must_be_intercom"),
  invalidRecipientFingerprint: entry(400, "invalid_recipient_fingerprint"),
  recipientFingerprintMismatch: entry(400, "recipient_fingerprint_mismatch"),
  invalidTargetPubkey: entry(400, "invalid_target_pubkey"),
  depositorProofRequired: entry(400, "depositor_proof_required"),
  invalidDepositorSignature: entry(401, "invalid_depositor_signature"),
  invalidSignature: entry(401, "invalid_signature"),
  replayDetected: entry(401, "replay_detected"),
  mailboxFull: entry(507, "mailbox_full"),
  storeFull: entry(507, "store_full"),
  storageError: entry(500, "storage_error"),
  serverBusy: entry(503, "server_busy"),
  internalError: entry(500, "internal_error"),
  methodNotAllowed: (allow: string[]) =>
    new RelayError(405, "method_not_allowed", { Allow: allow.join(", ") }),
  storeUnavailable: () => new RelayError(503, "store_unavailable", { "Retry-After": "2" }),
  /** Never sent: the client's connection closed before its address was looked up. */
  clientClosedRequest: entry(499, "client_closed_request"),
  rateLimitExceeded: (retryAfterSeconds: number) =>
    new RelayError(429, "rate_limit_exceeded", { "Retry-After": String(retryAfterSeconds) }),
};

const JSON_CONTENT_TYPE = { "Content-Type": "application/json" };

/** A JSON response with the relay's content type (and `headers`, if any). */
export function jsonResponse(body: unknown, status = 200, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), { status, headers: headers ? { ...JSON_CONTENT_TYPE, ...headers } : JSON_CONTENT_TYPE });
}

/** Renders a RelayError as `{"status":"error","reason":...}`. */
export function errorResponse(error: RelayError): Response {
  return jsonResponse({ status: "error", reason: error.reason }, error.status, error.headers);
}
