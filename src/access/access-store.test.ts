// Tests of AccessStore: keys hashed at rest and matched in constant time, private flags,
// persistence (atomic, 0600), bounds, and clear errors for a corrupt file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { AccessStore, AccessStoreLimitError, MAX_KEYS } from './access-store.ts';
import { smallFilesystem } from '../../test/support/small-filesystem.ts';
import { tempDir } from '../../test/support/temp-dir.ts';

/** A path to a not-yet-existing access.json in a fresh temporary directory. */
function tempFile(t: { after: (fn: () => void) => void }): string {
  return join(tempDir(t, 'onair-access-'), 'data', 'access.json');
}

/** Asserts that `fn` throws an Error whose message contains every part. */
function throwsWith(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof Error);
    for (const part of parts) assert.ok(error.message.includes(part), error.message);
    return true;
  });
}

void test('open() of a missing file is an empty store and writes nothing', (t) => {
  const file = tempFile(t);
  const store = AccessStore.open(file);
  assert.deepEqual(store.listKeys(), []);
  assert.equal(store.hasKeys('live/cam1'), false);
  assert.equal(store.matchKey('live/cam1', 'anything'), false);
  assert.equal(store.privateFlag('live/cam1'), undefined);
  assert.equal(existsSync(file), false);
});

void test('createKey() returns the key once and stores only its SHA-256, in a 0600 file', (t) => {
  const file = tempFile(t);
  const store = AccessStore.open(file);
  const created = store.createKey('live/cam1', 'studio encoder');
  assert.match(created.id, /^[0-9a-f]{16}$/);
  assert.match(created.key, /^[A-Za-z0-9_-]{32}$/);
  assert.equal(Buffer.from(created.key, 'base64url').length, 24);
  assert.equal(created.path, 'live/cam1');
  assert.equal(created.label, 'studio encoder');
  assert.ok(!Number.isNaN(Date.parse(created.createdAt)));

  const text = readFileSync(file, 'utf8');
  assert.ok(!text.includes(created.key), 'the clear key is not on disk');
  assert.ok(text.includes(createHash('sha256').update(created.key).digest('hex')));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(existsSync(`${file}.tmp`), false);

  const listed = {
    id: created.id,
    path: created.path,
    createdAt: created.createdAt,
    label: created.label,
  };
  assert.deepEqual(store.listKeys('live/cam1'), [listed]);
  assert.deepEqual(store.listKeys(), [listed]);
  assert.deepEqual(store.listKeys('live/other'), []);
  assert.ok(!('hash' in store.listKeys()[0]!));
});

void test('matchKey() accepts every key of the path and nothing else', (t) => {
  const store = AccessStore.open(tempFile(t));
  const a = store.createKey('live/cam1');
  const b = store.createKey('live/cam1');
  const other = store.createKey('live/cam2');
  assert.equal(store.hasKeys('live/cam1'), true);
  assert.equal(store.matchKey('live/cam1', a.key), true);
  assert.equal(store.matchKey('live/cam1', b.key), true);
  assert.equal(store.matchKey('live/cam1', other.key), false);
  assert.equal(store.matchKey('live/cam2', a.key), false);
  assert.equal(store.matchKey('live/cam1', ''), false);
  assert.equal(store.matchKey('live/cam1', a.key.slice(1)), false);
  assert.equal(store.matchKey('live/cam1', `${a.key}x`), false);
  fc.assert(
    fc.property(fc.string({ maxLength: 64 }), (candidate) => {
      const expected = candidate === a.key || candidate === b.key;
      assert.equal(store.matchKey('live/cam1', candidate), expected);
    }),
  );
});

void test('revokeKey() removes the key, reports its path, and is undefined for an unknown id', (t) => {
  const file = tempFile(t);
  const store = AccessStore.open(file);
  const a = store.createKey('live/cam1');
  const b = store.createKey('live/cam1');
  assert.deepEqual(store.revokeKey(a.id), { id: a.id, path: 'live/cam1' });
  assert.equal(store.matchKey('live/cam1', a.key), false);
  assert.equal(store.matchKey('live/cam1', b.key), true);
  assert.equal(store.revokeKey(a.id), undefined);
  assert.equal(store.revokeKey('0123456789abcdef'), undefined);
  assert.deepEqual(store.revokeKey(b.id), { id: b.id, path: 'live/cam1' });
  assert.equal(store.hasKeys('live/cam1'), false);
  assert.deepEqual(AccessStore.open(file).listKeys(), []);
});

void test('setPrivate() / privateFlag(): undefined until set, then the value, persisted', (t) => {
  const file = tempFile(t);
  const store = AccessStore.open(file);
  assert.equal(store.privateFlag('live/cam1'), undefined);
  store.setPrivate('live/cam1', true);
  store.setPrivate('live/cam2', false);
  assert.equal(store.privateFlag('live/cam1'), true);
  assert.equal(store.privateFlag('live/cam2'), false);
  const reopened = AccessStore.open(file);
  assert.equal(reopened.privateFlag('live/cam1'), true);
  assert.equal(reopened.privateFlag('live/cam2'), false);
  assert.equal(reopened.privateFlag('live/cam3'), undefined);
  reopened.setPrivate('live/cam1', false);
  assert.equal(AccessStore.open(file).privateFlag('live/cam1'), false);
});

void test('a reopened store has the same keys, which still match', (t) => {
  const file = tempFile(t);
  const store = AccessStore.open(file);
  const a = store.createKey('live/cam1', 'a');
  const b = store.createKey('app/sub/name');
  const reopened = AccessStore.open(file);
  assert.deepEqual(reopened.listKeys(), store.listKeys());
  assert.equal(reopened.matchKey('live/cam1', a.key), true);
  assert.equal(reopened.matchKey('app/sub/name', b.key), true);
});

