// AnalyticsStore: the kept analytics (ended sessions, 10 s samples per stream, player QoE beacons)
// in one SQLite file (better-sqlite3, WAL), with the history and summary queries the API serves.
import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import ipaddr from 'ipaddr.js';
import { truncateAddress } from '../access/cidr.ts';
import type { SessionRole } from '../hub/session-registry.ts';
import type { QoeBeacon } from './qoe.ts';

/** Samples are taken on these boundaries (time_ms is a multiple of it). */
export const SAMPLE_STEP_MS = 10_000;
/** Most points history() returns; longer ranges are aggregated into wider steps. */
export const MAX_HISTORY_POINTS = 5_000;
/** Most streams summary() returns (by stream path order). */
export const MAX_SUMMARY_STREAMS = 1_000;
/** The schema this code writes; older files are migrated on open. */
export const SCHEMA_VERSION = 1;

const DAY_MS = 86_400_000;
const MAX_TEXT = { id: 64, stream: 255, protocol: 32, userAgent: 512, reason: 200 } as const;
const MAX_PROTOCOLS = 16;

/**
 * Migration i brings the schema from version i to i + 1. Append only: a released migration is
 * never edited.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    stream TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('publisher', 'viewer')),
    protocol TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    client TEXT NOT NULL,
    user_agent TEXT,
    dropped_frames INTEGER NOT NULL,
    end_reason TEXT NOT NULL,
    viewer_key TEXT NOT NULL
  );
  CREATE INDEX sessions_ended ON sessions (ended_ms);
  CREATE INDEX sessions_stream_ended ON sessions (stream, ended_ms);
  CREATE TABLE samples (
    stream TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    viewers INTEGER NOT NULL,
    viewers_by_protocol TEXT NOT NULL,
    ingest_kbps INTEGER,
    fps REAL,
    PRIMARY KEY (stream, time_ms)
  ) WITHOUT ROWID;
  CREATE INDEX samples_time ON samples (time_ms);
  CREATE TABLE qoe (
    stream TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    session TEXT NOT NULL,
    startup_ms INTEGER,
    rebuffer_count INTEGER NOT NULL,
    rebuffer_ms INTEGER NOT NULL,
    played_ms INTEGER NOT NULL,
    latency_s REAL,
    bitrate_kbps INTEGER,
    width INTEGER,
    height INTEGER,
    errors INTEGER NOT NULL
  );
  CREATE INDEX qoe_stream_time ON qoe (stream, time_ms);
  CREATE INDEX qoe_time ON qoe (time_ms);
  `,
];

/** One ended session, as the recorder hands it over. */
export interface SessionRecord {
  /** The SessionRegistry id. */
  readonly id: string;
  readonly stream: string;
  readonly role: SessionRole;
  /** `rtmp`, `http-flv`, `hls`... */
  readonly protocol: string;
  readonly startedMs: number;
  readonly endedMs: number;
  readonly bytes: number;
  /**
   * The full remote address. It is never stored: the store keeps its network (/24 or /48) and
   * a salted hash of it with the user agent (the viewer key).
   */
  readonly ip: string;
  readonly userAgent?: string | undefined;
  readonly droppedFrames: number;
  /** Why it ended (`ended`, `kicked`, `too-slow`...). */
  readonly reason: string;
}

/** One stream at one sampling instant. */
export interface StreamSample {
  readonly stream: string;
  /** Viewers connected now. */
  readonly viewers: number;
  /** Viewers by protocol (`{ "http-flv": 3, "hls": 1 }`). */
  readonly viewersByProtocol: Readonly<Record<string, number>>;
  /** Ingest rate, or null without a publisher. */
  readonly ingestKbps: number | null;
  /** Ingest video frame rate, or null without video. */
  readonly fps: number | null;
}

/** QoE of one history point (the beacons that fell in its step). */
export interface HistoryQoe {
  readonly beacons: number;
  readonly startupP50Ms: number | null;
  readonly latencyP50S: number | null;
  /** Rebuffering time over played time, or null when nothing was played. */
  readonly rebufferRatio: number | null;
}

