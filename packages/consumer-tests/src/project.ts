// A user's project: an empty folder outside the repository (under the OS temp dir), a package.json
// with exactly the dependencies the README names for that kind of user, `npm install`, the user's
// files. npm, not pnpm: the most common client, and the one that shows a missing dependency
// (pnpm's strictness and the workspace's hoisting would each hide a different mistake).
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { run } from './exec.js';

export interface Project {
  dir: string;
  /** Writes a file relative to the project. */
  write(path: string, contents: string): string;
  remove(): void;
}

export interface ProjectOptions {
  dependencies: Record<string, string>;
  devDependencies?: Record<string, string>;
  /** Folders of fixtures/ copied into the project as they are. */
  copy?: Array<[from: string, to: string]>;
}

/** Pinned versions of what the README tells users to install next to anypg (the workspace's). */
export const DEPS = {
  'drizzle-orm': '0.45.4',
  pg: '8.23.1',
  '@neondatabase/serverless': '1.2.0',
  '@aws-sdk/client-rds-data': '3.1143.0',
} as const;

export async function createProject(name: string, options: ProjectOptions): Promise<Project> {
  const dir = mkdtempSync(join(tmpdir(), `anypg-consumer-${name}-`));
  // mkdtemp makes it 0700; a user's project folder is readable, and as root @anypg/local runs
  // PostgreSQL as the `postgres` user, which must reach the binaries installed in it.
  chmodSync(dir, 0o755);
  const pkg = {
    name: `consumer-${name}`,
    private: true,
    type: 'module',
    dependencies: options.dependencies,
    ...(options.devDependencies && { devDependencies: options.devDependencies }),
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  for (const [from, to] of options.copy ?? []) cpSync(from, join(dir, to), { recursive: true });
  // --prefer-offline: the npm cache answers for what it has (the registry is asked for the rest).
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
    cwd: dir,
    timeoutMs: 600_000,
  });
  return {
    dir,
    write(path, contents) {
      const file = join(dir, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, contents);
      return file;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
