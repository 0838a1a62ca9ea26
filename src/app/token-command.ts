// `onair token sign <app/name> --expires 2h [--ip CIDR] [--purpose play|publish] [--config F]`:
// mints a signed token with the server's own token key (same config, same data directory).
// `onair token hooks-key` / `token-key` print the key webhook receivers verify with and the one a
// backend mints tokens with, both derived from the same secret as the server's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load-config.ts';
import type { Config } from '../config/schema.ts';
import { checkStreamPath } from '../hub/stream-path.ts';
import { isValidCidr } from '../access/cidr.ts';
import { parseDuration } from '../access/duration.ts';
import { deriveKey } from '../access/keys.ts';
import { signToken, type TokenPurpose } from '../access/tokens.ts';
import { loadOrCreateSecret } from '../api/secret-file.ts';

export const tokenUsage = `Usage: onair token sign <app/name> --expires <duration> [options]
       onair token hooks-key [--config FILE]
       onair token token-key [--config FILE]

sign       prints a signed token for one stream
hooks-key  prints the key of the X-Onair-Signature of webhook requests, for receivers to verify
           with: hooks.secret when set, else the hooks key derived from the secret
token-key  prints the key play and publish tokens are signed with, for a backend minting them

Keys are derived from the server's secret (auth.secret, or the one onair keeps in its data
directory), so the same --config must be given as to the server.

Options of sign:
  --expires D        lifetime: 90s, 30m, 2h, 7d, 1h30m (required)
  --ip CIDR          only viewers from this address or range (e.g. 203.0.113.0/24)
  --purpose P        play (default) or publish

Options:
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
  if (verb === 'hooks-key' || verb === 'token-key') {
    const problems = [
      ...positionals.slice(1).map((arg) => `unexpected argument: ${arg}`),
      ...(['expires', 'ip'] as const)
        .filter((name) => values[name] !== undefined)
        .map((name) => `--${name} belongs to sign`),
    ];
    if (problems.length > 0) return usageError(problems, err);
    const loaded = loadServerSecret(values.config, env, err);
    if (loaded === null) return 2;
    if (verb === 'token-key') {
      out(`${deriveKey(loaded.secret, 'token')}\n`);
      err('# key of play/publish tokens (HMAC-SHA256), derived from the secret\n');
    } else if (loaded.config.hooks.secret !== '') {
      out(`${loaded.config.hooks.secret}\n`);
      err('# key of X-Onair-Signature: hooks.secret, as configured\n');
    } else {
      out(`${deriveKey(loaded.secret, 'hooks')}\n`);
      err('# key of X-Onair-Signature, derived from the secret (hooks.secret is empty)\n');
    }
    return 0;
  }
  const problems: string[] = [];
  if (verb !== 'sign') {
    problems.push(`unknown command "${verb ?? ''}" (expected: sign, hooks-key or token-key)`);
  }
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
    return usageError(problems, err);
  }
  const loaded = loadServerSecret(values.config, env, err);
  if (loaded === null) return 2;
  const expiresAtS = Math.floor(Date.now() / 1000) + lifetimeS;
  const token = signToken(deriveKey(loaded.secret, 'token'), {
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

function usageError(problems: readonly string[], err: (text: string) => void): number {
  err(`${problems.map((p) => `onair token: ${p}`).join('\n')}\n\n${tokenUsage}`);
  return 2;
}

/**
 * The server's config and auth secret, as the server resolves them (auth.secret, else
 * <dataDir>/auth-secret, generated when missing); null after printing a config error.
 */
function loadServerSecret(
  configFile: string | undefined,
  env: NodeJS.ProcessEnv,
  err: (text: string) => void,
): { config: Config; secret: string } | null {
  let config;
  try {
    ({ config } = loadConfig({
      argv: configFile === undefined ? [] : ['--config', configFile],
      env,
      readFile: (file) => readFileSync(file, 'utf8'),
    }));
  } catch (error) {
    if (error instanceof ConfigError) {
      err(`${error.message}\n`);
      return null;
    }
    throw error;
  }
  const secret =
    config.auth.secret || loadOrCreateSecret(join(config.dataDir, 'auth-secret')).value;
  return { config, secret };
}
