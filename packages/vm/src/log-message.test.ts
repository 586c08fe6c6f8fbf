import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeLogMessage } from './log-message';

const seed = Number(process.env.CAPSULE_TEST_SEED ?? 1805);

describe('decodeLogMessage', () => {
  it('reads a 4-byte message as the int Services.log passed (little-endian, signed)', () => {
    expect(decodeLogMessage(Uint8Array.of(1, 1, 0, 0))).toEqual({ text: '257', value: 257 });
    expect(decodeLogMessage(Uint8Array.of(0xff, 0xff, 0xff, 0xff))).toEqual({ text: '-1', value: -1 });
    expect(decodeLogMessage(Uint8Array.of(0, 0, 0, 0x80)).value).toBe(-2147483648);
  });

  it('prints printable UTF-8 as text, anything else as hex', () => {
    expect(decodeLogMessage(new TextEncoder().encode('hello, wörld'))).toEqual({ text: 'hello, wörld' });
    expect(decodeLogMessage(Uint8Array.of(0x68, 0x00, 0x69))).toEqual({ text: '0x680069' });
    expect(decodeLogMessage(Uint8Array.of(0xc3, 0x28, 0x41))).toEqual({ text: '0xc32841' });
    expect(decodeLogMessage(new Uint8Array(0))).toEqual({ text: '0x' });
  });

  it('never throws, and a 4-byte message round-trips its int', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const decoded = decodeLogMessage(bytes);
        expect(typeof decoded.text).toBe('string');
        if (bytes.length === 4) expect(decoded.value).toBe(new DataView(bytes.buffer).getInt32(0, true));
      }),
      { seed, numRuns: 500 },
    );
  });
});
