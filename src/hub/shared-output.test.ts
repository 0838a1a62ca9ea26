// Tests of SharedOutput: encode once per frame, the same Buffer to every viewer, late joins, waits, idling.
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame } from '../media/frame.ts';
import type { Track } from '../media/track.ts';
import { SharedOutput } from './shared-output.ts';
import type { CloseReason } from './subscriber.ts';
import { ViewerQueue, type ViewerLimits, type ViewerSink } from './viewer-queue.ts';

const videoTrack: Track = { kind: 'video', codec: 'h264', config: Buffer.from([1, 0x64, 0, 0x1f]) };
const audioTrack: Track = { kind: 'audio', codec: 'aac', config: Buffer.from([0x12, 0x10]) };
const limits: ViewerLimits = {
  maxQueueBytes: 1_000_000,
  maxQueueDurationMs: 60_000,
  maxBehindMs: 60_000,
};
const gopCache = { enabled: true, maxFrames: 1000, maxBytes: 1_000_000, maxDurationMs: 60_000 };

/** A sink that records writes and closes into one shared event log. */
class FakeSink implements ViewerSink {
  readonly writes: Buffer[] = [];
  readonly closes: CloseReason[] = [];
  readonly events: string[] = [];

  write(bytes: Buffer): boolean {
    this.writes.push(bytes);
    this.events.push('write');
    return true;
  }

  close(reason: CloseReason): void {
    this.closes.push(reason);
    this.events.push(`close:${reason}`);
  }
}

/** An encoder that counts calls and returns a fresh Buffer per frame, remembered by frame. */
class FakeEncoder {
  readonly calls: Frame[] = [];
  readonly encoded = new Map<Frame, Buffer>();
  readonly encode = (frame: Frame): Buffer => {
    this.calls.push(frame);
    const bytes = Buffer.from(`enc-${this.calls.length}`);
    this.encoded.set(frame, bytes);
    return bytes;
  };

  /** The Buffer made for `frame`. */
  bytesOf(frame: Frame): Buffer {
    const bytes = this.encoded.get(frame);
    assert.ok(bytes, 'frame was never encoded');
    return bytes;
  }
}

/** Builds a frame; each call gives a distinct object and body. */
function frame(
  kind: Frame['kind'],
  dtsMs: number,
  options: { keyframe?: boolean; sequenceHeader?: boolean } = {},
): Frame {
  return {
    kind,
    timescale: 1000,
    dts: dtsMs,
    pts: dtsMs,
    keyframe: options.keyframe ?? false,
    sequenceHeader: options.sequenceHeader ?? false,
    payload: Buffer.from([dtsMs & 0xff]),
  };
}

const key = (dtsMs: number): Frame => frame('video', dtsMs, { keyframe: true });
const inter = (dtsMs: number): Frame => frame('video', dtsMs);
const audio = (dtsMs: number): Frame => frame('audio', dtsMs);

/** A viewer: its queue, its sink, and the tracks its `start` callback saw. */
interface Viewer {
  readonly queue: ViewerQueue;
  readonly sink: FakeSink;
  readonly starts: (readonly Track[])[];
}

/** Adds a fresh viewer to `output`, recording when `start` runs. */
function addViewer(output: SharedOutput, waitMs = 5000): Viewer {
  const sink = new FakeSink();
  const starts: (readonly Track[])[] = [];
  const queue = new ViewerQueue(sink, limits);
  output.addViewer(queue, {
    start: (tracks) => {
      starts.push(tracks);
      sink.events.push('start');
    },
    waitMs,
  });
  return { queue, sink, starts };
}

/** A SharedOutput with a fake encoder, counting onIdle calls. */
function makeOutput(
  enabled = true,
  audioMergeMs = 0,
): {
  output: SharedOutput;
  encoder: FakeEncoder;
  idle: { count: number };
} {
  const encoder = new FakeEncoder();
  const idle = { count: 0 };
  const output = new SharedOutput({
    encode: encoder.encode,
    gopCache: { ...gopCache, enabled },
    audioMergeMs,
    onIdle: () => {
      idle.count++;
    },
  });
  return { output, encoder, idle };
}

test('SharedOutput.onFrame() encodes each frame once and hands every viewer the very same Buffer', () => {
  const { output, encoder } = makeOutput();
  output.onTracks([videoTrack, audioTrack]);
  const viewers = [addViewer(output), addViewer(output), addViewer(output)];
  const frames = [
    frame('video', 0, { sequenceHeader: true }),
    key(0),
    audio(10),
    inter(40),
    audio(33),
  ];
  for (const f of frames) output.onFrame(f);
  assert.equal(encoder.calls.length, frames.length);
  for (const viewer of viewers) {
    assert.equal(viewer.sink.writes.length, frames.length);
    frames.forEach((f, i) => {
      assert.ok(viewer.sink.writes[i] === encoder.bytesOf(f), `frame ${i} is the shared Buffer`);
    });
  }
});

