// Finding the pgbouncer executable. It is a system package (Debian: `apt-get install -y pgbouncer`),
// not an npm one, so we look where package managers put it.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { LocalError } from '../errors.js';

const INSTALL_HINT =
  'Install it (Debian/Ubuntu: apt-get install -y pgbouncer; macOS: brew install pgbouncer), or point ANYPG_PGBOUNCER_BIN (or the `binary` option) at the executable.';

// Debian installs it in /usr/sbin, which is not on every user's PATH.
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/opt/homebrew/bin', '/usr/bin'];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The pgbouncer executable: `explicit`, else ANYPG_PGBOUNCER_BIN, else `pgbouncer` on PATH or in
 * the usual system folders. An explicit path that is not executable is an error (never a silent
 * fallback to another binary).
 */
export function findPgBouncer(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = explicit ?? env.ANYPG_PGBOUNCER_BIN;
  if (chosen !== undefined && chosen !== '') {
    if (executable(chosen)) return chosen;
    const source = explicit !== undefined ? 'the `binary` option' : 'ANYPG_PGBOUNCER_BIN';
    throw new LocalError('BINARY_MISSING', `PgBouncer not found at ${chosen} (from ${source}). ${INSTALL_HINT}`);
  }
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, 'pgbouncer');
    if (executable(candidate)) return candidate;
  }
  throw new LocalError(
    'BINARY_MISSING',
    `PgBouncer is not installed (no pgbouncer on PATH or in /usr/sbin). ${INSTALL_HINT}`,
  );
}
