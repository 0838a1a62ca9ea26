// Tests of describeConfig(), and of the files kept in step with it: onair.example.yaml and
// docs/configuration.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { cliUsage } from './cli-flags.ts';
import {
  describeConfig,
  describeSections,
  describeStreamKeys,
  envNameOf,
} from './describe-config.ts';
import { loadConfig } from './load-config.ts';
import { defaultConfig } from './schema.ts';

const examplePath = new URL('../../onair.example.yaml', import.meta.url);
const docsPath = new URL('../../docs/configuration.md', import.meta.url);

void test('envNameOf() turns a camelCase key path into ONAIR_ upper snake case', () => {
  assert.equal(envNameOf(['rtmp', 'port']), 'ONAIR_RTMP_PORT');
  assert.equal(envNameOf(['hub', 'gopCache', 'maxFrames']), 'ONAIR_HUB_GOP_CACHE_MAX_FRAMES');
  assert.equal(envNameOf(['dataDir']), 'ONAIR_DATA_DIR');
  assert.equal(envNameOf(['rtmp', 'maxConnectionsPerIp']), 'ONAIR_RTMP_MAX_CONNECTIONS_PER_IP');
});

void test('describeConfig() lists every leaf with a description, a default and a unique env var', () => {
  const keys = describeConfig();
  assert.deepEqual(
    keys.slice(0, 4).map((leaf) => leaf.key),
    ['dataDir', 'workers', 'rtmp.enabled', 'rtmp.host'],
  );
  assert.equal(new Set(keys.map((leaf) => leaf.env)).size, keys.length);
  const defaults = defaultConfig() as unknown as Record<string, unknown>;
  for (const leaf of keys) {
    assert.ok(leaf.description.length > 10, leaf.key);
    assert.equal(leaf.env, envNameOf(leaf.path));
    const value = leaf.path.reduce<unknown>(
      (node, part) => (node as Record<string, unknown>)[part],
      defaults,
    );
    assert.equal(leaf.default, value, leaf.key);
  }
  const port = keys.find((leaf) => leaf.key === 'rtmp.port');
  assert.deepEqual(
    { kind: port?.kind, type: port?.type, min: port?.min, max: port?.max },
    { kind: 'integer', type: 'integer 0..65535', min: 0, max: 65535 },
  );
  const format = keys.find((leaf) => leaf.key === 'log.format');
  assert.deepEqual(format?.values, ['json', 'pretty']);
});

void test('describeSections() lists every section with a description', () => {
  const sections = describeSections();
  assert.deepEqual(
    sections.map((section) => section.key),
    [
      'rtmp',
      'http',
      'hub',
      'hub.gopCache',
      'hub.viewer',
      'hls',
      'log',
      'auth',
      'hooks',
      'limits',
      'api',
      'analytics',
      'metrics',
      'recording',
      'webrtc',
      'srt',
      'abr',
      'server',
      'cluster',
    ],
  );
  for (const section of sections) assert.ok(section.description.length > 5, section.key);
});

void test('onair.example.yaml parses to exactly defaultConfig()', () => {
  const { config, configPath } = loadConfig({
    argv: ['--config', 'onair.example.yaml'],
    env: {},
    readFile: () => readFileSync(examplePath, 'utf8'),
  });
  assert.equal(configPath, 'onair.example.yaml');
  assert.deepEqual(config, defaultConfig());
});

void test('onair.example.yaml sets every key and comments it with its description and env var', () => {
  const text = readFileSync(examplePath, 'utf8');
  const doc = parseDocument(text);
  for (const leaf of describeConfig()) {
    assert.ok(doc.hasIn(leaf.path), `${leaf.key} is set`);
    assert.ok(text.includes(`# ${leaf.description}`), `${leaf.key} description`);
    assert.ok(text.includes(`env ${leaf.env}`), `${leaf.key} env`);
  }
  for (const section of describeSections()) {
    assert.ok(text.includes(`# ${section.description}`), `${section.key} description`);
  }
});

void test('docs/configuration.md has a row for every key with its default and env var', () => {
  const rows = readFileSync(docsPath, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('| `'));
  for (const leaf of describeConfig()) {
    const row = rows.find((line) => line.startsWith(`| \`${leaf.key}\` `));
    assert.ok(row, `row for ${leaf.key}`);
    assert.ok(row.includes(`\`${String(leaf.default)}\``), `${leaf.key} default`);
    assert.ok(row.includes(`\`${leaf.env}\``), `${leaf.key} env`);
    assert.ok(row.includes(leaf.description), `${leaf.key} description`);
  }
});

void test('describeStreamKeys() lists the keys of a streams: entry; the docs and the example show each', () => {
  const keys = describeStreamKeys();
  assert.deepEqual(
    keys.map((key) => [key.key, key.type]),
    [
      ['publishKey', 'string'],
      ['private', 'boolean'],
      ['hls.profile', 'low-latency | balanced | compatible'],
      ['hls.dvrWindowS', 'integer 0..86400'],
      ['record', 'boolean'],
      ['srtPassphrase', 'string'],
      ['push', 'list of string'],
      ['abr.renditions', 'list of { name, height, videoKbps, fps? }'],
    ],
  );
  const docs = readFileSync(docsPath, 'utf8');
  const example = readFileSync(examplePath, 'utf8');
  for (const key of keys) {
    const row = docs
      .split('\n')
      .find((line) => line.startsWith(`| \`streams.<path>.${key.key}\` `));
    assert.ok(row?.includes(key.description), `docs row for streams.<path>.${key.key}`);
    assert.ok(example.includes(`# ${key.description}`), `example comment for ${key.key}`);
  }
  assert.ok(!describeConfig().some((leaf) => leaf.key.startsWith('streams')), 'no env var');
});

void test('docs/configuration.md documents every flag of cliUsage, the precedence and exit code 2', () => {
  const docs = readFileSync(docsPath, 'utf8');
  const flags = cliUsage.match(/--[a-z-]+/g) ?? [];
  assert.ok(flags.length >= 9);
  for (const flag of flags) assert.ok(docs.includes(`\`${flag}`), flag);
  assert.match(docs, /code 2/);
  assert.match(docs, /ONAIR_CONFIG/);
  assert.match(docs, /Later sources win/);
});
