// The release process, dry: on a copy of the repository's release files, a changeset is applied
// with `changeset version` (versions bumped, changelogs written, private packages left alone), then
// both packages are packed as `changeset publish` would publish them and checked with publint.
// Nothing is published and no registry is asked anything.
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { exec, run } from '../src/exec.js';
import { repoRoot, tool } from '../src/paths.js';

const copy = mkdtempSync(join(tmpdir(), 'anypg-consumer-release-'));
const version = (dir: string) =>
  (JSON.parse(readFileSync(join(copy, dir, 'package.json'), 'utf8')) as { version: string }).version;
const PUBLISHED = ['packages/client', 'packages/local'];

/** Whether `after` is above `before` by at least a bump of the given part (0 major, 1 minor, 2 patch). */
function newer(after: string, before: string, part: number): boolean {
  const a = after.split('.').map(Number);
  const b = before.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! > b[i]! && i <= part;
  return false;
}

beforeAll(async () => {
  for (const f of ['package.json', 'pnpm-workspace.yaml', 'LICENSE', '.changeset']) {
    cpSync(join(repoRoot, f), join(copy, f), { recursive: true });
  }
  symlinkSync(join(repoRoot, 'node_modules'), join(copy, 'node_modules'));
  // Every workspace package's manifest (changesets reads them all); the published ones whole.
  for (const group of ['packages', 'apps']) {
    for (const name of readdirSync(join(repoRoot, group))) {
      const dir = `${group}/${name}`;
      if (!existsSync(join(repoRoot, dir, 'package.json'))) continue;
      mkdirSync(join(copy, dir), { recursive: true });
      const files = PUBLISHED.includes(dir)
        ? ['package.json', 'dist', 'src', 'README.md', 'LICENSE', 'CHANGELOG.md']
        : ['package.json'];
      for (const f of files) cpSync(join(repoRoot, dir, f), join(copy, dir, f), { recursive: true });
      // pnpm pack turns workspace: ranges into versions by reading the linked packages.
      if (existsSync(join(repoRoot, dir, 'node_modules'))) {
        symlinkSync(join(repoRoot, dir, 'node_modules'), join(copy, dir, 'node_modules'));
      }
    }
  }
  writeFileSync(
    join(copy, '.changeset/release-dry-run.md'),
    '---\n"anypg": minor\n"@anypg/local": patch\n---\n\nA change released by the dry run.\n',
  );
  await run('git', ['init', '-q'], { cwd: copy });
});

afterAll(() => rmSync(copy, { recursive: true, force: true }));

it('changeset version bumps the published packages and writes their changelogs, private ones untouched', async () => {
  const before = {
    client: version('packages/client'),
    local: version('packages/local'),
    demo: version('apps/lambda-demo'),
  };
  await run(process.execPath, [join(repoRoot, 'node_modules/@changesets/cli/bin.js'), 'version'], { cwd: copy });
  // At least the dry run's bumps (other pending changesets may ask for more).
  expect(newer(version('packages/client'), before.client, 1)).toBe(true);
  expect(newer(version('packages/local'), before.local, 2)).toBe(true);
  expect(version('apps/lambda-demo')).toBe(before.demo);
  for (const dir of PUBLISHED) {
    expect(readFileSync(join(copy, dir, 'CHANGELOG.md'), 'utf8')).toContain('A change released by the dry run.');
  }
  expect(existsSync(join(copy, '.changeset/release-dry-run.md'))).toBe(false);
});

it('packs what changeset publish would publish, and publint --strict passes on it', async () => {
  const out = join(copy, 'out');
  mkdirSync(out);
  for (const dir of PUBLISHED) await run('pnpm', ['pack', '--pack-destination', out], { cwd: join(copy, dir) });
  const tarballs = readdirSync(out).sort();
  expect(tarballs).toEqual([`anypg-${version('packages/client')}.tgz`, `anypg-local-${version('packages/local')}.tgz`]);
  const [command, ...pre] = tool('publint');
  for (const t of tarballs) {
    const r = await exec(command, [...pre, '--strict', join(out, t)], { cwd: copy });
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }
});
