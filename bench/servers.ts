// The servers under test: onair, Node-Media-Server and nginx-rtmp, each started on free loopback
// ports, pinned to one core with taskset, and stopped (SIGTERM, then SIGKILL).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ViewerKind } from './load-options.ts';

/** Servers the bench knows. */
export const SERVER_NAMES = ['onair', 'nms', 'nginx-rtmp'] as const;
export type ServerName = (typeof SERVER_NAMES)[number];

/**
 * What a run plays: RTMP, HTTP-FLV, or HLS: onair's default LL-HLS profile and nginx-rtmp's HLS
 * files (MPEG-TS) served by nginx; `hls-ts` is onair's 'compatible' profile (MPEG-TS, no parts),
 * `hls-balanced` its 'balanced' profile (LL-HLS, 2 s segments, 0.334 s parts), `hls-cached`
 * the default profile through nginx with deploy/nginx/onair-hls-cache.conf (both on the server's
 * core; their CPU is summed).
 */
export type BenchKind =
  | 'rtmp'
  | 'httpflv'
  | 'hls'
  | 'hls-ts'
  | 'hls-balanced'
  | 'hls-cached'
  | 'httpflv-bare'
  | 'httpflv-monitored'
  | 'httpflv-publishers'
  | 'httpflv-recording';
export const BENCH_KINDS: readonly BenchKind[] = [
  'rtmp',
  'httpflv',
  'hls',
  'hls-ts',
  'hls-balanced',
  'hls-cached',
  'httpflv-bare',
  'httpflv-monitored',
  'httpflv-publishers',
  'httpflv-recording',
];

/** The API token the bench gives onair (env ONAIR_API_TOKEN) for the monitoring load. */
export const BENCH_API_TOKEN = 'bench-api-token-0123456789abcdef';

/** onair's HLS profile for an HLS bench kind (`hls` runs the default, low-latency). */
const ONAIR_PROFILE: Partial<Record<BenchKind, string>> = {
  'hls-ts': 'compatible',
  'hls-balanced': 'balanced',
};

/** The load generator's viewer kind for a bench kind. */
export function viewerKindOf(kind: BenchKind): ViewerKind {
  if (kind === 'hls-ts' || kind === 'hls-balanced' || kind === 'hls-cached') return 'hls';
  if (
    kind === 'httpflv-bare' ||
    kind === 'httpflv-monitored' ||
    kind === 'httpflv-publishers' ||
    kind === 'httpflv-recording'
  )
    return 'httpflv';
  return kind;
}

/** Kinds each server can serve. */
export const SERVER_KINDS: Record<ServerName, readonly BenchKind[]> = {
  onair: [
    'rtmp',
    'httpflv',
    'hls',
    'hls-ts',
    'hls-balanced',
    'hls-cached',
    'httpflv-bare',
    'httpflv-monitored',
    'httpflv-publishers',
    'httpflv-recording',
  ],
  nms: ['rtmp', 'httpflv'], // NMS 4 has no HLS without ffmpeg transcoding
  'nginx-rtmp': ['rtmp', 'hls'], // nginx-rtmp has no HTTP-FLV; its HLS is MPEG-TS
};

const NGINX_RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
const STREAM = 'bench';

/** A started server. */
export interface RunningServer {
  readonly name: ServerName;
  /** Root of the process tree to sample (node itself; nginx: the master). */
  readonly pid: number;
  /**
   * Every process tree the run's server is made of, sampled together (hls-cached: onair, then
   * the nginx in front of it), and what each one is.
   */
  readonly pids: readonly number[];
  readonly parts: readonly string[];
  readonly publishUrl: string;
  /**
   * How long to leave the idle server before measuring: V8 shrinks a fresh Node process's heap
   * (start-up garbage, ~20 MB for onair) about 9 s after start; the RSS baseline must come after.
   */
  readonly settleMs: number;
  playUrl(kind: BenchKind): string;
  /** The HTTP listener's base URL (`http://127.0.0.1:PORT`). */
  readonly httpBase: string;
  stop(): Promise<void>;
}

