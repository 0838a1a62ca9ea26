// End to end: ICE over TCP (webrtc.tcpPort) and webrtc.additionalHosts. Chromium plays a WHEP
// stream with the answer's UDP candidates taken out, so only the passive TCP candidate can
// connect (through the RFC 4571 bridge to libdatachannel's UDP port); the extra addresses are
// in the answer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startServer, type TestServer } from '../support/server.ts';
import { publishTestPattern, run, waitFor, type Publisher } from '../support/media-tools.ts';
import { waitForPage, withChromiumPage } from '../support/chromium.ts';
import { freePort } from '../support/ports.ts';
import { whepClientScript } from '../support/whep-page.ts';

/** In the page: frames decoded so far and the protocols of the selected candidate pair. */
const STATS = `(async () => {
  const stats = await window.whep.pc.getStats();
  let framesDecoded = 0, pair = null, transport = null;
  for (const report of stats.values()) {
    if (report.type === 'inbound-rtp' && report.kind === 'video') framesDecoded = report.framesDecoded ?? 0;
    if (report.type === 'transport') transport = report;
  }
  if (transport && transport.selectedCandidatePairId) pair = stats.get(transport.selectedCandidatePairId);
  const local = pair ? stats.get(pair.localCandidateId) : null;
  const remote = pair ? stats.get(pair.remoteCandidateId) : null;
  return { framesDecoded, local: local ? local.protocol : null, remote: remote ? remote.protocol : null, remoteTcpType: remote ? remote.tcpType ?? null : null };
})()`;

interface Stats {
  framesDecoded: number;
  local: string | null;
  remote: string | null;
  remoteTcpType: string | null;
}

void describe('ICE over TCP and webrtc.additionalHosts', () => {
  let server: TestServer;
  let publisher: Publisher;
  let tcpPort: number;

  before(async () => {
    tcpPort = await freePort();
    server = await startServer({ webrtc: { tcpPort, additionalHosts: '203.0.113.7' } });
    publisher = publishTestPattern(server.rtmpUrl('live/tcp'), { gop: 25, size: '320x240' });
    await waitFor(() => server.onair.hub.get('live/tcp')?.tracks.length === 2, 15_000, 'tracks');
  });

  after(async () => {
    await publisher.stop();
    await server.stop();
  });

  test('the WHEP answer announces additionalHosts on UDP and TCP, and a passive TCP host candidate', async () => {
    const offer = await withChromiumPage(async (page) => {
      await page.goto(server.httpUrl(''));
      return page.evaluate<string>(`(async () => {
        const pc = new RTCPeerConnection();
        pc.addTransceiver('video', { direction: 'recvonly' });
        await pc.setLocalDescription(await pc.createOffer());
        return pc.localDescription.sdp;
      })()`);
    });
    const response = await fetch(server.httpUrl('live/tcp/whep'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: offer,
    });
    assert.equal(response.status, 201);
    const answer = await response.text();
    const candidates = answer.split('\r\n').filter((line) => line.startsWith('a=candidate:'));
    const fields = candidates.map((line) => line.split(' '));
    const has = (protocol: string, address: string, port: number) =>
      fields.some(
        (f) => f[2]?.toLowerCase() === protocol && f[4] === address && f[5] === String(port),
      );
    const udpPort = server.onair.config.webrtc.udpPort;
    assert.ok(has('udp', '203.0.113.7', udpPort), candidates.join('\n'));
    assert.ok(has('tcp', '203.0.113.7', tcpPort), candidates.join('\n'));
    assert.ok(has('tcp', '127.0.0.1', tcpPort), candidates.join('\n'));
    assert.ok(
      candidates
        .filter((c) => / tcp /i.test(c))
        .every((c) => c.endsWith('typ host tcptype passive')),
    );
    const resource = response.headers.get('Location');
    if (resource) await fetch(server.httpUrl(resource.slice(1)), { method: 'DELETE' });
  });

  test('Chromium plays over ICE-TCP alone when the answer has no UDP candidate', async () => {
    await withChromiumPage(async (page, problems) => {
      await page.goto(server.httpUrl(''));
      // The answer keeps only its TCP candidates.
      const editAnswer = String.raw`answer.split('\r\n').filter((line) => !/^a=candidate:\S+ \d+ udp /i.test(line)).join('\r\n')`;
      await page.evaluate(whepClientScript('/live/tcp/whep', { editAnswer }));
      await waitForPage(page, 'window.whep.status !== 0 || window.whep.error !== null', 15_000);
      const whep = await page.evaluate<{
        status: number;
        error: string | null;
        answer: string | null;
      }>('({ status: window.whep.status, error: window.whep.error, answer: window.whep.answer })');
      assert.equal(whep.status, 201, whep.error ?? '');
      assert.doesNotMatch(whep.answer ?? '', /a=candidate:\S+ \d+ udp /i, 'UDP taken out');
      const read = () => page.evaluate<Stats>(STATS);
      const deadline = Date.now() + 30_000;
      let first: Stats | null = null;
      let stats = await read();
      // Frames decode, and keep decoding.
      while (first === null || stats.framesDecoded < first.framesDecoded + 25) {
        if (Date.now() > deadline) assert.fail(`no video over TCP: ${JSON.stringify(stats)}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        stats = await read();
        if (first === null && stats.framesDecoded > 0) first = stats;
      }
      assert.equal(stats.local, 'tcp', JSON.stringify(stats));
      assert.equal(stats.remote, 'tcp', JSON.stringify(stats));
      assert.equal(server.onair.webrtcTcpConnections(), 1, 'one bridged connection');
      const metrics = await (await fetch(server.httpUrl('metrics'))).text();
      assert.match(metrics, /^onair_webrtc_ice_tcp_connections 1$/m);
      assert.deepEqual(problems.exceptions, []);
    });
    await waitFor(() => server.onair.webrtcTcpConnections() === 0, 10_000, 'the bridge to close');
  });

  test('a hostile ICE-TCP client (oversize frame) is closed and the server keeps serving', async () => {
    const socket = connect(tcpPort, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const closed = new Promise<void>((resolve) =>
      socket.once('close', () => {
        resolve();
      }),
    );
    socket.write(Buffer.from([0xff, 0xff, 1, 2, 3]));
    await closed;
    assert.equal(server.onair.hub.get('live/tcp')?.publisher !== null, true);
    assert.equal((await fetch(server.httpUrl('live/tcp/whep'))).status, 405, 'HTTP still answers');
  });
});

test('a bad webrtc.additionalHosts entry is named with its key and onair exits 2', async () => {
  const bin = new URL('../../bin/onair.js', import.meta.url).pathname;
  const result = await run(
    process.execPath,
    [bin, '--set', 'webrtc.additionalHosts=203.0.113.7,not_a host'],
    { timeoutMs: 20_000 },
  );
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /webrtc\.additionalHosts/);
  assert.match(result.stderr, /not_a host/);
});
