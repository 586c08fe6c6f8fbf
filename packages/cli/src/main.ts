/**
 * The `capsule` command. The only code in Capsule that reads argv, the environment and config
 * files; every subcommand lives in `commands/<area>.ts` and registers itself below.
 */
import { isCapsuleError } from '@capsule/wire';
import { Command, CommanderError } from 'commander';
import { commandModules } from './commands/index';
import { type CliIo, createProcessIo } from './io';

export { type CliIo, createRecordingIo } from './io';

/** Exit codes: 0 ok, 1 a command failed (a CapsuleError), 2 bad usage, 70 an internal fault. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

/** Builds the command tree; exported so that tests and the docs generator can walk it. */
export function createProgram(io: CliIo): Command {
  const program = new Command('capsule')
    .description('Capsule: network microservices carried by packets as signed RISC-V programs')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
  for (const register of commandModules) register(program, io);
  for (const command of walk(program))
    command.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  return program;
}

/** Runs one invocation; resolves to the process exit code and never throws. */
export async function runCli(argv: readonly string[], io: CliIo = createProcessIo()): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return io.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      if (error.code === 'commander.help') return 0;
      return EXIT_USAGE;
    }
    if (isCapsuleError(error)) {
      io.err(`error [${error.code}]: ${error.message}\n`);
      return io.exitCode !== 0 ? io.exitCode : EXIT_FAILURE;
    }
    io.err(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT_INTERNAL;
  }
}

function* walk(command: Command): Generator<Command> {
  for (const child of command.commands) {
    yield child;
    yield* walk(child);
  }
}
