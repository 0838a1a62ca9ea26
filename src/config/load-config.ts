// Loads the configuration: YAML file, then ONAIR_* env overrides, then CLI flags; validates once
// against the schema, reports every problem together (ConfigError) and freezes the result.
import type { z } from 'zod';
import { parseCliFlags, type ConfigOverride } from './cli-flags.ts';
import { ConfigError, didYouMean, type ConfigIssue } from './config-error.ts';
import {
  describeConfig,
  describeSections,
  describeStreamKeys,
  ENV_PREFIX,
  type ConfigKeyInfo,
  type ConfigValueKind,
} from './describe-config.ts';
import { readConfigFile } from './read-config-file.ts';
import { configSchema, deepFreeze, defaultConfig, type Config } from './schema.ts';

export { ConfigError, type ConfigIssue } from './config-error.ts';
export { cliUsage } from './cli-flags.ts';

/** Everything loadConfig() reads, passed in so tests need no process state or files. */
export interface LoadConfigInput {
  /** Arguments after node and the script: `process.argv.slice(2)`. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reads a UTF-8 text file; may throw (the error becomes a ConfigIssue). */
  readonly readFile: (path: string) => string;
}

/** The result of loadConfig(). */
export interface LoadedConfig {
  /** The validated configuration, deeply frozen (defaults when `help` is true). */
  readonly config: Config;
  /** The YAML file read, if any. */
  readonly configPath?: string;
  /** --help was given: print cliUsage and exit 0. */
  readonly help: boolean;
}

/** ONAIR_* variables that are not config keys and must not be reported as unknown. */
export const RESERVED_ENV: ReadonlySet<string> = new Set([
  'ONAIR_CONFIG',
  // Set by the primary of `--workers N` for each worker it starts (src/app/workers.ts).
  'ONAIR_WORKER_INDEX',
  'ONAIR_WORKER_BANNER',
]);

type Draft = Record<string, unknown>;

/**
 * Builds the configuration from defaults < YAML file (`--config FILE` or env ONAIR_CONFIG)
 * < env `ONAIR_<SECTION>_<KEY>` < flags. With --help, returns the defaults and `help: true`
 * without reading anything else.
 * @throws ConfigError listing every problem (file, env, flags and schema) at once.
 */
export function loadConfig(input: LoadConfigInput): LoadedConfig {
  const leaves = describeConfig();
  const flags = parseCliFlags(input.argv, new Map(leaves.map((leaf) => [leaf.key, leaf])));
  if (flags.help) return { config: defaultConfig(), help: true };

  const issues: ConfigIssue[] = [];
  const envPath = input.env.ONAIR_CONFIG === '' ? undefined : input.env.ONAIR_CONFIG;
  const configPath = flags.configPath ?? envPath;
  const file =
    configPath === undefined
      ? undefined
      : readConfigFile({
          path: configPath,
          from: flags.configPath === undefined ? 'ONAIR_CONFIG' : '--config',
          readFile: input.readFile,
          issues,
        });
  const draft = file?.data ?? {};
  const sources = new Map<string, string>();
  for (const override of [...readEnv(input.env, leaves, issues), ...flags.overrides]) {
    setAt(draft, override.leaf.path, coerce(override));
    sources.set(override.leaf.key, override.source);
  }
  issues.push(...flags.issues);

  const result = configSchema.safeParse(draft);
  if (!result.success) {
    for (const issue of result.error.issues) {
      issues.push(
        ...fromZodIssue(
          issue,
          draft,
          (path) => sources.get(path.join('.')) ?? file?.sourceOf(path),
        ),
      );
    }
  }
  if (issues.length > 0 || !result.success) throw new ConfigError(issues);
  const config: Config = deepFreeze(result.data);
  return configPath === undefined ? { config, help: false } : { config, configPath, help: false };
}

/** Overrides from ONAIR_* variables, in name order; unknown ONAIR_* names are issues. */
function readEnv(
  env: LoadConfigInput['env'],
  leaves: readonly ConfigKeyInfo[],
  issues: ConfigIssue[],
): ConfigOverride[] {
  const byEnv = new Map(leaves.map((leaf) => [leaf.env, leaf]));
  const overrides: ConfigOverride[] = [];
  for (const name of Object.keys(env).sort()) {
    const raw = env[name];
    if (!name.startsWith(ENV_PREFIX) || raw === undefined || RESERVED_ENV.has(name)) continue;
    const leaf = byEnv.get(name);
    if (leaf === undefined) {
      issues.push({
        key: name,
        rule: 'unknown_env',
        value: raw,
        message: `unknown environment variable${didYouMean(name, byEnv.keys())}`,
      });
    } else {
      overrides.push({ leaf, raw, source: `env ${name}` });
    }
  }
  return overrides;
}

