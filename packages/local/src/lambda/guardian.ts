// The container's guardian: a tiny Node process between the runner and the function's process.
//
// A frozen (SIGSTOPped) process cannot notice anything, so it cannot watch for its owner's death
// itself; and Node has no "kill me when my parent dies" (PR_SET_PDEATHSIG). The guardian can: it
// holds the read end of a pipe from the runner, and when the runner goes away for any reason
// (close(), a crash, SIGKILL), the pipe reaches EOF and the guardian SIGKILLs the function's whole
// process group (SIGKILL also ends a stopped process), waits for it, and exits.
//
// The function runs in its own process group (detached), so the runner can freeze and thaw
// everything the function started with one signal, as Lambda freezes the whole sandbox.
// Its stdout and stderr are the guardian's own (pipes to the runner): no copying in between.
// The guardian reports on fd 3, one JSON object a line: {"pid":N} once spawned, then
// {"exit":{"code":C,"signal":S}} when the function's process has ended.
//
// Its configuration is the first line of its stdin (helper-process.ts), never argv, which every
// user of the machine can read: { node, args, env, cwd }, where env (the function's environment,
// DATABASE_URL and credentials included) is given to the function's process only.
import { HELPER_CONFIG_READER } from '../helper-process.js';

export const CONTAINER_GUARDIAN_SOURCE = `
const { spawn } = require('node:child_process');
const { writeSync } = require('node:fs');
${HELPER_CONFIG_READER}
function report(msg) {
  try { writeSync(3, JSON.stringify(msg) + '\\n'); } catch {}
}
let child;
function killAll() {
  if (!child) process.exit(0);
  if (child.pid === undefined) return;
  try { process.kill(-child.pid, 'SIGKILL'); } catch {}
  try { child.kill('SIGKILL'); } catch {}
}
function start(cfg) {
  try {
    child = spawn(cfg.node, cfg.args, { cwd: cfg.cwd, env: cfg.env, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  } catch (err) {
    report({ spawnError: String(err && err.message || err) });
    process.exit(1);
  }
  child.on('error', (err) => {
    report({ spawnError: String(err && err.message || err) });
    process.exit(1);
  });
  let pidReported = false;
  const reportPid = () => {
    if (pidReported || child.pid === undefined) return;
    pidReported = true;
    report({ pid: child.pid });
  };
  // (A delay only in tests: the order a busy machine can make.)
  if (cfg.reportDelayMs) setTimeout(reportPid, cfg.reportDelayMs);
  else reportPid();
  child.on('exit', (code, signal) => {
    reportPid();
    // Whatever the function left behind in its group goes too.
    try { process.kill(-child.pid, 'SIGKILL'); } catch {}
    report({ exit: { code, signal } });
    process.exit(0);
  });
}
readConfig(start, killAll);
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, killAll);
`;
