// One Lambda container: a long-lived Node process running the runtime client (bootstrap.ts),
// started through a guardian (guardian.ts) so that it never outlives the runner, in its own
// process group so that one signal freezes or thaws everything the function started.
//
// Freezing is SIGSTOP to the group: every thread stops, timers do not run, sockets are not read
// (the kernel still buffers what arrives, and peers may give up on an idle connection), which is
// what a Lambda sandbox looks like between invocations. Thawing is SIGCONT.
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { LocalError } from '../errors.js';
import { spawnHelper } from '../helper-process.js';
import { CONTAINER_GUARDIAN_SOURCE } from './guardian.js';
import { allThreadsStopped, canReadProcessState } from './proc.js';

export interface ContainerExit {
  code: number | null;
  signal: string | null;
}

export interface SpawnContainerOptions {
  /** The Node binary that runs the function. */
  node: string;
  /** Node arguments, then the script: e.g. ['--max-old-space-size=115', '-e', SOURCE, file, name]. */
  args: string[];
  env: Record<string, string>;
  cwd: string;
  onLine(line: string, stream: 'stdout' | 'stderr'): void;
  onExit(exit: ContainerExit): void;
  /** Tests only: the guardian reports the started process this much later (a busy machine's order). */
  reportDelayMs?: number | undefined;
}

export class Container {
  #frozen = false;
  #exit: ContainerExit | undefined;
  readonly #exited: Promise<ContainerExit>;
  #resolveExited!: (e: ContainerExit) => void;

  private constructor(
    readonly pid: number,
    private readonly guardian: ChildProcess,
  ) {
    this.#exited = new Promise((resolve) => {
      this.#resolveExited = resolve;
    });
  }

  /** Starts the guardian, which starts the function's process; resolves once its pid is known. */
  static spawn(options: SpawnContainerOptions): Promise<Container> {
    // The configuration (the function's environment: secrets) goes on the guardian's stdin.
    const guardian = spawnHelper(
      CONTAINER_GUARDIAN_SOURCE,
      {
        node: options.node,
        args: options.args,
        env: options.env,
        cwd: options.cwd,
        reportDelayMs: options.reportDelayMs,
      },
      ['pipe', 'pipe', 'pipe', 'pipe'],
    );
    pipeLines(guardian.stdout!, (line) => options.onLine(line, 'stdout'));
    pipeLines(guardian.stderr!, (line) => options.onLine(line, 'stderr'));

    return new Promise((resolve, reject) => {
      let container: Container | undefined;
      const fail = (why: string) =>
        reject(
          new LocalError(
            'START_FAILED',
            `Could not start the Lambda container process with ${options.node}: ${why}. Check the nodePath option (a Node >= 22 binary).`,
          ),
        );
      pipeLines(guardian.stdio[3] as Readable, (line) => {
        let msg: { pid?: number; exit?: ContainerExit; spawnError?: string };
        try {
          msg = JSON.parse(line);
        } catch {
          return;
        }
        if (msg.pid !== undefined && !container) {
          container = new Container(msg.pid, guardian);
          resolve(container);
        } else if (msg.spawnError !== undefined) {
          fail(msg.spawnError);
        } else if (msg.exit && container) {
          container.#ended(msg.exit, options.onExit);
        }
      });
      guardian.once('error', (err) => fail(err.message));
      guardian.once('exit', (code, signal) => {
        // Normally the exit report came first; if the guardian itself died, the function's
        // process may still be there: kill it by pid, since nobody else will.
        if (container) {
          if (!container.#exit) {
            signalGroup(container.pid, 'SIGKILL');
            container.#ended({ code: null, signal: 'SIGKILL' }, options.onExit);
          }
        } else {
          fail(`its supervisor exited (code ${code}, signal ${signal})`);
        }
      });
    });
  }

  #ended(exit: ContainerExit, onExit: (e: ContainerExit) => void) {
    if (this.#exit) return;
    this.#exit = exit;
    this.#frozen = false;
    // The function is gone: let the guardian go too.
    this.guardian.stdin?.end();
    onExit(exit);
    this.#resolveExited(exit);
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  get exited(): ContainerExit | undefined {
    return this.#exit;
  }

  /** Resolves when the function's process has ended. */
  whenExited(): Promise<ContainerExit> {
    return this.#exited;
  }

  /**
   * SIGSTOP the whole group, then wait (Linux) until the kernel shows every thread stopped, so
   * that "frozen" is true when this resolves: the signal is delivered asynchronously.
   */
  async freeze(): Promise<void> {
    if (this.#frozen || this.#exit) return;
    if (!signalGroup(this.pid, 'SIGSTOP')) return;
    this.#frozen = true;
    if (!canReadProcessState) return;
    for (let i = 0; i < 2000; i++) {
      if (this.#exit || allThreadsStopped(this.pid)) return;
      await new Promise((r) => (i < 50 ? setImmediate(r) : setTimeout(r, 1)));
    }
  }

  /** SIGCONT the whole group. */
  thaw(): void {
    if (!this.#frozen || this.#exit) return;
    this.#frozen = false;
    signalGroup(this.pid, 'SIGCONT');
  }

  /** Immediate end (a timeout, an init failure): SIGKILL ends even a stopped process. */
  kill(): Promise<ContainerExit> {
    if (!this.#exit) {
      signalGroup(this.pid, 'SIGKILL');
      this.guardian.stdin?.end();
    }
    return this.#exited;
  }

  /**
   * A polite end: thaw (a stopped process cannot handle SIGTERM), SIGTERM, and SIGKILL after
   * `graceMs` if it is still there.
   */
  async stop(graceMs: number): Promise<ContainerExit> {
    if (this.#exit) return this.#exit;
    if (this.#frozen) {
      this.#frozen = false;
      signalGroup(this.pid, 'SIGCONT');
    }
    signalGroup(this.pid, 'SIGTERM');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exit = await Promise.race([
      this.#exited,
      new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), graceMs);
      }),
    ]);
    clearTimeout(timer);
    return exit ?? this.kill();
  }

  /** Resolves when the guardian too has exited (nothing of this container is left). */
  guardianGone(): Promise<void> {
    const g = this.guardian;
    if (g.exitCode !== null || g.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => g.once('exit', () => resolve()));
  }
}

/** Sends a signal to a process group; false if it is gone. */
function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

function pipeLines(stream: Readable, onLine: (line: string) => void) {
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    let nl = buffer.indexOf('\n');
    while (nl >= 0) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      nl = buffer.indexOf('\n');
    }
  });
  stream.on('end', () => {
    if (buffer) onLine(buffer);
    buffer = '';
  });
  stream.on('error', () => {});
}
