// The webhook client: signed JSON POSTs for on_publish / on_play (decisions) and on_unpublish /
// on_stop (fire-and-forget notifications with retries), plus the signature helpers receivers use.
// The signature is in webhook-signature.ts (receivers use it too); the request body and the
// reading of an answer's body are in hook-messages.ts.
//
// Decision semantics (on_publish, on_play), chosen to accept the answers of SRS, OvenMediaEngine
// and nginx-rtmp hook receivers:
// - 2xx with an empty body, `0`, `{"code":0}` (SRS) or `{"allowed":true}` (OvenMediaEngine): allowed.
// - 2xx with JSON `{"code":<anything but 0>}` or `{"allowed":<anything but true>}`: denied, the
//   reason taken from the body's `reason` (at most 200 characters, control characters stripped).
//   When a body carries both fields, either one denying is enough.
// - 2xx with any other body (text, HTML, other JSON): allowed, as nginx-rtmp does (any 2xx
//   allows). A body over 64 KiB is not "other": the hook failed (see below).
// - 3xx: denied ('redirect not followed'); redirects are never followed.
// - Any other status: denied ('hook answered <status>').
// - Timeout, connection error, a body over 64 KiB or cut short: the hook failed; `failOpen`
//   decides, with the reason 'hook failed: <what>'.
// - After close() or drain(): denied ('hook client closed'), whatever failOpen says.
//
// Notifications (on_unpublish, on_stop) are queued fairly. Each action has its own share
// (maxPending), so no number of viewers ending can crowd out a publisher's on_unpublish. Within
// a share each flow (one action from one client address) holds what it can, and when the share
// is full the newest waiting notification of the largest flow makes room: 10,000 HLS sessions of
// one address ending at once leave room for every other address. Flows are sent in turn. What
// is dropped is counted by action.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { deniedByBody, hookBody } from './hook-messages.ts';
import { SIGNATURE_HEADER, signWebhook } from './webhook-signature.ts';

/** The hook events. */
export type HookAction = 'on_publish' | 'on_unpublish' | 'on_play' | 'on_stop' | 'on_record';

/** Every hook event, in a stable order. */
export const HOOK_ACTIONS: readonly HookAction[] = [
  'on_publish',
  'on_unpublish',
  'on_play',
  'on_stop',
  'on_record',
];

/** What the caller knows about a session; the client derives app, name, param and time. */
export interface HookEvent {
  action: HookAction;
  /** Session id. */
  id: string;
  /** Stream path, `app/name` (the app may itself contain '/'). */
  stream: string;
  /** 'rtmp', 'http-flv', 'hls', ... */
  protocol: string;
  /** Client address. */
  ip: string;
  /** The request's query (`?key=...`), unmasked: the client masks it. */
  query?: string;
  /** on_unpublish / on_stop: how long the session lasted, in seconds. */
  durationS?: number;
  /** on_unpublish / on_stop: bytes received (publish) or sent (play). */
  bytes?: number;
  /** on_unpublish / on_stop: why the session ended. */
  reason?: string;
  /** on_record: the file, relative to <dataDir>/recordings. */
  file?: string;
}

/** The answer of decide(). `status` is there when the hook sent an HTTP answer. */
export interface HookDecision {
  allowed: boolean;
  reason: string;
  status?: number;
  durationMs: number;
}

/** The result of one attempt, given to `onResult` (for metrics and logs). */
export interface HookAttemptResult {
  /** True when the hook answered and allowed (decide) or answered 2xx (notify). */
  ok: boolean;
  durationMs: number;
  reason: string;
}

/** Options of a WebhookClient. */
export interface WebhookClientOptions {
  /** One http(s) URL per event; missing or empty: that hook is off. */
  urls: Partial<Record<HookAction, string>>;
  /** Key of the X-Onair-Signature HMAC (required when any URL is set). */
  secret: string;
  /** Deadline of one attempt (connect, answer and body), in ms. */
  timeoutMs: number;
  /** Whether a failed decision hook (timeout, error, oversized body) allows. */
  failOpen: boolean;
  /** Retries of a failed notification. */
  retries: number;
  /**
   * Notifications of one action held at once (queued, in flight or waiting to retry; default
   * 1000). When full, room is made fairly: see the file comment.
   */
  maxPending?: number;
  /** Notifications in flight at once (default 64; also the notification sockets per host). */
  maxConcurrent?: number;
  /** First retry delay (default 500 ms), doubled each retry, capped at 10 s. */
  retryBaseMs?: number;
  /** Called after every attempt. Must not throw (what it throws is ignored). */
  onResult?: (action: HookAction, result: HookAttemptResult) => void;
}

