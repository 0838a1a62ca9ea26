// AMF0 codec for RTMP command and data messages: whole-buffer decode and encode.
// Spec: Adobe "Action Message Format -- AMF 0" (2006), section 2 (type markers 2.1-2.18).

import { CodecError } from './codec-error.ts';

/** An AMF0 anonymous object or ECMA array, decoded as a plain object (own keys only). */
export interface Amf0Object {
  [key: string]: Amf0Value;
}

/** undefined encodes as AMF0 undefined (0x06); Date decodes from 0x0B as a Date. */
export type Amf0Value =
  number | boolean | string | null | undefined | Date | Amf0Value[] | Amf0Object;

/** Limits for {@link decodeAmf0}; both bound the work and memory a hostile buffer can cause. */
export interface Amf0DecodeOptions {
  /** Most containers (object, ECMA array, strict array) open at once; default 32. */
  maxDepth?: number;
  /** Most values in the whole buffer, containers and nested values included; default 10 000. */
  maxItems?: number;
}

/** Default {@link Amf0DecodeOptions.maxDepth}. */
export const AMF0_DEFAULT_MAX_DEPTH = 32;
/** Default {@link Amf0DecodeOptions.maxItems}. */
export const AMF0_DEFAULT_MAX_ITEMS = 10_000;
/** Nesting bound of {@link encodeAmf0}: deeper (or cyclic) values are refused, never a stack overflow. */
export const AMF0_MAX_ENCODE_DEPTH = 256;

/** Type markers, spec section 2.1. */
const MARKER = {
  number: 0x00,
  boolean: 0x01,
  string: 0x02,
  object: 0x03,
  null: 0x05,
  undefined: 0x06,
  ecmaArray: 0x08,
  objectEnd: 0x09,
  strictArray: 0x0a,
  date: 0x0b,
  longString: 0x0c,
  unsupported: 0x0d,
} as const;

/** Markers we refuse (reserved, references, XML, typed objects, AMF3) with their spec names. */
const REJECTED_MARKERS: ReadonlyMap<number, string> = new Map([
  [0x04, 'movieclip (reserved)'],
  [0x07, 'reference'],
  [0x0e, 'recordset (reserved)'],
  [0x0f, 'XML document'],
  [0x10, 'typed object'],
  [0x11, 'AVM+ switch (AMF3)'],
]);

const UINT16_MAX = 0xffff;
const UINT32_MAX = 0xffffffff;

/** An object or ECMA array whose properties are being read. */
interface ObjectFrame {
  readonly kind: 'object';
  readonly target: Amf0Object;
  readonly isEcmaArray: boolean;
}

/** A strict array with `remaining` elements still to read. */
interface ArrayFrame {
  readonly kind: 'array';
  readonly target: Amf0Value[];
  remaining: number;
}

/**
 * Adds `key` as an own enumerable property. defineProperty (not assignment) so that a
 * `__proto__` key from the wire becomes an ordinary own property and never replaces the
 * prototype: decoded objects keep Object.prototype, as plain `{}` literals do.
 */
