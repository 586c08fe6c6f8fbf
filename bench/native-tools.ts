/**
 * The native UDP tools of the engine benchmark (bench/native/udp-bench.cc): built here with g++ from
 * source, once per source version, into the OS temp directory; started as child processes, each
 * optionally pinned to one CPU with taskset.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const source = join(import.meta.dirname, 'native', 'udp-bench.cc');

/** Compiles udp-bench.cc (g++ -O2) unless this version is built already; returns the binary's path. */
export function buildUdpBench(): string {
  const text = readFileSync(source);
  const version = createHash('sha256').update(text).digest('hex').slice(0, 12);
  const binary = join(tmpdir(), `capsule-udp-bench-${version}`);
  if (!existsSync(binary))
    execFileSync('g++', ['-O2', '-std=c++17', '-o', binary, source], { stdio: 'inherit' });
  return binary;
}

/** Whether `taskset` can pin processes here. */
export function canPin(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
}

/** Pins every thread of process `pid` to `cpus` (taskset's list, as `0,1`). */
export function pinProcess(pid: number, cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/** A running tool: its JSON output lines in order. */
export interface Tool {
  readonly child: ChildProcess;
  /** The next JSON line it prints. */
  next(): Promise<Record<string, number>>;
  stop(): void;
}

/** Starts `command args` (pinned to `cpu` when given) and reads its stdout as JSON lines. */
export function startProcess(command: string, args: readonly string[], cpu?: number): Tool {
  const [file, argv] =
    cpu === undefined ? [command, args] : ['taskset', ['-c', String(cpu), command, ...args]];
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Record<string, number>[] = [];
  const waiting: ((line: Record<string, number>) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    const value = JSON.parse(line) as Record<string, number>;
    const take = waiting.shift();
    if (take) take(value);
    else lines.push(value);
  });
  return {
    child,
    next: () =>
      new Promise((resolve) => {
        const line = lines.shift();
        if (line) resolve(line);
        else waiting.push(resolve);
      }),
    stop: () => child.kill('SIGTERM'),
  };
}

/** Writes datagrams in the blaster's file format (u16 little-endian length, bytes); returns the path. */
export function writeDatagramFile(name: string, datagrams: readonly Uint8Array[]): string {
  let size = 0;
  for (const d of datagrams) size += 2 + d.length;
  const out = Buffer.alloc(size);
  let at = 0;
  for (const d of datagrams) {
    out.writeUInt16LE(d.length, at);
    out.set(d, at + 2);
    at += 2 + d.length;
  }
  const path = join(tmpdir(), `capsule-bench-${process.pid}-${name}.bin`);
  writeFileSync(path, out);
  return path;
}