test('SharedOutput.addViewer() after the start replays metadata, headers and the cached GOP as the same Buffers, then live frames', () => {
  const { output, encoder } = makeOutput();
  const tracks = [videoTrack, audioTrack];
  output.onTracks(tracks);
  const metadata = frame('data', 0);
  const videoHeader = frame('video', 0, { sequenceHeader: true });
  const audioHeader = frame('audio', 0, { sequenceHeader: true });
  const oldGop = [key(0), inter(40), audio(41)];
  const gop = [key(80), audio(81), inter(120)];
  for (const f of [metadata, videoHeader, audioHeader, ...oldGop, ...gop]) output.onFrame(f);
  const encodedBefore = encoder.calls.length;

  const viewer = addViewer(output);
  assert.equal(encoder.calls.length, encodedBefore, 'joining encodes nothing');
  assert.deepEqual(viewer.starts, [tracks]);
  assert.equal(viewer.sink.events[0], 'start');
  const expected = [metadata, videoHeader, audioHeader, ...gop].map((f) => encoder.bytesOf(f));
  assert.equal(viewer.sink.writes.length, expected.length);
  expected.forEach((bytes, i) => {
    assert.ok(viewer.sink.writes[i] === bytes, `replayed item ${i} is the shared Buffer`);
  });

  const live = inter(160);
  output.onFrame(live);
  assert.ok(viewer.sink.writes.at(-1) === encoder.bytesOf(live));
});

test('SharedOutput.addViewer() with the GOP cache disabled replays only metadata and headers', () => {
  const { output, encoder } = makeOutput(false);
  output.onTracks([videoTrack]);
  const videoHeader = frame('video', 0, { sequenceHeader: true });
  for (const f of [videoHeader, key(0), inter(40)]) output.onFrame(f);
  const viewer = addViewer(output);
  assert.deepEqual(viewer.sink.writes, [encoder.bytesOf(videoHeader)]);
});

test('SharedOutput.addViewer() with audio-only tracks starts the viewer on an audio frame', () => {
  const { output, encoder } = makeOutput();
  output.onTracks([audioTrack]);
  const audioHeader = frame('audio', 0, { sequenceHeader: true });
  const frames = [audioHeader, audio(0), audio(23)];
  for (const f of frames) output.onFrame(f);
  const viewer = addViewer(output);
  const live = audio(46);
  output.onFrame(live);
  assert.deepEqual(viewer.sink.writes, [
    encoder.bytesOf(audioHeader),
    encoder.bytesOf(frames[2]!),
    encoder.bytesOf(live),
  ]);
});

test('SharedOutput.addViewer() before onTracks waits: start runs only at onTracks', (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => {
    mock.timers.reset();
  });
  const { output, encoder, idle } = makeOutput();
  const viewer = addViewer(output, 5000);
  assert.equal(output.viewerCount, 1);
  mock.timers.tick(4000);
  assert.deepEqual(viewer.starts, []);
  assert.equal(viewer.sink.events.length, 0);

  const tracks = [videoTrack];
  output.onTracks(tracks);
  assert.deepEqual(viewer.starts, [tracks]);
  const k = key(0);
  output.onFrame(k);
  assert.deepEqual(viewer.sink.events, ['start', 'write']);
  assert.ok(viewer.sink.writes[0] === encoder.bytesOf(k));

  // The wait timer was cancelled: the started viewer is not closed later.
  mock.timers.tick(10_000);
  assert.deepEqual(viewer.sink.closes, []);
  assert.equal(idle.count, 0);
});

test('SharedOutput.addViewer() before onTracks closes the viewer with not-found after waitMs and goes idle', (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => {
    mock.timers.reset();
  });
  const { output, idle } = makeOutput();
  const viewer = addViewer(output, 5000);
  mock.timers.tick(4999);
  assert.deepEqual(viewer.sink.closes, []);
  assert.equal(idle.count, 0);
  mock.timers.tick(1);
  assert.deepEqual(viewer.sink.closes, ['not-found']);
  assert.deepEqual(viewer.starts, []);
  assert.equal(idle.count, 1);
  assert.equal(output.viewerCount, 0);
});

