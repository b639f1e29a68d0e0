// The notes API as one Lambda function behind an API Gateway HTTP API (payload format 2.0).
//
// The database handle is created once per container, at module scope: Lambda runs init once and
// then reuses the module for every warm invocation, so a warm request costs one statement on a
// connection that is already open. anypg picks the transport from the environment: on Lambda with
// a URL, a pg pool of exactly one connection (checked for staleness after a freeze); with Data API
// ARNs, the RDS Data API over HTTPS. The code below is the same either way.

import { createDb } from 'anypg';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { resolveDatabaseUrl } from './database-url.js';
import { HttpError, type HttpResult, json, noContent, toErrorResponse } from './http.js';
import { createNote, type Db, deleteNote, getNote, listNotes, toJson, updateNote } from './notes.js';
import { matchRoute, type RouteKey } from './routes.js';
import { schema } from './schema.js';
import * as v from './validate.js';

// Top-level await: the secret (if any) is read once, during init, so warm invocations never wait for
// it, and a failure shows up as an init error in the function's log.
const url = await resolveDatabaseUrl(process.env);
const database = createDb({ schema, ...(url && { url }) });

type Route = (db: Db, event: APIGatewayProxyEventV2, params: Record<string, string>) => Promise<HttpResult>;

/**
 * Time kept back from the function's timeout: the database work must give up (504) before Lambda
 * kills the function, which would answer a bare 500 and throw away the container and its warm
 * connection.
 */
const DEADLINE_MARGIN_MS = 1_000;

const notFound = () => new HttpError(404, 'NOT_FOUND', 'No note with this id.');

const routes: Record<RouteKey, Route> = {
  'GET /notes': async (db, event) => {
    const query = v.listQuery.parse(event.queryStringParameters ?? {});
    return json(200, await listNotes(db, query));
  },
  'POST /notes': async (db, event) => {
    const input = v.createNote.parse(v.jsonBody(event));
    const note = await createNote(db, input);
    return json(201, toJson(note), { location: `/notes/${note.id}` });
  },
  'GET /notes/{id}': async (db, _event, params) => {
    const { id } = v.idParam.parse(params);
    const note = await getNote(db, id);
    if (!note) throw notFound();
    return json(200, toJson(note));
  },
  'PATCH /notes/{id}': async (db, event, params) => {
    const { id } = v.idParam.parse(params);
    const patch = v.updateNote.parse(v.jsonBody(event));
    const note = await updateNote(db, id, patch);
    if (!note) throw notFound();
    return json(200, toJson(note));
  },
  'DELETE /notes/{id}': async (db, _event, params) => {
    const { id } = v.idParam.parse(params);
    if (!(await deleteNote(db, id))) throw notFound();
    return noContent();
  },
};

/**
 * A route that fails on purpose, only when NOTES_DEMO_FAULTS=1 (tests): shows what a client sees
 * when the code throws something nobody planned for.
 */
function faultRoute(event: APIGatewayProxyEventV2): (() => Promise<HttpResult>) | undefined {
  if (process.env.NOTES_DEMO_FAULTS !== '1' || event.rawPath !== '/_faults/throw') return undefined;
  return async () => {
    throw new TypeError(`demo fault: ${event.queryStringParameters?.marker ?? 'unplanned failure'}`);
  };
}

export async function handler(event: APIGatewayProxyEventV2, context: Context): Promise<HttpResult> {
  const requestId = context.awsRequestId;
  let result: HttpResult;
  try {
    // Every wait below (connection, statement) ends by this deadline: QUERY_TIMEOUT, a 504.
    const deadline = context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS;
    result = await dispatch(deadline > 0 ? database.$withTimeout(deadline) : database, event);
  } catch (err) {
    result = toErrorResponse(err, requestId);
  }
  // The same id is in every log line of this invocation: a client can quote it in a bug report.
  result.headers['x-request-id'] = requestId;
  return result;
}

async function dispatch(db: Db, event: APIGatewayProxyEventV2): Promise<HttpResult> {
  const fault = faultRoute(event);
  if (fault) return fault();
  const method = event.requestContext.http.method;
  const match = matchRoute(method, event.rawPath);
  if (!match) throw new HttpError(404, 'ROUTE_NOT_FOUND', `No route for ${method} ${event.rawPath.slice(0, 200)}.`);
  if ('allow' in match) {
    throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here; use ${match.allow.join(', ')}.`, {
      allow: match.allow.join(', '),
    });
  }
  return routes[match.route](db, event, match.params);
}