/** One point of a stream's history. */
export interface HistoryPoint {
  /** Start of the step. */
  readonly timeMs: number;
  /** Most viewers sampled in the step (0 when the step has beacons but no sample). */
  readonly viewers: number;
  /** Most viewers sampled in the step, per protocol. */
  readonly viewersByProtocol: Record<string, number>;
  /** Average ingest rate over the step's samples, or null. */
  readonly ingestKbps: number | null;
  /** Average frame rate over the step's samples, or null. */
  readonly fps: number | null;
  /** Null when no beacon fell in the step. */
  readonly qoe: HistoryQoe | null;
}

/** A stream's history: points every `stepMs` (only steps with data), oldest first. */
export interface History {
  /** The range actually covered: start aligned to 10 s, capped to the retention and to now. */
  readonly fromMs: number;
  readonly toMs: number;
  /** 10 s, or a wider multiple of it when the range would exceed MAX_HISTORY_POINTS. */
  readonly stepMs: number;
  readonly points: HistoryPoint[];
}

/** Views and watch time of one protocol. */
export interface ProtocolSummary {
  readonly views: number;
  readonly watchTimeS: number;
}

/** QoE of a stream over a range. */
export interface QoeSummary {
  readonly beacons: number;
  readonly startupP50Ms: number | null;
  readonly startupP95Ms: number | null;
  readonly latencyP50S: number | null;
  readonly latencyP95S: number | null;
  readonly rebufferRatio: number | null;
}

/** One stream's figures over a range. */
export interface StreamSummaryRow {
  readonly stream: string;
  /** Most viewers in one sample. */
  readonly peakViewers: number;
  /** Distinct viewer keys (address + user agent) among the viewer sessions overlapping the range. */
  readonly uniqueViewers: number;
  /** Viewer session time inside the range, in seconds. */
  readonly watchTimeS: number;
  /** watchTimeS / views (0 without views). */
  readonly averageViewS: number;
  /** Viewer sessions overlapping the range. */
  readonly views: number;
  readonly byProtocol: Record<string, ProtocolSummary>;
  /** Null when no beacon fell in the range. */
  readonly qoe: QoeSummary | null;
}

/** Options of AnalyticsStore.open(). */
export interface AnalyticsStoreOptions {
  /** Secret salt of the viewer keys (at least 16 characters); keep it stable across restarts. */
  readonly salt: string;
  /** Rows older than this are deleted by prune(), and history() does not look further back. */
  readonly retentionDays: number;
  /** Wall clock, ms since the epoch (tests give a fake one). */
  readonly now?: () => number;
}

interface Range {
  readonly from: number;
  readonly to: number;
}
interface BucketRange {
  readonly stream: string;
  readonly from: number;
  readonly to: number;
  readonly start: number;
  readonly step: number;
}
interface StreamsRange {
  readonly streams: string;
  readonly from: number;
  readonly to: number;
}
type Statement<P extends unknown[] | object, R = unknown> = Database.Statement<
  P extends unknown[] ? P : [P],
  R
>;

/**
 * The nearest-rank percentile (p in 0..100) of values sorted ascending; null when empty.
 */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? null;
}

/** Analytics kept in SQLite; every method is synchronous and bounded. */
export class AnalyticsStore {
  readonly #db: Database.Database;
  readonly #salt: string;
  readonly #retentionMs: number;
  readonly #now: () => number;
  readonly #insertSession: Statement<unknown[]>;
  readonly #insertSample: Statement<unknown[]>;
  readonly #insertQoe: Statement<unknown[]>;
  readonly #recordSamples: (timeMs: number, samples: readonly StreamSample[]) => void;
  readonly #recordSessions: (records: readonly SessionRecord[]) => void;
  readonly #prune: (cutoff: number) => number;
  readonly #historySamples: Statement<
    BucketRange,
    { t: number; viewers: number; kbps: number | null; fps: number | null }
  >;
  readonly #historyProtocols: Statement<
    BucketRange,
    { t: number; protocol: string; viewers: number }
  >;
  readonly #historyQoe: Statement<
    BucketRange,
    { t: number; startup: number | null; latency: number | null; rebuffer: number; played: number }
  >;
  readonly #summaryStreams: Statement<Range, { stream: string }>;
  readonly #summaryPeak: Statement<StreamsRange, { stream: string; peak: number }>;
  readonly #summaryViews: Statement<
    StreamsRange,
    { stream: string; protocol: string; views: number; watchMs: number }
  >;
  readonly #summaryUnique: Statement<StreamsRange, { stream: string; unique: number }>;
  readonly #summaryQoe: Statement<
    StreamsRange,
    { stream: string; beacons: number; rebuffer: number; played: number }
  >;
  readonly #summaryQoeValues: Statement<
    StreamsRange,
    { stream: string; startup: number | null; latency: number | null }
  >;

