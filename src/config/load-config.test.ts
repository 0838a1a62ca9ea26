// Tests of loadConfig(): defaults, file < env < flags precedence, --set, coercion, and that
// every problem (YAML, env, flags, schema) is reported at once with key, rule and value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cliUsage, ConfigError, loadConfig, type LoadConfigInput } from './load-config.ts';
import { defaultConfig } from './schema.ts';

/** A readFile over an in-memory set of files; a missing one throws like fs does. */
function files(contents: Record<string, string>): LoadConfigInput['readFile'] {
  return (path) => {
    const text = contents[path];
    if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    return text;
  };
}

const noFile = files({});

/** Runs loadConfig() expecting a ConfigError and returns it. */
function loadError(input: Partial<LoadConfigInput>): ConfigError {
  try {
    loadConfig({ argv: [], env: {}, readFile: noFile, ...input });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('loadConfig() did not throw');
}

/** The issues as `[key, rule, value]` triples, for compact assertions. */
function triples(error: ConfigError): unknown[][] {
  return error.issues.map((issue) => [issue.key, issue.rule, issue.value]);
}

void test('loadConfig() with no argv, env or file returns the defaults and reads no file', () => {
  let reads = 0;
  const result = loadConfig({
    argv: [],
    env: { PATH: '/usr/bin', HOME: '/root' },
    readFile: () => {
      reads++;
      return '';
    },
  });
  assert.deepEqual(result.config, defaultConfig());
  assert.equal(result.help, false);
  assert.equal(result.configPath, undefined);
  assert.equal(reads, 0);
});

void test('loadConfig() lets a flag beat env and env beat the file, which beats the defaults', () => {
  const yaml = 'dataDir: /srv/onair\nrtmp:\n  port: 1000\nhttp:\n  port: 2000\n';
  const { config, configPath } = loadConfig({
    argv: ['--config', 'onair.yaml', '--rtmp-port', '1002'],
    env: { ONAIR_RTMP_PORT: '1001', ONAIR_HTTP_PORT: '2001' },
    readFile: files({ 'onair.yaml': yaml }),
  });
  assert.equal(configPath, 'onair.yaml');
  assert.equal(config.rtmp.port, 1002);
  assert.equal(config.http.port, 2001);
  assert.equal(config.dataDir, '/srv/onair');
  assert.equal(config.rtmp.host, '0.0.0.0');
});

void test('loadConfig() reads the file named by ONAIR_CONFIG, and --config beats it', () => {
  const readFile = files({ 'a.yaml': 'rtmp: { port: 1 }', 'b.yaml': 'rtmp: { port: 2 }' });
  const fromEnv = loadConfig({ argv: [], env: { ONAIR_CONFIG: 'a.yaml' }, readFile });
  assert.equal(fromEnv.config.rtmp.port, 1);
  assert.equal(fromEnv.configPath, 'a.yaml');
  const fromFlag = loadConfig({
    argv: ['--config=b.yaml'],
    env: { ONAIR_CONFIG: 'a.yaml' },
    readFile,
  });
  assert.equal(fromFlag.config.rtmp.port, 2);
});

void test('loadConfig() applies --set to any leaf, repeatable, the last one winning over env', () => {
  const { config } = loadConfig({
    argv: [
      '--set',
      'hub.gopCache.maxFrames=100',
      '--set=http.cors=false',
      '--set',
      'hub.gopCache.maxFrames=200',
      '--set',
      'log.level=debug',
    ],
    env: { ONAIR_HUB_GOP_CACHE_MAX_FRAMES: '50' },
    readFile: noFile,
  });
  assert.equal(config.hub.gopCache.maxFrames, 200);
  assert.equal(config.http.cors, false);
  assert.equal(config.log.level, 'debug');
});

void test('loadConfig() maps the shortcut flags, --host setting both listeners', () => {
  const { config } = loadConfig({
    argv: [
      '--host=127.0.0.1',
      '--http-port',
      '0',
      '--data-dir',
      '/tmp/x',
      '--log-level',
      'warn',
      '--log-format',
      'pretty',
    ],
    env: {},
    readFile: noFile,
  });
  assert.equal(config.rtmp.host, '127.0.0.1');
  assert.equal(config.http.host, '127.0.0.1');
  assert.equal(config.http.port, 0);
  assert.equal(config.dataDir, '/tmp/x');
  assert.deepEqual(config.log, { level: 'warn', format: 'pretty' });
});

void test('loadConfig() coerces env values by the type of their key', () => {
  const { config } = loadConfig({
    argv: [],
    env: {
      ONAIR_HTTP_CORS: 'off',
      ONAIR_RTMP_ENABLED: 'FALSE',
      ONAIR_HUB_GOP_CACHE_ENABLED: '0',
      ONAIR_HUB_GOP_CACHE_MAX_FRAMES: ' 300 ',
      ONAIR_LOG_LEVEL: 'DEBUG',
      ONAIR_DATA_DIR: '/var/lib/onair',
      ONAIR_CONFIG: '',
      ONAIR_API_TOKEN: 'reserved-and-ignored',
    },
    readFile: noFile,
  });
  assert.equal(config.http.cors, false);
  assert.equal(config.rtmp.enabled, false);
  assert.equal(config.hub.gopCache.enabled, false);
  assert.equal(config.hub.gopCache.maxFrames, 300);
  assert.equal(config.log.level, 'debug');
  assert.equal(config.dataDir, '/var/lib/onair');
});

void test('loadConfig() reports a bad port, an unknown key, a bad env value and an unknown flag at once', () => {
  const error = loadError({
    argv: ['--config', 'onair.yaml', '--bogus'],
    env: { ONAIR_HTTP_CORS: 'maybe' },
    readFile: files({ 'onair.yaml': 'rtmp:\n  port: 70000\n  prot: 1935\n' }),
  });
  assert.equal(error.code, 'ERR_CONFIG');
  assert.deepEqual(
    triples(error).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    [
      ['--bogus', 'unknown_flag', undefined],
      ['http.cors', 'invalid_type', 'maybe'],
      ['rtmp.port', 'too_big', 70000],
      ['rtmp.prot', 'unrecognized_keys', 1935],
    ],
  );
  const lines = error.message.split('\n');
  assert.equal(lines[0], 'Invalid configuration (4 problems):');
  assert.ok(
    lines.includes(
      '  - rtmp.port: must be <= 65535 (rule: too_big, value: 70000, from onair.yaml:2)',
    ),
    error.message,
  );
  assert.ok(
    lines.includes(
      '  - http.cors: must be a boolean (rule: invalid_type, value: "maybe", from env ONAIR_HTTP_CORS)',
    ),
    error.message,
  );
  assert.ok(
    lines.some((line) => line.startsWith('  - rtmp.prot: unknown key (did you mean port?)')),
  );
});

void test('loadConfig() reads per-stream settings and reports a bad path, key or value in streams:', () => {
  const { config } = loadConfig({
    argv: ['--config', 'onair.yaml'],
    env: {},
    readFile: files({
      'onair.yaml': 'streams:\n  live/a:\n    hls:\n      profile: compatible\n  live/b:\n',
    }),
  });
  assert.deepEqual(config.streams, { 'live/a': { hls: { profile: 'compatible' } }, 'live/b': {} });
  const error = loadError({
    argv: ['--config', 'onair.yaml'],
    readFile: files({
      'onair.yaml':
        'streams:\n  ../etc:\n    hls: {}\n  live/c:\n    hls:\n      profile: fast\n  live/d:\n    hsl: {}\n',
    }),
  });
  assert.deepEqual(
    triples(error).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    [
      ['streams.../etc', 'invalid_key', { hls: {} }],
      ['streams.live/c.hls.profile', 'invalid_value', 'fast'],
      ['streams.live/d.hsl', 'unrecognized_keys', {}],
    ],
  );
  assert.match(error.message, /streams\.\.\.\/etc: must be a stream path such as live\/cam1/);
  assert.match(
    error.message,
    /streams\.live\/c\.hls\.profile: must be one of: low-latency, balanced, compatible \(rule: invalid_value, value: "fast", from onair.yaml:6\)/,
  );
  assert.match(error.message, /streams\.live\/d\.hsl: unknown key \(did you mean hls\?\)/);
});

void test('loadConfig() lists an unknown ONAIR_ variable, suggesting the closest one', () => {
  const error = loadError({ env: { ONAIR_FOO: '1', ONAIR_RTMP_PROT: '1936' } });
  assert.deepEqual(triples(error), [
    ['ONAIR_FOO', 'unknown_env', '1'],
    ['ONAIR_RTMP_PROT', 'unknown_env', '1936'],
  ]);
  assert.match(
    error.message,
    /ONAIR_RTMP_PROT: unknown environment variable \(did you mean ONAIR_RTMP_PORT\?\)/,
  );
  assert.match(error.message, /^Invalid configuration \(2 problems\):/);
});

void test('loadConfig() reports a YAML syntax error with its line, together with the env problems', () => {
  const error = loadError({
    env: { ONAIR_CONFIG: 'broken.yaml', ONAIR_RTMP_PORT: 'abc' },
    readFile: files({ 'broken.yaml': 'rtmp:\n  port: 1935\nrtmp:\n  host: x\n' }),
  });
  assert.deepEqual(
    error.issues.map((issue) => [issue.key, issue.rule]),
    [
      ['broken.yaml', 'yaml_syntax'],
      ['rtmp.port', 'invalid_type'],
    ],
  );
  assert.match(error.issues[0]!.message, /line 3, column 1/);
  assert.equal(error.issues[1]!.message, 'must be an integer');
});

void test('loadConfig() reports an unreadable file, a non-mapping file and a bad alias', () => {
  assert.deepEqual(triples(loadError({ argv: ['--config', 'missing.yaml'] })), [
    ['--config', 'file_unreadable', 'missing.yaml'],
  ]);
  const list = loadError({ argv: ['--config=l.yaml'], readFile: files({ 'l.yaml': '- 1\n' }) });
  assert.deepEqual(triples(list), [['l.yaml', 'invalid_type', undefined]]);
  const alias = loadError({ argv: ['--config=a.yaml'], readFile: files({ 'a.yaml': 'a: *x\n' }) });
  assert.equal(alias.issues[0]!.rule, 'yaml_syntax');
});

void test('loadConfig() treats an empty file and an empty section as defaults', () => {
  const readFile = files({
    'empty.yaml': '# nothing\n',
    'sections.yaml': 'rtmp:\nhub:\n  gopCache:\n',
  });
  for (const path of ['empty.yaml', 'sections.yaml']) {
    const { config } = loadConfig({ argv: ['--config', path], env: {}, readFile });
    assert.deepEqual(config, defaultConfig(), path);
  }
});

void test('loadConfig() reports a section given as a scalar instead of a mapping', () => {
  const error = loadError({
    argv: ['--config=s.yaml', '--rtmp-port=1'],
    readFile: files({ 's.yaml': 'rtmp: 5\n' }),
  });
  assert.deepEqual(triples(error), [['rtmp', 'invalid_type', 5]]);
  assert.match(error.message, /rtmp: must be a mapping/);
});

void test('loadConfig() reports flag problems: missing value, stray argument, bad --set, unknown key', () => {
  const error = loadError({
    argv: ['--rtmp-port', '--http-port', '1', 'stray', '--set', 'nokey', '--set', 'rtmp.prot=1'],
  });
  assert.deepEqual(triples(error), [
    ['--rtmp-port', 'missing_value', undefined],
    ['stray', 'unexpected_argument', 'stray'],
    ['--set', 'invalid_flag', 'nokey'],
    ['rtmp.prot', 'unknown_key', '1'],
  ]);
  assert.match(error.message, /rtmp\.prot: unknown key \(did you mean rtmp\.port\?\)/);
});

void test('loadConfig() reports the value of an unknown flag and a value given to --help', () => {
  const error = loadError({ argv: ['--verbose', 'yes', '--help=1', '-x'] });
  assert.deepEqual(triples(error), [
    ['--verbose', 'unknown_flag', 'yes'],
    ['--help', 'unexpected_value', '1'],
    ['-x', 'unknown_flag', undefined],
  ]);
});

void test('loadConfig() masks the values of secret-looking names in issues and in the message', () => {
  const error = loadError({
    argv: ['--config', 'c.yaml', '--api-token', 'flag-secret'],
    env: { ONAIR_STREAM_KEY: 'env-secret' },
    readFile: files({
      'c.yaml': 'admin:\n  token: file-secret\n  user: bob\napi:\n  token: short\n',
    }),
  });
  assert.deepEqual(triples(error), [
    ['ONAIR_STREAM_KEY', 'unknown_env', '***'],
    ['--api-token', 'unknown_flag', '***'],
    ['api.token', 'custom', '***'],
    ['admin', 'unrecognized_keys', { token: '***', user: 'bob' }],
  ]);
  assert.doesNotMatch(error.message, /secret/);
});

void test('loadConfig() with --help returns the defaults and help, ignoring everything else', () => {
  const result = loadConfig({
    argv: ['--bogus', '-h'],
    env: { ONAIR_FOO: 'x', ONAIR_CONFIG: 'missing.yaml' },
    readFile: noFile,
  });
  assert.equal(result.help, true);
  assert.deepEqual(result.config, defaultConfig());
});

void test('loadConfig() returns a deeply frozen config: mutation throws in strict mode', () => {
  const { config } = loadConfig({ argv: ['--rtmp-port', '1936'], env: {}, readFile: noFile });
  assert.throws(() => {
    (config.rtmp as { port: number }).port = 1;
  }, TypeError);
  assert.throws(() => {
    (config.hub.viewer as { maxBehindMs: number }).maxBehindMs = 1;
  }, TypeError);
  assert.equal(config.rtmp.port, 1936);
});

void test('ConfigError lists a single problem as "1 problem" and freezes its issues', () => {
  const error = loadError({ env: { ONAIR_RTMP_PORT: '-5' } });
  assert.equal(
    error.message,
    'Invalid configuration (1 problem):\n  - rtmp.port: must be >= 0 (rule: too_small, value: -5, from env ONAIR_RTMP_PORT)',
  );
  assert.ok(Object.isFrozen(error.issues));
  assert.equal(error.name, 'ConfigError');
});

void test('cliUsage names every flag', () => {
  for (const flag of ['--config', '--rtmp-port', '--http-port', '--host', '--data-dir']) {
    assert.ok(cliUsage.includes(flag), flag);
  }
  for (const flag of ['--log-level', '--log-format', '--set', '--help']) {
    assert.ok(cliUsage.includes(flag), flag);
  }
});

void test('loadConfig() takes any in-range port from env and rejects any other (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: -70_000, max: 140_000 }), (port) => {
      const input = { argv: [], env: { ONAIR_RTMP_PORT: String(port) }, readFile: noFile };
      if (port >= 0 && port <= 65535) {
        assert.equal(loadConfig(input).config.rtmp.port, port);
      } else {
        const error = loadError(input);
        assert.deepEqual(triples(error), [['rtmp.port', port < 0 ? 'too_small' : 'too_big', port]]);
      }
    }),
  );
});

void test('loadConfig() on random argv, env and file text returns or throws only ConfigError (property)', () => {
  const word = fc.oneof(
    fc.string(),
    fc.constantFrom('--set', '--config', '--rtmp-port', '--host', '-h', '--', 'rtmp.port=1'),
  );
  fc.assert(
    fc.property(
      fc.array(word, { maxLength: 6 }),
      fc.dictionary(fc.constantFrom('ONAIR_RTMP_PORT', 'ONAIR_X', 'ONAIR_LOG_LEVEL'), fc.string()),
      fc.string(),
      (argv, env, text) => {
        try {
          loadConfig({ argv: ['--config=f', ...argv], env, readFile: () => text });
        } catch (error) {
          assert.ok(error instanceof ConfigError, String(error));
        }
      },
    ),
  );
});
