// One invocation's trace in a real Lambda container (@anypg/local's runtime, frozen between
// invocations), with an OpenTelemetry layer stand-in preloaded as ADOT preloads its SDK: the cold
// invocation shows the connect inside the connection wait, a warm one only the statement, and a
// connection the server dropped during a freeze shows as replaced.
import { fileURLToPath } from 'node:url';
import { type LocalLambda, startLambda } from '@anypg/local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, backendsNamed, databaseUrl, uniqueName } from './support/db.js';

interface SpanLine {
  name: string;
  spanId: string;
  parentSpanId?: string;
  scope: string;
  durationMs: number;
  attributes: Record<string, unknown>;
}

const handler = fileURLToPath(new URL('./fixtures/traced-handler.mjs', import.meta.url));
const layer = fileURLToPath(new URL('../examples/otel-stdout-layer.mjs', import.meta.url));
// Where the layer's packages are, as /opt/nodejs/node_modules is on Lambda.
const apiEntry = fileURLToPath(import.meta.resolve('@opentelemetry/api'));
const nodePath = apiEntry.slice(0, apiEntry.lastIndexOf('/@opentelemetry/api/'));

const functionName = uniqueName('traced');
let lambda: LocalLambda;
let spans: SpanLine[] = [];
const done = new Map<number, () => void>();

beforeAll(async () => {
  lambda = await startLambda({
    handler: `${handler}#handler`,
    functionName,
    env: { TEST_DATABASE_URL: databaseUrl(), NODE_OPTIONS: `--import ${layer}`, NODE_PATH: nodePath },
    onLog(line) {
      if (line.startsWith('OTEL_SPAN ')) spans.push(JSON.parse(line.slice('OTEL_SPAN '.length)) as SpanLine);
      const m = /^INVOCATION_DONE (\d+)/.exec(line);
      if (m) done.get(Number(m[1]))?.();
    },
  });
});

afterAll(async () => {
  await lambda?.close();
});

/** Invokes, and returns the spans the invocation wrote (all written before its INVOCATION_DONE line). */
async function invoke(n: number): Promise<{ pid: number; spans: SpanLine[] }> {
  spans = [];
  const written = new Promise<void>((r) => done.set(n, r));
  const result = await lambda.invoke({ n });
  expect(result.error).toBeUndefined();
  await written;
  return { pid: (result.payload as { pid: number }).pid, spans: spans.filter((s) => s.scope === 'anypg') };
}

const named = (list: SpanLine[], name: string) => list.filter((s) => s.name === name);
const childOf = (list: SpanLine[], parent: SpanLine) => list.filter((s) => s.parentSpanId === parent.spanId);

describe('a traced Lambda on pg', () => {
  let firstPid: number;

  it('the cold invocation: the statement, the wait for a connection, and the connect inside it', async () => {
    const { pid, spans: cold } = await invoke(1);
    firstPid = pid;
    const [statement] = named(cold, 'SELECT postgres');
    expect(statement?.attributes).toMatchObject({
      'anypg.backend': 'pg',
      'anypg.connection.opened': true,
      'db.query.text': 'select pg_backend_pid() as pid, $1::int as n',
    });
    const [acquire] = childOf(cold, statement!);
    expect(acquire?.name).toBe('anypg.acquire');
    const [connect] = childOf(cold, acquire!);
    expect(connect?.name).toBe('anypg.connect');
    expect(connect!.durationMs).toBeLessThanOrEqual(acquire!.durationMs);
    expect(acquire!.durationMs).toBeLessThanOrEqual(statement!.durationMs);
  });

  it('a warm invocation: the statement alone, on the same connection', async () => {
    const { pid, spans: warm } = await invoke(2);
    expect(pid).toBe(firstPid);
    expect(warm.map((s) => s.name)).toEqual(['SELECT postgres']);
    expect(warm[0]!.attributes['anypg.acquire_wait_ms']).toBeGreaterThan(0);
    expect(warm[0]!.attributes['anypg.connection.opened']).toBeUndefined();
  });

  it('a connection the server dropped during the freeze is replaced, and the trace shows it', async () => {
    expect(lambda.frozen).toBe(true);
    await admin((c) => c.query('select pg_terminate_backend($1)', [firstPid]));
    // Wait for the server to have closed it (the backend has left pg_stat_activity), not for a time.
    for (let i = 0; (await backendsNamed(functionName)).includes(firstPid); i++) {
      if (i > 500) throw new Error('the server did not close the connection');
      await new Promise((r) => setTimeout(r, 10));
    }
    // A freeze longer than a second, as between real invocations: at checkout the pool then lets
    // the event loop deliver what arrived meanwhile (the server's FIN) before it judges the socket.
    await lambda.freezeFor(1_200);
    const { pid, spans: thawed } = await invoke(3);
    expect(pid).not.toBe(firstPid);
    const [statement] = named(thawed, 'SELECT postgres');
    expect(statement?.attributes).toMatchObject({
      'anypg.stale_connections_replaced': 1,
      'anypg.connection.opened': true,
    });
    expect(statement?.attributes['anypg.retry_count']).toBeUndefined(); // replaced before sending: no retry
    const [acquire] = childOf(thawed, statement!);
    expect(acquire?.attributes['anypg.stale_connections_replaced']).toBe(1);
    expect(childOf(thawed, acquire!).map((s) => s.name)).toEqual(['anypg.connect']);
  });
});
