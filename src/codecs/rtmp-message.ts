// RTMP message type ids and the payloads of protocol control and user control messages.
// Spec: Adobe RTMP 1.0, sections 5.4 (protocol control messages) and 7.1.7 (user control events).

import { CodecError } from './codec-error.ts';

/** Chunk stream ids onair writes on. Media csids are never used by the stateful encoder. */
export const Csid = { Control: 2, Command: 3, Audio: 4, Data: 5, Video: 6 } as const;

/** RTMP message type ids (RTMP 1.0 sections 5.4, 6.2 and 7.1). */
export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22,
} as const;

/** User control event types (RTMP 1.0 section 7.1.7). */
export const UserControlEvent = {
  StreamBegin: 0,
  StreamEof: 1,
  StreamDry: 2,
  SetBufferLength: 3,
  StreamIsRecorded: 4,
  PingRequest: 6,
  PingResponse: 7,
} as const;

/** Set Peer Bandwidth limit types (RTMP 1.0 section 5.4.5): 0 hard, 1 soft, 2 dynamic. */
export type PeerBandwidthLimitType = 0 | 1 | 2;

/** One whole RTMP message, as the chunk stream carries it. */
export interface RtmpMessage {
  /** Chunk stream id it travels on, 2..65599. */
  csid: number;
  /** Message type id, see {@link MessageType}. */
  typeId: number;
  /** Message stream id (0 for control and connection-level commands). */
  streamId: number;
  /** absolute, 32-bit wrapping ms */
  timestamp: number;
  /** The message body. May share memory with the buffers given to the decoder. */
  payload: Buffer;
}

/** Largest effective chunk size: messages are at most 0xFFFFFF bytes (RTMP 1.0 section 5.4.1). */
export const MAX_CHUNK_SIZE = 0xffffff;

/** Encodes the 4-byte big-endian body of Set Chunk Size, Abort, Acknowledgement or Window Ack Size. */
export function encodeUint32Payload(value: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  // Acknowledgement sequence numbers wrap at 2^32, so wrap rather than throw.
  out.writeUInt32BE(value >>> 0, 0);
  return out;
}

/** Decodes a 4-byte control message body; `what` names the message in the error. */
export function decodeUint32Payload(payload: Buffer, what: string): number {
  if (payload.length !== 4) {
    throw new CodecError(
      'ERR_RTMP_CONTROL_MESSAGE',
      `Cannot decode ${what}: needs exactly 4 bytes, has ${payload.length}`,
      Math.min(payload.length, 4),
    );
  }
  return payload.readUInt32BE(0);
}

/** Encodes a Set Peer Bandwidth body: window size (4 bytes) and limit type (1 byte). */
export function encodeSetPeerBandwidth(size: number, limitType: PeerBandwidthLimitType): Buffer {
  const out = Buffer.allocUnsafe(5);
  out.writeUInt32BE(size >>> 0, 0);
  out[4] = limitType;
  return out;
}

/** Decodes a Set Peer Bandwidth body; exactly 5 bytes and a limit type of 0, 1 or 2. */
export function decodeSetPeerBandwidth(payload: Buffer): {
  size: number;
  limitType: PeerBandwidthLimitType;
} {
  if (payload.length !== 5) {
    throw new CodecError(
      'ERR_RTMP_CONTROL_MESSAGE',
      `Cannot decode Set Peer Bandwidth: needs exactly 5 bytes, has ${payload.length}`,
      Math.min(payload.length, 5),
    );
  }
  const limitType = payload[4];
  if (limitType !== 0 && limitType !== 1 && limitType !== 2) {
    throw new CodecError(
      'ERR_RTMP_CONTROL_MESSAGE',
      `Cannot decode Set Peer Bandwidth: limit type ${String(limitType)} is not 0, 1 or 2`,
      4,
    );
  }
  return { size: payload.readUInt32BE(0), limitType };
}

/** Encodes a User Control body: event (2 bytes), value (4), and for SetBufferLength `extra` (4). */
export function encodeUserControl(event: number, value: number, extra?: number): Buffer {
  const out = Buffer.allocUnsafe(extra === undefined ? 6 : 10);
  out.writeUInt16BE(event & 0xffff, 0);
  out.writeUInt32BE(value >>> 0, 2);
  if (extra !== undefined) out.writeUInt32BE(extra >>> 0, 6);
  return out;
}

/** Events whose layout RTMP 1.0 section 7.1.7 defines: a 4-byte value after the event type. */
const KNOWN_EVENTS: ReadonlySet<number> = new Set(Object.values(UserControlEvent));

/**
 * Decodes a User Control body. Known events need their full size (6 bytes, 10 for
 * SetBufferLength: stream id then buffer length in ms); extra trailing bytes are ignored.
 * Events outside the spec (FMS sends 26/27/31/32) only need the 2-byte type; `value` is 0 when
 * they carry fewer than 4 more bytes.
 */
export function decodeUserControl(payload: Buffer): {
  event: number;
  value: number;
  extra?: number;
} {
  if (payload.length < 2) {
    throw new CodecError(
      'ERR_RTMP_CONTROL_MESSAGE',
      `Cannot decode User Control: needs 2 bytes for the event type, has ${payload.length}`,
      payload.length,
    );
  }
  const event = payload.readUInt16BE(0);
  const needed = event === UserControlEvent.SetBufferLength ? 10 : 6;
  if (KNOWN_EVENTS.has(event) && payload.length < needed) {
    throw new CodecError(
      'ERR_RTMP_CONTROL_MESSAGE',
      `Cannot decode User Control event ${event}: needs ${needed} bytes, has ${payload.length}`,
      payload.length,
    );
  }
  const value = payload.length >= 6 ? payload.readUInt32BE(2) : 0;
  if (event === UserControlEvent.SetBufferLength) {
    return { event, value, extra: payload.readUInt32BE(6) };
  }
  return { event, value };
}

/**
 * Validates a Set Chunk Size value (RTMP 1.0 section 5.4.1) and returns the effective size.
 * 0 and values with the top bit set are rejected; sizes above 0xFFFFFF are all equivalent
 * (no message is longer), so they clamp to 0xFFFFFF. Sizes 1..127 are legal and accepted.
 */
export function validateChunkSize(size: number): number {
  if (!Number.isInteger(size) || size < 1 || size > 0x7fffffff) {
    throw new CodecError(
      'ERR_RTMP_CHUNK_SIZE',
      `Invalid chunk size ${size}: must be 1..2147483647 (top bit clear)`,
    );
  }
  return size > MAX_CHUNK_SIZE ? MAX_CHUNK_SIZE : size;
}
