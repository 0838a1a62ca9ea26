// Starts Node-Media-Server (the devDependency) for the benchmark: RTMP and HTTP-FLV on 127.0.0.1,
// no admin console, no API, no recording, logging at warn (onair runs at warn too).
// usage: node --import tsx bench/nms-server.ts --rtmp-port P --http-port Q --data-dir DIR
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

interface NodeMediaServer {
  run(): unknown;
}

const require = createRequire(import.meta.url);
// NMS is CommonJS without type declarations: type the two things used.
const NodeMediaServerClass = require('node-media-server') as new (
  config: object,
) => NodeMediaServer;
const nmsLogger = require('node-media-server/src/core/logger.js') as { level: string };

const { values } = parseArgs({
  options: {
    'rtmp-port': { type: 'string' },
    'http-port': { type: 'string' },
    'data-dir': { type: 'string', default: 'bench/results/nms-data' },
  },
});
const rtmpPort = Number(values['rtmp-port']);
const httpPort = Number(values['http-port']);
if (!Number.isInteger(rtmpPort) || !Number.isInteger(httpPort) || rtmpPort <= 0 || httpPort <= 0) {
  process.stderr.write('usage: nms-server.ts --rtmp-port P --http-port Q [--data-dir DIR]\n');
  process.exit(2);
}
const dataDir = values['data-dir'];
mkdirSync(dataDir, { recursive: true });

const server = new NodeMediaServerClass({
  bind: '127.0.0.1',
  rtmp: { port: rtmpPort },
  http: { port: httpPort },
  webadmin: { enable: false },
  store: { path: dataDir },
  record: { auto: false, path: `${dataDir}/record` },
  notify: { url: '' },
});
// The constructor forces debug level (one line per session and more): keep warnings only.
nmsLogger.level = 'warn';
await server.run();
process.stderr.write(`nms: rtmp 127.0.0.1:${rtmpPort}, http-flv 127.0.0.1:${httpPort}\n`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => process.exit(0));
}
