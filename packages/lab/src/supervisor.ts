/**
 * The process supervisor: starts a daemon detached (so it outlives `lab up`) with its output in a
 * log file, waits for a readiness condition while watching that it has not died, and stops
 * processes with SIGTERM, then SIGKILL after a grace period. A pid is only signalled while
 * /proc/<pid>/cmdline still matches what was started, so a reused pid is never hit.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { LabError } from './errors';
import type { ProcessRecord } from './lab-state';

/** Starts `argv` detached, stdout and stderr appended to `logFile`; resolves to its record. */
export function startProcess(
  node: string,
  argv: readonly string[],
  logFile: string,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): ProcessRecord {
  const fd = openSync(logFile, 'a', 0o600);
  try {
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...env },
      cwd,
    });
    if (child.pid === undefined) throw new LabError('LAB_COMMAND_FAILED', `cannot start ${argv.join(' ')}`);
    child.unref();
    return { node, pid: child.pid, argv: [...argv], logFile };
  } finally {
    closeSync(fd);
  }
}

/** True when the process of `record` is alive and still the one the lab started. */
export function isRunning(record: ProcessRecord): boolean {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8');
  } catch {
    return false;
  }
  // `ip netns exec NS cmd…` execs cmd in place: the cmdline is then cmd…, the tail of argv.
  const parts = cmdline.split('\0').filter(Boolean);
  if (parts.length === 0) return false; // a zombie
  const tail = record.argv.slice(record.argv.length - parts.length);
  if (parts.length > record.argv.length || tail.join('\0') !== parts.join('\0')) return false;
  try {
    const status = readFileSync(`/proc/${record.pid}/status`, 'utf8');
    return !/^State:\s+Z/m.test(status);
  } catch {
    return false;
  }
}

/**
 * True when `pid` exists and is no zombie. Used right after start, when /proc/<pid>/cmdline may
 * still be the parent's (between fork and exec), so isRunning's cmdline check would misfire.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The last `lines` lines of a log file (for error messages). */
export function logTail(logFile: string, lines = 15): string {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Polls `isReady` every `intervalMs` until it resolves true; fails when the process exits first
 * (with the log's tail) or after `timeoutMs`.
 */
export async function waitUntilReady(
  record: ProcessRecord,
  what: string,
  isReady: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isAlive(record.pid))
      throw new LabError(
        'LAB_PROCESS_EXITED',
        `${record.node} exited before ${what}; the end of ${record.logFile}:\n${logTail(record.logFile)}`,
      );
    if (await isReady().catch(() => false)) return;
    if (Date.now() > deadline)
      throw new LabError(
        'LAB_TIMEOUT',
        `${record.node}: no ${what} after ${timeoutMs} ms; the end of ${record.logFile}:\n${logTail(record.logFile)}`,
      );
    await sleep(intervalMs);
  }
}

/** Stops processes: SIGTERM to all, then SIGKILL to those still alive after `graceMs`. */
export async function stopProcesses(records: readonly ProcessRecord[], graceMs = 5000): Promise<void> {
  const alive = records.filter(isRunning);
  for (const record of alive) signal(record.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive.some(isRunning) && Date.now() < deadline) await sleep(50);
  for (const record of alive.filter(isRunning)) signal(record.pid, 'SIGKILL');
  const killDeadline = Date.now() + 2000;
  while (alive.some(isRunning) && Date.now() < killDeadline) await sleep(20);
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}
