// startLambda: one function, one warm container at a time, invoked like Lambda invokes it.
//
// The runner serves the Runtime API (runtime-api.ts) and keeps one container (container.ts). An
// invocation hands the event to the runtime's pending GET /next, waits for its response or error,
// and ends when the runtime asks for the next event; at that moment the container is frozen
// (SIGSTOP) until the next invocation thaws it (SIGCONT), as a real sandbox is. Invocations are
// serialised, as one Lambda container serves one request at a time.
//
// Lambda behaviours reproduced: init on container start (AWS_LAMBDA_INITIALIZATION_TYPE=on-demand)
// with its duration reported on the first invocation; an init error fails that invocation and the
// next one starts a new container; a timeout kills the container (Sandbox.Timedout) and the next
// invocation starts a new one; a process that exits mid-invocation gives Runtime.ExitError; the
// 6 MiB response limit; START/END/REPORT log lines.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, relative, resolve, sep } from 'node:path';
import { LocalError } from '../errors.js';
import { BOOTSTRAP_SOURCE } from './bootstrap.js';
import { Container, type ContainerExit } from './container.js';
import { peakMemoryMb } from './proc.js';
import {
  MAX_RESPONSE_BYTES,
  type PendingNext,
  type Reply,
  type RuntimeApiServer,
  startRuntimeApi,
} from './runtime-api.js';

/** The account id in the ARNs and events this local stand-in makes up. */
export const LOCAL_ACCOUNT_ID = '000000000000';

export interface StartLambdaOptions {
  /**
   * The handler module, a built .js, .mjs or .cjs file (ESM or CommonJS), resolved from the
   * current directory; `file.js#name` picks the export (default `handler`; dots walk into objects).
   */
  handler: string;
  /** The export to call when `handler` has no `#name`. Default `handler`. */
  handlerName?: string;
  /** Environment variables of the function (its configuration). The runner's own environment is not passed on unless `inheritEnv`. */
  env?: Record<string, string>;
  /** Pass this process's environment to the function too (below `env` and Lambda's variables). Default false, as in Lambda. */
  inheritEnv?: boolean;
  /** The function timeout. Default 30 000 ms. */
  timeoutMs?: number;
  /** How long init may take before it counts as failed. Default 10 000 ms (Lambda's on-demand init limit). */
  initTimeoutMs?: number;
  /** Memory size in MB: AWS_LAMBDA_FUNCTION_MEMORY_SIZE, and a V8 heap limit of 90 % of it. Default 128. */
  memoryMb?: number;
  /** Freeze the container between invocations. Default true. */
  freeze?: boolean;
  /** Default `local-function`. */
  functionName?: string;
  /** Default `us-east-1` (AWS_REGION). */
  region?: string;
  /** The function's working directory and LAMBDA_TASK_ROOT. Default: the handler file's folder. */
  cwd?: string;
  /** The Node binary that runs the function. Default: the one running this process. */
  nodePath?: string;
  /** Every log line: the function's stdout/stderr, and the platform's START/END/REPORT lines. Lines are kept too (see logs()). */
  onLog?: (line: string, stream: LogStream) => void;
  /** How long close() waits after SIGTERM before SIGKILL. Default 500 ms. */
  shutdownGraceMs?: number;
  /**
   * Tests only: the container's start is reported this much later, so its runtime's first calls
   * arrive before the runner knows the container (the order a busy machine can make).
   */
  testStartReportDelayMs?: number;
}

export type LogStream = 'stdout' | 'stderr' | 'platform';

export interface LambdaError {
  errorType: string;
  errorMessage: string;
  stackTrace: string[];
}

export interface InvokeOptions {
  /** Passed as Lambda-Runtime-Client-Context (JSON); the handler sees it as context.clientContext. */
  clientContext?: unknown;
  /** Passed as Lambda-Runtime-Cognito-Identity (JSON); the handler sees it as context.identity. */
  identity?: unknown;
}

export interface InvokeResult {
  /** The function's result (parsed JSON); on an error, the error object, as Lambda's Invoke returns it. */
  payload: unknown;
  requestId: string;
  /** Set when the function failed (handler error, init error, timeout, crash). */
  error?: LambdaError;
  /** From handing the event to the runtime to its response or error. */
  durationMs: number;
  /** On the first invocation a container serves (a cold start): how long its init took. */
  initDurationMs?: number;
}

