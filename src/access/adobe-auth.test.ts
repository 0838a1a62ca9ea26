// Tests of the Adobe RTMP challenge authentication, against a client written from the formula.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  AdobeChallenges,
  needAuthDescription,
  parseAdobeQuery,
  verifyAdobeResponse,
} from './adobe-auth.ts';

function md5Base64(text: string): string {
  return createHash('md5').update(text).digest('base64');
}

/** What ffmpeg (do_adobe_auth) and OBS's librtmp do with a needauth description. */
function clientAnswer(description: string, user: string, password: string): string {
  assert.ok(description.includes('authmod=adobe'));
  const at = description.indexOf('?reason=needauth');
  assert.notEqual(at, -1);
  const fields = new Map<string, string>();
  for (const pair of description.slice(at + 1).split('&')) {
    const eq = pair.indexOf('=');
    fields.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const salt = fields.get('salt') ?? '';
  const opaque = fields.get('opaque') ?? '';
  const challenge = fields.get('challenge') ?? '';
  // librtmp's client challenge is base64 of 4 random bytes: it may hold + / and ends in ==.
  const clientChallenge = Buffer.from([0xfb, 0xff, randomBytes(1)[0]!, 0x3e]).toString('base64');
  const hash1 = md5Base64(user + salt + password);
  const response = md5Base64(hash1 + (opaque !== '' ? opaque : challenge) + clientChallenge);
  return `authmod=adobe&user=${fields.get('user') ?? ''}&challenge=${clientChallenge}&response=${response}&opaque=${opaque}`;
}

/** The server's side of step c, as the RTMP server will wire it. */
function serverCheck(challenges: AdobeChallenges, query: string, password: string): boolean {
  const parsed = parseAdobeQuery(query);
  if (parsed?.response === undefined || parsed.opaque === undefined) return false;
  const issued = challenges.take(parsed.opaque);
  if (issued === undefined || issued.user !== parsed.user) return false;
  return verifyAdobeResponse({
    user: issued.user,
    password,
    salt: issued.salt,
    challenge: issued.challenge,
    opaque: parsed.opaque,
    clientChallenge: parsed.challenge ?? '',
    response: parsed.response,
  });
}

test('step a: the need-auth description ffmpeg and OBS look for', () => {
  const description = needAuthDescription();
  assert.equal(description, '[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ');
  assert.ok(description.includes('code=403 need auth'));
  assert.ok(description.includes('authmod=adobe'));
});

test('parseAdobeQuery() reads the adobe fields and nothing else', () => {
  assert.equal(parseAdobeQuery(''), null);
  assert.equal(parseAdobeQuery('key=abc'), null);
  assert.equal(parseAdobeQuery('authmod=llnw&user=u'), null);
  assert.equal(parseAdobeQuery('authmod=Adobe&user=u'), null);
  assert.deepEqual(parseAdobeQuery('authmod=adobe&user=alice'), { user: 'alice' });
  assert.deepEqual(parseAdobeQuery('?authmod=adobe&user=alice'), { user: 'alice' });
  assert.deepEqual(parseAdobeQuery('authmod=adobe'), { user: '' });
  assert.deepEqual(
    parseAdobeQuery(
      'authmod=adobe&user=al%40ice&challenge=+/8=&response=ab+c/d==&opaque=0f0f&other=1',
    ),
    { user: 'al@ice', challenge: '+/8=', response: 'ab+c/d==', opaque: '0f0f' },
  );
  // The first value wins; a bad percent escape is kept as written; keys without = are empty.
  assert.deepEqual(parseAdobeQuery('authmod=adobe&user=a&user=b&opaque=%zz&challenge'), {
    user: 'a',
    opaque: '%zz',
    challenge: '',
  });
  assert.equal(parseAdobeQuery('authmod=adobe&user=' + 'u'.repeat(10_000))?.user.length, 256);
});

test('parseAdobeQuery() never throws', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (text) => {
      parseAdobeQuery(text);
      parseAdobeQuery(`authmod=adobe&${text}`);
    }),
  );
});

test('step b: the needauth description carries query-safe salt, challenge and opaque', () => {
  const challenges = new AdobeChallenges();
  const issued = challenges.issue('alice');
  for (const value of [issued.salt, issued.challenge, issued.opaque]) {
    assert.match(value, /^[0-9a-f]{16,}$/);
  }
  assert.equal(
    issued.description,
    `[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth&user=alice&salt=${issued.salt}&challenge=${issued.challenge}&opaque=${issued.opaque}`,
  );
  const other = challenges.issue('alice');
  assert.notEqual(other.salt, issued.salt);
  assert.notEqual(other.opaque, issued.opaque);
});