/** Where and how to start a server. */
export interface StartOptions {
  /** What will be played: decides onair's HLS profile and whether nginx-rtmp writes HLS. */
  readonly kind: BenchKind;
  readonly cpu: number;
  readonly resultsDir: string;
  /** The server's stdout and stderr go there. */
  readonly logFile: string;
}

/** A TCP port that was free a moment ago. */
/** `count` distinct free ports: every probe listener stays open until all are bound. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((bound, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', bound);
      });
    }
    return servers.map((server) => {
      const address = server.address();
      return typeof address === 'object' && address !== null ? address.port : 0;
    });
  } finally {
    await Promise.all(servers.map((server) => new Promise((closed) => server.close(closed))));
  }
}

async function waitForPort(port: number, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited (${child.exitCode ?? child.signalCode}) before listening`);
    }
    const ok = await new Promise<boolean>((done) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => {
        done(false);
      });
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`port ${port} not listening after ${timeoutMs} ms`);
}

/** True when nginx with the RTMP module is installed; installs it with apt when root. */
export function ensureNginxRtmp(): boolean {
  if (existsSync(NGINX_RTMP_MODULE) && existsSync('/usr/sbin/nginx')) return true;
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      'nginx-rtmp missing and not root: apt-get install -y nginx libnginx-mod-rtmp\n',
    );
    return false;
  }
  process.stderr.write('installing nginx libnginx-mod-rtmp with apt-get...\n');
  // RUNLEVEL=1 keeps the package scripts from starting the system nginx on port 80.
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' };
  try {
    execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-q', 'nginx', 'libnginx-mod-rtmp'], {
      stdio: 'inherit',
      env,
    });
  } catch (error) {
    process.stderr.write(
      `apt-get failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
  }
  return existsSync(NGINX_RTMP_MODULE);
}

/**
 * nginx-rtmp's configuration; with `hls` it also writes HLS into `hls.dir` (2 s fragments, 12 s
 * playlist) that nginx serves on `hls.httpPort` from the page cache with sendfile (as
 * /work/shared/bench/peers.sh does).
 */
export function nginxConfig(
  dir: string,
  rtmpPort: number,
  hlsOptions: { readonly dir: string; readonly httpPort: number } | null,
): string {
  const hls = hlsOptions?.dir ?? '';
  const httpPort = hlsOptions?.httpPort ?? 0;
  const rtmpHls =
    hlsOptions === null
      ? ''
      : `
      hls on;
      hls_path ${hls};
      hls_fragment 2s;
      hls_playlist_length 12s;
      hls_cleanup on;`;
  const http =
    hlsOptions === null
      ? ''
      : `http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  server {
    listen 127.0.0.1:${httpPort};
    location /hls/ { alias ${hls}/; add_header Cache-Control no-cache; }
  }
}
`;
  return `load_module ${NGINX_RTMP_MODULE};
worker_processes 1;
worker_rlimit_nofile 20000;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 19000; }
rtmp {
  server {
    listen 127.0.0.1:${rtmpPort};
    chunk_size 4096;
    application live {
      live on;
      record off;${rtmpHls}
    }
  }
}
${http}`;
}

const HLS_CACHE_CONF = resolve(import.meta.dirname, '../deploy/nginx/onair-hls-cache.conf');
const ONAIR_CONF = resolve(import.meta.dirname, '../deploy/nginx/onair.conf');

/**
 * nginx in front of onair as deploy/nginx/onair-hls-cache.conf says to run it: the
 * proxy_cache_path line of its header (with the cache in `cacheDir`), the upstream, and both
 * files included; 1 worker, access log off, keep-alive as the nginx-rtmp HLS server has it.
 */
export function nginxCacheConfig(
  dir: string,
  cacheDir: string,
  httpPort: number,
  onairHttpPort: number,
): string {
  const line = /^#\s+(proxy_cache_path \S+ .*;)$/m.exec(readFileSync(HLS_CACHE_CONF, 'utf8'))?.[1];
  if (line === undefined) throw new Error(`no proxy_cache_path line in ${HLS_CACHE_CONF}`);
  const cachePath = line.replace(line.split(' ')[1] ?? '', cacheDir);
  return `worker_processes 1;
