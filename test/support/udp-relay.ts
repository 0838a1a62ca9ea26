// Test helper: a UDP relay between WebRTC clients and a server's UDP port that can drop what the
// server sends (the chosen packets, by their clear RTP header): a lossy network, made on
// loopback because netem is not available here. Each client address gets its own socket towards
// the server (at most MAX_CLIENTS), as a NAT would give it.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

const MAX_CLIENTS = 16;

/** Decides whether a packet from the server to a client is dropped. */
export type DropRule = (packet: Buffer) => boolean;

/** See the file comment. */
export interface UdpRelay {
  /** The port clients send to (put it in the answer's candidates). */
  readonly port: number;
  /** Replaces the drop rule (the default drops nothing). */
  setDrop(rule: DropRule): void;
  /** Packets dropped so far. */
  readonly dropped: number;
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

/** Starts a relay on 127.0.0.1 towards `serverPort` there. */
export async function startUdpRelay(serverPort: number): Promise<UdpRelay> {
  const front = createSocket('udp4');
  const backs = new Map<string, Socket>();
  let drop: DropRule = () => false;
  let dropped = 0;
  front.on('error', () => undefined);
  const backFor = (client: RemoteInfo): Socket | null => {
    const key = `${client.address}:${client.port}`;
    const known = backs.get(key);
    if (known !== undefined) return known;
    if (backs.size >= MAX_CLIENTS) return null;
    const back = createSocket('udp4');
    back.on('error', () => undefined);
    back.on('message', (packet) => {
      if (drop(packet)) {
        dropped++;
        return;
      }
      front.send(packet, client.port, client.address);
    });
    back.bind(0, '127.0.0.1');
    backs.set(key, back);
    return back;
  };
  front.on('message', (packet, client) => {
    backFor(client)?.send(packet, serverPort, '127.0.0.1');
  });
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  return {
    port: front.address().port,
    setDrop(rule) {
      drop = rule;
    },
    get dropped() {
      return dropped;
    },
    async close() {
      const sockets = [front, ...backs.values()];
      backs.clear();
      await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(resolve))));
    },
  };
}
