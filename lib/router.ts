/** A route table: method + exact path → handler, with 404 and 405 answers. */
import { errors, type RelayError } from "./errors.ts";

/** One row of the table. */
export interface Route<Context> {
  method: "GET" | "POST";
  path: string;
  handler(context: Context): Promise<Response> | Response;
}

/** The route for `method path`, or the error to answer: 404 not_found, 405 with `Allow`. */
export function findRoute<Context>(
  routes: readonly Route<Context>[],
  method: string,
  path: string,
): Route<Context> | RelayError {
  const forPath = routes.filter((route) => route.path === path);
  if (forPath.length === 0) return errors.notFound();
  return forPath.find((route) => route.method === method) ?? errors.methodNotAllowed(forPath.map((route) => route.method));
}
