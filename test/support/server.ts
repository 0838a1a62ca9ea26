// Test harness: an onair instance in this process on ephemeral ports, with a silent logger.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { configSchema, deepFreeze, type Config } from '../../src/config/schema.ts';
import { createLogger } from '../../src/log/logger.ts';
import { Onair } from '../../src/app/onair.ts';
import { waitFor } from './media-tools.ts';

/** A running server and what a test needs to reach it. */
export interface TestServer {
  readonly onair: Onair;
  readonly rtmpPort: number;
  readonly httpPort: number;
  /** The SRT listener's port (srt.port 0: an ephemeral one); null when SRT is off. */
  readonly srtPort: number | null;
  /** `srt://127.0.0.1:PORT?streamid=STREAMID` plus `extra` query options (latency, passphrase...). */
  readonly srtUrl: (streamId: string, extra?: string) => string;
  readonly rtmpUrl: (path: string) => string;
  readonly httpUrl: (path: string) => string;
  /** Log entries written so far (JSON objects). */
  readonly logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

/** Deep-partial config overrides for a test. */
export type ConfigOverrides = Record<string, unknown>;

/** Starts onair on 127.0.0.1 with ports 0; `overrides` are merged into the config sections. */
export async function startServer(overrides: ConfigOverrides = {}): Promise<TestServer> {
  // A data directory of its own: secrets, tokens and keys never leak between tests.
  const dataDir = mkdtempSync(join(tmpdir(), 'onair-test-'));
  const input = merge(
    {
      dataDir,
      rtmp: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      srt: { host: '127.0.0.1', port: 0 },
      // WebRTC's one UDP port is fixed in the config: each server gets a free one.
      webrtc: { udpPort: await freeUdpPort(), tcpPort: 0, bindAddress: '127.0.0.1' },
      log: { level: 'debug' },
    },
    overrides,
  );
  const config: Config = deepFreeze(configSchema.parse(input));
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  const logger = createLogger({ level: config.log.level, format: 'json', destination });
  const onair = new Onair(config, logger);
  const { rtmpPort, httpPort, srtPort } = await onair.start();
  if (rtmpPort === null || httpPort === null) throw new Error('both listeners must be enabled');
  return {
    onair,
    rtmpPort,
    httpPort,
    srtPort,
    srtUrl: (streamId, extra = '') =>
      `srt://127.0.0.1:${srtPort ?? 0}?streamid=${streamId}${extra === '' ? '' : `&${extra}`}`,
    logs,
    rtmpUrl: (path) => `rtmp://127.0.0.1:${rtmpPort}/${path}`,
    httpUrl: (path) => `http://127.0.0.1:${httpPort}/${path}`,
    stop: async () => {
      await onair.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function merge(
  base: Record<string, unknown>,
  extra: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] = isRecord(current) && isRecord(value) ? merge(current, value) : value;
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A UDP port free on 127.0.0.1 now (bound, read and released). */
function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.on('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => {
        resolve(port);
      });
    });
  });
}

/** Waits until `path`'s video track is `codec` and asserts its size. */
export async function waitForVideoTrack(
  server: TestServer,
  path: string,
  codec: string,
  [width, height]: readonly [number, number],
): Promise<void> {
  const videoTrack = () =>
    server.onair.hub.get(path)?.tracks.find((candidate) => candidate.kind === 'video');
  await waitFor(() => videoTrack()?.codec === codec, 15_000, `${path} to have a ${codec} track`);
  const track = videoTrack();
  assert.ok(track?.kind === 'video');
  assert.deepEqual([track.width, track.height], [width, height], `${path}: the picture size`);
}
