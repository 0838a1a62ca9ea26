// Tests of the UDP relay helper with two plain dgram sockets: what arrives, what is dropped,
// that replies come back, that close() frees the ports.
import { createSocket, type Socket } from 'node:dgram';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_CLIENTS, startUdpRelay, type RelayDirection, type UdpRelay } from './udp-relay.ts';

/** A socket bound on 127.0.0.1 that keeps what it receives (as text) and where from. */
async function endpoint(): Promise<{
  socket: Socket;
  port: number;
  got: { text: string; port: number }[];
}> {
  const socket = createSocket('udp4');
  const got: { text: string; port: number }[] = [];
  socket.on('message', (packet, from) => {
    got.push({ text: packet.toString(), port: from.port });
  });
  await new Promise<void>((resolve) => {
    socket.bind(0, '127.0.0.1', resolve);
  });
  return { socket, port: socket.address().port, got };
}

/** A target that answers every datagram with `re:` and the datagram. */
async function echoTarget(): Promise<Awaited<ReturnType<typeof endpoint>>> {
  const target = await endpoint();
  target.socket.on('message', (packet, from) => {
    target.socket.send(`re:${packet.toString()}`, from.port, from.address);
  });
  return target;
}

const closeSocket = (socket: Socket): Promise<void> =>
  new Promise((resolve) => {
    socket.close(() => {
      resolve();
    });
  });

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const until = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 100));

/** Sends `count` datagrams `0`..`count-1` to the relay, one at a time. */
async function sendAll(client: Socket, relay: UdpRelay, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve) => {
      client.send(String(i), relay.port, '127.0.0.1', () => {
        resolve();
      });
    });
    // Loopback keeps order, but give the relay a turn so that indexes match send order.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test('startUdpRelay forwards both ways and drops every Nth datagram to the target', async () => {
  const target = await echoTarget();
  const client = await endpoint();
  const relay = await startUdpRelay({
    target: { host: '127.0.0.1', port: target.port },
    dropEvery: 4,
  });
  try {
    await sendAll(client.socket, relay, 10);
    const want = ['0', '1', '2', '4', '5', '6', '8', '9']; // the 4th and 8th dropped
    await waitFor(() => client.got.length === want.length, 'the replies');
    await settle();
    assert.deepEqual(
      target.got.map((g) => g.text),
      want,
    );
    assert.deepEqual(
      client.got.map((g) => g.text),
      want.map((t) => `re:${t}`),
    );
    // The replies come from the relay's port; the target sees one upstream port.
    assert.ok(client.got.every((g) => g.port === relay.port));
    assert.equal(new Set(target.got.map((g) => g.port)).size, 1);
    assert.notEqual(target.got[0]?.port, relay.port);
    assert.deepEqual({ ...relay.stats }, { forwarded: 16, dropped: 2 });
    assert.equal(relay.dropped, 2);
  } finally {
    await relay.close();
    await closeSocket(target.socket);
    await closeSocket(client.socket);
  }
});

test('startUdpRelay: dropFirst and dropPattern', async () => {
  const target = await echoTarget();
  const client = await endpoint();
  const seen: [number, RelayDirection][] = [];
  const relay = await startUdpRelay({
    target: { host: '127.0.0.1', port: target.port },
    dropFirst: 2,
    dropPattern: (index, direction) => {
      seen.push([index, direction]);
      return direction === 'to-client' && index === 0;
    },
  });
  try {
    await sendAll(client.socket, relay, 5);
    await waitFor(() => client.got.length === 2, 'the replies');
    await settle();
    assert.deepEqual(
      target.got.map((g) => g.text),
      ['2', '3', '4'],
    );
    // The first reply (to `2`) was dropped on the way back.
    assert.deepEqual(
      client.got.map((g) => g.text),
      ['re:3', 're:4'],
    );
    assert.deepEqual({ ...relay.stats }, { forwarded: 5, dropped: 3 });
    assert.deepEqual(
      seen.filter(([, d]) => d === 'to-target').map(([i]) => i),
      [0, 1, 2, 3, 4],
    );
    assert.deepEqual(
      seen.filter(([, d]) => d === 'to-client').map(([i]) => i),
      [0, 1, 2],
    );
  } finally {
    await relay.close();
    await closeSocket(target.socket);
    await closeSocket(client.socket);
  }
});

