// Tests of the config schema: defaults, bounds of every integer key, strictness, freezing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describeConfig } from './describe-config.ts';
import { configSchema, deepFreeze, defaultConfig } from './schema.ts';

/** Builds `{ a: { b: value } }` from ['a', 'b']. */
function nested(path: readonly string[], value: unknown): unknown {
  let node = value;
  for (const part of [...path].reverse()) node = { [part]: node };
  return node;
}

void test('defaultConfig() gives the zero-setup defaults: RTMP 1935, HTTP 8080, ./data, json at info', () => {
  const config = defaultConfig();
  assert.equal(config.dataDir, './data');
  assert.deepEqual(
    [config.rtmp.enabled, config.rtmp.host, config.rtmp.port],
    [true, '0.0.0.0', 1935],
  );
  assert.deepEqual(
    [config.http.enabled, config.http.host, config.http.port],
    [true, '0.0.0.0', 8080],
  );
  assert.equal(config.rtmp.maxMessageBytes, 8 * 1024 * 1024);
  assert.equal(config.hub.gopCache.maxFrames, 2500);
  assert.equal(config.hub.viewer.maxBehindMs, 15_000);
  assert.deepEqual(config.log, { level: 'info', format: 'json' });
});

void test('defaultConfig() is frozen at every depth and a fresh object each call', () => {
  const config = defaultConfig();
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.hub));
  assert.ok(Object.isFrozen(config.hub.gopCache));
  assert.throws(() => {
    (config.hub.gopCache as { maxFrames: number }).maxFrames = 1;
  }, TypeError);
  assert.notEqual(defaultConfig(), config);
  assert.deepEqual(defaultConfig(), config);
});

void test('configSchema fills a partly given section with the defaults of the missing keys', () => {
  const config = configSchema.parse({ rtmp: { port: 1936 }, hub: { gopCache: { maxFrames: 10 } } });
  assert.equal(config.rtmp.port, 1936);
  assert.equal(config.rtmp.host, '0.0.0.0');
  assert.equal(config.hub.gopCache.maxFrames, 10);
  assert.equal(config.hub.gopCache.enabled, true);
  assert.equal(config.hub.viewer.maxQueueBytes, 8 * 1024 * 1024);
});

void test('configSchema rejects unknown keys at any depth, naming the path', () => {
  const result = configSchema.safeParse({ bogus: 1, hub: { gopCache: { maxFrame: 1 } } });
  assert.equal(result.success, false);
  const found = result.error.issues.map((issue) => ({
    code: issue.code,
    path: issue.path.join('.'),
    keys: 'keys' in issue ? issue.keys : [],
  }));
  assert.deepEqual(found, [
    { code: 'unrecognized_keys', path: 'hub.gopCache', keys: ['maxFrame'] },
    { code: 'unrecognized_keys', path: '', keys: ['bogus'] },
  ]);
});

void test('configSchema accepts ports 0 and 65535 and rejects -1, 65536, 1.5 and "80"', () => {
  for (const port of [0, 65535]) {
    assert.equal(configSchema.parse({ rtmp: { port }, http: { port } }).rtmp.port, port);
  }
  for (const port of [-1, 65536, 1.5, '80', Number.NaN, Infinity]) {
    assert.equal(configSchema.safeParse({ http: { port } }).success, false, String(port));
  }
});

void test('configSchema accepts every integer key at its bounds and rejects one past them', () => {
  const integers = describeConfig().filter((leaf) => leaf.kind === 'integer');
  assert.ok(integers.length > 20);
  for (const leaf of integers) {
    const { min, max } = leaf;
    assert.ok(min !== undefined && max !== undefined, `${leaf.key} has bounds`);
    assert.ok(min <= Number(leaf.default) && Number(leaf.default) <= max, `${leaf.key} default`);
    for (const ok of [min, max]) {
      assert.equal(
        configSchema.safeParse(nested(leaf.path, ok)).success,
        true,
        `${leaf.key}=${ok}`,
      );
    }
    for (const bad of [min - 1, max + 1]) {
      const result = configSchema.safeParse(nested(leaf.path, bad));
      assert.equal(result.success, false, `${leaf.key}=${bad}`);
      assert.equal(result.error.issues[0]!.path.join('.'), leaf.key);
    }
  }
});

void test('configSchema accepts any in-range port and rejects any out-of-range one (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: -1_000_000, max: 1_000_000 }), (port) => {
      const ok = configSchema.safeParse({ rtmp: { port } }).success;
      assert.equal(ok, port >= 0 && port <= 65535);
    }),
  );
});

void test('configSchema rejects hosts with spaces, slashes or brackets and accepts names and IPs', () => {
  for (const host of ['localhost', '127.0.0.1', '::', '::1', 'fe80::1%eth0', 'media.example.com']) {
    assert.equal(configSchema.safeParse({ http: { host } }).success, true, host);
  }
  for (const host of ['', 'a b', 'http://x', '[::1]', 'x\n']) {
    assert.equal(configSchema.safeParse({ http: { host } }).success, false, host);
  }
});

void test('configSchema accepts only the pino levels and the two formats', () => {
  assert.equal(
    configSchema.parse({ log: { level: 'silent', format: 'pretty' } }).log.level,
    'silent',
  );
  assert.equal(configSchema.safeParse({ log: { level: 'verbose' } }).success, false);
  assert.equal(configSchema.safeParse({ log: { format: 'text' } }).success, false);
});

void test('deepFreeze() freezes nested objects and arrays and returns its argument', () => {
  const value = { a: { b: [1, { c: 2 }] } };
  assert.equal(deepFreeze(value), value);
  assert.ok(Object.isFrozen(value.a.b));
  assert.ok(Object.isFrozen(value.a.b[1]));
});
