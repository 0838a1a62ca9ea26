import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChunkedBodyDecoder } from './http-flv-viewer.ts';

/** Encodes `pieces` as an HTTP/1.1 chunked body (RFC 9112 section 7.1), with a last chunk. */
function chunked(pieces: readonly Buffer[], extension = ''): Buffer {
  const parts: Buffer[] = [];
  for (const piece of pieces) {
    if (piece.length === 0) continue;
    parts.push(
      Buffer.from(`${piece.length.toString(16)}${extension}\r\n`),
      piece,
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

void test('ChunkedBodyDecoder.push() returns the body whatever the split of its input', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { maxLength: 8 }),
      fc.array(fc.nat(4000), { maxLength: 10 }),
      fc.constantFrom('', ';name=value'),
      (pieces, rawCuts, extension) => {
        const body = pieces.map((p) => Buffer.from(p));
        const wire = chunked(body, extension);
        const cuts = [...new Set(rawCuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
        const decoder = new ChunkedBodyDecoder();
        const out: Buffer[] = [];
        let start = 0;
        for (const cut of [...cuts, wire.length]) {
          out.push(...decoder.push(wire.subarray(start, cut)));
          start = cut;
        }
        assert.deepEqual(Buffer.concat(out), Buffer.concat(body));
      },
    ),
  );
});

void test('ChunkedBodyDecoder.push() accepts upper-case hex sizes', () => {
  const out = new ChunkedBodyDecoder().push(Buffer.from(`1A\r\n${'x'.repeat(26)}\r\n0\r\n\r\n`));
  assert.equal(Buffer.concat(out).toString(), 'x'.repeat(26));
});

void test('ChunkedBodyDecoder.push() throws on a size line that is not hex', () => {
  assert.throws(() => new ChunkedBodyDecoder().push(Buffer.from('zz\r\n')), /bad chunk size/);
});
