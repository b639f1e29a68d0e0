// The local Lambda runtime with real child processes: warm state, real freezing (SIGSTOP) between
// invocations, the Lambda context, and the failure paths (handler error, init error, timeout,
// crash) with the container restarts Lambda does.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { budget, until as waitUntil } from '@anypg/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalError, type LocalLambda, type StartLambdaOptions, startLambda } from '../src/index.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/lambda/${name}`, import.meta.url));
const WARM = fixture('warm.mjs');

const started: LocalLambda[] = [];
/**
 * Starts a function; the init limit is Lambda's 10 s unless a test sets it, scaled with the
 * machine's load (a trivial handler's init is quick, but not on a busy machine's cold Node).
 */
async function start(options: StartLambdaOptions): Promise<LocalLambda> {
  const lambda = await startLambda({ initTimeoutMs: budget(10_000), ...options });
  started.push(lambda);
  return lambda;
}
afterAll(async () => {
  await Promise.all(started.map((l) => l.close()));
});

/** States of every thread of a process, read from /proc (independently of the code under test). */
function threadStates(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  });
}

function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

const until = (what: string, check: () => boolean) => waitUntil(what, check);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Counted = { count: number; pid: number; ticks: number; tickTimes: number[] };

/** Ticks that ran strictly between two instants. */
const ticksBetween = (r: { payload: unknown }, from: number, to: number) =>
  (r.payload as Counted).tickTimes.filter((t) => t > from && t < to).length;

