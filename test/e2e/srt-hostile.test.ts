// HOSTILE-INPUTS section 10 at the SRT port, with a caller made of UDP datagrams (what ffmpeg
// would never send): bad streamids refused in the handshake with a reason and nothing kept for
// them, a handshake flood from one address cut by the rate limit, a publisher that connects and
// sends nothing closed by the idle timeout; an ffmpeg publisher on the same port flows throughout.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { srtCaller } from '../support/srt-caller.ts';

/** SRT_REJX_BAD_REQUEST and SRT_REJX_OVERLOAD (srt/access_control.h). */
const BAD_REQUEST = 1400;
const OVERLOAD = 1402;
const HANDSHAKES_PER_10S = 12;

describe('SRT against hostile callers', () => {
  let server: TestServer;
  let publisher: Publisher;

  before(async () => {
    server = await startServer({
      srt: { idleTimeoutMs: 1000, handshakesPerIpPer10s: HANDSHAKES_PER_10S },
    });
    assert.notEqual(server.srtPort, null, 'SRT is on (the onair-srt addon is built)');
    publisher = publishTestPattern(server.srtUrl('publish:live/steady'), { format: 'mpegts' });
    await waitFor(
      () => server.onair.hub.get('live/steady')?.tracks.length === 2,
      15_000,
      'live/steady to have its two tracks',
    );
  });

  after(async () => {
    await publisher.stop();
    await server.stop();
  });

  test('bad streamids are refused in the handshake, with a reason, nothing kept for them', async () => {
    const caller = await srtCaller(server.srtPort ?? 0);
    try {
      // (A NUL is not among them: libsrt reads the streamid up to its first NUL, the padding of
      // the handshake extension, so what follows one never reaches onair.)
      const bad: (string | Buffer)[] = [
        'publish:live/a\u0001b', // a control character
        '#!::r=live/a,m=publish,q=1', // an unknown key
        '#!::r=live/a,m=bidirectional', // a mode onair does not serve
        '#!::m=publish', // no resource
        'publish:live/../a', // a path with ..
        '', // nothing
      ];
      for (const streamId of bad) {
        const result = await caller.handshake(streamId);
        assert.equal(result.accepted, false, `${JSON.stringify(String(streamId))} is refused`);
        assert.equal(result.reject, BAD_REQUEST, `${JSON.stringify(String(streamId))}: 1400`);
      }
      // Over 512 bytes: libsrt refuses it itself, before asking onair.
      const long = await caller.handshake(`publish:live/${'a'.repeat(500)}`);
      assert.equal(long.accepted, false, 'a streamid over 512 bytes is refused');
    } finally {
      await caller.close();
    }
    const refusals = server.logs.filter((entry) => entry.msg === 'SRT refused');
    assert.ok(refusals.length >= 6, 'every refusal is logged');
    assert.ok(
      refusals.every((entry) => typeof entry.reason === 'string' && entry.reason !== ''),
      'with its reason',
    );
    assert.equal(
      server.onair.sessions.list().filter((s) => s.protocol === 'srt').length,
      1,
      'only the steady publisher has a session',
    );
  });

  test('a publisher that connects and sends nothing is closed after srt.idleTimeoutMs', async () => {
    const caller = await srtCaller(server.srtPort ?? 0);
    try {
      const result = await caller.handshake('publish:live/silent');
      assert.equal(result.accepted, true, `accepted: ${String(result.reject)}`);
      await waitFor(
        () => server.onair.sessions.list().some((s) => s.path === 'live/silent'),
        5000,
        'the silent publisher to have a session',
      );
      await waitFor(
        () => !server.onair.sessions.list().some((s) => s.path === 'live/silent'),
        5000,
        'the silent publisher to be closed',
      );
      const ended = server.logs.find(
        (entry) => entry.msg === 'SRT publish ended' && entry.stream === 'live/silent',
      );
      assert.equal(ended?.reason, 'idle-timeout');
    } finally {
      await caller.close();
    }
  });
  test('a handshake flood from one address is cut by the rate limit; the publisher flows', async () => {
    const caller = await srtCaller(server.srtPort ?? 0);
    const results: (number | null)[] = [];
    try {
      // The tests before spent some of this address's window: ask until refused.
      for (let i = 0; i < HANDSHAKES_PER_10S + 2; i++) {
        const result = await caller.handshake(`read:live/flood-${i}`);
        results.push(result.reject);
        if (result.reject === OVERLOAD) break;
      }
    } finally {
      await caller.close();
    }
    assert.equal(results.at(-1), OVERLOAD, `refused once over the limit: ${results.join(',')}`);
    assert.ok(results.length <= HANDSHAKES_PER_10S + 1, 'no more than the limit were let in');
    const steady = server.onair.hub.get('live/steady');
    assert.notEqual(steady?.publisher ?? null, null, 'the steady publisher is still on');
  });
});
