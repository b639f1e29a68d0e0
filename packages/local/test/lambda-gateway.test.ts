// The local API Gateway (HTTP API, payload format 2.0) in front of a real, freezing container.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalError, type LocalGateway, type LocalLambda, startGateway, startLambda } from '../src/index.js';

const HTTP = fileURLToPath(new URL('./fixtures/lambda/http.mjs', import.meta.url));
const WARM = fileURLToPath(new URL('./fixtures/lambda/warm.mjs', import.meta.url));

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** node:http, so that repeated header lines really go out as separate lines. */
function request(
  url: string,
  init: { method?: string; headers?: Record<string, string | string[]>; body?: Buffer | string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

const json = (r: Reply) => JSON.parse(r.body.toString('utf8'));

describe('startGateway', () => {
  let lambda: LocalLambda;
  let gateway: LocalGateway;
  beforeAll(async () => {
    lambda = await startLambda({ handler: HTTP, timeoutMs: 1000 });
    gateway = await startGateway({ lambda });
  });
  afterAll(async () => {
    await gateway?.close();
    await lambda?.close();
  });

  it('turns a GET into a payload 2.0 event: path, query, headers, cookies, request context', async () => {
    const r = await request(`${gateway.url}/echo?a=1&a=2&b=x%20y&empty=`, {
      headers: {
        'X-Custom': 'v',
        'x-multi': ['p', 'q'],
        Cookie: 'c1=1; c2=2',
        'User-Agent': 'anypg-test/1',
      },
    });
    expect(r.status).toBe(201);
    expect(r.headers['x-handler']).toBe('echo');
    expect(r.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    const requestId = r.headers['apigw-requestid'];
    expect(requestId).toMatch(/^[A-Za-z0-9+/]{14}==?$/);
    const e = json(r);
    expect(e).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/echo',
      rawQueryString: 'a=1&a=2&b=x%20y&empty=',
      cookies: ['c1=1', 'c2=2'],
      queryStringParameters: { a: '1,2', b: 'x y', empty: '' },
      isBase64Encoded: false,
    });
    expect(e.body).toBeUndefined();
    expect(e.headers['x-custom']).toBe('v');
    expect(e.headers['x-multi']).toBe('p,q');
    expect(e.headers.cookie).toBeUndefined();
    expect(e.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(e.headers['x-forwarded-proto']).toBe('http');
    expect(Object.keys(e.headers).every((k: string) => k === k.toLowerCase())).toBe(true);
    expect(e.requestContext).toMatchObject({
      accountId: '000000000000',
      apiId: 'local',
      domainName: `127.0.0.1:${gateway.port}`,
      http: { method: 'GET', path: '/echo', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'anypg-test/1' },
      requestId,
      routeKey: '$default',
      stage: '$default',
    });
    expect(e.requestContext.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(e.requestContext.timeEpoch).toBeTypeOf('number');
  });

  it('passes a JSON body as text and a binary or form body as base64', async () => {
    const payload = JSON.stringify({ title: 'héllo', n: 1 });
    const posted = json(
      await request(`${gateway.url}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: payload,
      }),
    );
    expect(posted.requestContext.http.method).toBe('POST');
    expect(posted.isBase64Encoded).toBe(false);
    expect(posted.body).toBe(payload);
    expect(posted.headers['content-length']).toBe(String(Buffer.byteLength(payload)));

    const bytes = Buffer.from([0, 1, 2, 255, 254]);
    const binary = json(
      await request(`${gateway.url}/echo`, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: bytes,
      }),
    );
    expect(binary.isBase64Encoded).toBe(true);
    expect(Buffer.from(binary.body, 'base64').equals(bytes)).toBe(true);

    const form = json(
      await request(`${gateway.url}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'a=1&b=2',
      }),
    );
    expect(form.isBase64Encoded).toBe(true);
    expect(Buffer.from(form.body, 'base64').toString()).toBe('a=1&b=2');
  });

  it('maps results: no statusCode means 200 JSON; a string is the body; base64 bodies are decoded', async () => {
    const plain = await request(`${gateway.url}/plain`);
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toBe('application/json');
    expect(plain.body.toString()).toBe('{"hello":"world","n":1}');

    const text = await request(`${gateway.url}/string`);
    expect(text.status).toBe(200);
    expect(text.body.toString()).toBe('just text');

    const binary = await request(`${gateway.url}/binary`);
    expect(binary.headers['content-type']).toBe('application/octet-stream');
    expect([...binary.body]).toEqual([0, 1, 2, 255]);

    const notFound = await request(`${gateway.url}/nowhere`);
    expect(notFound.status).toBe(404);
    expect(notFound.body.toString()).toBe('no route');
  });

  it('answers a handler error, a malformed result or a timeout with a bare 500 and the request id', async () => {
    for (const path of ['/fail', '/malformed', '/slow']) {
      const r = await request(`${gateway.url}${path}`);
      expect(r.status, path).toBe(500);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.body.toString()).toBe('{"message":"Internal Server Error"}');
      expect(r.headers['apigw-requestid']).toMatch(/^[A-Za-z0-9+/]{14}==?$/);
      const all = JSON.stringify(r.headers) + r.body.toString();
      expect(all).not.toContain('s3cr3t');
      expect(all).not.toContain('    at ');
    }
    // The timed-out container was replaced: the next request works.
    expect((await request(`${gateway.url}/plain`)).status).toBe(200);
    expect(lambda.coldStarts).toBe(2);
  });

  it('fails with PORT_IN_USE when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const err = await startGateway({ lambda, port }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LocalError);
      expect((err as LocalError).code).toBe('PORT_IN_USE');
      expect((err as LocalError).message).toContain(String(port));
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});

describe('invocation overhead (measured, printed, not asserted)', () => {
  it('runs 200 warm invocations through invoke() and through the gateway on one frozen container', async () => {
    const N = 200;
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const lambda = await startLambda({ handler: WARM });
    const gwLambda = await startLambda({ handler: HTTP });
    const gateway = await startGateway({ lambda: gwLambda });
    try {
      const direct: number[] = [];
      for (let i = 0; i < N; i++) {
        const t = performance.now();
        const r = await lambda.invoke({ i });
        direct.push(performance.now() - t);
        expect(r.payload).toEqual({ echo: { i } });
      }
      const viaGateway: number[] = [];
      for (let i = 0; i < N; i++) {
        const t = performance.now();
        const r = await fetch(`${gateway.url}/plain`);
        await r.arrayBuffer();
        viaGateway.push(performance.now() - t);
        expect(r.status).toBe(200);
      }
      // Every invocation was a warm one, in one container, frozen and thawed each time.
      expect(lambda.coldStarts).toBe(1);
      expect(lambda.thaws).toBe(N);
      expect(gwLambda.thaws).toBe(N);
      console.log(
        `[lambda overhead] ${N} warm invocations, freeze/thaw each: invoke() median ${median(direct).toFixed(2)} ms, ` +
          `through the gateway (fetch) median ${median(viaGateway).toFixed(2)} ms`,
      );
    } finally {
      await gateway.close();
      await gwLambda.close();
      await lambda.close();
    }
  });
});
