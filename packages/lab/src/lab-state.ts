/**
 * The lab's state file (`<dataDir>/lab-state.json`, mode 0600): everything `lab up` made, written
 * BEFORE each thing is made, so that `lab down` — from a fresh process, or after a crash halfway
 * through `up` — finds and removes all of it. Entries that no longer exist are skipped on teardown.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { NodeKind, Topology } from './topology';

/** A process the lab started. */
export interface ProcessRecord {
  readonly node: string;
  readonly pid: number;
  /** argv as started (for the record and for checking a pid was not reused). */
  readonly argv: readonly string[];
  readonly logFile: string;
}

/** A node as `status` reports it. */
export interface NodeRecord {
  readonly name: string;
  readonly kind: NodeKind;
  readonly address: string;
  /** The node's network namespace (netns mode). */
  readonly namespace?: string;
  /** The node's working directory (config files, identity, database). */
  readonly dir: string;
}

/** What one lab consists of. */
export interface LabState {
  readonly version: 1;
  readonly name: string;
  readonly mode: 'netns' | 'memory';
  readonly createdAt: string;
  readonly dataDir: string;
  readonly topology: Topology;
  /** Network namespaces created (netns mode). */
  namespaces: string[];
  /** Links created in the root namespace (the bridge, veth ends), deleted on teardown. */
  rootLinks: string[];
  processes: ProcessRecord[];
  nodes: NodeRecord[];
  /** Machine-wide sysctls the lab raised (netns mode), put back on teardown. */
  sysctls?: { key: string; from: number; to: number }[];
  /** The controller's URLs and the admin login the lab made. */
  controller?: {
    northboundUrl: string;
    southboundUrl: string;
    adminPassword: string;
    nodePassword: string;
    /** The SHA-256 of the controller's TLS certificate (hex) every client of the lab pins; none: plain HTTP (the in-process lab without TLS). */
    caSha256?: string;
  };
}

/** The state file's path in a data dir. */
export function stateFilePath(dataDir: string): string {
  return join(dataDir, 'lab-state.json');
}

/** Reads the state file, or undefined when there is none. */
export function readLabState(dataDir: string): LabState | undefined {
  const path = stateFilePath(dataDir);
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as LabState;
}

/** Writes the state file atomically (write then rename), mode 0600: it holds passwords. */
export function writeLabState(state: LabState): void {
  const path = stateFilePath(state.dataDir);
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, path);
}
