/**
 * The revoked serials: what the controller revoked (pushed, or in a keep-alive answer), each kept
 * with its authorization's end of validity so it can be forgotten once that has passed (an expired
 * authorization is refused anyway). Looked up by the serial's two 32-bit halves, so the per-packet
 * check of a cached authorization needs no bigint.
 */

import type { Logger } from '@capsule/wire';
import type { CounterState } from './counters';

/** How long after its authorization's end a revoked serial is kept: covers the verifier's whole-second rounding. */
export const REVOCATION_GRACE_MS = 60_000;

/** The revocation set of one engine. */
export interface Revocations {
  /** True when the serial high:low was revoked (and not yet pruned). */
  has(high: number, low: number): boolean;
  /**
   * Revokes a serial; `notAfterMs` is its authorization's end (ms), undefined (or not finite):
   * kept for the engine's life. False when it was already revoked.
   */
  add(serial: bigint, notAfterMs: number | undefined): boolean;
  /** Forgets serials whose authorization ended more than REVOCATION_GRACE_MS before `nowMs`. */
  prune(nowMs: number): void;
  /** Revoked serials held. */
  readonly size: number;
}

/** The high and low 32 bits of a 64-bit serial. */
export function serialHalves(serial: bigint): { high: number; low: number } {
  return { high: Number((serial >> 32n) & 0xffff_ffffn), low: Number(serial & 0xffff_ffffn) };
}

export function createRevocations(deps: {
  counters: Pick<CounterState, 'revocations' | 'revocationsPruned'>;
  logger: Logger;
}): Revocations {
  const { counters, logger } = deps;
  /** Revoked serials by low 32 bits → high words, each with its authorization's end (ms; Infinity: unknown). */
  const revoked = new Map<number, { high: number; notAfterMs: number }[]>();
  let size = 0;

  function has(high: number, low: number): boolean {
    const entries = revoked.get(low);
    return entries?.some((entry) => entry.high === high) === true;
  }

  return {
    has,
    add(serial, notAfterMs) {
      const { high, low } = serialHalves(serial);
      if (has(high, low)) return false;
      counters.revocations++;
      const entries = revoked.get(low) ?? [];
      entries.push({
        high,
        notAfterMs:
          notAfterMs !== undefined && Number.isFinite(notAfterMs) ? notAfterMs : Number.POSITIVE_INFINITY,
      });
      revoked.set(low, entries);
      size++;
      logger.info({ serial: serial.toString() }, 'authorization revoked');
      return true;
    },
    prune(nowMs) {
      for (const [low, entries] of revoked) {
        const kept = entries.filter((entry) => entry.notAfterMs + REVOCATION_GRACE_MS > nowMs);
        if (kept.length === entries.length) continue;
        counters.revocationsPruned += entries.length - kept.length;
        size -= entries.length - kept.length;
        if (kept.length === 0) revoked.delete(low);
        else revoked.set(low, kept);
      }
    },
    get size() {
      return size;
    },
  };
}
