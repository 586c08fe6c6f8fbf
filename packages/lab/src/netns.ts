/**
 * The underlay of a netns lab, built with iproute2:
 *
 * ```
 *   root namespace:  bridge cb-<lab> (A.B.C.1/len)  ── the host can reach every node, and the
 *        │ │ │                                          controller's URL works from a browser
 *   c-<hash> veth ends (one per node), enslaved to the bridge
 *        │ │ │
 *   namespaces cpl-<lab>-<node>: eth0 (the node's address), lo up
 * ```
 *
 * Every name is derived from the lab's and the node's names, so that `down` can also find them
 * without the state file, and different labs (different names) never collide. Deleting a
 * namespace deletes its veth pair; the bridge is deleted explicitly.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LabError } from './errors';

/** The namespace of a node. */
export function namespaceName(lab: string, node: string): string {
  return `cpl-${lab}-${node}`;
}

/** The bridge of a lab in the root namespace (≤ 15 characters: lab names are ≤ 12). */
export function bridgeName(lab: string): string {
  return `cb-${lab}`;
}

/** The root-namespace end of a node's veth pair (≤ 15 characters). */
export function vethName(lab: string, node: string): string {
  return `c-${createHash('sha256').update(`${lab}/${node}`).digest('hex').slice(0, 10)}`;
}

/** Runs `ip …`; throws LAB_COMMAND_FAILED with ip's message. */
export function ip(...args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new LabError('LAB_COMMAND_FAILED', `ip ${args.join(' ')}: ${stderr || (error as Error).message}`);
  }
}

/** Names of the network namespaces that exist. */
export function listNamespaces(): string[] {
  return ip('netns', 'list')
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter(Boolean);
}

/** True when a link of that name exists in the root namespace. */
export function linkExists(name: string): boolean {
  try {
    execFileSync('ip', ['link', 'show', 'dev', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Creates the bridge with the gateway address `.1` of the segment, up. */
export function createBridge(name: string, gatewayCidr: string): void {
  ip('link', 'add', name, 'type', 'bridge');
  ip('addr', 'add', gatewayCidr, 'dev', name);
  ip('link', 'set', name, 'up');
}

/** Creates a node namespace with `lo` up and `eth0` (a veth to the bridge) at `addressCidr`. */
export function createNodeNamespace(
  namespace: string,
  veth: string,
  bridge: string,
  addressCidr: string,
): void {
  ip('netns', 'add', namespace);
  ip('-n', namespace, 'link', 'set', 'lo', 'up');
  ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace);
  ip('link', 'set', veth, 'master', bridge);
  ip('link', 'set', veth, 'up');
  ip('-n', namespace, 'addr', 'add', addressCidr, 'dev', 'eth0');
  ip('-n', namespace, 'link', 'set', 'eth0', 'up');
}

/** Deletes a namespace if it exists (its veth pair goes with it). */
export function deleteNamespace(namespace: string): void {
  if (listNamespaces().includes(namespace)) ip('netns', 'delete', namespace);
}

/**
 * Deletes a root-namespace link if it exists. A node's veth end also disappears on its own, a
 * moment after its namespace is deleted (the kernel tears the pair down asynchronously), so a
 * link that vanished between the check and the delete is not an error.
 */
export function deleteLink(name: string): void {
  if (!linkExists(name)) return;
  try {
    ip('link', 'delete', name);
  } catch (error) {
    if (linkExists(name)) throw error;
  }
}

/** Sets a root-namespace link (a node's veth end) up or down: the node loses the underlay. */
export function setLinkUp(name: string, up: boolean): void {
  ip('link', 'set', name, up ? 'up' : 'down');
}

/** The socket buffer ceiling labs ask for: the daemons' default SO_RCVBUF / SO_SNDBUF (8 MiB). */
export const labSocketBufferBytes = 8 * 1024 * 1024;

/**
 * Raises net.core.rmem_max / wmem_max (they cap SO_RCVBUF / SO_SNDBUF, and are global, not per
 * namespace) to at least `bytes` with `sysctl -w`; never lowers them. Returns what was changed
 * ("net.core.rmem_max 212992 -> 8388608"); empty when nothing needed changing.
 */
export function raiseSocketBufferLimits(
  bytes: number = labSocketBufferBytes,
  record: (change: SysctlChange) => void = () => {},
): string[] {
  const changed: string[] = [];
  for (const key of ['net.core.rmem_max', 'net.core.wmem_max']) {
    const path = `/proc/sys/${key.replace(/\./g, '/')}`;
    const current = Number(readFileSync(path, 'utf8').trim());
    if (current >= bytes) continue;
    try {
      execFileSync('sysctl', ['-q', '-w', `${key}=${bytes}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
      throw new LabError(
        'LAB_COMMAND_FAILED',
        `sysctl -w ${key}=${bytes}: ${stderr || (error as Error).message}`,
      );
    }
    record({ key, from: current, to: bytes });
    changed.push(`${key} ${current} -> ${bytes}`);
  }
  return changed;
}

/** A machine-wide sysctl the lab changed: restored on teardown. */
export interface SysctlChange {
  key: string;
  from: number;
  to: number;
}

/**
 * Puts back sysctls the lab raised, unless something else changed them since (then they are left
 * as they are). Returns what was restored (`net.core.rmem_max 8388608 -> 212992`).
 */
export function restoreSysctls(changes: readonly SysctlChange[]): string[] {
  const restored: string[] = [];
  for (const { key, from, to } of changes) {
    const path = `/proc/sys/${key.replace(/\./g, '/')}`;
    let current: number;
    try {
      current = Number(readFileSync(path, 'utf8').trim());
    } catch {
      continue;
    }
    if (current !== to) continue;
    try {
      execFileSync('sysctl', ['-q', '-w', `${key}=${from}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      restored.push(`${key} ${to} -> ${from}`);
    } catch {
      // Reported by leftoversOf (the value stays raised).
    }
  }
  return restored;
}
