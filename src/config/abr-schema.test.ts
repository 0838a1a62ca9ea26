// Tests of the abr section and streams.<path>.abr: the rendition rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from './schema.ts';

const ok = { name: '480p', height: 480, videoKbps: 1200 };

function parses(renditions: unknown[]): boolean {
  return configSchema.safeParse({ abr: { renditions } }).success;
}

void test('abr: no renditions, not on demand, and ffmpeg by default', () => {
  const config = configSchema.parse({});
  assert.deepEqual(config.abr, {
    renditions: [],
    onDemand: false,
    onDemandIdleMs: 10_000,
    ffmpegPath: 'ffmpeg',
  });
});

void test('abr.renditions takes { name, height, videoKbps, fps? } within bounds', () => {
  assert.ok(parses([ok, { name: '240p_lo', height: 240, videoKbps: 400, fps: 15 }]));
  assert.ok(parses([{ name: 'a', height: 90, videoKbps: 100 }]));
  assert.ok(parses([{ name: 'x'.repeat(16), height: 2160, videoKbps: 20_000 }]));
});

void test('abr.renditions refuses bad names, odd or out-of-range heights, bitrates, fps and lists', () => {
  assert.ok(!parses([{ ...ok, name: '480-p' }]), 'a dash');
  assert.ok(!parses([{ ...ok, name: 'x'.repeat(17) }]), '17 characters');
  assert.ok(!parses([{ ...ok, name: '' }]), 'empty');
  assert.ok(!parses([{ ...ok, name: '../x' }]), 'a path');
  assert.ok(!parses([{ ...ok, height: 481 }]), 'odd');
  assert.ok(!parses([{ ...ok, height: 88 }]), 'under 90');
  assert.ok(!parses([{ ...ok, height: 2162 }]), 'over 2160');
  assert.ok(!parses([{ ...ok, videoKbps: 99 }]), 'under 100 kbps');
  assert.ok(!parses([{ ...ok, videoKbps: 20_001 }]), 'over 20000 kbps');
  assert.ok(!parses([{ ...ok, fps: 0 }]), 'fps 0');
  assert.ok(!parses([{ ...ok, extra: 1 }]), 'an unknown key');
  assert.ok(!parses([ok, ok]), 'a name twice');
  const seven = Array.from({ length: 7 }, (_, index) => ({ ...ok, name: `r${index}` }));
  assert.ok(!parses(seven), 'seven renditions');
  assert.ok(parses(seven.slice(0, 6)), 'six renditions');
});

void test('streams.<path>.abr.renditions overrides per stream, with the same rules', () => {
  const config = configSchema.parse({ streams: { 'live/x': { abr: { renditions: [ok] } } } });
  assert.deepEqual(config.streams['live/x']?.abr?.renditions, [ok]);
  const none = configSchema.parse({ streams: { 'live/x': { abr: { renditions: [] } } } });
  assert.deepEqual(none.streams['live/x']?.abr?.renditions, []);
  const bad = configSchema.safeParse({
    streams: { 'live/x': { abr: { renditions: [{ ...ok, height: 481 }] } } },
  });
  assert.ok(!bad.success);
});
