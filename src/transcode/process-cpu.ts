// CPU time of a child process, from /proc/<pid>/stat (Linux): what a ladder's ffmpeg costs.
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime and stime (USER_HZ: 100 on every Linux ABI). */
const USER_HZ = 100;

/**
 * The user + system CPU seconds `pid` has used, from the text of its /proc/<pid>/stat; null
 * when it cannot be read (not Linux, the process gone). The command name in parentheses may
 * hold spaces and parentheses itself, so the fields are counted after the last `)`.
 */
export function parseProcStatCpuSeconds(stat: string): number | null {
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  // After ")": state (3), ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt, majflt,
  // cmajflt, utime (14), stime (15).
  const fields = stat.slice(close + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return (utime + stime) / USER_HZ;
}

/** The CPU seconds of `pid` now, or null. */
export function processCpuSeconds(pid: number): number | null {
  try {
    return parseProcStatCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return null;
  }
}

/** CPU use between samples: share of one core over the last interval, and the total. */
export class CpuMeter {
  #lastSeconds: number | null = null;
  #lastAtMs = 0;
  /** Percent of one core over the last interval (100 = one core busy), null before two samples. */
  percent: number | null = null;
  /** CPU seconds of the process at the last sample. */
  seconds = 0;

  /** Samples `pid` when at least `everyMs` passed since the last sample. */
  sample(pid: number, nowMs: number, everyMs: number): void {
    if (this.#lastSeconds !== null && nowMs - this.#lastAtMs < everyMs) return;
    const seconds = processCpuSeconds(pid);
    if (seconds === null) return;
    if (this.#lastSeconds !== null && nowMs > this.#lastAtMs) {
      this.percent = ((seconds - this.#lastSeconds) * 100_000) / (nowMs - this.#lastAtMs);
    }
    this.#lastSeconds = seconds;
    this.#lastAtMs = nowMs;
    this.seconds = seconds;
  }
}
