/** IP addresses and CIDR ranges: strict parsing, one spelling, and range membership for --trust-proxy. */
import { describe, expect, test } from "bun:test";
import { formatAddress, parseAddress, parseAddressRange, rangeContains } from "../lib/ip-address.ts";

/** Whether `address` lies in the range written `range`. */
function inRange(range: string, address: string): boolean {
  return rangeContains(parseAddressRange(range)!, parseAddress(address)!);
}

describe("parseAddress", () => {
  test("IPv4, IPv6, IPv4-mapped and zoned addresses parse; one address has one spelling", () => {
    expect(formatAddress(parseAddress("192.0.2.7")!)).toBe("192.0.2.7");
    expect(formatAddress(parseAddress("::ffff:192.0.2.7")!)).toBe("192.0.2.7");
    expect(formatAddress(parseAddress("0:0:0:0:0:FFFF:c000:0207")!)).toBe("192.0.2.7");
    expect(formatAddress(parseAddress("2001:0DB8:0000:0000:0000:0000:0000:0001")!)).toBe("2001:db8::1");
    expect(formatAddress(parseAddress("2001:db8:0:0:1:0:0:1")!)).toBe("2001:db8::1:0:0:1");
    expect(formatAddress(parseAddress("2001:db8:1:2:3:4:5:6")!)).toBe("2001:db8:1:2:3:4:5:6");
    expect(formatAddress(parseAddress("1:2:3:4:5:6:7::")!)).toBe("1:2:3:4:5:6:7:0");
    expect(formatAddress(parseAddress("::")!)).toBe("::");
    expect(formatAddress(parseAddress("::1")!)).toBe("::1");
    expect(formatAddress(parseAddress("fe80::1%eth0")!)).toBe("fe80::1");
    expect(formatAddress(parseAddress("64:ff9b::198.51.100.1")!)).toBe("64:ff9b::c633:6401");
  });

  test("names, ports, out-of-range parts and malformed IPv6 are not addresses", () => {
    const malformed = [
      "", "localhost", "example.org", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4:80", "[::1]", "[::1]:443",
      "1:2:3:4:5:6:7:8:9::1", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2::3", ":1::", "1:::2", "12345::", "g::1",
      "::1.2.3.4.5", "1.2.3.4::", " 1.2.3.4", "unknown",
    ];
    for (const text of malformed) expect([text, parseAddress(text)]).toEqual([text, undefined]);
  });
});

describe("parseAddressRange", () => {
  test("an address alone is a range of one; a prefix is at most 32 bits for IPv4 and 128 for IPv6", () => {
    expect(parseAddressRange("10.0.0.0/32")!.prefix).toBe(128);
    expect(parseAddressRange("10.0.0.0/0")!.prefix).toBe(96);
    expect(parseAddressRange("::/0")!.prefix).toBe(0);
    expect(parseAddressRange("fd00::/128")!.prefix).toBe(128);
    expect(parseAddressRange("127.0.0.1")!.prefix).toBe(128);
    for (const text of ["10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/8/8", "10.0.0.0/-1", "10.0.0.0/x", "localhost", "localhost/8", "/8"]) {
      expect([text, parseAddressRange(text)]).toEqual([text, undefined]);
    }
  });

  test("rangeContains: IPv4 and IPv6 ranges, on and off the byte boundary", () => {
    expect(inRange("10.0.0.0/8", "10.255.1.2")).toBe(true);
    expect(inRange("10.0.0.0/8", "11.0.0.1")).toBe(false);
    expect(inRange("10.0.0.0/8", "::ffff:10.1.2.3")).toBe(true);
    expect(inRange("172.16.0.0/12", "172.31.255.255")).toBe(true);
    expect(inRange("172.16.0.0/12", "172.32.0.0")).toBe(false);
    expect(inRange("127.0.0.1", "127.0.0.1")).toBe(true);
    expect(inRange("127.0.0.1", "127.0.0.2")).toBe(false);
    expect(inRange("0.0.0.0/0", "203.0.113.9")).toBe(true);
    expect(inRange("0.0.0.0/0", "2001:db8::1")).toBe(false);
    expect(inRange("fd00::/8", "fd12:3456::1")).toBe(true);
    expect(inRange("fd00::/8", "fe80::1")).toBe(false);
    expect(inRange("fc00::/7", "fd00::1")).toBe(true);
    expect(inRange("fc00::/7", "fe00::1")).toBe(false);
    expect(inRange("2001:db8::/33", "2001:db8:7fff::1")).toBe(true);
    expect(inRange("2001:db8::/33", "2001:db8:8000::1")).toBe(false);
    expect(inRange("::1", "::1")).toBe(true);
    expect(inRange("::1", "127.0.0.1")).toBe(false);
    expect(inRange("::/0", "10.0.0.1")).toBe(true);
  });
});
