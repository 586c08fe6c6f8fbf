/**
 * `capsule demo`: the newcomer's first command. As root with ip, ping, python3, curl and iperf3
 * (the default when they are there, or --netns) it brings the default lab up in network namespaces
 * (controller, engine and agent daemons with TUN devices) and runs each use case with real
 * applications (ping, iperf3, curl, python3 UDP and HTTP) in the hosts' namespaces. Otherwise (or with --in-process) it brings the same lab up
 * in this process on the in-process network (the real controller with SQLite, engines and agents)
 * and drives real packets through the agents and engines.
 * Either way it prints a table of what each use case showed, then leaves the controller's API
 * running until Ctrl-C (or tears down at once with --exit), and checks nothing is left behind.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  canBuildNamespaces,
  connectNetnsLab,
  defaultTopologyYaml,
  LabError,
  type LabState,
  labDown,
  listUseCases,
  netnsLabUp,
  parseTopology,
  runNetnsUseCases,
  runUseCase,
  startMemoryLab,
  type Topology,
  type UseCase,
  type UseCaseResult,
} from '@capsule/lab';
import Table from 'cli-table3';
import type { Command } from 'commander';
import type { CliIo } from '../io';
import { cliEntry, untilInterrupted } from './lab';

/** The tools the netns demo runs in the namespaces. */
const netnsTools = ['ip', 'ping', 'python3', 'curl', 'iperf3'] as const;

/** Why the netns lab cannot run here (not root, a tool missing), or undefined when it can. */
export function netnsUnavailable(io: CliIo): string | undefined {
  if (!canBuildNamespaces()) return 'not root';
  const missing = netnsTools.filter(
    (tool) =>
      spawnSync('sh', ['-c', `command -v ${tool}`], { env: { ...process.env, ...io.env } }).status !== 0,
  );
  return missing.length > 0 ? `${missing.join(', ')} not found` : undefined;
}

/** Finds examples/use-cases: --use-cases, else under the cwd, else beside the CLI bundle's repository. */
function useCasesDir(io: CliIo, option: string | undefined): string {
  const here = dirname(new URL(import.meta.url).pathname);
  const candidates = option
    ? [resolve(io.cwd, option)]
    : [
        join(io.cwd, 'examples/use-cases'),
        resolve(here, '../../../examples/use-cases'),
        resolve(here, '../../../../examples/use-cases'),
      ];
  for (const candidate of candidates) if (existsSync(candidate)) return candidate;
  throw new LabError('LAB_BAD_USE_CASE', `no examples/use-cases found (looked in ${candidates.join(', ')})`);
}

/** The results table. */
export function formatResults(results: readonly UseCaseResult[]): string {
  const table = new Table({
    head: ['use case', 'result', 'what it showed'],
    style: { head: [], border: [] },
    colWidths: [22, 8, 90],
    wordWrap: true,
  });
  for (const result of results)
    table.push([
      result.name,
      result.passed ? 'PASS' : 'FAIL',
      result.error
        ? `not run: ${result.error}`
        : result.steps.map((step) => `${step.passed ? '✓' : '✗'} ${step.step} — ${step.detail}`).join('\n'),
    ]);
  return `${table.toString()}\n`;
}

/** `capsule demo`. */
export function registerDemoCommands(program: Command, io: CliIo): void {
  program
    .command('demo')
    .description('bring up a lab, run every use case with real traffic, print what it showed')
    .option('--exit', 'tear down when the table is printed instead of waiting for Ctrl-C')
    .option(
      '--port <port>',
      'in-process lab: the controller API port on 127.0.0.1 (0: any free port; the netns lab uses 8700 on its bridge)',
      '8700',
    )
    .option('--use-cases <dir>', 'the use cases directory (default: examples/use-cases)')
    .option(
      '--netns',
      'run the lab in network namespaces with real daemons and applications (the default as root with ip, ping, python3, curl, iperf3)',
    )
    .option('--in-process', 'run the lab in this process on the simulated network (no root needed)')
    .action(
      async (options: {
        exit?: boolean;
        port: string;
        useCases?: string;
        inProcess?: boolean;
        netns?: boolean;
      }) => {
        const useCases = listUseCases(useCasesDir(io, options.useCases));
        const topology = parseTopology(defaultTopologyYaml);
        if (options.netns && options.inProcess)
          throw new LabError('LAB_BAD_OPTION', '--netns and --in-process exclude each other');
        const why = options.inProcess ? '--in-process' : netnsUnavailable(io);
        if (why !== undefined && options.netns)
          throw new LabError('LAB_NEEDS_ROOT', `--netns: the netns lab cannot run here (${why})`);
        if (why === undefined) await netnsDemo(io, topology, useCases, Boolean(options.exit));
        else {
          io.err(
            why === '--in-process'
              ? 'capsule demo: in-process lab (--in-process)\n'
              : `capsule demo: in-process lab (${why}; the netns lab needs root and ${netnsTools.join(', ')})\n`,
          );
          await memoryDemo(io, topology, useCases, options);
        }
      },
    );
}