export interface LocalLambda {
  invoke(event?: unknown, options?: InvokeOptions): Promise<InvokeResult>;
  /** The current container's process id (undefined between a killed container and the next invocation). */
  readonly pid: number | undefined;
  readonly frozen: boolean;
  /** How many times a container was frozen / thawed. */
  readonly freezes: number;
  readonly thaws: number;
  /** How many containers were started (1 + restarts). */
  readonly coldStarts: number;
  readonly invocations: number;
  /** Keeps the (idle) container frozen for `ms`, as a long idle period would; invocations wait. */
  freezeFor(ms: number): Promise<void>;
  /** host:port, the AWS_LAMBDA_RUNTIME_API value. */
  readonly runtimeApi: string;
  /** http://host:port/2018-06-01/runtime */
  readonly runtimeApiUrl: string;
  readonly functionName: string;
  readonly functionArn: string;
  readonly timeoutMs: number;
  /** The last log lines (up to 5000), function and platform. */
  logs(): string[];
  /** Stops the container (SIGCONT, SIGTERM, SIGKILL after a grace period) and the Runtime API. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

// Variables Lambda sets itself and refuses in a function's configuration (credentials are left
// out: locally they are how an execution role's credentials reach the function).
const RESERVED_ENV = new Set([
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
]);

const MAX_LOG_LINES = 5000;

// How Lambda words a runtime killed by a signal ("Runtime exited with error: signal: killed").
const SIGNAL_WORDS: Record<string, string> = {
  SIGKILL: 'killed',
  SIGTERM: 'terminated',
  SIGSEGV: 'segmentation fault',
  SIGABRT: 'aborted',
};

interface Box {
  container: Container;
  startedAt: number;
  /** Resolves at the first GET /next (init done), an init error, or an exit during init. */
  ready: Promise<void>;
  markReady: () => void;
  initDurationMs?: number;
  initReported: boolean;
  initError?: LambdaError;
  parked?: PendingNext;
  /** Its process has ended. */
  dead: boolean;
  /** Never to be used again (timed out, failed init, being discarded); it may still be ending. */
  retired: boolean;
  initTimer?: NodeJS.Timeout;
}

interface Invocation {
  requestId: string;
  box: Box;
  deliveredAt: number;
  outcome?: { payload: unknown; error?: LambdaError; at: number };
  settleOutcome(o: { payload: unknown; error?: LambdaError }): void;
  outcomeDone: Promise<void>;
  /** Resolves when the runtime asks for the next event (or the container is gone). */
  ended: Promise<void>;
  end(): void;
}

interface Job {
  kind: 'invoke' | 'freeze';
  run(): Promise<void>;
  cancel(err: Error): void;
}

