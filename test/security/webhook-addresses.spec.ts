import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressPolicy } from '../../apps/api/src/webhooks/address-policy';

/**
 * Every special-purpose block of the IANA IPv4 and IPv6 registries (RFC 6890 and its updates),
 * plus multicast, broadcast and the IPv6 space outside global unicast: a webhook may reach none.
 * Each block is probed at its first address and at one inside it.
 */
const SPECIAL_V4: [string, string[]][] = [
  ['0.0.0.0/8 "this network"', ['0.0.0.0', '0.1.2.3']],
  ['10.0.0.0/8 private', ['10.0.0.1', '10.255.255.254']],
  ['100.64.0.0/10 shared (CGN)', ['100.64.0.1', '100.127.255.254']],
  ['127.0.0.0/8 loopback', ['127.0.0.1', '127.255.255.254']],
  ['169.254.0.0/16 link-local (cloud metadata)', ['169.254.169.254', '169.254.0.1']],
  ['172.16.0.0/12 private', ['172.16.0.1', '172.31.255.254']],
  ['192.0.0.0/24 IETF protocol assignments', ['192.0.0.1', '192.0.0.9', '192.0.0.170']],
  ['192.0.2.0/24 TEST-NET-1', ['192.0.2.1']],
  ['192.31.196.0/24 AS112-v4', ['192.31.196.1']],
  ['192.52.193.0/24 AMT', ['192.52.193.1']],
  ['192.88.99.0/24 6to4 relay anycast', ['192.88.99.1']],
  ['192.168.0.0/16 private', ['192.168.0.1', '192.168.255.254']],
  ['192.175.48.0/24 direct delegation AS112', ['192.175.48.1']],
  ['198.18.0.0/15 benchmarking', ['198.18.0.1', '198.19.255.254']],
  ['198.51.100.0/24 TEST-NET-2', ['198.51.100.1']],
  ['203.0.113.0/24 TEST-NET-3', ['203.0.113.1']],
  ['224.0.0.0/4 multicast', ['224.0.0.1', '239.255.255.250']],
  ['240.0.0.0/4 reserved', ['240.0.0.1', '255.255.255.254']],
  ['255.255.255.255/32 limited broadcast', ['255.255.255.255']],
];

const SPECIAL_V6: [string, string[]][] = [
  ['::/128 unspecified', ['::']],
  ['::1/128 loopback', ['::1', '0:0:0:0:0:0:0:1']],
  ['::ffff:0:0/96 IPv4-mapped, to a special address', ['::ffff:127.0.0.1', '::ffff:7f00:1']],
  ['::/96 IPv4-compatible, to a special address', ['::127.0.0.1', '::7f00:1', '::a9fe:a9fe']],
  ['::ffff:0:0:0/96 IPv4-translated', ['::ffff:0:7f00:1', '::ffff:0:808:808']],
  ['64:ff9b::/96 NAT64, to a special address', ['64:ff9b::127.0.0.1', '64:ff9b::a00:1']],
  ['64:ff9b:1::/48 local-use NAT64', ['64:ff9b:1::808:808']],
  ['100::/64 discard-only', ['100::1']],
  ['100:0:0:1::/64 dummy prefix', ['100:0:0:1::1']],
  ['2001::/23 IETF protocol assignments', ['2001:1::1', '2001:1::2', '2001:1::3', '2001:1ff::1']],
  ['2001::/32 Teredo', ['2001::1', '2001:0:4136:e378:8000:63bf:3fff:fdd2']],
  ['2001:2::/48 benchmarking', ['2001:2::1']],
  ['2001:3::/32 AMT', ['2001:3::1']],
  ['2001:4:112::/48 AS112-v6', ['2001:4:112::1']],
  ['2001:10::/28 ORCHID', ['2001:10::1']],
  ['2001:20::/28 ORCHIDv2', ['2001:20::1']],
  ['2001:30::/28 drone remote ID', ['2001:30::1']],
  ['2001:db8::/32 documentation', ['2001:db8::1']],
  ['2002::/16 6to4, to a special address', ['2002:7f00:1::1', '2002:a00:1::', '2002:c0a8:101::']],
  ['2620:4f:8000::/48 direct delegation AS112', ['2620:4f:8000::1']],
  ['3fff::/20 documentation', ['3fff::1']],
  ['5f00::/16 segment routing SIDs', ['5f00::1']],
  ['fc00::/7 unique local', ['fc00::1', 'fd12:3456:789a::1']],
  ['fe80::/10 link-local', ['fe80::1', 'febf::1']],
  ['fec0::/10 site-local (deprecated)', ['fec0::1']],
  ['ff00::/8 multicast', ['ff02::1', 'ff05::1:3']],
  ['outside 2000::/3, unassigned', ['4000::1', 'e000::1', '1::1']],
];

