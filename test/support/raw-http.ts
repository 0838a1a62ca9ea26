// A raw TCP client of an HTTP port, for hostile requests no HTTP library would send.
import { connect, type Socket } from 'node:net';

/** The headers of a well-formed WebSocket upgrade (after the request line and Host). */
export const UPGRADE_HEAD =
  'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

/** A connection that keeps what the server sends (as latin1 text) and whether it closed. */
export interface RawHttp {
  readonly socket: Socket;
  text(): string;
  closed(): boolean;
}

/** Opens a connection to 127.0.0.1:`port` and waits until it is established. */
export async function rawTo(port: number): Promise<RawHttp> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  socket.on('data', (bytes: Buffer) => {
    // What a test needs is the head of each answer; media bodies are not kept whole.
    if (text.length < 1 << 20) text += bytes.toString('latin1');
  });
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, text: () => text, closed: () => closed };
}