worker_rlimit_nofile 20000;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 19000; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  ${cachePath}
  upstream onair { server 127.0.0.1:${onairHttpPort}; keepalive 64; }
  map $http_upgrade $connection_upgrade_or_keepalive { default upgrade; '' ''; }
  server {
    listen 127.0.0.1:${httpPort};
    include ${HLS_CACHE_CONF};
    include ${ONAIR_CONF};
  }
}
`;
}

/** Starts nginx with `conf` pinned to `cpu`; its output goes to `logFile`. */
function spawnNginx(dir: string, conf: string, cpu: number, logFile: string): ChildProcess {
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const out = openSync(logFile, 'a');
  const child = spawn(
    'taskset',
    [
      ...['-c', String(cpu), 'nginx', '-p', dir, '-e', join(dir, 'error.log')],
      ...['-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'],
    ],
    { stdio: ['ignore', out, out] },
  );
  closeSync(out);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => {
    child.once('exit', () => {
      done();
    });
  });
  child.kill('SIGTERM');
  const timedOut = await Promise.race([exited.then(() => false), sleep(8000).then(() => true)]);
  if (timedOut) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Starts one server pinned to `options.cpu`; resolves once its ports accept connections. */
export async function startServer(name: ServerName, options: StartOptions): Promise<RunningServer> {
  const [rtmpPort = 0, httpPort = 0, cachePort = 0] = await freePorts(3);
  const root = resolve(import.meta.dirname, '..');
  let args: string[];
  let ports = [rtmpPort, httpPort];
  /** nginx-rtmp's HLS files: outside the repository (`.ts` files there would meet tsc). */
  let scratch: string | null = null;
  switch (name) {
    case 'onair':
      // The compiled server, as `npm start` runs it (bench/run.ts builds it first).
      args = [
        process.execPath,
        'dist/app/main.js',
        '--rtmp-port',
        String(rtmpPort),
        '--http-port',
        String(httpPort),
        '--srt-port',
        '0',
        '--host',
        '127.0.0.1',
        '--log-level',
        'warn',
        '--data-dir',
        join(options.resultsDir, 'onair-data'),
        // every bench viewer comes from 127.0.0.1
        '--set',
        'rtmp.maxConnectionsPerIp=1000000',
        '--set',
        'hls.maxHeldRequestsPerIp=1000000',
        '--set',
        'limits.maxViewersPerIp=1000000',
        // httpflv-bare: no analytics and no metrics, the baseline of httpflv-monitored.
        ...(options.kind === 'httpflv-bare'
          ? ['--set', 'analytics.enabled=false', '--set', 'metrics.enabled=false']
          : []),
        // httpflv-recording: every stream recorded (the bench adds 10 recorded publishers).
        ...(options.kind === 'httpflv-recording' ? ['--set', 'recording.enabled=true'] : []),
        ...(ONAIR_PROFILE[options.kind] === undefined
          ? []
          : ['--set', `hls.profile=${ONAIR_PROFILE[options.kind] ?? ''}`]),
      ];
      break;
    case 'nms':
      args = [
        process.execPath,
        '--import',
        'tsx',
        'bench/nms-server.ts',
        '--rtmp-port',
        String(rtmpPort),
        '--http-port',
        String(httpPort),
        '--srt-port',
        '0',
        '--data-dir',
        join(options.resultsDir, 'nms-data'),
      ];
      break;
    case 'nginx-rtmp': {
      if (!ensureNginxRtmp()) throw new Error('nginx-rtmp is not installed');
      const dir = join(options.resultsDir, 'nginx');
      const hls = options.kind === 'hls';
      mkdirSync(dir, { recursive: true });
      if (hls) {
        // A fresh directory each run: old fragments would be served (and continued).
        scratch = mkdtempSync(join(tmpdir(), 'onair-bench-nginx-'));
        chmodSync(scratch, 0o755); // mkdtemp makes it 0700: nginx's worker could not enter
        mkdirSync(join(scratch, 'hls'));
        mkdirSync(join(dir, 'tmp'), { recursive: true });
      }
      const hlsOptions = scratch === null ? null : { dir: join(scratch, 'hls'), httpPort };
      writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, rtmpPort, hlsOptions));
      args = [
        'nginx',
        '-p',
        dir,
        '-e',
        join(dir, 'error.log'),
        '-c',
        join(dir, 'nginx.conf'),
        '-g',
        'daemon off;',
      ];
      ports = hls ? [rtmpPort, httpPort] : [rtmpPort];
      break;
    }
  }
  const out = openSync(options.logFile, 'a');
  const child = spawn('taskset', ['-c', String(options.cpu), ...args], {
    cwd: root,
    stdio: ['ignore', out, out],
    env: { ...process.env, ONAIR_API_TOKEN: BENCH_API_TOKEN },
  });
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${name}`);
  try {
    for (const port of ports) await waitForPort(port, 20_000, child);
  } catch (error) {
    await stopChild(child);
    if (scratch !== null) rmSync(scratch, { recursive: true, force: true });
    throw new Error(
      `${name}: ${error instanceof Error ? error.message : String(error)} (log ${options.logFile})`,
      { cause: error },
    );
  }
  // hls-cached: nginx with the shipped HLS cache in front of onair, on the same core. Its cache
  // lives on a tmpfs (/dev/shm when there is one), as the config's header suggests.
  let front: ChildProcess | null = null;
  let frontScratch: string | null = null;
  if (name === 'onair' && options.kind === 'hls-cached') {
    const dir = join(options.resultsDir, 'nginx-cache');
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    frontScratch = mkdtempSync(
      join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'onair-bench-'),
    );
    chmodSync(frontScratch, 0o755);
    const conf = nginxCacheConfig(dir, join(frontScratch, 'cache'), cachePort, httpPort);
    front = spawnNginx(dir, conf, options.cpu, options.logFile);
    try {
      await waitForPort(cachePort, 20_000, front);
    } catch (error) {
      await stopChild(front);
      await stopChild(child);
      rmSync(frontScratch, { recursive: true, force: true });
      throw new Error(
        `nginx cache: ${error instanceof Error ? error.message : String(error)} (log ${dir}/error.log)`,
        { cause: error },
      );
    }
  }
  const frontPid = front?.pid;
  return {
    name,
    pid,
    pids: frontPid === undefined ? [pid] : [pid, frontPid],
    parts: frontPid === undefined ? [name] : [name, 'nginx'],
    publishUrl: `rtmp://127.0.0.1:${rtmpPort}/live/${STREAM}`,
    settleMs: name === 'nginx-rtmp' ? 1000 : 10_000,
    httpBase: `http://127.0.0.1:${httpPort}`,
    playUrl: (kind) => {
      switch (kind) {
        case 'rtmp':
          return `rtmp://127.0.0.1:${rtmpPort}/live/${STREAM}`;
        case 'httpflv':
        case 'httpflv-bare':
        case 'httpflv-monitored':
        case 'httpflv-publishers':
        case 'httpflv-recording':
          return `http://127.0.0.1:${httpPort}/live/${STREAM}.flv`;
        case 'hls-cached':
          return `http://127.0.0.1:${cachePort}/live/${STREAM}.m3u8`;
        case 'hls':
        case 'hls-ts':
        case 'hls-balanced':
          return name === 'nginx-rtmp'
            ? `http://127.0.0.1:${httpPort}/hls/${STREAM}.m3u8`
            : `http://127.0.0.1:${httpPort}/live/${STREAM}.m3u8`;
      }
    },
    stop: async () => {
      if (front !== null) await stopChild(front);
      await stopChild(child);
      if (scratch !== null) rmSync(scratch, { recursive: true, force: true });
      if (frontScratch !== null) rmSync(frontScratch, { recursive: true, force: true });
    },
  };
}