/** The loopback address 127.0.0.1 written in every form inet_aton and IPv6 allow. */
const LOOPBACK_FORMS = [
  '2130706433', // one decimal number
  '0x7f000001', // one hex number
  '017700000001', // one octal number
  '0177.0.0.1', // octal octet
  '0x7f.0.0.1', // hex octet
  '0x7f.1', // two parts, hex
  '127.1', // two parts
  '127.0.1', // three parts
  '::ffff:127.0.0.1', // IPv4-mapped, dotted
  '::ffff:7f00:1', // IPv4-mapped, hex
  '0:0:0:0:0:ffff:7f00:1', // IPv4-mapped, uncompressed
  '::127.0.0.1', // IPv4-compatible, dotted
  '::7f00:1', // IPv4-compatible, hex
  '64:ff9b::7f00:1', // NAT64
  '2002:7f00:1::', // 6to4
];

describe('webhook address policy', () => {
  const policy = new AddressPolicy([]);

  for (const [block, addresses] of [...SPECIAL_V4, ...SPECIAL_V6]) {
    it(`refuses ${block}`, () => {
      for (const address of addresses)
        assert.ok(policy.refusal(address), `${address} (${block}) was allowed`);
    });
  }

  it('refuses 127.0.0.1 in every textual form', () => {
    for (const form of LOOPBACK_FORMS) assert.ok(policy.refusal(form), `${form} was allowed`);
  });

  it('refuses every Teredo address, whatever it embeds', () => {
    assert.match(policy.refusal('2001:0:808:808::1')!, /teredo/);
  });

  it('refuses zone ids, even on a global address', () => {
    for (const address of ['fe80::1%eth0', 'fe80::1%1', '2606:4700:4700::1111%eth0'])
      assert.ok(policy.refusal(address), `${address} was allowed`);
  });

  it('refuses what is not an address', () => {
    for (const text of ['', 'localhost', '1.2.3.4.5', '256.0.0.1', '::g', '127.0.0.1.'])
      assert.ok(policy.refusal(text), `"${text}" was allowed`);
  });

  it('names the IPv4 address an embedding form reaches', () => {
    assert.match(policy.refusal('::7f00:1')!, /reaches 127\.0\.0\.1 is a loopback address/);
    assert.match(policy.refusal('2002:a9fe:a9fe::')!, /reaches 169\.254\.169\.254/);
  });

  // Control: the same checks accept public unicast addresses, so the refusals above mean something.
  it('allows global unicast addresses, alone or embedded', () => {
    for (const address of [
      '8.8.8.8',
      '1.1.1.1',
      '93.184.215.14',
      '134744072', // 8.8.8.8 as one number
      '2606:4700:4700::1111',
      '2001:4860:4860::8888',
      '2a00:1450:4001:80b::200e',
      '::ffff:8.8.8.8',
      '::808:808',
      '64:ff9b::808:808',
      '2002:808:808::1',
    ])
      assert.equal(policy.refusal(address), undefined, address);
  });

  it("admits the operator's exceptions: host names, addresses, ranges, also when embedded", () => {
    const operator = new AddressPolicy(['hooks.internal', '127.0.0.1', '10.1.0.0/16', 'fd00::/8']);
    assert.ok(operator.allowsHost('HOOKS.internal'));
    assert.ok(!operator.allowsHost('other.internal'));
    for (const address of ['127.0.0.1', '::ffff:127.0.0.1', '10.1.2.3', 'fd00::5'])
      assert.equal(operator.refusal(address), undefined, address);
    for (const address of ['127.0.0.2', '10.2.0.1', 'fc00::1'])
      assert.ok(operator.refusal(address), `${address} was allowed`);
  });
});
