// What the tests need from the system, besides Node and npm: PgBouncer (the transaction-mode
// pooler fixture; it is not an npm package). Used by scripts/run.mjs before `test`, and on its own
// as `node scripts/run.mjs provision`.
//
// When PgBouncer is missing and the machine can install it (Debian/Ubuntu's apt-get, as root or with
// passwordless sudo), it is installed; otherwise one message says exactly what to install and the
// command fails before running anything. Written for Node 20: no dependency, no TypeScript.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

// The same places @anypg/local looks (packages/local/src/pgbouncer/binary.ts).
const SYSTEM_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/opt/homebrew/bin', '/usr/bin'];

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The pgbouncer executable the tests will use, or undefined. ANYPG_TEST_HIDE_PGBOUNCER=1 makes this
 * answer "missing" on a machine that has it: that is how the provisioning path is tested without
 * uninstalling anything.
 */
export function findPgBouncer(env = process.env) {
  if (env.ANYPG_TEST_HIDE_PGBOUNCER === '1') return undefined;
  if (env.ANYPG_PGBOUNCER_BIN) return executable(env.ANYPG_PGBOUNCER_BIN) ? env.ANYPG_PGBOUNCER_BIN : undefined;
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), ...SYSTEM_DIRS];
  return dirs.map((d) => join(d, 'pgbouncer')).find(executable);
}

function has(cmd, args, env) {
  const r = spawnSync(cmd, args, { env, stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** The one message for a machine where this script cannot install PgBouncer itself. */
export function installMessage(why) {
  return [
    `PgBouncer is needed by the tests (the transaction-mode pooler they run behind) and is not installed${why ? ` (${why})` : ''}.`,
    'Install it, then run the command again:',
    '  Debian/Ubuntu:  sudo apt-get install -y pgbouncer',
    '  Fedora/RHEL:    sudo dnf install -y pgbouncer',
    '  macOS:          brew install pgbouncer',
    'or point ANYPG_PGBOUNCER_BIN at a pgbouncer executable (1.18 or later).',
  ].join('\n');
}

/**
 * Makes sure PgBouncer is there. Returns { ok: true, path?, installed } or { ok: false, message }.
 * `log` gets one line per step taken.
 */
export function ensurePgBouncer({ env = process.env, log = () => {} } = {}) {
  const found = findPgBouncer(env);
  if (found) return { ok: true, path: found, installed: false };
  if (process.platform !== 'linux' || !has('apt-get', ['--version'], env)) {
    return { ok: false, message: installMessage('no apt-get on this machine to install it with') };
  }
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const prefix = isRoot ? [] : has('sudo', ['-n', 'true'], env) ? ['sudo', '-n'] : undefined;
  if (!prefix) {
    return { ok: false, message: installMessage('installing it needs root or passwordless sudo') };
  }
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  /** Runs a system command as root (directly, or through sudo -n). */
  const asRoot = (args, stdio = ['ignore', 'ignore', 'inherit']) => {
    const [cmd, ...rest] = [...prefix, ...args];
    const r = spawnSync(cmd, rest, { env: aptEnv, stdio });
    return !r.error && r.status === 0;
  };
  // -qq, and wait for another apt run to finish instead of failing on its lock.
  const apt = (...args) => asRoot(['apt-get', '-qq', '-o', 'DPkg::Lock::Timeout=120', ...args]);
  log(`PgBouncer is missing: installing it with ${prefix.length ? 'sudo ' : ''}apt-get install -y pgbouncer`);
  // The package lists may be missing or stale on a fresh machine: update them only when needed.
  let ok = apt('install', '-y', 'pgbouncer');
  if (!ok) {
    log('apt-get install failed; updating the package lists and trying once more');
    ok = apt('update') && apt('install', '-y', 'pgbouncer');
  }
  if (!ok) return { ok: false, message: installMessage('apt-get install -y pgbouncer failed, see above') };
  // The Debian package starts a system service the tests do not want (they run their own).
  const quiet = ['ignore', 'ignore', 'ignore'];
  if (!asRoot(['systemctl', 'stop', 'pgbouncer'], quiet)) asRoot(['service', 'pgbouncer', 'stop'], quiet);
  const path = findPgBouncer({ ...env, ANYPG_TEST_HIDE_PGBOUNCER: undefined });
  if (!path)
    return { ok: false, message: installMessage('apt-get installed it, but no pgbouncer executable was found') };
  log(`PgBouncer installed: ${path}`);
  return { ok: true, path, installed: true };
}
