// HlsForwarder: in a worker group, a stream's HLS is made by the worker that publishes it, and
// the other workers forward HLS requests to it (its loopback HTTP port), so a player whose
// requests land on different workers sees one playlist whose every URI resolves. Identical
// requests in flight share one upstream request (a storm of blocking reloads is one request).
import { Agent, request, type IncomingMessage, type ServerResponse } from 'node:http';

/** The headers of an HLS answer that are passed on. */
const PASSED_HEADERS = [
  'content-type',
  'cache-control',
  'access-control-allow-origin',
  'access-control-expose-headers',
  'age',
  'last-modified',
] as const;

/** Largest body forwarded (a segment of a high bitrate stream fits many times). */
const MAX_BODY_BYTES = 32 * 1024 * 1024;
/** Longer than any blocking reload is held (three target durations of the slowest profile). */
const UPSTREAM_TIMEOUT_MS = 30_000;
/** Requests in flight at once; past it new ones get 503 at once. */
const MAX_IN_FLIGHT = 10_000;

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

export class HlsForwarder {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 256 });
  readonly #inFlight = new Map<string, Promise<Answer>>();

  /** Forwards `req` (GET or HEAD) to `base` (http://127.0.0.1:port) for `client` (its IP). */
  forward(req: IncomingMessage, res: ServerResponse, base: string, client: string): void {
    const target = req.url ?? '/';
    // The client's address and token travel with the request: the owner decides as for it.
    const key = `${base}${target}\n${client}\n${req.headers.authorization ?? ''}`;
    let answer = this.#inFlight.get(key);
    if (!answer) {
      if (this.#inFlight.size >= MAX_IN_FLIGHT) {
        res.writeHead(503, { 'Content-Type': 'text/plain' }).end('Busy; try again\n');
        return;
      }
      answer = this.#fetch(base, target, client, req.headers);
      this.#inFlight.set(key, answer);
      const forget = (): void => {
        if (this.#inFlight.get(key) === answer) this.#inFlight.delete(key);
      };
      answer.then(forget, forget);
    }
    answer.then(
      (got) => {
        if (res.destroyed) return;
        res.writeHead(got.status, { ...got.headers, 'Content-Length': String(got.body.length) });
        res.end(req.method === 'HEAD' ? undefined : got.body);
      },
      () => {
        if (!res.destroyed)
          res.writeHead(502, { 'Content-Type': 'text/plain' }).end('Bad gateway\n');
      },
    );
  }

  close(): void {
    this.#agent.destroy();
  }

  #fetch(
    base: string,
    target: string,
    client: string,
    incoming: IncomingMessage['headers'],
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { [CLIENT_HEADER]: client };
      if (incoming.authorization !== undefined) headers.authorization = incoming.authorization;
      if (incoming['user-agent'] !== undefined) headers['user-agent'] = incoming['user-agent'];
      const upstream = request(
        `${base}${target}`,
        { method: 'GET', agent: this.#agent, headers, timeout: UPSTREAM_TIMEOUT_MS },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
              response.destroy(new Error('upstream body too large'));
              return;
            }
            chunks.push(chunk);
          });
          response.on('error', reject);
          response.on('end', () => {
            const passed: Record<string, string> = {};
            for (const name of PASSED_HEADERS) {
              const value = response.headers[name];
              if (typeof value === 'string') passed[name] = value;
            }
            resolve({
              status: response.statusCode ?? 502,
              headers: passed,
              body: Buffer.concat(chunks),
            });
          });
        },
      );
      upstream.on('timeout', () => upstream.destroy(new Error('upstream timeout')));
      upstream.on('error', reject);
      upstream.end();
    });
  }
}

/** Names the client of a forwarded request, for the owner worker (loopback listener only). */
export const CLIENT_HEADER = 'x-onair-client';
