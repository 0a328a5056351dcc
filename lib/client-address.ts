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

/**
 * The bucket a client's requests count against: its IPv4 address, or the /64 prefix of its IPv6
 * address (one subscriber usually holds a whole /64, so per-address buckets would be free to multiply).
 */
export function rateLimitKey(address: string): string {
  if (!address.includes(":")) return address;
  const [head, tail = ""] = address.split("%")[0].split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = address.includes("::") ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right] : left;
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, "").toLowerCase()).join(":")}::/64`;
}