export async function startLambda(options: StartLambdaOptions): Promise<LocalLambda> {
  const config = resolveConfig(options);
  const lines: string[] = [];
  const log = (line: string, stream: LogStream) => {
    lines.push(line);
    if (lines.length > MAX_LOG_LINES) lines.splice(0, lines.length - MAX_LOG_LINES);
    options.onLog?.(line, stream);
  };

  let box: Box | undefined;
  let current: Invocation | undefined;
  let closed = false;
  let freezes = 0;
  let thaws = 0;
  let coldStarts = 0;
  let invocations = 0;
  const queue: Job[] = [];
  let pumping = false;

  // While a container starts, `box` is unset until the guardian has reported its pid; the
  // container's runtime may already be calling (on a busy machine it often is). Its calls wait for
  // the box instead of finding none and being dropped (a /next never answered hangs init).
  let starting: Promise<void> | undefined;
  const whenStarted = <T>(handle: () => T): T | Promise<T> => (!box && starting ? starting.then(handle) : handle());

  const onNext = (pending: PendingNext) => {
    const b = box;
    if (!b || b.dead || b.retired) return; // a runtime from a container we already let go
    b.parked = pending;
    if (b.initDurationMs === undefined) {
      b.initDurationMs = performance.now() - b.startedAt;
      clearTimeout(b.initTimer);
    }
    const inv = current && current.box === b ? current : undefined;
    if (inv && !inv.outcome) {
      inv.settleOutcome(
        failure(
          'Runtime.NoResponse',
          `RequestId: ${inv.requestId} Error: the runtime asked for the next event without posting a response or an error for this one.`,
        ),
      );
    }
    const after = () => {
      b.markReady();
      inv?.end();
    };
    // Freeze unless the next job is an invocation that will thaw it at once (back-to-back
    // requests): Lambda does not freeze a sandbox that has its next event waiting.
    if (config.freeze && queue[0]?.kind !== 'invoke' && !closed) {
      freezes++;
      b.container.freeze().then(after, after);
    } else {
      after();
    }
  };

  const onInitError = (body: Buffer, errorType: string | undefined): Reply => {
    const b = box;
    if (!b || b.dead || b.retired || b.initDurationMs !== undefined) {
      return { status: 403, errorType: 'InvalidStateTransition', errorMessage: 'Init already completed.' };
    }
    b.initDurationMs = performance.now() - b.startedAt;
    clearTimeout(b.initTimer);
    b.initError = parseError(body, errorType);
    logInitFailure(b);
    b.markReady();
    return { status: 202 };
  };

  const api: RuntimeApiServer = await startRuntimeApi({
    next(pending) {
      void whenStarted(() => onNext(pending));
    },
    initError(body, errorType) {
      return whenStarted(() => onInitError(body, errorType));
    },
    response(requestId, body, size): Reply {
      const inv = currentFor(requestId);
      if (!inv) return invalidRequestId(requestId);
      if (body === undefined) {
        inv.settleOutcome(
          failure(
            'Function.ResponseSizeTooLarge',
            `Response payload size (${size} bytes) exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`,
          ),
        );
        return {
          status: 413,
          errorType: 'RequestEntityTooLarge',
          errorMessage: `The response is ${size} bytes; the limit is ${MAX_RESPONSE_BYTES}.`,
        };
      }
      inv.settleOutcome({ payload: parsePayload(body) });
      return { status: 202 };
    },
    error(requestId, body, errorType): Reply {
      const inv = currentFor(requestId);
      if (!inv) return invalidRequestId(requestId);
      const error = parseError(body, errorType);
      inv.settleOutcome({ payload: error, error });
      return { status: 202 };
    },
  });

  function currentFor(requestId: string): Invocation | undefined {
    const inv = current;
    return inv && inv.requestId === requestId && !inv.outcome && !inv.box.dead && !inv.box.retired ? inv : undefined;
  }

  function env(): Record<string, string> {
    const date = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
    return {
      ...(options.inheritEnv ? (process.env as Record<string, string>) : baseEnv()),
      AWS_LAMBDA_RUNTIME_API: api.address,
      AWS_LAMBDA_FUNCTION_NAME: config.functionName,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(config.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${config.functionName}`,
      AWS_LAMBDA_LOG_STREAM_NAME: `${date}/[$LATEST]${randomBytes(16).toString('hex')}`,
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_REGION: config.region,
      AWS_DEFAULT_REGION: config.region,
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      LAMBDA_TASK_ROOT: config.taskRoot,
      _HANDLER: config.handlerSetting,
      // Lambda sets TZ=:UTC (the leading colon means "a zone file"); Node accepts it.
      TZ: ':UTC',
      ...options.env,
    };
  }

  /** Starts a container and makes it the live one (`box`). */
  async function startBox(): Promise<Box> {
    let started!: () => void;
    starting = new Promise<void>((r) => {
      started = r;
    });
    try {
      box = await spawnBox();
      return box;
    } finally {
      starting = undefined;
      started();
    }
  }

  async function spawnBox(): Promise<Box> {
    let markReady!: () => void;
    const ready = new Promise<void>((r) => {
      markReady = r;
    });
    const startedAt = performance.now();
    coldStarts++;
    let b: Box | undefined;
    const container = await Container.spawn({
      node: config.nodePath,
      args: [
        `--max-old-space-size=${Math.floor(config.memoryMb * 0.9)}`,
        '-e',
        BOOTSTRAP_SOURCE,
        config.file,
        config.exportName,
      ],
      env: env(),
      cwd: config.taskRoot,
      onLine: log,
      onExit: (exit) => b && containerExited(b, exit),
      reportDelayMs: config.startReportDelayMs,
    });
    b = { container, startedAt, ready, markReady, initReported: false, dead: false, retired: false };
    b.initTimer = setTimeout(() => {
      if (b.initDurationMs !== undefined || b.dead) return;
      b.initError = failure('Sandbox.Timedout', `INIT timed out after ${seconds(config.initTimeoutMs)} seconds`).error;
      b.initDurationMs = performance.now() - b.startedAt;
      logInitFailure(b);
      b.retired = true;
      b.markReady();
      container.kill();
    }, config.initTimeoutMs);
    if (container.exited) containerExited(b, container.exited);
    return b;
  }

  function logInitFailure(b: Box) {
    log(
      `INIT_REPORT Init Duration: ${(b.initDurationMs ?? 0).toFixed(2)} ms\tPhase: init\tStatus: error\tError Type: ${b.initError?.errorType}`,
      'platform',
    );
  }

  function containerExited(b: Box, exit: ContainerExit) {
    if (b.dead) return;
    b.dead = true;
    b.parked = undefined;
    clearTimeout(b.initTimer);
    const status = exit.signal ? `signal: ${SIGNAL_WORDS[exit.signal] ?? exit.signal}` : `exit status ${exit.code}`;
    if (b.initDurationMs === undefined) {
      b.initDurationMs = performance.now() - b.startedAt;
      b.initError = failure('Runtime.ExitError', `Error: Runtime exited with error: ${status}`).error;
      logInitFailure(b);
    }
    b.markReady();
    const inv = current && current.box === b ? current : undefined;
    if (inv) {
      if (!inv.outcome) {
        log(`RequestId: ${inv.requestId} Error: Runtime exited with error: ${status}`, 'platform');
        log('Runtime.ExitError', 'platform');
        inv.settleOutcome(
          failure('Runtime.ExitError', `RequestId: ${inv.requestId} Error: Runtime exited with error: ${status}`),
        );
      }
      inv.end();
    }
  }

  /** The live container, started if there is none; resolves after its init (or init failure). */
  async function ensureBox(): Promise<Box> {
    // A container whose init failed is kept until an invocation has reported that failure.
    const reportable = box?.initError !== undefined && !box.initReported;
    if (!box || ((box.dead || box.retired) && !reportable)) {
      const old = box;
      box = undefined;
      if (old) await discard(old);
      box = await startBox();
    }
    const b = box;
    await b.ready;
    if (closed) {
      await discard(b);
      throw closedError();
    }
    return b;
  }

  async function discard(b: Box) {
    b.retired = true;
    await b.container.kill();
    await b.container.guardianGone();
    if (box === b) box = undefined;
  }

  async function runInvocation(event: unknown, invokeOptions: InvokeOptions): Promise<InvokeResult> {
    const body = JSON.stringify(event) ?? 'null';
    const requestId = randomUUID();
    const b = await ensureBox();
    const initDurationMs = b.initReported ? undefined : b.initDurationMs;
    b.initReported = true;
    if (b.initError) {
      // As Lambda: the invocation that needed this container fails with the init error, and
      // the next invocation starts a new container.
      const error = b.initError;
      log(`START RequestId: ${requestId} Version: $LATEST`, 'platform');
      log(`END RequestId: ${requestId}`, 'platform');
      log(
        `REPORT RequestId: ${requestId}\tDuration: 0.00 ms\tStatus: error\tErrorType: ${error.errorType}`,
        'platform',
      );
      await discard(b);
      return {
        payload: error,
        error,
        requestId,
        durationMs: 0,
        ...(initDurationMs !== undefined && { initDurationMs }),
      };
    }
    const pending = b.parked;
    if (!pending || pending.gone) {
      // The runtime's long poll vanished without its process exiting: not a usable container.
      await discard(b);
      return runInvocation(event, invokeOptions);
    }
    b.parked = undefined;

    let settleOutcome!: (o: { payload: unknown; error?: LambdaError }) => void;
    let end!: () => void;
    const inv: Invocation = {
      requestId,
      box: b,
      deliveredAt: 0,
      settleOutcome: (o) => {
        if (inv.outcome) return;
        inv.outcome = { ...o, at: performance.now() };
        settleOutcome(o);
      },
      outcomeDone: new Promise<void>((r) => {
        settleOutcome = () => r();
      }),
      end: () => end(),
      ended: new Promise<void>((r) => {
        end = r;
      }),
    };
    current = inv;
    invocations++;

    if (b.container.frozen) {
      thaws++;
      b.container.thaw();
    }
    const deadlineMs = Date.now() + config.timeoutMs;
    log(`START RequestId: ${requestId} Version: $LATEST`, 'platform');
    inv.deliveredAt = performance.now();
    pending.deliver({
      requestId,
      deadlineMs,
      invokedFunctionArn: config.functionArn,
      traceId: traceId(),
      body,
      ...(invokeOptions.clientContext !== undefined && { clientContext: JSON.stringify(invokeOptions.clientContext) }),
      ...(invokeOptions.identity !== undefined && { cognitoIdentity: JSON.stringify(invokeOptions.identity) }),
    });

    // The timeout covers the whole invocation, until the runtime asks for the next event.
    const timer = setTimeout(() => {
      if (!inv.outcome) {
        const message = `${new Date().toISOString()} ${requestId} Task timed out after ${seconds(config.timeoutMs)} seconds`;
        log(message, 'platform');
        inv.settleOutcome(failure('Sandbox.Timedout', message));
      }
      b.retired = true;
      b.container.kill();
    }, config.timeoutMs);
    await inv.ended;
    clearTimeout(timer);
    if (b.dead || b.retired) await discard(b);

    const outcome = inv.outcome ?? { payload: null, at: performance.now() };
    const durationMs = outcome.at - inv.deliveredAt;
    log(`END RequestId: ${requestId}`, 'platform');
    const peak = peakMemoryMb(b.container.pid);
    log(
      `REPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${Math.ceil(durationMs)} ms\tMemory Size: ${config.memoryMb} MB` +
        (peak !== undefined ? `\tMax Memory Used: ${peak} MB` : '') +
        (initDurationMs !== undefined ? `\tInit Duration: ${initDurationMs.toFixed(2)} ms` : '') +
        (outcome.error ? `\tStatus: error\tErrorType: ${outcome.error.errorType}` : ''),
      'platform',
    );
    if (current === inv) current = undefined;
    return {
      payload: outcome.payload,
      requestId,
      ...(outcome.error && { error: outcome.error }),
      durationMs,
      ...(initDurationMs !== undefined && { initDurationMs }),
    };
  }

  async function runFreezeFor(ms: number) {
    const b = box && !box.dead && !box.retired ? box : undefined;
    if (b?.parked && !b.container.frozen) {
      freezes++;
      await b.container.freeze();
    }
    await new Promise((r) => setTimeout(r, ms));
    // Without `freeze`, the container only stays frozen for the time asked.
    if (b && !b.dead && !config.freeze && b.container.frozen) {
      thaws++;
      b.container.thaw();
    }
  }

  function enqueue<T>(kind: Job['kind'], fn: () => Promise<T>): Promise<T> {
    if (closed) return Promise.reject(closedError());
    return new Promise<T>((resolve, reject) => {
      queue.push({ kind, run: () => fn().then(resolve, reject), cancel: reject });
      void pump();
    });
  }

  async function pump() {
    if (pumping) return;
    pumping = true;
    try {
      for (let job = queue.shift(); job; job = queue.shift()) {
        if (closed) job.cancel(closedError());
        else await job.run();
      }
    } finally {
      pumping = false;
    }
  }

  // Init runs now, as the container starts (so `pid` is known and init errors show up in the
  // logs at once); its failure is reported by the first invocation, as in Lambda.
  try {
    const first = await startBox();
    box = first;
    await first.ready;
  } catch (err) {
    await api.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      closed = true;
      for (const job of queue.splice(0)) job.cancel(closedError());
      const b = box;
      if (b) {
        await b.container.stop(config.shutdownGraceMs);
        await b.container.guardianGone();
      }
      await api.close();
    })();
    return closing;
  };

  const lambda: LocalLambda = {
    invoke: (event, invokeOptions = {}) => enqueue('invoke', () => runInvocation(event, invokeOptions)),
    get pid() {
      return box && !box.dead && !box.retired ? box.container.pid : undefined;
    },
    get frozen() {
      return !!box && !box.dead && box.container.frozen;
    },
    get freezes() {
      return freezes;
    },
    get thaws() {
      return thaws;
    },
    get coldStarts() {
      return coldStarts;
    },
    get invocations() {
      return invocations;
    },
    freezeFor: (ms) => enqueue('freeze', () => runFreezeFor(ms)),
    runtimeApi: api.address,
    runtimeApiUrl: api.url,
    functionName: config.functionName,
    functionArn: config.functionArn,
    timeoutMs: config.timeoutMs,
    logs: () => lines.slice(),
    close,
    [Symbol.asyncDispose]: close,
  };
  return lambda;
}

interface ResolvedConfig {
  file: string;
  exportName: string;
  handlerSetting: string;
  taskRoot: string;
  functionName: string;
  functionArn: string;
  region: string;
  timeoutMs: number;
  initTimeoutMs: number;
  memoryMb: number;
  freeze: boolean;
  nodePath: string;
  shutdownGraceMs: number;
  startReportDelayMs: number | undefined;
}

function resolveConfig(options: StartLambdaOptions): ResolvedConfig {
  if (typeof options.handler !== 'string' || options.handler === '') {
    throw new LocalError(
      'BAD_OPTION',
      'startLambda needs `handler`: the path of the built handler file, e.g. dist/index.js#handler.',
    );
  }
  // `file.js#name`; a '#' elsewhere (a folder name) is part of the path.
  const m = /^(.*\.[cm]?js)#([^/\\]*)$/.exec(options.handler);
  const filePart = m ? m[1]! : options.handler;
  const exportName = (m ? m[2] : options.handlerName) || 'handler';
  if (!/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(exportName)) {
    throw new LocalError(
      'BAD_OPTION',
      `The handler export name ${JSON.stringify(exportName)} is not a JavaScript identifier (a.b.c is allowed).`,
    );
  }
  const file = resolve(filePart);
  const ext = extname(file);
  if (!['.js', '.mjs', '.cjs'].includes(ext)) {
    throw new LocalError(
      'BAD_OPTION',
      `The Lambda handler must be a built .js, .mjs or .cjs file (what the Node runtime loads), got ${JSON.stringify(filePart)}. Build or bundle it first.`,
    );
  }
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new LocalError(
      'BAD_OPTION',
      `The Lambda handler file ${file} does not exist (resolved from ${process.cwd()}). Build it first, or fix the path.`,
    );
  }
  const taskRoot = resolve(options.cwd ?? dirname(file));
  const rel = relative(taskRoot, file);
  const modulePath = (rel.startsWith('..') ? basename(file) : rel).slice(0, -ext.length).split(sep).join('/');
  const functionName = options.functionName ?? 'local-function';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(functionName)) {
    throw new LocalError(
      'BAD_OPTION',
      `functionName must be 1-64 letters, digits, - or _ (as in Lambda), got ${JSON.stringify(functionName)}.`,
    );
  }
  const region = options.region ?? 'us-east-1';
  const timeoutMs = positive(options.timeoutMs, 30_000, 'timeoutMs');
  const memoryMb = positive(options.memoryMb, 128, 'memoryMb');
  for (const key of Object.keys(options.env ?? {})) {
    if (RESERVED_ENV.has(key)) {
      throw new LocalError(
        'BAD_OPTION',
        `env.${key} is reserved: Lambda sets it itself. Use the startLambda options (region, memoryMb, functionName, ...) instead.`,
      );
    }
  }
  return {
    file,
    exportName,
    handlerSetting: `${modulePath}.${exportName}`,
    taskRoot,
    functionName,
    functionArn: `arn:aws:lambda:${region}:${LOCAL_ACCOUNT_ID}:function:${functionName}`,
    region,
    timeoutMs,
    initTimeoutMs: positive(options.initTimeoutMs, 10_000, 'initTimeoutMs'),
    memoryMb,
    freeze: options.freeze ?? true,
    nodePath: options.nodePath ?? process.execPath,
    shutdownGraceMs: options.shutdownGraceMs ?? 500,
    startReportDelayMs: options.testStartReportDelayMs,
  };
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new LocalError('BAD_OPTION', `${name} must be a positive number, got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** What a Lambda process finds in its environment besides Lambda's own variables. */
function baseEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    ...(process.env.HOME !== undefined && { HOME: process.env.HOME }),
  };
}

function failure(errorType: string, errorMessage: string): { payload: LambdaError; error: LambdaError } {
  const error = { errorType, errorMessage, stackTrace: [] };
  return { payload: error, error };
}

function parseError(body: Buffer, headerType: string | undefined): LambdaError {
  try {
    const e = JSON.parse(body.toString('utf8')) as Partial<LambdaError> & { trace?: string[] };
    return {
      errorType: String(e.errorType ?? headerType ?? 'Error'),
      errorMessage: String(e.errorMessage ?? ''),
      stackTrace: Array.isArray(e.stackTrace)
        ? e.stackTrace.map(String)
        : Array.isArray(e.trace)
          ? e.trace.map(String)
          : [],
    };
  } catch {
    return {
      errorType: headerType ?? 'Runtime.InvalidErrorPayload',
      errorMessage: body.toString('utf8'),
      stackTrace: [],
    };
  }
}

function parsePayload(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    // A custom runtime may post something that is not JSON: hand it over as text.
    return text;
  }
}

function invalidRequestId(requestId: string): Reply {
  return {
    status: 400,
    errorType: 'InvalidRequestID',
    errorMessage: `No invocation ${requestId} is waiting for a result.`,
  };
}

function traceId(): string {
  const epoch = Math.floor(Date.now() / 1000).toString(16);
  return `Root=1-${epoch}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=0`;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(2);
}

function closedError(): Error {
  return new Error('This local Lambda was closed: start a new one with startLambda() to invoke it again.');
}
