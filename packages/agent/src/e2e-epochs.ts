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
 * Where an `E2eEpochs`'s state lives in its `state` array: the sender's epoch, the packets sealed
 * under it, since when (ms), whether a rekey was asked for; the receiver's current epoch, its
 * previous one (-1: none) and when that one's grace ends. The native fast path (@capsule/native
 * addon/fast-path.cc) reads and moves the same slots: it rekeys a sender and follows a receiver to
 * the next epoch as JavaScript does, and the ciphers here follow the epochs it leaves.
 */
export const E2eSlot = {
  SEND_EPOCH: 0,
  SEND_PACKETS: 1,
  SEND_SINCE_MS: 2,
  REKEY_REQUESTED: 3,
  RECEIVE_EPOCH: 4,
  PREVIOUS_EPOCH: 5,
  PREVIOUS_UNTIL_MS: 6,
} as const;
const E2E_SLOTS = 7;

/**
 * How many epochs' ciphers a direction keeps: the current and previous epochs, the lookahead's and
 * epoch 0 (a restarted sender), so that forged packets of those epochs never derive a key twice.
 */
const EPOCH_CIPHERS_MAX = E2E_EPOCH_LOOKAHEAD + 3;

/**
 * The payload ciphers of one direction's epochs: epoch n's derived from the direction's base key
 * (`deriveE2eEpochKey`) the first time it is asked for, then kept (at most EPOCH_CIPHERS_MAX; one
 * that is neither of the two epochs in use gives way). No allocation but the derivation.
 */
class EpochCiphers {
  private readonly epochs: number[] = [];
  private readonly ciphers: PayloadCipher[] = [];

  constructor(
    private readonly base: Uint8Array,
    private readonly createCipher: (key: Uint8Array) => PayloadCipher,
  ) {}

  /** Keeps `cipher` as `epoch`'s (a key not derived from the base: a role-addressed flow's group key). */
  seed(epoch: number, cipher: PayloadCipher): PayloadCipher {
    this.epochs.push(epoch);
    this.ciphers.push(cipher);
    return cipher;
  }

  /** The cipher of `epoch`; when one must give way, not that of `inUse` or `alsoInUse`. */
  of(epoch: number, inUse: number, alsoInUse: number): PayloadCipher {
    const { epochs, ciphers } = this;
    for (let i = 0; i < epochs.length; i += 1) if (epochs[i] === epoch) return ciphers[i]!;
    const cipher = this.createCipher(deriveE2eEpochKey(this.base, epoch));
    if (epochs.length < EPOCH_CIPHERS_MAX) return this.seed(epoch, cipher);
    let at = 0;
    while (epochs[at] === inUse || epochs[at] === alsoInUse) at += 1;
    epochs[at] = epoch;
    ciphers[at] = cipher;
    return cipher;
  }
}

/**
 * The e2e key state of one unicast flow: kept across rebuilds of the flow (same peer, same keys).
 * The numbers live in `state` (E2eSlot), shared with the native fast path; each epoch's cipher is
 * derived when first used, so an epoch moved natively is followed here at its next packet.
 */
export class E2eEpochs {
  /** The state (E2eSlot), shared with the native fast path. */
  readonly state = new Float64Array(E2E_SLOTS);
  /** False until a packet opened on this flow (then epoch jumps are bounded by the lookahead). */
  hasOpened = false;
  private readonly sendCiphers: EpochCiphers;
  private readonly receiveCiphers: EpochCiphers;

  /**
   * A new flow: both directions at epoch 0 (a role-addressed flow: at its group epoch `sendEpoch`,
   * under the group sender key, never rekeyed here).
   * @param sendBase,receiveBase the epoch-0 keys of the two directions (the flow's X25519 + HKDF session keys).
   */
  constructor(
    readonly sendBase: Uint8Array,
    readonly receiveBase: Uint8Array,
    createCipher: (key: Uint8Array) => PayloadCipher,
    sendEpoch: number,
  ) {
    const state = this.state;
    state[E2eSlot.SEND_EPOCH] = sendEpoch;
    state[E2eSlot.PREVIOUS_EPOCH] = -1;
    state[E2eSlot.PREVIOUS_UNTIL_MS] = Number.NEGATIVE_INFINITY;
    this.sendCiphers = new EpochCiphers(sendBase, createCipher);
    const sendCipher = this.sendCiphers.seed(sendEpoch, createCipher(sendBase));
    this.receiveCiphers = new EpochCiphers(receiveBase, createCipher);
    this.receiveCiphers.seed(0, receiveBase === sendBase ? sendCipher : createCipher(receiveBase));
  }

