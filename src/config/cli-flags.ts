// Command-line flags of onair (node:util parseArgs): --config, the shortcut flags, --set and
// --help. Every bad flag becomes a ConfigIssue, so all of them are reported at once.
import { parseArgs } from 'node:util';
import { didYouMean, type ConfigIssue } from './config-error.ts';
import type { ConfigKeyInfo } from './describe-config.ts';

/** A text value for one leaf key, from an env var or a flag, not yet coerced. */
export interface ConfigOverride {
  readonly leaf: ConfigKeyInfo;
  readonly raw: string;
  /** `env ONAIR_RTMP_PORT`, `--rtmp-port`, `--set rtmp.port`. */
  readonly source: string;
}

/** What the command line asked for. */
export interface CliFlags {
  readonly help: boolean;
  readonly configPath: string | undefined;
  /** Leaf values in command-line order (a later one wins). */
  readonly overrides: readonly ConfigOverride[];
  readonly issues: readonly ConfigIssue[];
}

/** Text printed for --help. */
export const cliUsage = `Usage: onair [options]
       onair token sign <app/name> ...   mint a signed token (onair token -h)

Options:
  --config FILE           YAML configuration file (also env ONAIR_CONFIG)
  --rtmp-port N           rtmp.port (default 1935; 0 = any free port)
  --http-port N           http.port (default 8080; 0 = any free port)
  --srt-port N            srt.port, UDP (default 8890; 0 = any free port)
  --host ADDR             rtmp.host, http.host and srt.host (default 0.0.0.0)
  --data-dir DIR          dataDir (default ./data)
  --workers N             workers: processes behind the same ports (default 1; auto = one per core)
  --log-level LEVEL       log.level: fatal, error, warn, info, debug, trace or silent
  --log-format FORMAT     log.format: json or pretty
  --set KEY=VALUE         set any key, e.g. --set hub.gopCache.maxFrames=100 (repeatable)
  -h, --help              print this help and exit

Precedence: flags, then environment (ONAIR_<SECTION>_<KEY>, e.g. ONAIR_RTMP_PORT),
then the file, then the defaults. Every key: docs/configuration.md.
An invalid configuration is reported in full and onair exits with code 2.
`;

const OPTIONS = {
  config: { type: 'string' },
  'rtmp-port': { type: 'string' },
  'http-port': { type: 'string' },
  'srt-port': { type: 'string' },
  host: { type: 'string' },
  'data-dir': { type: 'string' },
  workers: { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  set: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

type FlagName = keyof typeof OPTIONS;

/** The keys each shortcut flag sets. */
const SHORTCUTS: Partial<Record<FlagName, readonly string[]>> = {
  'rtmp-port': ['rtmp.port'],
  'http-port': ['http.port'],
  'srt-port': ['srt.port'],
  host: ['rtmp.host', 'http.host', 'srt.host'],
  'data-dir': ['dataDir'],
  workers: ['workers'],
  'log-level': ['log.level'],
  'log-format': ['log.format'],
};

function isFlagName(name: string): name is FlagName {
  return Object.hasOwn(OPTIONS, name);
}

/**
 * Parses `argv` (without node and the script). Every problem becomes an issue, so strict
 * parsing (unknown flag, missing value, stray argument) is checked here, not by parseArgs.
 */
export function parseCliFlags(
  argv: readonly string[],
  leaves: ReadonlyMap<string, ConfigKeyInfo>,
): CliFlags {
  const issues: ConfigIssue[] = [];
  const overrides: ConfigOverride[] = [];
  let help = false;
  let configPath: string | undefined;
  const items = tokenize(argv);
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    if (item === undefined) continue;
    if (item.kind === 'argument') {
      issues.push({
        key: item.value,
        rule: 'unexpected_argument',
        value: item.value,
        message: 'unexpected argument; onair takes only flags (see --help)',
      });
      continue;
    }
    const { name, rawName, value } = item;
    if (!isFlagName(name)) {
      // `--bogus value`: show the value with the flag rather than as a stray argument.
      const next = items[index + 1];
      const shown = value ?? (next?.kind === 'argument' ? next.value : undefined);
      if (value === undefined && shown !== undefined) index++;
      const known = Object.keys(OPTIONS).map((flag) => `--${flag}`);
      issues.push({
        key: rawName,
        rule: 'unknown_flag',
        value: shown,
        message: `unknown flag${didYouMean(rawName, known)}`,
      });
    } else if (name === 'help') {
      if (value === undefined) help = true;
      else
        issues.push({ key: rawName, rule: 'unexpected_value', value, message: 'takes no value' });
    } else if (value === undefined) {
      issues.push({ key: rawName, rule: 'missing_value', value, message: 'needs a value' });
    } else if (name === 'config') {
      configPath = value;
    } else if (name === 'set') {
      parseSet(value, leaves, overrides, issues);
    } else {
      for (const key of SHORTCUTS[name] ?? []) {
        const leaf = leaves.get(key);
        if (leaf !== undefined) overrides.push({ leaf, raw: value, source: rawName });
      }
    }
  }
  return { help, configPath, overrides, issues };
}

type ArgvItem =
  | {
      readonly kind: 'flag';
      readonly name: string;
      readonly rawName: string;
      readonly value: string | undefined;
    }
  | { readonly kind: 'argument'; readonly value: string };

/** Looks like a flag rather than a value (`-1` is a value). */
const FLAG_LIKE = /^-(-|[A-Za-z])/;

/**
 * Flags and arguments in order. parseArgs runs non-strict (strict throws at the first
 * problem); where it took the next flag as a string flag's value (`--rtmp-port --help`),
 * the value is dropped and parsing restarts at that next flag, as strict mode would demand.
 */
function tokenize(argv: readonly string[]): ArgvItem[] {
  const items: ArgvItem[] = [];
  let start = 0;
  while (start < argv.length) {
    const { tokens } = parseArgs({
      args: argv.slice(start),
      options: OPTIONS,
      strict: false,
      allowPositionals: true,
      tokens: true,
    });
    let restartAt: number | undefined;
    for (const token of tokens) {
      if (token.kind === 'option-terminator') continue;
      if (token.kind === 'positional') {
        items.push({ kind: 'argument', value: token.value });
        continue;
      }
      const { name, rawName, value } = token;
      if (value !== undefined && !token.inlineValue && FLAG_LIKE.test(value)) {
        items.push({ kind: 'flag', name, rawName, value: undefined });
        restartAt = start + token.index + 1;
        break;
      }
      items.push({ kind: 'flag', name, rawName, value });
    }
    if (restartAt === undefined) break;
    start = restartAt;
  }
  return items;
}

/** `--set key.path=value`: any leaf key, value coerced later by the leaf's type. */
function parseSet(
  assignment: string,
  leaves: ReadonlyMap<string, ConfigKeyInfo>,
  overrides: ConfigOverride[],
  issues: ConfigIssue[],
): void {
  const equals = assignment.indexOf('=');
  if (equals <= 0) {
    issues.push({
      key: '--set',
      rule: 'invalid_flag',
      value: assignment,
      message: 'expects key.path=value, e.g. --set rtmp.port=1936',
    });
    return;
  }
  const key = assignment.slice(0, equals).trim();
  const raw = assignment.slice(equals + 1);
  const leaf = leaves.get(key);
  if (leaf === undefined) {
    issues.push({
      key,
      rule: 'unknown_key',
      value: raw,
      message: `unknown key${didYouMean(key, leaves.keys())}`,
      source: '--set',
    });
    return;
  }
  overrides.push({ leaf, raw, source: `--set ${key}` });
}