/** Largest hook answer body read; a larger one makes the attempt fail. */
export const MAX_HOOK_BODY_BYTES = 64 * 1024;

const DEFAULT_MAX_PENDING = 1000;
const DEFAULT_MAX_CONCURRENT = 64;
/** Sockets per host of decisions; more decisions wait for one within their own deadline. */
const MAX_DECISION_SOCKETS = 256;
/** Decisions waiting or in flight at once; more fail at once (failOpen decides). */
const MAX_DECISIONS = 10_000;
const DEFAULT_RETRY_BASE_MS = 500;
const MAX_RETRY_DELAY_MS = 10_000;
const CLOSED_REASON = 'hook client closed';
const TIMEOUT_REASON = 'hook failed: timeout';
const OVERSIZE_REASON = `hook failed: response body over ${MAX_HOOK_BODY_BYTES / 1024} KiB`;
const INTERRUPTED_REASON = 'hook failed: response cut short';
const OVERLOADED_REASON = `hook failed: over ${MAX_DECISIONS} decisions waiting`;
const ERROR_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'hook failed: connection refused',
  ECONNRESET: 'hook failed: connection reset',
  EPIPE: 'hook failed: connection reset',
  ENOTFOUND: 'hook failed: host not found',
  EAI_AGAIN: 'hook failed: host not found',
  ETIMEDOUT: 'hook failed: connect timeout',
  EHOSTUNREACH: 'hook failed: host unreachable',
  ENETUNREACH: 'hook failed: network unreachable',
};

/** The failure reason for a request error; never includes the URL. */
function errorReason(error: unknown): string {
  const code =
    typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  if (typeof code !== 'string') return 'hook failed: connection error';
  return ERROR_REASONS[code] ?? `hook failed: ${code}`;
}

/** What one attempt produced: an HTTP answer (body read only when asked and 2xx) or a failure. */
type Attempt =
  | { kind: 'answered'; status: number; body: string | null; durationMs: number }
  | { kind: 'failed'; reason: string; durationMs: number };

/** One notification, from notify() until it is delivered, given up or dropped. */
interface Notification {
  readonly action: HookAction;
  readonly url: URL;
  readonly body: string;
  readonly flow: Flow;
  /** Attempts made so far. */
  attempts: number;
  /** Cancels the wait for its next attempt, while it waits. */
  cancelWait: (() => void) | null;
}

/** The notifications of one action from one address: the unit the queue is fair between. */
interface Flow {
  readonly key: string;
  readonly share: Share;
  /** Its notifications held (queued, in flight, waiting to retry). */
  held: number;
  /** Ready to send, oldest first. */
  readonly queued: Notification[];
  /** Waiting for a retry. */
  readonly waiting: Set<Notification>;
}

/** The notifications of one action: its flows, with an exact largest flow at O(1). */
interface Share {
  held: number;
  readonly flows: Map<string, Flow>;
  /** Flows by how many they hold (a flow grows and shrinks by one, so the top moves by one). */
  readonly bySize: Map<number, Set<Flow>>;
  largest: number;
}

/** Grows or shrinks a flow by one, keeping its share's counts and largest size exact. */
function resize(flow: Flow, by: 1 | -1): void {
  const { share } = flow;
  const from = share.bySize.get(flow.held);
  from?.delete(flow);
  if (from?.size === 0) share.bySize.delete(flow.held);
  flow.held += by;
  share.held += by;
  if (flow.held > 0) {
    const to = share.bySize.get(flow.held);
    if (to === undefined) share.bySize.set(flow.held, new Set([flow]));
    else to.add(flow);
  }
  if (flow.held > share.largest) share.largest = flow.held;
  while (share.largest > 0 && !share.bySize.has(share.largest)) share.largest -= 1;
}

