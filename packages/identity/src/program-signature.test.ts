import { describe, expect, it } from 'vitest';
import { generateControllerKey } from './controller-key';
import { programImageDigest, signProgramImage, verifyProgramImage } from './program-signature';

const key = generateControllerKey();
const image = { code: new Uint8Array([0x13, 0x05, 0x10, 0x00, 0x73, 0x00, 0x00, 0x00]), entries: [0, 4] };

describe('program image signature', () => {
  it('signs a canonical digest that changes with any code byte or entry', () => {
    const digest = Buffer.from(programImageDigest(image)).toString('hex');
    expect(
      Buffer.from(programImageDigest({ code: image.code.slice(), entries: [0, 4] })).toString('hex'),
    ).toBe(digest);
    expect(Buffer.from(programImageDigest({ ...image, entries: [4, 0] })).toString('hex')).not.toBe(digest);
    expect(Buffer.from(programImageDigest({ ...image, entries: [0, 4, 0] })).toString('hex')).not.toBe(
      digest,
    );
    // the length prefix keeps code and entry table apart
    expect(
      Buffer.from(programImageDigest({ code: image.code.subarray(0, 7), entries: [0, 4] })).toString('hex'),
    ).not.toBe(digest);
  });

  it('verifies; rejects changed code, changed entries, another key, a flipped signature bit', () => {
    const signature = signProgramImage(image, key);
    expect(signature.keyId).toBe(key.keyId);
    expect(verifyProgramImage(image, signature, key)).toEqual({ ok: true });
    const code = image.code.slice();
    code[0]! ^= 1;
    expect(verifyProgramImage({ code, entries: image.entries }, signature, key)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(verifyProgramImage({ ...image, entries: [0] }, signature, key)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(verifyProgramImage(image, signature, generateControllerKey())).toEqual({
      ok: false,
      reason: 'wrong-key-id',
    });
    const flipped = signature.signature.slice();
    flipped[10]! ^= 0x80;
    expect(verifyProgramImage(image, { ...signature, signature: flipped }, key)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(verifyProgramImage({ ...image, entries: [-1] }, signature, key)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
  });
});
