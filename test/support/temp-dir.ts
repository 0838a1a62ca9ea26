// A fresh temporary directory for one test, removed after it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Makes `<tmp>/<prefix>XXXXXX` and removes it (recursively) when the test ends. */
export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'onair-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
