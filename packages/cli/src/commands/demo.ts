import { CapsuleError } from '@capsule/wire';
import type { Command } from 'commander';
import type { CliIo } from '../io';

/** `capsule demo`: the newcomer's first command (the lab issue makes it run the use cases). */
export function registerDemoCommands(program: Command, _io: CliIo): void {
  program
    .command('demo')
    .description('bring up a lab, run every use case with real traffic, print what it showed')
    .action(() => {
      throw new CapsuleError(
        'DEMO_NOT_YET_AVAILABLE',
        'the demo is not yet available: it arrives with the lab (see README.md, "Status")',
      );
    });
}
