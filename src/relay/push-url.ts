// Stream keys out of sight: a push destination as logs and API answers show it.

/** Characters of a secret kept visible (its end), as platforms show keys. */
const VISIBLE = 4;

/** `abcdefgh` -> `****efgh`; a value of 4 characters or fewer is masked whole. */
export function maskSecret(secret: string): string {
  if (secret === '') return '';
  return secret.length > VISIBLE ? `****${secret.slice(-VISIBLE)}` : '****';
}

/**
 * `rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl?x=secret` ->
 * `rtmp://a.rtmp.youtube.com/live2/****ijkl?x=****cret`: the last path segment (the stream key),
 * every query value and any password are masked; what cannot be parsed is masked whole.
 */
export function maskPushUrl(url: string): string {
  if (!URL.canParse(url)) return '****';
  const parsed = new URL(url);
  const slash = parsed.pathname.lastIndexOf('/');
  const path = parsed.pathname.slice(0, slash + 1) + maskSecret(parsed.pathname.slice(slash + 1));
  const query = [...parsed.searchParams]
    .map(([name, value]) => `${encodeURIComponent(name)}=${maskSecret(value)}`)
    .join('&');
  const user = parsed.username === '' ? '' : `${parsed.username}:****@`;
  return `${parsed.protocol}//${user}${parsed.host}${path}${query === '' ? '' : `?${query}`}`;
}

/** The secret parts of `url` (its key, query values, password), for masking free text. */
function secretsOf(url: string): string[] {
  if (!URL.canParse(url)) return [];
  const parsed = new URL(url);
  const key = parsed.pathname.slice(parsed.pathname.lastIndexOf('/') + 1);
  const values = [...parsed.searchParams.values()];
  const raw = [
    key,
    decodeURIComponentSafe(key),
    parsed.password,
    parsed.search.slice(1),
    ...values,
  ];
  // Longest first, so a key is masked before a value it contains.
  return raw.filter((part) => part.length > VISIBLE).sort((a, b) => b.length - a.length);
}

/** `text` (an error from the destination, which may echo the key) with `url`'s secrets masked. */
export function maskSecretsIn(text: string, url: string): string {
  let masked = text;
  for (const secret of secretsOf(url)) masked = masked.split(secret).join(maskSecret(secret));
  return masked;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