  private constructor(db: Database.Database, options: AnalyticsStoreOptions) {
    this.#db = db;
    this.#salt = options.salt;
    this.#retentionMs = options.retentionDays * DAY_MS;
    this.#now = options.now ?? Date.now;

    this.#insertSession = db.prepare(
      `INSERT OR REPLACE INTO sessions (id, stream, role, protocol, started_ms, ended_ms, bytes,
         client, user_agent, dropped_frames, end_reason, viewer_key)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#insertSample = db.prepare(
      `INSERT OR REPLACE INTO samples (stream, time_ms, viewers, viewers_by_protocol, ingest_kbps, fps)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.#insertQoe = db.prepare(
      `INSERT INTO qoe (stream, time_ms, session, startup_ms, rebuffer_count, rebuffer_ms,
         played_ms, latency_s, bitrate_kbps, width, height, errors)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#recordSamples = db.transaction((timeMs: number, samples: readonly StreamSample[]) => {
      for (const sample of samples) {
        this.#insertSample.run(
          text(sample.stream, MAX_TEXT.stream),
          timeMs,
          count(sample.viewers),
          JSON.stringify(protocolCounts(sample.viewersByProtocol)),
          sample.ingestKbps === null ? null : count(sample.ingestKbps),
          sample.fps === null || !Number.isFinite(sample.fps) ? null : Math.max(0, sample.fps),
        );
      }
    });
    this.#recordSessions = db.transaction((records: readonly SessionRecord[]) => {
      for (const record of records) this.#insertSessionRow(record);
    });
    const pruneSessions = db.prepare<[number]>('DELETE FROM sessions WHERE ended_ms < ?');
    const pruneSamples = db.prepare<[number]>('DELETE FROM samples WHERE time_ms < ?');
    const pruneQoe = db.prepare<[number]>('DELETE FROM qoe WHERE time_ms < ?');
    this.#prune = db.transaction(
      (cutoff: number) =>
        pruneSessions.run(cutoff).changes +
        pruneSamples.run(cutoff).changes +
        pruneQoe.run(cutoff).changes,
    );

    // Bound numbers arrive as REAL, hence the CASTs wherever integer arithmetic matters.
    const bucket = (column: string): string =>
      `CAST((${column} - @start) / @step AS INTEGER) * CAST(@step AS INTEGER) + CAST(@start AS INTEGER)`;
    this.#historySamples = db.prepare(
      `SELECT ${bucket('time_ms')} AS t, MAX(viewers) AS viewers, AVG(ingest_kbps) AS kbps,
         AVG(fps) AS fps
       FROM samples WHERE stream = @stream AND time_ms >= @from AND time_ms < @to
       GROUP BY t ORDER BY t`,
    );
    this.#historyProtocols = db.prepare(
      `SELECT ${bucket('s.time_ms')} AS t, j.key AS protocol, MAX(j.value) AS viewers
       FROM samples s, json_each(s.viewers_by_protocol) j
       WHERE s.stream = @stream AND s.time_ms >= @from AND s.time_ms < @to
       GROUP BY t, j.key`,
    );
    this.#historyQoe = db.prepare(
      `SELECT ${bucket('time_ms')} AS t, startup_ms AS startup, latency_s AS latency,
         rebuffer_ms AS rebuffer, played_ms AS played
       FROM qoe WHERE stream = @stream AND time_ms >= @from AND time_ms < @to
       ORDER BY time_ms`,
    );

    // Viewer sessions overlapping [from, to): zero-length ones count when they start inside.
    // (ended_ms >= @from is implied, and spelled out so the ended_ms indexes can be used.)
    const viewerSessions = `role = 'viewer' AND ended_ms >= @from AND started_ms < @to
      AND (ended_ms > @from OR started_ms >= @from)`;
    const inStreams = 'stream IN (SELECT value FROM json_each(@streams))';
    this.#summaryStreams = db.prepare(
      `SELECT stream FROM samples WHERE time_ms >= @from AND time_ms < @to
       UNION SELECT stream FROM sessions WHERE ${viewerSessions}
       UNION SELECT stream FROM qoe WHERE time_ms >= @from AND time_ms < @to
       ORDER BY stream LIMIT ${MAX_SUMMARY_STREAMS}`,
    );
    this.#summaryPeak = db.prepare(
      `SELECT stream, MAX(viewers) AS peak FROM samples
       WHERE ${inStreams} AND time_ms >= @from AND time_ms < @to GROUP BY stream`,
    );
    this.#summaryViews = db.prepare(
      `SELECT stream, protocol, COUNT(*) AS views,
         SUM(MAX(0, MIN(ended_ms, @to) - MAX(started_ms, @from))) AS watchMs
       FROM sessions WHERE ${inStreams} AND ${viewerSessions} GROUP BY stream, protocol`,
    );
    this.#summaryUnique = db.prepare(
      `SELECT stream, COUNT(DISTINCT viewer_key) AS "unique"
       FROM sessions WHERE ${inStreams} AND ${viewerSessions} GROUP BY stream`,
    );
    this.#summaryQoe = db.prepare(
      `SELECT stream, COUNT(*) AS beacons, SUM(rebuffer_ms) AS rebuffer, SUM(played_ms) AS played
       FROM qoe WHERE ${inStreams} AND time_ms >= @from AND time_ms < @to GROUP BY stream`,
    );
    this.#summaryQoeValues = db.prepare(
      `SELECT stream, startup_ms AS startup, latency_s AS latency FROM qoe
       WHERE ${inStreams} AND time_ms >= @from AND time_ms < @to
         AND (startup_ms IS NOT NULL OR latency_s IS NOT NULL)
       ORDER BY stream`,
    );
  }

  /**
   * Opens (creating if needed, with its folder) the database file, or `:memory:`, in WAL mode,
   * and brings its schema up to date. Throws if the file is from a newer onair or the options
   * are invalid.
   */
  static open(file: string, options: AnalyticsStoreOptions): AnalyticsStore {
    if (options.salt.length < 16) {
      throw new RangeError('analytics: the viewer-key salt must be at least 16 characters');
    }
    if (!Number.isFinite(options.retentionDays) || options.retentionDays <= 0) {
      throw new RangeError('analytics: retentionDays must be a positive number');
    }
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file);
    try {
      db.pragma('busy_timeout = 5000');
      // Turning a new file to WAL takes a lock SQLite will not wait for (no busy handler): the
      // workers of a group opening it at once saw SQLITE_BUSY here, so that step is retried.
      whileBusy(() => db.pragma('journal_mode = WAL'));
      db.pragma('synchronous = NORMAL');
      whileBusy(() => {
        migrate(db);
      });
      return new AnalyticsStore(db, options);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** The schema version of the open file. */
  get schemaVersion(): number {
    return readVersion(this.#db);
  }

  /** Stores one ended session: network and viewer key only, never the full address. */
  recordSession(record: SessionRecord): void {
    this.#insertSessionRow(record);
  }

  /**
   * Stores ended sessions in one transaction: a commit (a WAL append) per batch instead of per
   * row, which is what makes thousands of ended sessions cheap. All or none are stored.
   */
  recordSessions(records: readonly SessionRecord[]): void {
    this.#recordSessions(records);
  }

  #insertSessionRow(record: SessionRecord): void {
    const startedMs = time(record.startedMs);
    const userAgent =
      record.userAgent === undefined ? null : text(record.userAgent, MAX_TEXT.userAgent);
    this.#insertSession.run(
      text(record.id, MAX_TEXT.id),
      text(record.stream, MAX_TEXT.stream),
      record.role === 'publisher' ? 'publisher' : 'viewer',
      text(record.protocol, MAX_TEXT.protocol),
      startedMs,
      Math.max(startedMs, time(record.endedMs)),
      count(record.bytes),
      truncateAddress(record.ip),
      userAgent,
      count(record.droppedFrames),
      text(record.reason, MAX_TEXT.reason),
      this.viewerKey(record.ip, userAgent ?? ''),
    );
  }

  /**
   * The viewer key of an address and user agent: HMAC-SHA256 under the salt (128 bits, hex),
   * so the same client counts once without its address being kept. IPv4-mapped IPv6 addresses
   * count as their IPv4 address.
   */
  viewerKey(ip: string, userAgent: string): string {
    return createHmac('sha256', this.#salt)
      .update(normalizeAddress(ip))
      .update('\0')
      .update(userAgent)
      .digest('hex')
      .slice(0, 32);
  }

  /** Stores the samples of one instant (aligned down to 10 s), in one transaction; a second
   * call for the same instant and stream replaces the first. */
  recordSamples(timeMs: number, samples: readonly StreamSample[]): void {
    this.#recordSamples(Math.floor(time(timeMs) / SAMPLE_STEP_MS) * SAMPLE_STEP_MS, samples);
  }

  /** Stores one accepted player beacon, received at `timeMs`. */
  recordQoe(beacon: QoeBeacon & { readonly timeMs: number }): void {
    const optional = (value: number | undefined): number | null =>
      value === undefined ? null : count(value);
    this.#insertQoe.run(
      text(beacon.stream, MAX_TEXT.stream),
      time(beacon.timeMs),
      text(beacon.session, MAX_TEXT.id),
      optional(beacon.startupMs),
      count(beacon.rebufferCount),
      count(beacon.rebufferMs),
      count(beacon.playedMs),
      beacon.latencyS === undefined || !Number.isFinite(beacon.latencyS)
        ? null
        : Math.max(0, beacon.latencyS),
      optional(beacon.bitrateKbps),
      optional(beacon.width),
      optional(beacon.height),
      beacon.errors?.length ?? 0,
    );
  }

  /**
   * A stream's samples and QoE over [fromMs, toMs), in 10 s points, or wider steps (max viewers,
   * average rates, QoE over the step) so that there are at most MAX_HISTORY_POINTS. The range
   * is capped to the retention and to now. Throws a RangeError unless fromMs < toMs.
   */
  history(stream: string, fromMs: number, toMs: number): History {
    checkRange(fromMs, toMs);
    const now = this.#now();
    const from = Math.max(fromMs, now - this.#retentionMs);
    const to = Math.min(toMs, now + SAMPLE_STEP_MS);
    const start = Math.floor(from / SAMPLE_STEP_MS) * SAMPLE_STEP_MS;
    if (start >= to)
      return { fromMs: start, toMs: Math.max(start, to), stepMs: SAMPLE_STEP_MS, points: [] };
    const slots = Math.ceil((to - start) / SAMPLE_STEP_MS);
    const step =
      slots <= MAX_HISTORY_POINTS
        ? SAMPLE_STEP_MS
        : Math.ceil(slots / MAX_HISTORY_POINTS) * SAMPLE_STEP_MS;
    const params: BucketRange = { stream, from: start, to, start, step };

    const points = new Map<number, MutablePoint>();
    const point = (t: number): MutablePoint => {
      let found = points.get(t);
      if (found === undefined) {
        found = {
          timeMs: t,
          viewers: 0,
          viewersByProtocol: {},
          ingestKbps: null,
          fps: null,
          qoe: null,
        };
        points.set(t, found);
      }
      return found;
    };
    for (const row of this.#historySamples.iterate(params)) {
      const p = point(row.t);
      p.viewers = row.viewers;
      p.ingestKbps = row.kbps === null ? null : Math.round(row.kbps);
      p.fps = row.fps === null ? null : round(row.fps, 2);
    }
    for (const row of this.#historyProtocols.iterate(params)) {
      point(row.t).viewersByProtocol[row.protocol] = row.viewers;
    }
    let current = null as QoeAccumulator | null;
    const flush = (acc: QoeAccumulator): void => {
      point(acc.t).qoe = {
        beacons: acc.beacons,
        startupP50Ms: percentile(acc.startup.sort(ascending), 50),
        latencyP50S: percentile(acc.latency.sort(ascending), 50),
        rebufferRatio: ratio(acc.rebuffer, acc.played),
      };
    };
    for (const row of this.#historyQoe.iterate(params)) {
      if (current?.t !== row.t) {
        if (current !== null) flush(current);
        current = { t: row.t, beacons: 0, startup: [], latency: [], rebuffer: 0, played: 0 };
      }
      current.beacons++;
      if (row.startup !== null) current.startup.push(row.startup);
      if (row.latency !== null) current.latency.push(row.latency);
      current.rebuffer += row.rebuffer;
      current.played += row.played;
    }
    if (current !== null) flush(current);
    return {
      fromMs: start,
      toMs: to,
      stepMs: step,
      points: [...points.values()].sort((a, b) => a.timeMs - b.timeMs),
    };
  }

  /**
   * Per-stream figures over [fromMs, toMs), at most MAX_SUMMARY_STREAMS streams in path order.
   * Viewer sessions count when they overlap the range; their watch time is clipped to it.
   * Throws a RangeError unless fromMs < toMs.
   */
  summary(fromMs: number, toMs: number): StreamSummaryRow[] {
    checkRange(fromMs, toMs);
    const range: Range = { from: fromMs, to: toMs };
    const names = this.#summaryStreams.all(range).map((row) => row.stream);
    if (names.length === 0) return [];
    const params: StreamsRange = { ...range, streams: JSON.stringify(names) };

    const rows = new Map<string, MutableSummary>();
    for (const stream of names) {
      rows.set(stream, {
        stream,
        peakViewers: 0,
        uniqueViewers: 0,
        watchMs: 0,
        views: 0,
        byProtocol: {},
        qoe: null,
      });
    }
    const row = (stream: string): MutableSummary | undefined => rows.get(stream);
    for (const { stream, peak } of this.#summaryPeak.iterate(params)) {
      const r = row(stream);
      if (r) r.peakViewers = peak;
    }
    for (const { stream, protocol, views, watchMs } of this.#summaryViews.iterate(params)) {
      const r = row(stream);
      if (!r) continue;
      r.views += views;
      r.watchMs += watchMs;
      r.byProtocol[protocol] = { views, watchTimeS: round(watchMs / 1000, 3) };
    }
    for (const { stream, unique } of this.#summaryUnique.iterate(params)) {
      const r = row(stream);
      if (r) r.uniqueViewers = unique;
    }
    for (const { stream, beacons, rebuffer, played } of this.#summaryQoe.iterate(params)) {
      const r = row(stream);
      if (r) r.qoe = { beacons, rebuffer, played, startup: [], latency: [] };
    }
    for (const { stream, startup, latency } of this.#summaryQoeValues.iterate(params)) {
      const qoe = row(stream)?.qoe;
      if (!qoe) continue;
      if (startup !== null) qoe.startup.push(startup);
      if (latency !== null) qoe.latency.push(latency);
    }

    return names.flatMap((stream) => {
      const r = rows.get(stream);
      if (!r) return [];
      const startup = r.qoe?.startup.sort(ascending) ?? [];
      const latency = r.qoe?.latency.sort(ascending) ?? [];
      return [
        {
          stream,
          peakViewers: r.peakViewers,
          uniqueViewers: r.uniqueViewers,
          watchTimeS: round(r.watchMs / 1000, 3),
          averageViewS: r.views === 0 ? 0 : round(r.watchMs / r.views / 1000, 3),
          views: r.views,
          byProtocol: r.byProtocol,
          qoe:
            r.qoe === null
              ? null
              : {
                  beacons: r.qoe.beacons,
                  startupP50Ms: percentile(startup, 50),
                  startupP95Ms: percentile(startup, 95),
                  latencyP50S: percentile(latency, 50),
                  latencyP95S: percentile(latency, 95),
                  rebufferRatio: ratio(r.qoe.rebuffer, r.qoe.played),
                },
        },
      ];
    });
  }

  /** Deletes rows older than the retention (sessions by their end); returns how many. */
  prune(): number {
    return this.#prune(this.#now() - this.#retentionMs);
  }

  /** Closes the database; every later call throws. */
  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

interface MutablePoint {
  timeMs: number;
  viewers: number;
  viewersByProtocol: Record<string, number>;
  ingestKbps: number | null;
  fps: number | null;
  qoe: HistoryQoe | null;
}

interface QoeAccumulator {
  readonly t: number;
  beacons: number;
  readonly startup: number[];
  readonly latency: number[];
  rebuffer: number;
  played: number;
}

interface MutableSummary {
  readonly stream: string;
  peakViewers: number;
  uniqueViewers: number;
  watchMs: number;
  views: number;
  readonly byProtocol: Record<string, ProtocolSummary>;
  qoe: {
    readonly beacons: number;
    readonly rebuffer: number;
    readonly played: number;
    readonly startup: number[];
    readonly latency: number[];
  } | null;
}

/**
 * Applies the migrations the file lacks in one write transaction, taken before the version is
 * read: the workers of a `--workers` group open the same file at once, and one that read the
 * version outside the lock would run a migration another had just applied ("table sessions
 * already exists", seen on a CI run). The others wait (busy_timeout), then find it current.
 */
function migrate(db: Database.Database): void {
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const version = readVersion(db);
    if (version > MIGRATIONS.length) {
      throw new Error(
        `analytics: the database has schema version ${version}, newer than this onair knows (${MIGRATIONS.length})`,
      );
    }
    if (version === MIGRATIONS.length) return;
    for (let next = version; next < MIGRATIONS.length; next++) db.exec(MIGRATIONS[next] ?? '');
    db.prepare('DELETE FROM schema_version').run();
    db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(MIGRATIONS.length);
  }).immediate();
}

/** Runs `step`, again every 10 ms for up to 5 s while SQLite answers SQLITE_BUSY (start-up only). */
function whileBusy(step: () => unknown): void {
  const until = Date.now() + 5000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      step();
      return;
    } catch (error) {
      const busy = error instanceof Database.SqliteError && error.code === 'SQLITE_BUSY';
      if (!busy || Date.now() >= until) throw error;
      Atomics.wait(pause, 0, 0, 10);
    }
  }
}

function readVersion(db: Database.Database): number {
  const row = db
    .prepare<[], { version: number }>('SELECT MAX(version) AS version FROM schema_version')
    .get();
  return row?.version ?? 0;
}

function checkRange(fromMs: number, toMs: number): void {
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs)) {
    throw new RangeError('analytics: from and to must be finite times in ms');
  }
  if (fromMs >= toMs) throw new RangeError('analytics: from must be before to');
}

/** An IPv4-mapped IPv6 address as IPv4, any other address in its canonical form. */
function normalizeAddress(ip: string): string {
  try {
    return ipaddr.process(ip).toString();
  } catch {
    return ip;
  }
}

function text(value: string, max: number): string {
  return value.length > max ? value.slice(0, max) : value;
}

/** A non-negative integer (0 for anything not finite). */
function count(value: number): number {
  return Number.isFinite(value) ? Math.max(0, Math.round(value)) : 0;
}

/** A time in integer ms (0 for anything not finite). */
function time(value: number): number {
  return Number.isFinite(value) ? Math.round(value) : 0;
}

function protocolCounts(counts: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  let kept = 0;
  for (const [protocol, viewers] of Object.entries(counts)) {
    if (kept++ >= MAX_PROTOCOLS) break;
    out[text(protocol, MAX_TEXT.protocol)] = count(viewers);
  }
  return out;
}

function ratio(part: number, whole: number): number | null {
  return whole > 0 ? round(part / whole, 6) : null;
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function ascending(a: number, b: number): number {
  return a - b;
}
