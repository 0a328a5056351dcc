/** Calls to a rendezvous relay over HTTP: one function per endpoint, JSON in and out. */

const TIMEOUT_MS = 30_000;

/** The relay answered with an error status; `reason` is its catalog reason. */
export class RelayRefusal extends Error {
  override name = "RelayRefusal";
  constructor(
    readonly status: number,
    /** The relay's `reason`; null when the answer has none (a proxy's error page, or not a relay at all). */
    readonly reason: string | null,
    /** The relay's clock minus ours in seconds, from its `Date` header; null without one. */
    readonly clockSkewSeconds: number | null,
    /** Seconds the relay asks us to wait before trying again, from its `Retry-After` header; null without one. */
    readonly retryAfterSeconds: number | null = null,
    /** The size of the request's body in bytes; null without one. */
    readonly sentBytes: number | null = null,
  ) {
    super(reason === null ? `HTTP ${status} with no reason: a proxy's error, or not a rendezvous relay` : `the relay refused: ${reason} (HTTP ${status})`);
  }
}

/** An ownership proof as the relay's endpoints take it. */
export interface Proof {
  pubkey: string;
  timestamp: number;
  signature: string;
}

/** One message from POST /collect. */
export interface CollectedMessage {
  deposit_id: string;
  payload: string;
  expires_at: number;
}

/** A relay at `baseUrl` (e.g. "http://host:6789", optionally with a path prefix); each request waits `timeoutMs` at most. */
export class RelayClient {
  readonly #base: string;

  constructor(baseUrl: string, readonly timeoutMs = TIMEOUT_MS) {
    this.#base = baseUrl.replace(/\/+$/, "");
  }

  /** GET /pubkey: the PEM text proofs must bind ("" for a keyless relay). */
  async pubkey(): Promise<string> {
    const body = await this.#call("GET", "/pubkey");
    if (typeof body.pubkey !== "string") throw new Error("GET /pubkey answered without a pubkey");
    return body.pubkey;
  }

  /** POST /deposit; resolves with the deposit id. */
  async deposit(request: Record<string, unknown>): Promise<string> {
    return String((await this.#call("POST", "/deposit", request)).deposit_id);
  }

  /** POST /collect, or null when the relay has no such endpoint (an original relay). */
  async collect(proof: Proof, limit: number): Promise<{ messages: CollectedMessage[]; more: boolean } | null> {
    try {
      const body = await this.#call("POST", "/collect", { ...proof, limit });
      return { messages: body.messages as CollectedMessage[], more: body.more === true };
    } catch (error) {
      if (error instanceof RelayRefusal && error.status === 404) return null;
      throw error;
    }
  }

  /** POST /ack; resolves with how many messages the relay removed. */
  async ack(proof: Proof, depositIds: string[]): Promise<number> {
    return Number((await this.#call("POST", "/ack", { ...proof, deposit_ids: depositIds })).removed);
  }

  /** POST /retrieve: every pending payload, deleted by the relay as it answers. */
  async retrieve(proof: Proof): Promise<string[]> {
    return (await this.#call("POST", "/retrieve", proof)).messages as string[];
  }

  async #call(method: "GET" | "POST", path: string, body?: unknown): Promise<Record<string, unknown>> {
    const sent = body === undefined ? undefined : new TextEncoder().encode(JSON.stringify(body));
    let response: Response;
    try {
      response = await fetch(this.#base + path, {
        method,
        headers: sent ? { "Content-Type": "application/json" } : {},
        body: sent,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      // Reached, but silent (a relay stuck, or something else listening): not "cannot reach".
      if ((error as Error).name === "TimeoutError") throw new Error(`no answer from ${this.#base} within ${this.timeoutMs / 1000} s`);
      throw new Error(`cannot reach ${this.#base}: ${(error as Error).message}`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    const json = (typeof parsed === "object" && parsed !== null ? parsed : {}) as Record<string, unknown>;
    if (!response.ok) {
      const reason = typeof json.reason === "string" ? json.reason : null;
      const retryAfter = response.headers.get("retry-after");
      const retryAfterSeconds = retryAfter && /^\d{1,9}$/.test(retryAfter) ? Number(retryAfter) : null;
      throw new RelayRefusal(response.status, reason, clockSkew(response.headers.get("date")), retryAfterSeconds, sent?.length ?? null);
    }
    if (parsed === null) throw new Error(`${method} ${path} answered ${response.status} without JSON`);
    return json;
  }
}

/**
 * The relay's clock minus ours, in whole seconds, from an HTTP `Date` header (or null). The header
 * truncates to the second, so its midpoint is taken: the estimate is off by at most half a second
 * plus the answer's travel time.
 */
function clockSkew(dateHeader: string | null): number | null {
  const relayMs = dateHeader ? Date.parse(dateHeader) : NaN;
  return Number.isNaN(relayMs) ? null : Math.round((relayMs + 500 - Date.now()) / 1000);
}
