// What a request may contain. Every rule here becomes a 400 that names the field and the reason
// (http.ts turns a ZodError into { error: { code: 'VALIDATION_FAILED', issues: [{ path, message }] } }).
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import * as z from 'zod';
import { HttpError } from './http.js';
import { BODY_MAX, TITLE_MAX } from './schema.js';

export const LIMIT_DEFAULT = 20;
export const LIMIT_MAX = 100;
/** The largest request body read at all (413 beyond it); far above any valid note. */
export const REQUEST_BYTES_MAX = 64 * 1024;

/** The id column is a PostgreSQL integer: larger numbers can name no note. */
const INT4_MAX = 2_147_483_647;

/** A positive integer written in decimal digits, within the id column's range. */
const positiveId = (what: string) =>
  z
    .string({ error: `${what} is required` })
    .regex(/^[0-9]{1,10}$/, `${what} must be a positive integer`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= INT4_MAX, `${what} must be between 1 and ${INT4_MAX}`);

export const idParam = z.object({ id: positiveId('id') });

export const listQuery = z.object({
  limit: z
    .string()
    .regex(/^[0-9]{1,4}$/, `limit must be an integer from 1 to ${LIMIT_MAX}`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= LIMIT_MAX, `limit must be an integer from 1 to ${LIMIT_MAX}`)
    .default(LIMIT_DEFAULT),
  // The id of the last note of the previous page, as the list returned it in `nextCursor`.
  cursor: positiveId('cursor').optional(),
});

/** "x is required" for a missing field, "x must be a string" for a wrong type. */
const stringField = (name: string) =>
  z.string({ error: (iss) => (iss.input === undefined ? `${name} is required` : `${name} must be a string`) });

const title = stringField('title')
  .trim()
  .min(1, 'title must not be empty')
  .max(TITLE_MAX, `title must be at most ${TITLE_MAX} characters`);
const body = stringField('body').max(BODY_MAX, `body must be at most ${BODY_MAX} characters`);

const OBJECT = {
  error: (iss: z.core.$ZodRawIssue) => {
    if (iss.code === 'unrecognized_keys') return `unknown field ${iss.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    if (iss.code === 'invalid_type') return 'the body must be a JSON object';
    return undefined;
  },
};

// Strict objects: a misspelt field ("titel") is an error, not silently ignored.
export const createNote = z.strictObject({ title, body: body.default('') }, OBJECT);

export const updateNote = z
  .strictObject({ title: title.optional(), body: body.optional() }, OBJECT)
  .refine((v) => v.title !== undefined || v.body !== undefined, 'give at least one of title, body');

export type CreateNote = z.infer<typeof createNote>;
export type UpdateNote = z.infer<typeof updateNote>;
export type ListQuery = z.infer<typeof listQuery>;

/**
 * The request body as JSON. API Gateway hands it over as text (base64 for types it considers
 * binary), so the content type is checked here and the size before parsing.
 */
export function jsonBody(event: APIGatewayProxyEventV2): unknown {
  const type = event.headers?.['content-type'] ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as JSON with content-type: application/json.');
  }
  const raw = event.body ?? '';
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(text) > REQUEST_BYTES_MAX) {
    throw new HttpError(413, 'PAYLOAD_TOO_LARGE', `The body must be at most ${REQUEST_BYTES_MAX} bytes.`);
  }
  if (text.trim() === '') throw new HttpError(400, 'BAD_REQUEST', 'The body is empty: send a JSON object.');
  try {
    return JSON.parse(text);
  } catch {
    // The parser's message quotes the input; it is not needed to fix a syntax error.
    throw new HttpError(400, 'BAD_REQUEST', 'The body is not valid JSON.');
  }
}
