// Tests of GopCache: GOP boundaries at keyframes and the frame, byte and duration caps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GopCache, type GopCacheLimits } from './gop-cache.ts';

const roomy: GopCacheLimits = { maxFrames: 1000, maxBytes: 1_000_000, maxDurationMs: 60_000 };

/** Pushes a named item of `sizeBytes` at `dtsMs`. */
function add(
  cache: GopCache<string>,
  name: string,
  options: { keyframe?: boolean; dtsMs?: number; sizeBytes?: number } = {},
): boolean {
  return cache.push(name, {
    keyframe: options.keyframe ?? false,
    dtsMs: options.dtsMs ?? 0,
    sizeBytes: options.sizeBytes ?? 10,
  });
}

test('GopCache.push() drops the previous GOP on a keyframe', () => {
  const cache = new GopCache<string>(roomy);
  add(cache, 'k1', { keyframe: true, dtsMs: 0 });
  add(cache, 'p1', { dtsMs: 40 });
  add(cache, 'p2', { dtsMs: 80 });
  assert.deepEqual(cache.items, ['k1', 'p1', 'p2']);
  assert.equal(add(cache, 'k2', { keyframe: true, dtsMs: 120 }), true);
  add(cache, 'p3', { dtsMs: 160 });
  assert.deepEqual(cache.items, ['k2', 'p3']);
  assert.equal(cache.sizeBytes, 20);
});

test('GopCache.push() keeps nothing before the first keyframe', () => {
  const cache = new GopCache<string>(roomy);
  assert.equal(add(cache, 'p0', { dtsMs: 0 }), false);
  assert.equal(add(cache, 'p1', { dtsMs: 40 }), false);
  assert.deepEqual(cache.items, []);
  assert.equal(cache.sizeBytes, 0);
  add(cache, 'k1', { keyframe: true, dtsMs: 80 });
  assert.deepEqual(cache.items, ['k1']);
});

test('GopCache.push() empties the cache past maxFrames and stays empty until the next keyframe', () => {
  const cache = new GopCache<string>({ ...roomy, maxFrames: 3 });
  add(cache, 'k1', { keyframe: true });
  add(cache, 'p1');
  add(cache, 'p2');
  assert.deepEqual(cache.items, ['k1', 'p1', 'p2']);
  assert.equal(add(cache, 'p3'), false);
  assert.deepEqual(cache.items, []);
  assert.equal(cache.sizeBytes, 0);
  assert.equal(add(cache, 'p4'), false);
  assert.deepEqual(cache.items, []);
  add(cache, 'k2', { keyframe: true });
  assert.deepEqual(cache.items, ['k2']);
});

test('GopCache.push() empties the cache past maxBytes and stays empty until the next keyframe', () => {
  const cache = new GopCache<string>({ ...roomy, maxBytes: 100 });
  add(cache, 'k1', { keyframe: true, sizeBytes: 60 });
  add(cache, 'p1', { sizeBytes: 40 });
  assert.equal(cache.sizeBytes, 100);
  assert.equal(add(cache, 'p2', { sizeBytes: 1 }), false);
  assert.deepEqual(cache.items, []);
  assert.equal(add(cache, 'p3', { sizeBytes: 1 }), false);
  assert.deepEqual(cache.items, []);
  add(cache, 'k2', { keyframe: true, sizeBytes: 50 });
  assert.deepEqual(cache.items, ['k2']);
  assert.equal(cache.sizeBytes, 50);
});

test('GopCache.push() empties the cache past maxDurationMs and stays empty until the next keyframe', () => {
  const cache = new GopCache<string>({ ...roomy, maxDurationMs: 1000 });
  add(cache, 'k1', { keyframe: true, dtsMs: 5000 });
  add(cache, 'p1', { dtsMs: 6000 });
  assert.deepEqual(cache.items, ['k1', 'p1']);
  assert.equal(add(cache, 'p2', { dtsMs: 6001 }), false);
  assert.deepEqual(cache.items, []);
  assert.equal(add(cache, 'p3', { dtsMs: 6002 }), false);
  assert.deepEqual(cache.items, []);
  add(cache, 'k2', { keyframe: true, dtsMs: 7000 });
  add(cache, 'p4', { dtsMs: 7500 });
  assert.deepEqual(cache.items, ['k2', 'p4']);
});

test('GopCache.clear() empties the cache until the next keyframe', () => {
  const cache = new GopCache<string>(roomy);
  add(cache, 'k1', { keyframe: true });
  cache.clear();
  assert.equal(add(cache, 'p1'), false);
  assert.deepEqual(cache.items, []);
  add(cache, 'k2', { keyframe: true });
  assert.deepEqual(cache.items, ['k2']);
});

test('GopCache.push() never holds more than the limits, and input without keyframes never grows it', () => {
  const item = fc.record({
    keyframe: fc.boolean(),
    step: fc.integer({ min: 0, max: 100 }),
    sizeBytes: fc.integer({ min: 0, max: 500 }),
  });
  fc.assert(
    fc.property(fc.array(item, { maxLength: 300 }), (items) => {
      const limits = { maxFrames: 20, maxBytes: 2000, maxDurationMs: 500 };
      const cache = new GopCache<number>(limits);
      const keyless = new GopCache<number>(limits);
      let dtsMs = 0;
      items.forEach((info, i) => {
        dtsMs += info.step;
        cache.push(i, { keyframe: info.keyframe, dtsMs, sizeBytes: info.sizeBytes });
        keyless.push(i, { keyframe: false, dtsMs, sizeBytes: info.sizeBytes });
        assert.ok(cache.items.length <= limits.maxFrames);
        assert.ok(cache.sizeBytes <= limits.maxBytes);
        assert.equal(keyless.items.length, 0);
        assert.equal(keyless.sizeBytes, 0);
      });
    }),
  );
});
