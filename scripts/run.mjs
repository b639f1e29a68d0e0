#!/usr/bin/env node
// Runs a workspace script on any machine that has Node (even Node 20) and npm.
//
//   node scripts/run.mjs test       # typecheck, lint and every package's tests
//   node scripts/run.mjs demo       # the main job, on the embedded local defaults
//   node scripts/run.mjs provision  # only install what the tests need from the system (PgBouncer)
//
// The repo needs Node >= 22.12 and pnpm 12.4.2. When the Node running this script is older, or
// pnpm is missing, both are installed from the npm registry into ./.toolchain (about 10 s, once)
// and put first on PATH for everything spawned below. A machine that already has a recent Node
// and pnpm uses them as they are; `pnpm install && pnpm test` is then the same thing.
// Before `test`, PgBouncer (a system package, not an npm one) is installed when it is missing and
// this user can install it (apt-get as root or with passwordless sudo); otherwise one message says
// what to install and nothing runs (scripts/provision.mjs).
// Written for Node 20: no dependency, no TypeScript.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePgBouncer } from './provision.mjs';

const NODE_VERSION = '24.21.0';
const PNPM_VERSION = '12.4.2';
const MIN_NODE = [22, 12];

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const toolDir = join(root, '.toolchain');
const [script = 'test', ...rest] = process.argv.slice(2);

function log(msg) {
  process.stderr.write(`[anypg] ${msg}\n`);
}

function run(cmd, args, env, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env, ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function versionOk(v) {
  const [maj, min] = v.replace(/^v/, '').split('.').map(Number);
  return maj > MIN_NODE[0] || (maj === MIN_NODE[0] && min >= MIN_NODE[1]);
}

function has(cmd, args, env) {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', WRANGLER_SEND_METRICS: 'false' };

if (script === 'test' || script === 'provision') {
  const pgbouncer = ensurePgBouncer({ env, log });
  if (!pgbouncer.ok) {
    log(pgbouncer.message);
    process.exit(1);
  }
  if (script === 'provision') {
    log(`PgBouncer: ${pgbouncer.path}${pgbouncer.installed ? ' (installed now)' : ''}`);
    process.exit(0);
  }
}

const haveNode = versionOk(process.version);
const havePnpm = has('pnpm', ['--version'], env) === PNPM_VERSION;
if (!haveNode || !havePnpm) {
  const nodePkg = `node-${process.platform}-${process.arch}`;
  const nodeBin = join(toolDir, 'node_modules', nodePkg, 'bin');
  const pnpmBin = join(toolDir, 'node_modules', '.bin');
  if (!existsSync(join(nodeBin, 'node')) || !existsSync(join(pnpmBin, 'pnpm'))) {
    log(
      `installing Node ${NODE_VERSION} and pnpm ${PNPM_VERSION} into .toolchain/ (found Node ${process.version}${havePnpm ? '' : ', no pnpm ' + PNPM_VERSION})`,
    );
    mkdirSync(toolDir, { recursive: true });
    writeFileSync(join(toolDir, 'package.json'), '{"private":true}\n');
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const status = run(
      npm,
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        '-E',
        `${nodePkg}@${NODE_VERSION}`,
        `pnpm@${PNPM_VERSION}`,
      ],
      env,
      { cwd: toolDir },
    );
    if (status !== 0) {
      log(
        `could not install the toolchain with npm (exit ${status}). Check access to the npm registry, or install Node >= 22.12 and pnpm ${PNPM_VERSION} yourself and run: pnpm install && pnpm ${script}`,
      );
      process.exit(status);
    }
  }
  // npm finds its machine-wide settings (a CA file for a TLS-inspecting proxy, a registry mirror)
  // in <prefix>/etc/npmrc, and its prefix follows the Node that runs it: under .toolchain's Node
  // it would look in .toolchain and lose them. Keep the one this machine's npm reads.
  if (!env.NPM_CONFIG_GLOBALCONFIG && !env.npm_config_globalconfig) {
    const globalconfig = has(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['config', 'get', 'globalconfig'], env);
    if (globalconfig) env.NPM_CONFIG_GLOBALCONFIG = globalconfig;
  }
  env.PATH = [nodeBin, pnpmBin, env.PATH].join(process.platform === 'win32' ? ';' : ':');
}

// A CI run installs exactly the lockfile; a developer's run may update it.
const installArgs = ['install', ...(process.env.CI ? ['--frozen-lockfile'] : [])];
let status = run('pnpm', installArgs, env);
if (status !== 0) {
  log('pnpm install failed; see above.');
  process.exit(status);
}
status = run('pnpm', ['run', script, ...rest], env);
process.exit(status);
