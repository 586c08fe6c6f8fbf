/**
 * End-to-end key epochs of a unicast flow: the sender moves its direction's key to the next epoch
 * after `e2eRekeyAfterMs` or `e2eRekeyAfterPackets` (or when told: `capsule agent rekey`), and the
 * receiver follows the epoch the packets carry. Each direction's epoch-n key is derived from the
 * flow's epoch-0 key of that direction (`deriveE2eEpochKey`: HKDF with the epoch number), so no
 * message is exchanged and the two directions rekey independently.
 *
 * The receiver's rule for a sealed payload of epoch `e` (its state: the current epoch, the
 * previous one until its grace ends, whether anything opened yet):
 *
 * | e                                         | outcome                                              |
 * | ----------------------------------------- | ---------------------------------------------------- |
 * | current                                   | opened with the current key                          |
 * | previous, grace not over                  | opened with the previous key (packets in flight)     |
 * | current < e ≤ current + E2E_EPOCH_LOOKAHEAD | derived, opened; on success e becomes current, the old current previous with a grace |
 * | anything, nothing opened yet on this flow | derived, opened (an agent restarted here: the sender is at any epoch) |
 * | 0, counter above every counter seen       | derived, opened (the sender restarted: it starts at epoch 0 again) |
 * | e > current + E2E_EPOCH_LOOKAHEAD         | dropped, counted `e2eEpochAhead`                     |
 * | any other older epoch                     | dropped, counted `e2eEpochStale` (a replay of a retired epoch) |
 *
 * Counters never restart with an epoch (the flow's one send counter goes on), so one replay window
 * per flow covers every epoch, and a replayed packet of any epoch is refused by it even inside a grace.
 *
 * Limits (AES-256-GCM, nonce = 32 zero bits ‖ the 64-bit counter): the nonce never repeats under a
 * key, so the bound that matters is how much one key seals. RFC 8446 section 5.5 puts AES-GCM's at
 * 2^24.5 records of 2^14 bytes; our packets are up to 2^16 bytes, so 2^22 packets an epoch keeps
 * the same margin (`e2eRekeyAfterPackets` default), and 2 minutes (`e2eRekeyAfterMs`) bounds what
 * one leaked epoch key opens. Rekeying costs one HKDF and one AES-GCM context per direction.
 *
 * Role-addressed flows do not rekey here: their epochs are the controller's group epochs (flows.ts).
 */
import { deriveE2eEpochKey, E2E_EPOCH_MAX, type PayloadCipher } from '@capsule/identity';
import type { ReplayWindow } from '@capsule/overlay';

/** How far ahead of its current epoch a receiver follows a sender (a whole epoch's packets lost between). */
export const E2E_EPOCH_LOOKAHEAD = 4;

/** When a sender rekeys and how long a receiver keeps the previous epoch (AgentOptions; defaults there). */
export interface E2eRekeyOptions {
  /** A sender moves to the next epoch this long after it started sealing under the current one. */
  readonly e2eRekeyAfterMs: number;
  /** … or after sealing this many packets under it. */
  readonly e2eRekeyAfterPackets: number;
  /** A receiver still opens the previous epoch this long after the next one first opened. */
  readonly e2eRekeyGraceMs: number;
}

/**
 * Where the sender's state of `E2eEpochs` lives in its `sendState` array (the native fast path,
 * @capsule/native addon/fast-path.cc, reads the same slots and counts sealed packets there).
 */
export const E2eSendSlot = { EPOCH: 0, PACKETS: 1, SINCE_MS: 2, REKEY_REQUESTED: 3 } as const;

