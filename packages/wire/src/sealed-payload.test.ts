import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCapsuleError } from './errors';
import {
  decodeSealedPayload,
  encodeSealedPayload,
  encodeSealedPayloadHeader,
  SEALED_PAYLOAD_HEADER_LENGTH,
  SEALED_PAYLOAD_OVERHEAD,
  SealedPayloadView,
} from './sealed-payload';

describe('sealed payload header', () => {
  it('lays out key epoch ‖ 0x00000000 ‖ counter (u64 BE) byte for byte, at an offset', () => {
    const bytes = new Uint8Array(3 + 16).fill(0xee);
    expect(encodeSealedPayloadHeader(0x0102_0304, 0x0a0b_0c0d_0e0f, bytes, 3)).toBe(16);
    expect(Buffer.from(bytes).toString('hex')).toBe(`eeeeee01020304${'00000000'}00000a0b0c0d0e0f`);
    encodeSealedPayloadHeader(7, 0xffff_ffff_ffff_fffen, bytes, 3);
    expect(Buffer.from(bytes.subarray(3)).toString('hex')).toBe(`00000007${'00000000'}fffffffffffffffe`);
  });

  it('a number counter and the same bigint counter write the same bytes (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.bigInt({ min: 0n, max: BigInt(Number.MAX_SAFE_INTEGER) }),
        (epoch, counter) => {
          const byNumber = new Uint8Array(16);
          const byBigint = new Uint8Array(16);
          encodeSealedPayloadHeader(epoch, Number(counter), byNumber);
          encodeSealedPayloadHeader(epoch, counter, byBigint);
          expect(Array.from(byNumber)).toEqual(Array.from(byBigint));
          const view = new SealedPayloadView();
          const payload = new Uint8Array(SEALED_PAYLOAD_OVERHEAD);
          payload.set(byNumber);
          expect(view.parse(payload)).toBe(true);
          expect(view.keyEpoch).toBe(epoch);
          expect(view.counter).toBe(Number(counter));
          expect((BigInt(view.counterHigh) << 32n) | BigInt(view.counterLow)).toBe(counter);
        },
      ),
      { seed: testSeed, numRuns: 1000 },
    );
  });

  it('refuses values out of range and buffers without room (the caller’s bug: throws)', () => {
    const bytes = new Uint8Array(16);
    for (const [epoch, counter, into] of [
      [2 ** 32, 0, bytes],
      [-1, 0, bytes],
      [0, -1, bytes],
      [0, 2 ** 53, bytes],
      [0, 1.5, bytes],
      [0, Number.NaN, bytes],
      [0, -1n, bytes],
      [0, 2n ** 64n, bytes],
      [0, 0, new Uint8Array(15)],
    ] as const) {
      let caught: unknown;
      try {
        encodeSealedPayloadHeader(epoch, counter, into);
      } catch (error) {
        caught = error;
      }
      expect(isCapsuleError(caught), `${epoch} ${counter} ${into.length}`).toBe(true);
    }
  });
});

describe('SealedPayloadView', () => {
  it('finds the header fields and the ciphertext inside a larger buffer', () => {
    const bytes = new Uint8Array(10 + 16 + 5 + 16 + 7);
    encodeSealedPayloadHeader(9, 2 ** 40 + 3, bytes, 10);
    const view = new SealedPayloadView();
    expect(view.parse(bytes, 10, 10 + 37)).toBe(true);
    expect(view).toMatchObject({
      keyEpoch: 9,
      counterHigh: 2 ** 8,
      counterLow: 3,
      counter: 2 ** 40 + 3,
      ciphertextOffset: 26,
      ciphertextLength: 5,
      errorCode: undefined,
    });
  });

  it('agrees with decodeSealedPayload on every payload whose nonce is 0 ‖ counter (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (keyEpoch, counter, ciphertext, tag) => {
          const nonce = new Uint8Array(12);
          new DataView(nonce.buffer).setBigUint64(4, counter);
          const bytes = new Uint8Array(SEALED_PAYLOAD_OVERHEAD + ciphertext.length);
          encodeSealedPayload({ keyEpoch, nonce, ciphertext, tag }, bytes);
          const header = new Uint8Array(SEALED_PAYLOAD_HEADER_LENGTH);
          encodeSealedPayloadHeader(keyEpoch, counter, header);
          expect(Array.from(bytes.subarray(0, 16))).toEqual(Array.from(header));
          const view = new SealedPayloadView();
          expect(view.parse(bytes)).toBe(true);
          const decoded = decodeSealedPayload(bytes);
          expect(decoded.ok).toBe(true);
          if (!decoded.ok) return;
          expect(view.keyEpoch).toBe(decoded.value.keyEpoch);
          expect(
            bytes.subarray(view.ciphertextOffset, view.ciphertextOffset + view.ciphertextLength),
          ).toEqual(decoded.value.ciphertext);
          expect((BigInt(view.counterHigh) << 32n) | BigInt(view.counterLow)).toBe(counter);
        },
      ),
      { seed: testSeed, numRuns: 500 },
    );
  });

  it('refuses a short payload, a range outside the bytes and a nonce not of the form 0 ‖ counter', () => {
    const view = new SealedPayloadView();
    expect(view.parse(new Uint8Array(31))).toBe(false);
    expect(view.errorCode).toBe('TRUNCATED');
    const bytes = new Uint8Array(40);
    expect(view.parse(bytes, 9, 40)).toBe(false);
    expect(view.parse(bytes, -1, 40)).toBe(false);
    expect(view.parse(bytes, 0, 41)).toBe(false);
    expect(view.errorCode).toBe('TRUNCATED');
    expect(view.parse(bytes, 8, 40)).toBe(true);
    expect(view.errorCode).toBeUndefined();
    bytes[4] = 1;
    expect(view.parse(bytes)).toBe(false);
    expect(view).toMatchObject({ errorCode: 'BAD_FIELD', errorOffset: 4 });
  });

  it('never throws on hostile bytes and ranges (20,000 random cases)', () => {
    const view = new SealedPayloadView();
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 100, size: 'max' }),
        fc.integer({ min: -4, max: 40 }),
        fc.integer({ min: -4, max: 64 }),
        fc.boolean(),
        (bytes, offset, length, zeroNonceStart) => {
          const end = offset + length;
          // Half the cases get a well-formed nonce start, so that some parses succeed.
          if (zeroNonceStart && offset >= 0) bytes.fill(0, offset + 4, offset + 8);
          const ok = view.parse(bytes, offset, end);
          if (ok) {
            accepted += 1;
            expect(end - offset).toBeGreaterThanOrEqual(SEALED_PAYLOAD_OVERHEAD);
            expect(view.ciphertextOffset + view.ciphertextLength + 16).toBe(end);
          } else expect(view.errorCode).toBeDefined();
        },
      ),
      { seed: testSeed, numRuns: 20_000 },
    );
    expect(accepted).toBeGreaterThan(0);
  });
});
