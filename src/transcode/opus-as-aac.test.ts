// The Opus -> AAC adapter in front of an output, and the one-transcoder-per-stream table, with
// a fake transcoder (the real one is tested in audio-transcoder.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpusAsAacAdapter, SharedAudioTranscoders, type AudioTranscoding } from './opus-as-aac.ts';
import { TRANSCODED_AAC_TRACK } from './audio-transcoder.ts';
import type { Subscriber } from '../hub/subscriber.ts';
import type { Frame } from '../media/frame.ts';
import type { AudioTrack, Track, VideoTrack } from '../media/track.ts';
import { createLogger } from '../log/logger.ts';

const logger = createLogger({ level: 'silent', format: 'json' });
const OPUS: AudioTrack = { kind: 'audio', codec: 'opus', config: Buffer.alloc(19) };
const AAC: AudioTrack = { kind: 'audio', codec: 'aac', config: Buffer.from([0x12, 0x10]) };
const H264: VideoTrack = { kind: 'video', codec: 'h264', config: Buffer.from([1]) };

function frame(kind: 'audio' | 'video', ms: number, track: Track, header = false): Frame {
  return {
    kind,
    track,
    timescale: 1000,
    dts: ms,
    pts: ms,
    keyframe: kind === 'video',
    sequenceHeader: header,
    payload: Buffer.from([ms & 0xff]),
  };
}

/** A fake transcoder table: what was written, how many run, and a way to emit output. */
function fakes() {
  const written: Frame[] = [];
  let running = 0;
  let started = 0;
  let emit: ((frame: Frame) => void) | null = null;
  const shared = new SharedAudioTranscoders((_path, _track, onFrame): AudioTranscoding => {
    running++;
    started++;
    emit = onFrame;
    return {
      write: (f) => written.push(f),
      close: () => {
        running--;
      },
    };
  });
  return {
    shared,
    written,
    running: () => running,
    started: () => started,
    emit: (f: Frame) => emit?.(f),
  };
}

function recorder() {
  const tracks: (readonly Track[])[] = [];
  const frames: Frame[] = [];
  const closes: string[] = [];
  const output: Subscriber = {
    onTracks: (t) => tracks.push(t),
    onFrame: (f) => frames.push(f),
    onClose: (r) => closes.push(r),
  };
  return { output, tracks, frames, closes };
}

test('Opus audio is announced as AAC, its header an ASC, its frames transcoded', () => {
  const f = fakes();
  const out = recorder();
  const adapter = new OpusAsAacAdapter(out.output, f.shared.forPath('live/a'), logger);
  adapter.onTracks([H264, OPUS]);
  assert.deepEqual(out.tracks[0], [H264, TRANSCODED_AAC_TRACK]);
  adapter.onFrame(frame('audio', 0, OPUS, true));
  adapter.onFrame(frame('video', 0, H264));
  adapter.onFrame(frame('audio', 20, OPUS));
  assert.equal(out.frames.length, 2, 'the header and the video; the Opus frame went to ffmpeg');
  assert.ok(out.frames[0]?.sequenceHeader && out.frames[0].track === TRANSCODED_AAC_TRACK);
  assert.ok(out.frames[0].payload.equals(TRANSCODED_AAC_TRACK.config));
  assert.equal(out.frames[1]?.kind, 'video');
  assert.equal(f.written.length, 1);
  f.emit(frame('audio', 20, TRANSCODED_AAC_TRACK));
  assert.equal(out.frames[2]?.track, TRANSCODED_AAC_TRACK, 'transcoded AAC reaches the output');
  adapter.onClose('stream-ended');
  assert.deepEqual(out.closes, ['stream-ended']);
  assert.equal(f.running(), 0, 'the last output closed stops ffmpeg');
});

test('AAC streams pass through with no transcoder', () => {
  const f = fakes();
  const out = recorder();
  const adapter = new OpusAsAacAdapter(out.output, f.shared.forPath('live/b'), logger);
  adapter.onTracks([H264, AAC]);
  const aac = frame('audio', 0, AAC);
  adapter.onFrame(aac);
  assert.deepEqual(out.tracks[0], [H264, AAC]);
  assert.equal(out.frames[0], aac);
  assert.equal(f.started(), 0);
});

test('outputs of one stream share one transcoder, fed each frame once; the last out stops it', () => {
  const f = fakes();
  const a = recorder();
  const b = recorder();
  const first = new OpusAsAacAdapter(a.output, f.shared.forPath('live/c'), logger);
  const second = new OpusAsAacAdapter(b.output, f.shared.forPath('live/c'), logger);
  first.onTracks([H264, OPUS]);
  second.onTracks([H264, OPUS]);
  assert.equal(f.started(), 1, 'one ffmpeg for the stream');
  const opus = [frame('audio', 0, OPUS), frame('audio', 20, OPUS)];
  for (const o of opus) {
    first.onFrame(o);
    second.onFrame(o);
  }
  second.onFrame(frame('audio', 0, OPUS)); // a replay of an older frame: not fed again
  assert.deepEqual(
    f.written.map((w) => w.dts),
    [0, 20],
  );
  f.emit(frame('audio', 0, TRANSCODED_AAC_TRACK));
  assert.equal(a.frames.length, 1);
  assert.equal(b.frames.length, 1, 'both outputs get the output');
  first.dispose();
  assert.equal(f.running(), 1, 'still needed by the second output');
  second.dispose();
  assert.equal(f.running(), 0);
  assert.equal(f.shared.size, 0);
  // A new output later starts a new one.
  new OpusAsAacAdapter(a.output, f.shared.forPath('live/c'), logger).onTracks([OPUS]);
  assert.equal(f.started(), 2);
});

test('without a transcoder the output gets no audio rather than audio it cannot play', () => {
  const shared = new SharedAudioTranscoders(() => null);
  const out = recorder();
  const adapter = new OpusAsAacAdapter(out.output, shared.forPath('live/d'), logger);
  adapter.onTracks([H264, OPUS]);
  assert.deepEqual(out.tracks[0], [H264]);
  adapter.onFrame(frame('audio', 0, OPUS, true));
  adapter.onFrame(frame('audio', 20, OPUS));
  assert.equal(out.frames.length, 0);
});

test('Opus passes through when the adapter does not apply (an enhanced RTMP publisher chose it)', () => {
  const f = fakes();
  const out = recorder();
  const state = { fromWebRtc: false };
  const adapter = new OpusAsAacAdapter(
    out.output,
    f.shared.forPath('live/e'),
    logger,
    () => state.fromWebRtc,
  );
  adapter.onTracks([H264, OPUS]);
  const opus = frame('audio', 0, OPUS);
  adapter.onFrame(opus);
  assert.deepEqual(out.tracks[0], [H264, OPUS]);
  assert.equal(out.frames[0], opus);
  assert.equal(f.started(), 0);
  // A WHIP publisher takes the path over: its tracks come again, and now they are transcoded.
  state.fromWebRtc = true;
  adapter.onTracks([H264, OPUS]);
  assert.deepEqual(out.tracks[1], [H264, TRANSCODED_AAC_TRACK]);
  assert.equal(f.started(), 1);
  adapter.onClose('stream-ended');
});
