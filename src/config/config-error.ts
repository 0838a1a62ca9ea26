// ConfigError: every problem found while loading the configuration, reported together
// (key, rule, value, source), with secret-looking values masked.

/** One problem with the configuration. */
export interface ConfigIssue {
  /** Dotted key (`rtmp.port`), or the env var, flag or file the problem is in. */
  readonly key: string;
  /**
   * Stable rule name: a zod issue code (`too_big`, `unrecognized_keys`...) or one of ours
   * (`yaml_syntax`, `unknown_env`, `unknown_flag`, `missing_value`...).
   */
  readonly rule: string;
  /** The offending value (masked when the key looks secret); undefined when there is none. */
  readonly value: unknown;
  /** What is wrong, e.g. `must be <= 65535`. */
  readonly message: string;
  /** Where the value came from: `env ONAIR_RTMP_PORT`, `--rtmp-port`, `onair.yaml:3`. */
  readonly source?: string;
}

/** Shown instead of a value whose key looks like a secret. */
export const MASKED_VALUE = '***';

const SECRET_WORDS = new Set([
  'token',
  'secret',
  'password',
  'passwd',
  'key',
  'apikey',
  'credential',
  'credentials',
  'authorization',
]);

/** The configuration is invalid; `issues` lists every problem, `message` one per line. */
export class ConfigError extends Error {
  /** Stable error code. */
  readonly code = 'ERR_CONFIG';
  /** Every problem found, values masked where the key looks secret. */
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const masked = issues.map((issue) => Object.freeze({ ...issue, value: maskValue(issue) }));
    super(formatIssues(masked));
    this.name = 'ConfigError';
    this.issues = Object.freeze(masked);
  }
}

/** Whether a key, env var or flag name looks like it holds a secret (token, key, password...). */
export function isSecretName(name: string): boolean {
  return name
    .split(/[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])/)
    .some((word) => SECRET_WORDS.has(word.toLowerCase()));
}

function maskValue(issue: ConfigIssue): unknown {
  if (issue.value === undefined) return undefined;
  return isSecretName(issue.key) ? MASKED_VALUE : maskNested(issue.value, 0);
}

/** Masks secret-named fields inside objects (an unknown section may hold a token). */
function maskNested(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= 8) return '[nested]';
  if (Array.isArray(value)) return value.map((item: unknown) => maskNested(item, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([name, item]: [string, unknown]) => [
      name,
      isSecretName(name) ? MASKED_VALUE : maskNested(item, depth + 1),
    ]),
  );
}

const MAX_VALUE_CHARS = 80;

function formatIssues(issues: readonly ConfigIssue[]): string {
  const count = `${issues.length} problem${issues.length === 1 ? '' : 's'}`;
  return [`Invalid configuration (${count}):`, ...issues.map(formatIssue)].join('\n');
}

/** `  - rtmp.port: must be <= 65535 (rule: too_big, value: 70000, from env ONAIR_RTMP_PORT)` */
function formatIssue(issue: ConfigIssue): string {
  const details = [`rule: ${issue.rule}`];
  if (issue.value !== undefined) details.push(`value: ${formatValue(issue.value)}`);
  if (issue.source !== undefined) details.push(`from ${issue.source}`);
  return `  - ${issue.key}: ${issue.message} (${details.join(', ')})`;
}

function formatValue(value: unknown): string {
  if (value === MASKED_VALUE) return MASKED_VALUE;
  const text =
    typeof value === 'number' || typeof value === 'bigint'
      ? String(value)
      : ((JSON.stringify(value) as string | undefined) ?? String(value));
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}...` : text;
}

/** ` (did you mean "x"?)` for the candidate closest to `name`, or '' if none is close. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const wanted = normalizeName(name);
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, normalizeName(candidate));
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best === undefined ? '' : ` (did you mean ${best}?)`;
}

function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9.]/g, '');
}

/** Levenshtein distance; names are short, so the O(n*m) table is fine. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Infinity;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(
        Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? Infinity;
}
