// Tests of RecordingWriter: order of appends, tail and patches, the shared budget, open errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../test/support/temp-dir.ts';
import { RecordingWriteError, RecordingWriter, type WriteBudget } from './recording-writer.ts';

const MiB = 1024 * 1024;

/** Resolves when `check` holds, polling; rejects after `ms`. */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function collect(): { errors: RecordingWriteError[]; onError: (e: RecordingWriteError) => void } {
  const errors: RecordingWriteError[] = [];
  return { errors, onError: (error) => errors.push(error) };
}

test('appends reach the file in order, then the tail and the patch', async (t) => {
  const path = join(tempDir(t), 'a.mp4');
  const budget: WriteBudget = { maxBytes: 64 * MiB, queuedBytes: 0 };
  const { errors, onError } = collect();
  const writer = new RecordingWriter(path, budget, onError);
  const expected: Buffer[] = [];
  let maxQueued = 0;
  // More buffers than one writev takes (1024), some appends of several buffers, some empty.
  for (let i = 0; i < 3000; i++) {
    const buffers = [Buffer.from(`<${i}>`)];
    if (i % 5 === 0) buffers.push(Buffer.alloc(i % 17, i & 0xff), Buffer.alloc(0));
    assert.equal(writer.append(buffers), true);
    expected.push(...buffers);
    assert.ok(writer.written <= writer.size, 'written never exceeds size');
    maxQueued = Math.max(maxQueued, budget.queuedBytes);
    if (i % 250 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const body = Buffer.concat(expected);
  assert.equal(writer.size, body.length);
  assert.ok(maxQueued > 0 && maxQueued <= body.length);
  await until(() => writer.written > 0, 'a first write');
  assert.ok(writer.written <= writer.size);

  const tail = Buffer.from('TAIL');
  await writer.close(tail, [{ offset: 0, bytes: Buffer.from('PATCH') }]);
  const expectedFile = Buffer.concat([body, tail]);
  Buffer.from('PATCH').copy(expectedFile, 0);
  assert.deepEqual(readFileSync(path), expectedFile);
  assert.equal(writer.size, expectedFile.length);
  assert.equal(writer.written, expectedFile.length);
  assert.equal(budget.queuedBytes, 0);
  assert.deepEqual(errors, []);
  assert.equal(writer.append([Buffer.from('late')]), false, 'no append after close');
});

test('a path in a missing folder is created', async (t) => {
  const path = join(tempDir(t), 'live', 'cam', '20261202T101500Z.mp4');
  const { errors, onError } = collect();
  const writer = new RecordingWriter(path, { maxBytes: MiB, queuedBytes: 0 }, onError);
  writer.append([Buffer.from('hello')]);
  await writer.close(null, []);
  assert.equal(readFileSync(path, 'utf8'), 'hello');
  assert.deepEqual(errors, []);
});

test('an existing file is never overwritten: write-failed', async (t) => {
  const path = join(tempDir(t), 'taken.mp4');
  writeFileSync(path, 'keep me');
  const budget: WriteBudget = { maxBytes: MiB, queuedBytes: 0 };
  const { errors, onError } = collect();
  const writer = new RecordingWriter(path, budget, onError);
  writer.append([Buffer.from('new bytes')]);
  await assert.rejects(writer.close(null, []), (error: unknown) => {
    assert.ok(error instanceof RecordingWriteError);
    assert.equal(error.code, 'write-failed');
    return true;
  });
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.code, 'write-failed');
  assert.equal(writer.failed, errors[0]);
  assert.equal(readFileSync(path, 'utf8'), 'keep me');
  assert.equal(budget.queuedBytes, 0);
});

test('over the budget: append() is false, onError once with queue-overflow', async (t) => {
  const path = join(tempDir(t), 'b.mp4');
  const budget: WriteBudget = { maxBytes: 100, queuedBytes: 0 };
  const { errors, onError } = collect();
  const writer = new RecordingWriter(path, budget, onError);
  assert.equal(writer.append([Buffer.alloc(60)]), true); // queued: the file is not open yet
  assert.equal(budget.queuedBytes, 60);
  assert.equal(writer.append([Buffer.alloc(30), Buffer.alloc(30)]), false);
  assert.equal(writer.append([Buffer.alloc(1)]), false);
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof RecordingWriteError);
  assert.equal(errors[0].code, 'queue-overflow');
  assert.equal(budget.queuedBytes, 0);
  await assert.rejects(writer.close(null, []), RecordingWriteError);
  assert.equal(errors.length, 1);
  assert.equal(budget.queuedBytes, 0);
});

test('the budget is shared: one writer over it does not stop another', async (t) => {
  const dir = tempDir(t);
  const budget: WriteBudget = { maxBytes: 1000, queuedBytes: 0 };
  const a = collect();
  const b = collect();
  const first = new RecordingWriter(join(dir, 'a.mp4'), budget, a.onError);
  const second = new RecordingWriter(join(dir, 'b.mp4'), budget, b.onError);
  assert.equal(first.append([Buffer.alloc(600)]), true);
  assert.equal(second.append([Buffer.alloc(600)]), false); // 1200 queued in all: over
  assert.equal(b.errors[0]?.code, 'queue-overflow');
  assert.equal(budget.queuedBytes, 600);
  await first.close(null, []);
  await assert.rejects(second.close(null, []));
  assert.deepEqual(a.errors, []);
  assert.equal(readFileSync(join(dir, 'a.mp4')).length, 600);
  assert.equal(budget.queuedBytes, 0);
});

test('an overflow while a write is in flight leaves the budget at 0', async (t) => {
  const path = join(tempDir(t), 'c.mp4');
  const budget: WriteBudget = { maxBytes: 1000, queuedBytes: 0 };
  const { errors, onError } = collect();
  const writer = new RecordingWriter(path, budget, onError);
  writer.append([Buffer.alloc(10)]);
  await until(() => writer.written === 10, 'the file to open and a first write');
  assert.equal(writer.append([Buffer.alloc(400)]), true); // its writev starts now
  assert.equal(writer.append([Buffer.alloc(700)]), false); // 1100 queued: over
  assert.equal(errors[0]?.code, 'queue-overflow');
  await assert.rejects(writer.close(null, []), RecordingWriteError);
  assert.equal(
    budget.queuedBytes,
    0,
    'the in-flight batch is given back to the shared budget once, not twice (by #fail, then by #flush)',
  );
});
