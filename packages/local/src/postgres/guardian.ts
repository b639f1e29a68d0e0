// The guardian: a tiny Node process between the caller and the postmaster.
//
// PostgreSQL does not notice when the process that started it dies, so a test runner killed with
// SIGKILL would leave an orphan server (and its temp folder) behind. The guardian holds the read
// end of a pipe from the caller: when the caller goes away, for any reason, the pipe reaches EOF
// and the guardian asks the postmaster for a fast shutdown (SIGINT), waits for it, removes an
// ephemeral data folder, and exits. `stop()` is the same path: the caller closes the pipe.
//
// It runs with `node -e` so that it works both from the TypeScript sources (tests) and from dist.
// Its configuration comes as the first line of stdin (helper-process.ts; never argv, which every
// user can read): a JSON object { bin, args, env, uid?, gid?, removeDir?, stopSignal? }. `env` is
// the whole environment of the server process (the caller's is not passed on). stopSignal
// (default SIGINT, PostgreSQL's fast shutdown) is for servers whose fast exit is another signal.
import { HELPER_CONFIG_READER } from '../helper-process.js';

export const GUARDIAN_SOURCE = `
const { spawn } = require('node:child_process');
const { rmSync } = require('node:fs');
${HELPER_CONFIG_READER}
let cfg;
let child;
let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  if (!child) process.exit(0);
  child.kill(cfg.stopSignal || 'SIGINT');
  // A fast shutdown takes well under a second; if it hangs, make sure nothing survives.
  setTimeout(() => child.kill('SIGQUIT'), 10000).unref();
}
function start(config) {
  cfg = config;
  const ids = cfg.uid === undefined ? {} : { uid: cfg.uid, gid: cfg.gid };
  child = spawn(cfg.bin, cfg.args, { stdio: ['ignore', 'inherit', 'inherit'], env: cfg.env, ...ids });
  child.on('exit', (code, signal) => {
    if (cfg.removeDir) {
      try { rmSync(cfg.removeDir, { recursive: true, force: true }); } catch {}
    }
    process.exit(code ?? (signal ? 1 : 0));
  });
}
readConfig(start, stop);
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, stop);
`;
