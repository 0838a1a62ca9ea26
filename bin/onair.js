#!/usr/bin/env node
// The `onair` command: the compiled server (dist/, made by `npm run build`, which `npm ci` runs).
await import('../dist/app/main.js');
