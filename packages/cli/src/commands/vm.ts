import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type ConformanceResult, createConformanceMachine, registerNames, renderIsaDoc } from '@capsule/vm';
import type { Command } from 'commander';
import { CliError } from '../errors';
import type { CliIo } from '../io';
import { parseTierOption, TIER_HELP } from '../vm-tier';

const signalNames: Record<number, string> = { 4: 'SIGILL', 5: 'SIGTRAP', 7: 'SIGBUS', 11: 'SIGSEGV' };

/** `capsule vm …`: run RV32 executables on the VM (conformance machine) and generate docs/isa.md. */
export function registerVmCommands(program: Command, io: CliIo): void {
  const vm = program.command('vm').description('the RV32IMAC sandbox VM');
  vm.command('exec')
    .description(
      'run a statically linked RV32 Linux executable (as qemu-riscv32 would); exit code is its own',
    )
    .argument('<program>', 'ELF file (riscv32, static)')
    .argument('[args...]', 'arguments passed to the program')
    .option('--max-steps <n>', 'stop after this many instructions', parsePositive, 1_000_000_000)
    .option('--trace', 'print each instruction (pc, text, changed registers) to stderr')
    .option('--tier <tier>', TIER_HELP, 'interpreter')
    .action((file: string, args: string[], options: { maxSteps: number; trace?: boolean; tier: string }) => {
      const { tier, nativeTier } = parseTierOption(options.tier, 'VM_BAD_TIER');
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(resolve(io.cwd, file));
      } catch (error) {
        throw new CliError('VM_READ_FAILED', `cannot read ${file}: ${(error as Error).message}`);
      }
      const decoders = [new TextDecoder(), new TextDecoder(), new TextDecoder()];
      const previous = new Int32Array(32);
      const machine = createConformanceMachine(
        bytes,
        { args: [file, ...args], maxSteps: options.maxSteps, tier },
        {
          nativeTier,
          write: (fd, data) => {
            const text = decoders[fd]!.decode(data, { stream: true });
            if (fd === 1) io.out(text);
            else io.err(text);
          },
          trace: options.trace
            ? (pc, text, registers) => {
                const changed: string[] = [];
                for (let r = 1; r < 32; r++)
                  if (registers[r] !== previous[r]) {
                    changed.push(`${registerNames[r]}=0x${(registers[r]! >>> 0).toString(16)}`);
                    previous[r] = registers[r]!;
                  }
                io.err(
                  `${changed.length > 0 ? `  ${changed.join(' ')}\n` : ''}${pc.toString(16).padStart(8, '0')}:  ${text}\n`,
                );
              }
            : undefined,
        },
      );
      const result: ConformanceResult = machine.run();
      for (const fd of [1, 2]) {
        const rest = decoders[fd]!.decode();
        if (rest) fd === 1 ? io.out(rest) : io.err(rest);
      }
      if (result.status === 'exited') io.exitCode = result.exitCode;
      else if (result.status === 'signal') {
        io.err(
          `capsule vm: program killed by ${signalNames[result.signal] ?? result.signal} at pc 0x${result.pc.toString(16)}: ${result.reason}\n`,
        );
        io.exitCode = 128 + result.signal;
      } else {
        io.exitCode = 1;
        throw new CliError(
          'VM_STEP_LIMIT',
          `stopped after ${result.steps} instructions (--max-steps) at pc 0x${result.pc.toString(16)}`,
        );
      }
    });
  vm.command('isa-doc')
    .description('write docs/isa.md, generated from the instruction table')
    .option('--output <file>', 'where to write it', 'docs/isa.md')
    .option('--check', 'only check that the file is up to date (exit 1 if not)')
    .action((options: { output: string; check?: boolean }) => {
      const path = resolve(io.cwd, options.output);
      const text = renderIsaDoc();
      if (options.check) {
        let current = '';
        try {
          current = readFileSync(path, 'utf8');
        } catch {}
        if (current !== text)
          throw new CliError(
            'VM_ISA_DOC_STALE',
            `${options.output} is not up to date: run capsule vm isa-doc`,
          );
        io.out(`${options.output} is up to date\n`);
        return;
      }
      writeFileSync(path, text);
      io.out(`wrote ${options.output}\n`);
    });
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new CliError('VM_BAD_OPTION', `expected a positive integer, got '${value}'`);
  return n;
}
