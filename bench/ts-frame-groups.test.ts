import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodePat, encodePes, encodePmt } from '../src/codecs/mpegts.ts';
import { splitTsFrameGroups } from './ts-frame-groups.ts';

test('splits a TS into one group per video PES, with DTS and the preamble', () => {
  const pat = encodePat(0x1000, 0);
  const pmt = encodePmt({ pcrPid: 0x100, streams: [{ streamType: 0x1b, pid: 0x100 }] }, 0);
  const frames = [0, 3000, 6000].map(
    (dts, i) =>
      encodePes({
        pid: 0x100,
        streamId: 0xe0,
        payload: Buffer.alloc(400 + i * 200, i),
        ptsTicks: dts + 3000,
        dtsTicks: dts,
        cc: 0,
        randomAccess: i === 0,
      }).packets,
  );
  const ts = Buffer.concat([pat, pmt, ...frames]);
  const split = splitTsFrameGroups(ts);
  assert.equal(split.videoPid, 0x100);
  assert.equal(split.preamble.length, pat.length + pmt.length);
  assert.deepEqual(
    split.groups.map((g) => g.dts90k),
    [0, 3000, 6000],
  );
  assert.deepEqual(
    split.groups.map((g) => g.bytes.length),
    frames.map((f) => f.length),
  );
});
