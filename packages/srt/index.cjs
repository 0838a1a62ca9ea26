// Loads the addon built at install (build.cjs). `binding` is null when it was not built or does
// not load, and `whyNot` then says why, so the server can start without SRT and tell the user.
'use strict';
const { readFileSync } = require('node:fs');
const path = require('node:path');

let binding = null;
let whyNot = null;
try {
  binding = require('./build/Release/onair_srt.node');
} catch (error) {
  let reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
  try {
    reason = readFileSync(path.join(__dirname, 'build', 'why-not-built.txt'), 'utf8').trim();
  } catch {
    // no record of a failed build: the load error says it
  }
  whyNot = reason;
}

module.exports = { binding, whyNot };