const countOf = (topology: Topology, kind: string) =>
  topology.nodes.filter((node) => node.kind === kind).length;

/** Prints the table, the tally and the controller's URL, certificate pin and login; sets the exit code. */
function report(io: CliIo, results: readonly UseCaseResult[], controller: LabState['controller']): void {
  const { northboundUrl: url, adminPassword, caSha256 } = controller!;
  io.out(formatResults(results));
  const passed = results.filter((r) => r.passed).length;
  io.out(`${passed} of ${results.length} use cases passed\n`);
  if (passed < results.length) io.exitCode = 1;
  io.out(
    `controller API ${url}/api/v1 (OpenAPI ${url}/api/v1/openapi.json, metrics ${url}/metrics)\n` +
      `web console ${url}/console/\n` +
      `admin login: domain default, user admin, password ${adminPassword}\n` +
      (caSha256
        ? `controller certificate sha256 ${caSha256} (its own, self-signed): capsule login --url ${url} --ca-sha256 ${caSha256}\n`
        : ''),
  );
}

/** The demo on the netns lab: real daemons in namespaces, real applications, torn down at the end. */
async function netnsDemo(io: CliIo, topology: Topology, useCases: readonly UseCase[], exit: boolean) {
  const dataDir = mkdtempSync(join(tmpdir(), 'capsule-demo-'));
  const progress = (line: string) => io.err(`  ${line}\n`);
  io.err(
    `capsule demo: lab '${topology.name}' in network namespaces (controller, ${countOf(topology, 'engine')} engine daemons, ${countOf(topology, 'host')} agent daemons with TUN devices)\n`,
  );
  // Ctrl-C while the lab comes up or the use cases run: stop at the next step, then tear down.
  let interrupted = false;
  const interrupt = () => {
    interrupted = true;
    io.err('interrupted: tearing down after the current step\n');
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  try {
    const state = await netnsLabUp(topology, {
      dataDir,
      cliPath: cliEntry(io),
      nodePath: process.execPath,
      env: io.env,
      progress,
    });
    const lab = await connectNetnsLab(dataDir, state);
    const results: UseCaseResult[] = [];
    for (const [index, useCase] of useCases.entries()) {
      if (interrupted) break;
      io.err(`[${index + 1}/${useCases.length}] ${useCase.name}: ${useCase.title}\n`);
      results.push(...(await runNetnsUseCases(lab, [useCase], progress)));
    }
    if (interrupted) {
      io.exitCode = 130;
      return;
    }
    report(io, results, state.controller);
    io.out(`the controller is reachable from this machine through the lab bridge (${topology.underlay})\n`);
    if (!exit) {
      io.out('the lab keeps running: Ctrl-C stops it and removes it\n');
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
      await untilInterrupted();
    }
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    io.err('tearing down the netns lab\n');
    const teardown = await labDown(dataDir);
    rmSync(dataDir, { recursive: true, force: true });
    if (teardown.leftovers.length > 0) {
      io.err(`left behind: ${teardown.leftovers.join(', ')}\n`);
      io.exitCode = 1;
    } else
      io.err(
        `lab removed: ${teardown.processesStopped} daemons stopped, ${teardown.namespacesDeleted} namespaces and ${teardown.linksDeleted} links deleted, nothing left\n`,
      );
    for (const change of teardown.sysctlsRestored) io.err(`sysctl restored: ${change}\n`);
  }
}

/** The demo on the in-process lab (no root needed). */
async function memoryDemo(
  io: CliIo,
  topology: Topology,
  useCases: readonly UseCase[],
  options: { exit?: boolean; port: string },
) {
  const dataDir = mkdtempSync(join(tmpdir(), 'capsule-demo-'));
  const progress = (line: string) => io.err(`  ${line}\n`);
  io.err(
    `capsule demo: lab '${topology.name}' in this process (controller, ${countOf(topology, 'engine')} engines, ${countOf(topology, 'host')} hosts)\n`,
  );
  const lab = await startMemoryLab(topology, { dataDir, progress, northboundPort: Number(options.port) });
  try {
    const results: UseCaseResult[] = [];
    for (const [index, useCase] of useCases.entries()) {
      io.err(`[${index + 1}/${useCases.length}] ${useCase.name}: ${useCase.title}\n`);
      results.push(await runUseCase(lab, useCase, progress));
    }
    report(io, results, lab.state.controller);
    if (!options.exit) {
      io.out('the lab keeps running: Ctrl-C stops it\n');
      await untilInterrupted();
    }
  } finally {
    await lab.stop();
    io.err('lab stopped, nothing left\n');
  }
}
