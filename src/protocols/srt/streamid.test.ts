// Tests of parseStreamId: the SRT access-control, MediaMTX and bare-path spellings, and what
// is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_STREAMID_BYTES, parseStreamId, type StreamIdRequest } from './streamid.ts';

const accepted: readonly (readonly [string, StreamIdRequest])[] = [
  // SRT access control (SRS).
  ['#!::r=live/foo', { mode: 'play', path: 'live/foo', query: '' }],
  ['#!::r=live/foo,m=request', { mode: 'play', path: 'live/foo', query: '' }],
  ['#!::r=live/foo,m=publish', { mode: 'publish', path: 'live/foo', query: '' }],
  ['#!::r=live/foo,m=publish,s=SECRET', { mode: 'publish', path: 'live/foo', query: 'key=SECRET' }],
  ['#!::m=request,s=T,r=live/foo', { mode: 'play', path: 'live/foo', query: 'token=T' }],
  [
    '#!::r=live/foo,m=publish,u=alice,h=example.com,t=stream',
    { mode: 'publish', path: 'live/foo', query: '' },
  ],
  ['#!::r=live/foo?key=abc,m=publish', { mode: 'publish', path: 'live/foo', query: 'key=abc' }],
  ['#!::r=live/foo?x=1&y=2,s=T', { mode: 'play', path: 'live/foo', query: 'x=1&y=2&token=T' }],
  [
    '#!::r=live/foo?key=old,m=publish,s=new',
    { mode: 'publish', path: 'live/foo', query: 'key=new' },
  ],
  ['#!::r=a/b/c', { mode: 'play', path: 'a/b/c', query: '' }],
  // MediaMTX.
  ['publish:live/foo', { mode: 'publish', path: 'live/foo', query: '' }],
  ['publish:live/foo:KEY', { mode: 'publish', path: 'live/foo', query: 'key=KEY' }],
  ['publish:live/foo:alice:PASS', { mode: 'publish', path: 'live/foo', query: 'key=PASS' }],
  ['publish:live/foo?key=abc', { mode: 'publish', path: 'live/foo', query: 'key=abc' }],
  ['read:live/foo', { mode: 'play', path: 'live/foo', query: '' }],
  ['read:live/foo:TOKEN', { mode: 'play', path: 'live/foo', query: 'token=TOKEN' }],
  ['read:live/foo:bob:TOKEN', { mode: 'play', path: 'live/foo', query: 'token=TOKEN' }],
  ['read:live/foo?token=abc', { mode: 'play', path: 'live/foo', query: 'token=abc' }],
  ['read:live/foo?a=1:T', { mode: 'play', path: 'live/foo', query: 'a=1&token=T' }],
  // A key with URL-special characters is escaped in the query.
  ['publish:live/foo:a&b=c', { mode: 'publish', path: 'live/foo', query: 'key=a%26b%3Dc' }],
  // A bare path: play.
  ['live/foo', { mode: 'play', path: 'live/foo', query: '' }],
  ['live/foo?token=abc', { mode: 'play', path: 'live/foo', query: 'token=abc' }],
  ['live/foo?', { mode: 'play', path: 'live/foo', query: '' }],
];

test('parseStreamId reads every accepted spelling', () => {
  for (const [raw, want] of accepted) assert.deepEqual(parseStreamId(raw), want, raw);
});

test('parseStreamId: the query is what the access layer reads', () => {
  const publish = parseStreamId('#!::r=live/foo,m=publish,s=S3CRET');
  assert.ok(!('error' in publish));
  assert.equal(new URLSearchParams(publish.query).get('key'), 'S3CRET');
  const play = parseStreamId('read:live/foo:tok en');
  assert.ok(!('error' in play));
  assert.equal(new URLSearchParams(play.query).get('token'), 'tok en');
});