/**
 * Sends hook requests. decide() runs on_publish / on_play and resolves with the hook's verdict;
 * notify() queues on_unpublish / on_stop with bounded retries; drain() delivers what is queued
 * before a shutdown. Decisions never wait for notifications: each kind has its own sockets
 * (bounded per host), and every attempt has a deadline.
 */
export class WebhookClient {
  readonly #urls = new Map<HookAction, URL>();
  readonly #secret: string;
  readonly #timeoutMs: number;
  readonly #failOpen: boolean;
  readonly #retries: number;
  readonly #maxPending: number;
  readonly #maxConcurrent: number;
  readonly #retryBaseMs: number;
  readonly #onResult: WebhookClientOptions['onResult'];
  readonly #agents: Readonly<
    Record<'decision' | 'notification', { http: HttpAgent; https: HttpsAgent }>
  >;
  /** Cancels an in-flight attempt; all of them run on close(). */
  readonly #cancels = new Set<() => void>();
  /** The notifications held, by action; flows with some ready to send in #ready, in turn. */
  readonly #shares = new Map<HookAction, Share>();
  readonly #ready = new Map<string, Flow>();
  #pending = 0;
  #sending = 0;
  #decisions = 0;
  readonly #dropped = new Map<HookAction, number>();
  #closed = false;
  /** Set by drain(): when retries must end, and what to call once nothing is held. */
  #drain: { readonly untilMs: number; readonly done: () => void } | null = null;
  #drained: Promise<void> | null = null;

