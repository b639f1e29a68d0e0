// Starting the small `node -e` helper processes (the guardians of PostgreSQL, PgBouncer and the
// Lambda containers) without exposing secrets to other users of the machine.
//
// A process's argv is world-readable (/proc/PID/cmdline, `ps`), so the configuration, which can
// hold the function's environment (DATABASE_URL with its password, AWS keys), goes on the
// helper's stdin instead, as its first line; the rest of stdin stays the helper's lifeline (EOF
// means its owner is gone). The helper itself gets an environment with nothing but PATH: whatever
// it starts is given exactly the environment its configuration names.
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';

/** The environment of a helper process: only what Node and the programs it starts by name need. */
export function helperEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', ...extra };
}

/**
 * Spawns `node -e <source>` with `config` as the first line of its stdin (stdin must be a pipe:
 * `stdio[0] === 'pipe'`). The helper reads it with HELPER_CONFIG_READER.
 */
export function spawnHelper(source: string, config: unknown, stdio: StdioOptions): ChildProcess {
  const child = spawn(process.execPath, ['-e', source], { stdio, env: helperEnv() });
  // A helper that died at once (EPIPE) reports itself through its exit; nothing to do here.
  child.stdin?.on('error', () => {});
  child.stdin?.write(`${JSON.stringify(config)}\n`);
  return child;
}

/**
 * The helper's side (JavaScript source, placed in a helper's script): calls `start(cfg)` with the
 * configuration from the first stdin line, and `stop()` when stdin ends (the owner closed it or died).
 */
export const HELPER_CONFIG_READER = `
function readConfig(start, stop) {
  let pending = '';
  let started = false;
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    if (started) return;
    pending += chunk;
    const nl = pending.indexOf('\\n');
    if (nl < 0) return;
    started = true;
    start(JSON.parse(pending.slice(0, nl)));
    pending = '';
  });
  const end = () => (started ? stop() : process.exit(0));
  process.stdin.on('end', end);
  process.stdin.on('close', end);
  process.stdin.on('error', end);
  process.stdin.resume();
}
`;
