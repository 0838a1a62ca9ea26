// Tests of OnairMetrics: the exposition is parsed with a strict Prometheus text-format parser
// (no npm parser is installed; prom-client only writes), and the Grafana dashboard's queries are
// checked against what is exported.
import {
  parseExposition,
  parseValue,
  type Family,
  type Sample,
} from '../../test/support/prom-text.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { SessionRegistry } from '../hub/session-registry.ts';
import {
  AUTH_DENIAL_CODES,
  HOOK_DURATION_BUCKETS,
  LIMIT_REFUSAL_CODES,
  OTHER_REASON,
  OnairMetrics,
  SERVER_REJECTION_CODES,
  reasonLabel,
  type MetricsSources,
} from './metrics.ts';

// ---------------------------------------------------------------------------------------------
// A strict parser of the Prometheus text format 0.0.4.

interface FakeState {
  liveStreams: number;
  refusals: Map<string, number>;
  rejections: Map<string, number>;
  hls: ReturnType<MetricsSources['hls']>;
  streams: ReturnType<MetricsSources['streams']>;
  analyticsDropped: number;
  throwFrom: string | null;
}

function fakeSources(sessions = new SessionRegistry()): {
  sources: MetricsSources;
  state: FakeState;
} {
  const state: FakeState = {
    liveStreams: 0,
    refusals: new Map(),
    rejections: new Map(),
    hls: null,
    streams: [],
    analyticsDropped: 0,
    throwFrom: null,
  };
  const guard = (what: string): void => {
    if (state.throwFrom === what) throw new Error(`${what} failed`);
  };
  const sources: MetricsSources = {
    liveStreams: () => {
      guard('liveStreams');
      return state.liveStreams;
    },
    sessions,
    refusals: () => {
      guard('refusals');
      return state.refusals;
    },
    connectionRejections: () => state.rejections,
    hls: () => {
      guard('hls');
      return state.hls;
    },
    streams: () => state.streams,
    analyticsDropped: () => state.analyticsDropped,
  };
  return { sources, state };
}

function session(
  sessions: SessionRegistry,
  role: 'publisher' | 'viewer',
  protocol: string,
  bytes: { n: number },
  dropped = 0,
) {
  return sessions.add({
    role,
    protocol,
    path: 'live/a',
    ip: '127.0.0.1',
    close: () => undefined,
    bytes: () => bytes.n,
    droppedFrames: () => dropped,
  });
}

async function scrape(metrics: OnairMetrics): Promise<Map<string, Family>> {
  const { contentType, body } = await metrics.render();
  assert.match(contentType, /^text\/plain; version=0\.0\.4/);
  return parseExposition(body);
}

/** The value of the one sample of `name` whose labels include `labels`. */
function value(
  families: ReadonlyMap<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const matches = [...families.values()]
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(matches.length, 1, `one sample of ${name} ${JSON.stringify(labels)}`);
  return matches[0]!.value;
}

function labelValues(families: ReadonlyMap<string, Family>, name: string, label: string): string[] {
  const f = families.get(name);
  assert.ok(f, `family ${name}`);
  return f.samples.map((s) => s.labels[label] ?? '').sort();
}

const ALLOWED_AUTH = new Set([...AUTH_DENIAL_CODES.map(reasonLabel), OTHER_REASON]);
const ALLOWED_REJECTED = new Set([
  ...LIMIT_REFUSAL_CODES.map(reasonLabel),
  ...SERVER_REJECTION_CODES.map(reasonLabel),
  OTHER_REASON,
]);

// ---------------------------------------------------------------------------------------------

