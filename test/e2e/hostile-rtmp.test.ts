// Hostile RTMP input over raw sockets (HOSTILE-INPUTS.md sections 1, 2, 3 and 5), each sent while an
// ffmpeg publisher and an RTMP viewer keep flowing on live/good: the "no collateral damage" check.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { startServer, type TestServer } from '../support/server.ts';
import { publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import {
  RawRtmp,
  captureMedia,
  chunked,
  startFlood,
  statusInfo,
  type0Header,
  type CapturedMedia,
} from '../support/raw-rtmp.ts';
import { heldMemory } from '../support/held-memory.ts';
import { RtmpClient } from '../../src/protocols/rtmp/rtmp-client.ts';
import { encodeAmf0, type Amf0Value } from '../../src/codecs/amf0.ts';
import {
  MessageType,
  UserControlEvent,
  encodeUint32Payload,
  encodeUserControl,
  type RtmpMessage,
} from '../../src/codecs/rtmp-message.ts';

let server: TestServer;
let publisher: Publisher;
let viewer: RtmpClient;
let videoFrames = 0;
const seen: Partial<CapturedMedia> = {};

before(async () => {
  server = await startServer();
  publisher = publishTestPattern(server.rtmpUrl('live/good'), { gop: 25, seconds: 110 });
  await waitFor(
    () => server.onair.hub.get('live/good')?.tracks.length === 2,
    15_000,
    'the ffmpeg publisher to announce both tracks',
  );
  viewer = await RtmpClient.connect(server.rtmpUrl('live/good'), {
    onMedia: (message) => {
      if (message.typeId === MessageType.Video) videoFrames++;
      captureMedia(seen, message);
    },
  });
  await viewer.play();
  await waitFor(() => seen.keyframe !== undefined, 10_000, 'a keyframe on the good viewer');
});

after(async () => {
  viewer.close();
  await publisher.stop();
  await server.stop();
});

function captured(): CapturedMedia {
  const { videoHeader, audioHeader, keyframe } = seen;
  assert.ok(videoHeader && audioHeader && keyframe, 'the good stream was captured');
  return { videoHeader, audioHeader, keyframe };
}

/** The no-collateral-damage assertion: the publisher is live and the viewer gets new frames. */
async function stillFlowing(): Promise<void> {
  assert.notEqual(server.onair.hub.get('live/good')?.publisher ?? null, null, 'publisher live');
  const before = videoFrames;
  await waitFor(() => videoFrames >= before + 3, 10_000, 'new frames on the good viewer');
  assert.equal(viewer.closeInfo, null, 'the good viewer is still connected');
}

/** Waits for a log entry with `reason` written after `mark` (an index into `on.logs`). */
async function expectLogged(mark: number, reason: string, on: TestServer = server): Promise<void> {
  const reasons = (): unknown[] => on.logs.slice(mark).map((entry) => entry.reason);
  try {
    await waitFor(() => reasons().includes(reason), 5000, `a log entry with reason ${reason}`);
  } catch (error) {
    const logged = JSON.stringify(reasons());
    throw new Error(`${String(error)}; reasons logged: ${logged}`, { cause: error });
  }
}

/** A raw connection past the handshake (and `connect` for app live when asked). */
async function rawSession(options: { connect?: boolean; port?: number } = {}): Promise<RawRtmp> {
  const raw = await RawRtmp.open(options.port ?? server.rtmpPort);
  await raw.handshake();
  if (options.connect ?? true) await raw.connect();
  return raw;
}

/** Asserts `raw` gets closed and the server logged `reason`, then that live/good is unharmed. */
async function expectClosedFor(raw: RawRtmp, mark: number, reason: string): Promise<void> {
  try {
    await raw.waitClosed();
    await expectLogged(mark, reason);
    assert.equal(raw.decodeError, null, 'what the server sent decoded');
  } finally {
    raw.destroy();
  }
  await stillFlowing();
}

/** A raw session (after `connect` unless told), `act` on it, then the close for `reason`. */
async function closesFor(
  reason: string,
  act: (raw: RawRtmp) => void | Promise<void>,
  options: { connect?: boolean } = {},
): Promise<RawRtmp> {
  const mark = server.logs.length;
  const raw = await rawSession(options);
  await act(raw);
  await expectClosedFor(raw, mark, reason);
  return raw;
}

/** A connected raw session, `act` on it, then proof it is still usable: createStream answers. */
async function staysUsable(act: (raw: RawRtmp) => void | Promise<void>): Promise<void> {
  const raw = await rawSession();
  try {
    await act(raw);
    await raw.createStream(100);
    assert.equal(raw.closed, false);
  } finally {
    raw.destroy();
  }
  await stillFlowing();
}

/** A raw publisher on live/`name`, its Publish.Start received; chunk size set before connect. */
async function rawPublisher(name: string, chunkSize = 128): Promise<{ raw: RawRtmp; id: number }> {
  const raw = await rawSession({ connect: false });
  raw.sendControl(MessageType.SetChunkSize, encodeUint32Payload(chunkSize));
  raw.chunkSize = chunkSize;
  await raw.connect();
  const id = await raw.createStream(2);
  raw.sendCommand(['publish', 0, null, name, 'live'], id);
  await raw.expectStatus('NetStream.Publish.Start');
  return { raw, id };
}

/** An RTMP player on `path` that keeps a copy of every media message. */
async function playerOf(path: string): Promise<{ player: RtmpClient; got: RtmpMessage[] }> {
  const got: RtmpMessage[] = [];
  const player = await RtmpClient.connect(server.rtmpUrl(path), {
    onMedia: (message) => got.push({ ...message, payload: Buffer.from(message.payload) }),
  });
  await player.play();
  return { player, got };
}

/** An AMF0 body from raw bytes (for malformed AMF0). */
function amf0Bytes(...parts: (Buffer | number[])[]): Buffer {
  return Buffer.concat(parts.map((part) => (Buffer.isBuffer(part) ? part : Buffer.from(part))));
}

describe('handshake and session state (section 1)', () => {
  const wrongVersions: [string, Buffer][] = [
    ['G (an HTTP GET to the RTMP port)', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['P (an HTTP POST)', Buffer.from('POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n')],
    ['0x16 (a TLS ClientHello)', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00])],
    ['0x06 (RTMPE)', Buffer.concat([Buffer.from([0x06]), Buffer.alloc(1536, 7)])],
  ];
  for (const [what, bytes] of wrongVersions) {
    test(`a C0 of ${what} is closed with ERR_RTMP_HANDSHAKE_VERSION and nothing echoed`, async () => {
      const mark = server.logs.length;
      const raw = await RawRtmp.open(server.rtmpPort);
      raw.write(bytes);
      await raw.waitClosed();
      assert.equal(raw.bytesReceived, 0, 'no S0/S1 and no echo');
      await expectClosedFor(raw, mark, 'ERR_RTMP_HANDSHAKE_VERSION');
    });
  }

  test('media after the handshake, before connect, is closed as media-before-publish', async () => {
    const keyframe = captured().keyframe;
    await closesFor(
      'media-before-publish',
      (raw) => {
        raw.send({ csid: 6, typeId: MessageType.Video, streamId: 1, payload: keyframe });
      },
      { connect: false },
    );
  });

  test('media on a created but unpublished stream is closed as media-before-publish', async () => {
    const payload = captured().audioHeader;
    await closesFor('media-before-publish', async (raw) => {
      const streamId = await raw.createStream(2);
      raw.send({ csid: 4, typeId: MessageType.Audio, streamId, payload });
    });
  });

  test('createStream before connect is closed as command-before-connect', async () => {
    await closesFor(
      'command-before-connect',
      (raw) => {
        raw.sendCommand(['createStream', 2, null]);
      },
      { connect: false },
    );
  });

  test('a second connect on one connection is closed as connect-twice', async () => {
    await closesFor('connect-twice', (raw) => {
      raw.sendCommand(['connect', 2, { app: 'live', tcUrl: 'rtmp://127.0.0.1/live' }]);
    });
  });

  const badConnects: [string, Amf0Value[]][] = [
    ['an empty command object (no app, no tcUrl)', [{}]],
    ['no command object at all', []],
    ['null instead of the command object', [null]],
    ['a number app', [{ app: 42, tcUrl: 'rtmp://127.0.0.1/live' }]],
    ['a null app', [{ app: null, tcUrl: 'rtmp://127.0.0.1/live' }]],
    ['an object tcUrl', [{ app: 'live', tcUrl: { href: 'rtmp://x/live' } }]],
    ['a number tcUrl', [{ app: 'live', tcUrl: 7 }]],
    ['no tcUrl', [{ app: 'live' }]],
  ];
  for (const [what, args] of badConnects) {
    test(`connect with ${what} gets NetConnection.Connect.Rejected, then a close`, async () => {
      const raw = await closesFor(
        'connect-rejected',
        (raw) => {
          raw.sendCommand(['connect', 1, ...args]);
        },
        { connect: false },
      );
      const reply = raw.commands.find((c) => c.name === '_error');
      assert.equal(reply?.txn, 1);
      assert.equal(statusInfo(reply)?.code, 'NetConnection.Connect.Rejected');
      assert.equal(statusInfo(reply)?.level, 'error');
    });
  }
});

