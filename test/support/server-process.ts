// Test harness: onair as its own process (`node --import tsx src/app/main.ts`), as users run it.
// Unlike test/support/server.ts (in this process), a crash shows as the process exiting, memory
// is the process's own RSS, and signals reach it as they would under a supervisor.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseExposition, type Family } from './prom-text.ts';
import { waitFor } from './media-tools.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The admin API token every server process gets (tests read /metrics and the API with it). */
export const TEST_API_TOKEN = 'test-api-token-0123456789';

/** A running onair process. */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly rtmpPort: number;
  readonly httpPort: number;
  readonly dataDir: string;
  /** JSON log entries written to stdout so far. */
  readonly logs: Record<string, unknown>[];
  rtmpUrl(path: string): string;
  httpUrl(path: string): string;
  /** True once the process has exited (for any reason). */
  exited(): boolean;
  /** Stderr so far (a crash's stack lands there or in a fatal log entry). */
  stderr(): string;
  /** Resident memory now, from /proc. */
  rssBytes(): number;
  /** GET /metrics, parsed. */
  metrics(): Promise<Map<string, Family>>;
  /** Sends `signal` and waits (at most `timeoutMs`) for the exit; SIGKILL after that. */
  stop(options?: { signal?: NodeJS.Signals; timeoutMs?: number }): Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    ms: number;
  }>;
}

/** Starts onair with `config` (merged over loopback, ports 0, debug logs, a known API token). */
export async function startServerProcess(
  config: Record<string, unknown> = {},
  options: { preload?: readonly string[] } = {},
): Promise<ServerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'onair-proc-'));
  const merged = {
    dataDir,
    log: { level: 'debug' },
    api: { token: TEST_API_TOKEN },
    ...config,
    rtmp: { host: '127.0.0.1', port: 0, ...(config.rtmp as object | undefined) },
    http: { host: '127.0.0.1', port: 0, ...(config.http as object | undefined) },
    srt: { host: '127.0.0.1', port: 0, ...(config.srt as object | undefined) },
    // ICE over TCP binds its port at start: off unless a test asks (processes run side by side).
    webrtc: { tcpPort: 0, ...(config.webrtc as object | undefined) },
  };
  const configFile = join(dataDir, 'onair.json'); // JSON is YAML
  writeFileSync(configFile, JSON.stringify(merged));
  const child = spawn(
    process.execPath,
    [
      ...(options.preload ?? []).flatMap((module) => ['--import', module]),
      '--import',
      'tsx',
      'src/app/main.ts',
      '--config',
      configFile,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let partial = '';
  let exited = false;
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue; // the banner
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      exited = true;
      resolve({ code, signal });
    });
  });
  const running = (): Record<string, unknown> | undefined =>
    logs.find((entry) => entry.msg === 'onair is running');
  try {
    await waitFor(() => running() !== undefined || exited, 30_000, 'onair to start');
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const started = running();
  if (started === undefined) throw new Error(`onair exited at start: ${stderr}`);
  const rtmpPort = Number(started.rtmpPort);
  const httpPort = Number(started.httpPort);
  return {
    child,
    rtmpPort,
    httpPort,
    dataDir,
    logs,
    rtmpUrl: (path) => `rtmp://127.0.0.1:${rtmpPort}/${path}`,
    httpUrl: (path) => `http://127.0.0.1:${httpPort}/${path}`,
    exited: () => exited,
    stderr: () => stderr,
    rssBytes: () => {
      const status = readFileSync(`/proc/${String(child.pid)}/status`, 'utf8');
      const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
      if (kb === undefined) throw new Error('no VmRSS for the server process');
      return Number(kb) * 1024;
    },
    metrics: async () => {
      const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`, {
        headers: { authorization: `Bearer ${TEST_API_TOKEN}` },
      });
      if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
      return parseExposition(await res.text());
    },
    stop: async (options = {}) => {
      const startedMs = Date.now();
      if (!exited) child.kill(options.signal ?? 'SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
      const result = await exit;
      clearTimeout(kill);
      rmSync(dataDir, { recursive: true, force: true });
      return { ...result, ms: Date.now() - startedMs };
    },
  };
}

/** The value of a metric without labels (or the first sample), or undefined. */
export function metricValue(families: Map<string, Family>, name: string): number | undefined {
  return families.get(name)?.samples[0]?.value;
}
