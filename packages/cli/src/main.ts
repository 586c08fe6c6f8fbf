/**
 * The `capsule` command. The only code in Capsule that reads argv, the environment and config
 * files; every subcommand lives in `commands/<area>.ts`, listed in the command table
 * (commands/index.ts) and loaded only when it runs (program.ts).
 */
import { CommanderError } from 'commander';
import { type CliIo, createProcessIo } from './io';
import { createFullProgram, createProgram } from './program';

export { type CliIo, createRecordingIo } from './io';

/** Exit codes: 0 ok, 1 a command failed (a CapsuleError), 2 bad usage, 70 an internal fault. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

export { createFullProgram, createProgram } from './program';

/** The completion data of the whole command tree (scripts/build.mjs writes it beside the bundle). */
export async function completionTree(io: CliIo) {
  const { completionEntries } = await import('./commands/completion');
  return completionEntries(await createFullProgram(io));
}

/** Runs one invocation; resolves to the process exit code and never throws. */
export async function runCli(argv: readonly string[], io: CliIo = createProcessIo()): Promise<number> {
  try {
    const program = await createProgram(io, argv);
    await program.parseAsync([...argv], { from: 'user' });
    return io.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      if (error.code === 'commander.help') return 0;
      return EXIT_USAGE;
    }
    // Loaded here, not up front: `capsule --version` never needs the wire package.
    const { isCapsuleError } = await import('@capsule/wire');
    if (isCapsuleError(error)) {
      io.err(`error [${error.code}]: ${error.message}\n`);
      return io.exitCode !== 0 ? io.exitCode : EXIT_FAILURE;
    }
    io.err(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT_INTERNAL;
  }
}
