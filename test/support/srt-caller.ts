// Test helper: an SRT caller made of UDP datagrams, for what a real client would never send (a
// streamid with control characters, hundreds of handshakes from one address, a caller that
// connects and then stays silent). It speaks the SRT v5 handshake of the SRT draft
// (draft-sharabayko-srt, section 3.2.1 and 4.3): induction, then conclusion with HSREQ and the
// stream id extension, and reads the listener's answer: a conclusion (accepted) or a rejection.
import { createSocket, type Socket } from 'node:dgram';

const HANDSHAKE_CONTROL = 0x8000_0000; // F = 1, control type 0 (handshake), subtype 0
const INDUCTION = 1;
const CONCLUSION = 0xffff_ffff;
const EXT_HSREQ = 1;
const EXT_SID = 5;
const FLAG_HSREQ = 0x1;
const FLAG_CONFIG = 0x4;
/** TSBPD send/receive, TLPKTDROP, periodic NAK, rexmit flag: what libsrt's live mode sends. */
const SRT_FLAGS = 0x01 | 0x02 | 0x08 | 0x10 | 0x20;
/** Rejection handshake types are 1000 + the reject reason (libsrt's URQ_FAILURE_TYPES). */
const REJECTION_BASE = 1000;

/** The listener's answer to one caller. */
export interface HandshakeResult {
  readonly accepted: boolean;
  /** The reject reason the listener gave (e.g. 1400 for SRT_REJX_BAD_REQUEST), or null. */
  readonly reject: number | null;
}

/** One SRT caller's UDP socket; after an accepted handshake it stays open, and silent. */
export interface SrtCaller {
  handshake(streamId: Buffer | string): Promise<HandshakeResult>;
  close(): Promise<void>;
}

/** A caller on 127.0.0.1 towards `port` there; each handshake uses a new SRT socket id. */
export async function srtCaller(port: number, timeoutMs = 3000): Promise<SrtCaller> {
  const socket = createSocket('udp4');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => {
    socket.bind(0, '127.0.0.1', resolve);
  });
  let nextSocketId = 0x1000_0000 + Math.floor(Math.random() * 0x0fff_ffff);
  return {
    handshake: async (streamId) => {
      const id = nextSocketId++;
      const induction = await exchange(socket, port, header(id, INDUCTION, 4, 2, 0), timeoutMs);
      const cookie = induction.readUInt32BE(16 + 28);
      const sid = Buffer.isBuffer(streamId) ? streamId : Buffer.from(streamId, 'utf8');
      // No streamid is no extension at all, as a caller without one sends.
      const conclusion =
        sid.length === 0
          ? Buffer.concat([header(id, CONCLUSION, 5, FLAG_HSREQ, cookie), hsreq()])
          : Buffer.concat([
              header(id, CONCLUSION, 5, FLAG_HSREQ | FLAG_CONFIG, cookie),
              hsreq(),
              sidExtension(sid),
            ]);
      const answer = await exchange(socket, port, conclusion, timeoutMs);
      const type = answer.readUInt32BE(16 + 20);
      if (type === CONCLUSION) return { accepted: true, reject: null };
      return { accepted: false, reject: type >= REJECTION_BASE ? type - REJECTION_BASE : type };
    },
    close: () =>
      new Promise((resolve) => {
        socket.close(() => {
          resolve();
        });
      }),
  };
}

/** The 16-byte packet header and the 48-byte handshake body. */
function header(
  socketId: number,
  type: number,
  version: number,
  extension: number,
  cookie: number,
): Buffer {
  const packet = Buffer.alloc(16 + 48);
  packet.writeUInt32BE(HANDSHAKE_CONTROL, 0);
  packet.writeUInt32BE(0, 4);
  packet.writeUInt32BE(0, 8); // timestamp
  packet.writeUInt32BE(0, 12); // destination socket id: 0 while connecting
  const cif = 16;
  packet.writeUInt32BE(version, cif);
  packet.writeUInt16BE(0, cif + 4); // encryption: none
  packet.writeUInt16BE(extension, cif + 6);
  packet.writeUInt32BE(Math.floor(Math.random() * 0x7fff_ffff), cif + 8); // initial sequence
  packet.writeUInt32BE(1500, cif + 12); // MTU
  packet.writeUInt32BE(8192, cif + 16); // flow window
  packet.writeUInt32BE(type, cif + 20);
  packet.writeUInt32BE(socketId, cif + 24);
  packet.writeUInt32BE(cookie, cif + 28);
  packet.writeUInt32BE(0x0100_007f, cif + 32); // peer IP 127.0.0.1 (libsrt's byte order)
  return packet;
}

function hsreq(): Buffer {
  const ext = Buffer.alloc(4 + 12);
  ext.writeUInt16BE(EXT_HSREQ, 0);
  ext.writeUInt16BE(3, 2);
  ext.writeUInt32BE(0x0001_0501, 4); // SRT 1.5.1
  ext.writeUInt32BE(SRT_FLAGS, 8);
  ext.writeUInt16BE(120, 12); // receiver TSBPD delay
  ext.writeUInt16BE(120, 14); // sender TSBPD delay
  return ext;
}

/** The stream id extension: the bytes in 32-bit words, each word's bytes reversed (as libsrt). */
function sidExtension(streamId: Buffer): Buffer {
  const words = Math.ceil(streamId.length / 4);
  const ext = Buffer.alloc(4 + words * 4);
  ext.writeUInt16BE(EXT_SID, 0);
  ext.writeUInt16BE(words, 2);
  for (let i = 0; i < words * 4; i++) {
    const word = Math.floor(i / 4);
    ext[4 + word * 4 + (3 - (i % 4))] = streamId[i] ?? 0;
  }
  return ext;
}

/** Sends `packet` and resolves with the next handshake datagram from the listener. */
function exchange(
  socket: Socket,
  port: number,
  packet: Buffer,
  timeoutMs: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      reject(new Error('no handshake answer from the SRT listener'));
    }, timeoutMs);
    const onMessage = (message: Buffer): void => {
      if (message.length < 16 + 48 || message.readUInt32BE(0) !== HANDSHAKE_CONTROL) return;
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(message);
    };
    socket.on('message', onMessage);
    socket.send(packet, port, '127.0.0.1');
  });
}