test('the exposition is well formed: names, TYPEs, default process_ and nodejs_ metrics', async () => {
  const { sources } = fakeSources();
  const families = await scrape(new OnairMetrics(sources, { perStreamSeries: 0 }));
  const expected: Record<string, string> = {
    onair_streams: 'gauge',
    onair_publishers: 'gauge',
    onair_viewers: 'gauge',
    onair_ingest_bytes_total: 'counter',
    onair_egress_bytes_total: 'counter',
    onair_frames_dropped_total: 'counter',
    onair_auth_denied_total: 'counter',
    onair_connections_rejected_total: 'counter',
    onair_hook_duration_seconds: 'histogram',
    onair_hls_streams: 'gauge',
    onair_hls_parts_total: 'counter',
    onair_hls_segments_total: 'counter',
    onair_hls_held_requests: 'gauge',
    onair_hls_untracked_requests_total: 'counter',
    onair_analytics_dropped_sessions_total: 'counter',
    onair_metrics_source_errors_total: 'counter',
    // prom-client defaults, standard names without our prefix
    nodejs_eventloop_lag_seconds: 'gauge',
    nodejs_eventloop_lag_p99_seconds: 'gauge',
    process_resident_memory_bytes: 'gauge',
    process_cpu_seconds_total: 'counter',
    nodejs_heap_size_used_bytes: 'gauge',
  };
  for (const [name, type] of Object.entries(expected)) {
    assert.equal(families.get(name)?.type, type, name);
  }
  for (const f of families.values()) {
    assert.ok(f.type !== undefined && f.help !== undefined && f.help !== '', `${f.name} typed`);
    if (!f.name.startsWith('onair_')) continue;
    // Naming guide: counters and only counters end in _total; no unit-less rates.
    assert.equal(f.type === 'counter', f.name.endsWith('_total'), f.name);
    assert.doesNotMatch(f.name, /kbps|_ms$|milli/, f.name);
  }
  assert.ok(!families.has('onair_stream_viewers'), 'no per-stream series at 0');
  assert.ok(value(families, 'process_resident_memory_bytes') > 0);
  assert.equal(value(families, 'onair_viewers', { protocol: 'http-flv' }), 0);
  assert.deepEqual(labelValues(families, 'onair_viewers', 'protocol'), [
    'hls',
    'http-flv',
    'rtmp',
    'webrtc',
    'ws-flv',
  ]);
});

test('values equal the sources, including the totals of ended sessions', async () => {
  const sessions = new SessionRegistry();
  const { sources, state } = fakeSources(sessions);
  const publisherBytes = { n: 5000 };
  const rtmpViewer = { n: 100 };
  const flvViewer = { n: 200 };
  const wsViewer = { n: 300 };
  session(sessions, 'publisher', 'rtmp', publisherBytes);
  session(sessions, 'viewer', 'rtmp', rtmpViewer, 4);
  session(sessions, 'viewer', 'http-flv', flvViewer);
  const ws = session(sessions, 'viewer', 'ws-flv', wsViewer, 3);
  session(sessions, 'viewer', 'ws-flv', { n: 1 });
  state.liveStreams = 1;
  state.hls = {
    streams: 2,
    parts: 40,
    segments: 7,
    heldRequests: 5,
    untrackedRequests: 9,
    requests: { playlist: 3, blocking_playlist: 30, part: 31, init: 2 },
  };
  state.analyticsDropped = 12;
  const metrics = new OnairMetrics(sources, { perStreamSeries: 0 });

  let families = await scrape(metrics);
  assert.equal(value(families, 'onair_streams'), 1);
  assert.equal(value(families, 'onair_publishers'), 1);
  assert.equal(value(families, 'onair_viewers', { protocol: 'rtmp' }), 1);
  assert.equal(value(families, 'onair_viewers', { protocol: 'http-flv' }), 1);
  assert.equal(value(families, 'onair_viewers', { protocol: 'ws-flv' }), 2);
  assert.equal(value(families, 'onair_ingest_bytes_total', { protocol: 'rtmp' }), 5000);
  assert.equal(value(families, 'onair_egress_bytes_total', { protocol: 'rtmp' }), 100);
  assert.equal(value(families, 'onair_egress_bytes_total', { protocol: 'http-flv' }), 200);
  assert.equal(value(families, 'onair_egress_bytes_total', { protocol: 'ws-flv' }), 301);
  assert.equal(value(families, 'onair_frames_dropped_total', { reason: 'slow_viewer' }), 7);
  assert.deepEqual(labelValues(families, 'onair_frames_dropped_total', 'reason'), ['slow_viewer']);
  assert.equal(value(families, 'onair_hls_streams'), 2);
  assert.equal(value(families, 'onair_hls_parts_total'), 40);
  assert.equal(value(families, 'onair_hls_segments_total'), 7);
  assert.equal(value(families, 'onair_hls_held_requests'), 5);
  assert.equal(value(families, 'onair_hls_untracked_requests_total'), 9);
  assert.equal(value(families, 'onair_hls_requests_total', { kind: 'playlist' }), 3);
  assert.equal(value(families, 'onair_hls_requests_total', { kind: 'blocking_playlist' }), 30);
  assert.equal(value(families, 'onair_hls_requests_total', { kind: 'part' }), 31);
  assert.equal(value(families, 'onair_hls_requests_total', { kind: 'segment' }), 0);
  assert.equal(value(families, 'onair_hls_requests_total', { kind: 'init' }), 2);
  assert.equal(value(families, 'onair_analytics_dropped_sessions_total'), 12);

  // A viewer leaves: its bytes and drops stay in the totals; the gauge goes down.
  wsViewer.n = 350;
  sessions.remove(ws);
  families = await scrape(metrics);
  assert.equal(value(families, 'onair_viewers', { protocol: 'ws-flv' }), 1);
  assert.equal(value(families, 'onair_egress_bytes_total', { protocol: 'ws-flv' }), 351);
  assert.equal(value(families, 'onair_frames_dropped_total', { reason: 'slow_viewer' }), 7);

  // HLS off: its series read 0.
  state.hls = null;
  families = await scrape(metrics);
  assert.equal(value(families, 'onair_hls_streams'), 0);
  assert.equal(value(families, 'onair_hls_parts_total'), 0);
});

