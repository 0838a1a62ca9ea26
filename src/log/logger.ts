// Structured logging on pino: JSON lines for machines, or one readable line an entry ('pretty',
// formatted here, no pino-pretty). Common secret fields are redacted in both formats.
import { pino } from 'pino';

/** Levels from most to least severe, plus `silent` (writes nothing). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** A level name; a logger writes entries of this level and more severe ones. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Output formats: `json` (one object a line) or `pretty` (one readable line an entry). */
export const LOG_FORMATS = ['json', 'pretty'] as const;
/** An output format name. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Writes one entry: a message, or an object of fields then an optional message. */
export interface LogFn {
  (msg: string): void;
  (fields: object, msg?: string): void;
}

/** The logging interface components depend on; a pino logger satisfies it. */
export interface Logger {
  readonly fatal: LogFn;
  readonly error: LogFn;
  readonly warn: LogFn;
  readonly info: LogFn;
  readonly debug: LogFn;
  readonly trace: LogFn;
  /** A logger that adds `bindings` to every entry, e.g. `{ component: 'rtmp', peer }`. */
  child(bindings: Record<string, unknown>): Logger;
  /** Whether an entry of `level` would be written; lets callers skip costly field building. */
  isLevelEnabled(level: string): boolean;
}

/** Options of createLogger(). */
export interface LoggerOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** Where lines go; standard output when absent. */
  readonly destination?: NodeJS.WritableStream;
}

/** Field paths whose values are replaced by `[redacted]` (top level and one level down). */
export const REDACTED_PATHS: readonly string[] = [
  'token',
  'key',
  'password',
  'secret',
  'authorization',
  '*.token',
  '*.key',
  '*.password',
  '*.secret',
  '*.authorization',
];

/** Creates the process logger; components get children of it (`logger.child({ component })`). */
export function createLogger(options: LoggerOptions): Logger {
  const pinoOptions = {
    level: options.level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
  };
  if (options.format === 'pretty') {
    const out = options.destination ?? process.stdout;
    return pino(pinoOptions, { write: (line: string) => out.write(formatPrettyLine(line)) });
  }
  return pino(pinoOptions, options.destination ?? pino.destination(1));
}

/** Fields of a pino line that the pretty format shows in fixed places or drops. */
const PRETTY_SKIPPED = new Set(['time', 'level', 'msg', 'pid', 'hostname']);

/**
 * Turns one pino JSON line into `HH:MM:SS.mmm LEVEL msg key=value ...` plus a newline.
 * A line that is not a JSON object is passed through unchanged.
 */
export function formatPrettyLine(line: string): string {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return line;
  const fields = entry as Record<string, unknown>;
  const level = typeof fields.level === 'string' ? fields.level.toUpperCase() : '';
  const parts = [formatClock(fields.time), level.padEnd(5)];
  if (typeof fields.msg === 'string' && fields.msg !== '') parts.push(escapeControls(fields.msg));
  for (const [name, value] of Object.entries(fields)) {
    if (!PRETTY_SKIPPED.has(name)) parts.push(`${name}=${formatValue(value)}`);
  }
  return parts.join(' ') + '\n';
}

/** Local wall-clock time `HH:MM:SS.mmm` of an ISO timestamp (or of now, if it is missing). */
function formatClock(time: unknown): string {
  const date = typeof time === 'string' || typeof time === 'number' ? new Date(time) : new Date();
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const seconds = `${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${seconds}`;
}

/** A field value on one line: bare when it is a plain word, JSON otherwise (so no newlines). */
function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[\w.:/@+-]+$/.test(value) ? value : JSON.stringify(value);
  if (isSerializedError(value)) return JSON.stringify(`${value.type}: ${value.message}`);
  const json = JSON.stringify(value) as string | undefined;
  return json ?? String(value);
}

/** pino's serialized form of an Error (`{ type, message, stack }`). */
function isSerializedError(value: unknown): value is { type: string; message: string } {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.type === 'string' && typeof record.message === 'string' && 'stack' in record;
}

/** Escapes control characters so a message cannot forge extra log lines. */
function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}
