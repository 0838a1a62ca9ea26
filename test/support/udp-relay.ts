// Test helper: a UDP relay between clients (an SRT caller, WebRTC clients) and a server's UDP
// port that drops datagrams by a deterministic pattern: a lossy network, made on loopback
// because netem is not available here. Each client address gets its own socket towards the
// target (at most MAX_CLIENTS), as a NAT would give it. Socket errors are listened to and never
// crash the test process.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

/** Client endpoints the relay keeps a socket for; datagrams of more clients are not relayed. */
export const MAX_CLIENTS = 64;

/** Which way a datagram goes: from a client to the target, or back. */
export type RelayDirection = 'to-target' | 'to-client';

/** Decides whether a packet from the target to a client is dropped (see setDrop). */
export type DropRule = (packet: Buffer) => boolean;

/** How a relay is started. */
export interface UdpRelayOptions {
  /** Where datagrams from clients go (IPv4). */
  readonly target: { readonly host: string; readonly port: number };
  /**
   * Drops every Nth datagram from clients to the target (the 20th, 40th... for 20: 5 % loss).
   * Default: none.
   */
  readonly dropEvery?: number;
  /** Drops the first N datagrams from clients to the target. Default: none. */
  readonly dropFirst?: number;
  /**
   * Drops what it returns true for, in either direction; `index` counts the datagrams of that
   * direction (all clients), from 0. Called for every datagram, on top of dropEvery and
   * dropFirst.
   */
  readonly dropPattern?: (index: number, direction: RelayDirection) => boolean;
}

/** Datagrams relayed and dropped, both directions together. */
export interface UdpRelayStats {
  forwarded: number;
  dropped: number;
}

/** See the file comment. */
export interface UdpRelay {
  /** The port clients send to on 127.0.0.1. */
  readonly port: number;
  readonly stats: Readonly<UdpRelayStats>;
  /** Datagrams dropped so far (`stats.dropped`). */
  readonly dropped: number;
  /** Also drops the target's datagrams to clients this rule picks (replaces the last rule). */
  setDrop(rule: DropRule): void;
  /** Closes every socket; idempotent. */
  close(): Promise<void>;
}

/** The RTP payload type of `packet`, or null when it is not RTP (STUN, DTLS, RTCP). */
export function rtpPayloadType(packet: Buffer): number | null {
  if (packet.length < 12 || (packet[0] ?? 0) >> 6 !== 2) return null;
  const pt = (packet[1] ?? 0) & 0x7f;
  return pt >= 64 && pt <= 95 ? null : pt; // 64-95: RTCP's range once the marker bit is off
}

/** True for an RTP packet with the marker bit (the last packet of a video frame). */
export function rtpMarker(packet: Buffer): boolean {
  return ((packet[1] ?? 0) & 0x80) !== 0;
}

/**
 * Starts a relay on 127.0.0.1 (an ephemeral port) towards `options.target`, or towards
 * `serverPort` on 127.0.0.1 dropping nothing until setDrop() says so.
 */
export async function startUdpRelay(options: UdpRelayOptions | number): Promise<UdpRelay> {
  const settings: UdpRelayOptions =
    typeof options === 'number' ? { target: { host: '127.0.0.1', port: options } } : options;
  const { host, port: targetPort } = settings.target;
  const dropEvery = settings.dropEvery ?? 0;
  const dropFirst = settings.dropFirst ?? 0;
  const stats: UdpRelayStats = { forwarded: 0, dropped: 0 };
  const counts: Record<RelayDirection, number> = { 'to-target': 0, 'to-client': 0 };
  let rule: DropRule = () => false;
  let closed = false;
  const front = createSocket('udp4');
  const backs = new Map<string, Socket>();
  front.on('error', () => undefined);

  /** Counts the datagram and says whether it is dropped. */
  const drops = (direction: RelayDirection, packet: Buffer): boolean => {
    const index = counts[direction]++;
    // The pattern sees every datagram, also those dropped anyway.
    const byPattern = settings.dropPattern?.(index, direction) === true;
    const dropped =
      byPattern ||
      (direction === 'to-target'
        ? index < dropFirst || (dropEvery > 0 && (index + 1) % dropEvery === 0)
        : rule(packet));
    if (dropped) stats.dropped++;
    else stats.forwarded++;
    return dropped;
  };
  const send = (socket: Socket, packet: Buffer, port: number, address: string): void => {
    if (closed) return;
    try {
      socket.send(packet, port, address, () => undefined);
    } catch {
      // A socket closed under a datagram in flight: nothing to relay to.
    }
  };
  const backFor = (client: RemoteInfo): Socket | null => {
    const key = `${client.address}:${client.port}`;
    const known = backs.get(key);
    if (known !== undefined) return known;
    if (backs.size >= MAX_CLIENTS) return null;
    const back = createSocket('udp4');
    back.on('error', () => undefined);
    back.on('message', (packet) => {
      if (!drops('to-client', packet)) send(front, packet, client.port, client.address);
    });
    back.bind(0, '127.0.0.1');
    backs.set(key, back);
    return back;
  };
  front.on('message', (packet, client) => {
    if (closed) return;
    const back = backFor(client);
    if (back !== null && !drops('to-target', packet)) send(back, packet, targetPort, host);
  });
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.bind(0, '127.0.0.1', () => {
      front.off('error', reject);
      resolve();
    });
  });
  let closing: Promise<void> | undefined;
  return {
    port: front.address().port,
    stats,
    get dropped() {
      return stats.dropped;
    },
    setDrop(next) {
      rule = next;
    },
    close() {
      closed = true;
      closing ??= Promise.all(
        [front, ...backs.values()].map(
          (socket) =>
            new Promise<void>((resolve) => {
              try {
                socket.close(() => {
                  resolve();
                });
              } catch {
                resolve(); // already closed
              }
            }),
        ),
      ).then(() => {
        backs.clear();
      });
      return closing;
    },
  };
}