function defineKey(target: Amf0Object, key: string, value: Amf0Value): void {
  Object.defineProperty(target, key, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

/**
 * One decode pass over one buffer. Nesting lives on an explicit stack (never the JS call
 * stack), and every loop step consumes at least one byte or one counted array slot, whose count
 * is bounded by the bytes left, so the work is linear in the input size.
 */
class Amf0Reader {
  readonly #buf: Buffer;
  readonly #maxDepth: number;
  readonly #maxItems: number;
  readonly #stack: (ObjectFrame | ArrayFrame)[] = [];
  #pos = 0;
  #items = 0;

  constructor(buf: Buffer, options: Amf0DecodeOptions) {
    this.#buf = buf;
    this.#maxDepth = options.maxDepth ?? AMF0_DEFAULT_MAX_DEPTH;
    this.#maxItems = options.maxItems ?? AMF0_DEFAULT_MAX_ITEMS;
  }

  readAll(): Amf0Value[] {
    const values: Amf0Value[] = [];
    for (;;) {
      const top = this.#stack.at(-1);
      if (top === undefined) {
        if (this.#pos >= this.#buf.length) return values;
        values.push(this.#readValue());
      } else if (top.kind === 'array') {
        if (top.remaining === 0) {
          this.#stack.pop();
        } else {
          top.remaining -= 1;
          top.target.push(this.#readValue());
        }
      } else {
        this.#readProperty(top);
      }
    }
  }

  /** Reads one `key value` pair of `frame`, or its end (spec 2.5 object-property). */
  #readProperty(frame: ObjectFrame): void {
    const atEnd = (): boolean => this.#pos === this.#buf.length;
    // Leniency: some encoders end an ECMA array at the end of the buffer without 00 00 09.
    if (frame.isEcmaArray && atEnd()) {
      this.#stack.pop();
      return;
    }
    const key = this.#readUtf8(this.#readU16('property name length'), 'property name');
    if (key === '') {
      if (frame.isEcmaArray && atEnd()) {
        this.#stack.pop();
        return;
      }
      if (this.#buf[this.#pos] === MARKER.objectEnd) {
        this.#pos += 1;
        this.#stack.pop();
        return;
      }
    }
    defineKey(frame.target, key, this.#readValue());
  }

  /** Reads one value; a container is returned empty and filled later from the stack. */
  #readValue(): Amf0Value {
    const start = this.#pos;
    const marker = this.#readU8('type marker');
    this.#items += 1;
    if (this.#items > this.#maxItems) {
      throw new CodecError(
        'ERR_AMF0_TOO_LARGE',
        `Cannot decode AMF0: more than ${this.#maxItems} values`,
        start,
      );
    }
    switch (marker) {
      case MARKER.number:
        return this.#readDouble('number');
      case MARKER.boolean:
        return this.#readU8('boolean') !== 0;
      case MARKER.string:
        return this.#readUtf8(this.#readU16('string length'), 'string');
      case MARKER.longString:
        return this.#readUtf8(this.#readU32('long string length'), 'long string');
      case MARKER.null:
        return null;
      case MARKER.undefined:
      case MARKER.unsupported:
        return undefined;
      case MARKER.date: {
        const ms = this.#readDouble('date');
        this.#need(2, 'date time zone');
        this.#pos += 2; // spec 2.13: time-zone is reserved, should be 0; ignored.
        return new Date(ms);
      }
      case MARKER.object:
        return this.#open({ kind: 'object', target: {}, isEcmaArray: false }, start);
      case MARKER.ecmaArray:
        // Spec 2.10: the associative-count is advisory only; it never sizes anything here.
        this.#readU32('ECMA array count');
        return this.#open({ kind: 'object', target: {}, isEcmaArray: true }, start);
      case MARKER.strictArray: {
        const count = this.#readU32('strict array count');
        const left = this.#buf.length - this.#pos;
        if (count > left) {
          throw new CodecError(
            'ERR_AMF0_TOO_LARGE',
            `Cannot decode AMF0 strict array: ${count} elements cannot fit in ${left} bytes`,
            start,
          );
        }
        return this.#open({ kind: 'array', target: [], remaining: count }, start);
      }
      case MARKER.objectEnd:
        throw new CodecError(
          'ERR_AMF0_UNSUPPORTED_TYPE',
          'Cannot decode AMF0: object-end marker outside an object property list',
          start,
        );
      default: {
        const name = REJECTED_MARKERS.get(marker) ?? 'unknown';
        throw new CodecError(
          'ERR_AMF0_UNSUPPORTED_TYPE',
          `Cannot decode AMF0: unsupported type marker 0x${marker.toString(16).padStart(2, '0')} (${name})`,
          start,
        );
      }
    }
  }

  #open<T extends ObjectFrame | ArrayFrame>(frame: T, start: number): T['target'] {
    if (this.#stack.length >= this.#maxDepth) {
      throw new CodecError(
        'ERR_AMF0_DEPTH',
        `Cannot decode AMF0: nesting deeper than ${this.#maxDepth}`,
        start,
      );
    }
    this.#stack.push(frame);
    return frame.target;
  }

  #need(sizeBytes: number, what: string): void {
    const left = this.#buf.length - this.#pos;
    if (sizeBytes > left) {
      throw new CodecError(
        'ERR_AMF0_TRUNCATED',
        `Cannot decode AMF0 ${what}: needs ${sizeBytes} bytes, has ${left}`,
        this.#pos,
      );
    }
  }

  #readU8(what: string): number {
    this.#need(1, what);
    const value = this.#buf.readUInt8(this.#pos);
    this.#pos += 1;
    return value;
  }

  #readU16(what: string): number {
    this.#need(2, what);
    const value = this.#buf.readUInt16BE(this.#pos);
    this.#pos += 2;
    return value;
  }

  #readU32(what: string): number {
    this.#need(4, what);
    const value = this.#buf.readUInt32BE(this.#pos);
    this.#pos += 4;
    return value;
  }

  #readDouble(what: string): number {
    this.#need(8, what);
    const value = this.#buf.readDoubleBE(this.#pos);
    this.#pos += 8;
    return value;
  }

  /** Checks the length against the bytes present before touching them (no allocation first). */
  #readUtf8(sizeBytes: number, what: string): string {
    this.#need(sizeBytes, what);
    const text = this.#buf.toString('utf8', this.#pos, this.#pos + sizeBytes);
    this.#pos += sizeBytes;
    return text;
  }
}

/**
 * Decodes every value in `buf` in sequence (an RTMP command or data message).
 * Objects and ECMA arrays become plain objects (own properties via defineProperty, so a
 * `__proto__` key is data, never a prototype change); strict arrays become arrays.
 * @throws CodecError ERR_AMF0_TRUNCATED, ERR_AMF0_DEPTH, ERR_AMF0_UNSUPPORTED_TYPE or
 *   ERR_AMF0_TOO_LARGE, with the byte offset; never anything else.
 */
export function decodeAmf0(buf: Buffer, options: Amf0DecodeOptions = {}): Amf0Value[] {
  return new Amf0Reader(buf, options).readAll();
}

