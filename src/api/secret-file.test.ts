// Tests of loadOrCreateSecret(): generated once with mode 0600, read back trimmed, errors name
// the path and never the secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FileIo } from '../files/durable-file.ts';
import { loadOrCreateSecret } from './secret-file.ts';
import { smallFilesystem } from '../../test/support/small-filesystem.ts';
import { tempDir } from '../../test/support/temp-dir.ts';

void test('loadOrCreateSecret() creates a 0600 file with 32 random bytes in base64url, then reads it back', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'nested', 'data', 'api-token');
  const first = loadOrCreateSecret(file);
  assert.equal(first.created, true);
  assert.match(first.value, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(first.value, 'base64url').length, 32);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(readFileSync(file, 'utf8').trim(), first.value);

  const second = loadOrCreateSecret(file);
  assert.deepEqual(second, { value: first.value, created: false });
});

void test('loadOrCreateSecret() honours the byte count and makes a different secret each time', (t) => {
  const dir = tempDir(t);
  const a = loadOrCreateSecret(join(dir, 'a'), 48);
  const b = loadOrCreateSecret(join(dir, 'b'), 48);
  assert.equal(Buffer.from(a.value, 'base64url').length, 48);
  assert.notEqual(a.value, b.value);
  assert.throws(() => loadOrCreateSecret(join(dir, 'c'), 4), RangeError);
  assert.throws(() => loadOrCreateSecret(join(dir, 'c'), 1.5), RangeError);
});

void test('loadOrCreateSecret() keeps a secret written by hand, trimmed', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'auth-secret');
  writeFileSync(file, '  my-own-secret-of-some-length\n\n');
  assert.deepEqual(loadOrCreateSecret(file), {
    value: 'my-own-secret-of-some-length',
    created: false,
  });
});

void test('loadOrCreateSecret() replaces a blank file', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'api-token');
  writeFileSync(file, ' \n');
  const result = loadOrCreateSecret(file);
  assert.equal(result.created, true);
  assert.equal(readFileSync(file, 'utf8').trim(), result.value);
  assert.equal(statSync(file).mode & 0o777, 0o600);
});

void test('loadOrCreateSecret() throws with the path when the file exists but cannot be read', (t) => {
  const dir = tempDir(t);
  // A directory where the file should be: readable by nobody as a file, root included.
  const file = join(dir, 'api-token');
  mkdirSync(file);
  assert.throws(
    () => loadOrCreateSecret(file),
    (error: unknown) => error instanceof Error && error.message.includes(file),
  );
});

void test('loadOrCreateSecret() throws with the path when the directory cannot be written', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'blocker', 'api-token');
  // A regular file where the parent directory should be: mkdir fails, for root too.
  writeFileSync(join(dir, 'blocker'), 'not a directory');
  chmodSync(join(dir, 'blocker'), 0o600);
  assert.throws(
    () => loadOrCreateSecret(file),
    (error: unknown) => error instanceof Error && error.message.includes(file),
  );
});

void test('loadOrCreateSecret() on a full disk throws naming the file and leaves no file behind', (t) => {
  const disk = smallFilesystem(t, 64);
  const file = join(disk.dir, 'auth-secret');
  disk.fill(0);
  assert.throws(
    () => loadOrCreateSecret(file, 32, disk.io),
    (error: unknown) =>
      error instanceof Error && error.message.includes(file) && /ENOSPC/.test(error.message),
  );
  assert.deepEqual(
    readdirSync(disk.dir).filter((name) => name !== 'filler'),
    [],
    'neither the secret nor a temporary file',
  );
  disk.free();
  const created = loadOrCreateSecret(file, 32, disk.io);
  assert.equal(created.created, true);
  assert.equal(readFileSync(file, 'utf8').trim(), created.value);
});

void test('loadOrCreateSecret() keeps a secret another process wrote meanwhile', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'auth-secret');
  // The other process (a server starting while `onair token` runs) links its file first.
  const io: FileIo = {
    ...fs,
    linkSync: (existing, target) => {
      fs.writeFileSync(target, 'written-by-the-other-process\n');
      fs.linkSync(existing, target);
    },
  };
  assert.deepEqual(loadOrCreateSecret(file, 32, io), {
    value: 'written-by-the-other-process',
    created: false,
  });
  assert.deepEqual(fs.readdirSync(dir), ['auth-secret']);
});
