// Tests of the address rules: lists, IPv4-mapped IPv6, loopback, CIDR checks and truncation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AddressList, cidrContains, isLoopback, isValidCidr, truncateAddress } from './cidr.ts';

test('AddressList.parse() reads addresses and ranges, spaces allowed', () => {
  const list = AddressList.parse(' 10.0.0.0/8 , 192.0.2.7,2001:db8::/32,  ::1 ');
  assert.equal(list.empty, false);
  for (const ip of ['10.1.2.3', '10.255.255.255', '192.0.2.7', '2001:db8:ffff::1', '::1']) {
    assert.equal(list.matches(ip), true, ip);
  }
  for (const ip of ['11.0.0.1', '192.0.2.8', '2001:db9::1', '::2', '127.0.0.1']) {
    assert.equal(list.matches(ip), false, ip);
  }
});

test('an empty or blank list is empty and matches nothing', () => {
  for (const text of ['', '   ', ',', ' , ']) {
    const list = AddressList.parse(text);
    assert.equal(list.empty, true);
    assert.equal(list.matches('127.0.0.1'), false);
  }
});

test('AddressList.parse() names every bad entry', () => {
  assert.throws(
    () => AddressList.parse('10.0.0.0/8, nope, 10.0.0.0/33, 1.2.3.4, ::1/129, 010.0.0.1'),
    (error: unknown) => {
      assert.ok(error instanceof Error);
      for (const bad of ['"nope"', '"10.0.0.0/33"', '"::1/129"', '"010.0.0.1"']) {
        assert.ok(error.message.includes(bad), `${error.message} names ${bad}`);
      }
      assert.ok(!error.message.includes('1.2.3.4"'));
      return true;
    },
  );
});

test('entries and addresses ipaddr.js would read loosely are refused', () => {
  for (const text of [
    '10',
    '0x0a.0.0.1',
    '10.1',
    '1.2.3.4/8/8',
    '1.2.3.4/',
    '1.2.3.4/+8',
    '1.2.3.4/08',
    '1.2.3.4 /8',
    'localhost',
  ]) {
    assert.equal(isValidCidr(text), false, text);
  }
  const list = AddressList.parse('0.0.0.0/0');
  for (const ip of ['10', '0x0a000001', '012.1.2.3', '', ' 10.0.0.1', 'x']) {
    assert.equal(list.matches(ip), false, ip);
  }
});

test('IPv4-mapped IPv6 addresses match IPv4 ranges, and the other way round', () => {
  const v4 = AddressList.parse('10.0.0.0/8');
  assert.equal(v4.matches('::ffff:10.1.2.3'), true);
  assert.equal(v4.matches('::ffff:a01:203'), true);
  assert.equal(v4.matches('::ffff:11.1.2.3'), false);
  const mapped = AddressList.parse('::ffff:10.0.0.0/104, ::ffff:192.0.2.7');
  assert.equal(mapped.matches('10.9.9.9'), true);
  assert.equal(mapped.matches('192.0.2.7'), true);
  assert.equal(mapped.matches('::ffff:192.0.2.7'), true);
  assert.equal(mapped.matches('11.0.0.1'), false);
  // An IPv6 range that covers the mapped space covers IPv4 clients too.
  const all6 = AddressList.parse('::/0');
  assert.equal(all6.matches('203.0.113.1'), true);
  assert.equal(AddressList.parse('2001:db8::/32').matches('203.0.113.1'), false);
  assert.equal(AddressList.parse('0.0.0.0/0').matches('2001:db8::1'), false);
});

test('a mapped address matches like its IPv4 address (property)', () => {
  const list = AddressList.parse('10.0.0.0/8, 192.168.1.0/24, 203.0.113.7');
  const octet = fc.integer({ min: 0, max: 255 });
  fc.assert(
    fc.property(fc.tuple(fc.constantFrom(10, 192, 203, 8), octet, octet, octet), (octets) => {
      const ip = octets.join('.');
      assert.equal(list.matches(`::ffff:${ip}`), list.matches(ip), ip);
    }),
  );
});

test('matches() never throws', () => {
  const list = AddressList.parse('10.0.0.0/8, ::/0');
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), (ip) => {
      list.matches(ip);
      cidrContains('10.0.0.0/8', ip);
      cidrContains(ip, '10.0.0.1');
      isLoopback(ip);
      truncateAddress(ip);
    }),
  );
});

test('isLoopback()', () => {
  for (const ip of ['127.0.0.1', '127.255.0.9', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) {
    assert.equal(isLoopback(ip), true, ip);
  }
  for (const ip of ['128.0.0.1', '10.0.0.1', '::2', '::', '::ffff:10.0.0.1', 'localhost', '']) {
    assert.equal(isLoopback(ip), false, ip);
  }
});

test('isValidCidr() and cidrContains()', () => {
  for (const text of [
    '203.0.113.0/24',
    '2001:db8::/32',
    '198.51.100.7',
    '::1',
    '0.0.0.0/0',
    '::/0',
    '10.1.2.3/8',
  ]) {
    assert.equal(isValidCidr(text), true, text);
  }
  for (const text of ['', '/24', '203.0.113.0/33', '2001:db8::/129', 'a.b.c.d/8', '1.2.3.4/-1']) {
    assert.equal(isValidCidr(text), false, text);
  }
  assert.equal(cidrContains('203.0.113.0/24', '203.0.113.99'), true);
  assert.equal(cidrContains('203.0.113.0/24', '203.0.114.1'), false);
  assert.equal(cidrContains('198.51.100.7', '198.51.100.7'), true);
  assert.equal(cidrContains('198.51.100.7', '198.51.100.6'), false);
  assert.equal(cidrContains('2001:db8::1', '2001:db8::1'), true);
  assert.equal(cidrContains('2001:db8::1', '2001:db8::2'), false);
  assert.equal(cidrContains('10.1.2.3/8', '10.200.0.1'), true);
  assert.equal(cidrContains('203.0.113.0/24', '::ffff:203.0.113.1'), true);
  assert.equal(cidrContains('bad', '10.0.0.1'), false);
  assert.equal(cidrContains('10.0.0.0/8', 'bad'), false);
});

test('truncateAddress() keeps the /24 of IPv4 and the /48 of IPv6', () => {
  assert.equal(truncateAddress('203.0.113.77'), '203.0.113.0');
  assert.equal(truncateAddress('::ffff:203.0.113.77'), '203.0.113.0');
  assert.equal(truncateAddress('2001:db8:1:2:3:4:5:6'), '2001:db8:1::');
  assert.equal(truncateAddress('2001:db8::1'), '2001:db8::');
  assert.equal(truncateAddress('fe80::1%eth0'), 'fe80::');
  assert.equal(truncateAddress('::1'), '::');
  assert.equal(truncateAddress('nope'), '');
});
