// What a hook request carries (its JSON body, the client's query with secrets masked) and what
// the body of a 2xx answer means (allowed, or denied with a reason).
import type { HookEvent } from './webhooks.ts';

/** Longest reason taken from a hook's body. */
export const MAX_HOOK_REASON_LENGTH = 200;
const MASKED_PARAMS = new Set(['key', 'token', 'response', 'challenge']);

/**
 * Replaces the values of the `key`, `token`, `response` and `challenge` parameters of a query
 * with `***` (names compared percent-decoded, trimmed and case-insensitively; `&` and `;` both
 * separate parameters). Everything else, including a leading `?`, is kept as it was.
 */
export function maskQuery(query: string): string {
  if (query === '') return '';
  const prefix = query.startsWith('?') ? '?' : '';
  const parts = query.slice(prefix.length).split(/([&;])/);
  for (let i = 0; i < parts.length; i += 2) {
    const part = parts[i] ?? '';
    const eq = part.indexOf('=');
    if (eq !== -1 && MASKED_PARAMS.has(decodeParamName(part.slice(0, eq)))) {
      parts[i] = `${part.slice(0, eq)}=***`;
    }
  }
  return prefix + parts.join('');
}

/** A parameter name as a query parser would see it, lower-cased and trimmed. */
function decodeParamName(raw: string): string {
  const spaced = raw.replaceAll('+', ' ');
  let name = spaced;
  try {
    name = decodeURIComponent(spaced);
  } catch {
    // Malformed escapes: compare the raw name.
  }
  return name.trim().toLowerCase();
}

/** The JSON body of a hook request. */
export function hookBody(event: HookEvent, time: Date): string {
  const slash = event.stream.lastIndexOf('/');
  const masked = maskQuery(event.query ?? '');
  const body: Record<string, string | number> = {
    action: event.action,
    id: event.id,
    stream: event.stream,
    app: slash === -1 ? '' : event.stream.slice(0, slash),
    name: event.stream.slice(slash + 1),
    protocol: event.protocol,
    ip: event.ip,
    param: masked === '' || masked.startsWith('?') ? masked : `?${masked}`,
    time: time.toISOString(),
  };
  if (event.action === 'on_unpublish' || event.action === 'on_stop') {
    body.durationS = event.durationS ?? 0;
    body.bytes = event.bytes ?? 0;
    body.reason = event.reason ?? '';
  }
  if (event.action === 'on_record') {
    body.file = event.file ?? '';
    body.durationS = event.durationS ?? 0;
    body.bytes = event.bytes ?? 0;
  }
  return JSON.stringify(body);
}

/** A reason from a hook's body: control and format characters stripped, at most 200 characters. */
function cleanReason(value: unknown): string {
  if (typeof value !== 'string') return '';
  const stripped = value.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, '').trim();
  return Array.from(stripped).slice(0, MAX_HOOK_REASON_LENGTH).join('');
}

/** Reads a 2xx body: null when it allows, else the reason it denies. */
export function deniedByBody(text: string): string | null {
  const body = text.trim();
  if (body === '' || body === '0' || !body.startsWith('{')) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null; // not JSON: any 2xx allows
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const answer = parsed as Record<string, unknown>;
  const reason = cleanReason(answer.reason);
  if ('code' in answer && answer.code !== 0 && answer.code !== '0') {
    if (reason !== '') return reason;
    const code = typeof answer.code === 'number' ? String(answer.code) : 'not 0';
    return `hook answered code ${code}`;
  }
  if ('allowed' in answer && answer.allowed !== true) {
    return reason === '' ? 'denied by hook' : reason;
  }
  return null;
}