void test('createKey() and setPrivate() refuse bad stream paths and labels', (t) => {
  const store = AccessStore.open(tempFile(t));
  throwsWith(() => store.createKey('cam1'), 'bad stream path');
  throwsWith(() => store.createKey('live/../x'), 'bad stream path');
  throwsWith(() => store.createKey('live/cam1', 'x'.repeat(101)), 'bad label', '100');
  throwsWith(() => store.createKey('live/cam1', 'line\nbreak'), 'bad label', 'control');
  throwsWith(() => {
    store.setPrivate('live/cam 1', true);
  }, 'bad stream path');
  assert.deepEqual(store.listKeys(), []);
});

void test(`createKey() throws beyond ${MAX_KEYS} keys`, (t) => {
  const file = tempFile(t);
  // Written directly: creating 10,000 keys one by one would rewrite the file 10,000 times.
  const keys = Array.from({ length: MAX_KEYS }, (_, i) => ({
    id: i.toString(16).padStart(16, '0'),
    path: 'live/cam1',
    hash: '0'.repeat(64),
    createdAt: '2024-01-01T00:00:00.000Z',
  }));
  mkdirSync(dirname(file));
  writeFileSync(file, JSON.stringify({ version: 1, keys, private: {} }));
  const store = AccessStore.open(file);
  assert.equal(store.listKeys().length, MAX_KEYS);
  assert.throws(() => store.createKey('live/cam2'), AccessStoreLimitError);
  store.revokeKey(keys[0]!.id);
  assert.equal(store.createKey('live/cam2').path, 'live/cam2');
});

void test('open() names the file and the problem for a corrupt or wrongly-shaped file', (t) => {
  const file = tempFile(t);
  mkdirSync(dirname(file));
  const cases: readonly (readonly [string, string, string])[] = [
    ['not JSON', '{"version": 1,', 'not valid JSON'],
    ['an array', '[]', 'expected shape'],
    ['a wrong version', '{"version":2,"keys":[],"private":{}}', 'version'],
    [
      'a key with a bad hash',
      '{"version":1,"keys":[{"id":"0011223344556677","path":"live/a","hash":"zz","createdAt":"2024-01-01T00:00:00.000Z"}],"private":{}}',
      'keys.0.hash',
    ],
    [
      'a key with a bad path',
      '{"version":1,"keys":[{"id":"0011223344556677","path":"../x","hash":"' +
        '0'.repeat(64) +
        '","createdAt":"2024-01-01T00:00:00.000Z"}],"private":{}}',
      'keys.0.path',
    ],
    [
      'a private flag that is not a boolean',
      '{"version":1,"keys":[],"private":{"live/a":"yes"}}',
      'private.live/a',
    ],
    ['an unknown key', '{"version":1,"keys":[],"private":{},"extra":1}', 'extra'],
    [
      'duplicate ids',
      '{"version":1,"keys":[' +
        ['a', 'b']
          .map(
            (n) =>
              `{"id":"0011223344556677","path":"live/${n}","hash":"${'0'.repeat(64)}","createdAt":"2024-01-01T00:00:00.000Z"}`,
          )
          .join(',') +
        '],"private":{}}',
      'duplicate key id',
    ],
  ];
  for (const [name, content, problem] of cases) {
    writeFileSync(file, content);
    assert.throws(
      () => AccessStore.open(file),
      (error: unknown) =>
        error instanceof Error && error.message.includes(file) && error.message.includes(problem),
      name,
    );
  }
});

void test('open() of a path that is a directory throws naming it', (t) => {
  const file = tempFile(t);
  mkdirSync(file, { recursive: true });
  throwsWith(() => AccessStore.open(file), 'cannot read', file);
});

void test('a change on a full disk throws, keeps access.json whole, and the next start opens it', (t) => {
  const disk = smallFilesystem(t, 256);
  const file = join(disk.dir, 'access.json');
  const store = AccessStore.open(file, { io: disk.io });
  const label = 'x'.repeat(100);
  const kept = Array.from({ length: 40 }, (_, i) => store.createKey(`live/cam${i}`, label));
  store.setPrivate('live/cam1', true);
  const before = readFileSync(file, 'utf8');
  assert.ok(before.length > 8192);
  // One page free: the next save's write(2) comes up short, and the one after fails.
  disk.fill(4096);
  assert.throws(
    () => store.createKey('live/more', label),
    (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOSPC',
  );
  assert.equal(store.listKeys().length, 40, 'the failed key is not kept in memory either');
  assert.equal(readFileSync(file, 'utf8'), before, 'access.json is untouched');
  assert.deepEqual(
    readdirSync(disk.dir).filter((name) => name !== 'filler'),
    ['access.json'],
    'no temporary file is left behind',
  );
  assert.throws(() => {
    store.setPrivate('live/cam2', true);
  });
  assert.equal(store.privateFlag('live/cam2'), undefined);
  assert.throws(() => store.revokeKey(kept[0]!.id));
  assert.equal(store.matchKey('live/cam0', kept[0]!.key), true, 'a failed revoke keeps the key');

  // The next start reads the keys and flags of before the failure.
  const reopened = AccessStore.open(file, { io: disk.io });
  assert.deepEqual(
    reopened.listKeys().map((k) => k.id),
    kept.map((k) => k.id),
  );
  assert.equal(reopened.matchKey('live/cam0', kept[0]!.key), true);
  assert.equal(reopened.privateFlag('live/cam1'), true);
  disk.free();
  reopened.createKey('live/after');
  assert.equal(AccessStore.open(file).listKeys().length, 41);
});
