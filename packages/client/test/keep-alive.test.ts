// HTTP connections across warm invocations spaced 10 s apart, in a real child process frozen with
// SIGSTOP between them (as Lambda freezes a container), against the local Neon and Data API
// endpoints; counting proxies in front of the endpoints count the TCP connections. The 10 s gaps
// are the condition under test (longer than the 4 s after which Node's fetch drops an idle
// connection), not a wait for something to happen: two gaps show reuse across gaps.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type DataApiEndpoint, type NeonEndpoint, startDataApiEndpoint, startNeonEndpoint } from '@anypg/local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl } from './support/db.js';
import { startProxy, type TestProxy } from './support/proxy.js';

const fixture = fileURLToPath(new URL('./fixtures/http-container.mjs', import.meta.url));
const entry = new URL('../dist/node.js', import.meta.url).href;
const GAP_MS = 10_000;

let neon: NeonEndpoint;
let dataApi: DataApiEndpoint;
const proxies: Record<'ours' | 'nodeFetch' | 'dataApi', TestProxy> = {} as never;

beforeAll(async () => {
  neon = await startNeonEndpoint({ upstream: databaseUrl() });
  dataApi = await startDataApiEndpoint({ upstream: databaseUrl() });
  proxies.ours = await startProxy(neon.port);
  proxies.nodeFetch = await startProxy(neon.port);
  proxies.dataApi = await startProxy(dataApi.port);
});
afterAll(async () => {
  for (const p of Object.values(proxies)) await p?.close();
  await neon?.close();
  await dataApi?.close();
});

describe('HTTP keep-alive across warm invocations (Node, Lambda)', () => {
  it('neon-http and the Data API reuse one connection across 10 s gaps with freezes', async () => {
    const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [fixture, entry], {
      env: {
        ...process.env,
        TEST_DATABASE_URL: databaseUrl(),
        NEON_CONFIG: JSON.stringify(neon.neonConfig),
        NEON_OURS: `http://127.0.0.1:${proxies.ours.port}/sql`,
        NEON_NODE_FETCH: `http://127.0.0.1:${proxies.nodeFetch.port}/sql`,
        DATA_API: JSON.stringify({
          ...dataApi.clientConfig,
          endpoint: `http://127.0.0.1:${proxies.dataApi.port}`,
          resourceArn: dataApi.resourceArn,
          secretArn: dataApi.secretArn,
          database: dataApi.database,
        }),
      },
    });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const invoke = async () => {
      child.stdin.write('go\n');
      const { value } = await lines.next();
      return JSON.parse(value as string) as { ok: boolean; message?: string };
    };
    try {
      for (let i = 0; i < 3; i++) {
        if (i > 0) {
          child.kill('SIGSTOP');
          await new Promise((r) => setTimeout(r, GAP_MS));
          child.kill('SIGCONT');
        }
        const r = await invoke();
        expect(r.ok, r.message).toBe(true);
      }
      const opened = {
        ours: proxies.ours.connections(),
        nodeFetch: proxies.nodeFetch.connections(),
        dataApi: proxies.dataApi.connections(),
      };
      console.log(`TCP connections over 3 invocations 10 s apart: ${JSON.stringify(opened)}`);
      expect(opened.ours).toBe(1);
      expect(opened.dataApi).toBe(1);
    } finally {
      child.kill('SIGCONT');
      child.stdin.end();
      await new Promise((r) => child.once('exit', r));
    }
  }, 120_000);
});