test('SharedOutput.removeViewer() calls onIdle once, when the last viewer leaves', (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => {
    mock.timers.reset();
  });
  const { output, idle } = makeOutput();
  const waiting = addViewer(output);
  output.onTracks([videoTrack]);
  const started = addViewer(output);
  const late = addViewer(output);
  assert.equal(output.viewerCount, 3);
  output.removeViewer(waiting.queue);
  output.removeViewer(late.queue);
  assert.equal(idle.count, 0);
  output.removeViewer(started.queue);
  assert.equal(idle.count, 1);
  output.removeViewer(started.queue);
  assert.equal(idle.count, 1);
  assert.equal(output.viewerCount, 0);
});

test('SharedOutput.removeViewer() of a waiting viewer cancels its wait and goes idle', (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => {
    mock.timers.reset();
  });
  const { output, idle } = makeOutput();
  const viewer = addViewer(output, 5000);
  output.removeViewer(viewer.queue);
  assert.equal(idle.count, 1);
  mock.timers.tick(10_000);
  assert.deepEqual(viewer.sink.closes, []);
  assert.equal(idle.count, 1);
});

test('SharedOutput.onClose() closes every viewer, started or waiting, with the reason', (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => {
    mock.timers.reset();
  });
  const { output } = makeOutput();
  const waiting = addViewer(output, 5000);
  output.onTracks([videoTrack]);
  const started = [addViewer(output), addViewer(output)];
  const { output: waitingToo, idle } = makeOutput();
  const stillWaiting = addViewer(waitingToo, 5000);

  output.onClose('stream-ended');
  waitingToo.onClose('server-shutdown');
  for (const viewer of [waiting, ...started]) {
    assert.deepEqual(viewer.sink.closes, ['stream-ended']);
  }
  assert.deepEqual(stillWaiting.sink.closes, ['server-shutdown']);
  // Its wait timer was cancelled: nothing fires after the close.
  mock.timers.tick(10_000);
  assert.deepEqual(stillWaiting.sink.closes, ['server-shutdown']);
  assert.equal(idle.count, 0);

  // A viewer that comes after the end is closed at once with the same reason.
  const tooLate = addViewer(output);
  assert.deepEqual(tooLate.sink.closes, ['stream-ended']);
  assert.deepEqual(tooLate.starts, []);
});

test('SharedOutput.onFrame() with audioMergeMs sends held audio with the next video frame, in one shared Buffer', () => {
  const { output, encoder } = makeOutput(true, 50);
  output.onTracks([videoTrack, audioTrack]);
  const [first, second] = [addViewer(output), addViewer(output)];
  const header = frame('video', 0, { sequenceHeader: true });
  const [a1, a2, k, a3, p] = [audio(5), audio(28), key(33), audio(50), inter(66)];
  for (const f of [header, a1, a2, k, a3, p]) output.onFrame(f);
  const expected = [
    encoder.bytesOf(header),
    Buffer.concat([encoder.bytesOf(a1), encoder.bytesOf(a2), encoder.bytesOf(k)]),
    Buffer.concat([encoder.bytesOf(a3), encoder.bytesOf(p)]),
  ];
  assert.deepEqual(first.sink.writes, expected, 'audio rides with the following video frame');
  first.sink.writes.forEach((bytes, i) => {
    assert.ok(bytes === second.sink.writes[i], `write ${i} is one Buffer shared by both viewers`);
  });
});

test('SharedOutput.onFrame() with audioMergeMs sends held audio alone when no video comes in time', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { output, encoder } = makeOutput(true, 50);
  output.onTracks([videoTrack, audioTrack]);
  const viewer = addViewer(output);
  const header = frame('video', 0, { sequenceHeader: true });
  const [k, a1] = [key(0), audio(10)];
  for (const f of [header, k, a1]) output.onFrame(f);
  assert.equal(viewer.sink.writes.length, 2, 'the audio frame is held');
  t.mock.timers.tick(49);
  assert.equal(viewer.sink.writes.length, 2);
  t.mock.timers.tick(1);
  assert.deepEqual(viewer.sink.writes.at(-1), encoder.bytesOf(a1), 'sent alone at audioMergeMs');
});

test('SharedOutput.onFrame() never holds audio of a stream without video', () => {
  const { output, encoder } = makeOutput(true, 50);
  output.onTracks([audioTrack]);
  const viewer = addViewer(output);
  const a1 = audio(0);
  output.onFrame(frame('audio', 0, { sequenceHeader: true }));
  output.onFrame(a1);
  assert.ok(viewer.sink.writes.at(-1) === encoder.bytesOf(a1));
});