  get sendEpoch(): number {
    return this.state[E2eSlot.SEND_EPOCH]!;
  }
  set sendEpoch(value: number) {
    this.state[E2eSlot.SEND_EPOCH] = value;
  }
  /** Packets sealed under `sendEpoch`, and when the first of them was (ms, the data plane's clock). */
  get sendPackets(): number {
    return this.state[E2eSlot.SEND_PACKETS]!;
  }
  set sendPackets(value: number) {
    this.state[E2eSlot.SEND_PACKETS] = value;
  }
  get sendSinceMs(): number {
    return this.state[E2eSlot.SEND_SINCE_MS]!;
  }
  set sendSinceMs(value: number) {
    this.state[E2eSlot.SEND_SINCE_MS] = value;
  }
  /** Set by `requestRekey`: the next packet goes under the next epoch. */
  get rekeyRequested(): boolean {
    return this.state[E2eSlot.REKEY_REQUESTED] !== 0;
  }
  set rekeyRequested(value: boolean) {
    this.state[E2eSlot.REKEY_REQUESTED] = value ? 1 : 0;
  }
  /** The cipher of the send epoch. */
  get sendCipher(): PayloadCipher {
    const epoch = this.sendEpoch;
    return this.sendCiphers.of(epoch, epoch, epoch);
  }
  get receiveEpoch(): number {
    return this.state[E2eSlot.RECEIVE_EPOCH]!;
  }
  /** -1 when there is no previous epoch. */
  get previousEpoch(): number {
    return this.state[E2eSlot.PREVIOUS_EPOCH]!;
  }
  get previousUntilMs(): number {
    return this.state[E2eSlot.PREVIOUS_UNTIL_MS]!;
  }
  /** The cipher of receive epoch `epoch` (derived once, kept beside the current and previous epochs'). */
  receiveCipherFor(epoch: number): PayloadCipher {
    return this.receiveCiphers.of(epoch, this.receiveEpoch, this.previousEpoch);
  }
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
  return new E2eEpochs(keys.sendKey, keys.receiveKey, createCipher, sendEpoch);
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
 * Moves the sender to the next epoch (its cipher is derived at its first seal: one HKDF, one
 * cipher). False when the epoch space is spent (2^32 epochs: the flow keeps sealing under its last
 * epoch, which the packet limit then no longer bounds — unreachable at 2 minutes an epoch).
 */
export function advanceSendEpoch(e2e: E2eEpochs): boolean {
  e2e.rekeyRequested = false;
  e2e.sendPackets = 0;
  if (e2e.sendEpoch >= E2E_EPOCH_MAX) return false;
  e2e.sendEpoch += 1;
  return true;
}

/** What the receiver does with a packet of some epoch (`receiveCipherOf`). */
export const E2eReceive = {
  /** Open with the current or the previous epoch's cipher (returned). */
  KNOWN: 0,
  /** Open with the candidate epoch's cipher (returned), then `acceptCandidate` once it opened and was no replay. */
  CANDIDATE: 1,
  /** Drop: an epoch older than the current one whose grace is over (or never had one). */
  STALE: 2,
  /** Drop: more than E2E_EPOCH_LOOKAHEAD epochs ahead of the current one. */
  AHEAD: 3,
} as const;
export type E2eReceive = (typeof E2eReceive)[keyof typeof E2eReceive];

/**
 * Decides how a packet of `epoch` with `counter` opens (the module comment's table) and leaves the
 * cipher in `out.cipher`. Allocates only when it derives an epoch's key (once per epoch).
 */
export function receiveCipherOf(
  e2e: E2eEpochs,
  epoch: number,
  counter: number,
  replay: ReplayWindow,
  nowMs: number,
  out: { cipher: PayloadCipher | undefined },
): E2eReceive {
  if (epoch === e2e.receiveEpoch || (epoch === e2e.previousEpoch && nowMs <= e2e.previousUntilMs)) {
    out.cipher = e2e.receiveCipherFor(epoch);
    return E2eReceive.KNOWN;
  }
  const isRestart = epoch === 0 && counter > highestOf(replay) && replay.check(counter);
  if (e2e.hasOpened && !isRestart) {
    if (epoch < e2e.receiveEpoch || epoch === e2e.previousEpoch) return E2eReceive.STALE;
    if (epoch - e2e.receiveEpoch > E2E_EPOCH_LOOKAHEAD) return E2eReceive.AHEAD;
  }
  out.cipher = e2e.receiveCipherFor(epoch);
  return E2eReceive.CANDIDATE;
}

/** The highest counter a window accepted (-1 before the first). */
function highestOf(replay: ReplayWindow): number {
  return replay.state[1]!;
}

/**
 * A packet of the candidate `epoch` opened (and was no replay): it becomes current, the current one
 * previous until `graceMs` from now (packets sealed under it may still be in flight). Returns
 * whether the epoch moved.
 */
export function acceptCandidate(e2e: E2eEpochs, epoch: number, graceMs: number, nowMs: number): boolean {
  const { state } = e2e;
  e2e.hasOpened = true;
  if (epoch === e2e.receiveEpoch) return false;
  state[E2eSlot.PREVIOUS_EPOCH] = e2e.receiveEpoch;
  state[E2eSlot.PREVIOUS_UNTIL_MS] = nowMs + graceMs;
  state[E2eSlot.RECEIVE_EPOCH] = epoch;
  return true;
}
