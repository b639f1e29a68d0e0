// Running the commands a user runs (npm, esbuild, wrangler, a runtime), with their output kept for
// the failure message instead of printed: a consumer test that fails says what the tool said.
import { type ChildProcess, execFile, spawn } from 'node:child_process';

/**
 * The environment a user's shell would have: this process's, less what pnpm and vitest add for
 * their own children. pnpm's bin shims set NODE_PATH to the workspace's store, which esbuild honours:
 * a user's bundle would then silently pick up packages the user never installed. pnpm's script
 * variables are lowercase (`npm_config_*`, `npm_package_*`); the machine's own npm settings in
 * upper case (`NPM_CONFIG_GLOBALCONFIG`, a registry, a CA file) stay, as they would for the user.
 */
export function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_PATH' || k === 'NODE_OPTIONS' || /^(npm|pnpm)_/.test(k) || k.startsWith('VITEST')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

export interface ExecOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Kills the command after this long (a hung install or runtime fails the test, not the run). */
  timeoutMs?: number;
  input?: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a command to its end; resolves with its output and exit code (never rejects on a non-zero exit). */
export function exec(command: string, args: string[], options: ExecOptions): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? userEnv(),
        timeout: options.timeoutMs ?? 300_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: unknown; killed?: boolean }) | null;
        if (e && typeof e.code === 'string') {
          reject(new Error(`${command} ${args.join(' ')}: ${e.message}`));
          return;
        }
        if (e?.killed) {
          reject(new Error(`${command} ${args.join(' ')} was killed (timeout?)\n${stdout}\n${stderr}`));
          return;
        }
        resolve({ stdout, stderr, code: typeof e?.code === 'number' ? e.code : 0 });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Like exec, but a non-zero exit throws with everything the command printed. */
export async function run(command: string, args: string[], options: ExecOptions): Promise<ExecResult> {
  const r = await exec(command, args, options);
  if (r.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${r.code} in ${options.cwd}\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

/**
 * Starts a long-running command (a CLI server) and resolves once its stdout contains `ready`,
 * with everything it printed up to then. The caller stops it with `stop()`.
 */
export function startUntil(
  command: string,
  args: string[],
  ready: string,
  options: ExecOptions,
): Promise<{ child: ChildProcess; output: string; stop: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? userEnv(), stdio: 'pipe' });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not print "${ready}" in time\n${out}\n${err}`));
    }, options.timeoutMs ?? 120_000);
    const stop = () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGINT');
      });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes(ready)) {
        clearTimeout(timer);
        resolve({ child, output: out, stop });
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} ${args.join(' ')} exited (${code}) before "${ready}"\n${out}\n${err}`));
    });
  });
}
