// What every admin API route shares: the error type and its JSON answer, body and query
// parsing with zod (a 400 names the field), and the fixed response headers.
import type { FastifyReply } from 'fastify';
import { z } from 'zod';

/** An error the API answers with: a status, a stable code and a message for people. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A 400 naming the field at fault. */
export function badRequest(field: string, problem: string): ApiError {
  return new ApiError(400, 'bad-request', `${field}: ${problem}`);
}

/** A decimal integer in a query string, bounded. */
export function queryInt(min: number, max: number, fallback: number) {
  return z
    .string()
    .regex(/^\d{1,7}$/, { error: `must be an integer from ${min} to ${max}` })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { error: `must be at least ${min}` })
        .max(max, { error: `must be at most ${max}` }),
    )
    .optional()
    .transform((value) => value ?? fallback);
}

/** Parses `input` with `schema`, or throws a 400 naming the first field at fault. */
export function parse<T extends z.ZodType>(schema: T, input: unknown, what: string): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw badRequest(what, 'invalid');
  if (issue.code === 'unrecognized_keys') throw badRequest(issue.keys.join(', '), 'unknown field');
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : what;
  throw badRequest(field, issue.message);
}

/** Sends `{ error, message }` with the error's status and the API's fixed headers. */
export function sendError(reply: FastifyReply, error: ApiError): void {
  secureHeaders(reply);
  void reply.code(error.statusCode).send({ error: error.code, message: error.message });
}

/** no-store, nosniff, and never a CORS header (also not one set before the app was reached). */
export function secureHeaders(reply: FastifyReply): void {
  reply.header('cache-control', 'no-store');
  reply.header('x-content-type-options', 'nosniff');
  for (const name of Object.keys(reply.getHeaders())) {
    if (name.toLowerCase().startsWith('access-control-')) reply.removeHeader(name);
  }
  for (const name of reply.raw.getHeaderNames()) {
    if (name.startsWith('access-control-')) reply.raw.removeHeader(name);
  }
}
