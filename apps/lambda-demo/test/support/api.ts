// The notes function in the local Lambda runtime behind the local API Gateway, and a small client.
import { type LocalGateway, type LocalLambda, startGateway, startLambda } from '@anypg/local';
import { HANDLER } from './db.js';

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON (undefined when empty). */
  body: any;
}

export interface RunningFunction {
  lambda: LocalLambda;
  gateway: LocalGateway;
  url: string;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  close(): Promise<void>;
}

export async function startNotesFunction(options: {
  functionName: string;
  env: Record<string, string>;
  timeoutMs?: number;
}): Promise<RunningFunction> {
  const lambda = await startLambda({
    handler: `${HANDLER}#handler`,
    functionName: options.functionName,
    env: options.env,
    timeoutMs: options.timeoutMs ?? 15_000,
  });
  const gateway = await startGateway({ lambda });
  return {
    lambda,
    gateway,
    url: gateway.url,
    call: (method, path, body, headers) => call(gateway.url, method, path, body, headers),
    async close() {
      await gateway.close();
      await lambda.close();
    },
  };
}

/** One HTTP request; a non-string body is sent as JSON. */
export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers = { 'content-type': 'application/json', ...headers };
  }
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}