test('refusals split into auth_denied and connections_rejected with bounded reasons', async () => {
  const { sources, state } = fakeSources();
  state.refusals = new Map([
    ['bad-key', 2],
    ['token-expired', 1],
    ['ip-not-allowed', 4],
    ['max-viewers', 3],
    ['too-many-failures', 1],
    ['some-new-code', 5], // unknown: counted, under "other"
  ]);
  state.rejections = new Map([
    ['max-connections', 6],
    ['ERR_RTMP_CHUNK_SIZE', 2],
    ['bad-key', 9], // an RTMP close after a refusal: refusals() counted it already
    ['live/cam1 whatever', 1], // unknown: "other"
  ]);
  const families = await scrape(new OnairMetrics(sources, { perStreamSeries: 0 }));
  assert.equal(value(families, 'onair_auth_denied_total', { reason: 'bad_key' }), 2);
  assert.equal(value(families, 'onair_auth_denied_total', { reason: 'token_expired' }), 1);
  assert.equal(value(families, 'onair_auth_denied_total', { reason: 'ip_not_allowed' }), 4);
  assert.equal(value(families, 'onair_auth_denied_total', { reason: 'token_signature' }), 0);
  assert.equal(value(families, 'onair_auth_denied_total', { reason: 'other' }), 0);
  assert.equal(value(families, 'onair_connections_rejected_total', { reason: 'max_viewers' }), 3);
  assert.equal(
    value(families, 'onair_connections_rejected_total', { reason: 'too_many_failures' }),
    1,
  );
  assert.equal(
    value(families, 'onair_connections_rejected_total', { reason: 'max_connections' }),
    6,
  );
  assert.equal(
    value(families, 'onair_connections_rejected_total', { reason: 'rtmp_chunk_size' }),
    2,
  );
  assert.equal(value(families, 'onair_connections_rejected_total', { reason: 'other' }), 6);
  assert.ok(
    !labelValues(families, 'onair_connections_rejected_total', 'reason').includes('bad_key'),
  );
  for (const reason of labelValues(families, 'onair_auth_denied_total', 'reason')) {
    assert.ok(ALLOWED_AUTH.has(reason), reason);
  }
  for (const reason of labelValues(families, 'onair_connections_rejected_total', 'reason')) {
    assert.ok(ALLOWED_REJECTED.has(reason), reason);
  }
});

test('property: any refusal codes give bounded reason labels and keep every count', async () => {
  const codes = fc.oneof(
    fc.constantFrom(...AUTH_DENIAL_CODES, ...LIMIT_REFUSAL_CODES, ...SERVER_REJECTION_CODES),
    fc.string({ maxLength: 40 }),
  );
  const counts = fc.array(fc.tuple(codes, fc.nat(1000)), { maxLength: 20 });
  const { sources, state } = fakeSources();
  const metrics = new OnairMetrics(sources, { perStreamSeries: 0 });
  await fc.assert(
    fc.asyncProperty(counts, counts, async (refusals, rejections) => {
      state.refusals = new Map(refusals);
      state.rejections = new Map(rejections);
      const families = await scrape(metrics);
      const auth = families.get('onair_auth_denied_total')!.samples;
      const rejected = families.get('onair_connections_rejected_total')!.samples;
      for (const s of auth) assert.ok(ALLOWED_AUTH.has(s.labels.reason ?? ''), s.labels.reason);
      for (const s of rejected) {
        assert.ok(ALLOWED_REJECTED.has(s.labels.reason ?? ''), s.labels.reason);
      }
      const sum = (samples: readonly Sample[]) => samples.reduce((t, s) => t + s.value, 0);
      const refused = [...state.refusals.values()].reduce((t, n) => t + n, 0);
      const refusalCodes = new Set<string>([...AUTH_DENIAL_CODES, ...LIMIT_REFUSAL_CODES]);
      const serverOnly = [...state.rejections]
        .filter(([code]) => !refusalCodes.has(code))
        .reduce((t, [, n]) => t + n, 0);
      assert.equal(sum(auth) + sum(rejected), refused + serverOnly);
    }),
    { numRuns: 60 },
  );
});

