/**
 * The command table: every top-level command with what `capsule --help` shows for it, and the
 * module ("area") that registers it. Areas load only when one of their commands runs (or its help
 * is asked for), so `capsule --version`, `capsule --help` and shell completion load none of the
 * controller, engine or agent code (each area is a chunk of the bundle: scripts/build.mjs).
 * main.test.ts checks that the table says what the areas register.
 */
import type { Command } from 'commander';
import type { CliIo } from '../io';

/** Registers one area's commands on the root program. */
/**
 * Adds an area's commands to `program`. `fullProgram` builds the whole tree (every area loaded),
 * for the commands that describe the CLI itself (completion).
 */
export type RegisterCommands = (program: Command, io: CliIo, fullProgram: () => Promise<Command>) => void;

/** The modules that register commands. */
export type AreaName =
  | 'demo'
  | 'lab'
  | 'identity'
  | 'vm'
  | 'sdk'
  | 'controller'
  | 'admin'
  | 'agent'
  | 'engine'
  | 'wire'
  | 'observe'
  | 'completion';

/** One top-level command as the root help lists it. */
export interface TopCommand {
  readonly name: string;
  /** The help's term: name, `[options]` when it has options, its arguments. */
  readonly term: string;
  readonly description: string;
  readonly area: AreaName;
}

/** Every top-level command, in the order `capsule --help` lists them. */
export const commandTable: readonly TopCommand[] = [
  {
    name: 'demo',
    term: 'demo [options]',
    description: 'bring up a lab, run every use case with real traffic, print what it showed',
    area: 'demo',
  },
  {
    name: 'lab',
    term: 'lab',
    description: 'a whole Capsule topology on this machine (netns as root, else in-process)',
    area: 'lab',
  },
  {
    name: 'identity',
    term: 'identity',
    description: 'node keys, certificates and CGA addresses (RFC 3972)',
    area: 'identity',
  },
  { name: 'vm', term: 'vm', description: 'the RV32IMAC sandbox VM', area: 'vm' },
  {
    name: 'compile',
    term: 'compile [options] <file>',
    description: 'compile a microprogram (.java) into a program image (JSON)',
    area: 'sdk',
  },
  {
    name: 'asm',
    term: 'asm [options] <file>',
    description: 'assemble RV32IMAC assembly (GNU syntax) into raw machine code',
    area: 'sdk',
  },
  {
    name: 'disasm',
    term: 'disasm [options] <file>',
    description: 'disassemble raw code (.bin) or a program image (.json) as llvm-objdump prints it',
    area: 'sdk',
  },
  {
    name: 'sim',
    term: 'sim [options] <image>',
    description: 'run an entry of a program image against packet fixtures; print action set, trace, fuel',
    area: 'sdk',
  },
  { name: 'sdk', term: 'sdk', description: 'microprogram tools', area: 'sdk' },
  { name: 'controller', term: 'controller', description: 'the Capsule controller', area: 'controller' },
  {
    name: 'login',
    term: 'login [options]',
    description: 'log in to a controller and keep the token in the credentials file',
    area: 'admin',
  },
  {
    name: 'create',
    term: 'create [options] <kind> [name]',
    description: 'create a domain, user, zone, template, contract, service, token, peering or link',
    area: 'admin',
  },
  {
    name: 'get',
    term: 'get [options] <kind> [ref]',
    description: 'list objects of a kind, or show one (by id or name)',
    area: 'admin',
  },
  {
    name: 'delete',
    term: 'delete [options] <kind> [ref]',
    description: 'delete an object (by id or name; a link also by its nodes: --between e1 e2)',
    area: 'admin',
  },
  {
    name: 'rotate',
    term: 'rotate [options] <what>',
    description:
      "roll a credential without a restart: signing-key (the controller's Ed25519 key; nodes trust the old one until what it signed has expired)",
    area: 'admin',
  },
  {
    name: 'revoke',
    term: 'revoke [options] <kind> <ref>',
    description:
      'withdraw a credential at once: an authorization (its flow stops at every engine), an endpoint ' +
      '(unregistered, its authorization revoked), a node (decommissioned: endpoints, authorizations, ' +
      'certificate and links), a service token',
    area: 'admin',
  },
  {
    name: 'label',
    term: 'label [options] <kind> <refs...>',
    description: 'set the labels of a node or a link at the controller (replaces them; none clears)',
    area: 'admin',
  },
  {
    name: 'apply',
    term: 'apply [options]',
    description: 'create or update the objects of a YAML file (idempotent; documents apply in order)',
    area: 'admin',
  },
  { name: 'agent', term: 'agent', description: 'the Capsule host agent', area: 'agent' },
  { name: 'engine', term: 'engine', description: 'the network microservice engine', area: 'engine' },
  {
    name: 'observe',
    term: 'observe [options]',
    description:
      'stream flow events (new flow, verdict, drop with reason, program log, trace) from engines and agents',
    area: 'observe',
  },
  {
    name: 'trace',
    term: 'trace [options] <from> <to>',
    description: "show the hops of a live flow's packets from host FROM to host TO, with the time at each",
    area: 'observe',
  },
  {
    name: 'wire',
    term: 'wire',
    description: 'Capsule byte formats: build sample packets, inspect them',
    area: 'wire',
  },
  {
    name: 'completion',
    term: 'completion <shell>',
    description: 'print a shell completion script (bash or zsh) for the capsule command',
    area: 'completion',
  },
];

/** Loads an area's module (a dynamic import: a separate chunk of the bundle). */
export const loadArea: Record<AreaName, () => Promise<RegisterCommands>> = {
  demo: async () => (await import('./demo')).registerDemoCommands,
  lab: async () => (await import('./lab')).registerLabCommands,
  identity: async () => (await import('./identity')).registerIdentityCommands,
  vm: async () => (await import('./vm')).registerVmCommands,
  sdk: async () => (await import('./sdk')).registerSdkCommands,
  controller: async () => (await import('./controller')).registerControllerCommands,
  admin: async () => (await import('./admin')).registerAdminCommands,
  agent: async () => (await import('./agent')).registerAgentCommands,
  engine: async () => (await import('./engine')).registerEngineCommands,
  wire: async () => (await import('./wire')).registerWireCommands,
  observe: async () => (await import('./observe')).registerObserveCommands,
  completion: async () => (await import('./completion')).registerCompletionCommands,
};