const refused: readonly (readonly [string, string, RegExp])[] = [
  ['empty', '', /empty/],
  ['too long', `live/${'a'.repeat(MAX_STREAMID_BYTES)}`, /512 bytes/],
  // 171 three-byte characters: 171 UTF-16 units but 513 bytes.
  ['too long in UTF-8', `live/${'\u20ac'.repeat(171)}`, /512 bytes/],
  ['NUL', 'live/foo\0', /control/],
  ['CR LF', 'live/foo\r\nx', /control/],
  ['DEL', 'live/\x7ffoo', /control/],
  ['a tab', '#!::r=live/foo,\tm=publish', /control/],
  ['no r', '#!::m=publish,s=x', /no r/],
  ['an empty r', '#!::r=,m=publish', /path: empty/],
  ['m=bidirectional', '#!::r=live/foo,m=bidirectional', /unsupported m=bidirectional/],
  ['m=other', '#!::r=live/foo,m=PUBLISH', /unsupported m/],
  ['t is not stream', '#!::r=live/foo,t=file', /t=file/],
  ['an unknown key', '#!::r=live/foo,x=1', /unknown key x/],
  ['a duplicate key', '#!::r=live/foo,r=live/bar', /duplicate key r/],
  ['a duplicate m', '#!::r=live/foo,m=publish,m=request', /duplicate key m/],
  ['a pair without =', '#!::r=live/foo,publish', /malformed/],
  ['an empty pair', '#!::r=live/foo,,m=publish', /malformed/],
  ['an empty key name', '#!::=x', /malformed/],
  ['nothing after #!::', '#!::', /malformed/],
  ['an empty s', '#!::r=live/foo,s=', /empty s/],
  ['a nested access-control block', '#!:{r=live/foo}', /only the #!:: form/],
  ['a leading / (SRS)', '#!::r=/live/foo', /leading \//],
  ['a leading / (MediaMTX)', 'publish:/live/foo', /leading \//],
  ['a leading / (bare)', '/live/foo', /leading \//],
  ['a .. segment', 'read:live/../secret', /\.\. segment/],
  ['a .. segment (SRS)', '#!::r=live/..', /\.\. segment/],
  ['a .. segment (bare)', '../live/foo', /\.\. segment/],
  ['an empty path (MediaMTX)', 'publish:', /path: empty/],
  ['an empty path before ?', 'read:?token=x', /path: empty/],
  ['an empty key', 'publish:live/foo:', /empty key/],
  ['an empty token', 'read:live/foo:', /empty token/],
  ['an empty pass', 'publish:live/foo:alice:', /empty key/],
  ['too many fields', 'publish:live/foo:a:b:c', /too many/],
];

test('parseStreamId refuses what it cannot take, with a reason', () => {
  for (const [name, raw, reason] of refused) {
    const result = parseStreamId(raw);
    assert.ok('error' in result, name);
    assert.match(result.error, reason, name);
  }
});

test('parseStreamId: 512 UTF-8 bytes are accepted', () => {
  const path = `live/${'a'.repeat(MAX_STREAMID_BYTES - 5)}`;
  assert.equal(Buffer.byteLength(path), MAX_STREAMID_BYTES);
  assert.deepEqual(parseStreamId(path), { mode: 'play', path, query: '' });
});

test('parseStreamId applies the path check it is given', () => {
  const check = (path: string): string | null => (path.includes('#') ? 'no #' : null);
  assert.deepEqual(parseStreamId('live/foo#x', check), { error: 'path: no #' });
  assert.deepEqual(parseStreamId('publish:live/foo:K', check), {
    mode: 'publish',
    path: 'live/foo',
    query: 'key=K',
  });
  // The built-in checks come first.
  assert.deepEqual(
    parseStreamId('/live/foo', () => 'never called'),
    { error: 'path: leading /' },
  );
});

test('parseStreamId never throws and always answers one of the two shapes', () => {
  const prefixed = fc.oneof(
    fc.string({ maxLength: 600 }),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.string().map((s) => `#!::${s}`),
    fc.string().map((s) => `publish:${s}`),
    fc.string().map((s) => `read:${s}`),
    fc
      .array(fc.tuple(fc.constantFrom('r', 'm', 's', 't', 'u', 'h', 'x', ''), fc.string()))
      .map((pairs) => `#!::${pairs.map(([k, v]) => `${k}=${v}`).join(',')}`),
  );
  fc.assert(
    fc.property(prefixed, (raw) => {
      const result = parseStreamId(raw);
      if ('error' in result) {
        assert.equal(typeof result.error, 'string');
        assert.ok(result.error.length > 0);
      } else {
        assert.ok(['publish', 'play'].includes(result.mode));
        assert.ok(result.path.length > 0 && !result.path.startsWith('/'));
        assert.ok(!result.path.split('/').includes('..'));
        assert.ok(!result.path.includes('?'));
      }
    }),
    { numRuns: 2000 },
  );
});

const segmentArb = fc.stringMatching(/^[0-9A-Za-z_.-]{1,12}$/).filter((s) => s !== '..');
const pathArb = fc
  .array(segmentArb, { minLength: 2, maxLength: 4 })
  .map((segments) => segments.join('/'));
/** A credential without `,` `:` `=` or control characters (the delimiters of the spellings). */
const credentialArb = fc.stringMatching(/^[0-9A-Za-z_.~+/-]{1,40}$/);
const extraArb = fc.option(
  fc.record({
    name: fc.stringMatching(/^[a-j]{1,5}$/),
    value: fc.stringMatching(/^[a-z0-9]{0,8}$/),
  }),
  { nil: undefined },
);

test('parseStreamId gives back the mode, path and credential of generated streamids', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('srt', 'mediamtx', 'mediamtx-user', 'bare'),
      fc.constantFrom<'publish' | 'play'>('publish', 'play'),
      pathArb,
      fc.option(credentialArb, { nil: undefined }),
      extraArb,
      (spelling, mode, path, credential, extra) => {
        const query = extra === undefined ? '' : `?${extra.name}=${extra.value}`;
        const keyName = mode === 'publish' ? 'key' : 'token';
        let raw: string;
        let wantMode = mode;
        let wantCredential = credential;
        switch (spelling) {
          case 'srt': {
            const pairs = [`r=${path}${query}`];
            if (mode === 'publish') pairs.push('m=publish');
            else if (credential !== undefined) pairs.push('m=request');
            if (credential !== undefined) pairs.push(`s=${credential}`);
            raw = `#!::${pairs.join(',')}`;
            break;
          }
          case 'mediamtx':
          case 'mediamtx-user': {
            const action = mode === 'publish' ? 'publish' : 'read';
            const user = spelling === 'mediamtx-user' && credential !== undefined ? 'user:' : '';
            raw = `${action}:${path}${query}${credential === undefined ? '' : `:${user}${credential}`}`;
            break;
          }
          case 'bare':
            raw = `${path}${query}`;
            wantMode = 'play';
            wantCredential = undefined;
        }
        const result = parseStreamId(raw);
        assert.ok(!('error' in result), `${raw}: ${'error' in result ? result.error : ''}`);
        assert.equal(result.mode, wantMode);
        assert.equal(result.path, path);
        const params = new URLSearchParams(result.query);
        if (wantCredential !== undefined) assert.equal(params.get(keyName), wantCredential);
        if (extra !== undefined && extra.name !== keyName) {
          assert.equal(params.get(extra.name), extra.value);
        }
        if (wantCredential === undefined && extra === undefined) assert.equal(result.query, '');
      },
    ),
    { numRuns: 1000 },
  );
});