test('hook durations: a histogram with the documented buckets, hook and result labels', async () => {
  const { sources } = fakeSources();
  const metrics = new OnairMetrics(sources, { perStreamSeries: 0 });
  metrics.observeHook('on_publish', 30, true);
  metrics.observeHook('on_publish', 1200, true);
  metrics.observeHook('on_play', 5000, false);
  metrics.observeHook('on_whatever', 1, true);
  metrics.observeHook('on_stop', Number.NaN, true); // counted as 0 s, never throws
  const families = await scrape(metrics);
  const hook = families.get('onair_hook_duration_seconds');
  assert.equal(hook?.type, 'histogram');
  const publishOk = { hook: 'on_publish', result: 'ok' };
  const buckets = hook.samples.filter(
    (s) => s.name.endsWith('_bucket') && s.labels.hook === 'on_publish',
  );
  assert.deepEqual(
    buckets.map((s) => parseValue(s.labels.le ?? '', 0)),
    [...HOOK_DURATION_BUCKETS, Infinity],
  );
  assert.equal(HOOK_DURATION_BUCKETS[0], 0.005);
  assert.equal(HOOK_DURATION_BUCKETS.at(-1), 10);
  assert.deepEqual(
    buckets.map((s) => s.value),
    HOOK_DURATION_BUCKETS.map((le) => (le >= 1.2 ? 2 : le >= 0.03 ? 1 : 0)).concat(2),
  );
  assert.equal(value(families, 'onair_hook_duration_seconds_count', publishOk), 2);
  assert.ok(Math.abs(value(families, 'onair_hook_duration_seconds_sum', publishOk) - 1.23) < 1e-9);
  assert.equal(
    value(families, 'onair_hook_duration_seconds_count', { hook: 'on_play', result: 'failed' }),
    1,
  );
  assert.equal(
    value(families, 'onair_hook_duration_seconds_count', { hook: 'other', result: 'ok' }),
    1,
  );
  assert.deepEqual([...new Set(hook.samples.map((s) => s.labels.hook))].sort(), [
    'on_play',
    'on_publish',
    'on_stop',
    'other',
  ]);
});

test('hook notifications dropped: by hook, both notification hooks at 0 from the start', async () => {
  const { sources } = fakeSources();
  const drops = new Map<string, number>();
  const metrics = new OnairMetrics(
    { ...sources, hookNotificationsDropped: () => drops },
    { perStreamSeries: 0 },
  );
  let families = await scrape(metrics);
  assert.equal(families.get('onair_hook_notifications_dropped_total')?.type, 'counter');
  assert.equal(value(families, 'onair_hook_notifications_dropped_total', { hook: 'on_stop' }), 0);
  assert.equal(
    value(families, 'onair_hook_notifications_dropped_total', { hook: 'on_unpublish' }),
    0,
  );
  drops.set('on_stop', 9901);
  drops.set('bogus', 2);
  families = await scrape(metrics);
  assert.equal(
    value(families, 'onair_hook_notifications_dropped_total', { hook: 'on_stop' }),
    9901,
  );
  assert.equal(value(families, 'onair_hook_notifications_dropped_total', { hook: 'other' }), 2);
});