/** A growable output buffer; grows by doubling so encoding is linear. */
class Amf0Writer {
  #buf = Buffer.allocUnsafe(256);
  #pos = 0;

  #reserve(sizeBytes: number): void {
    if (this.#pos + sizeBytes <= this.#buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + sizeBytes));
    this.#buf.copy(grown, 0, 0, this.#pos);
    this.#buf = grown;
  }

  u8(value: number): void {
    this.#reserve(1);
    this.#pos = this.#buf.writeUInt8(value, this.#pos);
  }

  u16(value: number): void {
    this.#reserve(2);
    this.#pos = this.#buf.writeUInt16BE(value, this.#pos);
  }

  u32(value: number): void {
    this.#reserve(4);
    this.#pos = this.#buf.writeUInt32BE(value, this.#pos);
  }

  double(value: number): void {
    this.#reserve(8);
    this.#pos = this.#buf.writeDoubleBE(value, this.#pos);
  }

  utf8(text: string, sizeBytes: number): void {
    this.#reserve(sizeBytes);
    this.#pos += this.#buf.write(text, this.#pos, sizeBytes, 'utf8');
  }

  finish(): Buffer {
    return this.#buf.subarray(0, this.#pos);
  }
}

/** Writes a string value: 0x02 up to 65535 bytes (spec 2.4), 0x0C above (spec 2.14). */
function writeString(out: Amf0Writer, text: string): void {
  const sizeBytes = Buffer.byteLength(text, 'utf8');
  if (sizeBytes <= UINT16_MAX) {
    out.u8(MARKER.string);
    out.u16(sizeBytes);
  } else {
    if (sizeBytes > UINT32_MAX) {
      throw new CodecError('ERR_AMF0_TOO_LARGE', `Cannot encode AMF0 string of ${sizeBytes} bytes`);
    }
    out.u8(MARKER.longString);
    out.u32(sizeBytes);
  }
  out.utf8(text, sizeBytes);
}

/** Writes one value (spec 2.2-2.14); containers go through {@link writeComposite}. */
function writeValue(out: Amf0Writer, value: Amf0Value, depth: number): void {
  switch (typeof value) {
    case 'number':
      out.u8(MARKER.number);
      out.double(value);
      break;
    case 'boolean':
      out.u8(MARKER.boolean);
      out.u8(value ? 1 : 0);
      break;
    case 'string':
      writeString(out, value);
      break;
    case 'undefined':
      out.u8(MARKER.undefined);
      break;
    case 'object':
      writeComposite(out, value, depth);
      break;
    case 'bigint':
    case 'function':
    case 'symbol':
      // Unreachable for typed callers; a runtime guard for values that bypassed the types.
      throw new CodecError(
        'ERR_AMF0_UNSUPPORTED_TYPE',
        `Cannot encode AMF0: a ${typeof value} is not an AMF0 value`,
      );
  }
}

/** Writes null, a Date or a container. Recursion is bounded: cycles hit the depth cap. */
function writeComposite(
  out: Amf0Writer,
  value: null | Date | Amf0Value[] | Amf0Object,
  depth: number,
): void {
  if (value === null) {
    out.u8(MARKER.null);
    return;
  }
  if (value instanceof Date) {
    out.u8(MARKER.date);
    out.double(value.getTime());
    out.u16(0); // spec 2.13: time-zone should be 0x0000
    return;
  }
  if (depth >= AMF0_MAX_ENCODE_DEPTH) {
    throw new CodecError(
      'ERR_AMF0_DEPTH',
      `Cannot encode AMF0: nesting deeper than ${AMF0_MAX_ENCODE_DEPTH} (or a cycle)`,
    );
  }
  if (Array.isArray(value)) {
    out.u8(MARKER.strictArray);
    out.u32(value.length);
    for (const item of value) writeValue(out, item, depth + 1);
    return;
  }
  out.u8(MARKER.object);
  for (const key of Object.keys(value)) {
    const keyBytes = Buffer.byteLength(key, 'utf8');
    if (keyBytes > UINT16_MAX) {
      throw new CodecError('ERR_AMF0_TOO_LARGE', `Cannot encode AMF0 key of ${keyBytes} bytes`);
    }
    out.u16(keyBytes);
    out.utf8(key, keyBytes);
    writeValue(out, value[key], depth + 1);
  }
  out.u16(0); // spec 2.5: UTF-8-empty, then object-end-marker
  out.u8(MARKER.objectEnd);
}

/**
 * Encodes values in sequence. Plain objects as AMF0 Object (0x03), arrays as strict array
 * (0x0A), strings > 65535 bytes as long string (0x0C), Dates as 0x0B with time zone 0.
 * @throws CodecError ERR_AMF0_DEPTH beyond {@link AMF0_MAX_ENCODE_DEPTH} nesting (or a cycle);
 *   ERR_AMF0_TOO_LARGE for an object key over 65535 bytes.
 */
export function encodeAmf0(values: readonly Amf0Value[]): Buffer {
  const out = new Amf0Writer();
  for (const value of values) writeValue(out, value, 0);
  return out.finish();
}
