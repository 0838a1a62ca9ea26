// The watch page's HTTP-FLV latency controller (web/player/latency-chase.js): it speeds up
// gently when the buffer is over the target, seeks when far behind, raises the target after a
// stall and lowers it slowly when playback is smooth; the rate and the target stay in bounds.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

interface ChaseState {
  readonly targetS: number;
  readonly lastStallMs: number;
  readonly lastLowerMs: number;
}
interface ChaseResult extends ChaseState {
  readonly playbackRate: number;
  readonly seekS: number;
}
interface ChaseInput {
  readonly bufferS: number | null;
  readonly nowMs: number;
  readonly stalled: boolean;
}
interface ChaseOptions {
  readonly minTargetS: number;
  readonly maxTargetS: number;
  readonly stallRaiseS: number;
  readonly lowerStepS: number;
  readonly calmMs: number;
  readonly minRate: number;
  readonly maxRate: number;
  readonly deadbandS: number;
  readonly gainPerS: number;
  readonly seekAboveS: number;
}
interface ChaseModule {
  readonly CHASE_DEFAULTS: ChaseOptions;
  readonly initialChaseState: (nowMs: number, options?: ChaseOptions) => ChaseState;
  readonly chaseLatency: (
    state: ChaseState,
    input: ChaseInput,
    options?: ChaseOptions,
  ) => ChaseResult;
}

// The page's own file, as the browser loads it (plain JavaScript, no types of its own).
const moduleUrl = new URL('../../web/player/latency-chase.js', import.meta.url).href;
const { CHASE_DEFAULTS, initialChaseState, chaseLatency } = (await import(
  moduleUrl
)) as ChaseModule;

/** A small deterministic PRNG (mulberry32), so a failing case can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

void describe('chaseLatency()', () => {
  const start = initialChaseState(0);

  test('starts at the lowest target and plays at 1.0 on target', () => {
    assert.equal(start.targetS, CHASE_DEFAULTS.minTargetS);
    const r = chaseLatency(start, {
      bufferS: CHASE_DEFAULTS.minTargetS,
      nowMs: 100,
      stalled: false,
    });
    assert.equal(r.playbackRate, 1);
    assert.equal(r.seekS, 0);
  });

  test('speeds up gently, more when further behind, and never above maxRate', () => {
    const a = chaseLatency(start, { bufferS: 0.38, nowMs: 100, stalled: false });
    const b = chaseLatency(start, { bufferS: 0.42, nowMs: 100, stalled: false });
    const c = chaseLatency(start, { bufferS: 1.75, nowMs: 100, stalled: false });
    assert.ok(a.playbackRate > 1 && a.playbackRate < b.playbackRate, `${a.playbackRate}`);
    assert.ok(b.playbackRate <= CHASE_DEFAULTS.maxRate);
    assert.equal(c.playbackRate, CHASE_DEFAULTS.maxRate);
    assert.deepEqual([a.seekS, b.seekS, c.seekS], [0, 0, 0]);
  });

  test('seeks forward to the target when far behind, never past the buffered end', () => {
    const r = chaseLatency(start, { bufferS: 6, nowMs: 100, stalled: false });
    assert.ok(Math.abs(r.seekS - (6 - CHASE_DEFAULTS.minTargetS)) < 1e-9, `${r.seekS}`);
    assert.equal(r.playbackRate, 1);
  });

  test('a stall raises the target; without stalls it comes back down slowly to the minimum', () => {
    let state: ChaseState = chaseLatency(start, { bufferS: 0, nowMs: 1000, stalled: true });
    assert.ok(state.targetS > CHASE_DEFAULTS.minTargetS + 0.3, `${state.targetS}`);
    const raised = state.targetS;
    // A buffer just over the raised target is not chased any more.
    assert.equal(
      chaseLatency(state, { bufferS: raised, nowMs: 1100, stalled: false }).playbackRate,
      1,
    );
    // Before a calm period has passed, it stays up.
    state = chaseLatency(state, {
      bufferS: raised,
      nowMs: 1000 + CHASE_DEFAULTS.calmMs - 1,
      stalled: false,
    });
    assert.equal(state.targetS, raised);
    state = chaseLatency(state, {
      bufferS: raised,
      nowMs: 1000 + CHASE_DEFAULTS.calmMs,
      stalled: false,
    });
    assert.ok(state.targetS < raised, 'lowered after a calm period');
    assert.ok(raised - state.targetS <= CHASE_DEFAULTS.lowerStepS + 1e-9, 'by one small step');
    // Long enough without stalls: down to the minimum, and no lower.
    for (let i = 2; i < 100; i++)
      state = chaseLatency(state, {
        bufferS: 1,
        nowMs: 1000 + i * CHASE_DEFAULTS.calmMs,
        stalled: false,
      });
    assert.equal(state.targetS, CHASE_DEFAULTS.minTargetS);
  });

  test('repeated stalls raise the target up to the maximum, and no higher', () => {
    let state: ChaseState = start;
    for (let i = 0; i < 50; i++)
      state = chaseLatency(state, { bufferS: 0, nowMs: i * 100, stalled: true });
    assert.equal(state.targetS, CHASE_DEFAULTS.maxTargetS);
  });

  test('nothing buffered, NaN or a broken state: rate 1.0, no seek, target in bounds', () => {
    for (const bufferS of [null, Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      const r = chaseLatency(start, { bufferS, nowMs: 5, stalled: false });
      assert.deepEqual([r.playbackRate, r.seekS], [1, 0], String(bufferS));
    }
    const broken = chaseLatency(
      { targetS: Number.NaN, lastStallMs: 0, lastLowerMs: 0 },
      { bufferS: 1, nowMs: 5, stalled: false },
    );
    assert.equal(broken.targetS, CHASE_DEFAULTS.minTargetS);
  });

  test('property: over random runs the rate stays in [minRate, maxRate], the target in [min, max], a seek within the buffer', () => {
    const o = CHASE_DEFAULTS;
    for (let seed = 1; seed <= 200; seed++) {
      const random = prng(seed);
      let state: ChaseState = initialChaseState(0);
      let nowMs = 0;
      for (let step = 0; step < 300; step++) {
        nowMs += Math.floor(random() * 5000);
        const roll = random();
        const bufferS = roll < 0.05 ? null : roll < 0.1 ? random() * 60 : random() * 5;
        const r = chaseLatency(state, { bufferS, nowMs, stalled: random() < 0.1 });
        const where = `seed ${seed} step ${step}: ${JSON.stringify(r)} buffer ${bufferS}`;
        assert.ok(r.playbackRate >= o.minRate && r.playbackRate <= o.maxRate, where);
        assert.ok(r.targetS >= o.minTargetS && r.targetS <= o.maxTargetS, where);
        assert.ok(r.seekS >= 0 && r.seekS <= (bufferS ?? 0), where);
        if (r.seekS > 0) assert.equal(r.playbackRate, 1, where);
        state = r;
      }
    }
  });
});