test('per-stream series: none at 0, at most N (most viewers first) when opted in', async () => {
  const { sources, state } = fakeSources();
  state.streams = [
    { path: 'live/small', viewers: 1, ingestKbps: 800 },
    { path: 'live/big', viewers: 50, ingestKbps: 6000 },
    { path: 'live/mid', viewers: 10, ingestKbps: 2500 },
    { path: 'live/none', viewers: 0, ingestKbps: 300 },
  ];
  const none = await scrape(new OnairMetrics(sources, { perStreamSeries: 0 }));
  assert.ok(![...none.keys()].some((name) => name.startsWith('onair_stream_')));

  const capped = await scrape(new OnairMetrics(sources, { perStreamSeries: 2 }));
  assert.deepEqual(labelValues(capped, 'onair_stream_viewers', 'stream'), ['live/big', 'live/mid']);
  assert.equal(value(capped, 'onair_stream_viewers', { stream: 'live/big' }), 50);
  assert.equal(
    value(capped, 'onair_stream_ingest_bits_per_second', { stream: 'live/mid' }),
    2_500_000,
  );
  assert.equal(capped.get('onair_stream_ingest_bits_per_second')?.samples.length, 2);

  // The set follows the audience: a stream that loses its viewers drops out of the series.
  state.streams = [
    { path: 'live/big', viewers: 0, ingestKbps: 6000 },
    { path: 'live/mid', viewers: 10, ingestKbps: 2500 },
    { path: 'live/small', viewers: 12, ingestKbps: 800 },
  ];
  const metrics = new OnairMetrics(sources, { perStreamSeries: 2 });
  const next = await scrape(metrics);
  assert.deepEqual(labelValues(next, 'onair_stream_viewers', 'stream'), ['live/mid', 'live/small']);

  assert.throws(() => new OnairMetrics(sources, { perStreamSeries: -1 }), RangeError);
  assert.throws(() => new OnairMetrics(sources, { perStreamSeries: 1.5 }), RangeError);
});

