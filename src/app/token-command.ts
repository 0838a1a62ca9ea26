// `onair token sign <app/name> --expires 2h [--ip CIDR] [--purpose play|publish] [--config F]`:
// mints a signed token with the server's own secret (same config, same data directory).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load-config.ts';
import { checkStreamPath } from '../hub/stream-path.ts';
import { isValidCidr } from '../access/cidr.ts';
import { parseDuration } from '../access/duration.ts';
import { signToken, type TokenPurpose } from '../access/tokens.ts';
import { loadOrCreateSecret } from '../api/secret-file.ts';

export const tokenUsage = `Usage: onair token sign <app/name> --expires <duration> [options]

Prints a signed token for one stream, made with the server's secret (auth.secret, or the one
onair keeps in its data directory), so the same --config must be given as to the server.

Options:
  --expires D        lifetime: 90s, 30m, 2h, 7d, 1h30m (required)
  --ip CIDR          only viewers from this address or range (e.g. 203.0.113.0/24)
  --purpose P        play (default) or publish
  --config FILE      the server's YAML configuration (also env ONAIR_CONFIG)
  -h, --help         print this help
`;

/** Runs `onair token ...`; returns the exit code (2 for usage or config errors). */
export function runTokenCommand(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  out: (text: string) => void,
  err: (text: string) => void,
): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        expires: { type: 'string' },
        ip: { type: 'string' },
        purpose: { type: 'string', default: 'play' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    err(`${error instanceof Error ? error.message : String(error)}\n\n${tokenUsage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    out(tokenUsage);
    return 0;
  }
  const [verb, path, ...extra] = positionals;
  const problems: string[] = [];
  if (verb !== 'sign') problems.push(`unknown command "${verb ?? ''}" (expected: sign)`);
  if (extra.length > 0) problems.push(`unexpected arguments: ${extra.join(' ')}`);
  const pathProblem = path === undefined ? 'missing' : checkStreamPath(path);
  if (pathProblem !== null) problems.push(`stream path: ${pathProblem}`);
  const lifetimeS = values.expires === undefined ? null : parseDuration(values.expires);
  if (lifetimeS === null) problems.push('--expires: a duration such as 90s, 30m, 2h or 7d');
  if (values.ip !== undefined && !isValidCidr(values.ip)) {
    problems.push('--ip: an address or CIDR range');
  }
  if (values.purpose !== 'play' && values.purpose !== 'publish') {
    problems.push('--purpose: play or publish');
  }
  if (problems.length > 0 || path === undefined || lifetimeS === null) {
    err(`${problems.map((p) => `onair token: ${p}`).join('\n')}\n\n${tokenUsage}`);
    return 2;
  }
  let config;
  try {
    ({ config } = loadConfig({
      argv: values.config === undefined ? [] : ['--config', values.config],
      env,
      readFile: (file) => readFileSync(file, 'utf8'),
    }));
  } catch (error) {
    if (error instanceof ConfigError) {
      err(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const secret =
    config.auth.secret || loadOrCreateSecret(join(config.dataDir, 'auth-secret')).value;
  const expiresAtS = Math.floor(Date.now() / 1000) + lifetimeS;
  const token = signToken(secret, {
    purpose: values.purpose as TokenPurpose,
    path,
    expiresAtS,
    ...(values.ip === undefined ? {} : { cidr: values.ip }),
  });
  out(`${token}\n`);
  err(
    `# ${values.purpose} token for ${path}, valid until ${new Date(expiresAtS * 1000).toISOString()}; use it as ?token=${encodeURIComponent(token)}\n`,
  );
  return 0;
}
