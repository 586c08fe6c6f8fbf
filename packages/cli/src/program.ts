/**
 * The command tree. `createProgram` loads only the area of the command in argv (every other
 * top-level command is a placeholder with its name and description, so the root help and the
 * unknown-command suggestion see them all); `createFullProgram` loads every area (completion
 * scripts, docs, tests).
 */
import { Command, Help } from 'commander';
import { type AreaName, commandTable, loadArea } from './commands/index';
import type { CliIo } from './io';

/** The version `capsule --version` prints. */
export const CAPSULE_VERSION = '0.1.0';

function root(io: CliIo): Command {
  const terms = new Map(commandTable.map((entry) => [entry.name, entry.term]));
  return new Command('capsule')
    .description('Capsule: network microservices carried by packets as signed RISC-V programs')
    .version(CAPSULE_VERSION)
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .configureHelp({
      // A placeholder has no options or arguments of its own: its term comes from the table.
      subcommandTerm: (command) => terms.get(command.name()) ?? new Help().subcommandTerm(command),
    });
}

/** The area whose command argv runs (`help X` and `X --help` too); undefined for none. */
export function areaOfArgv(argv: readonly string[]): AreaName | undefined {
  const words = argv.filter((word) => !word.startsWith('-'));
  const name = words[0] === 'help' ? words[1] : words[0];
  return commandTable.find((entry) => entry.name === name)?.area;
}

async function build(io: CliIo, areas: Iterable<AreaName>): Promise<Command> {
  const program = root(io);
  for (const area of new Set(areas)) (await loadArea[area]())(program, io, () => createFullProgram(io));
  const loaded = new Set(program.commands.map((command) => command.name()));
  for (const entry of commandTable)
    if (!loaded.has(entry.name)) program.command(entry.name).description(entry.description);
  const order = new Map(commandTable.map((entry, i) => [entry.name, i]));
  (program.commands as Command[]).sort((a, b) => (order.get(a.name()) ?? 99) - (order.get(b.name()) ?? 99));
  for (const command of walk(program))
    command.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  return program;
}

/** The tree for one invocation: only the area `argv` needs is loaded. */
export function createProgram(io: CliIo, argv: readonly string[]): Promise<Command> {
  const area = areaOfArgv(argv);
  return build(io, area ? [area] : []);
}

/** The whole tree, every area loaded. */
export function createFullProgram(io: CliIo): Promise<Command> {
  return build(
    io,
    commandTable.map((entry) => entry.area),
  );
}

/** Every command below `command`, depth first. */
export function* walk(command: Command): Generator<Command> {
  for (const child of command.commands) {
    yield child;
    yield* walk(child);
  }
}
