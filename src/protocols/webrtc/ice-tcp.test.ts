// ICE over TCP and webrtc.additionalHosts: the RFC 4571 deframer, the answer's extra
// candidates, and the config validator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Rfc4571Deframer, frame } from './rfc4571.ts';
import { MAX_ADDITIONAL_HOSTS, withExtraCandidates } from './answer-candidates.ts';
import { badAdditionalHosts } from '../../config/webrtc-schema.ts';
import { configSchema } from '../../config/schema.ts';

function packets(...sizes: number[]): Buffer[] {
  return sizes.map((size, i) => Buffer.alloc(size, i + 1));
}

function deframeAll(
  chunks: readonly Buffer[],
  max = 1600,
): { frames: Buffer[]; error: string | null } {
  const deframer = new Rfc4571Deframer(max);
  const frames: Buffer[] = [];
  let error: string | null = null;
  for (const chunk of chunks) {
    error = deframer.push(chunk, (f) => frames.push(Buffer.from(f)));
    if (error !== null) break;
  }
  return { frames, error };
}

void test('the deframer gives back every packet whether chunks merge, split or come byte by byte', () => {
  const sent = packets(20, 1, 1500, 300, 2);
  const stream = Buffer.concat(sent.map(frame));
  // One chunk with everything merged.
  assert.deepEqual(deframeAll([stream]).frames, sent);
  // Byte at a time.
  const bytes = [...stream].map((b) => Buffer.from([b]));
  assert.deepEqual(deframeAll(bytes), { frames: sent, error: null });
  // Split inside the length prefix and inside a packet.
  assert.deepEqual(
    deframeAll([stream.subarray(0, 1), stream.subarray(1, 30), stream.subarray(30)]).frames,
    sent,
  );
});

void test('the deframer reassembles any split of any packet sequence (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 1600 }), { minLength: 1, maxLength: 12 }),
      fc.array(fc.integer({ min: 1, max: 4000 }), { maxLength: 12 }),
      (sizes, cuts) => {
        const sent = packets(...sizes);
        const stream = Buffer.concat(sent.map(frame));
        const points = [...new Set(cuts.map((c) => c % stream.length))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let at = 0;
        for (const point of [...points, stream.length]) {
          if (point > at) chunks.push(stream.subarray(at, point));
          at = Math.max(at, point);
        }
        assert.deepEqual(deframeAll(chunks), { frames: sent, error: null });
      },
    ),
  );
});

void test('a frame longer than the limit, or empty, ends the stream, split or not', () => {
  const long = Buffer.from([0x06, 0x41]); // 1601
  assert.equal(deframeAll([long]).error, 'frame-too-long');
  assert.equal(deframeAll([long.subarray(0, 1), long.subarray(1)]).error, 'frame-too-long');
  const ok = frame(Buffer.alloc(10, 7));
  const after = deframeAll([Buffer.concat([ok, Buffer.from([0, 0, 1])])]);
  assert.equal(after.error, 'empty-frame');
  assert.equal(after.frames.length, 1, 'the good frame before still came');
  // Nothing after the error.
  const deframer = new Rfc4571Deframer(1600);
  assert.equal(
    deframer.push(long, () => assert.fail('no frame')),
    'frame-too-long',
  );
  assert.equal(
    deframer.push(ok, () => assert.fail('no frame after')),
    'frame-too-long',
  );
});

/** libdatachannel's answer shape: bundled, candidates in the first m-section. */
const ANSWER = [
  'v=0',
  'o=rtc 1 0 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=video 8189 UDP/TLS/RTP/SAVPF 96',
  'c=IN IP4 192.168.1.5',
  'a=mid:0',
  'a=sendonly',
  'a=candidate:1 1 UDP 2122317823 192.168.1.5 8189 typ host',
  'a=end-of-candidates',
  'm=audio 8189 UDP/TLS/RTP/SAVPF 111',
  'a=mid:1',
  'a=sendonly',
  '',
].join('\r\n');

function candidates(sdp: string): string[] {
  return sdp.split('\r\n').filter((line) => line.startsWith('a=candidate:'));
}

