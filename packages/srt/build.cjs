// Builds the addon with node-gyp against `pkg-config srt` when the package is installed. A
// machine without libsrt's headers (libsrt-openssl-dev) or a compiler still installs: the
// reason is kept in build/why-not-built.txt, and onair starts without SRT and says it.
'use strict';
const { spawnSync } = require('node:child_process');
const { mkdirSync, writeFileSync, rmSync } = require('node:fs');
const path = require('node:path');

const here = __dirname;
const why = path.join(here, 'build', 'why-not-built.txt');

function give(reason) {
  mkdirSync(path.dirname(why), { recursive: true });
  writeFileSync(why, `${reason.trim()}\n`);
  process.stderr.write(
    `onair-srt: not built, SRT will be off: ${reason.trim().split('\n').pop()}\n`,
  );
}

const pkg = spawnSync('pkg-config', ['--exists', 'srt'], { encoding: 'utf8' });
if (pkg.error !== undefined || pkg.status !== 0) {
  give('libsrt was not found by pkg-config (install libsrt-openssl-dev)');
  process.exit(0);
}
// npm hands its own node-gyp to install scripts; fall back to the one on PATH.
const gyp = process.env.npm_config_node_gyp;
const [command, args] =
  gyp !== undefined && gyp !== ''
    ? [process.execPath, [gyp, 'rebuild']]
    : ['node-gyp', ['rebuild']];
const built = spawnSync(command, args, {
  cwd: here,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'pipe'],
});
if (built.error !== undefined || built.status !== 0) {
  const output = `${built.stdout ?? ''}\n${built.stderr ?? ''}`
    .trim()
    .split('\n')
    .slice(-20)
    .join('\n');
  give(`node-gyp rebuild failed: ${built.error?.message ?? ''}\n${output}`);
  process.exit(0);
}
rmSync(why, { force: true });