  /** Checks the options; throws (without echoing URLs or the secret) when one is invalid. */
  constructor(options: WebhookClientOptions) {
    for (const action of HOOK_ACTIONS) {
      const text = options.urls[action] ?? '';
      if (text === '') continue;
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        throw new Error(`webhooks: the ${action} URL is not a valid URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new Error(`webhooks: the ${action} URL must be http:// or https://`);
      }
      this.#urls.set(action, url);
    }
    if (this.#urls.size > 0 && options.secret === '') {
      throw new Error('webhooks: a signing secret is required when a hook URL is set');
    }
    const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    const maxConcurrent = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
    const retryBaseMs = options.retryBaseMs ?? DEFAULT_RETRY_BASE_MS;
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) {
      throw new RangeError('webhooks: timeoutMs must be a positive number');
    }
    if (!Number.isSafeInteger(options.retries) || options.retries < 0) {
      throw new RangeError('webhooks: retries must be a whole number >= 0');
    }
    if (!Number.isSafeInteger(maxPending) || maxPending < 1) {
      throw new RangeError('webhooks: maxPending must be a whole number >= 1');
    }
    if (!Number.isSafeInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new RangeError('webhooks: maxConcurrent must be a whole number >= 1');
    }
    if (!Number.isFinite(retryBaseMs) || retryBaseMs < 0) {
      throw new RangeError('webhooks: retryBaseMs must be a number >= 0');
    }
    this.#secret = options.secret;
    this.#timeoutMs = options.timeoutMs;
    this.#failOpen = options.failOpen;
    this.#retries = options.retries;
    this.#maxPending = maxPending;
    this.#maxConcurrent = maxConcurrent;
    this.#retryBaseMs = retryBaseMs;
    this.#onResult = options.onResult;
    // Bounded sockets, per kind: a flood of notifications never takes the sockets decisions need.
    const agents = (maxSockets: number) => {
      const settings = { keepAlive: true, scheduling: 'lifo' as const, timeout: 4000, maxSockets };
      const bounds = { ...settings, maxTotalSockets: maxSockets, maxFreeSockets: maxSockets };
      return { http: new HttpAgent(bounds), https: new HttpsAgent(bounds) };
    };
    this.#agents = {
      decision: agents(MAX_DECISION_SOCKETS),
      notification: agents(maxConcurrent),
    };
  }

  /** Notifications not delivered: no room (see maxPending), or the client closed first. */
  get dropped(): number {
    let total = 0;
    for (const count of this.#dropped.values()) total += count;
    return total;
  }

  /** The same, by action (what metrics read). */
  get droppedByAction(): ReadonlyMap<HookAction, number> {
    return this.#dropped;
  }

  /** Notifications queued, in flight or waiting for a retry. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Asks the event's hook (meant for on_publish / on_play) whether to go on; see the file
   * comment for how answers are read. Never rejects. No URL: `{ allowed: true, reason: 'no hook' }`.
   */
  async decide(event: HookEvent): Promise<HookDecision> {
    const url = this.#urls.get(event.action);
    if (url === undefined) return { allowed: true, reason: 'no hook', durationMs: 0 };
    if (this.#closed || this.#drain !== null) {
      return { allowed: false, reason: CLOSED_REASON, durationMs: 0 };
    }
    let attempt: Attempt;
    if (this.#decisions >= MAX_DECISIONS) {
      attempt = { kind: 'failed', reason: OVERLOADED_REASON, durationMs: 0 };
    } else {
      this.#decisions += 1;
      try {
        attempt = await this.#send(url, event.action, hookBody(event, new Date()), 'decision');
      } finally {
        this.#decisions -= 1;
      }
    }
    const decision = this.#decision(attempt);
    this.#report(event.action, {
      ok: attempt.kind === 'answered' && decision.allowed,
      durationMs: decision.durationMs,
      reason: decision.reason,
    });
    return decision;
  }

  /**
   * Sends the event's notification (meant for on_unpublish / on_stop) in the background: never
   * throws or waits. A non-2xx answer, timeout or error is retried up to `retries` times with
   * exponential backoff. When maxPending of its action are held, the newest waiting notification
   * of the largest flow (that action from one address) is dropped to make room, or this one when
   * its own flow is about as large.
   */
  notify(event: HookEvent): void {
    const url = this.#urls.get(event.action);
    if (url === undefined) return;
    if (this.#closed) {
      this.#countDrop(event.action);
      return;
    }
    let body: string;
    try {
      body = hookBody(event, new Date());
    } catch {
      this.#countDrop(event.action);
      return;
    }
    const key = `${event.action} ${event.ip}`;
    let share = this.#shares.get(event.action);
    if (share === undefined) {
      share = { held: 0, flows: new Map(), bySize: new Map(), largest: 0 };
      this.#shares.set(event.action, share);
    }
    const held = share.flows.get(key)?.held ?? 0;
    if (share.held >= this.#maxPending && !this.#makeRoom(share, held)) {
      this.#countDrop(event.action);
      return;
    }
    let flow = share.flows.get(key);
    if (flow === undefined) {
      flow = { key, share, held: 0, queued: [], waiting: new Set() };
      share.flows.set(key, flow);
    }
    resize(flow, 1);
    this.#pending += 1;
    this.#enqueue({ action: event.action, url, body, flow, attempts: 0, cancelWait: null });
    this.#pump();
  }

  /**
   * Shuts the client down gracefully, within `deadlineMs` from now: new decisions are denied at
   * once (as after close()) and in-flight ones end when the client closes; notifications held or
   * sent meanwhile are delivered, retried only while a retry still fits before the deadline.
   * Once none is held, or at the deadline, everything is closed (close()). Resolves then, never
   * rejects; calling it again, or after close(), returns the same (settled) promise.
   */
  drain(deadlineMs: number): Promise<void> {
    if (this.#drained !== null) return this.#drained;
    if (this.#closed) {
      this.#drained = Promise.resolve();
      return this.#drained;
    }
    const waitMs = Number.isFinite(deadlineMs) ? Math.max(0, deadlineMs) : 0;
    this.#drained = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.close();
      }, waitMs);
      this.#drain = {
        untilMs: performance.now() + waitMs,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
    if (this.#pending === 0) this.close();
    return this.#drained;
  }

  /**
   * Stops at once: aborts in-flight requests (pending decide() calls resolve denied), drops
   * queued notifications and retries (counted in dropped) and ends a drain().
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const flows = [...this.#shares.values()].flatMap((share) => [...share.flows.values()]);
    for (const flow of flows) {
      for (const note of [...flow.queued, ...flow.waiting]) {
        note.cancelWait?.();
        this.#release(note);
        this.#countDrop(note.action);
      }
    }
    this.#ready.clear();
    for (const cancel of [...this.#cancels]) cancel();
    this.#cancels.clear();
    for (const agent of Object.values(this.#agents)) {
      agent.http.destroy();
      agent.https.destroy();
    }
    this.#drain?.done();
  }

  /**
   * Makes room in `share` for a notification of a flow holding `held`: drops the newest waiting
   * one of the largest flow that has one, when that holds at least two more (one more would only
   * trade places). False when there is nothing fair to drop.
   */
  #makeRoom(share: Share, held: number): boolean {
    // Notifications in flight cannot be dropped, but at most maxConcurrent are: few flows are
    // looked at before one with something to drop.
    for (let size = share.largest; size >= held + 2; size--) {
      for (const flow of share.bySize.get(size) ?? []) {
        const note = flow.queued.pop() ?? flow.waiting.values().next().value;
        if (note === undefined) continue; // all of it in flight
        if (flow.queued.length === 0) this.#ready.delete(flow.key);
        note.cancelWait?.();
        flow.waiting.delete(note);
        this.#release(note);
        this.#countDrop(note.action);
        return true;
      }
    }
    return false;
  }

  /** Puts a notification at the end of its flow's queue. */
  #enqueue(note: Notification): void {
    note.flow.queued.push(note);
    if (!this.#ready.has(note.flow.key)) this.#ready.set(note.flow.key, note.flow);
  }

  /** Starts notifications while fewer than maxConcurrent are in flight, one flow after another. */
  #pump(): void {
    while (!this.#closed && this.#sending < this.#maxConcurrent) {
      const next = this.#ready.values().next();
      if (next.done === true) return;
      const flow = next.value;
      const note = flow.queued.shift();
      // Its turn is taken: to the back of the rotation, or out of it when it has no more ready.
      this.#ready.delete(flow.key);
      if (flow.queued.length > 0) this.#ready.set(flow.key, flow);
      if (note === undefined) continue;
      this.#sending += 1;
      void this.#attempt(note)
        .catch(() => undefined) // it reports its own failures; nothing else is expected
        .finally(() => {
          this.#sending -= 1;
          this.#pump();
        });
    }
  }

  /** Sends a notification once; then it is done, or waits for its retry. */
  async #attempt(note: Notification): Promise<void> {
    note.attempts += 1;
    const attempt = await this.#send(note.url, note.action, note.body, 'notification');
    const ok = attempt.kind === 'answered' && attempt.status >= 200 && attempt.status < 300;
    const reason =
      attempt.kind === 'failed'
        ? attempt.reason
        : ok
          ? 'delivered'
          : `hook answered ${attempt.status}`;
    this.#report(note.action, { ok, durationMs: attempt.durationMs, reason });
    if (this.#closed) {
      if (!ok) this.#countDrop(note.action);
      this.#release(note);
      return;
    }
    const delay = Math.min(this.#retryBaseMs * 2 ** (note.attempts - 1), MAX_RETRY_DELAY_MS);
    // While draining, a retry that could not even start before the deadline is not waited for.
    const late = this.#drain !== null && performance.now() + delay >= this.#drain.untilMs;
    if (ok || note.attempts > this.#retries || late) {
      this.#release(note);
      return;
    }
    this.#wait(note, delay);
  }

  /** Holds a notification in its flow's waiting set until its retry is due. */
  #wait(note: Notification, delayMs: number): void {
    const timer = setTimeout(() => {
      note.cancelWait = null;
      note.flow.waiting.delete(note);
      this.#enqueue(note);
      this.#pump();
    }, delayMs);
    note.cancelWait = () => {
      clearTimeout(timer);
      note.cancelWait = null;
    };
    note.flow.waiting.add(note);
  }

  /** Forgets a notification that is done (delivered, given up or dropped). */
  #release(note: Notification): void {
    const flow = note.flow;
    resize(flow, -1);
    this.#pending -= 1;
    if (flow.held === 0) {
      flow.share.flows.delete(flow.key);
      this.#ready.delete(flow.key);
    }
    if (this.#pending === 0 && this.#drain !== null && !this.#closed) this.close();
  }

  #countDrop(action: HookAction): void {
    this.#dropped.set(action, (this.#dropped.get(action) ?? 0) + 1);
  }

  /** Turns an attempt into a decision. */
  #decision(attempt: Attempt): HookDecision {
    const durationMs = attempt.durationMs;
    if (attempt.kind === 'failed') {
      const allowed = attempt.reason !== CLOSED_REASON && this.#failOpen;
      return { allowed, reason: attempt.reason, durationMs };
    }
    const status = attempt.status;
    if (status >= 300 && status < 400) {
      return { allowed: false, reason: 'redirect not followed', status, durationMs };
    }
    if (status < 200 || status >= 300) {
      return { allowed: false, reason: `hook answered ${status}`, status, durationMs };
    }
    const denied = deniedByBody(attempt.body ?? '');
    if (denied !== null) return { allowed: false, reason: denied, status, durationMs };
    return { allowed: true, reason: 'allowed by hook', status, durationMs };
  }

  /** Calls onResult, ignoring what it throws. */
  #report(action: HookAction, result: HookAttemptResult): void {
    try {
      this.#onResult?.(action, result);
    } catch {
      // A broken metrics callback must not break hooks.
    }
  }

  /**
   * POSTs `body` once, within timeoutMs, on the sockets of its kind. The body of a 2xx answer
   * is read (up to 64 KiB) for a decision; other answers are cut off after the status line and headers. A request that
   * fails with a reset on a reused keep-alive socket, before any answer, is sent again once.
   */
  #send(
    url: URL,
    action: HookAction,
    body: string,
    kind: 'decision' | 'notification',
  ): Promise<Attempt> {
    const wantBody = kind === 'decision';
    const started = performance.now();
    const elapsed = (): number => performance.now() - started;
    return new Promise<Attempt>((resolve) => {
      let settled = false;
      let current: ClientRequest | undefined;
      const finish = (attempt: Attempt, destroy: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        this.#cancels.delete(cancel);
        if (destroy) current?.destroy();
        resolve(attempt);
      };
      const fail = (reason: string): void => {
        finish({ kind: 'failed', reason, durationMs: elapsed() }, true);
      };
      const cancel = (): void => {
        fail(CLOSED_REASON);
      };
      const deadline = setTimeout(() => {
        fail(TIMEOUT_REASON);
      }, this.#timeoutMs);
      this.#cancels.add(cancel);

      const onResponse = (res: IncomingMessage): void => {
        res.on('error', () => {
          fail(INTERRUPTED_REASON);
        });
        const status = res.statusCode ?? 0;
        if (!wantBody || status < 200 || status >= 300) {
          finish({ kind: 'answered', status, body: null, durationMs: elapsed() }, true);
          return;
        }
        if (Number(res.headers['content-length']) > MAX_HOOK_BODY_BYTES) {
          fail(OVERSIZE_REASON);
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_HOOK_BODY_BYTES) fail(OVERSIZE_REASON);
          else chunks.push(chunk);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          finish({ kind: 'answered', status, body: text, durationMs: elapsed() }, false);
        });
        res.on('close', () => {
          if (!res.complete) fail(INTERRUPTED_REASON);
        });
      };

      const start = (mayResend: boolean): void => {
        const headers: Record<string, string | number> = {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
          'User-Agent': 'onair-webhooks',
          'X-Onair-Event': action,
          [SIGNATURE_HEADER]: signWebhook(this.#secret, Date.now() / 1000, body),
        };
        const https = url.protocol === 'https:';
        const send = https ? httpsRequest : httpRequest;
        const agents = this.#agents[kind];
        const agent = https ? agents.https : agents.http;
        let req: ClientRequest;
        try {
          req = send(url, { method: 'POST', headers, agent });
        } catch (error) {
          fail(errorReason(error));
          return;
        }
        current = req;
        req.on('response', onResponse);
        req.on('error', (error) => {
          if (settled || req !== current) return;
          if (mayResend && req.reusedSocket && errorReason(error) === ERROR_REASONS.ECONNRESET) {
            start(false);
            return;
          }
          fail(errorReason(error));
        });
        req.end(body);
      };
      start(true);
    });
  }
}