const NUMBER_PATTERN = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/**
 * The typed value of a text override; text that does not fit stays text, so that the schema
 * rejects it with the key, the rule and the value.
 */
function coerce({ leaf, raw }: ConfigOverride): unknown {
  const text = raw.trim();
  switch (leaf.kind) {
    case 'integer':
    case 'number':
      return NUMBER_PATTERN.test(text) ? Number(text) : raw;
    case 'boolean':
      if (TRUE_WORDS.has(text.toLowerCase())) return true;
      return FALSE_WORDS.has(text.toLowerCase()) ? false : raw;
    case 'enum':
      return leaf.values?.find((value) => value === text.toLowerCase()) ?? raw;
    case 'string':
    case 'list':
      return raw;
  }
}

function fromZodIssue(
  issue: z.core.$ZodIssue,
  draft: Draft,
  sourceOf: (path: readonly string[]) => string | undefined,
): ConfigIssue[] {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const parent = getAt(draft, path);
    const candidates = childNames(path);
    return issue.keys.map((name) => {
      const keyPath = [...path, name];
      return withSource(
        {
          key: keyPath.join('.'),
          rule: issue.code,
          value: isPlainObject(parent) ? parent[name] : undefined,
          message: `unknown key${didYouMean(name, candidates)}`,
        },
        sourceOf(keyPath),
      );
    });
  }
  return [
    withSource(
      {
        key: path.length > 0 ? path.join('.') : '(root)',
        rule: issue.code,
        value: getAt(draft, path),
        message: describeZodIssue(issue, leafKinds().get(path.join('.'))),
      },
      sourceOf(path),
    ),
  ];
}

/** Names the schema allows directly under `path` (keys and sections). */
function childNames(path: readonly string[]): string[] {
  if (path[0] === 'streams' && path.length >= 2) {
    const inner = path.slice(2);
    return describeStreamKeys()
      .map((item) => item.key.split('.'))
      .filter((keyPath) => keyPath.length > inner.length)
      .filter((keyPath) => inner.every((part, index) => keyPath[index] === part))
      .map((keyPath) => keyPath[inner.length] ?? '');
  }
  return [...describeSections(), ...describeConfig()]
    .filter((item) => item.path.length === path.length + 1)
    .filter((item) => path.every((part, index) => item.path[index] === part))
    .map((item) => item.path.at(-1) ?? '');
}

function leafKinds(): Map<string, ConfigValueKind> {
  return new Map(describeConfig().map((leaf) => [leaf.key, leaf.kind]));
}

function withSource(issue: ConfigIssue, source: string | undefined): ConfigIssue {
  return source === undefined ? issue : { ...issue, source };
}

/** `must be <= 65535` rather than zod's `Too big: expected number to be <=65535`. */
function describeZodIssue(issue: z.core.$ZodIssue, kind: ConfigValueKind | undefined): string {
  switch (issue.code) {
    case 'too_big':
      if (issue.origin === 'string') return `must be at most ${String(issue.maximum)} characters`;
      return `must be ${issue.inclusive === false ? '<' : '<='} ${String(issue.maximum)}`;
    case 'too_small':
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return 'must not be empty';
      if (issue.origin === 'string') return `must be at least ${String(issue.minimum)} characters`;
      return `must be ${issue.inclusive === false ? '>' : '>='} ${String(issue.minimum)}`;
    case 'invalid_type':
      if (issue.expected === 'int' || kind === 'integer') return 'must be an integer';
      if (issue.expected === 'object') return 'must be a mapping (key: value)';
      return `must be a ${issue.expected}`;
    case 'invalid_value':
      return `must be one of: ${issue.values.map(String).join(', ')}`;
    case 'invalid_key': // a `streams:` key that is not a stream path: the pattern's message
      return issue.issues[0]?.message ?? issue.message;
    case 'invalid_format': // the schema's own message (e.g. the host pattern)
    case 'not_multiple_of':
    case 'unrecognized_keys':
    case 'invalid_union':
    case 'invalid_element':
    case 'custom':
      return issue.message;
  }
}

function isPlainObject(value: unknown): value is Draft {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function getAt(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const part of path) {
    if (!isPlainObject(node) || !Object.hasOwn(node, part)) return undefined;
    node = node[part];
  }
  return node;
}

/**
 * Sets a leaf, creating missing sections. A section the file set to a non-object is left as
 * it is, for the schema to report.
 */
function setAt(root: Draft, path: readonly string[], value: unknown): void {
  let node = root;
  for (const part of path.slice(0, -1)) {
    if (!Object.hasOwn(node, part)) node[part] = {};
    const next = node[part];
    if (!isPlainObject(next)) return;
    node = next;
  }
  const leafName = path.at(-1);
  if (leafName !== undefined) node[leafName] = value;
}
