// JSON responses for API Gateway (HTTP API, payload 2.0) and the one place errors become answers.
//
// A body never carries a stack, SQL, a parameter value or a connection string: the client gets a
// stable code, a message written here, and the Lambda request id; the details go to the
// function's log under the same request id, so an operator can find them.

import { AnypgError, CircuitOpenError, DatabaseError } from 'anypg';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ZodError } from 'zod';

export type HttpResult = APIGatewayProxyStructuredResultV2 & { statusCode: number; headers: Record<string, string> };

export interface ErrorBody {
  error: {
    code: string;
    message: string;
    /** For VALIDATION_FAILED: which field is wrong, and why. */
    issues?: { path: string; message: string }[];
    requestId: string;
  };
}

export function json(statusCode: number, data: unknown, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(data),
  };
}

export function noContent(): HttpResult {
  return { statusCode: 204, headers: { 'cache-control': 'no-store' } };
}

/** A request the client got wrong: the status, a stable code and a message to send back as is. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Codes anypg uses when the database cannot be reached or is overloaded: the client may retry. */
const UNAVAILABLE = new Set(['POOL_EXHAUSTED', 'CONNECTION_FAILED', 'CONNECTION_LOST', 'CIRCUIT_OPEN']);

export function toErrorResponse(err: unknown, requestId: string): HttpResult {
  const answer = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
    json(status, { error: { code, message, requestId } } satisfies ErrorBody, headers);

  if (err instanceof HttpError) return answer(err.status, err.code, err.message, err.headers);
  if (err instanceof ZodError) {
    const issues = err.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const message = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
    return json(400, { error: { code: 'VALIDATION_FAILED', message, issues, requestId } } satisfies ErrorBody);
  }
  if (err instanceof AnypgError) {
    log(requestId, err);
    // Connection trouble, and database errors anypg marks as overload (53300 too_many_connections).
    if (UNAVAILABLE.has(err.code) || err.httpStatus === 503) {
      // anypg suggests the status (503); Retry-After tells well-behaved clients when to come back.
      const retryAfter = err instanceof CircuitOpenError ? Math.max(1, Math.ceil(err.retryAfterMs / 1000)) : 1;
      return answer(err.httpStatus, err.code, 'The database is unavailable or overloaded; try again shortly.', {
        'retry-after': String(retryAfter),
      });
    }
    // QUERY_TIMEOUT, STATEMENT_TIMEOUT, and ABORTED when the invocation's deadline passed.
    if (err.httpStatus === 504) {
      // The statement was cancelled, but a write may have been applied just before: say so.
      return answer(
        err.httpStatus,
        err.code,
        'The database did not answer in time. If this was a change, check whether it was applied before sending it again.',
      );
    }
    if (err instanceof DatabaseError) {
      // Constraint names are part of the schema, not data: safe to name. DETAIL is not (it quotes values).
      if (err.sqlstate === '23505') return answer(409, 'CONFLICT', 'A note with these values exists already.');
      if (err.sqlstate === '23514')
        return answer(400, 'CONSTRAINT_VIOLATED', `The note breaks ${err.constraint ?? 'a rule'}.`);
      if (err.httpStatus >= 400 && err.httpStatus < 500) {
        return answer(err.httpStatus, 'DATABASE_REFUSED', 'The database refused the request.');
      }
    }
    return answer(500, 'INTERNAL', 'Internal server error.');
  }
  log(requestId, err);
  return answer(500, 'INTERNAL', 'Internal server error.');
}

/**
 * The function's log (CloudWatch), never the client: the Node runtime prefixes each line with the
 * time and request id. anypg's messages carry no secrets or parameter values by design; for other
 * errors the stack is what an operator needs.
 */
function log(requestId: string, err: unknown): void {
  if (err instanceof AnypgError) {
    const sqlstate = err instanceof DatabaseError ? ` sqlstate=${err.sqlstate}` : '';
    console.error(`request ${requestId} failed: ${err.name} code=${err.code}${sqlstate}: ${err.message}`);
    return;
  }
  console.error(`request ${requestId} failed:`, err);
}
