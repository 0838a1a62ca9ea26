// Tests of createLogger(): JSON lines, levels, child bindings, redaction, and the pretty format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, formatPrettyLine, type LoggerOptions } from './logger.ts';

/** A logger writing into an array of lines. */
function capture(options: Omit<LoggerOptions, 'destination'>) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      callback();
    },
  });
  return { logger: createLogger({ ...options, destination }), lines };
}

void test('createLogger() json writes one JSON object a line with level label, msg, time and fields', () => {
  const { logger, lines } = capture({ level: 'info', format: 'json' });
  logger.info({ path: 'live/cam1', bytes: 12 }, 'publish started');
  logger.warn('slow viewer');
  assert.equal(lines.length, 2);
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(first.level, 'info');
  assert.equal(first.msg, 'publish started');
  assert.equal(first.path, 'live/cam1');
  assert.equal(first.bytes, 12);
  assert.match(String(first.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal((JSON.parse(lines[1]!) as { level: string }).level, 'warn');
});

void test('createLogger() drops entries below the level, and silent writes nothing', () => {
  const info = capture({ level: 'info', format: 'json' });
  info.logger.debug('hidden');
  info.logger.trace('hidden');
  info.logger.error('shown');
  assert.equal(info.lines.length, 1);
  assert.equal(info.logger.isLevelEnabled('debug'), false);
  assert.equal(info.logger.isLevelEnabled('warn'), true);
  const silent = capture({ level: 'silent', format: 'json' });
  silent.logger.fatal('hidden');
  assert.deepEqual(silent.lines, []);
});

void test('Logger.child() adds its bindings to every entry', () => {
  const { logger, lines } = capture({ level: 'debug', format: 'json' });
  logger.child({ component: 'rtmp' }).child({ peer: '10.0.0.1:5000' }).debug('connected');
  const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(entry.component, 'rtmp');
  assert.equal(entry.peer, '10.0.0.1:5000');
  assert.equal(entry.level, 'debug');
});

void test('createLogger() redacts token, key, password and secret fields, also one level down', () => {
  const { logger, lines } = capture({ level: 'info', format: 'json' });
  logger.info(
    {
      token: 't0k',
      key: 'k3y',
      password: 'pa55',
      secret: 's3c',
      query: { token: 'qt0k' },
      user: 'bob',
    },
    'auth',
  );
  assert.doesNotMatch(lines[0]!, /t0k|k3y|pa55|s3c/);
  const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(entry.token, '[redacted]');
  assert.equal(entry.key, '[redacted]');
  assert.deepEqual(entry.query, { token: '[redacted]' });
  assert.equal(entry.user, 'bob');
});

void test('createLogger() pretty writes "HH:MM:SS.mmm LEVEL msg key=value" lines, redacted', () => {
  const { logger, lines } = capture({ level: 'info', format: 'pretty' });
  logger
    .child({ component: 'hub' })
    .info({ path: 'live/cam1', viewers: 3, note: 'two words', token: 'abc' }, 'stream up');
  assert.equal(lines.length, 1);
  assert.match(
    lines[0]!,
    /^\d\d:\d\d:\d\d\.\d{3} INFO {2}stream up component=hub path=live\/cam1 viewers=3 note="two words" token="\[redacted\]"$/,
  );
});

void test('createLogger() pretty keeps one line an entry: control characters are escaped', () => {
  const { logger, lines } = capture({ level: 'info', format: 'pretty' });
  logger.warn({ name: 'evil\nFAKE' }, 'bad name\r\nFAKE ERROR line');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /WARN {2}bad name\\r\\nFAKE ERROR line name="evil\\nFAKE"$/);
});

void test('createLogger() pretty shows an error as its type and message', () => {
  const { logger, lines } = capture({ level: 'info', format: 'pretty' });
  logger.error({ err: new RangeError('boom') }, 'failed');
  assert.match(lines[0]!, /ERROR failed err="RangeError: boom"$/);
});

void test('formatPrettyLine() passes a line that is not a JSON object through unchanged', () => {
  assert.equal(formatPrettyLine('not json\n'), 'not json\n');
  assert.equal(formatPrettyLine('[1,2]\n'), '[1,2]\n');
  assert.match(
    formatPrettyLine('{"level":"debug","time":"2024-01-02T03:04:05.678Z","msg":"m","n":null}'),
    /^\d\d:\d\d:\d\d\.678 DEBUG m n=null\n$/,
  );
});
