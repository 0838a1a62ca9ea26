// Server CPU and memory from /proc: utime+stime and VmRSS of a pid and all its descendants
// (tsx wrapper -> node, nginx master -> worker), plus the TCP table for stalled viewers.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Clock ticks per second of /proc/PID/stat times. */
function clockTicksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
}

/** One sample of a process tree. */
export interface ProcSample {
  readonly atMs: number;
  /** pid -> utime + stime in clock ticks. */
  readonly ticks: ReadonlyMap<number, number>;
  readonly rssKB: number;
}

/** Fields after the command name in /proc/PID/stat (the name may contain spaces). */
function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Every live pid among `roots` and their descendants. */
export function processTree(roots: readonly number[]): number[] {
  const tree = new Set(roots.filter((pid) => existsSync(`/proc/${pid}`)));
  if (tree.size === 0) return [];
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields) parentOf.set(Number(entry), Number(fields[1]));
  }
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, parent] of parentOf) {
      if (!tree.has(pid) && tree.has(parent)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return [...tree];
}

/** Samples a process tree; the tree is re-read at every sample (workers may come and go). */
export class ProcSampler {
  readonly #roots: readonly number[];
  readonly #clockTicks = clockTicksPerSecond();
  pids: number[];

  constructor(roots: readonly number[]) {
    this.#roots = roots;
    this.pids = this.#tree();
  }

  /** Takes one sample now. */
  sample(): ProcSample {
    this.pids = this.#tree();
    const ticks = new Map<number, number>();
    let rssKB = 0;
    for (const pid of this.pids) {
      const fields = statFields(pid);
      if (!fields) continue;
      ticks.set(pid, Number(fields[11]) + Number(fields[12]));
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'latin1');
        const match = /VmRSS:\s+(\d+)/.exec(status);
        if (match) rssKB += Number(match[1]);
      } catch {
        // exited between the two reads
      }
    }
    return { atMs: performance.now(), ticks, rssKB };
  }

  /**
   * The tree without tsx's esbuild service (a transpiler child of `node --import tsx`, idle after
   * start-up: it is not part of the server, and nginx has nothing like it).
   */
  #tree(): number[] {
    return processTree(this.#roots).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'latin1').trim() !== 'esbuild';
      } catch {
        return false;
      }
    });
  }

  /** CPU between two samples, in % of one core (pids present in both; only `of` if given). */
  cpuPercent(from: ProcSample, to: ProcSample, of?: ReadonlySet<number>): number {
    let ticks = 0;
    for (const [pid, value] of to.ticks) {
      const before = from.ticks.get(pid);
      if (before !== undefined && (of === undefined || of.has(pid))) ticks += value - before;
    }
    const seconds = (to.atMs - from.atMs) / 1000;
    return seconds > 0 ? (ticks / this.#clockTicks / seconds) * 100 : 0;
  }

  /** cpuPercent() of each root's own tree (as it is now), in the order of the roots. */
  cpuPercentByRoot(from: ProcSample, to: ProcSample): number[] {
    return this.#roots.map((root) => this.cpuPercent(from, to, new Set(processTree([root]))));
  }
}

/** Busy/total jiffies per CPU from /proc/stat. */
export function machineCpuTimes(): Map<string, { idle: number; total: number }> {
  const out = new Map<string, { idle: number; total: number }>();
  for (const line of readFileSync('/proc/stat', 'latin1').split('\n')) {
    const match = /^(cpu\d+) (.*)$/.exec(line);
    if (!match?.[1] || match[2] === undefined) continue;
    const values = match[2].trim().split(/\s+/).map(Number);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    out.set(match[1], { idle, total: values.reduce((a, b) => a + b, 0) });
  }
  return out;
}

/** Busy % per CPU between two machineCpuTimes() readings. */
export function machineBusyPercent(
  from: Map<string, { idle: number; total: number }>,
  to: Map<string, { idle: number; total: number }>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [cpu, b] of to) {
    const a = from.get(cpu);
    if (!a) continue;
    const total = Math.max(1, b.total - a.total);
    out[cpu] = Math.round(1000 * (1 - (b.idle - a.idle) / total)) / 10;
  }
  return out;
}

/** State and queues of one TCP socket in /proc/net/tcp. */
export interface TcpEntry {
  readonly state: string;
  readonly sendQueueBytes: number;
  readonly receiveQueueBytes: number;
}

const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0B': 'CLOSING',
};

/** IPv4/IPv6 TCP sockets keyed by `localPort:remotePort`. */
export function tcpTable(): Map<string, TcpEntry> {
  const out = new Map<string, TcpEntry>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 5) continue;
      const localPort = parseInt(cols[1]?.split(':')[1] ?? '', 16);
      const remotePort = parseInt(cols[2]?.split(':')[1] ?? '', 16);
      const queues = (cols[4] ?? '').split(':');
      const state = cols[3] ?? '';
      out.set(`${localPort}:${remotePort}`, {
        state: TCP_STATES[state] ?? state,
        sendQueueBytes: parseInt(queues[0] ?? '0', 16),
        receiveQueueBytes: parseInt(queues[1] ?? '0', 16),
      });
    }
  }
  return out;
}
