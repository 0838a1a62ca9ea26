// The AAC -> Opus transcoder with Debian's ffmpeg: Opus packets come out 20 ms apart on the
// source's timeline (gaps kept), and a killed ffmpeg is restarted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { AacToOpusTranscoder, OpusToAacTranscoder } from './audio-transcoder.ts';
import { AdtsFrameReader } from '../codecs/aac.ts';
import { OggPacketReader } from '../codecs/ogg.ts';
import { opusPacketDurationSamples } from '../codecs/opus.ts';
import type { Frame } from '../media/frame.ts';
import type { AudioTrack } from '../media/track.ts';
import { createLogger } from '../log/logger.ts';

/** Raw AAC frames of an ffmpeg-made ADTS sine, and the AudioSpecificConfig they imply. */
function aacFrames(seconds: number): { track: AudioTrack; frames: Buffer[] } {
  const adts = execFileSync('ffmpeg', [
    ...['-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=440:duration=${seconds}`],
    ...['-ar', '44100', '-ac', '2', '-c:a', 'aac', '-f', 'adts', 'pipe:1'],
  ]);
  const frames: Buffer[] = [];
  for (let at = 0; at + 7 <= adts.length;) {
    const length =
      (((adts[at + 3] ?? 0) & 0x03) << 11) |
      ((adts[at + 4] ?? 0) << 3) |
      ((adts[at + 5] ?? 0) >>> 5);
    const headerBytes = ((adts[at + 1] ?? 0) & 0x01) === 1 ? 7 : 9;
    frames.push(adts.subarray(at + headerBytes, at + length));
    at += length;
  }
  // LC (2), 44.1 kHz (index 4), stereo (2).
  const config = Buffer.from([(2 << 3) | (4 >>> 1), ((4 & 1) << 7) | (2 << 3)]);
  return { track: { kind: 'audio', codec: 'aac', config, sampleRate: 44100, channels: 2 }, frames };
}

function aacFrame(payload: Buffer, ms: number): Frame {
  return {
    kind: 'audio',
    timescale: 1000,
    dts: ms,
    pts: ms,
    keyframe: false,
    sequenceHeader: false,
    payload,
  };
}

async function until(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

const logger = createLogger({ level: 'silent', format: 'json' });

test('AAC becomes 20 ms Opus packets on the source timeline, a gap in the input kept', async () => {
  const { track, frames } = aacFrames(4);
  const out: Frame[] = [];
  const transcoder = new AacToOpusTranscoder(track, { logger, onFrame: (f) => out.push(f) });
  try {
    const frameMs = 1024 / 44.1;
    // Two seconds from 10 s, then (after a 5 s hole in the publisher's timeline) two more.
    const half = Math.floor(frames.length / 2);
    frames.forEach((payload, i) => {
      const ms = 10_000 + i * frameMs + (i >= half ? 5000 : 0);
      transcoder.write(aacFrame(payload, Math.round(ms)));
    });
    await until(() => out.length >= 180, 'Opus frames');
    const ms = out.map((f) => (f.pts * 1000) / f.timescale);
    assert.ok(out.every((f) => f.timescale === 48_000 && f.track?.codec === 'opus'));
    assert.ok(Math.abs((ms[0] ?? 0) - 10_000) < 25, `first at ${ms[0]}`);
    const steps = ms.slice(1).map((t, i) => t - (ms[i] ?? 0));
    const gaps = steps.filter((s) => s > 1000);
    assert.equal(gaps.length, 1, 'one gap');
    assert.ok(Math.abs((gaps[0] ?? 0) - 5020) < 30, `the gap is kept: ${gaps[0]}`);
    const regular = steps.filter((s) => s <= 1000);
    assert.ok(
      regular.every((s) => Math.abs(s - 20) < 1.5),
      `packets 20 ms apart: ${regular.filter((s) => Math.abs(s - 20) >= 1.5).join(' ')}`,
    );
    const splitAt = ms.findIndex((t, i) => i > 0 && t - (ms[i - 1] ?? 0) > 1000);
    const expectedResume = 10_000 + half * frameMs + 5000;
    assert.ok(Math.abs((ms[splitAt] ?? 0) - expectedResume) < 25, 'resumes where the input did');
  } finally {
    transcoder.close();
  }
});

test('a killed ffmpeg is restarted and Opus keeps coming', async () => {
  const { track, frames } = aacFrames(2);
  const out: Frame[] = [];
  const transcoder = new AacToOpusTranscoder(track, { logger, onFrame: (f) => out.push(f) });
  try {
    const pid = transcoder.pid;
    assert.ok(pid !== null);
    process.kill(pid, 'SIGKILL');
    await until(() => transcoder.restarts === 1 && transcoder.pid !== null, 'restart');
    frames.forEach((payload, i) => {
      transcoder.write(aacFrame(payload, Math.round(i * (1024 / 44.1))));
    });
    await until(() => out.length >= 80, 'Opus after the restart');
  } finally {
    transcoder.close();
  }
  assert.equal(transcoder.pid, null, 'closed for good');
});

/** Opus packets (after OpusHead, OpusTags) of an ffmpeg-made 20 ms-framed sine. */
function opusPackets(seconds: number): { track: AudioTrack; packets: Buffer[] } {
  const ogg = execFileSync('ffmpeg', [
    ...['-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=440:duration=${seconds}`],
    ...['-ar', '48000', '-ac', '2', '-c:a', 'libopus', '-frame_duration', '20', '-f', 'ogg'],
    'pipe:1',
  ]);
  const packets = new OggPacketReader().push(ogg).map((p) => p.data);
  // WHIP's track: the config is an OpusHead with no pre-skip (none is known from RTP).
  const track: AudioTrack = {
    kind: 'audio',
    codec: 'opus',
    config: Buffer.alloc(0),
    sampleRate: 48_000,
    channels: 2,
  };
  return { track, packets: packets.slice(2) };
}

function opusFrame(payload: Buffer, ticks: number): Frame {
  return {
    kind: 'audio',
    timescale: 48_000,
    dts: ticks,
    pts: ticks,
    keyframe: false,
    sequenceHeader: false,
    payload,
  };
}

test('Opus becomes AAC frames 1024 samples apart on the source timeline, a gap kept', async () => {
  const { track, packets } = opusPackets(4);
  const out: Frame[] = [];
  const transcoder = new OpusToAacTranscoder(track, { logger, onFrame: (f) => out.push(f) });
  try {
    const half = Math.floor(packets.length / 2);
    let at = 10 * 48_000;
    packets.forEach((payload, i) => {
      if (i === half) at += 5 * 48_000;
      transcoder.write(opusFrame(payload, at));
      at += opusPacketDurationSamples(payload);
    });
    await until(() => out.length >= 170, 'AAC frames');
    assert.ok(out.every((f) => f.track?.codec === 'aac' && !f.sequenceHeader));
    assert.ok(
      out.every((f) => f.payload[0] !== 0xff),
      'raw AAC, not ADTS',
    );
    const ms = out.map((f) => (f.pts * 1000) / f.timescale);
    // ffmpeg's encoder primes with one frame: the first frame sits one frame before the input.
    assert.ok(Math.abs((ms[0] ?? 0) - 10_000) < 25, `first at ${ms[0]}`);
    const steps = ms.slice(1).map((t, i) => t - (ms[i] ?? 0));
    const gaps = steps.filter((s) => s > 1000);
    assert.equal(gaps.length, 1, 'one gap');
    assert.ok(Math.abs((gaps[0] ?? 0) - 5021) < 30, `the gap is kept: ${gaps[0]}`);
    const frameMs = 1024 / 48;
    const regular = steps.filter((s) => s <= 1000);
    assert.ok(
      regular.every((s) => Math.abs(s - frameMs) < 1.5),
      `frames ${frameMs} ms apart: ${regular.filter((s) => Math.abs(s - frameMs) >= 1.5).join(' ')}`,
    );
    const splitAt = ms.findIndex((t, i) => i > 0 && t - (ms[i - 1] ?? 0) > 1000);
    const expectedResume = 10_000 + half * 20 + 5000;
    assert.ok(Math.abs((ms[splitAt] ?? 0) - expectedResume) < 25, `resumes at ${ms[splitAt]}`);
  } finally {
    transcoder.close();
  }
});

test('a killed Opus -> AAC ffmpeg is restarted and AAC keeps coming', async () => {
  const { track, packets } = opusPackets(2);
  const out: Frame[] = [];
  const transcoder = new OpusToAacTranscoder(track, { logger, onFrame: (f) => out.push(f) });
  try {
    const pid = transcoder.pid;
    assert.ok(pid !== null);
    process.kill(pid, 'SIGKILL');
    await until(() => transcoder.restarts === 1 && transcoder.pid !== null, 'restart');
    packets.forEach((payload, i) => {
      transcoder.write(opusFrame(payload, i * 960));
    });
    await until(() => out.length >= 80, 'AAC after the restart');
  } finally {
    transcoder.close();
  }
  assert.equal(transcoder.pid, null, 'closed for good');
});

test('ADTS splits into raw frames in any split; a lost syncword throws', () => {
  const { frames } = aacFrames(1);
  const adts = execFileSync('ffmpeg', [
    ...['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1'],
    ...['-ar', '44100', '-ac', '2', '-c:a', 'aac', '-f', 'adts', 'pipe:1'],
  ]);
  const reader = new AdtsFrameReader();
  const out: Buffer[] = [];
  for (let at = 0; at < adts.length; at += 333)
    out.push(...reader.push(adts.subarray(at, at + 333)));
  assert.equal(out.length, frames.length);
  out.forEach((frame, i) => {
    assert.ok(frame.equals(frames[i] ?? Buffer.alloc(0)), `frame ${i}`);
  });
  assert.throws(
    () => new AdtsFrameReader().push(Buffer.from([0, 1, 2, 3, 4, 5, 6, 7])),
    /syncword/,
  );
});
