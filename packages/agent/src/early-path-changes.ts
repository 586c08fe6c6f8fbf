/**
 * Path-changes that arrive before the endpoint they name: the controller may push an endpoint's
 * new view (a peer joined a moment later) before the answer to the registration that created it
 * reaches the agent. Such an update is at least as new as that answer (the controller computes it
 * after the registration committed: it names the endpoint's id), so it is held here and applied
 * right after the answer is installed. Bounded: at most `maxHeld` updates (the oldest goes first),
 * each for `holdMs`; one per endpoint (a later one replaces it).
 */
export interface EarlyPathChangesOptions {
  maxHeld: number;
  holdMs: number;
}

/** The defaults: 256 endpoints, 60 s (an endpoint registration times out after 10 s, three tries). */
export const defaultEarlyPathChanges: EarlyPathChangesOptions = { maxHeld: 256, holdMs: 60_000 };

/** Updates held per endpoint id, with the time they arrived. */
export interface EarlyPathChanges<Update> {
  /** Holds `update` for `endpointId` (replacing one held for it). */
  hold(endpointId: number, update: Update, nowMs: number): void;
  /** The update held for `endpointId` and not older than `holdMs`, removed; undefined when none. */
  take(endpointId: number, nowMs: number): Update | undefined;
  /** Updates held now (expired ones included until the next hold or take drops them). */
  readonly size: number;
}

export function createEarlyPathChanges<Update>(
  options: EarlyPathChangesOptions = defaultEarlyPathChanges,
): EarlyPathChanges<Update> {
  /** Insertion order is arrival order: the first key is the oldest. */
  const held = new Map<number, { update: Update; atMs: number }>();
  const expire = (nowMs: number) => {
    for (const [id, entry] of held) {
      if (nowMs - entry.atMs <= options.holdMs) break;
      held.delete(id);
    }
  };
  return {
    hold(endpointId, update, nowMs) {
      expire(nowMs);
      held.delete(endpointId);
      held.set(endpointId, { update, atMs: nowMs });
      while (held.size > options.maxHeld) held.delete(held.keys().next().value as number);
    },
    take(endpointId, nowMs) {
      expire(nowMs);
      const entry = held.get(endpointId);
      if (!entry) return undefined;
      held.delete(endpointId);
      return entry.update;
    },
    get size() {
      return held.size;
    },
  };
}
