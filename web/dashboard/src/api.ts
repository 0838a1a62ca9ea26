// ApiClient: every call to the admin API, with the bearer token; API paths of a stream.
import type { ApiErrorBody } from './api-types.ts';

/**
 * A refused or failed API call, with the HTTP status (0 when the server could not be reached) and
 * `detail`: the API's own message for a non-2xx answer (the message without the `HTTP nnn:`).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly detail: string = message,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** True for the error a fetch throws when its AbortSignal fired. */
export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

/** `/api/v1/streams/{app}/{name}` plus `suffix`, each segment percent-encoded. */
export function streamApiPath(app: string, name: string, suffix = ''): string {
  return `/api/v1/streams/${encodeURIComponent(app)}/${encodeURIComponent(name)}${suffix}`;
}

/** Calls the admin API on this origin with `Authorization: Bearer <token>`. */
export class ApiClient {
  readonly #token: string;
  readonly #onUnauthorized: () => void;

  /** `onUnauthorized` runs when the API answers 401 (the token is no longer accepted). */
  constructor(token: string, onUnauthorized: () => void) {
    this.#token = token;
    this.#onUnauthorized = onUnauthorized;
  }

  /** A raw request, for callers that read the body themselves (the event stream). */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('Authorization', `Bearer ${this.#token}`);
    let response: Response;
    try {
      response = await fetch(path, { ...init, headers, cache: 'no-store', credentials: 'omit' });
    } catch (error) {
      if (isAbort(error)) throw error;
      throw new ApiError(0, `cannot reach the API (${describe(error)})`);
    }
    if (response.status === 401) {
      await response.body?.cancel();
      this.#onUnauthorized();
      throw new ApiError(401, 'the API token was refused');
    }
    return response;
  }

  /** GET `path` and return its JSON body; rejects with ApiError on any non-2xx answer. */
  async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    const response = await this.fetch(path, {
      headers: { Accept: 'application/json' },
      ...(signal === undefined ? {} : { signal }),
    });
    return readJson<T>(response);
  }

  /** PUT a JSON body; returns nothing (the answer's body, if any, is ignored). */
  async put(path: string, body: unknown, signal?: AbortSignal): Promise<void> {
    const response = await this.fetch(path, {
      method: 'PUT',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      ...(signal === undefined ? {} : { signal }),
    });
    await expectOk(response);
  }

  /** POST a JSON body and return the JSON answer. */
  async post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const response = await this.fetch(path, {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      ...(signal === undefined ? {} : { signal }),
    });
    return readJson<T>(response);
  }

  /** DELETE `path`. */
  async delete(path: string, signal?: AbortSignal): Promise<void> {
    const response = await this.fetch(path, {
      method: 'DELETE',
      headers: { Accept: 'application/json' },
      ...(signal === undefined ? {} : { signal }),
    });
    await expectOk(response);
  }

  /** GET a binary file; resolves null on 404. */
  async blob(path: string, signal?: AbortSignal): Promise<Blob | null> {
    const response = await this.fetch(path, signal === undefined ? {} : { signal });
    if (response.status === 404) {
      await response.body?.cancel();
      return null;
    }
    if (!response.ok) throw await errorOf(response);
    return response.blob();
  }
}

async function readJson<T>(response: Response): Promise<T> {
  if (!response.ok) throw await errorOf(response);
  let body: unknown;
  try {
    body = await response.json();
  } catch (error) {
    if (isAbort(error)) throw error; // the page was left while the body arrived
    throw new ApiError(
      response.status,
      `the API answered something that is not JSON (${describe(error)})`,
    );
  }
  return body as T;
}

async function expectOk(response: Response): Promise<void> {
  if (!response.ok) throw await errorOf(response);
  await response.body?.cancel();
}

/** The ApiError for a non-2xx answer, with the API's own message when the body has one. */
async function errorOf(response: Response): Promise<ApiError> {
  let detail = response.statusText || 'request failed';
  try {
    const body = (await response.json()) as Partial<ApiErrorBody> | null;
    if (body !== null && typeof body.message === 'string') detail = body.message;
  } catch {
    // Not JSON: keep the status text.
  }
  return new ApiError(response.status, `HTTP ${response.status}: ${detail}`, detail);
}

/** A short text for an unknown thrown value. */
export function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
