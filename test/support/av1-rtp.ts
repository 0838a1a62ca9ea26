// A reference AV1 RTP packetizer for tests (AOMedia "RTP Payload Format for AV1", section 4), the
// inverse of codecs/rtp-av1.ts, and the OBUs of a low-overhead temporal unit as RTP carries them.
import { encodeLeb128, readLeb128 } from '../../src/codecs/av1.ts';

/**
 * A reference packetizer (the payload format's section 4): OBU elements with lengths, the last
 * one without when `useW` and at most 3 in the packet, fragments across packets with Y and Z.
 */
export function av1RtpPayloads(
  obus: readonly Buffer[],
  maxPayload: number,
  useW: boolean,
): Buffer[] {
  const packets: Buffer[] = [];
  let elements: Buffer[] = [];
  let size = 1;
  let z = false;
  let n = true;
  const flush = (y: boolean): void => {
    const w = useW && elements.length <= 3 ? elements.length : 0;
    const parts: Buffer[] = [
      Buffer.from([(z ? 0x80 : 0) | (y ? 0x40 : 0) | (w << 4) | (n ? 0x08 : 0)]),
    ];
    elements.forEach((element, i) => {
      if (!(w > 0 && i === elements.length - 1)) parts.push(encodeLeb128(element.length));
      parts.push(element);
    });
    packets.push(Buffer.concat(parts));
    elements = [];
    size = 1;
    z = y;
    n = false;
  };
  for (const whole of obus) {
    let rest = whole;
    while (rest.length > 0) {
      const room = maxPayload - size - 3;
      if (room <= 0) {
        flush(false);
        continue;
      }
      if (rest.length <= room) {
        elements.push(rest);
        size += 3 + rest.length;
        rest = rest.subarray(rest.length);
      } else {
        elements.push(rest.subarray(0, room));
        rest = rest.subarray(room);
        flush(true);
      }
    }
  }
  if (elements.length > 0) flush(false);
  return packets;
}

/** The OBUs of a low-overhead temporal unit without their size fields (as RTP carries them). */
export function unsizedObus(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length;) {
    const header = data[at] ?? 0;
    const headerBytes = (header & 0x04) !== 0 ? 2 : 1;
    const size = readLeb128(data, at + headerBytes);
    if ((header & 0x02) === 0 || size === undefined)
      throw new Error('an OBU without its size field');
    const payloadStart = at + headerBytes + size.bytes;
    const obuHeader = Buffer.from(data.subarray(at, at + headerBytes));
    obuHeader[0] = header & ~0x02;
    out.push(Buffer.concat([obuHeader, data.subarray(payloadStart, payloadStart + size.value)]));
    at = payloadStart + size.value;
  }
  return out;
}
