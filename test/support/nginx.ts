// nginx for tests: a reverse proxy in front of onair (deploy/nginx/onair.conf included as a user
// would include it, listening where the test says; with `hlsCache`, also
// deploy/nginx/onair-hls-cache.conf and the proxy_cache_path line its header comment gives, with
// a temporary directory for the cache), and nginx-rtmp as an origin to pull from.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopProcess, waitFor } from './media-tools.ts';

const DEPLOYED_CONF = fileURLToPath(new URL('../../deploy/nginx/onair.conf', import.meta.url));
export const HLS_CACHE_CONF = fileURLToPath(
  new URL('../../deploy/nginx/onair-hls-cache.conf', import.meta.url),
);

/** The `proxy_cache_path` line the HLS cache file's header tells users to put in http {}. */
export function documentedCachePath(cacheDir: string): string {
  const line = /^#\s+(proxy_cache_path \S+ .*;)$/m.exec(readFileSync(HLS_CACHE_CONF, 'utf8'))?.[1];
  if (line === undefined) throw new Error(`no proxy_cache_path line in ${HLS_CACHE_CONF}`);
  const path = line.split(' ')[1] ?? '';
  return line.replace(path, cacheDir);
}

/** Debian's libnginx-mod-rtmp. */
const NGINX_RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';

/** A running nginx; stop() ends it and removes its files. */
export interface Nginx {
  readonly port: number;
  /** The nginx master's pid (its worker is a child). */
  readonly pid: number;
  errorLog(): string;
  stop(): Promise<void>;
}

/** Starts nginx listening on `listen` (host:port) and proxying to onair's HTTP port. */
export async function startNginxProxy(options: {
  readonly host: string;
  readonly port: number;
  readonly onairHttpPort: number;
  /** Also include onair-hls-cache.conf (before onair.conf) with its cache in a temp dir. */
  readonly hlsCache?: boolean;
}): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'onair-nginx-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'tmp'));
  const cache = options.hlsCache === true;
  const conf = `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  upstream onair { server 127.0.0.1:${options.onairHttpPort}; keepalive 16; }
  map $http_upgrade $connection_upgrade_or_keepalive { default upgrade; '' ''; }
  ${cache ? documentedCachePath(join(dir, 'cache')) : ''}
  server {
    listen ${options.host}:${options.port};
    ${cache ? `include ${HLS_CACHE_CONF};` : ''}
    include ${DEPLOYED_CONF};
  }
}
`;
  return runNginx(dir, conf, options.host, options.port);
}

/** Starts nginx-rtmp (application `live`, live on) listening for RTMP on 127.0.0.1:`rtmpPort`. */
export async function startNginxRtmp(rtmpPort: number): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'onair-nginx-rtmp-'));
  chmodSync(dir, 0o755);
  const conf = `load_module ${NGINX_RTMP_MODULE};
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
rtmp {
  server {
    listen 127.0.0.1:${rtmpPort};
    application live { live on; record off; }
  }
}
`;
  return runNginx(dir, conf, '127.0.0.1', rtmpPort);
}

/**
 * Writes `conf` in `dir`, runs nginx in the foreground and waits until `host:port` accepts;
 * stop() ends it and removes `dir`.
 */
async function runNginx(dir: string, conf: string, host: string, port: number): Promise<Nginx> {
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child = spawn(
    'nginx',
    ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let listening = false;
  const tryConnect = (): void => {
    const socket = connect(port, host, () => {
      listening = true;
      socket.destroy();
    });
    socket.on('error', () => socket.destroy());
  };
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
        if (!listening) tryConnect();
        return listening;
      },
      10_000,
      'nginx to listen',
    );
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  return {
    port,
    pid: child.pid ?? 0,
    errorLog: () => {
      try {
        return readFileSync(join(dir, 'error.log'), 'utf8');
      } catch {
        return '';
      }
    },
    stop: async () => {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
