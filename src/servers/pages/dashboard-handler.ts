// The operator dashboard: the files Vite built into web/dashboard/dist, served under
// /dashboard/. The page is public (it asks for the admin token); its data comes from the API.
// Only files that exist in the build are served, matched by exact name: no part of a URL
// reaches the file system.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../../../web/dashboard/dist/', import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
  woff2: 'font/woff2',
};

interface File {
  readonly body: Buffer;
  readonly type: string;
  /** Hashed asset names never change content: cache them for a year. */
  readonly immutable: boolean;
}

/** Serves GET /dashboard (the page) and /dashboard/assets/<file> (its build). */
export class DashboardHandler {
  readonly #files = new Map<string, File>();
  readonly #built: boolean;

  constructor(dist: string = DIST) {
    this.#built = this.#load(dist);
  }

  /** Whether the build exists (`npm run build:web`, run by `npm ci`). */
  get built(): boolean {
    return this.#built;
  }

  /** Answers the request when its path is the dashboard's; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (path !== '/dashboard' && !path.startsWith('/dashboard/')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return true;
    }
    if (path === '/dashboard') {
      res.writeHead(301, { Location: '/dashboard/' }).end();
      return true;
    }
    if (!this.#built) {
      res
        .writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' })
        .end('The dashboard is not built: run `npm run build:web` (npm ci does it).\n');
      return true;
    }
    const name = path === '/dashboard/' ? 'index.html' : path.slice('/dashboard/'.length);
    const file = this.#files.get(name);
    if (file === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not found\n');
      return true;
    }
    res.writeHead(200, {
      'Content-Type': file.type,
      'Content-Length': file.body.length,
      'Cache-Control': file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      // The dashboard handles the admin token: it is never framed, and runs only its own code.
      'X-Frame-Options': 'DENY',
      'Content-Security-Policy':
        "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'; base-uri 'none'",
      'Referrer-Policy': 'no-referrer',
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return true;
  }

  #load(dist: string): boolean {
    try {
      this.#add(dist, 'index.html', false);
      for (const name of readdirSync(join(dist, 'assets'))) {
        this.#add(dist, `assets/${name}`, true);
      }
      return true;
    } catch {
      this.#files.clear();
      return false;
    }
  }

  #add(dist: string, name: string, immutable: boolean): void {
    const type = TYPES[name.slice(name.lastIndexOf('.') + 1)];
    if (type === undefined) return;
    this.#files.set(name, { body: readFileSync(join(dist, name)), type, immutable });
  }
}
