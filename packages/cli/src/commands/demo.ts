/**
 * `capsule demo`: the newcomer's first command. Brings the default lab up in this process (a real
 * controller with SQLite, the engines and the hosts' agents of examples/lab/default.yaml, on the in-process network), applies
 * each use case of examples/use-cases, drives real packets through the agents and engines, prints
 * a table of what each showed, then leaves the controller's API running until Ctrl-C
 * (or tears down at once with --exit).
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  defaultTopologyYaml,
  LabError,
  listUseCases,
  parseTopology,
  runUseCase,
  startMemoryLab,
  type UseCaseResult,
} from '@capsule/lab';
import Table from 'cli-table3';
import type { Command } from 'commander';
import type { CliIo } from '../io';
import { untilInterrupted } from './lab';

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
    .option('--port <port>', 'the controller API port on 127.0.0.1 (0: any free port)', '8700')
    .option('--use-cases <dir>', 'the use cases directory (default: examples/use-cases)')
    .action(async (options: { exit?: boolean; port: string; useCases?: string }) => {
      const useCases = listUseCases(useCasesDir(io, options.useCases));
      const topology = parseTopology(defaultTopologyYaml);
      const dataDir = mkdtempSync(join(tmpdir(), 'capsule-demo-'));
      const progress = (line: string) => io.err(`  ${line}\n`);
      const count = (kind: string) => topology.nodes.filter((node) => node.kind === kind).length;
      io.err(
        `capsule demo: lab '${topology.name}' in this process (controller, ${count('engine')} engines, ${count('host')} hosts)\n`,
      );
      const lab = await startMemoryLab(topology, { dataDir, progress, northboundPort: Number(options.port) });
      try {
        const results: UseCaseResult[] = [];
        for (const [index, useCase] of useCases.entries()) {
          io.err(`[${index + 1}/${useCases.length}] ${useCase.name}: ${useCase.title}\n`);
          results.push(await runUseCase(lab, useCase, progress));
        }
        io.out(formatResults(results));
        const passed = results.filter((r) => r.passed).length;
        io.out(`${passed} of ${results.length} use cases passed\n`);
        if (passed < results.length) io.exitCode = 1;
        const url = lab.state.controller!.northboundUrl;
        io.out(
          `controller API ${url}/api/v1 (OpenAPI ${url}/api/v1/openapi.json, metrics ${url}/metrics)\n` +
            `admin login: domain default, user admin, password ${lab.state.controller!.adminPassword}\n`,
        );
        if (!options.exit) {
          io.out('the lab keeps running: Ctrl-C stops it\n');
          await untilInterrupted();
        }
      } finally {
        await lab.stop();
        io.err('lab stopped, nothing left\n');
      }
    });
}