/** The e2e key state of one unicast flow: kept across rebuilds of the flow (same peer, same keys). */
export interface E2eEpochs {
  /** The epoch-0 keys of the two directions (the flow's X25519 + HKDF session keys). */
  readonly sendBase: Uint8Array;
  readonly receiveBase: Uint8Array;
  /** The sender's state (E2eSendSlot): `sendEpoch`, `sendPackets`, `sendSinceMs`, `rekeyRequested`. */
  readonly sendState: Float64Array;
  sendEpoch: number;
  sendCipher: PayloadCipher;
  /** Packets sealed under `sendEpoch`, and when the first of them was (ms, the data plane's clock). */
  sendPackets: number;
  sendSinceMs: number;
  /** Set by `requestRekey`: the next packet goes under the next epoch. */
  rekeyRequested: boolean;
  receiveEpoch: number;
  receiveCipher: PayloadCipher;
  /** -1 when there is no previous epoch. */
  previousEpoch: number;
  previousCipher: PayloadCipher | undefined;
  previousUntilMs: number;
  /** False until a packet opened on this flow (then epoch jumps are bounded by the lookahead). */
  hasOpened: boolean;
  /** The last epoch derived for a packet that did not open yet, and its cipher (no derivation per forged packet). */
  candidateEpoch: number;
  candidateCipher: PayloadCipher | undefined;
}

/**
 * The state of a new flow: both directions at epoch 0 (a role-addressed flow: at its group epoch
 * `sendEpoch`, under the group sender key, never rekeyed here).
 */
export function createE2eEpochs(
  keys: { readonly sendKey: Uint8Array; readonly receiveKey: Uint8Array },
  createCipher: (key: Uint8Array) => PayloadCipher,
  sendEpoch = 0,
): E2eEpochs {
  const sendCipher = createCipher(keys.sendKey);
  const sendState = new Float64Array(4);
  const S = E2eSendSlot;
  sendState[S.EPOCH] = sendEpoch;
  return {
    sendBase: keys.sendKey,
    receiveBase: keys.receiveKey,
    sendState,
    get sendEpoch() {
      return sendState[S.EPOCH]!;
    },
    set sendEpoch(value) {
      sendState[S.EPOCH] = value;
    },
    sendCipher,
    get sendPackets() {
      return sendState[S.PACKETS]!;
    },
    set sendPackets(value) {
      sendState[S.PACKETS] = value;
    },
    get sendSinceMs() {
      return sendState[S.SINCE_MS]!;
    },
    set sendSinceMs(value) {
      sendState[S.SINCE_MS] = value;
    },
    get rekeyRequested() {
      return sendState[S.REKEY_REQUESTED] !== 0;
    },
    set rekeyRequested(value) {
      sendState[S.REKEY_REQUESTED] = value ? 1 : 0;
    },
    receiveEpoch: 0,
    receiveCipher: keys.receiveKey === keys.sendKey ? sendCipher : createCipher(keys.receiveKey),
    previousEpoch: -1,
    previousCipher: undefined,
    previousUntilMs: Number.NEGATIVE_INFINITY,
    hasOpened: false,
    candidateEpoch: -1,
    candidateCipher: undefined,
  };
}

/**
 * Whether the sender must move to the next epoch before sealing its next packet (an epoch under
 * which nothing was sealed yet is never due). No allocation.
 */
export function isSendRekeyDue(e2e: E2eEpochs, options: E2eRekeyOptions, nowMs: number): boolean {
  return (
    e2e.sendPackets > 0 &&
    (e2e.rekeyRequested ||
      e2e.sendPackets >= options.e2eRekeyAfterPackets ||
      nowMs - e2e.sendSinceMs >= options.e2eRekeyAfterMs)
  );
}

/** Counts a packet sealed under the send epoch (the first one starts the epoch's time). */
export function countSealed(e2e: E2eEpochs, nowMs: number): void {
  if (e2e.sendPackets === 0) e2e.sendSinceMs = nowMs;
  e2e.sendPackets += 1;
}

/**
 * Moves the sender to the next epoch (one HKDF, one cipher). False when the epoch space is spent
 * (2^32 epochs: the flow keeps sealing under its last epoch, which the packet limit then no
 * longer bounds — unreachable at 2 minutes an epoch).
 */