test('startUdpRelay keeps one upstream socket per client: replies go to the right one', async () => {
  const target = await echoTarget();
  const a = await endpoint();
  const b = await endpoint();
  const relay = await startUdpRelay({ target: { host: '127.0.0.1', port: target.port } });
  try {
    a.socket.send('from-a', relay.port, '127.0.0.1');
    b.socket.send('from-b', relay.port, '127.0.0.1');
    await waitFor(() => a.got.length === 1 && b.got.length === 1, 'both replies');
    await settle();
    assert.deepEqual(
      a.got.map((g) => g.text),
      ['re:from-a'],
    );
    assert.deepEqual(
      b.got.map((g) => g.text),
      ['re:from-b'],
    );
    assert.equal(new Set(target.got.map((g) => g.port)).size, 2);
  } finally {
    await relay.close();
    await closeSocket(target.socket);
    await closeSocket(a.socket);
    await closeSocket(b.socket);
  }
});

test('startUdpRelay relays for at most MAX_CLIENTS client endpoints', async () => {
  const target = await echoTarget();
  const relay = await startUdpRelay({ target: { host: '127.0.0.1', port: target.port } });
  const clients = await Promise.all(Array.from({ length: MAX_CLIENTS + 1 }, () => endpoint()));
  try {
    for (const [i, client] of clients.entries()) {
      client.socket.send(String(i), relay.port, '127.0.0.1');
      await waitFor(() => i === MAX_CLIENTS || client.got.length === 1, `reply ${i}`);
    }
    await settle();
    assert.equal(target.got.length, MAX_CLIENTS);
    assert.deepEqual(clients[MAX_CLIENTS]?.got, [], 'the client past the cap is not relayed');
  } finally {
    await relay.close();
    await closeSocket(target.socket);
    await Promise.all(clients.map((c) => closeSocket(c.socket)));
  }
});

test('startUdpRelay(port) with setDrop drops what the target sends back', async () => {
  const target = await echoTarget();
  const client = await endpoint();
  const relay = await startUdpRelay(target.port);
  relay.setDrop((packet) => packet.toString() === 're:1');
  try {
    await sendAll(client.socket, relay, 3);
    await waitFor(() => client.got.length === 2, 'the replies');
    await settle();
    assert.deepEqual(
      client.got.map((g) => g.text),
      ['re:0', 're:2'],
    );
    assert.equal(relay.dropped, 1);
  } finally {
    await relay.close();
    await closeSocket(target.socket);
    await closeSocket(client.socket);
  }
});

test('startUdpRelay: close() frees its ports; no target is no crash', async () => {
  const target = await endpoint();
  const client = await endpoint();
  const relay = await startUdpRelay({ target: { host: '127.0.0.1', port: target.port } });
  client.socket.send('x', relay.port, '127.0.0.1');
  await waitFor(() => target.got.length === 1, 'the datagram');
  const upstream = target.got[0]!.port;
  // Nothing listens there any more: sends go nowhere (ICMP unreachable is ignored).
  await closeSocket(target.socket);
  await sendAll(client.socket, relay, 3);
  await settle();
  assert.equal(relay.stats.forwarded, 4);
  await relay.close();
  await relay.close(); // idempotent
  // Both the front port and the upstream port can be bound again.
  for (const port of [relay.port, upstream]) {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', resolve);
    });
    await closeSocket(socket);
  }
  // Datagrams to a closed relay change nothing.
  client.socket.send('late', relay.port, '127.0.0.1');
  await settle();
  assert.equal(relay.stats.forwarded, 4);
  await closeSocket(client.socket);
});