test('rendering twice gives the same counters; they follow the sources, never double', async () => {
  const sessions = new SessionRegistry();
  const { sources, state } = fakeSources(sessions);
  const bytes = { n: 1000 };
  session(sessions, 'viewer', 'http-flv', bytes);
  state.refusals = new Map([['bad-key', 3]]);
  state.hls = { streams: 1, parts: 10, segments: 2, heldRequests: 0, untrackedRequests: 0 };
  const metrics = new OnairMetrics(sources, { perStreamSeries: 0 });
  const counters = (families: Map<string, Family>) =>
    [...families.values()]
      .filter((f) => f.name.startsWith('onair_') && f.type === 'counter')
      .flatMap((f) => f.samples.map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`));
  const first = counters(await scrape(metrics));
  const second = counters(await scrape(metrics));
  assert.deepEqual(second, first);
  assert.ok(first.length > 10);

  bytes.n = 2500;
  state.refusals.set('bad-key', 4);
  const later = await scrape(metrics);
  assert.equal(value(later, 'onair_egress_bytes_total', { protocol: 'http-flv' }), 2500);
  assert.equal(value(later, 'onair_auth_denied_total', { reason: 'bad_key' }), 4);
  assert.equal(value(later, 'onair_hls_parts_total'), 10);
});

test('a source that throws keeps its last values and is counted; the scrape still answers', async () => {
  const { sources, state } = fakeSources();
  state.liveStreams = 3;
  state.refusals = new Map([['token-ip', 2]]);
  state.hls = { streams: 1, parts: 5, segments: 1, heldRequests: 2, untrackedRequests: 0 };
  const metrics = new OnairMetrics(sources, { perStreamSeries: 0 });
  await scrape(metrics);
  state.liveStreams = 9;
  for (const what of ['liveStreams', 'refusals', 'hls']) {
    state.throwFrom = what;
    const families = await scrape(metrics);
    assert.equal(value(families, 'onair_streams'), what === 'liveStreams' ? 3 : 9);
    assert.equal(value(families, 'onair_auth_denied_total', { reason: 'token_ip' }), 2);
    assert.equal(value(families, 'onair_hls_held_requests'), 2);
  }
  state.throwFrom = null;
  const families = await scrape(metrics);
  assert.equal(value(families, 'onair_metrics_source_errors_total'), 3);
});

// ---------------------------------------------------------------------------------------------
// The Grafana dashboard

interface DashboardTarget {
  expr?: string;
}
interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: DashboardTarget[];
}
interface Dashboard {
  schemaVersion: number;
  uid: string;
  __inputs: { name: string; type: string; pluginId: string }[];
  panels: DashboardPanel[];
  templating: { list: { query: string | { query: string } }[] };
}

const PROMQL_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/** The metric names a PromQL expression (or a label_values() query) reads. */
function metricNamesOf(expr: string): string[] {
  // The expressions are the repo's own Grafana dashboard (trusted), whose braces close.
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals
    // eslint-disable-next-line regexp/no-super-linear-move -- trusted input, see above
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    // eslint-disable-next-line regexp/no-super-linear-move -- trusted input, see above
    .replace(/\[[^\]]*\]/g, ' ') // range selectors
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = stripped.slice(match.index + match[0].length);
    if (/^\s*\(/.test(after)) continue; // a function
    if (PROMQL_KEYWORDS.has(match[0].toLowerCase())) continue;
    names.push(match[0]);
  }
  return names;
}

test('metricNamesOf finds the metrics of an expression and nothing else', () => {
  assert.deepEqual(
    metricNamesOf(
      'histogram_quantile(0.95, sum by (le, hook) (rate(onair_hook_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval]))) * 8 > 0',
    ),
    ['onair_hook_duration_seconds_bucket'],
  );
  assert.deepEqual(metricNamesOf('label_values(onair_streams, instance)'), [
    'onair_streams',
    'instance',
  ]);
  assert.deepEqual(metricNamesOf('a_total / on(x) group_left b'), ['a_total', 'b']);
});

test('the Grafana dashboard is importable and reads only metrics that are exported', async () => {
  const dashboard = JSON.parse(
    readFileSync(new URL('../../deploy/grafana/onair.json', import.meta.url), 'utf8'),
  ) as Dashboard;
  assert.ok(dashboard.schemaVersion >= 39);
  assert.ok(dashboard.uid !== '');
  assert.deepEqual(
    dashboard.__inputs.map((i) => [i.name, i.type, i.pluginId]),
    [['DS_PROMETHEUS', 'datasource', 'prometheus']],
  );

  const sessions = new SessionRegistry();
  const { sources } = fakeSources(sessions);
  const metrics = new OnairMetrics(sources, { perStreamSeries: 0 });
  metrics.observeHook('on_play', 12, true);
  const families = await scrape(metrics);
  const exported = new Set([...families.values()].flatMap((f) => f.samples.map((s) => s.name)));

  const ids = new Set<number>();
  const exprs: string[] = [];
  for (const panel of dashboard.panels) {
    assert.ok(!ids.has(panel.id), `panel id ${panel.id} twice`);
    ids.add(panel.id);
    assert.ok(panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title} fits the grid`);
    if (panel.type === 'row') continue;
    assert.equal(panel.datasource?.uid, '${DS_PROMETHEUS}', `${panel.title} datasource`);
    assert.ok((panel.targets ?? []).length > 0, `${panel.title} has queries`);
    for (const target of panel.targets ?? []) {
      assert.ok(target.expr !== undefined && target.expr !== '', `${panel.title} expr`);
      exprs.push(target.expr);
    }
  }
  const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join('|');
  for (const wanted of ['live streams', 'publishers', 'viewers by protocol', 'egress', 'ingest']) {
    assert.ok(titles.includes(wanted), `a panel for ${wanted}`);
  }
  const allExprs = exprs.join('\n');
  for (const wanted of [
    'rate(onair_egress_bytes_total',
    'rate(onair_ingest_bytes_total',
    'rate(onair_frames_dropped_total',
    'rate(onair_auth_denied_total',
    'rate(onair_connections_rejected_total',
    'histogram_quantile(0.5,',
    'histogram_quantile(0.95,',
    'rate(onair_hls_parts_total',
    'onair_hls_held_requests',
    'nodejs_eventloop_lag',
    'process_resident_memory_bytes',
    'rate(process_cpu_seconds_total',
  ]) {
    assert.ok(allExprs.includes(wanted), `the dashboard queries ${wanted}`);
  }

  const names = exprs.flatMap(metricNamesOf);
  for (const variable of dashboard.templating.list) {
    const query = typeof variable.query === 'string' ? variable.query : variable.query.query;
    const labelValuesOf = /^label_values\((\w+),\s*\w+\)$/.exec(query);
    assert.ok(labelValuesOf, `variable query ${query}`);
    names.push(labelValuesOf[1]!);
  }
  assert.ok(names.length >= exprs.length);
  for (const name of names) {
    assert.match(name, /^(onair|process|nodejs)_/, name);
    assert.ok(exported.has(name), `${name} is in the exposition`);
  }
});
