/**
 * The native tools of the benchmarks, built here with g++ from source (bench/native), once per
 * source version, into the OS temp directory: the engine benchmark's UDP tools (udp-bench.cc) and
 * the wake benchmark's echo and client (wake.cc) and its Node addon (wake-addon.cc). Tools are
 * started as child processes, each optionally pinned to one CPU with taskset.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * Compiles bench/native/`file` with g++ (-O2, C++17, then `flags`) unless this version — of it,
 * of the headers it includes from bench/native (`headers`) and of the flags — is built already.
 */
function buildOnce(
  file: string,
  name: string,
  {
    flags = [],
    headers = [],
    suffix = '',
  }: { flags?: readonly string[]; headers?: readonly string[]; suffix?: string } = {},
): string {
  const native = join(import.meta.dirname, 'native');
  const source = join(native, file);
  const hash = createHash('sha256').update(readFileSync(source));
  for (const header of headers) hash.update(readFileSync(join(native, header)));
  const version = hash.update(flags.join(' ')).digest('hex').slice(0, 12);
  const output = join(tmpdir(), `capsule-${name}-${version}${suffix}`);
  if (!existsSync(output))
    execFileSync('g++', ['-O2', '-std=c++17', ...flags, '-o', output, source], { stdio: 'inherit' });
  return output;
}

/** Compiles udp-bench.cc unless this version is built already; returns the binary's path. */
export function buildUdpBench(): string {
  return buildOnce('udp-bench.cc', 'udp-bench');
}

/** Compiles wake.cc (the echo and the client) unless built already; returns the binary's path. */
export function buildWakeTool(): string {
  return buildOnce('wake.cc', 'wake', { headers: ['wake-echo.h'] });
}

/**
 * Compiles wake-addon.cc against this Node's headers (node-addon-api's and Node's own, which
 * Node's distribution puts beside its binary) unless built already; returns the addon's path, or
 * why it cannot be built.
 */
export function buildWakeAddon(): { addon: string } | { why: string } {
  const nodeHeaders = join(dirname(dirname(process.execPath)), 'include', 'node');
  if (!existsSync(join(nodeHeaders, 'node_api.h'))) return { why: `no Node headers at ${nodeHeaders}` };
  const addonApi = dirname(createRequire(import.meta.url).resolve('node-addon-api/package.json'));
  const flags = ['-shared', '-fPIC', '-DNAPI_DISABLE_CPP_EXCEPTIONS', `-I${nodeHeaders}`, `-I${addonApi}`];
  return {
    addon: buildOnce('wake-addon.cc', 'wake-addon', { flags, headers: ['wake-echo.h'], suffix: '.node' }),
  };
}

/** How the wake benchmark's echo is woken: the C process (wake.cc), or a mode of wake-addon.cc. */
export type WakeMode = 'c' | 'thread' | 'epoll' | 'uv' | 'loop';

/** Starts the echo woken by `mode`; resolves once it is bound, with its port. */
export async function startWakeEcho(
  mode: WakeMode,
  tool: string,
  addon: string,
): Promise<{ echo: Tool; port: number }> {
  const echo =
    mode === 'c'
      ? startProcess(tool, ['echo', '0'])
      : startProcess(process.execPath, [
          '-e',
          `const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(addon)});
           console.log(JSON.stringify({ ready: 1, port: m.exports.start(${JSON.stringify(mode)}, 0) }));
           setInterval(() => {}, 1 << 30);`,
        ]);
  const ready = await echo.next();
  return { echo, port: ready.port! };
}

/** What the wake client prints: its round trips in µs (none answered: no figures). */
export interface WakeTrips {
  rounds: number;
  answered: number;
  mean: number;
  p50: number;
  p90: number;
}

/** Runs the wake client: `rounds` round trips to 127.0.0.1:`port`, `gapUs` apart. */
export function wakeClient(tool: string, port: number, rounds: number, gapUs: number): WakeTrips {
  const out = execFileSync(tool, ['client', String(port), String(rounds), String(gapUs)], {
    encoding: 'utf8',
    timeout: 60_000 + rounds * (gapUs / 1000 + 1000),
  });
  return JSON.parse(out.trim()) as WakeTrips;
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
