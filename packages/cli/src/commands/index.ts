import type { Command } from 'commander';
import type { CliIo } from '../io';
import { registerAdminCommands } from './admin';
import { registerAgentCommands } from './agent';
import { registerControllerCommands } from './controller';
import { registerDemoCommands } from './demo';
import { registerEngineCommands } from './engine';
import { registerIdentityCommands } from './identity';
import { registerLabCommands } from './lab';
import { registerSdkCommands } from './sdk';
import { registerVmCommands } from './vm';
import { registerWireCommands } from './wire';

/** Registers one area's subcommands on the root program. */
export type RegisterCommands = (program: Command, io: CliIo) => void;

/** Every command module, in the order their commands appear in `capsule --help`. */
export const commandModules: readonly RegisterCommands[] = [
  registerDemoCommands,
  registerLabCommands,
  registerIdentityCommands,
  registerVmCommands,
  registerSdkCommands,
  registerControllerCommands,
  registerAdminCommands,
  registerAgentCommands,
  registerEngineCommands,
  registerWireCommands,
];
