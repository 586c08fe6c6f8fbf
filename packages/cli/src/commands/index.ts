import type { Command } from 'commander';
import type { CliIo } from '../io';
import { registerDemoCommands } from './demo';

/** Registers one area's subcommands on the root program. */
export type RegisterCommands = (program: Command, io: CliIo) => void;

/** Every command module, in the order their commands appear in `capsule --help`. */
export const commandModules: readonly RegisterCommands[] = [registerDemoCommands];