describe('over-long strings in commands (sections 3 and 5)', () => {
  const base = { app: 'live', tcUrl: 'rtmp://127.0.0.1/live', flashVer: 'raw' };
  const tooLong: [string, Record<string, string>][] = [
    ['a tcUrl of 60,000 slashes', { tcUrl: `rtmp://127.0.0.1/a${'/'.repeat(60_000)}b` }],
    ['a 4097-character app', { app: `live?t=${'x'.repeat(4090)}` }],
    ['a 257-character flashVer', { flashVer: 'F'.repeat(257) }],
    ['a 5000-character swfUrl', { swfUrl: `http://x/${'s'.repeat(5000)}` }],
    ['a 5000-character pageUrl', { pageUrl: `http://x/${'p'.repeat(5000)}` }],
  ];
  for (const [what, fields] of tooLong) {
    test(`connect with ${what} gets NetConnection.Connect.Rejected and closes as field-too-long`, async () => {
      const raw = await closesFor(
        'field-too-long',
        (raw) => {
          raw.sendCommand(['connect', 1, { ...base, ...fields }]);
        },
        { connect: false },
      );
      const reply = raw.commands.find((c) => c.name === '_error');
      assert.equal(statusInfo(reply!)?.code, 'NetConnection.Connect.Rejected');
    });
  }

  test('a tcUrl of 4000 slashes (under the cap) connects at once, its app trimmed to live', async () => {
    const raw = await rawSession({ connect: false });
    try {
      const tcUrl = `rtmp://127.0.0.1/${'/'.repeat(4000)}live${'/'.repeat(40)}`;
      raw.sendCommand(['connect', 1, { ...base, tcUrl }]);
      await raw.expectCommand((c) => c.name === '_result' && c.txn === 1, 'connect _result');
      const id = await raw.createStream(2);
      raw.sendCommand(['publish', 0, null, 'slashes', 'live'], id);
      await raw.expectStatus('NetStream.Publish.Start');
      assert.notEqual(server.onair.hub.get('live/slashes'), undefined);
    } finally {
      raw.destroy();
    }
    await stillFlowing();
  });

  const longName = `cam?key=${'k'.repeat(5000)}`;
  test('publish with a 5000-character name (its query included) gets NetStream.Publish.BadName as field-too-long', async () => {
    await closesFor('field-too-long', async (raw) => {
      const id = await raw.createStream(2);
      raw.sendCommand(['publish', 0, null, longName, 'live'], id);
      await raw.expectStatus('NetStream.Publish.BadName');
    });
  });

  test('play with a 5000-character name gets NetStream.Play.StreamNotFound as field-too-long', async () => {
    await closesFor('field-too-long', async (raw) => {
      const id = await raw.createStream(2);
      raw.sendCommand(['play', 0, null, longName], id);
      await raw.expectStatus('NetStream.Play.StreamNotFound');
    });
  });
});

