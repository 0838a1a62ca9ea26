// A strict reader of the Prometheus text exposition format (0.0.4), for tests: HELP/TYPE
// lines, samples with labels and values; anything the format does not allow fails an assert.
import assert from 'node:assert/strict';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  type: MetricType | undefined;
  help: string | undefined;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: readonly string[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

/** The family a sample name belongs to, given the families declared so far. */
function familyOf(name: string, families: ReadonlyMap<string, Family>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const type = families.get(base)?.type;
    if (type === 'histogram' || (type === 'summary' && suffix !== '_bucket')) return base;
  }
  return name;
}

/** A sample value as Go's strconv.ParseFloat reads it (NaN and Inf in any case: prom-client
 * writes `Nan` for an empty event-loop histogram's mean). */
export function parseValue(text: string, line: number): number {
  if (/^nan$/i.test(text)) return NaN;
  const inf = /^([-+]?)inf(inity)?$/i.exec(text);
  if (inf !== null) return inf[1] === '-' ? -Infinity : Infinity;
  assert.match(text, /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, `line ${line}: bad value ${text}`);
  return Number(text);
}

/** Parses `{a="x",b="y"}` starting at `start` (the `{`); returns the labels and the end index. */
function parseLabels(
  text: string,
  start: number,
  line: number,
): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  while (text[i] !== '}') {
    const eq = text.indexOf('=', i);
    assert.ok(eq > i, `line ${line}: label without =`);
    const name = text.slice(i, eq);
    assert.match(name, LABEL_NAME, `line ${line}: bad label name ${name}`);
    assert.ok(!(name in labels), `line ${line}: label ${name} twice`);
    assert.equal(text[eq + 1], '"', `line ${line}: label value not quoted`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      const c = text[j];
      assert.ok(c !== undefined, `line ${line}: unterminated label value`);
      if (c === '"') break;
      if (c === '\\') {
        const next = text[j + 1];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else assert.fail(`line ${line}: bad escape \\${String(next)}`);
        j += 2;
      } else {
        value += c;
        j++;
      }
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else assert.equal(text[i], '}', `line ${line}: expected , or } after a label`);
  }
  return { labels, end: i + 1 };
}

/** Parses an exposition; throws (assert) on anything the format does not allow. */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seriesSeen = new Set<string>();
  let current: string | null = null;
  const done = new Set<string>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (f === undefined) {
      assert.ok(!done.has(name), `family ${name} is not contiguous`);
      f = { name, type: undefined, help: undefined, samples: [] };
      families.set(name, f);
    }
    if (current !== name) {
      if (current !== null) done.add(current);
      current = name;
    }
    return f;
  };
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (meta === null) return; // a plain comment
      const [, kind, name = '', rest = ''] = meta;
      assert.match(name, METRIC_NAME, `line ${line}: bad metric name ${name}`);
      const f = family(name);
      if (kind === 'HELP') {
        assert.equal(f.help, undefined, `line ${line}: second HELP for ${name}`);
        f.help = rest;
      } else {
        assert.equal(f.type, undefined, `line ${line}: second TYPE for ${name}`);
        assert.equal(f.samples.length, 0, `line ${line}: TYPE after samples of ${name}`);
        assert.ok(TYPES.includes(rest), `line ${line}: unknown type ${rest}`);
        f.type = rest as MetricType;
      }
      return;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(raw);
    assert.ok(nameMatch !== null, `line ${line}: no metric name`);
    const name = nameMatch[0];
    let rest = raw.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      const parsed = parseLabels(rest, 0, line);
      labels = parsed.labels;
      rest = rest.slice(parsed.end);
    }
    const fields = rest.trim().split(/ +/);
    assert.ok(rest.startsWith(' ') && fields.length >= 1 && fields.length <= 2, `line ${line}`);
    const value = parseValue(fields[0] ?? '', line);
    const f = family(familyOf(name, families));
    if (f.type === 'histogram' && name.endsWith('_bucket')) {
      assert.ok('le' in labels, `line ${line}: a bucket without le`);
    }
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    assert.ok(!seriesSeen.has(key), `line ${line}: series ${key} twice`);
    seriesSeen.add(key);
    f.samples.push({ name, labels, value });
  });
  return families;
}

// ---------------------------------------------------------------------------------------------
// Fixtures
