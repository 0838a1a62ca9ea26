// nginx as a reverse proxy in front of onair, for tests: deploy/nginx/onair.conf included as a
// user would include it, listening where the test says.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopProcess, waitFor } from './media-tools.ts';

const DEPLOYED_CONF = fileURLToPath(new URL('../../deploy/nginx/onair.conf', import.meta.url));

/** A running nginx; stop() ends it and removes its files. */
export interface Nginx {
  readonly port: number;
  errorLog(): string;
  stop(): Promise<void>;
}

/** Starts nginx listening on `listen` (host:port) and proxying to onair's HTTP port. */
export async function startNginxProxy(options: {
  readonly host: string;
  readonly port: number;
  readonly onairHttpPort: number;
}): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'onair-nginx-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'tmp'));
  const conf = `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  upstream onair { server 127.0.0.1:${options.onairHttpPort}; keepalive 16; }
  map $http_upgrade $connection_upgrade_or_keepalive { default upgrade; '' ''; }
  server {
    listen ${options.host}:${options.port};
    include ${DEPLOYED_CONF};
  }
}
`;
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
    const socket = connect(options.port, options.host, () => {
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
    port: options.port,
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
