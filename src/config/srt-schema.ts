// The `srt` section of the configuration schema: SRT ingest and playback (docs/srt.md).
import { z } from 'zod';
import { SECOND_MS, bool, host, int, port, section } from './schema-leaves.ts';

/** An SRT passphrase: libsrt takes 10 to 79 characters (AES key derivation, PBKDF2); '' is none. */
export function srtPassphrase() {
  return z.string().refine((text) => text === '' || (text.length >= 10 && text.length <= 79), {
    error: 'must be 10 to 79 characters (or empty for none)',
  });
}

export const srtSchema = section(
  {
    enabled: bool(
      true,
      'Accept SRT publishers and players on srt.port; without libsrt (the onair-srt addon not built) SRT is off and the log says why.',
    ),
    host: host('Address the SRT listener binds (UDP).'),
    port: port(
      8890,
      'UDP port of the SRT listener (as MediaMTX): every publisher and player shares it, told apart by streamid.',
    ),
    latencyMs: int({
      min: 20,
      max: 8 * SECOND_MS,
      default: 120,
      description:
        'SRT latency: how long a lost packet may take to be resent before it is given up (the higher of this and the caller’s is used); about 4 × the round trip on a lossy link.',
    }),
    passphrase: srtPassphrase()
      .default('')
      .describe(
        'Encrypt every SRT connection (AES) with this passphrase, 10-79 characters; a caller without it is refused. streams.<path>.srtPassphrase sets one per stream. Empty: none.',
      ),
    peerIdleTimeoutMs: int({
      min: SECOND_MS,
      max: 60 * SECOND_MS,
      default: 5 * SECOND_MS,
      description:
        'A connection libsrt hears nothing from (not even keepalives) for this long is broken.',
    }),
    idleTimeoutMs: int({
      min: SECOND_MS,
      max: 10 * 60 * SECOND_MS,
      default: 10 * SECOND_MS,
      description: 'A publisher that sends no media for this long is closed.',
    }),
    maxConnections: int({
      min: 1,
      max: 100_000,
      default: 1000,
      description: 'Most SRT connections (publishers and players) open at once.',
    }),
    handshakesPerIpPer10s: int({
      min: 1,
      max: 100_000,
      default: 100,
      description:
        'Most SRT connection requests one IP address may make in 10 seconds; more are refused during the handshake (an office behind one NAT address is many callers, so keep it generous).',
    }),
  },
  'SRT ingest and playback (srt://host:port?streamid=...): MPEG-TS with H.264, HEVC, AAC or Opus in; MPEG-TS out.',
);
