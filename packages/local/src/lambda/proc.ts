// What the kernel says about a process. Linux exposes it in /proc; elsewhere we only know
// whether a pid exists (kill 0), which is enough for the runner but not for the freeze checks.
import { readdirSync, readFileSync } from 'node:fs';

/** The one-letter state of a process (R, S, D, T stopped, Z zombie, ...), or undefined if it is gone or unknown. */
export function processState(pid: number): string | undefined {
  return stateAt(`/proc/${pid}/stat`);
}

function stateAt(path: string): string | undefined {
  try {
    const stat = readFileSync(path, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) || undefined;
  } catch {
    return undefined;
  }
}

/** The states of every thread of a process (empty when it is gone or /proc is missing). */
export function threadStates(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`)
      .map((tid) => stateAt(`/proc/${pid}/task/${tid}/stat`))
      .filter((s): s is string => s !== undefined);
  } catch {
    return [];
  }
}

/**
 * True when every thread of the process is stopped (or the process is gone). A group stop reaches
 * the threads one by one: the main thread can show T while a worker thread is still running.
 */
export function allThreadsStopped(pid: number): boolean {
  const states = threadStates(pid);
  return states.every((s) => s === 'T' || s === 't' || s === 'Z' || s === 'X');
}

/** True while the process exists and is not a zombie (a zombie has exited; only its exit status is left). */
export function isRunning(pid: number): boolean {
  const state = processState(pid);
  if (state !== undefined) return state !== 'Z' && state !== 'X';
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Peak resident memory (VmHWM) in MiB, for the REPORT line; undefined where /proc is missing. */
export function peakMemoryMb(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Math.ceil(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether this platform lets us read process states (Linux). */
export const canReadProcessState = process.platform === 'linux';