describe('startLambda: a warm container', () => {
  it('keeps module state across warm invocations, in the same process', async () => {
    const lambda = await start({ handler: WARM });
    const pid = lambda.pid;
    expect(pid).toBeTypeOf('number');
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await lambda.invoke({ action: 'count' }));
    expect(results.map((r) => (r.payload as Counted).count)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(results.map((r) => (r.payload as Counted).pid))).toEqual(new Set([pid]));
    // Only the first invocation reports the container's init (a cold start).
    expect(results[0]!.initDurationMs).toBeGreaterThan(0);
    expect(results.slice(1).every((r) => r.initDurationMs === undefined)).toBe(true);
    expect(new Set(results.map((r) => r.requestId)).size).toBe(5);
    expect(lambda.coldStarts).toBe(1);
    expect(lambda.invocations).toBe(5);
  });

  it('is stopped (every thread in state T) between invocations, and thawed for each one', async () => {
    const lambda = await start({ handler: WARM });
    const pid = lambda.pid!;
    // Frozen after init already.
    expect(lambda.frozen).toBe(true);
    expect(lambda.freezes).toBe(1);
    for (let i = 1; i <= 3; i++) {
      const r = await lambda.invoke({ action: 'count' });
      expect((r.payload as Counted).count).toBe(i); // it ran, so it was thawed
      const states = threadStates(pid);
      expect(states.length).toBeGreaterThan(1);
      expect(states.every((s) => s === 'T')).toBe(true);
      expect(lambda.frozen).toBe(true);
    }
    expect(lambda.thaws).toBe(3);
    expect(lambda.freezes).toBe(4);
  });

  it('does not run timers while frozen: an interval does not tick, and an armed timer fires only after the thaw', async () => {
    const frozen = await start({ handler: WARM });
    const dir = mkdtempSync(join(tmpdir(), 'anypg-lambda-timer-'));
    try {
      const file = join(dir, 'fired');
      await frozen.invoke({ action: 'arm', file, ms: 100 });
      // From here until the next invocation the container is stopped (invoke() resolves once it is).
      const frozenFrom = Date.now();
      await frozen.freezeFor(700); // seven times the timer's delay
      expect(existsSync(file)).toBe(false);
      const frozenUntil = Date.now();
      const after = await frozen.invoke({ action: 'ticks' });
      // 20 ms interval, 700+ ms of wall time: a running process would have ticked ~35 times.
      expect(ticksBetween(after, frozenFrom, frozenUntil)).toBe(0);
      // The thaw lets the overdue timer fire.
      await until('the armed timer to fire after the thaw', () => existsSync(file));
      expect(Number(readFileSync(file, 'utf8'))).toBeGreaterThanOrEqual(frozenUntil);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // The control: the same handler without freezing ticks while idle.
    const awake = await start({ handler: WARM, freeze: false });
    expect(awake.frozen).toBe(false);
    await awake.invoke({ action: 'ticks' });
    const idleFrom = Date.now();
    await sleep(700);
    const idleUntil = Date.now();
    const b = await awake.invoke({ action: 'ticks' });
    expect(ticksBetween(b, idleFrom, idleUntil)).toBeGreaterThanOrEqual(5);
    expect(awake.freezes).toBe(0);
  });

  it('gives the handler the Lambda context and environment', async () => {
    const lambda = await start({
      handler: WARM,
      functionName: 'notes-api',
      timeoutMs: 3000,
      memoryMb: 256,
      region: 'eu-west-1',
      env: { GREETING: 'hi' },
    });
    const r = await lambda.invoke({ action: 'context' }, { clientContext: { app: 'test' } });
    const c = r.payload as Record<string, any>;
    expect(c.awsRequestId).toBe(r.requestId);
    expect(c.remaining).toBeGreaterThan(0);
    expect(c.remaining).toBeLessThanOrEqual(3000);
    expect(c.functionName).toBe('notes-api');
    expect(c.functionVersion).toBe('$LATEST');
    expect(c.invokedFunctionArn).toBe('arn:aws:lambda:eu-west-1:000000000000:function:notes-api');
    expect(lambda.functionArn).toBe(c.invokedFunctionArn);
    expect(c.memoryLimitInMB).toBe('256');
    expect(c.logGroupName).toBe('/aws/lambda/notes-api');
    expect(c.logStreamName).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    expect(c.callbackWaitsForEmptyEventLoop).toBe(true);
    expect(c.clientContext).toEqual({ app: 'test' });
    expect(c.tzOffset).toBe(0);
    expect(c.cwd).toBe(fileURLToPath(new URL('./fixtures/lambda', import.meta.url)));
    expect(c.env).toMatchObject({
      AWS_LAMBDA_RUNTIME_API: lambda.runtimeApi,
      AWS_LAMBDA_FUNCTION_NAME: 'notes-api',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
      AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/notes-api',
      AWS_LAMBDA_LOG_STREAM_NAME: c.logStreamName,
      AWS_REGION: 'eu-west-1',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      LAMBDA_TASK_ROOT: c.cwd,
      _HANDLER: 'warm.handler',
      TZ: ':UTC',
      GREETING: 'hi',
    });
    expect(c.env._X_AMZN_TRACE_ID).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24};/);
    expect(lambda.runtimeApiUrl).toBe(`http://${lambda.runtimeApi}/2018-06-01/runtime`);
  });

  it('loads CommonJS callback handlers and named exports (file#name, handlerName)', async () => {
    const cb = await start({ handler: `${fixture('callback.cjs')}#handler`, functionName: 'cb' });
    const first = await cb.invoke({});
    expect(first.error).toBeUndefined();
    expect(first.payload).toMatchObject({ calls: 1, functionName: 'cb', requestId: first.requestId });
    // callbackWaitsForEmptyEventLoop (default true): the response waits for the pending timer.
    expect((first.payload as { timerRanBeforeResponse: boolean }).timerRanBeforeResponse).toBe(true);
    // Set to false: the response goes at once, the timer is left for later.
    const noWait = await cb.invoke({ dontWait: true });
    expect(noWait.payload).toMatchObject({ calls: 2, timerRanBeforeResponse: false });
    const failed = await cb.invoke({ fail: true });
    expect(failed.error).toMatchObject({ errorType: 'TypeError', errorMessage: 'bad input' });
    // The runtime says once that nodejs24.x no longer takes callback handlers.
    expect(cb.logs().some((l) => l.includes('callback-style handler'))).toBe(true);

    const other = await start({ handler: WARM, handlerName: 'other' });
    expect((await other.invoke({})).payload).toMatchObject({ other: true });
  });

  it("answers a runtime whose first calls arrive before the container's start is reported (a busy machine's order)", async () => {
    // The guardian reports the pid 1.5 s late: the runtime's /next (and an init error's POST)
    // come first. They used to find no container and be dropped: init then timed out.
    const late = await start({ handler: WARM, testStartReportDelayMs: 1500 });
    const r = await late.invoke({});
    expect(r.error).toBeUndefined();
    expect(r.payload).toMatchObject({ echo: {} });
    const broken = await start({ handler: fixture('init-error.mjs'), testStartReportDelayMs: 1500 });
    const failed = await broken.invoke({});
    expect(failed.error).toMatchObject({ errorType: 'Error', errorMessage: 'MUST_BE_SET is missing' });
  });

  it('collects the function logs with the request id, and the platform START/END/REPORT lines', async () => {
    const seen: Array<[string, string]> = [];
    const lambda = await start({ handler: WARM, onLog: (line, stream) => seen.push([stream, line]) });
    const r = await lambda.invoke({ action: 'log', who: 'the test' });
    await until('the function output to arrive', () =>
      lambda.logs().some((l) => l.includes(`${r.requestId}\tERROR\tan error line`)),
    );
    const logs = lambda.logs();
    expect(
      logs.some(
        (l) => /^\d{4}-\d{2}-\d{2}T[\d:.]+Z\t/.test(l) && l.endsWith(`${r.requestId}\tINFO\thello from the test`),
      ),
    ).toBe(true);
    expect(logs).toContain(`START RequestId: ${r.requestId} Version: $LATEST`);
    expect(logs).toContain(`END RequestId: ${r.requestId}`);
    expect(logs.some((l) => l.startsWith(`REPORT RequestId: ${r.requestId}\tDuration: `))).toBe(true);
    expect(seen.some(([s, l]) => s === 'stdout' && l.endsWith('hello from the test'))).toBe(true);
    expect(seen.some(([s]) => s === 'platform')).toBe(true);
  });
});

