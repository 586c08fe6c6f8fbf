/**
 * The e2e epochs' state and ciphers (e2e-epochs.ts): each epoch's cipher derived once from the
 * direction's base key and kept beside the epochs in use, however many packets name an epoch (a
 * forged packet must not cost a key derivation each), and followed when the shared state moves.
 */
import { randomBytes } from 'node:crypto';
import {
  createNodePayloadCipher,
  deriveE2eEpochKey,
  E2E_EPOCH_MAX,
  type PayloadCipher,
} from '@capsule/identity';
import { ReplayWindow } from '@capsule/overlay';
import { describe, expect, it } from 'vitest';
import {
  acceptCandidate,
  advanceSendEpoch,
  createE2eEpochs,
  E2eReceive,
  E2eSlot,
  receiveCipherOf,
} from './e2e-epochs';

/** A cipher factory that records the keys it was given. */
function counting() {
  const keys: string[] = [];
  return {
    keys,
    create(key: Uint8Array): PayloadCipher {
      keys.push(Buffer.from(key).toString('hex'));
      return createNodePayloadCipher(key);
    },
  };
}
const hex = (key: Uint8Array) => Buffer.from(key).toString('hex');

describe('e2e epochs', () => {
  it('derives each receive epoch’s cipher once, however many packets name it', () => {
    const factory = counting();
    const keys = { sendKey: randomBytes(32), receiveKey: randomBytes(32) };
    const e2e = createE2eEpochs(keys, factory.create);
    expect(factory.keys).toEqual([hex(keys.sendKey), hex(keys.receiveKey)]);
    for (let round = 0; round < 50; round += 1)
      for (const epoch of [0, 1, 2, 3, 4]) e2e.receiveCipherFor(epoch);
    expect(factory.keys.slice(2)).toEqual(
      [1, 2, 3, 4].map((n) => hex(deriveE2eEpochKey(keys.receiveKey, n))),
    );
  });

  it('keeps the current and previous epochs’ ciphers when others give way, and follows the shared state', () => {
    const factory = counting();
    const keys = { sendKey: randomBytes(32), receiveKey: randomBytes(32) };
    const e2e = createE2eEpochs(keys, factory.create);
    e2e.receiveCipherFor(5);
    expect(acceptCandidate(e2e, 5, 10_000, 1_000)).toBe(true);
    expect([e2e.receiveEpoch, e2e.previousEpoch, e2e.previousUntilMs]).toEqual([5, 0, 11_000]);
    const current = e2e.receiveCipherFor(5);
    const previous = e2e.receiveCipherFor(0);
    // Many other epochs asked for (forged packets of each): the two in use stay.
    for (let epoch = 6; epoch < 40; epoch += 1) e2e.receiveCipherFor(epoch);
    const derived = factory.keys.length;
    expect(e2e.receiveCipherFor(5)).toBe(current);
    expect(e2e.receiveCipherFor(0)).toBe(previous);
    expect(factory.keys.length).toBe(derived);
    // The native fast path moves the epoch in the shared array: the cipher follows.
    e2e.state[E2eSlot.RECEIVE_EPOCH] = 41;
    e2e.state[E2eSlot.PREVIOUS_EPOCH] = 5;
    e2e.receiveCipherFor(41);
    expect(factory.keys.at(-1)).toBe(hex(deriveE2eEpochKey(keys.receiveKey, 41)));
    expect(e2e.receiveCipherFor(5)).toBe(current);
  });

  it('seals under the send epoch the shared state names, whoever moved it', () => {
    const factory = counting();
    const keys = { sendKey: randomBytes(32), receiveKey: randomBytes(32) };
    const e2e = createE2eEpochs(keys, factory.create);
    const first = e2e.sendCipher;
    expect(e2e.sendCipher).toBe(first);
    e2e.sendPackets = 3;
    e2e.rekeyRequested = true;
    expect(advanceSendEpoch(e2e)).toBe(true);
    expect([e2e.sendEpoch, e2e.sendPackets, e2e.rekeyRequested]).toEqual([1, 0, false]);
    expect(e2e.sendCipher).not.toBe(first);
    expect(factory.keys.at(-1)).toBe(hex(deriveE2eEpochKey(keys.sendKey, 1)));
    e2e.state[E2eSlot.SEND_EPOCH] = 2; // as the native fast path moves it
    e2e.sendCipher;
    expect(factory.keys.at(-1)).toBe(hex(deriveE2eEpochKey(keys.sendKey, 2)));
  });

  it('never moves the send epoch past the last one (no wrap to a key the receiver has as epoch 0)', () => {
    const e2e = createE2eEpochs(
      { sendKey: randomBytes(32), receiveKey: randomBytes(32) },
      createNodePayloadCipher,
    );
    e2e.state[E2eSlot.SEND_EPOCH] = E2E_EPOCH_MAX - 1;
    expect(advanceSendEpoch(e2e)).toBe(true);
    e2e.sendPackets = 5;
    expect(advanceSendEpoch(e2e)).toBe(false);
    expect([e2e.sendEpoch, e2e.sendPackets]).toEqual([E2E_EPOCH_MAX, 0]);
  });

  it('takes the previous epoch in its grace only, also when it is above the current one (the peer restarted)', () => {
    const e2e = createE2eEpochs(
      { sendKey: randomBytes(32), receiveKey: randomBytes(32) },
      createNodePayloadCipher,
    );
    const replay = new ReplayWindow();
    const out: { cipher: PayloadCipher | undefined } = { cipher: undefined };
    e2e.receiveCipherFor(1);
    acceptCandidate(e2e, 1, 10_000, 0); // epoch 1 current, 0 previous until 10 s
    replay.mark(100);
    // The peer restarts: its epoch 0 again, with a counter above the window's highest.
    expect(receiveCipherOf(e2e, 0, 200, replay, 20_000, out)).toBe(E2eReceive.CANDIDATE);
    acceptCandidate(e2e, 0, 10_000, 20_000); // epoch 0 current, 1 previous until 30 s
    expect(receiveCipherOf(e2e, 1, 300, replay, 25_000, out)).toBe(E2eReceive.KNOWN);
    expect(receiveCipherOf(e2e, 1, 300, replay, 30_001, out)).toBe(E2eReceive.STALE);
    expect(receiveCipherOf(e2e, 2, 300, replay, 30_001, out)).toBe(E2eReceive.CANDIDATE);
  });

  it('keeps a role-addressed flow’s group key at its group epoch (never derived)', () => {
    const factory = counting();
    const key = randomBytes(32);
    const e2e = createE2eEpochs({ sendKey: key, receiveKey: key }, factory.create, 7);
    expect(e2e.sendEpoch).toBe(7);
    e2e.sendCipher;
    e2e.receiveCipherFor(0);
    expect(factory.keys).toEqual([hex(key)]);
  });
});
