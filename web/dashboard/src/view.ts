// What every page of the dashboard gets from the shell, and the pieces pages share.
import { ApiError, describe, isAbort, type ApiClient } from './api.ts';
import type { FeedStatus } from './feed.ts';
import { h } from './dom.ts';
import type { Health } from './health.ts';

/** Handed to a page when it is shown. */
export interface ViewContext {
  readonly api: ApiClient;
  /** Shows `message` in the page's alert region; null clears it. */
  readonly showError: (message: string | null) => void;
  /** Shows the live feed's state in the header; null hides it. */
  readonly setFeedStatus: (status: FeedStatus | null) => void;
}

/** Undoes everything a page started (timers, requests, feeds, charts). */
export type Dispose = () => void;

/**
 * Shows a failed request, prefixed with what was being done. Aborted requests (the page was
 * left) and 401s (the shell already went back to the login form) are not errors.
 */
export function reportError(ctx: ViewContext, doing: string, error: unknown): void {
  if (isAbort(error)) return;
  if (error instanceof ApiError && error.status === 401) return;
  ctx.showError(`${doing}: ${describe(error)}`);
}

/** A label/value pair of a figures list (`<dl class="figures">`); returns [wrapper, value]. */
export function figure(label: string, testId?: string): [HTMLDivElement, HTMLElement] {
  const value = h('dd', testId === undefined ? {} : { 'data-testid': testId }, '–');
  return [h('div', { class: 'figure' }, h('dt', {}, label), value), value];
}

/** A health badge element, updated with `setHealth`. */
export function healthBadge(): HTMLSpanElement {
  return h('span', { class: 'badge badge-down', 'data-testid': 'health' }, 'down');
}

/** Shows `health` on a badge (and its reasons as its tooltip and accessible description). */
export function setHealth(badge: HTMLElement, health: Health): void {
  const className = `badge badge-${health.level}`;
  if (badge.className !== className) badge.className = className;
  if (badge.textContent !== health.level) badge.textContent = health.level;
  badge.dataset['health'] = health.level;
  const reasons = health.reasons.join('; ');
  if (reasons === '') badge.removeAttribute('title');
  else if (badge.title !== reasons) badge.title = reasons;
  badge.setAttribute(
    'aria-label',
    reasons === '' ? `health: ${health.level}` : `health: ${health.level} (${reasons})`,
  );
}
