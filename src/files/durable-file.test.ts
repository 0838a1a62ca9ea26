// Tests of writeFileDurably(): all or nothing, on a real full file system (a small tmpfs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably, type FileIo } from './durable-file.ts';
import { smallFilesystem } from '../../test/support/small-filesystem.ts';
import { tempDir } from '../../test/support/temp-dir.ts';

/** The names in `dir` other than the test's filler. */
function names(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => name !== 'filler')
    .sort();
}

void test('writeFileDurably() creates parents, writes 0600, replaces, and leaves no temporary file', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'a', 'b', 'state.json');
  writeFileDurably(file, 'first\n');
  assert.equal(fs.readFileSync(file, 'utf8'), 'first\n');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.statSync(join(dir, 'a', 'b')).mode & 0o777, 0o700);
  writeFileDurably(file, Buffer.from('second'), { mode: 0o640 });
  assert.equal(fs.readFileSync(file, 'utf8'), 'second');
  assert.equal(fs.statSync(file).mode & 0o777, 0o640);
  assert.deepEqual(names(join(dir, 'a', 'b')), ['state.json']);
});

void test('writeFileDurably() on a full disk: the short write fails with ENOSPC, the old file stays whole', (t) => {
  const disk = smallFilesystem(t, 256);
  const file = join(disk.dir, 'state.json');
  const old = JSON.stringify({ old: 'x'.repeat(5000) });
  writeFileDurably(file, old, { io: disk.io });
  // One page left: the first write(2) of 64 KiB is short, the next one fails.
  disk.fill(4096);
  const next = JSON.stringify({ next: 'y'.repeat(64 * 1024) });
  assert.throws(
    () => {
      writeFileDurably(file, next, { io: disk.io });
    },
    (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOSPC',
  );
  assert.equal(fs.readFileSync(file, 'utf8'), old);
  assert.deepEqual(names(disk.dir), ['state.json'], 'the temporary file is removed');
  disk.free();
  writeFileDurably(file, next, { io: disk.io });
  assert.equal(fs.readFileSync(file, 'utf8'), next);
  assert.deepEqual(names(disk.dir), ['state.json']);
});

void test('writeFileDurably() passes on an fsync or rename error and removes the temporary file', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'state.json');
  writeFileDurably(file, 'old');
  for (const failing of ['fsyncSync', 'renameSync', 'closeSync'] as const) {
    let failed = false;
    const io: FileIo = {
      ...fs,
      [failing]: (...args: unknown[]) => {
        if (!failed) {
          failed = true;
          throw Object.assign(new Error(`EIO: i/o error, ${failing}`), { code: 'EIO' });
        }
        return (fs[failing] as (...a: unknown[]) => unknown)(...args);
      },
    };
    assert.throws(
      () => {
        writeFileDurably(file, 'new', { io });
      },
      /EIO/,
      failing,
    );
    assert.equal(fs.readFileSync(file, 'utf8'), 'old', failing);
    assert.deepEqual(names(dir), ['state.json'], failing);
  }
});

void test('writeFileDurably() refuses a write(2) that makes no progress instead of looping', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'state.json');
  const io: FileIo = { ...fs, writeSync: () => 0 };
  assert.throws(
    () => {
      writeFileDurably(file, 'data', { io });
    },
    (error: unknown) => (error as NodeJS.ErrnoException).code === 'EIO',
  );
  assert.deepEqual(names(dir), []);
});

void test('writeFileDurably() exclusive: creates once, then EEXIST and the first content stays', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'secret');
  writeFileDurably(file, 'first', { exclusive: true });
  assert.throws(
    () => {
      writeFileDurably(file, 'second', { exclusive: true });
    },
    (error: unknown) => (error as NodeJS.ErrnoException).code === 'EEXIST',
  );
  assert.equal(fs.readFileSync(file, 'utf8'), 'first');
  assert.deepEqual(names(dir), ['secret']);
});
