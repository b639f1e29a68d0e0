// The tarballs as npm would publish them: what is in them, what their package.json says, and what
// publint (--strict) and Are the Types Wrong (ESM-only profile) find.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { exec, run } from '../src/exec.js';
import type { Tarballs } from '../src/pack.js';
import { clientDir, localDir, repoRoot, tool } from '../src/paths.js';

const unpacked: Record<string, string> = {};
const scratch = mkdtempSync(join(tmpdir(), 'anypg-consumer-meta-'));

beforeAll(async () => {
  const tarballs = inject('tarballs');
  for (const key of ['anypg', 'local'] as Array<keyof Tarballs>) {
    const dir = join(scratch, key);
    await run('mkdir', ['-p', dir], { cwd: scratch });
    await run('tar', ['xzf', tarballs[key], '-C', dir], { cwd: scratch });
    unpacked[key] = join(dir, 'package');
  }
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

/** Every file path a package.json `exports` value names (every condition, every subpath). */
function exportTargets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(exportTargets);
  return [];
}

describe.each([
  ['anypg', 'anypg', clientDir],
  ['@anypg/local', 'local', localDir],
])('the %s tarball', (name, key, sourceDir) => {
  const dir = () => unpacked[key]!;
  const manifest = () => JSON.parse(readFileSync(join(dir(), 'package.json'), 'utf8')) as Record<string, unknown>;

  it('has the metadata npm shows: license file, repository, homepage, bugs, keywords, public access', () => {
    const pkg = manifest();
    expect(pkg.name).toBe(name);
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(join(dir(), 'LICENSE'), 'utf8')).toBe(readFileSync(join(repoRoot, 'LICENSE'), 'utf8'));
    expect(pkg.repository).toMatchObject({ type: 'git', url: expect.stringMatching(/^git\+https:/) });
    expect(pkg.homepage).toMatch(/^https:/);
    expect(pkg.bugs).toMatchObject({ url: expect.stringMatching(/^https:/) });
    expect((pkg.keywords as string[]).length).toBeGreaterThan(3);
    expect(pkg.publishConfig).toMatchObject({ access: 'public' });
  });

  it('exports only files it ships, under no workspace-only condition', () => {
    const pkg = manifest();
    expect(JSON.stringify(pkg.exports)).not.toContain('anypg-source');
    expect(JSON.stringify(pkg)).not.toContain('workspace:');
    for (const target of exportTargets(pkg.exports)) expect(existsSync(join(dir(), target)), target).toBe(true);
    // The workspace's exports are the published ones plus the source condition, nothing else.
    const workspace = JSON.parse(readFileSync(join(sourceDir, 'package.json'), 'utf8')) as Record<string, unknown>;
    const strip = (v: unknown): unknown =>
      v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v)
              .filter(([k]) => k !== 'anypg-source')
              .map(([k, x]) => [k, strip(x)]),
          )
        : v;
    expect(strip(workspace.exports)).toEqual(pkg.exports);
  });

  it('ships source maps that carry their sources, and declaration maps that point at shipped files', () => {
    const all = files(dir());
    const maps = all.filter((f) => f.endsWith('.js.map'));
    const declMaps = all.filter((f) => f.endsWith('.d.ts.map'));
    expect(maps.length).toBeGreaterThan(5);
    expect(declMaps.length).toBe(maps.length);
    for (const f of [...maps, ...declMaps]) {
      const map = JSON.parse(readFileSync(join(dir(), f), 'utf8')) as { sources: string[]; sourcesContent?: string[] };
      for (const source of map.sources) {
        expect(existsSync(resolve(dirname(join(dir(), f)), source)), `${f} -> ${source}`).toBe(true);
      }
      if (f.endsWith('.js.map')) expect(map.sourcesContent?.length, f).toBe(map.sources.length);
    }
    expect(all.some((f) => f.startsWith('test/') || f.includes('.test.'))).toBe(false);
  });

  it('passes publint --strict', async () => {
    const [command, ...pre] = tool('publint');
    const r = await exec(command, [...pre, '--strict', dir()], { cwd: scratch });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('All good');
  });

  it('passes Are the Types Wrong with the ESM-only profile', async () => {
    const [command, ...pre] = tool('@arethetypeswrong/cli', 'attw');
    const tarball = inject('tarballs')[key as keyof Tarballs];
    const r = await exec(command, [...pre, '--profile', 'esm-only', '--format', 'ascii', tarball], { cwd: scratch });
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});
