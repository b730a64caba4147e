import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** IPv6 global unicast (RFC 4291): the only IPv6 space a webhook may reach directly. */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');
/** IPv4-compatible addresses (RFC 4291, deprecated): `::a.b.c.d`. */
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');
/** The NAT64 well-known prefix (RFC 6052): `64:ff9b::a.b.c.d` reaches a.b.c.d through NAT64. */
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96');

/**
 * Which addresses a webhook may reach: by an allow-list, only globally routable unicast ones
 * (IPv4 outside every RFC 6890 special-purpose block, IPv6 inside 2000::/3 outside them), plus
 * whatever the operator's list admits (host names, single addresses or CIDR ranges). An IPv6
 * address that carries an IPv4 one (mapped, compatible, NAT64, 6to4) is judged by the IPv4
 * address it reaches; Teredo, zone ids and everything else are refused. Pure: no DNS, no sockets.
 */
export class AddressPolicy {
  private readonly hosts = new Set<string>();
  private readonly ranges: [Address, number][] = [];

  constructor(allowList: readonly string[]) {
    for (const entry of allowList) {
      if (entry.includes('/')) this.ranges.push(ipaddr.parseCIDR(entry));
      else if (ipaddr.isValid(entry)) {
        const ip = ipaddr.parse(entry);
        this.ranges.push([ip, ip.kind() === 'ipv4' ? 32 : 128]);
      } else this.hosts.add(entry.toLowerCase());
    }
  }

  /** The host name itself is on the allow-list. */
  allowsHost(host: string): boolean {
    return this.hosts.has(host.toLowerCase());
  }

  /** Why the address is refused, or undefined when it may be reached. */
  refusal(address: string): string | undefined {
    if (!ipaddr.isValid(address)) return `"${address}" is not an IP address`;
    const ip = ipaddr.parse(address);
    const embedded = ip.kind() === 'ipv6' ? embeddedIPv4(ip as ipaddr.IPv6) : undefined;
    if (this.admits(ip) || (embedded && this.admits(embedded))) return undefined;
    if (ip.kind() === 'ipv4') return unicastV4(ip as ipaddr.IPv4, address);
    const v6 = ip as ipaddr.IPv6;
    if (v6.zoneId) return `${address} carries a zone id: only global addresses are allowed`;
    const range = v6.range();
    if (range === 'loopback' || range === 'unspecified') return `${address} is a ${range} address`;
    if (embedded) {
      const refused = unicastV4(embedded, embedded.toString());
      return refused && `${address} reaches ${refused}`;
    }
    if (range === 'unicast' && v6.match(GLOBAL_UNICAST_V6)) return undefined;
    return range === 'unicast'
      ? `${address} is not a global unicast address (2000::/3)`
      : `${address} is a ${range} address`;
  }

  private admits(ip: Address): boolean {
    return this.ranges.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits));
  }
}

function unicastV4(ip: ipaddr.IPv4, address: string): string | undefined {
  const range = ip.range();
  return range === 'unicast' ? undefined : `${address} is a ${range} address`;
}

/**
 * The IPv4 address an IPv6 address delivers to, for the forms that embed one: IPv4-mapped
 * (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64's well-known prefix and 6to4
 * (`2002:aabb:ccdd::/48`). Teredo is left out on purpose: it is refused outright.
 */
function embeddedIPv4(ip: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const p = ip.parts;
  const fromParts = (high: number, low: number) =>
    new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
  if (ip.isIPv4MappedAddress()) return ip.toIPv4Address();
  if (ip.match(IPV4_COMPATIBLE) || ip.match(NAT64_WELL_KNOWN)) return fromParts(p[6], p[7]);
  if (ip.range() === '6to4') return fromParts(p[1], p[2]);
  return undefined;
}
