import { test } from 'node:test';
import assert from 'node:assert/strict';
import { opusPacketDurationSamples } from './opus.ts';

test('opusPacketDurationSamples() reads the TOC config and frame count (RFC 6716 3.1)', () => {
  const cases: [number[], number][] = [
    [[], 0],
    [[0xfc], 960], // CELT FB 20 ms, code 0
    [[0xf8], 960], // config 31, code 0
    [[0xf9], 1920], // code 1: two frames
    [[0xfa], 1920], // code 2: two frames
    [[0xfb], 0], // code 3 without the count byte
    [[0xfb, 0x03], 2880], // code 3: 3 x 20 ms
    [[0xfb, 0x00], 0], // code 3 with no frames
    [[0x18, 0x00], 2880], // SILK NB 60 ms
    [[0x1b, 0x02], 5760], // SILK 60 ms x 2 = 120 ms, the maximum
    [[0x1b, 0x03], 0], // 180 ms is over the limit
    [[0x80], 120], // CELT 2.5 ms
    [[0x60], 480], // Hybrid SWB 10 ms
    [[0x68], 960], // Hybrid SWB 20 ms
  ];
  for (const [bytes, expected] of cases)
    assert.equal(opusPacketDurationSamples(Buffer.from(bytes)), expected, bytes.join(','));
});
