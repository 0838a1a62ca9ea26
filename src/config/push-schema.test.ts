// Tests of the push destination rules (streams.<path>.push).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from './schema.ts';
import { MAX_PUSHES_PER_STREAM, pushUrlProblem } from './push-schema.ts';

void test('pushUrlProblem() accepts rtmp:// and rtmps:// URLs with an app and a name', () => {
  assert.equal(pushUrlProblem('rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl'), null);
  assert.equal(pushUrlProblem('rtmps://live-api-s.facebook.com:443/rtmp/FB-123?s_bl=1&a=x'), null);
  assert.equal(pushUrlProblem('rtmp://127.0.0.1:1935/live/copy'), null);
  assert.equal(pushUrlProblem('rtmp://host/app/inst/name'), null);
});

void test('pushUrlProblem() refuses other schemes, missing parts, spaces and long URLs', () => {
  assert.match(pushUrlProblem('http://host/app/name') ?? '', /rtmp:\/\/ or rtmps:\/\//);
  assert.match(pushUrlProblem('srt://host:9000/app/name') ?? '', /rtmp/);
  assert.match(pushUrlProblem('rtmp://host/app') ?? '', /app and a stream/);
  assert.match(pushUrlProblem('rtmp://host/') ?? '', /app and a stream/);
  assert.match(pushUrlProblem('rtmp://host/app/na me') ?? '', /printable/);
  assert.match(pushUrlProblem('not a url') ?? '', /printable/);
  assert.match(pushUrlProblem('rtmp//host/app/name') ?? '', /not a URL/);
  assert.match(pushUrlProblem('rtmp://host/app/name#x') ?? '', /fragment/);
  assert.match(pushUrlProblem(`rtmp://host/app/${'k'.repeat(3000)}`) ?? '', /longer than/);
  assert.match(pushUrlProblem('') ?? '', /printable/);
});

void test('streams.<path>.push is validated: URLs and their count', () => {
  const ok = configSchema.parse({
    streams: { 'live/a': { push: ['rtmp://127.0.0.1:1936/live/copy'] } },
  });
  assert.deepEqual(ok.streams['live/a']?.push, ['rtmp://127.0.0.1:1936/live/copy']);
  const bad = configSchema.safeParse({ streams: { 'live/a': { push: ['http://x/a/b'] } } });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error.issues[0]?.path, ['streams', 'live/a', 'push', 0]);
  const many = Array.from(
    { length: MAX_PUSHES_PER_STREAM + 1 },
    (_, i) => `rtmp://h/app/k${String(i)}`,
  );
  assert.equal(configSchema.safeParse({ streams: { 'live/a': { push: many } } }).success, false);
  assert.equal(
    configSchema.safeParse({ streams: { 'live/a': { push: 'rtmp://h/a/b' } } }).success,
    false,
  );
});
