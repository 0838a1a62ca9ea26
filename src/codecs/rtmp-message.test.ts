// Tests for RTMP control message payloads: exact bytes, length checks, chunk size rules.
// Spec: Adobe RTMP 1.0, sections 5.4 and 7.1.7; rows from HOSTILE-INPUTS.md section 2.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CodecError } from './codec-error.ts';
import type { CodecErrorCode } from './codec-error.ts';
import {
  MessageType,
  UserControlEvent,
  decodeSetPeerBandwidth,
  decodeUint32Payload,
  decodeUserControl,
  encodeSetPeerBandwidth,
  encodeUint32Payload,
  encodeUserControl,
  validateChunkSize,
} from './rtmp-message.ts';

/** Asserts that `fn` throws a CodecError with `code`. */
function assertCodecError(fn: () => unknown, code: CodecErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CodecError, `expected CodecError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

void test('MessageType and UserControlEvent hold the spec ids', () => {
  assert.equal(MessageType.SetChunkSize, 1);
  assert.equal(MessageType.WindowAckSize, 5);
  assert.equal(MessageType.CommandAmf0, 20);
  assert.equal(MessageType.Aggregate, 22);
  assert.equal(UserControlEvent.SetBufferLength, 3);
  assert.equal(UserControlEvent.PingResponse, 7);
});

void test('encodeUint32Payload() writes 4 big-endian bytes and wraps at 2^32', () => {
  assert.deepEqual(encodeUint32Payload(4096), Buffer.from('00001000', 'hex'));
  assert.deepEqual(encodeUint32Payload(0xffffffff), Buffer.from('ffffffff', 'hex'));
  assert.deepEqual(encodeUint32Payload(2 ** 32 + 5), Buffer.from('00000005', 'hex'));
});

void test('decodeUint32Payload() reads exactly 4 bytes and rejects any other length', () => {
  assert.equal(decodeUint32Payload(Buffer.from('00001000', 'hex'), 'Set Chunk Size'), 4096);
  assert.equal(decodeUint32Payload(Buffer.from('80000000', 'hex'), 'Set Chunk Size'), 2 ** 31);
  for (const len of [0, 1, 3, 5, 8]) {
    assertCodecError(
      () => decodeUint32Payload(Buffer.alloc(len), 'Window Ack Size'),
      'ERR_RTMP_CONTROL_MESSAGE',
    );
  }
  assert.throws(
    () => decodeUint32Payload(Buffer.alloc(3), 'Window Ack Size'),
    /Window Ack Size: needs exactly 4 bytes, has 3/,
  );
});

void test('encodeSetPeerBandwidth() writes size then limit type; decodeSetPeerBandwidth() reads it back', () => {
  const bytes = encodeSetPeerBandwidth(2_500_000, 2);
  assert.deepEqual(bytes, Buffer.from('002625a002', 'hex'));
  assert.deepEqual(decodeSetPeerBandwidth(bytes), { size: 2_500_000, limitType: 2 });
  assertCodecError(() => decodeSetPeerBandwidth(Buffer.alloc(4)), 'ERR_RTMP_CONTROL_MESSAGE');
  assertCodecError(
    () => decodeSetPeerBandwidth(Buffer.from('0000100003', 'hex')),
    'ERR_RTMP_CONTROL_MESSAGE',
  );
});

void test('encodeUserControl() writes event, value and the SetBufferLength extra field', () => {
  assert.deepEqual(
    encodeUserControl(UserControlEvent.StreamBegin, 1),
    Buffer.from('0000' + '00000001', 'hex'),
  );
  assert.deepEqual(
    encodeUserControl(UserControlEvent.SetBufferLength, 1, 3000),
    Buffer.from('0003' + '00000001' + '00000bb8', 'hex'),
  );
});

void test('decodeUserControl() round-trips every spec event', () => {
  for (const event of Object.values(UserControlEvent)) {
    const extra = event === UserControlEvent.SetBufferLength ? 1500 : undefined;
    const decoded = decodeUserControl(encodeUserControl(event, 0xdeadbeef, extra));
    assert.deepEqual(
      decoded,
      extra === undefined ? { event, value: 0xdeadbeef } : { event, value: 0xdeadbeef, extra },
    );
  }
});

void test('decodeUserControl() rejects payloads shorter than the event needs', () => {
  assertCodecError(() => decodeUserControl(Buffer.alloc(0)), 'ERR_RTMP_CONTROL_MESSAGE');
  assertCodecError(() => decodeUserControl(Buffer.from('00', 'hex')), 'ERR_RTMP_CONTROL_MESSAGE');
  assertCodecError(
    () => decodeUserControl(Buffer.from('0006000000', 'hex')),
    'ERR_RTMP_CONTROL_MESSAGE',
  );
  // SetBufferLength without its buffer length.
  assertCodecError(
    () => decodeUserControl(Buffer.from('000300000001', 'hex')),
    'ERR_RTMP_CONTROL_MESSAGE',
  );
});

void test('decodeUserControl() tolerates events outside the spec with short bodies', () => {
  // FMS sends SWF verification request (26) with no body.
  assert.deepEqual(decodeUserControl(Buffer.from('001a', 'hex')), { event: 26, value: 0 });
  assert.deepEqual(decodeUserControl(Buffer.from('001f00000001', 'hex')), { event: 31, value: 1 });
});

void test('validateChunkSize() accepts 1..0xFFFFFF as given, including 1 and 127', () => {
  for (const size of [1, 127, 128, 4096, 65536, 0xffffff]) {
    assert.equal(validateChunkSize(size), size);
  }
});

void test('validateChunkSize() clamps sizes above 0xFFFFFF, up to 2^31-1', () => {
  assert.equal(validateChunkSize(0x1000000), 0xffffff);
  assert.equal(validateChunkSize(2 ** 31 - 1), 0xffffff);
});

void test('validateChunkSize() rejects 0 and values with the top bit set', () => {
  for (const size of [0, 2 ** 31, 0xffffffff, -1, 1.5, Number.NaN]) {
    assertCodecError(() => validateChunkSize(size), 'ERR_RTMP_CHUNK_SIZE');
  }
});
