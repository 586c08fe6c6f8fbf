/**
 * CLI start-up: whole-process wall time of `capsule --version`, `--help` and a few commands that
 * load one area, from spawn to exit, several runs each (median, minimum, 90th percentile), next
 * to `node -e 0` (Node's own start-up on this machine), wall and CPU time. Target: --version and
 * --help in ≤ 100 ms.
 * CAPSULE_BENCH_CLI=path/to/capsule.js measures another build (the figures before lazy loading).
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { markdownTable, writePerformanceSection } from './report';

const root = join(import.meta.dirname, '..');
const cli = process.env.CAPSULE_BENCH_CLI ?? join(root, 'packages/cli/bin/capsule.js');
const runs = Number(process.env.CAPSULE_BENCH_RUNS ?? 21);
const targetMs = 100;

/**
 * Wall time of one process in ms, and its CPU time (user + system, from GNU time: the figure a
 * busy machine distorts least). Undefined when the command fails (an older build without it).
 */
function timeOnce(argv: readonly string[]): { wallMs: number; cpuMs: number } | undefined {
  const started = performance.now();
  const result = spawnSync('/usr/bin/time', ['-f', '%U %S', process.execPath, ...argv], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  const wallMs = performance.now() - started;
  if (result.status !== 0) return undefined;
  const [user, system] = result.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  return { wallMs, cpuMs: ((user ?? 0) + (system ?? 0)) * 1000 };
}

function measure(argv: readonly string[]) {
  if (!timeOnce(argv)) return undefined; // also warms the page cache
  const runsDone = Array.from({ length: runs }, () => timeOnce(argv)!);
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const walls = runsDone.map((r) => r.wallMs);
  return {
    medianMs: median([...walls]),
    minMs: Math.min(...walls),
    cpuMedianMs: median(runsDone.map((r) => r.cpuMs)),
  };
}

export async function run(): Promise<void> {
  const cases: { name: string; argv: string[]; target?: number }[] = [
    { name: '`node -e 0` (Node alone)', argv: ['-e', '0'] },
    { name: '`capsule --version`', argv: [cli, '--version'], target: targetMs },
    { name: '`capsule --help`', argv: [cli, '--help'], target: targetMs },
    { name: '`capsule completion bash`', argv: [cli, 'completion', 'bash'] },
    { name: '`capsule engine --help` (loads the engine area)', argv: [cli, 'engine', '--help'] },
    {
      name: '`capsule controller check-config`',
      argv: [cli, 'controller', 'check-config', 'examples/controller.yaml'],
    },
  ];
  const rows: (string | number)[][] = [];
  for (const entry of cases) {
    const result = measure(entry.argv);
    if (!result) {
      rows.push([entry.name, 'n/a', 'n/a', 'n/a', '']);
      process.stdout.write(`${entry.name}: not available in this build\n`);
      continue;
    }
    const { medianMs, minMs, cpuMedianMs } = result;
    const verdict = entry.target === undefined ? '' : medianMs <= entry.target ? 'met' : 'missed';
    rows.push([entry.name, medianMs.toFixed(0), minMs.toFixed(0), cpuMedianMs.toFixed(0), verdict]);
    process.stdout.write(
      `${entry.name}: wall median ${medianMs.toFixed(1)} ms (min ${minMs.toFixed(1)}), CPU median ${cpuMedianMs.toFixed(0)} ms\n`,
    );
  }
  if (process.env.CAPSULE_BENCH_CLI) return; // a comparison run: not the repository's figures
  writePerformanceSection(
    'cli',
    'CLI start-up',
    'npm run bench -- cli',
    `Whole process, spawn to exit, ${runs} runs per line after one warm-up: wall time (median and
minimum) and CPU time (user + system, median, from GNU time). Target: \`--version\` and \`--help\`
in ≤ ${targetMs} ms wall (median). Load average at the start: ${loadavg()[0]!.toFixed(1)} on
${cpus().length} cores; compare with the \`node -e 0\` line of the same run.

${markdownTable(['command', 'wall median ms', 'wall min ms', 'CPU median ms', 'target ≤ 100 ms'], rows)}`,
  );
}