describe('handshake deadline and connection caps (section 1, short deadline)', () => {
  let quick: TestServer;
  let checks = 0;
  before(async () => {
    quick = await startServer({
      rtmp: { handshakeTimeoutMs: 1000, idleTimeoutMs: 1000, maxConnectionsPerIp: 20 },
    });
  });
  after(async () => {
    await quick.stop();
  });

  /** The quick server still serves: a well-behaved client connects and publishes. */
  async function quickStillServes(): Promise<void> {
    const client = await RtmpClient.connect(quick.rtmpUrl(`live/check${++checks}`));
    try {
      await client.publish();
    } finally {
      client.close();
    }
  }

  test('half-open connections that send nothing are closed at the deadline; one more than the per-IP cap is refused', async () => {
    const mark = quick.logs.length;
    const idle = await Promise.all(Array.from({ length: 20 }, () => RawRtmp.open(quick.rtmpPort)));
    const extra = await RawRtmp.open(quick.rtmpPort);
    try {
      await extra.waitClosed(5000);
      await expectLogged(mark, 'max-connections-per-ip', quick);
      await Promise.all(idle.map((raw) => raw.waitClosed(10_000)));
      const timeouts = quick.logs.slice(mark).filter((e) => e.reason === 'handshake-timeout');
      assert.equal(timeouts.length, 20);
      assert.ok(idle.every((raw) => raw.bytesReceived === 0));
    } finally {
      for (const raw of [...idle, extra]) raw.destroy();
    }
    await quickStillServes();
    await stillFlowing();
  });

  test('a slow-drip handshake (1 byte per 100 ms) is closed at the deadline of the whole handshake', async () => {
    const mark = quick.logs.length;
    const raw = await RawRtmp.open(quick.rtmpPort);
    const c0c1 = Buffer.concat([Buffer.from([3]), Buffer.alloc(1536, 1)]);
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < c0c1.length) raw.write(c0c1.subarray(sent, ++sent));
    }, 100);
    try {
      await raw.waitClosed(10_000);
      assert.ok(sent < c0c1.length, 'closed before C0+C1 were complete');
      assert.equal(raw.bytesReceived, 0);
      await expectLogged(mark, 'handshake-timeout', quick);
    } finally {
      clearInterval(drip);
      raw.destroy();
    }
    await quickStillServes();
    await stillFlowing();
  });

  for (const role of ['publish', 'play'] as const) {
    test(`a connection left with nothing after ${role} then deleteStream is closed as idle-timeout`, async () => {
      const source = await RtmpClient.connect(quick.rtmpUrl(`live/left-${role}`));
      const mark = quick.logs.length;
      const raw = await rawSession({ port: quick.rtmpPort });
      try {
        const media = captured();
        const sourceId = await source.publish();
        source.sendMedia(sourceId, MessageType.Video, 0, media.videoHeader);
        source.sendMedia(sourceId, MessageType.Audio, 0, media.audioHeader);
        source.sendMedia(sourceId, MessageType.Video, 40, media.keyframe);
        const id = await raw.createStream(2);
        const name = role === 'publish' ? `gone-${role}` : `left-${role}`;
        raw.sendCommand(
          role === 'publish' ? ['publish', 0, null, name, 'live'] : ['play', 0, null, name],
          id,
        );
        await raw.expectStatus(
          role === 'publish' ? 'NetStream.Publish.Start' : 'NetStream.Play.Start',
        );
        raw.sendCommand(['deleteStream', 0, null, id]);
        await raw.waitClosed(10_000);
        await expectLogged(mark, 'idle-timeout', quick);
      } finally {
        raw.destroy();
        source.close();
      }
      await stillFlowing();
    });
  }

  test('a connect dripped 1 byte per 100 ms after a fast handshake is closed by the same deadline', async () => {
    const mark = quick.logs.length;
    const raw = await rawSession({ connect: false, port: quick.rtmpPort });
    const connect = chunked({
      typeId: MessageType.CommandAmf0,
      payload: encodeAmf0(['connect', 1, { app: 'live', tcUrl: 'rtmp://127.0.0.1/live' }]),
    });
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < connect.length) raw.write(connect.subarray(sent, ++sent));
    }, 100);
    try {
      await raw.waitClosed(10_000);
      assert.ok(sent < connect.length, 'closed before the connect was complete');
      await expectLogged(mark, 'handshake-timeout', quick);
    } finally {
      clearInterval(drip);
      raw.destroy();
    }
    await stillFlowing();
  });
});

