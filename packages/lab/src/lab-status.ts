/**
 * `lab status`: what the state file records, checked against the world — is each node's process
 * alive, and does the controller list the node as registered (with its host id)?
 */
import { adminClient, registeredNodes } from './bootstrap';
import { LabError } from './errors';
import { readLabState } from './lab-state';
import { isRunning } from './supervisor';
import type { NodeKind } from './topology';

/** One node in `status --json`. */
export interface NodeStatus {
  name: string;
  kind: NodeKind;
  registered: boolean;
  address: string;
  namespace: string | null;
  running: boolean;
  pid: number | null;
  hostId: string | null;
}

/** `status --json`. */
export interface LabStatus {
  lab: string;
  mode: 'netns' | 'memory';
  createdAt: string;
  controller: {
    northboundUrl: string;
    southboundUrl: string;
    /** The SHA-256 of the controller's TLS certificate, which the lab's clients pin. */
    caSha256: string | null;
    reachable: boolean;
  } | null;
  nodes: NodeStatus[];
}

/** Reads the lab in `dataDir` and asks its controller which nodes are registered. */
export async function labStatus(dataDir: string): Promise<LabStatus> {
  const state = readLabState(dataDir);
  if (!state) throw new LabError('LAB_NOT_UP', `no lab recorded in ${dataDir}: run 'capsule lab up'`);
  let registered = new Map<string, string | null>();
  let reachable = false;
  if (state.controller) {
    try {
      registered = await registeredNodes(
        await adminClient(
          state.controller.northboundUrl,
          state.controller.adminPassword,
          state.controller.caSha256,
        ),
      );
      reachable = true;
    } catch {
      reachable = false;
    }
  }
  // In-process labs have one process (the lab's own) for every node.
  const processOf = (name: string) =>
    state.processes.find((p) => p.node === name) ?? state.processes.find((p) => p.node === '*');
  return {
    lab: state.name,
    mode: state.mode,
    createdAt: state.createdAt,
    controller: state.controller
      ? {
          northboundUrl: state.controller.northboundUrl,
          southboundUrl: state.controller.southboundUrl,
          caSha256: state.controller.caSha256 ?? null,
          reachable,
        }
      : null,
    nodes: state.nodes.map((node) => {
      const record = processOf(node.name);
      return {
        name: node.name,
        kind: node.kind,
        registered: node.kind === 'controller' ? reachable : registered.has(node.name),
        address: node.address,
        namespace: node.namespace ?? null,
        running: record ? (state.mode === 'memory' ? isAlive(record.pid) : isRunning(record)) : false,
        pid: record?.pid ?? null,
        hostId: registered.get(node.name) ?? null,
      };
    }),
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
