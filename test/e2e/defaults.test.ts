// The defaults as a new user meets them: an office behind one NAT address is many viewers (no
// per-address cap on viewers and connections), and the very first LL-HLS playlist of a stream
// hints its next part like every later one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { livePublisher } from '../support/access-helpers.ts';
import { waitFor, type Publisher } from '../support/media-tools.ts';
import { rawTo, type RawHttp } from '../support/raw-http.ts';
import { RawRtmp } from '../support/raw-rtmp.ts';

let server: TestServer;
let publisher: Publisher;

before(async () => {
  server = await startServer();
  publisher = await livePublisher(server, 'live/allhands');
});

after(async () => {
  await publisher.stop();
  await server.stop();
});

describe('default limits', () => {
  test('250 HTTP-FLV viewers and 250 RTMP connections from one address are all let in', async () => {
    const viewers: RawHttp[] = [];
    const rtmp: RawRtmp[] = [];
    try {
      for (let i = 0; i < 250; i++) {
        const raw = await rawTo(server.httpPort);
        raw.socket.write('GET /live/allhands.flv HTTP/1.1\r\nHost: x\r\n\r\n');
        viewers.push(raw);
      }
      await waitFor(
        () => viewers.every((raw) => raw.text().startsWith('HTTP/1.1 ')),
        30_000,
        'an answer to every viewer',
      );
      const refused = viewers.filter((raw) => !raw.text().startsWith('HTTP/1.1 200 '));
      assert.equal(refused.length, 0, refused[0]?.text().slice(0, 80));
      for (let i = 0; i < 250; i++) rtmp.push(await RawRtmp.open(server.rtmpPort));
      await Promise.all(rtmp.map((raw) => raw.handshake()));
      assert.ok(
        rtmp.every((raw) => !raw.closed),
        'every RTMP connection is open',
      );
    } finally {
      for (const raw of viewers) raw.socket.destroy();
      for (const raw of rtmp) raw.destroy();
    }
  });
});

describe('LL-HLS', () => {
  test('the first playlist of a fresh stream carries EXT-X-PRELOAD-HINT', async () => {
    assert.equal(server.onair.hub.get('live/allhands')?.publisher != null, true);
    const res = await fetch(server.httpUrl('live/allhands.m3u8'));
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /#EXTINF:/, 'a complete segment');
    assert.match(text, /^#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[^"]+"$/m);
  });
});
