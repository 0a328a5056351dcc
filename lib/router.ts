/** A route table: the request's path, then method + exact path → handler, with 400, 404 and 405 answers. */
import { errors, type RelayError } from "./errors.ts";
import type { HttpRequest } from "./http-request.ts";
import { memoize } from "./memo.ts";

/** One row of the table. */
export interface Route<Context> {
  method: "GET" | "POST";
  path: string;
  handler(context: Context): Promise<Response> | Response;
}

/** Resolves targets without a host of their own: HTTP/1.0 without `Host` reaches Bun as a bare path. */
const BASE_URL = "http://relay.invalid";

/** The URL `request` targets, a bare path resolved against BASE_URL; call once `requestPath` accepted it. */
export function requestUrl(request: HttpRequest): URL {
  return new URL(request.url, BASE_URL);
}

/** Whether `url` (from `requestUrl`) lacks a host of its own: the request came without `Host`. */
export function lacksHost(url: URL): boolean {
  return url.origin === BASE_URL;
}

/**
 * The path `request` targets, or 400 bad_request when it has none: a URL that does not parse
 * (a malformed `Host`), CONNECT, whose target is a host and port (the relay is no proxy), or `*`
 * (`OPTIONS *`): a target neither a path nor an absolute URL.
 */
export function requestPath(request: HttpRequest): string | RelayError {
  const path = request.method === "CONNECT" ? null : pathOf(request.url);
  return path ?? errors.badRequest();
}

/** A target's start when it is an absolute URL (a scheme). */
const ABSOLUTE_URL = /^[a-z][a-z0-9+.-]*:/i;

/** A URL's path, or null when it is no path or absolute URL, or does not parse; clients send the same few URLs over and over. */
const pathOf = memoize((url) => ((url.startsWith("/") || ABSOLUTE_URL.test(url)) && URL.canParse(url, BASE_URL) ? new URL(url, BASE_URL).pathname : null));

/** The route for `method path`, HEAD taking a GET route; or the error to answer: 404 not_found, 405 with `Allow`. */
export function findRoute<Context>(
  routes: readonly Route<Context>[],
  method: string,
  path: string,
): Route<Context> | RelayError {
  const forPath = routes.filter((route) => route.path === path);
  if (forPath.length === 0) return errors.notFound();
  const wanted = method === "HEAD" ? "GET" : method;
  return forPath.find((route) => route.method === wanted) ??
    errors.methodNotAllowed(forPath.flatMap((route) => (route.method === "GET" ? ["GET", "HEAD"] : [route.method])));
}
