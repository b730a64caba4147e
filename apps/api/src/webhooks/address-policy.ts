import ipaddr from 'ipaddr.js';

/**
 * Which addresses a webhook may reach: public unicast addresses, plus whatever the allow-list
 * admits (host names, single addresses or CIDR ranges). Loopback, private, link-local and
 * other special ranges are refused otherwise. Pure: no DNS, no sockets.
 */
export class AddressPolicy {
  private readonly hosts = new Set<string>();
  private readonly ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];

  constructor(allowList: readonly string[]) {
    for (const entry of allowList) {
      if (entry.includes('/')) this.ranges.push(ipaddr.parseCIDR(entry));
      else if (ipaddr.isValid(entry))
        this.ranges.push([ipaddr.parse(entry), ipaddr.parse(entry).kind() === 'ipv4' ? 32 : 128]);
      else this.hosts.add(entry.toLowerCase());
    }
  }

  /** The host name itself is on the allow-list. */
  allowsHost(host: string): boolean {
    return this.hosts.has(host.toLowerCase());
  }

  /** Why the address is refused, or undefined when it may be reached. */
  refusal(address: string): string | undefined {
    if (!ipaddr.isValid(address)) return `"${address}" is not an IP address`;
    let ip = ipaddr.parse(address);
    if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) {
      ip = (ip as ipaddr.IPv6).toIPv4Address();
    }
    if (this.ranges.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits)))
      return undefined;
    const range = ip.range();
    return range === 'unicast' ? undefined : `${address} is a ${range} address`;
  }
}
