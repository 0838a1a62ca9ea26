// Tests of escapeHtml(): the five special characters become entities, nothing else changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { escapeHtml } from './html-escape.ts';

test('escapeHtml() replaces & < > " and \' with entities', () => {
  assert.equal(
    escapeHtml(`<a href="x" title='y'>&amp;</a>`),
    '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;',
  );
});

test('escapeHtml() leaves text without special characters unchanged', () => {
  assert.equal(escapeHtml('live/cam_1-a.b'), 'live/cam_1-a.b');
});

test('escapeHtml() output never contains < > " or \' and decodes back to the input', () => {
  const decode = (html: string): string =>
    html
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&amp;/g, '&');
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (text) => {
      const escaped = escapeHtml(text);
      assert.doesNotMatch(escaped, /[<>"']/);
      assert.equal(decode(escaped), text);
    }),
  );
});
