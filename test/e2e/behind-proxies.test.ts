// onair behind nginx (deploy/nginx/onair.conf) with server.trustedProxies, seen from a client
// on another host (a network namespace with its own address): the client's address is the one
// that counts for sessions and for loopback trust, and a forged X-Forwarded-For changes nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { startServer, type TestServer } from '../support/server.ts';
import {
  publishTestPattern,
  stopProcess,
  waitFor,
  type Publisher,
} from '../support/media-tools.ts';
import { makeClientHost, type ClientHost } from '../support/netns.ts';
import { startNginxProxy, type Nginx } from '../support/nginx.ts';
import { freePort } from '../support/ports.ts';

let server: TestServer;
let publisher: Publisher;
let host: ClientHost;
let nginx: Nginx;

before(async () => {
  server = await startServer({ server: { trustedProxies: '127.0.0.1' } });
  publisher = publishTestPattern(server.rtmpUrl('live/cam'), { seconds: 120 });
  await waitFor(() => server.onair.hub.get('live/cam')?.tracks.length === 2, 15_000, 'the publish');
  host = await makeClientHost();
  nginx = await startNginxProxy({
    host: host.hostAddress,
    port: await freePort(host.hostAddress),
    onairHttpPort: server.httpPort,
  });
});

after(async () => {
  await nginx.stop();
  await host.destroy();
  await publisher.stop();
  await server.stop();
});

/** Runs a small Node script on the client host; resolves with what it printed. */
async function onClient(script: string): Promise<string> {
  const child = host.spawn(process.execPath, ['-e', script]);
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await new Promise((resolve) => child.on('exit', resolve));
  return out.trim();
}

/** The status of GET `path` through nginx from the client host, with extra headers. */
function statusScript(path: string, headers: Record<string, string> = {}): string {
  const url = `http://${host.hostAddress}:${nginx.port}${path}`;
  return `fetch(${JSON.stringify(url)}, { headers: ${JSON.stringify(headers)} })
    .then((r) => console.log(r.status), (e) => console.log('error', e.message));`;
}

describe('behind nginx, with server.trustedProxies', () => {
  test('an HTTP-FLV viewer on another host is a session with its own address', async () => {
    const url = `http://${host.hostAddress}:${nginx.port}/live/cam.flv`;
    const viewer: ChildProcess = host.spawn(process.execPath, [
      '-e',
      `require('http').get(${JSON.stringify(url)}, (r) => r.resume());`,
    ]);
    try {
      await waitFor(
        () => server.onair.sessions.list().some((s) => s.ip === host.clientAddress),
        15_000,
        `a session from ${host.clientAddress}`,
      );
      const session = server.onair.sessions.list().find((s) => s.ip === host.clientAddress);
      assert.equal(session?.protocol, 'http-flv');
    } finally {
      await stopProcess(viewer);
    }
  });

  test('an LL-HLS viewer on another host is an HLS session with its own address', async () => {
    assert.equal(await onClient(statusScript('/live/cam.m3u8')), '200');
    const session = server.onair.sessions
      .list()
      .find((s) => s.protocol === 'hls' && s.ip === host.clientAddress);
    assert.ok(session, `an HLS session from ${host.clientAddress}`);
  });

  test('loopback trust does not reach through the proxy: the admin API and /metrics refuse the remote client', async () => {
    // From this machine, the API answers (401 without a token) and /metrics is open...
    assert.equal((await fetch(server.httpUrl('api/v1/streams'))).status, 401);
    assert.equal((await fetch(server.httpUrl('metrics'))).status, 200);
    // ...but through nginx the client is 10.203.x.2, not in api.allowFrom.
    assert.equal(await onClient(statusScript('/api/v1/streams')), '403');
    assert.equal(await onClient(statusScript('/metrics')), '401');
  });

  test('a client forging X-Forwarded-For: 127.0.0.1 is still its own address', async () => {
    assert.equal(
      await onClient(statusScript('/metrics', { 'X-Forwarded-For': '127.0.0.1' })),
      '401',
    );
    assert.equal(
      await onClient(statusScript('/api/v1/streams', { Forwarded: 'for=127.0.0.1' })),
      '403',
    );
  });
});
