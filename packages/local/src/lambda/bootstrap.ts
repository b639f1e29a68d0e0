// The runtime client that runs inside the container: what `aws-lambda-ric` does in a real Node
// Lambda, written from the Runtime API's description in plain Node (the real one needs a native
// build). It imports the handler module once (init), then loops: long-poll GET /next, call the
// handler with (event, context[, callback]), POST the result or the error, and poll again.
//
// It is a source string run with `node -e` so that the same text works from the TypeScript
// sources (tests) and from dist, and so that nothing of this package is loaded into the
// function's process: the handler sees only its own modules, as in Lambda.
// argv after the source: <absolute handler file> <export name, may be dotted: a.b.handler>.
//
// Behaviours that follow the Node runtime (as documented, or as observed from its error payloads):
// - init errors go to /runtime/init/error and the process exits; Lambda starts a new one later.
//   Types: Runtime.ImportModuleError (module not found), Runtime.UserCodeSyntaxError,
//   Runtime.HandlerNotFound, else the thrown error's name.
// - a handler error goes to /invocation/{id}/error as {errorType, errorMessage, stackTrace}.
// - an async handler's result is posted as soon as its promise settles; a callback's result waits
//   for the event loop to drain while context.callbackWaitsForEmptyEventLoop is true.
// - an uncaught exception or unhandled rejection during an invocation fails that invocation and
//   ends the process (Runtime.UnhandledPromiseRejection for rejections).
// - console.* writes "<ISO time>\t<request id>\t<LEVEL>\t<message>" lines to stdout; a handler
//   error is logged there too ("Invoke Error", with its stack).
// - if the Runtime API disappears (its runner stopped), the process exits.
export const BOOTSTRAP_SOURCE = `
'use strict';
const http = require('node:http');
const util = require('node:util');
const { pathToFileURL } = require('node:url');

const handlerFile = process.argv[1];
const handlerName = process.argv[2];
const apiAddress = process.env.AWS_LAMBDA_RUNTIME_API;
const colon = apiAddress.lastIndexOf(':');
const apiHost = apiAddress.slice(0, colon);
const apiPort = Number(apiAddress.slice(colon + 1));
const BASE = '/2018-06-01/runtime';
// One kept-alive connection: the long poll and the posts reuse it, like the native client does.
// Node unrefs an idle kept-alive socket, so it does not keep the event loop alive by itself.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

let phase = 'init';
let currentRequestId;

function request(method, path, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: apiHost, port: apiPort, method, path: BASE + path, agent, headers: headers || {} },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function apiGone(err) {
  process.stderr.write(
    'The Lambda Runtime API at ' + apiAddress + ' is gone (' + (err && err.code ? err.code : String(err)) +
      '): its runner stopped, so this runtime exits.\\n',
  );
  process.exit(1);
}

// ---- console, as the Node runtime formats it -------------------------------------------------
for (const [method, level] of [
  ['log', 'INFO'], ['info', 'INFO'], ['warn', 'WARN'], ['error', 'ERROR'], ['debug', 'DEBUG'], ['trace', 'TRACE'],
]) {
  console[method] = (...args) => {
    let message = util.format(...args);
    if (method === 'trace') message = 'Trace: ' + message + '\\n' + new Error().stack.split('\\n').slice(2).join('\\n');
    process.stdout.write(new Date().toISOString() + '\\t' + currentRequestId + '\\t' + level + '\\t' + message + '\\n');
  };
}

// ---- errors -----------------------------------------------------------------------------------
function isErrorLike(e) {
  return util.types.isNativeError(e) || (e !== null && typeof e === 'object' && typeof e.message === 'string' && typeof e.stack === 'string');
}

function lambdaError(e, forcedType) {
  if (isErrorLike(e)) {
    return {
      errorType: forcedType || e.name || 'Error',
      errorMessage: forcedType ? String(e.name || 'Error') + ': ' + e.message : e.message,
      stackTrace: typeof e.stack === 'string' ? e.stack.split('\\n') : [],
    };
  }
  let message;
  try { message = typeof e === 'string' ? e : JSON.stringify(e); } catch { message = String(e); }
  return { errorType: forcedType || typeof e, errorMessage: String(message), stackTrace: [] };
}

function errorHeaders(err) {
  // A header value must be printable ASCII.
  return { 'content-type': 'application/json', 'lambda-runtime-function-error-type': String(err.errorType).replace(/[^\\x20-\\x7e]/g, '?') };
}

function postError(path, err) {
  return request('POST', path, JSON.stringify(err), errorHeaders(err)).catch(apiGone);
}

async function die(e, kind) {
  const err = kind === 'rejection'
    ? { ...lambdaError(e), errorType: 'Runtime.UnhandledPromiseRejection', errorMessage: isErrorLike(e) ? e.name + ': ' + e.message : lambdaError(e).errorMessage }
    : lambdaError(e);
  process.stderr.write(new Date().toISOString() + '\\t' + currentRequestId + '\\tERROR\\t' + (kind === 'rejection' ? 'Unhandled Promise Rejection' : 'Uncaught Exception') + '\\t' + JSON.stringify(err) + '\\n');
  if (phase === 'init') await postError('/init/error', err);
  else if (phase === 'invoke') await postError('/invocation/' + encodeURIComponent(currentRequestId) + '/error', err);
  process.exit(128 + 1);
}
process.on('uncaughtException', (e) => die(e, 'exception'));
process.on('unhandledRejection', (e) => die(e, 'rejection'));

// ---- init: import the handler module once -------------------------------------------------------
async function loadHandler() {
  let mod;
  try {
    mod = await import(pathToFileURL(handlerFile).href);
  } catch (e) {
    if (e && (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND')) throw lambdaError(e, 'Runtime.ImportModuleError');
    if (e && e.name === 'SyntaxError') throw lambdaError(e, 'Runtime.UserCodeSyntaxError');
    throw lambdaError(e);
  }
  const walk = (root) => handlerName.split('.').reduce((o, key) => (o == null ? undefined : o[key]), root);
  let fn = walk(mod);
  // A CommonJS module whose exports Node could not list statically: its exports are the default.
  if (typeof fn !== 'function' && mod.default != null) fn = walk(mod.default);
  if (typeof fn !== 'function') {
    throw {
      errorType: 'Runtime.HandlerNotFound',
      errorMessage: process.env._HANDLER + ' is undefined or not exported',
      stackTrace: [],
    };
  }
  return fn;
}

// ---- one invocation -----------------------------------------------------------------------------
function parseJson(text) {
  if (text === undefined || text === '') return undefined;
  try { return JSON.parse(text); } catch { return undefined; }
}

function runHandler(handler, event, context) {
  return new Promise((resolve) => {
    let settled = false;
    let onEmpty;
    const settle = (outcome, waitForEmptyLoop) => {
      if (settled) return;
      settled = true;
      if (onEmpty) process.off('beforeExit', onEmpty);
      if (waitForEmptyLoop && context.callbackWaitsForEmptyEventLoop) process.once('beforeExit', () => resolve(outcome));
      else resolve(outcome);
    };
    const callback = (err, value) =>
      settle(err === undefined || err === null ? { ok: true, value } : { ok: false, error: err }, true);
    context.done = callback;
    context.succeed = (value) => callback(null, value);
    context.fail = (err) => callback(err === undefined || err === null ? 'handled' : err);
    let returned;
    try {
      returned = handler(event, context, callback);
    } catch (e) {
      settle({ ok: false, error: e }, false);
      return;
    }
    if (returned !== null && typeof returned === 'object' && typeof returned.then === 'function') {
      returned.then((value) => settle({ ok: true, value }, false), (error) => settle({ ok: false, error }, false));
    } else if (!settled) {
      // Neither a promise nor a callback yet: the invocation ends when the event loop drains
      // (with a null result) unless the callback comes first.
      onEmpty = () => settle({ ok: true, value: undefined }, false);
      process.on('beforeExit', onEmpty);
    }
  });
}

async function invoke(handler, next) {
  const h = next.headers;
  const requestId = String(h['lambda-runtime-aws-request-id']);
  const deadline = Number(h['lambda-runtime-deadline-ms']);
  currentRequestId = requestId;
  if (h['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = String(h['lambda-runtime-trace-id']);
  else delete process.env._X_AMZN_TRACE_ID;
  const context = {
    awsRequestId: requestId,
    invokedFunctionArn: String(h['lambda-runtime-invoked-function-arn']),
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parseJson(h['lambda-runtime-client-context']),
    identity: parseJson(h['lambda-runtime-cognito-identity']),
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  let event;
  try {
    event = JSON.parse(next.body);
  } catch (e) {
    await postError('/invocation/' + encodeURIComponent(requestId) + '/error', lambdaError(e, 'Runtime.UnmarshalError'));
    return;
  }
  phase = 'invoke';
  const outcome = await runHandler(handler, event, context);
  const path = '/invocation/' + encodeURIComponent(requestId);
  if (!outcome.ok) {
    const err = lambdaError(outcome.error);
    // As the Node runtime does: the error and its stack go to the function's log (the caller gets
    // only the error object).
    process.stdout.write(
      new Date().toISOString() + '\\t' + requestId + '\\tERROR\\tInvoke Error \\t' +
        JSON.stringify({ errorType: err.errorType, errorMessage: err.errorMessage, stack: err.stackTrace }) + '\\n',
    );
    await postError(path + '/error', err);
  } else {
    let body;
    try {
      body = JSON.stringify(outcome.value);
    } catch (e) {
      await postError(path + '/error', lambdaError(e, 'Runtime.MarshalError'));
      phase = 'idle';
      return;
    }
    const res = await request('POST', path + '/response', body === undefined ? 'null' : body, { 'content-type': 'application/json' }).catch(apiGone);
    if (res.status !== 202) process.stderr.write('The Runtime API refused the response (' + res.status + '): ' + res.body + '\\n');
  }
  phase = 'idle';
}

async function main() {
  let handler;
  try {
    handler = await loadHandler();
  } catch (err) {
    process.stderr.write(new Date().toISOString() + '\\tundefined\\tERROR\\t' + JSON.stringify(err) + '\\n');
    await postError('/init/error', err);
    process.exit(1);
  }
  if (handler.length >= 3) {
    process.stderr.write(
      'Note: ' + process.env._HANDLER + ' is a callback-style handler (event, context, callback). It runs here as on ' +
        'nodejs22.x; the nodejs24.x runtime no longer accepts callback-style handlers: make it async for Node 24.\\n',
    );
  }
  phase = 'idle';
  for (;;) {
    const next = await request('GET', '/invocation/next').catch(apiGone);
    if (next.status !== 200) {
      process.stderr.write('The Runtime API answered /next with ' + next.status + ': ' + next.body + '\\n');
      process.exit(1);
    }
    await invoke(handler, next);
  }
}

main().catch((e) => die(e, 'exception'));
`;