test('a client following the formula gets in with the right password', () => {
  const challenges = new AdobeChallenges();
  for (let i = 0; i < 20; i++) {
    const { description } = challenges.issue('alice');
    assert.equal(
      serverCheck(challenges, clientAnswer(description, 'alice', 's3cret!'), 's3cret!'),
      true,
    );
  }
  assert.equal(challenges.size, 0);
});

test('a wrong password, a tampered response or a different user is refused', () => {
  const challenges = new AdobeChallenges();
  let issued = challenges.issue('alice');
  assert.equal(
    serverCheck(challenges, clientAnswer(issued.description, 'alice', 'wrong'), 'right'),
    false,
  );

  issued = challenges.issue('alice');
  const answer = clientAnswer(issued.description, 'alice', 'right');
  const query = parseAdobeQuery(answer)!;
  const base = {
    user: 'alice',
    password: 'right',
    salt: issued.salt,
    challenge: issued.challenge,
    opaque: issued.opaque,
    clientChallenge: query.challenge!,
    response: query.response!,
  };
  assert.equal(verifyAdobeResponse(base), true);
  assert.equal(verifyAdobeResponse({ ...base, response: `${base.response}x` }), false);
  assert.equal(verifyAdobeResponse({ ...base, response: '' }), false);
  assert.equal(verifyAdobeResponse({ ...base, user: 'bob' }), false);
  assert.equal(verifyAdobeResponse({ ...base, salt: 'other' }), false);
  assert.equal(verifyAdobeResponse({ ...base, clientChallenge: 'AAAAAA==' }), false);
  assert.equal(verifyAdobeResponse({ ...base, password: 'Right' }), false);
});

test('without an opaque value the challenge is hashed instead', () => {
  const hash1 = md5Base64('alice' + 'salt' + 'pw');
  const response = md5Base64(hash1 + 'chal' + 'cc');
  const base = { user: 'alice', password: 'pw', salt: 'salt', clientChallenge: 'cc', response };
  assert.equal(verifyAdobeResponse({ ...base, challenge: 'chal', opaque: '' }), true);
  assert.equal(verifyAdobeResponse({ ...base, challenge: 'chal', opaque: 'op' }), false);
});

test('an opaque value is good once', () => {
  const challenges = new AdobeChallenges();
  const { description, opaque } = challenges.issue('alice');
  const answer = clientAnswer(description, 'alice', 'pw');
  assert.equal(serverCheck(challenges, answer, 'pw'), true);
  assert.equal(challenges.take(opaque), undefined);
  assert.equal(serverCheck(challenges, answer, 'pw'), false);
  assert.equal(challenges.take('unknown'), undefined);
});

test('challenges expire after the ttl', () => {
  let nowMs = 1_000_000;
  const challenges = new AdobeChallenges({ ttlMs: 60_000, now: () => nowMs });
  const late = challenges.issue('alice');
  const inTime = challenges.issue('alice');
  nowMs += 60_000;
  assert.deepEqual(challenges.take(inTime.opaque), {
    user: 'alice',
    salt: inTime.salt,
    challenge: inTime.challenge,
  });
  nowMs += 1;
  assert.equal(challenges.take(late.opaque), undefined);
  // Expired entries are dropped when the next challenge is issued.
  challenges.issue('bob');
  nowMs += 60_001;
  challenges.issue('carol');
  assert.equal(challenges.size, 1);
});

test('the map is bounded: the oldest challenge is evicted', () => {
  const challenges = new AdobeChallenges({ max: 3, now: () => 0 });
  const issued = ['a', 'b', 'c', 'd', 'e'].map((user) => challenges.issue(user));
  assert.equal(challenges.size, 3);
  assert.equal(challenges.take(issued[0]!.opaque), undefined);
  assert.equal(challenges.take(issued[1]!.opaque), undefined);
  assert.equal(challenges.take(issued[2]!.opaque)?.user, 'c');
  assert.equal(challenges.take(issued[4]!.opaque)?.user, 'e');
  const bounded = new AdobeChallenges({ now: () => 0 });
  for (let i = 0; i < 10_050; i++) bounded.issue('flood');
  assert.equal(bounded.size, 10_000);
});

test('a user name with query characters is percent-encoded in the description', () => {
  const challenges = new AdobeChallenges();
  const { description } = challenges.issue('a&b=c');
  assert.ok(description.includes('&user=a%26b%3Dc&salt='));
});
