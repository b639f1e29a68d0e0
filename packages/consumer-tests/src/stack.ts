// The local stack as a user gets it: @anypg/local installed from its tarball into a project of its
// own (embedded PostgreSQL and all), then imported from there, not from the workspace.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export type LocalModule = typeof import('@anypg/local');

/** @anypg/local as installed in the stack project. */
export function importLocal(stackDir: string): Promise<LocalModule> {
  return import(pathToFileURL(join(stackDir, 'node_modules/@anypg/local/dist/index.js')).href) as Promise<LocalModule>;
}

/** The anypg-local CLI as installed (what `npx anypg-local` runs). */
export function localCli(stackDir: string): string {
  return join(stackDir, 'node_modules/@anypg/local/dist/cli.js');
}
