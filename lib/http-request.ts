/**
 * An HTTP request as the relay reads it: the little of a web Request it uses. A web Request has all of it
 * (Bun's, and every test's `new Request(...)`); the node:http bridge (lib/runtime/node-http.ts) builds a
 * lighter object straight from node:http's request, without the cost of a web Request.
 */
export interface HttpRequest {
  /** The method, as received (upper case). */
  readonly method: string;
  /** The target as the client sent it, parseable or not: a URL when it came with Host, else a bare path. */
  readonly url: string;
  /** The value of a header (names are case-insensitive), repeated headers joined with ", "; null when absent. */
  readonly headers: { get(name: string): string | null };
  /**
   * The body as one array (empty when there is none): at once when it has already arrived (a web Request's
   * always comes as a promise), else a promise that rejects when the body is cut short. Read the body once: this or `body`.
   */
  bytes(): Uint8Array | Promise<Uint8Array>;
  /** The body as a stream, read chunk by chunk; null when there is none. */
  readonly body: ReadableStream<Uint8Array> | null;
}