export function advanceSendEpoch(e2e: E2eEpochs, createCipher: (key: Uint8Array) => PayloadCipher): boolean {
  e2e.rekeyRequested = false;
  e2e.sendPackets = 0;
  if (e2e.sendEpoch >= E2E_EPOCH_MAX) return false;
  e2e.sendEpoch += 1;
  e2e.sendCipher = createCipher(deriveE2eEpochKey(e2e.sendBase, e2e.sendEpoch));
  return true;
}

/** What the receiver does with a packet of some epoch (`receiveCipherOf`). */
export const E2eReceive = {
  /** Open with `e2e.receiveCipher` or `e2e.previousCipher` (returned). */
  KNOWN: 0,
  /** Open with the candidate (returned), then `acceptCandidate` once it opened and was no replay. */
  CANDIDATE: 1,
  /** Drop: an epoch older than the current one whose grace is over (or never had one). */
  STALE: 2,
  /** Drop: more than E2E_EPOCH_LOOKAHEAD epochs ahead of the current one. */
  AHEAD: 3,
} as const;
export type E2eReceive = (typeof E2eReceive)[keyof typeof E2eReceive];

/**
 * Decides how a packet of `epoch` with `counter` opens (the module comment's table) and leaves the
 * cipher in `out.cipher`. Allocates only when it derives a new epoch's key (once per epoch).
 */
export function receiveCipherOf(
  e2e: E2eEpochs,
  epoch: number,
  counter: number,
  replay: ReplayWindow,
  nowMs: number,
  createCipher: (key: Uint8Array) => PayloadCipher,
  out: { cipher: PayloadCipher | undefined },
): E2eReceive {
  if (epoch === e2e.receiveEpoch) {
    out.cipher = e2e.receiveCipher;
    return E2eReceive.KNOWN;
  }
  if (epoch === e2e.previousEpoch && nowMs <= e2e.previousUntilMs) {
    out.cipher = e2e.previousCipher;
    return E2eReceive.KNOWN;
  }
  const isRestart = epoch === 0 && counter > highestOf(replay) && replay.check(counter);
  if (e2e.hasOpened && !isRestart) {
    if (epoch < e2e.receiveEpoch || epoch === e2e.previousEpoch) return E2eReceive.STALE;
    if (epoch - e2e.receiveEpoch > E2E_EPOCH_LOOKAHEAD) return E2eReceive.AHEAD;
  }
  if (e2e.candidateEpoch !== epoch || e2e.candidateCipher === undefined) {
    e2e.candidateCipher = createCipher(deriveE2eEpochKey(e2e.receiveBase, epoch));
    e2e.candidateEpoch = epoch;
  }
  out.cipher = e2e.candidateCipher;
  return E2eReceive.CANDIDATE;
}

/** The highest counter a window accepted (-1 before the first). */
function highestOf(replay: ReplayWindow): number {
  return replay.state[1]!;
}

/**
 * The candidate epoch opened (and was no replay): it becomes current, the current one previous
 * until `graceMs` from now (packets sealed under it may still be in flight). Returns whether the
 * epoch moved.
 */
export function acceptCandidate(e2e: E2eEpochs, graceMs: number, nowMs: number): boolean {
  const cipher = e2e.candidateCipher;
  if (cipher === undefined) return false;
  const moved = e2e.candidateEpoch !== e2e.receiveEpoch;
  if (moved) {
    e2e.previousEpoch = e2e.receiveEpoch;
    e2e.previousCipher = e2e.receiveCipher;
    e2e.previousUntilMs = nowMs + graceMs;
  }
  e2e.receiveEpoch = e2e.candidateEpoch;
  e2e.receiveCipher = cipher;
  e2e.candidateEpoch = -1;
  e2e.candidateCipher = undefined;
  e2e.hasOpened = true;
  return moved;
}