describe('startLambda: failures', () => {
  it('returns a handler error as errorType/errorMessage/stackTrace and stays warm', async () => {
    const lambda = await start({ handler: WARM });
    const pid = lambda.pid;
    const r = await lambda.invoke({ action: 'throw', id: 7 });
    expect(r.error).toMatchObject({ errorType: 'NotFoundError', errorMessage: 'no note 7' });
    expect(r.error!.stackTrace[0]).toBe('NotFoundError: no note 7');
    expect(r.error!.stackTrace.some((l) => l.includes('warm.mjs'))).toBe(true);
    expect(r.payload).toEqual(r.error);
    // The stack goes to the function's log, as the Node runtime writes it.
    await until('the Invoke Error log line', () =>
      lambda.logs().some((l) => l.includes(`${r.requestId}\tERROR\tInvoke Error \t{"errorType":"NotFoundError"`)),
    );
    const next = await lambda.invoke({ action: 'count' });
    expect(next.payload).toMatchObject({ count: 1, pid });
    expect(lambda.coldStarts).toBe(1);
  });

  it('reports an init error on the invocation, and starts a new container for the next one', async () => {
    const lambda = await start({ handler: fixture('init-error.mjs') });
    const first = await lambda.invoke({});
    expect(first.error).toMatchObject({ errorType: 'Error', errorMessage: 'MUST_BE_SET is missing' });
    expect(first.initDurationMs).toBeGreaterThan(0);
    expect(lambda.coldStarts).toBe(1);
    const second = await lambda.invoke({});
    expect(second.error?.errorMessage).toBe('MUST_BE_SET is missing');
    expect(lambda.coldStarts).toBe(2);

    const ok = await start({ handler: fixture('init-error.mjs'), env: { MUST_BE_SET: '1' } });
    expect((await ok.invoke({})).payload).toMatchObject({ ok: true });

    const missing = await start({ handler: fixture('import-missing.mjs') });
    const m = await missing.invoke({});
    expect(m.error?.errorType).toBe('Runtime.ImportModuleError');
    expect(m.error?.errorMessage).toContain('anypg-fixture-package-that-does-not-exist');

    const slow = await start({ handler: fixture('slow-init.mjs'), initTimeoutMs: 300 });
    const s = await slow.invoke({});
    expect(s.error).toMatchObject({ errorType: 'Sandbox.Timedout', errorMessage: 'INIT timed out after 0.30 seconds' });
    expect(slow.logs().some((l) => l.startsWith('INIT_REPORT Init Duration: ') && l.includes('Sandbox.Timedout'))).toBe(
      true,
    );

    const noExport = await start({ handler: fixture('no-export.mjs') });
    expect((await noExport.invoke({})).error).toMatchObject({
      errorType: 'Runtime.HandlerNotFound',
      errorMessage: 'no-export.handler is undefined or not exported',
    });
  });

  it('kills a timed-out container (Sandbox.Timedout) and starts a new one on the next invocation', async () => {
    // Long enough for a warm invocation on a busy machine, far shorter than the 10 s sleep.
    const lambda = await start({ handler: WARM, timeoutMs: 2000 });
    await lambda.invoke({ action: 'count' });
    const oldPid = lambda.pid!;
    const r = await lambda.invoke({ action: 'sleep', ms: 10_000 });
    expect(r.error?.errorType).toBe('Sandbox.Timedout');
    expect(r.error?.errorMessage).toContain(`${r.requestId} Task timed out after 2.00 seconds`);
    await until('the timed-out process to be gone', () => !running(oldPid));
    expect(lambda.pid).toBeUndefined();
    const next = await lambda.invoke({ action: 'count' });
    expect(next.payload).toMatchObject({ count: 1 }); // fresh module state
    expect((next.payload as Counted).pid).not.toBe(oldPid);
    expect(lambda.pid).toBe((next.payload as Counted).pid);
    expect(next.initDurationMs).toBeGreaterThan(0);
    expect(lambda.coldStarts).toBe(2);
  });

  it('reports a process that exits or dies of an unhandled rejection, then restarts', async () => {
    const lambda = await start({ handler: WARM });
    const pid1 = lambda.pid!;
    const exited = await lambda.invoke({ action: 'exit' });
    expect(exited.error).toMatchObject({ errorType: 'Runtime.ExitError' });
    expect(exited.error?.errorMessage).toContain('Runtime exited with error: exit status 3');
    const r2 = await lambda.invoke({ action: 'count' });
    const pid2 = (r2.payload as Counted).pid;
    expect(pid2).not.toBe(pid1);

    const rejected = await lambda.invoke({ action: 'reject-later' });
    expect(rejected.error).toMatchObject({ errorType: 'Runtime.UnhandledPromiseRejection' });
    expect(rejected.error?.errorMessage).toContain('nobody awaited me');
    const r3 = await lambda.invoke({ action: 'count' });
    expect((r3.payload as Counted).pid).not.toBe(pid2);
    expect((r3.payload as Counted).count).toBe(1);
    expect(lambda.coldStarts).toBe(3);
  });

  it('refuses a response over 6 MiB (Function.ResponseSizeTooLarge) and stays usable', async () => {
    const lambda = await start({ handler: WARM });
    const pid = lambda.pid;
    const r = await lambda.invoke({ action: 'big' });
    expect(r.error?.errorType).toBe('Function.ResponseSizeTooLarge');
    expect((await lambda.invoke({ action: 'count' })).payload).toMatchObject({ count: 1, pid });
  });

  it('rejects bad options with a LocalError that says what to do', async () => {
    const attempt = (o: StartLambdaOptions) =>
      startLambda(o).then(
        () => 'started',
        (e: unknown) => e,
      );
    const missing = await attempt({ handler: fixture('nope.mjs') });
    expect(missing).toBeInstanceOf(LocalError);
    expect((missing as LocalError).code).toBe('BAD_OPTION');
    expect((missing as LocalError).message).toContain('does not exist');
    const ts = await attempt({ handler: fixture('warm.ts') });
    expect((ts as LocalError).message).toContain('.js, .mjs or .cjs');
    const reserved = await attempt({ handler: WARM, env: { AWS_REGION: 'x' } });
    expect((reserved as LocalError).message).toContain('env.AWS_REGION is reserved');
  });
});

describe('startLambda: close()', () => {
  it('ends the container and its guardian, even while frozen, and refuses later invocations', async () => {
    const lambda = await startLambda({ handler: WARM });
    await lambda.invoke({ action: 'count' });
    const pid = lambda.pid!;
    expect(threadStates(pid).every((s) => s === 'T')).toBe(true);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const guardian = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    expect(running(guardian)).toBe(true);
    expect(guardian).not.toBe(process.pid);
    await lambda.close();
    expect(running(pid)).toBe(false);
    await until('the guardian to exit', () => !running(guardian));
    await expect(lambda.invoke({})).rejects.toThrow(/closed/);
    await lambda.close(); // twice is fine
  });
});
