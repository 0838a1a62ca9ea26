// The watch page's HTTP-FLV latency controller, a pure function (no DOM, no clock of its own):
// it keeps the buffered-ahead time near a low target by playing slightly faster, seeks when far
// behind, raises the target after a stall and lowers it again slowly while playback is smooth.
// Served as /assets/latency-chase.js and imported by watch.js; unit-tested by
// test/unit/latency-chase.test.ts.

/** The controller's settings (seconds, milliseconds, playback rates). */
export const CHASE_DEFAULTS = Object.freeze({
  /** The lowest and highest target of buffered-ahead seconds. */
  minTargetS: 0.25,
  maxTargetS: 3,
  /** Added to the target by each stall. */
  stallRaiseS: 0.4,
  /** The target comes down by lowerStepS after every calmMs without a stall. */
  lowerStepS: 0.1,
  calmMs: 15_000,
  /** The playback rate stays within [minRate, maxRate]; 1.0 when within deadbandS of the target. */
  minRate: 1,
  maxRate: 1.1,
  deadbandS: 0.08,
  /** Rate above 1 per second of excess buffer (0.2 s over the target: 1.1 with the defaults). */
  gainPerS: 0.5,
  /** More than this over the target: seek forward to the target instead of speeding up. */
  seekAboveS: 1.5,
});

/** The controller's state at the start: the lowest target, the calm period starting at `nowMs`. */
export function initialChaseState(nowMs, options = CHASE_DEFAULTS) {
  return { targetS: options.minTargetS, lastStallMs: nowMs, lastLowerMs: nowMs };
}

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

/**
 * One step of the controller.
 *
 * @param {{ targetS: number, lastStallMs: number, lastLowerMs: number }} state the previous
 *   step's result (or initialChaseState())
 * @param {{ bufferS: number | null, nowMs: number, stalled: boolean }} input seconds buffered
 *   ahead of currentTime (null: nothing buffered), the time now, and whether playback stalled
 *   (a `waiting` event) since the previous step
 * @returns {{ playbackRate: number, seekS: number, targetS: number, lastStallMs: number,
 *   lastLowerMs: number }} the rate to play at, seconds to jump forward (0: none; never past the
 *   buffered end) and the next state
 */
export function chaseLatency(state, input, options = CHASE_DEFAULTS) {
  const { minTargetS, maxTargetS } = options;
  const previous = Number.isFinite(state.targetS) ? state.targetS : minTargetS;
  let targetS = clamp(previous, minTargetS, maxTargetS);
  let { lastStallMs, lastLowerMs } = state;
  const nowMs = input.nowMs;
  if (input.stalled) {
    targetS = Math.min(maxTargetS, targetS + options.stallRaiseS);
    lastStallMs = nowMs;
    lastLowerMs = nowMs;
  } else if (nowMs - Math.max(lastStallMs, lastLowerMs) >= options.calmMs) {
    targetS = Math.max(minTargetS, targetS - options.lowerStepS);
    lastLowerMs = nowMs;
  }
  const next = { playbackRate: 1, seekS: 0, targetS, lastStallMs, lastLowerMs };
  const bufferS = input.bufferS;
  if (bufferS === null || !Number.isFinite(bufferS) || bufferS <= 0) {
    next.playbackRate = clamp(1, options.minRate, options.maxRate);
    return next;
  }
  const excessS = bufferS - targetS;
  if (excessS > options.seekAboveS) {
    // Far behind: jump to the target at once (speeding up would take tens of seconds).
    next.seekS = excessS;
    next.playbackRate = clamp(1, options.minRate, options.maxRate);
  } else if (excessS > options.deadbandS) {
    next.playbackRate = clamp(1 + excessS * options.gainPerS, options.minRate, options.maxRate);
  } else {
    next.playbackRate = clamp(1, options.minRate, options.maxRate);
  }
  return next;
}
