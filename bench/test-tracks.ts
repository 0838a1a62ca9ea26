// Tracks for the bench's unit tests: the H.264 and AAC configurations of a small libx264/AAC
// stream, so onair's muxers (fMP4, MPEG-TS) can make real media for the parsers under test.
import type { Track } from '../src/media/track.ts';

/** libx264 320x240 High@1.3 SPS and PPS. */
const SPS = Buffer.from('6764000dacd94141fb011000000300100000030320f1429960', 'hex');
const PPS = Buffer.from('68ebe3cb22c0', 'hex');

/** An H.264 track (AVCDecoderConfigurationRecord with one SPS and one PPS). */
export const H264_TRACK: Track = {
  kind: 'video',
  codec: 'h264',
  config: Buffer.concat([
    Buffer.from([1, 0x64, 0, 0x0d, 0xff, 0xe1, 0, SPS.length]),
    SPS,
    Buffer.from([1, 0, PPS.length]),
    PPS,
  ]),
  width: 320,
  height: 240,
};

/** An AAC-LC track, 44.1 kHz stereo. */
export const AAC_TRACK: Track = {
  kind: 'audio',
  codec: 'aac',
  config: Buffer.from('1210', 'hex'),
  sampleRate: 44100,
  channels: 2,
};
