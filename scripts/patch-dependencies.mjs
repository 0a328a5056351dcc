// Applies the relay's fixes to installed dependencies (run after `npm ci`, by ensure-deps.mjs and as
// npm's postinstall). Each fix is exact text replaced in a pinned version's file; a file that has
// neither the text nor the fix (the dependency changed) stops the install, so no fix is lost silently.
import { readFileSync, writeFileSync } from "node:fs";

const MARK = "/* hivemind-rendezvous: patched */";

/**
 * postgres 3.4.9 with several hosts in its URL (porsager/postgres#1174, #988; fixes proposed in #1175
 * and #1188, not released): a connection counted no host as tried, so with every host refusing it
 * reconnected without pause for ever (a relay spent a third of a core while PostgreSQL was down) and
 * its query never failed; and a host that did not answer within connect_timeout failed the query
 * instead of being passed over like one that refuses (a relay whose first host was silent could not
 * start). Now a connection tries each host once per query, a silent one included, then fails it; and
 * it comes back to the host it last reached first, where it went on to the next (so a silent host cost
 * the connect timeout at every other reconnect).
 */
const postgresMultiHost = {
  file: "node_modules/postgres/src/connection.js",
  replacements: [
    [
      `  function connectTimedOut() {
    errored(Errors.connection('CONNECT_TIMEOUT', options, socket))`,
      `  function connectTimedOut() {
    ${MARK} // a silent host is passed over like one that refuses (closed() counts it)
    if (initial && retries + 1 < options.host.length)
      return socket.destroy()
    errored(Errors.connection('CONNECT_TIMEOUT', options, socket))`,
    ],
    [
      `    if (initial)
      return reconnect()

    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))`,
      `    if (initial && ++retries < options.host.length)
      return reconnect()

    // Every host was tried for this query (or the connection was up): start the next attempt from a full list.
    retries = 0
    initial && errored(Errors.connection('CONNECTION_CLOSED', options, socket))
    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))`,
    ],
    [
      `      initial && !initial.reserve && execute(initial)
      options.shared.retries = retries = 0`,
      `      initial && !initial.reserve && execute(initial)
      options.shared.retries = retries = 0
      hostIndex = (hostIndex + port.length - 1) % port.length // the host reached: the next connect tries it first`,
    ],
  ],
};

for (const { file, replacements } of [postgresMultiHost]) {
  let text = readFileSync(file, "utf8");
  if (text.includes(MARK)) continue;
  for (const [from, to] of replacements) {
    if (text.split(from).length !== 2) throw new Error(`patch-dependencies: ${file} is not the version these fixes are for; review scripts/patch-dependencies.mjs`);
    text = text.replace(from, () => to);
  }
  writeFileSync(file, text);
}