describe('chunk layer (section 2)', () => {
  for (const size of [0, 0x80000000, 0xffffffff]) {
    test(`Set Chunk Size ${size} is closed with ERR_RTMP_CHUNK_SIZE`, async () => {
      await closesFor('ERR_RTMP_CHUNK_SIZE', (raw) => {
        raw.sendControl(MessageType.SetChunkSize, encodeUint32Payload(size));
      });
    });
  }

  test('Set Chunk Size 0x7fffffff is accepted (clamped): the connection stays usable', async () => {
    await staysUsable((raw) => {
      raw.sendControl(MessageType.SetChunkSize, encodeUint32Payload(0x7fffffff));
      raw.chunkSize = 0xffffff;
    });
  });

  const shortControls: [string, number][] = [
    ['Set Chunk Size', MessageType.SetChunkSize],
    ['Window Acknowledgement Size', MessageType.WindowAckSize],
    ['Abort', MessageType.Abort],
    ['Acknowledgement', MessageType.Acknowledgement],
  ];
  for (const [what, typeId] of shortControls) {
    test(`${what} with a 2-byte payload is closed with ERR_RTMP_CONTROL_MESSAGE`, async () => {
      await closesFor('ERR_RTMP_CONTROL_MESSAGE', (raw) => {
        raw.sendControl(typeId, Buffer.from([0x00, 0x10]));
      });
    });
  }

  test('Window Acknowledgement Size 0 is tolerated (clamped): the connection stays usable', async () => {
    await staysUsable((raw) => {
      raw.sendControl(MessageType.WindowAckSize, encodeUint32Payload(0));
    });
  });

  for (const size of [1, 127]) {
    test(`Set Chunk Size ${size} is accepted: a publish in ${size}-byte chunks reaches a viewer intact`, async () => {
      const media = captured();
      const { raw, id } = await rawPublisher(`tiny${size}`, size);
      const video = { csid: 6, typeId: MessageType.Video, streamId: id };
      const audio = { csid: 4, typeId: MessageType.Audio, streamId: id };
      raw.send({ ...video, payload: media.videoHeader });
      raw.send({ ...audio, payload: media.audioHeader });
      raw.send({ ...audio, payload: Buffer.alloc(0) }); // zero length: legal, dropped
      raw.send({ ...video, timestamp: 40, payload: media.keyframe });
      const { player, got } = await playerOf(`live/tiny${size}`);
      try {
        const has = (payload: Buffer): boolean => got.some((m) => m.payload.equals(payload));
        await waitFor(() => has(media.keyframe), 10_000, 'the keyframe on the player');
        assert.ok(has(media.videoHeader) && has(media.audioHeader), 'both sequence headers');
        assert.equal(raw.closed, false, 'the tiny-chunk publisher is still connected');
      } finally {
        player.close();
        raw.destroy();
      }
      await stillFlowing();
    });
  }

  test('Set Chunk Size 1, then 4 MB of an unfinished message: the server holds about its 2 MB of data, not a Buffer per byte', async () => {
    const raw = await rawSession({ connect: false });
    try {
      raw.sendControl(MessageType.SetChunkSize, encodeUint32Payload(1));
      raw.chunkSize = 1;
      const dataBytes = 2 * 1024 * 1024;
      // A type 0 chunk of a 8 MiB - 1 video message with its 1 data byte, then type 3 chunks
      // (0xc6: fmt 3, csid 6) of 1 byte each: 2 bytes on the wire per byte of data.
      const header = { csid: 6, timestamp: 0, typeId: MessageType.Video, streamId: 1 };
      const body = Buffer.alloc(2 * dataBytes - 1);
      for (let i = 1; i < body.length; i += 2) body[i] = 0xc6;
      const before = heldMemory();
      raw.write(type0Header({ ...header, length: 8 * 1024 * 1024 - 1 }));
      for (let off = 0; off < body.length && !raw.closed; off += 256 * 1024) {
        raw.write(body.subarray(off, off + 256 * 1024));
        await waitFor(() => raw.socket.writableLength === 0 || raw.closed, 10_000, 'a drain');
      }
      // connect on csid 3 (chunks interleave): its _result means the server read all of it.
      await raw.connect();
      const growth = heldMemory() - before;
      assert.ok(growth < 24 * 1024 * 1024, `the server grew by ${growth} bytes`);
      assert.equal(raw.closed, false, 'a bounded footprint: no reason to close it yet');
    } finally {
      raw.destroy();
    }
    await stillFlowing();
  });

  test('type 3 chunks after an extended timestamp are read with and without the repeated 4-byte field', async () => {
    const media = captured();
    const { raw, id } = await rawPublisher('extended');
    const base = 0x1a2b3c4d;
    const video = { csid: 6, typeId: MessageType.Video, streamId: id };
    raw.send({ ...video, timestamp: base, payload: media.videoHeader });
    raw.send({ csid: 4, typeId: MessageType.Audio, streamId: id, payload: media.audioHeader });
    // Without the repeated field (some encoders), by hand: fmt 0 + extended, then bare fmt 3 headers.
    const length = media.keyframe.length;
    const parts = [type0Header({ ...video, timestamp: base, length })];
    for (let offset = 0; offset < length; offset += 128) {
      if (offset > 0) parts.push(Buffer.from([0xc0 | 6]));
      parts.push(media.keyframe.subarray(offset, offset + 128));
    }
    raw.write(Buffer.concat(parts));
    // With it (FFmpeg, Flash): onair's encoder repeats it on every type 3 chunk.
    raw.send({ ...video, timestamp: base + 40, payload: media.keyframe });
    const { player, got } = await playerOf('live/extended');
    try {
      const keyframes = (): RtmpMessage[] => got.filter((m) => m.payload.equals(media.keyframe));
      await waitFor(() => keyframes().length >= 2, 10_000, 'both keyframes on the player');
      assert.deepEqual(
        keyframes().map((m) => m.timestamp),
        [base, base + 40],
      );
      assert.equal(raw.closed, false);
    } finally {
      player.close();
      raw.destroy();
    }
    await stillFlowing();
  });

  test('a message length of 0xFFFFFF with no data is closed at the header with ERR_RTMP_MESSAGE_TOO_LARGE', async () => {
    await closesFor('ERR_RTMP_MESSAGE_TOO_LARGE', (raw) => {
      const header = { csid: 6, timestamp: 0, typeId: MessageType.Video, streamId: 1 };
      raw.write(type0Header({ ...header, length: 0xffffff }));
    });
  });

  test('many chunk stream ids, each with a partial message, are closed with ERR_RTMP_TOO_MANY_CHUNK_STREAMS', async () => {
    await closesFor('ERR_RTMP_TOO_MANY_CHUNK_STREAMS', (raw) => {
      const header = {
        csid: 4,
        timestamp: 0,
        length: 1000,
        typeId: MessageType.Video,
        streamId: 1,
      };
      const fields = type0Header(header).subarray(1);
      const parts: Buffer[] = [];
      for (let csid = 4; csid < 4 + 70; csid++) {
        // csid < 64 uses the 1-byte basic header; above, the 2-byte form (fmt 0, csid 0 escape).
        const basic = csid < 64 ? Buffer.from([csid]) : Buffer.from([0x00, csid - 64]);
        // One whole 128-byte chunk of a 1000-byte message: the message stays partial.
        parts.push(basic, fields, Buffer.alloc(128));
      }
      raw.write(Buffer.concat(parts));
    });
  });

  test('partial messages beyond the buffered-bytes cap (32 MiB) are closed with ERR_RTMP_BUFFERED_BYTES', async () => {
    await closesFor('ERR_RTMP_BUFFERED_BYTES', async (raw) => {
      // Chunks of 7 MiB carrying messages of 7 MiB + 1000 bytes: each leaves its message partial.
      const partial = Buffer.alloc(7 * 1024 * 1024);
      const length = partial.length + 1000;
      raw.sendControl(MessageType.SetChunkSize, encodeUint32Payload(partial.length));
      for (let csid = 4; csid < 10 && !raw.closed; csid++) {
        raw.write(
          type0Header({ csid, timestamp: 0, length, typeId: MessageType.Video, streamId: 1 }),
        );
        raw.write(partial);
        await waitFor(() => raw.socket.writableLength === 0 || raw.closed, 10_000, 'a drain');
      }
    });
  });

  test('a fmt 1 chunk as the first on a new chunk stream is read as message stream 0 (as librtmp sends)', async () => {
    await staysUsable(async (raw) => {
      const payload = encodeAmf0(['createStream', 2, null]);
      const header = Buffer.alloc(8);
      header[0] = (1 << 6) | 9; // fmt 1, csid 9: timestamp delta, length, type; no stream id
      header.writeUIntBE(payload.length, 4, 3);
      header[7] = MessageType.CommandAmf0;
      raw.write(Buffer.concat([header, payload]));
      await raw.expectCommand((c) => c.name === '_result' && c.txn === 2, 'createStream _result');
    });
  });

  for (const fmt of [2, 3]) {
    test(`a fmt ${fmt} chunk as the first on a new chunk stream is closed with ERR_RTMP_CHUNK_HEADER`, async () => {
      await closesFor('ERR_RTMP_CHUNK_HEADER', (raw) => {
        raw.write(Buffer.concat([Buffer.from([(fmt << 6) | 9]), Buffer.alloc(30, 1)]));
      });
    });
  }

  test('commands on csid 64, 319, 320 and 65599 (2- and 3-byte basic headers) are decoded', async () => {
    const raw = await rawSession({ connect: false });
    try {
      const onCsid = (csid: number, values: Amf0Value[]): Buffer =>
        chunked({ csid, typeId: MessageType.CommandAmf0, payload: encodeAmf0(values) });
      // The basic-header forms, checked against RTMP 1.0 section 5.3.1.1 by hand.
      const expected: [number, number[]][] = [
        [64, [0x00, 0x00]],
        [319, [0x00, 0xff]],
        [320, [0x01, 0x00, 0x01]],
        [65599, [0x01, 0xff, 0xff]],
      ];
      for (const [csid, basic] of expected) {
        assert.deepEqual([...onCsid(csid, []).subarray(0, basic.length)], basic, `csid ${csid}`);
      }
      raw.write(onCsid(64, ['connect', 1, { app: 'live', tcUrl: 'rtmp://127.0.0.1/live' }]));
      await raw.expectCommand((c) => c.name === '_result' && c.txn === 1, 'connect on csid 64');
      let txn = 2;
      for (const csid of [319, 320, 65599]) {
        raw.write(onCsid(csid, ['createStream', txn, null]));
        await raw.expectCommand(
          (c) => c.name === '_result' && c.txn === txn,
          `createStream on csid ${csid}`,
        );
        txn++;
      }
    } finally {
      raw.destroy();
    }
    await stillFlowing();
  });

  test('unknown message types (0, 7, 0x20, 0xff) and an Abort for an unknown csid are ignored', async () => {
    await staysUsable((raw) => {
      for (const typeId of [0, 7, 0x20, 0xff]) {
        raw.send({ csid: 8, typeId, payload: Buffer.from('junk that means nothing') });
      }
      raw.sendControl(MessageType.Abort, encodeUint32Payload(999));
      raw.sendControl(MessageType.Abort, encodeUint32Payload(65599));
    });
  });

  test('a peer that sends pings and never reads the replies is closed as peer-not-reading', async () => {
    const mark = server.logs.length;
    const raw = await rawSession();
    raw.socket.pause();
    const payload = encodeUserControl(UserControlEvent.PingRequest, 1);
    const ping = chunked({ csid: 2, typeId: MessageType.UserControl, payload });
    const batch = Buffer.concat(Array.from({ length: 4096 }, () => ping));
    try {
      // The server runs in this process: yield after every batch so it can read.
      while (!raw.closed && raw.bytesWritten < 256 * 1024 * 1024) {
        if (server.logs.slice(mark).some((e) => e.reason === 'peer-not-reading')) break;
        raw.write(batch);
        await delay(raw.socket.writableLength > 1024 * 1024 ? 5 : 0);
      }
      await expectLogged(mark, 'peer-not-reading');
      raw.socket.resume();
      await raw.waitClosed();
    } finally {
      raw.destroy();
    }
    await stillFlowing();
  });
});

