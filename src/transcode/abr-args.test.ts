// Tests of the ladder's pure part: the rungs a source gets, rendition paths, ffmpeg's arguments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  frameSelect,
  isRenditionPath,
  ladderArgs,
  outputArgs,
  renditionPath,
  renditionsBelow,
  type Rendition,
} from './abr-args.ts';

const ladder: Rendition[] = [
  { name: '1080p', height: 1080, videoKbps: 5000 },
  { name: '720p', height: 720, videoKbps: 2500 },
  { name: '480p', height: 480, videoKbps: 1200 },
  { name: '240p', height: 240, videoKbps: 400, fps: 15 },
];

void test('renditionsBelow() keeps the rungs strictly below the source height, in order', () => {
  assert.deepEqual(
    renditionsBelow(ladder, 720).map((rendition) => rendition.name),
    ['480p', '240p'],
  );
  assert.deepEqual(
    renditionsBelow(ladder, 1080).map((rendition) => rendition.name),
    ['720p', '480p', '240p'],
  );
  assert.equal(renditionsBelow(ladder, 2160).length, 4);
  assert.deepEqual(renditionsBelow(ladder, 240), []);
  assert.deepEqual(renditionsBelow(ladder, undefined), [], 'an unknown height gets none');
});

void test('renditionPath() and isRenditionPath(): APP/NAME_<rendition> of a path that has it', () => {
  assert.equal(renditionPath('live/x', '480p'), 'live/x_480p');
  const of = (path: string): readonly Rendition[] => (path === 'live/x' ? ladder : []);
  assert.ok(isRenditionPath('live/x_480p', of));
  assert.ok(!isRenditionPath('live/x_360p', of), 'not a configured name');
  assert.ok(!isRenditionPath('live/x', of));
  assert.ok(!isRenditionPath('live/y_480p', of), 'live/y has no ladder');
  assert.ok(!isRenditionPath('live_480p/x', of), 'the _ must be in the last segment');
  const everyStream = (): readonly Rendition[] => ladder;
  assert.ok(isRenditionPath('live/a_b_240p', everyStream));
});

void test('ladderArgs(): FLV on stdin, one split into a scale (and fps) chain per rendition', () => {
  const args = ladderArgs(renditionsBelow(ladder, 720));
  const at = (flag: string): string | undefined => args[args.indexOf(flag) + 1];
  assert.equal(at('-i'), 'pipe:0');
  assert.equal(at('-f'), 'flv');
  assert.equal(at('-progress'), 'pipe:1');
  assert.ok(args.includes('-copyts'), 'source timestamps, so keyframes fall on source times');
  assert.equal(
    at('-filter_complex'),
    `[0:v]split=2[s0][s1];[s0]scale=-2:480[v0];[s1]scale=-2:240,${frameSelect(15)}[v1]`,
  );
  assert.equal(args.filter((arg) => arg === 'libx264').length, 2);
  assert.deepEqual(
    args.filter((arg) => arg.startsWith('pipe:')),
    ['pipe:1', 'pipe:0', 'pipe:3', 'pipe:4'],
  );
  assert.throws(() => ladderArgs([]), /at least one rendition/);
});

void test('frameSelect(): the first frame of each 1/fps slot, and every source keyframe', () => {
  assert.equal(
    frameSelect(15),
    "select='isnan(prev_selected_t)+key+gt(floor(t*15),floor(prev_selected_t*15))'",
  );
});

void test('outputArgs(): x264 veryfast at the rung bitrate, keyframes where the source has them, audio copied', () => {
  const args = outputArgs({ name: '480p', height: 480, videoKbps: 1200 }, 1);
  const at = (flag: string): string | undefined => args[args.indexOf(flag) + 1];
  assert.deepEqual(args.slice(0, 4), ['-map', '[v1]', '-map', '0:a?']);
  assert.equal(at('-c:v'), 'libx264');
  assert.equal(at('-preset'), 'veryfast');
  assert.equal(at('-b:v'), '1200k');
  assert.equal(at('-maxrate'), '1200k');
  assert.equal(at('-bufsize'), '2400k');
  assert.equal(at('-force_key_frames'), 'source');
  assert.equal(at('-sc_threshold'), '0');
  assert.equal(at('-fps_mode'), 'passthrough', 'the source timestamps');
  assert.equal(at('-enc_time_base:v'), '1:1000');
  assert.equal(at('-c:a'), 'copy');
  assert.equal(at('-f'), 'flv');
  assert.equal(args.at(-1), 'pipe:4');
});
