// `pnpm pack` of the two published packages, as a release would make them (pnpm applies
// publishConfig and turns workspace: ranges into versions).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './exec.js';
import { clientDir, localDir } from './paths.js';

export interface Tarballs {
  anypg: string;
  local: string;
}

export async function packAll(outDir: string): Promise<Tarballs> {
  for (const dir of [clientDir, localDir]) {
    await run('pnpm', ['pack', '--pack-destination', outDir], { cwd: dir, timeoutMs: 120_000 });
  }
  const files = readdirSync(outDir);
  const find = (prefix: RegExp) => {
    const f = files.find((name) => prefix.test(name));
    if (!f) throw new Error(`pnpm pack wrote no ${prefix} tarball into ${outDir} (found: ${files.join(', ')})`);
    return join(outDir, f);
  };
  return { anypg: find(/^anypg-\d/), local: find(/^anypg-local-\d/) };
}
