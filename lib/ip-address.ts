/** IP addresses and CIDR ranges, parsed strictly into 16 bytes (IPv4 as IPv4-mapped IPv6) and matched bit by bit. */

/** An address range: the first `prefix` bits of `bytes` (an address alone is a range of 128 bits). */
export interface AddressRange {
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

const IPV4_MAPPED = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff);
const IPV4_OCTET = /^(0|[1-9]\d{0,2})$/;
const IPV6_GROUP = /^[0-9a-f]{1,4}$/i;

/**
 * The 16 bytes of an IPv4 (dotted quad, no leading zeros) or IPv6 address (RFC 4291 text, a trailing
 * dotted quad and a `%zone` allowed); undefined when `text` is anything else, e.g. a name or a port.
 */
export function parseAddress(text: string): Uint8Array | undefined {
  const ipv4 = parseIpv4(text);
  if (ipv4) return Uint8Array.of(...IPV4_MAPPED, ...ipv4);
  return text.includes(":") ? parseIpv6(text.replace(/%[\w.-]+$/, "")) : undefined;
}

/** `address` or `address/prefix` (at most 32 bits for IPv4, 128 for IPv6); undefined when malformed. */
export function parseAddressRange(text: string): AddressRange | undefined {
  const [address, prefixText, ...rest] = text.split("/");
  const bytes = parseAddress(address);
  if (!bytes || rest.length) return undefined;
  const offset = parseIpv4(address) ? 96 : 0;
  if (prefixText === undefined) return { bytes, prefix: 128 };
  const prefix = /^\d{1,3}$/.test(prefixText) ? offset + Number(prefixText) : NaN;
  return prefix <= 128 ? { bytes, prefix } : undefined;
}

/** Whether `address` (16 bytes) lies in `range`. */
export function rangeContains(range: AddressRange, address: Uint8Array): boolean {
  const whole = range.prefix >> 3;
  for (let i = 0; i < whole; i++) if (range.bytes[i] !== address[i]) return false;
  const bits = range.prefix & 7;
  return bits === 0 || ((range.bytes[whole] ^ address[whole]) >> (8 - bits)) === 0;
}

/** Whether the 16 bytes are an IPv4 address (IPv4-mapped). */
export function isIpv4(bytes: Uint8Array): boolean {
  return IPV4_MAPPED.every((byte, i) => bytes[i] === byte);
}

/** The address's one spelling: dotted quad for IPv4, RFC 5952 (lower case, longest zero run as `::`) for IPv6. */
export function formatAddress(bytes: Uint8Array): string {
  if (isIpv4(bytes)) return bytes.subarray(12).join(".");
  const groups = ipv6Groups(bytes);
  let [bestStart, bestLength] = [-1, 1];
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length++;
    if (length > bestLength) [bestStart, bestLength] = [start, length];
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** The eight 16-bit groups of an address. */
export function ipv6Groups(bytes: Uint8Array): number[] {
  return Array.from({ length: 8 }, (_, i) => (bytes[2 * i] << 8) | bytes[2 * i + 1]);
}

function parseIpv4(text: string): number[] | undefined {
  const octets = text.split(".");
  if (octets.length !== 4 || !octets.every((octet) => IPV4_OCTET.test(octet) && Number(octet) <= 255)) return undefined;
  return octets.map(Number);
}

function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const sides = halves.map((half) => (half === "" ? [] : half.split(":")));
  const last = sides.at(-1)!;
  const ipv4 = last.length ? parseIpv4(last.at(-1)!) : undefined;
  if (ipv4) last.splice(-1, 1, ...[ipv4[0] << 8 | ipv4[1], ipv4[2] << 8 | ipv4[3]].map((group) => group.toString(16)));
  if (!sides.every((side) => side.every((group) => IPV6_GROUP.test(group)))) return undefined;
  const given = sides.reduce((sum, side) => sum + side.length, 0);
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const groups = [...sides[0], ...Array(8 - given).fill("0"), ...(sides[1] ?? [])].map((group) => parseInt(group, 16));
  return Uint8Array.from(groups.flatMap((group) => [group >> 8, group & 0xff]));
}
