// The `onair` command: load config (exit 2 when invalid), start, print where to publish and
// watch, stop cleanly on SIGINT/SIGTERM.
import cluster from 'node:cluster';
import { mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ConfigError, cliUsage, loadConfig } from '../config/load-config.ts';
import { createLogger } from '../log/logger.ts';
import { Onair } from './onair.ts';
import { runTokenCommand } from './token-command.ts';
import { runPrimary } from './workers.ts';

/** Runs the server until a signal; returns the process exit code. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv[0] === 'token') {
    return runTokenCommand(
      argv.slice(1),
      env,
      (text) => process.stdout.write(text),
      (text) => process.stderr.write(text),
    );
  }
  let loaded;
  try {
    loaded = loadConfig({ argv, env, readFile: (path) => readFileSync(path, 'utf8') });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (loaded.help) {
    process.stdout.write(cliUsage);
    return 0;
  }
  const { config } = loaded;
  const workers = config.workers === 'auto' ? availableParallelism() : Number(config.workers);
  const inWorkerGroup = cluster.isWorker;
  const logger = inWorkerGroup
    ? createLogger(config.log).child({ worker: Number(env.ONAIR_WORKER_INDEX ?? 0) })
    : createLogger(config.log);
  if (!inWorkerGroup && workers > 1) {
    mkdirSync(config.dataDir, { recursive: true });
    process.on('uncaughtException', (error) => {
      logger.fatal({ err: error }, 'uncaught exception in the primary; exiting');
      process.exit(1);
    });
    return runPrimary(config, logger, workers);
  }
  // Last resort only: every socket handler already turns errors into closing that connection.
  // An uncaught exception may have left any state half-changed, so the process exits (a
  // supervisor restarts it). A rejected promise nobody awaited is a bug in one code path, not
  // corrupted state: it is logged and counted, and the broadcasts go on.
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception; exiting');
    process.exit(1);
  });
  let onair: Onair | null = null;
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled promise rejection (a bug); the server goes on');
    onair?.countUnhandledRejection();
  });
  mkdirSync(config.dataDir, { recursive: true });
  // Signals are caught before anything is printed: a supervisor (or a test) that sends SIGTERM
  // as soon as it reads the banner must get a clean stop, not the default kill.
  // A second signal while stopping means "now": the supervisor or the operator is done waiting.
  let signals = 0;
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      signals++;
      if (signals > 1) {
        logger.warn({ signal }, 'second signal: exiting at once');
        process.exit(1);
      }
      logger.info({ signal }, 'signal received');
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // A worker whose primary is gone stops too (nothing would restart or reach it).
    if (inWorkerGroup)
      process.on('disconnect', () => {
        stop('disconnect');
      });
  });
  onair = new Onair(config, logger, {
    inWorkerGroup,
    ...(inWorkerGroup ? { workerIndex: Number(env.ONAIR_WORKER_INDEX ?? 0) } : {}),
  });
  const { rtmpPort, httpPort, srtPort } = await onair.start();
  const host = 'localhost';
  logger.info({ rtmpPort, httpPort, srtPort, dataDir: config.dataDir }, 'onair is running');
  if (onair.hlsExplanation !== null) logger.info({ hls: onair.hlsExplanation }, 'HLS profile');
  if (onair.apiToken.created && config.api.enabled) {
    // Printed once, on the start that generated it; it stays in the data directory.
    process.stdout.write(
      `\n  Admin API token (generated now, kept in ${config.dataDir}/api-token):\n  ${onair.apiToken.value}\n`,
    );
  }
  // In a group, one worker prints where to publish and watch.
  if (rtmpPort !== null && (!inWorkerGroup || env.ONAIR_WORKER_BANNER === '1')) {
    process.stdout.write(
      [
        '',
        `  Publish: rtmp://${host}:${rtmpPort}/live  (OBS server), stream key NAME`,
        `           ffmpeg -re -i in.mp4 -c copy -f flv rtmp://${host}:${rtmpPort}/live/NAME`,
        ...(srtPort !== null
          ? [`           srt://${host}:${srtPort}?streamid=publish:live/NAME (SRT, MPEG-TS)`]
          : []),
        `  Watch:   rtmp://${host}:${rtmpPort}/live/NAME`,
        ...(httpPort !== null
          ? [
              `           http://${host}:${httpPort}/live/NAME.m3u8 (LL-HLS)`,
              `           http://${host}:${httpPort}/live/NAME.flv  (HTTP-FLV)`,
              `           ws://${host}:${httpPort}/live/NAME.flv    (WS-FLV)`,
              ...(srtPort !== null
                ? [`           srt://${host}:${srtPort}?streamid=read:live/NAME (SRT)`]
                : []),
              `  Player:  http://${host}:${httpPort}/watch/live/NAME, live streams: http://${host}:${httpPort}/`,
              ...(config.api.enabled
                ? [
                    `  Admin:   http://${host}:${httpPort}/dashboard/ (token in ${config.dataDir}/api-token), API http://${host}:${httpPort}/api/v1/, metrics /metrics`,
                  ]
                : []),
            ]
          : []),
        '',
        '',
      ].join('\n'),
    );
  }
  await stopped;
  // stop() keeps to server.shutdownTimeoutMs; this is the backstop should anything in it hang.
  const backstop = setTimeout(() => {
    logger.error('shutdown did not finish after its deadline; exiting');
    process.exit(1);
  }, config.server.shutdownTimeoutMs + 2000);
  backstop.unref();
  await onair.stop();
  return 0;
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    // Explicit: a handle left open (a client that never let go) must not keep the process up.
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(
      `onair failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    // Exit, not just set the code: in a --workers group the IPC channel keeps a worker that
    // failed to start alive and deaf, and the primary, waiting for an exit, never restarts it.
    process.exit(1);
  },
);
