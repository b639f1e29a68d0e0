// What a request may contain. Every rule here becomes a 400 that names the field and the reason
// (http.ts turns the error into { error: { code: 'VALIDATION_FAILED', issues: [{ path, message }] } }).
// The rules and messages are apps/lambda-demo's (src/validate.ts): one API, two runtimes.
//
// zod/mini rather than zod's classic API: the classic API's methods keep all of zod in a bundle
// (measured in this Worker: 765 KiB of the 1.5 MiB script, unminified); zod/mini costs 43 KiB.
import * as z from 'zod/mini';
import { BODY_MAX, TITLE_MAX } from './schema.js';

export const LIMIT_DEFAULT = 20;
export const LIMIT_MAX = 100;
/** The largest request body read at all (413 beyond it); far above any valid note. */
export const REQUEST_BYTES_MAX = 64 * 1024;

/** The id column is a PostgreSQL integer: larger numbers can name no note. */
const INT4_MAX = 2_147_483_647;

/** Decimal digits, as a number within [1, max]. */
const digits = (pattern: RegExp, format: string, range: string, max: number) =>
  z.pipe(
    z.string({ error: format }).check(z.regex(pattern, format)),
    z.transform(Number).check(z.refine((n: number) => n >= 1 && n <= max, range)),
  );

/** A positive integer written in decimal digits, within the id column's range. */
const positiveId = (what: string) =>
  digits(/^[0-9]{1,10}$/, `${what} must be a positive integer`, `${what} must be between 1 and ${INT4_MAX}`, INT4_MAX);

export const idParam = positiveId('id');

const limitMessage = `limit must be an integer from 1 to ${LIMIT_MAX}`;
export const listQuery = z.object({
  limit: z._default(digits(/^[0-9]{1,4}$/, limitMessage, limitMessage, LIMIT_MAX), LIMIT_DEFAULT),
  // The id of the last note of the previous page, as the list returned it in `nextCursor`.
  cursor: z.optional(positiveId('cursor')),
});

/** "x is required" for a missing field, "x must be a string" for a wrong type. */
const stringField = (name: string) =>
  z.string({ error: (iss) => (iss.input === undefined ? `${name} is required` : `${name} must be a string`) });

const title = stringField('title').check(
  z.trim(),
  z.minLength(1, 'title must not be empty'),
  z.maxLength(TITLE_MAX, `title must be at most ${TITLE_MAX} characters`),
);
const body = stringField('body').check(z.maxLength(BODY_MAX, `body must be at most ${BODY_MAX} characters`));

const OBJECT = {
  error: (iss: z.core.$ZodRawIssue) => {
    if (iss.code === 'unrecognized_keys') return `unknown field ${iss.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    if (iss.code === 'invalid_type') return 'the body must be a JSON object';
    return undefined;
  },
};

// Strict objects: a misspelt field ("titel") is an error, not silently ignored.
export const createNote = z.strictObject({ title, body: z._default(body, '') }, OBJECT);

export const updateNote = z
  .strictObject({ title: z.optional(title), body: z.optional(body) }, OBJECT)
  .check(z.refine((v) => v.title !== undefined || v.body !== undefined, 'give at least one of title, body'));

/** The two database paths this worker serves. */
export const backendName = z.enum(['hyperdrive', 'neon-http'], { error: 'backend must be hyperdrive or neon-http' });
export type DemoBackend = z.infer<typeof backendName>;
