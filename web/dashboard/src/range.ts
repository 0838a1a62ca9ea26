// Time ranges of the history page: presets (last 1 h / 24 h / 7 d) or from/to, in the hash query.

/** The preset ranges, by name. */
export const PRESETS = {
  '1h': { label: 'Last 1 h', seconds: 3600 },
  '24h': { label: 'Last 24 h', seconds: 86_400 },
  '7d': { label: 'Last 7 d', seconds: 7 * 86_400 },
} as const;

/** A preset's name. */
export type PresetName = keyof typeof PRESETS;

/** What the user picked. */
export type RangeChoice =
  | { readonly kind: 'preset'; readonly preset: PresetName }
  | { readonly kind: 'custom'; readonly fromMs: number; readonly toMs: number };

/** The range shown when the hash names none. */
export const DEFAULT_CHOICE: RangeChoice = { kind: 'preset', preset: '1h' };

function isPreset(value: string | null): value is PresetName {
  return value !== null && Object.hasOwn(PRESETS, value);
}

/** The choice in a hash query (`range=24h`, or `from=<ISO>&to=<ISO>`); the default otherwise. */
export function choiceFromQuery(query: URLSearchParams): RangeChoice {
  const range = query.get('range');
  if (isPreset(range)) return { kind: 'preset', preset: range };
  const fromMs = Date.parse(query.get('from') ?? '');
  const toMs = Date.parse(query.get('to') ?? '');
  if (!Number.isNaN(fromMs) && !Number.isNaN(toMs) && fromMs < toMs) {
    return { kind: 'custom', fromMs, toMs };
  }
  return DEFAULT_CHOICE;
}

/** The hash query for `choice`. */
export function queryOfChoice(choice: RangeChoice): URLSearchParams {
  if (choice.kind === 'preset') return new URLSearchParams({ range: choice.preset });
  return new URLSearchParams({
    from: new Date(choice.fromMs).toISOString(),
    to: new Date(choice.toMs).toISOString(),
  });
}

/** The absolute range of `choice` at `nowMs`. */
export function resolveChoice(
  choice: RangeChoice,
  nowMs: number,
): { fromMs: number; toMs: number } {
  if (choice.kind === 'custom') return { fromMs: choice.fromMs, toMs: choice.toMs };
  return { fromMs: nowMs - PRESETS[choice.preset].seconds * 1000, toMs: nowMs };
}

/**
 * A time as a datetime-local input value (local time): `2024-05-01T13:05`, or with `seconds`
 * `2024-05-01T13:05:09` (for an input with `step="1"`).
 */
export function toLocalInput(ms: number, seconds = false): string {
  const at = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  const minutes = `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())}T${two(at.getHours())}:${two(at.getMinutes())}`;
  return seconds ? `${minutes}:${two(at.getSeconds())}` : minutes;
}

/** A datetime-local input value (local time) in ms, or null when empty or invalid. */
export function fromLocalInput(value: string): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value);
  if (match === null) return null;
  const [, y, mo, d, hh, mm, ss] = match.map(Number);
  if (
    y === undefined ||
    mo === undefined ||
    d === undefined ||
    hh === undefined ||
    mm === undefined
  ) {
    return null;
  }
  const at = new Date(y, mo - 1, d, hh, mm, Number.isNaN(ss) || ss === undefined ? 0 : ss);
  return Number.isNaN(at.getTime()) ? null : at.getTime();
}
