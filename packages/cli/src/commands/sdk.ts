import { readFileSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { toProgramImageTransfer } from '@capsule/api';
import {
  assemble,
  compile,
  disassemble,
  formatDiagnostic,
  formatListing,
  runMethod,
  type SimulationFixture,
  simulate,
} from '@capsule/sdk';
import {
  createProgramImage,
  decodeProgramImage,
  isBinaryProgramImage,
  type ProgramImage,
  programImageFromJson,
  programImageToJson,
} from '@capsule/wire';
import type { Command } from 'commander';
import { CliError } from '../errors';
import type { CliIo } from '../io';
import { parseTierOption, TIER_HELP } from '../vm-tier';

/**
 * The SDK's commands: `capsule compile`, `capsule asm`, `capsule disasm`, `capsule sim` and
 * `capsule sdk run`. The SDK package is pure; this module reads and writes the files.
 */
export function registerSdkCommands(program: Command, io: CliIo): void {
  const read = (file: string): Buffer => {
    try {
      return readFileSync(resolve(io.cwd, file));
    } catch (error) {
      throw new CliError('SDK_READ_FAILED', `cannot read ${file}: ${(error as Error).message}`);
    }
  };
  const write = (file: string, data: string | Uint8Array) => {
    try {
      writeFileSync(resolve(io.cwd, file), data);
    } catch (error) {
      throw new CliError('SDK_WRITE_FAILED', `cannot write ${file}: ${(error as Error).message}`);
    }
  };
  const loadImage = (file: string): ProgramImage => {
    const bytes = new Uint8Array(read(file));
    if (!isBinaryProgramImage(bytes) && !file.endsWith('.json'))
      // A raw code file (what `capsule asm` writes): no entries, no layout.
      return createProgramImage({
        name: basename(file),
        code: bytes,
        entries: [],
        data: [],
        regions: { dataBytes: 0, flowBytes: 0, contractBytes: 0, staticsBytes: 0 },
        sourceMap: [],
      });
    const result = isBinaryProgramImage(bytes)
      ? decodeProgramImage(bytes)
      : programImageFromJson(Buffer.from(bytes).toString('utf8'));
    if (!result.ok) throw new CliError('IMAGE_INVALID', `${file}: ${result.error.message}`);
    return result.value;
  };
  const failWithDiagnostics = (
    file: string,
    diagnostics: readonly Parameters<typeof formatDiagnostic>[0][],
  ) => {
    for (const d of diagnostics) io.err(`${formatDiagnostic(d, file)}\n`);
    const errors = diagnostics.filter((d) => d.severity === 'error').length;
    throw new CliError('SDK_COMPILE_FAILED', `${errors} error${errors === 1 ? '' : 's'} in ${file}`);
  };

  program
    .command('compile')
    .description('compile a microprogram (.java) into a program image (JSON)')
    .argument('<file>', 'microprogram source')
    .option('-o, --output <file>', 'image file to write (default: FILE with .json)')
    .option(
      '--format <format>',
      "image: the SDK's program image; api: the template image the controller takes (capsule apply's imageFile, POST /templates image)",
      'image',
    )
    .action((file: string, options: { output?: string; format: string }) => {
      if (options.format !== 'image' && options.format !== 'api')
        throw new CliError('CLI_BAD_OPTION', `--format is image or api, not '${options.format}'`);
      const result = compile(read(file).toString('utf8'));
      if (!result.image) return failWithDiagnostics(file, result.diagnostics);
      const output = options.output ?? `${file.replace(/\.java$/, '')}.json`;
      write(
        output,
        options.format === 'api'
          ? `${JSON.stringify(toProgramImageTransfer(result.image), null, 2)}\n`
          : programImageToJson(result.image),
      );
      io.out(
        `${output}: ${result.image.code.length} bytes of code, entries ${result.image.entries.map((e) => `${e.name}@${e.offset}`).join(', ') || 'none'}, logic hash ${result.image.logicHash}\n`,
      );
    });

  program
    .command('asm')
    .description('assemble RV32IMAC assembly (GNU syntax) into raw machine code')
    .argument('<file>', 'assembly source (.s)')
    .option('-o, --output <file>', 'code file to write (default: FILE with .bin)')
    .option('--image <file>', 'also write a program image (JSON) with entries and data layout')
    .option('--no-compress', 'do not use compressed (RVC) encodings')
    .action((file: string, options: { output?: string; image?: string; compress: boolean }) => {
      const result = assemble(read(file).toString('utf8'), {
        compress: options.compress,
        name: basename(file),
      });
      if (!result.image) return failWithDiagnostics(file, result.diagnostics);
      const output = options.output ?? `${file.replace(/\.s$/, '')}.bin`;
      write(output, result.image.code);
      if (options.image) write(options.image, programImageToJson(result.image));
      io.out(`${output}: ${result.image.code.length} bytes\n`);
    });

  program
    .command('disasm')
    .description('disassemble raw code (.bin) or a program image (.json) as llvm-objdump prints it')
    .argument('<file>', 'code or image')
    .option('--base <address>', 'address of the first byte (default 0)', (v) => Number(v), 0)
    .action((file: string, options: { base: number }) => {
      const image = loadImage(file);
      const labels = new Map(image.entries.map((e) => [options.base + e.offset, e.name]));
      io.out(formatListing(disassemble(image.code, options.base), labels));
    });

  program
    .command('sim')
    .description('run an entry of a program image against packet fixtures; print action set, trace, fuel')
    .argument('<image>', 'program image (.json, binary image, or a .java source to compile first)')
    .requiredOption('--entry <name>', 'entry point')
    .requiredOption('--packet <fixture>', 'packet fixture (JSON): one packet or {defaults, packets}')
    .option('--tier <tier>', TIER_HELP, 'interpreter')
    .action((file: string, options: { entry: string; packet: string; tier: string }) => {
      const { tier, nativeTier } = parseTierOption(options.tier, 'SDK_BAD_TIER');
      let image: ProgramImage;
      if (file.endsWith('.java')) {
        const result = compile(read(file).toString('utf8'));
        if (!result.image) return failWithDiagnostics(file, result.diagnostics);
        image = result.image;
      } else image = loadImage(file);
      let fixture: SimulationFixture;
      try {
        fixture = JSON.parse(read(options.packet).toString('utf8')) as SimulationFixture;
      } catch (error) {
        throw new CliError('SDK_BAD_FIXTURE', `${options.packet}: ${(error as Error).message}`);
      }
      const outcomes = simulate(image, fixture, { entry: options.entry, tier, nativeTier });
      outcomes.forEach((o, i) => {
        io.out(
          `packet ${i + 1}: ${o.verdict}${o.egressLinks.length > 0 ? ` links [${o.egressLinks.join(', ')}]` : ''}`,
        );
        if (o.verdict === 'DROP')
          io.out(o.trap !== 'NONE' ? ` trap ${o.trap}` : ` reason 0x${o.dropReason.toString(16)}`);
        const flags = [o.flags.cache ? 'cache' : '', o.flags.trace ? 'trace' : ''].filter(Boolean);
        if (flags.length > 0) io.out(` flags ${flags.join(',')}`);
        if (o.hopIndex !== undefined) io.out(` hop index ${o.hopIndex}`);
        io.out(` fuel ${o.fuelUsed}\n`);
        for (const line of o.trace) io.out(`  trace: ${line}\n`);
      });
    });

  const sdk = program.command('sdk').description('microprogram tools');
  sdk
    .command('run')
    .description('compile FILE.java and run a pure static method on the VM; prints its result last')
    .argument('<file>', 'microprogram source')
    .requiredOption('--call <Class.method>', 'the static method to call')
    .argument('[args...]', 'int or long arguments')
    .option('--tier <tier>', TIER_HELP, 'interpreter')
    .allowUnknownOption(false)
    .action((file: string, args: string[], options: { call: string; tier: string }) => {
      const { tier, nativeTier } = parseTierOption(options.tier, 'SDK_BAD_TIER');
      const values = args.map((a) => {
        if (!/^-?(0x[0-9a-f]+|\d+)$/i.test(a)) throw new CliError('SDK_BAD_ARGUMENT', `not an integer: ${a}`);
        return a.startsWith('-') ? -BigInt(a.slice(1)) : BigInt(a);
      });
      const result = runMethod(read(file).toString('utf8'), options.call, values, { tier, nativeTier });
      if (!result.ok && result.kind === 'compile') return failWithDiagnostics(file, result.diagnostics);
      if (!result.ok)
        throw new CliError(
          'SDK_TRAP',
          `${options.call} trapped (${result.reason}) after ${result.fuelUsed} instructions`,
        );
      io.err(
        `${options.call} ran ${result.fuelUsed} instructions on the ${result.machine} machine (${tier})\n`,
      );
      io.out(`${result.value === undefined ? '' : String(result.value)}\n`);
    });
}
