/** The client's address: the peer's, or, behind a trusted proxy, the one it forwarded. */
import { type AddressRange, formatAddress, ipv6Groups, isIpv4, parseAddress, rangeContains } from "./ip-address.ts";

/**
 * Believes `X-Forwarded-For` only when the peer lies in one of `trustedProxies`; then the client is the
 * rightmost forwarded address that is not itself a trusted proxy. A hop that is not an address (a name,
 * a port, garbage) ends the walk: the client is then the last trusted proxy, whose peer we cannot name.
 * Addresses come back in their one spelling (IPv4-mapped IPv6 as IPv4).
 */
export function clientAddress(peer: string, forwardedFor: string | null, trustedProxies: readonly AddressRange[]): string {
  const peerBytes = parseAddress(peer);
  if (!peerBytes) return peer;
  let client = formatAddress(peerBytes);
  const isTrusted = (bytes: Uint8Array) => inRanges(bytes, trustedProxies);
  if (!forwardedFor || !isTrusted(peerBytes)) return client;
  const hops = forwardedFor.split(",").map((hop) => hop.trim()).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const bytes = parseAddress(hops[i]);
    if (!bytes) return client;
    client = formatAddress(bytes);
    if (!isTrusted(bytes)) return client;
  }
  return client;
}

/** Whether `address` (any spelling) lies in one of the `trustedProxies` ranges. */
export function isTrustedProxy(address: string, trustedProxies: readonly AddressRange[]): boolean {
  const bytes = parseAddress(address);
  return bytes !== undefined && inRanges(bytes, trustedProxies);
}

function inRanges(bytes: Uint8Array, ranges: readonly AddressRange[]): boolean {
  return ranges.some((range) => rangeContains(range, bytes));
}

/**
 * The bucket a client's requests count against: its IPv4 address, or the /64 prefix of its IPv6
 * address (one subscriber usually holds a whole /64, so per-address buckets would be free to multiply).
 */
export function rateLimitKey(address: string): string {
  const bytes = parseAddress(address);
  if (!bytes) return address;
  if (isIpv4(bytes)) return formatAddress(bytes);
  return `${ipv6Groups(bytes).slice(0, 4).map((group) => group.toString(16)).join(":")}::/64`;
}
