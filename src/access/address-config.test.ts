// The config's check of CIDR lists (src/config/schema.ts) and AddressList.parse agree, so a
// list the config accepts never fails when the server builds its rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { badCidrs } from '../config/schema-leaves.ts';
import { AddressList } from './cidr.ts';

function parses(entry: string): boolean {
  try {
    AddressList.parse(entry);
    return true;
  } catch {
    return false;
  }
}

test('badCidrs() and AddressList.parse() accept and refuse the same entries', () => {
  const samples = [
    '10.0.0.0/8',
    '10.0.0.1',
    '::1',
    '::1/128',
    '2001:db8::/32',
    '::ffff:10.0.0.0/104',
    '0.0.0.0/0',
    '010.0.0.1',
    '10',
    '0x0a000001',
    '10.0.0.0/33',
    '10.0.0.0/08',
    '10.0.0.0/',
    '::/129',
    'bogus',
    '1.2.3.4/8/9',
    '256.0.0.1',
  ];
  for (const entry of samples) {
    assert.equal(badCidrs(entry).length === 0, parses(entry), entry);
  }
  const octet = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom('010', 'x'));
  const entry = fc.oneof(
    fc.tuple(octet, octet, octet, octet).map((parts) => parts.join('.')),
    fc
      .tuple(fc.tuple(octet, octet, octet, octet), fc.integer({ min: -1, max: 40 }))
      .map(([parts, bits]) => `${parts.join('.')}/${bits}`),
    fc
      .constantFrom('::', '::1', 'fe80::1', '2001:db8::', ':::1', '1::2::3')
      .chain((a) => fc.constantFrom(a, `${a}/64`, `${a}/130`, `${a}/0`)),
  );
  fc.assert(
    fc.property(entry, (text) => {
      assert.equal(badCidrs(text).length === 0, parses(text), text);
    }),
    { numRuns: 2000 },
  );
});
