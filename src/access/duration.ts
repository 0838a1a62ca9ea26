// Durations as people write them in config and on the command line: `90`, `90s`, `30m`, `2h`,
// `7d`, `1h30m`.

/** Longest duration accepted: 10 years of 365 days, in seconds. */
export const MAX_DURATION_S = 10 * 365 * 86_400;

const DURATION = /^(?:([0-9]{1,12})d)?(?:([0-9]{1,12})h)?(?:([0-9]{1,12})m)?(?:([0-9]{1,12})s)?$/;
const PLAIN_SECONDS = /^[0-9]{1,12}$/;

/**
 * Parses a duration into seconds: a plain number of seconds (`90`) or units in the order
 * d h m s, each at most once (`90s`, `30m`, `2h`, `7d`, `1h30m`, `1d12h`). Returns null for
 * anything else, for zero, and for more than 10 years.
 */
export function parseDuration(text: string): number | null {
  let seconds: number;
  if (PLAIN_SECONDS.test(text)) {
    seconds = Number(text);
  } else {
    const match = DURATION.exec(text);
    if (match === null || text === '') return null;
    const [, d, h, m, s] = match;
    seconds =
      Number(d ?? 0) * 86_400 + Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(s ?? 0);
  }
  if (seconds <= 0 || seconds > MAX_DURATION_S) return null;
  return seconds;
}
