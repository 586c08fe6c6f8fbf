/**
 * The order a node applies the controller's commands in. A command reaches a node on the push
 * channel and in a keep-alive answer — the same command may come both ways, and an older one after
 * a newer: a keep-alive answer on its way while the push channel carries a command queued after
 * the ones that answer holds, or commands queued while the node was away pushed as its channel
 * reopens. Command ids grow with the controller's queue (one store, every replica), so:
 *
 * - each id is applied once (`accept` refuses one seen before: at most `seenMax` remembered, then
 *   the oldest half forgotten);
 * - a command that replaces a whole state — `link-set` (the links the node must have) and
 *   `link-tags` (an engine's role routes) — is stale when a newer one of its kind was applied:
 *   applied, it would undo the newer;
 * - a path-change replaces the view of each endpoint it names: `acceptEndpoint` says whether an
 *   endpoint's update is newer than the last one applied to that endpoint (an older command's
 *   update of another endpoint still applies);
 * - revocations add up, and refresh-configuration / report-statistics have no state: never stale.
 *
 * `restart()` forgets the newest ids: after a registration, whose answer is the node's new
 * baseline (a controller restored from a backup may count ids from lower again).
 */

import { decodeNodeCommand, type NodeCommandKind, type NodeCommandResult } from './node-command';
import type { NodeCommand } from './schemas';

/** The kinds whose command replaces the previous one whole. */
const replacingKinds: ReadonlySet<NodeCommandKind> = new Set<NodeCommandKind>(['link-set', 'link-tags']);

/** Command ids remembered for de-duplication, at most. */
export const commandIdsRemembered = 10_000;

export interface CommandOrder {
  /**
   * A command as it came (a parsed JSON value: a keep-alive answer's element or a push event's
   * payload), read with `decodeNodeCommand` and then `accept`ed: the command to carry out, or
   * undefined when it is not to be (seen before, or stale); the decoder's refusal when it does not
   * decode. The one intake of agents and engines.
   */
  take(value: unknown): NodeCommandResult<NodeCommand | undefined>;
  /**
   * Whether to apply the command `id` of `kind`: false for an id seen before, and for a command
   * of a replacing kind older than the newest of that kind accepted. Records what it accepts.
   */
  accept(id: number, kind: NodeCommandKind): boolean;
  /** Whether a path-change of command `id` may update `endpointId` (records it when it may). */
  acceptEndpoint(id: number, endpointId: number): boolean;
  /** Forgets what `acceptEndpoint` holds for an endpoint the node no longer has. */
  forgetEndpoint(endpointId: number): void;
  /** Forgets the newest ids per kind and endpoint (not the ids seen): after a registration. */
  restart(): void;
  /** Commands refused so far: duplicates, and stale commands or endpoint updates. */
  readonly refused: { duplicate: number; stale: number };
}

export function createCommandOrder(seenMax = commandIdsRemembered): CommandOrder {
  /** Ids seen, in arrival order (a Set iterates in insertion order: the oldest first). */
  const seen = new Set<number>();
  const newestOfKind = new Map<NodeCommandKind, number>();
  const newestOfEndpoint = new Map<number, number>();
  const refused = { duplicate: 0, stale: 0 };
  function accept(id: number, kind: NodeCommandKind): boolean {
    if (seen.has(id)) {
      refused.duplicate += 1;
      return false;
    }
    if (replacingKinds.has(kind)) {
      if (id < (newestOfKind.get(kind) ?? 0)) {
        refused.stale += 1;
        seen.add(id);
        return false;
      }
      newestOfKind.set(kind, id);
    }
    seen.add(id);
    if (seen.size > seenMax) {
      let forget = seen.size - Math.floor(seenMax / 2);
      for (const old of seen) {
        if (forget-- === 0) break;
        seen.delete(old);
      }
    }
    return true;
  }
  return {
    take(value) {
      const decoded = decodeNodeCommand(value);
      if (!decoded.ok) return decoded;
      return { ok: true, value: accept(decoded.value.id, decoded.value.kind) ? decoded.value : undefined };
    },
    accept,
    acceptEndpoint(id, endpointId) {
      if (id < (newestOfEndpoint.get(endpointId) ?? 0)) {
        refused.stale += 1;
        return false;
      }
      newestOfEndpoint.set(endpointId, id);
      return true;
    },
    forgetEndpoint(endpointId) {
      newestOfEndpoint.delete(endpointId);
    },
    restart() {
      newestOfKind.clear();
      newestOfEndpoint.clear();
    },
    refused,
  };
}