describe('AMF0 commands (section 3)', () => {
  const head = (): Buffer => encodeAmf0(['connect', 1]);
  const nested = (): Buffer => {
    const levels = Buffer.alloc(10_000 * 4);
    for (let i = 0; i < 10_000; i++) levels.set([0x00, 0x01, 0x61, 0x03], i * 4);
    return amf0Bytes(head(), [0x03], levels);
  };
  const malformed: [string, () => Buffer, string][] = [
    ['objects nested 10 000 deep', nested, 'ERR_AMF0_DEPTH'],
    [
      'a string length beyond the buffer',
      () => amf0Bytes(head(), [0x02, 0xff, 0xff, 0x61]),
      'ERR_AMF0_TRUNCATED',
    ],
    [
      'a long string length of 2^32-1',
      () => amf0Bytes(head(), [0x0c, 0xff, 0xff, 0xff, 0xff, 0x61]),
      'ERR_AMF0_TRUNCATED',
    ],
    [
      'a strict array count of 2^32-1',
      () => amf0Bytes(head(), [0x0a, 0xff, 0xff, 0xff, 0xff, 0x05, 0x05]),
      'ERR_AMF0_TOO_LARGE',
    ],
    [
      'an AVM+ switch to AMF3 (0x11)',
      () => amf0Bytes(head(), [0x11, 0x02]),
      'ERR_AMF0_UNSUPPORTED_TYPE',
    ],
    [
      'a reference marker (0x07)',
      () => amf0Bytes(head(), [0x07, 0x00, 0x00]),
      'ERR_AMF0_UNSUPPORTED_TYPE',
    ],
    [
      'a number where the command name goes',
      () => encodeAmf0([42, 1, null]),
      'ERR_AMF0_UNSUPPORTED_TYPE',
    ],
    [
      'a 1 MiB connect object (commands are capped at 64 KiB)',
      () =>
        encodeAmf0([
          'connect',
          1,
          { app: 'live', tcUrl: 'rtmp://127.0.0.1/live', pad: 'x'.repeat(1 << 20) },
        ]),
      'ERR_RTMP_MESSAGE_TOO_LARGE',
    ],
  ];
  for (const [what, payload, reason] of malformed) {
    test(`a command with ${what} is closed with ${reason}`, async () => {
      await closesFor(
        reason,
        (raw) => {
          raw.send({ typeId: MessageType.CommandAmf0, payload: payload() });
        },
        { connect: false },
      );
    });
  }

  test('known helper commands are answered and unknown ones ignored; the connection stays usable', async () => {
    await staysUsable(async (raw) => {
      raw.sendCommand(['releaseStream', 2, null, 'x']);
      raw.sendCommand(['FCPublish', 3, null, 'x']);
      raw.sendCommand(['_checkbw', 4, null]);
      raw.sendCommand(['noSuchCommand', 5, null, { nested: { deeper: [1, 2, 3] } }]);
      raw.sendCommand(['FCUnpublish', 0, null, 'x']);
      raw.sendCommand(['getStreamLength', 6, null, 'x']);
      for (const txn of [2, 3, 6]) {
        await raw.expectCommand((c) => c.name === '_result' && c.txn === txn, `_result ${txn}`);
      }
    });
  });

  test('createStream beyond 8 streams per connection is closed as too-many-streams', async () => {
    const raw = await closesFor('too-many-streams', (raw) => {
      for (let txn = 2; txn < 2 + 20; txn++) raw.sendCommand(['createStream', txn, null]);
    });
    const results = raw.commands.filter((c) => c.name === '_result' && c.txn >= 2);
    assert.deepEqual(
      results.map((c) => c.args[1]),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
  });

  test('onMetaData with odd values (1e308, NaN, strings) is advisory: the publisher stays up', async () => {
    const media = captured();
    const { raw, id } = await rawPublisher('odd-metadata');
    try {
      const metadata = encodeAmf0([
        '@setDataFrame',
        'onMetaData',
        { width: 1e308, height: NaN, framerate: 'fast', duration: -1 },
      ]);
      raw.send({ csid: 5, typeId: MessageType.DataAmf0, streamId: id, payload: metadata });
      raw.send({ csid: 6, typeId: MessageType.Video, streamId: id, payload: media.videoHeader });
      raw.send({ csid: 6, typeId: MessageType.Video, streamId: id, payload: media.keyframe });
      raw.sendCommand(['createStream', 3, null]);
      await raw.expectCommand(
        (c) => c.name === '_result' && c.txn === 3,
        'createStream after metadata',
      );
      await waitFor(
        () => server.onair.hub.get('live/odd-metadata')?.tracks.length === 1,
        5000,
        'the video track',
      );
    } finally {
      raw.destroy();
    }
    await stillFlowing();
  });
});

describe('stream names (section 5)', () => {
  const badNames: [string, Amf0Value][] = [
    ['../../etc/passwd', '../../etc/passwd'],
    ['%2e%2e/%2e%2e/etc/passwd (decoded once)', '%2e%2e/%2e%2e/etc/passwd'],
    ['a NUL byte', 'a\u0000b'],
    ['CR LF', 'a\r\nb'],
    ['300 characters', 'x'.repeat(300)],
    ['a number', 42],
    ['false', false],
    ['null', null],
  ];
  for (const [what, name] of badNames) {
    test(`publish with the name ${what} gets NetStream.Publish.BadName, then a close`, async () => {
      const paths = new Set([...server.onair.hub.streams()].map((s) => s.path));
      await closesFor('bad-name', async (raw) => {
        const id = await raw.createStream(2);
        raw.sendCommand(['publish', 0, null, name, 'live'], id);
        await raw.expectStatus('NetStream.Publish.BadName');
      });
      const created = [...server.onair.hub.streams()].filter((s) => !paths.has(s.path));
      assert.deepEqual(created, [], 'no stream state was created');
    });
  }

  test('publish with no name at all gets NetStream.Publish.BadName, then a close', async () => {
    await closesFor('bad-name', async (raw) => {
      const id = await raw.createStream(2);
      raw.sendCommand(['publish', 0, null], id);
      await raw.expectStatus('NetStream.Publish.BadName');
    });
  });

  test('a good publish sent right behind a refused one (same write) is not served', async () => {
    const mark = server.logs.length;
    const raw = await closesFor('bad-name', async (raw) => {
      const streamId = await raw.createStream(2);
      const publish = (name: string): Buffer =>
        chunked({
          typeId: MessageType.CommandAmf0,
          streamId,
          payload: encodeAmf0(['publish', 0, null, name, 'live']),
        });
      raw.write(Buffer.concat([publish('../x'), publish('sneaky')]));
      await raw.expectStatus('NetStream.Publish.BadName');
    });
    const started = raw.commands.filter((c) => statusInfo(c)?.code === 'NetStream.Publish.Start');
    assert.deepEqual(started, [], 'no Publish.Start was sent');
    const published = server.logs.slice(mark).filter((e) => e.stream === 'live/sneaky');
    assert.deepEqual(published, [], 'the connection being closed took no second publish');
  });

  test('play with a traversal name gets NetStream.Play.StreamNotFound and creates no stream', async () => {
    await closesFor('bad-name', async (raw) => {
      const id = await raw.createStream(2);
      raw.sendCommand(['play', 0, null, '../../etc/passwd'], id);
      await raw.expectStatus('NetStream.Play.StreamNotFound');
    });
    assert.equal(server.onair.hub.get('etc/passwd'), undefined);
  });
});

describe('a viewer that never reads (section 2, output buffer cap)', () => {
  test('is closed as too-slow while 5 MB+ flows; RSS stays bounded and the good viewer keeps receiving', async () => {
    const media = captured();
    const small = await startServer({
      hub: { viewer: { maxQueueBytes: 200_000, maxQueueDurationMs: 2000, maxBehindMs: 3000 } },
    });
    let goodFrames = 0;
    const rssBefore = process.memoryUsage().rss;
    const source = await RtmpClient.connect(small.rtmpUrl('live/flood'));
    const good = await RtmpClient.connect(small.rtmpUrl('live/flood'), {
      onMedia: (message) => {
        if (message.typeId === MessageType.Video) goodFrames++;
      },
    });
    const stalled = await RawRtmp.open(small.rtmpPort);
    const flood = await startFlood(source, media, 100_000);
    try {
      const mark = small.logs.length;
      await good.play();
      await stalled.handshake();
      await stalled.connect();
      const id = await stalled.createStream(2);
      stalled.sendCommand(['play', 0, null, 'flood'], id);
      await stalled.expectStatus('NetStream.Play.Start');
      stalled.socket.pause();
      await waitFor(
        () =>
          flood.sentBytes() > 5_000_000 &&
          small.logs.slice(mark).some((e) => e.reason === 'too-slow'),
        30_000,
        'the stalled viewer to be closed as too-slow after 5 MB',
      );
      const before = goodFrames;
      await waitFor(() => goodFrames >= before + 10, 10_000, 'frames on the good viewer');
      assert.equal(good.closeInfo, null);
      const growth = flood.rssMaxBytes() - rssBefore;
      assert.ok(growth < 200 * 1024 * 1024, `RSS grew by ${growth} bytes`);
      stalled.socket.resume();
      await stalled.waitClosed();
    } finally {
      await flood.stop();
      stalled.destroy();
      good.close();
      source.close();
      await small.stop();
    }
    await stillFlowing();
  });
});
