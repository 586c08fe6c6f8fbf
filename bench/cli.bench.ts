/**
 * CLI start-up: whole-process wall time of `capsule --version`, `--help` and a few commands that
 * load one area, from spawn to exit, several runs each (median, minimum, 90th percentile), next
 * to `node -e 0` (Node's own start-up on this machine). Target: --version and --help in ≤ 100 ms.
 * CAPSULE_BENCH_CLI=path/to/capsule.js measures another build (the figures before lazy loading).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { markdownTable, writePerformanceSection } from './report';

const root = join(import.meta.dirname, '..');
const cli = process.env.CAPSULE_BENCH_CLI ?? join(root, 'packages/cli/bin/capsule.js');
const runs = Number(process.env.CAPSULE_BENCH_RUNS ?? 21);
const targetMs = 100;

/** Wall time of one process in ms. */
function timeOnce(argv: readonly string[]): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, argv, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  const elapsed = performance.now() - started;
  if (result.status !== 0) throw new Error(`${argv.join(' ')} exited ${result.status}: ${result.stderr}`);
  return elapsed;
}

function measure(argv: readonly string[]) {
  timeOnce(argv); // warm the page cache
  const times = Array.from({ length: runs }, () => timeOnce(argv)).sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return { medianMs: at(0.5), minMs: times[0]!, p90Ms: at(0.9) };
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
    const { medianMs, minMs, p90Ms } = measure(entry.argv);
    const verdict = entry.target === undefined ? '' : medianMs <= entry.target ? 'met' : 'missed';
    rows.push([entry.name, medianMs.toFixed(0), minMs.toFixed(0), p90Ms.toFixed(0), verdict]);
    process.stdout.write(
      `${entry.name}: median ${medianMs.toFixed(1)} ms (min ${minMs.toFixed(1)}, p90 ${p90Ms.toFixed(1)})\n`,
    );
  }
  if (process.env.CAPSULE_BENCH_CLI) return; // a comparison run: not the repository's figures
  writePerformanceSection(
    'cli',
    'CLI start-up',
    'npm run bench -- cli',
    `Whole process, spawn to exit, ${runs} runs per line after one warm-up (median, minimum and 90th
percentile in ms). Target: \`--version\` and \`--help\` in ≤ ${targetMs} ms (median). The load
average of the machine at the time matters: compare with the \`node -e 0\` line of the same run.

${markdownTable(['command', 'median ms', 'min ms', 'p90 ms', 'target ≤ 100 ms'], rows)}`,
  );
}
