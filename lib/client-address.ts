/** The client's address: the peer's, or, behind a trusted proxy, the one it forwarded. */

/** Strips the IPv4-mapped IPv6 prefix so one client has one spelling. */
function normalise(address: string): string {
  return address.trim().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1");
}

/**
 * Believes `X-Forwarded-For` only when the peer is one of `trustedProxies`; then the client is the
 * rightmost forwarded address that is not itself a trusted proxy.
 */
export function clientAddress(peer: string, forwardedFor: string | null, trustedProxies: readonly string[]): string {
  const address = normalise(peer);
  if (!forwardedFor || !trustedProxies.includes(address)) return address;
  const hops = forwardedFor.split(",").map(normalise).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) if (!trustedProxies.includes(hops[i])) return hops[i];
  return address;
}
