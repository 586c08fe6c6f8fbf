/**
 * `capsule lab up | status | exec | down`: a whole Capsule topology on this machine. As root, in
 * network namespaces with the real daemons (the lab returns once everything is registered; `down`
 * from any process removes it); without root, in this one process on the in-process MemoryNetwork
 * (`up` then stays in the foreground until Ctrl-C).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  canBuildNamespaces,
  defaultTopologyYaml,
  LabError,
  type LabStatus,
  labDown,
  labExec,
  labStatus,
  netnsLabUp,
  parseTopology,
  startMemoryLab,
  type Topology,
} from '@capsule/lab';
import Table from 'cli-table3';
import type { Command } from 'commander';
import type { CliIo } from '../io';

/** The lab's data dir: --data-dir, else $CAPSULE_LAB_DIR, else .capsule/lab under the cwd. */
export function labDataDir(io: CliIo, option: string | undefined): string {
  return resolve(io.cwd, option ?? io.env.CAPSULE_LAB_DIR ?? '.capsule/lab');
}

/** The CLI entry the daemons run from: $CAPSULE_CLI, this process's entry, or the repository's. */
export function cliEntry(io: CliIo): string {
  const candidates = [
    io.env.CAPSULE_CLI,
    process.argv[1]?.endsWith('capsule.js') ? process.argv[1] : undefined,
    join(io.cwd, 'packages/cli/bin/capsule.js'),
    resolve(dirname(new URL(import.meta.url).pathname), '../bin/capsule.js'),
    resolve(dirname(new URL(import.meta.url).pathname), '../../bin/capsule.js'),
  ];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return resolve(candidate);
  throw new LabError('LAB_COMMAND_FAILED', 'cannot find packages/cli/bin/capsule.js: set CAPSULE_CLI');
}

/** Reads --topology FILE, or the embedded default (examples/lab/default.yaml). */
export function loadTopology(io: CliIo, file: string | undefined): Topology {
  if (!file) return parseTopology(defaultTopologyYaml);
  let text: string;
  try {
    text = readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (error) {
    throw new LabError('LAB_BAD_TOPOLOGY', `cannot read ${file}: ${(error as Error).message}`);
  }
  return parseTopology(text);
}

/** Renders `lab status` as a table. */
export function formatStatus(status: LabStatus): string {
  const table = new Table({
    head: ['node', 'kind', 'address', 'registered', 'running', 'host id'],
    style: { head: [], border: [] },
  });
  for (const node of status.nodes)
    table.push([
      node.name,
      node.kind,
      node.address,
      node.registered ? 'yes' : 'no',
      node.running ? `yes (pid ${node.pid})` : 'no',
      node.hostId ?? '',
    ]);
  const controller = status.controller
    ? `controller API ${status.controller.northboundUrl}/api/v1 (console ${status.controller.northboundUrl}/)${status.controller.reachable ? '' : ' — unreachable'}\n` +
      (status.controller.caSha256 ? `controller certificate sha256 ${status.controller.caSha256}\n` : '')
    : '';
  return `lab ${status.lab} (${status.mode}, up since ${status.createdAt})\n${controller}${table.toString()}\n`;
}

/** Resolves on SIGINT or SIGTERM. */
export function untilInterrupted(): Promise<NodeJS.Signals> {
  return new Promise((resolveStop) => {
    // Signal handlers do not keep the event loop alive: without this timer a process with nothing
    // else to do (the netns demo, whose lab runs in other processes) would exit here at once,
    // skipping its teardown and leaving the lab behind.
    const keepAlive = setInterval(() => {}, 1 << 30);
    const stop = (signal: NodeJS.Signals) => {
      clearInterval(keepAlive);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolveStop(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** `capsule lab …`. */
export function registerLabCommands(program: Command, io: CliIo): void {
  const lab = program
    .command('lab')
    .description('a whole Capsule topology on this machine (netns as root, else in-process)');
  lab
    .command('up')
    .description('build the topology, start every daemon, wait until all are registered')
    .option('--topology <file>', 'topology YAML (default: the embedded examples/lab/default.yaml)')
    .option('--data-dir <dir>', 'state file, configs and logs (default $CAPSULE_LAB_DIR or .capsule/lab)')
    .option('--memory', 'run in this process on the in-process network, even as root')
    .action(async (options: { topology?: string; dataDir?: string; memory?: boolean }) => {
      const topology = loadTopology(io, options.topology);
      const dataDir = labDataDir(io, options.dataDir);
      const progress = (line: string) => io.err(`  ${line}\n`);
      if (!options.memory && canBuildNamespaces()) {
        io.err(`lab ${topology.name}: network namespaces (${topology.nodes.length} nodes)\n`);
        await netnsLabUp(topology, {
          dataDir,
          cliPath: cliEntry(io),
          nodePath: process.execPath,
          env: io.env,
          progress,
        });
        io.out(formatStatus(await labStatus(dataDir)));
        io.out(
          `'capsule lab exec NODE -- CMD' runs a command in a node; 'capsule lab down' removes it all\n`,
        );
        return;
      }
      io.err(
        `lab ${topology.name}: in this process on the in-process network (${topology.nodes.length} nodes)\n`,
      );
      const memoryLab = await startMemoryLab(topology, { dataDir, progress });
      try {
        io.out(formatStatus(await labStatus(dataDir)));
        io.out('the lab lives in this process: Ctrl-C (or capsule lab down) stops it\n');
        await untilInterrupted();
      } finally {
        await memoryLab.stop();
        io.err('lab stopped\n');
      }
    });
  lab
    .command('status')
    .description('every node: kind, address, registered, process')
    .option(
      '--json',
      'print JSON: {"lab","mode","controller","nodes":[{"name","kind","registered","address",…}]}',
    )
    .option('--data-dir <dir>', 'the lab data dir')
    .action(async (options: { json?: boolean; dataDir?: string }) => {
      const status = await labStatus(labDataDir(io, options.dataDir));
      io.out(options.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
      if (status.nodes.some((node) => !node.registered)) io.exitCode = 1;
    });
  lab
    .command('exec')
    .description('run a command inside a node (netns lab): capsule lab exec h1 -- ping -c1 10.77.0.3')
    .argument('<node>', 'node name')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('--data-dir <dir>', 'the lab data dir')
    .action((node: string, command: string[], options: { dataDir?: string }) => {
      io.exitCode = labExec(labDataDir(io, options.dataDir), node, command);
    });
  lab
    .command('down')
    .description(
      'stop every process, delete namespaces and links, remove the data dir; check nothing is left',
    )
    .option('--data-dir <dir>', 'the lab data dir')
    .option('--keep-logs', 'keep the daemons’ log files in the data dir')
    .action(async (options: { dataDir?: string; keepLogs?: boolean }) => {
      const report = await labDown(labDataDir(io, options.dataDir), { keepLogs: options.keepLogs ?? false });
      if (report.leftovers.length > 0)
        throw new LabError('LAB_LEFTOVERS', `could not remove: ${report.leftovers.join(', ')}`);
      io.out(
        `lab down: ${report.processesStopped} processes stopped, ${report.namespacesDeleted} namespaces and ` +
          `${report.linksDeleted} links deleted, nothing left\n`,
      );
      for (const change of report.sysctlsRestored) io.out(`sysctl restored: ${change}\n`);
    });
}