void test('extra candidates go beside the answer’s own, before end-of-candidates, with lower priorities', () => {
  const out = withExtraCandidates(ANSWER, {
    udpHosts: ['203.0.113.7', '192.168.1.5', '2001:db8::1'],
    udpPort: 8189,
    tcpPort: 8190,
  });
  const lines = out.split('\r\n');
  const end = lines.indexOf('a=end-of-candidates');
  const audio = lines.findIndex((line) => line.startsWith('m=audio'));
  const found = candidates(out);
  assert.deepEqual(
    found.map(
      (line) =>
        line.split(' ').slice(2, 8).join(' ') +
        (line.includes('tcptype passive') ? ' passive' : ''),
    ),
    [
      'UDP 2122317823 192.168.1.5 8189 typ host',
      `UDP ${String(126 * 2 ** 24 + 4000 * 256 + 255)} 203.0.113.7 8189 typ host`,
      `UDP ${String(126 * 2 ** 24 + 3999 * 256 + 255)} 2001:db8::1 8189 typ host`,
      `TCP ${String(90 * 2 ** 24 + 4000 * 256 + 255)} 192.168.1.5 8190 typ host passive`,
      `TCP ${String(90 * 2 ** 24 + 3999 * 256 + 255)} 203.0.113.7 8190 typ host passive`,
      `TCP ${String(90 * 2 ** 24 + 3998 * 256 + 255)} 2001:db8::1 8190 typ host passive`,
    ],
    'the own address once (no duplicate UDP), every address on TCP',
  );
  for (const line of found) {
    const at = lines.indexOf(line);
    assert.ok(at < end && end < audio, 'inside the first m-section, before end-of-candidates');
  }
  const tcpPriorities = found
    .filter((l) => l.includes(' TCP '))
    .map((l) => Number(l.split(' ')[3]));
  const udpPriorities = found
    .filter((l) => l.includes(' UDP '))
    .map((l) => Number(l.split(' ')[3]));
  assert.ok(Math.max(...tcpPriorities) < Math.min(...udpPriorities), 'TCP is the fallback');
  assert.equal(new Set(found.map((l) => l.split(' ')[0])).size, found.length, 'foundations unique');
});

void test('without extras the answer is unchanged; without candidates they go at the end of the first section', () => {
  assert.equal(withExtraCandidates(ANSWER, { udpHosts: [], udpPort: 8189, tcpPort: null }), ANSWER);
  const bare = ANSWER.replace(
    'a=candidate:1 1 UDP 2122317823 192.168.1.5 8189 typ host\r\na=end-of-candidates\r\n',
    '',
  );
  const out = withExtraCandidates(bare, {
    udpHosts: ['203.0.113.7'],
    udpPort: 8189,
    tcpPort: null,
  });
  const lines = out.split('\r\n');
  const at = lines.findIndex((l) => l.startsWith('a=candidate:'));
  assert.equal(lines[at - 1], 'a=sendonly');
  assert.equal(lines[at + 1], 'm=audio 8189 UDP/TLS/RTP/SAVPF 111');
  assert.equal(candidates(out).length, 1);
});

void test('extra candidates are bounded however many hosts come', () => {
  const many = Array.from({ length: 100 }, (_, i) => `198.51.100.${String(i + 1)}`);
  const out = withExtraCandidates(ANSWER, { udpHosts: many, udpPort: 8189, tcpPort: 8190 });
  const found = candidates(out);
  assert.equal(found.filter((l) => l.includes(' UDP ')).length, 1 + MAX_ADDITIONAL_HOSTS);
  assert.equal(found.filter((l) => l.includes(' TCP ')).length, 1 + MAX_ADDITIONAL_HOSTS);
});

void test('webrtc.additionalHosts takes IPs and host names, and names its bad entries', () => {
  assert.deepEqual(badAdditionalHosts(''), []);
  assert.deepEqual(
    badAdditionalHosts(' 203.0.113.7, 2001:db8::1 ,stream.example.com, host-1.lan.'),
    [],
  );
  assert.deepEqual(badAdditionalHosts('203.0.113.7,-bad.example,a..b,x_y,ok'), [
    '-bad.example',
    'a..b',
    'x_y',
  ]);
  assert.deepEqual(badAdditionalHosts(`${'a'.repeat(64)}.com`), [`${'a'.repeat(64)}.com`]);
  const tooMany = Array.from({ length: MAX_ADDITIONAL_HOSTS + 1 }, (_, i) => `10.0.0.${String(i)}`);
  assert.equal(badAdditionalHosts(tooMany.join(',')).length, 1);
  // Linear on a long near-miss (no backtracking): one long label of hyphens.
  assert.equal(badAdditionalHosts(`a${'-'.repeat(4000)}`).length, 1);
  const result = configSchema.safeParse({ webrtc: { additionalHosts: '203.0.113.7,no way' } });
  assert.equal(result.success, false);
  const issue = result.error.issues[0];
  assert.equal(issue?.path.join('.'), 'webrtc.additionalHosts');
  assert.match(issue.message, /no way/);
  const good = configSchema.parse({});
  assert.equal(good.webrtc.tcpPort, 8189);
  assert.equal(good.webrtc.additionalHosts, '');
});
