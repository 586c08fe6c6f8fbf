import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cgaAddress,
  cgaHash1,
  cgaHash2,
  cgaParametersToBytes,
  cgaSec,
  decodeCgaParameters,
  encodeCgaParameters,
  generateCga,
  generateCgaSync,
  searchCgaModifier,
  searchCgaModifierSync,
  verifyCga,
} from './cga';
import { formatIpv6Address, parseIpv6Address, parseSubnetPrefix64 } from './ipv6-address';
import { exportPublicKeyDer, generateRsaKeyPair } from './rsa-keys';

const hex = (text: string) => new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** RFC 3972 Appendix A, copied from the RFC text. */
const appendixA = {
  publicKey: hex(`305c 300d 0609 2a86 4886 f70d 0101 0105 0003 4b00 3048 0241
    00c2 c2f1 3730 5454 f10b d9ce a368 44b5 30e9 211a 4b26 2b16
    467c b7df ba1f 595c 0194 f275 be5a 4d38 6f2c 3c23 8250 8773
    c786 7f9b 3b9e 63a0 9c7b c48f 7a54 ebef af02 0301 0001`),
  initialModifier: hex('89a8 a8b2 e858 d8b8 f263 3f44 d2d4 ce9a'),
  firstHash2: '436b9a70dbfddbf1926e6e6629c0',
  finalModifier: hex('89a8 a8b2 e858 d8b8 f263 3f44 d2d4 ce9b'),
  finalHash2: '000001ca680b83888d0912dffcce',
  hash1: 'fd4a5bf6ffb4ca6c',
  address: 'fe80::3c4a:5bf6:ffb4:ca6c',
  /** "The CGA Parameters data structure associated with the address is the same as the input to Hash1." */
  parameters: hex(`89a8 a8b2 e858 d8b8 f263 3f44 d2d4 ce9b fe80 0000 0000 0000 00
    305c 300d 0609 2a86 4886 f70d 0101 0105 0003 4b00 3048 0241
    00c2 c2f1 3730 5454 f10b d9ce a368 44b5 30e9 211a 4b26 2b16
    467c b7df ba1f 595c 0194 f275 be5a 4d38 6f2c 3c23 8250 8773
    c786 7f9b 3b9e 63a0 9c7b c48f 7a54 ebef af02 0301 0001`),
};

describe('RFC 3972 Appendix A, reproduced exactly', () => {
  const empty = new Uint8Array(0);

  it('computes both Hash2 values of the example', () => {
    expect(toHex(cgaHash2(appendixA.initialModifier, appendixA.publicKey, empty))).toBe(appendixA.firstHash2);
    expect(toHex(cgaHash2(appendixA.finalModifier, appendixA.publicKey, empty))).toBe(appendixA.finalHash2);
  });

  it('finds the final modifier after two tries from the initial one', () => {
    const result = searchCgaModifierSync({
      publicKey: appendixA.publicKey,
      sec: 1,
      initialModifier: appendixA.initialModifier,
    });
    expect(toHex(result.modifier)).toBe(toHex(appendixA.finalModifier));
    expect(result.iterations).toBe(2);
  });

  it('produces Hash1, the address and the parameters of the example', async () => {
    const cga = await generateCga({
      publicKey: appendixA.publicKey,
      subnetPrefix: parseSubnetPrefix64('fe80::'),
      sec: 1,
      initialModifier: appendixA.initialModifier,
    });
    expect(toHex(cgaHash1(cga.parametersBytes))).toBe(appendixA.hash1);
    expect(formatIpv6Address(cga.address)).toBe(appendixA.address);
    expect(toHex(cga.parametersBytes)).toBe(toHex(appendixA.parameters));
  });

  it('with the final modifier given (no search) gives the same address', () => {
    const cga = generateCgaSync({
      publicKey: appendixA.publicKey,
      subnetPrefix: parseSubnetPrefix64('fe80::/64'),
      sec: 1,
      modifier: appendixA.finalModifier,
    });
    expect(cga.iterations).toBe(0);
    expect(formatIpv6Address(cga.address)).toBe(appendixA.address);
  });

  it('verifies the example address against its parameters, with Sec 1', () => {
    const address = parseIpv6Address(appendixA.address)!;
    expect(cgaSec(address)).toBe(1);
    const result = verifyCga(address, appendixA.parameters);
    expect(result.ok).toBe(true);
    if (result.ok) expect(toHex(result.parameters.publicKey)).toBe(toHex(appendixA.publicKey));
  });
});

describe('CGA verification (RFC 3972 section 5), step by step', () => {
  const address = parseIpv6Address(appendixA.address)!;
  const withByte = (bytes: Uint8Array, index: number, value: number) => {
    const copy = bytes.slice();
    copy[index] = value;
    return copy;
  };

  it('step 1: refuses a collision count above 2', () => {
    expect(verifyCga(address, withByte(appendixA.parameters, 24, 3))).toEqual({
      ok: false,
      reason: 'collision-count-out-of-range',
    });
  });

  it('step 2: refuses parameters for another subnet prefix', () => {
    expect(verifyCga(address, withByte(appendixA.parameters, 16, 0x20))).toEqual({
      ok: false,
      reason: 'prefix-mismatch',
    });
  });

  it('steps 3-4: refuses another modifier, key or extension (Hash1 no longer matches)', () => {
    expect(verifyCga(address, withByte(appendixA.parameters, 0, 0x00))).toEqual({
      ok: false,
      reason: 'hash1-mismatch',
    });
    const lastKeyByte = appendixA.parameters.length - 1;
    expect(verifyCga(address, withByte(appendixA.parameters, lastKeyByte, 0x02)).ok).toBe(false);
    const extended = new Uint8Array([...appendixA.parameters, 0xff, 0xfd, 0x00, 0x00]);
    expect(verifyCga(address, extended)).toEqual({ ok: false, reason: 'hash1-mismatch' });
  });

  it('step 4: ignores the u and g bits (6, 7), checks every other bit', () => {
    for (const bit of [0x02, 0x01])
      expect(verifyCga(withByte(address, 8, address[8]! | bit), appendixA.parameters).ok).toBe(true);
    expect(verifyCga(withByte(address, 8, address[8]! ^ 0x04), appendixA.parameters).ok).toBe(false);
    expect(verifyCga(withByte(address, 15, address[15]! ^ 0x01), appendixA.parameters).ok).toBe(false);
  });

  it('steps 5-7: Sec 0 always passes step 7, Sec 2 needs 32 zero bits of Hash2', () => {
    expect(
      verifyCga(withByte(address, 8, (address[8]! & 0x1f) | (0 << 5)), appendixA.parameters),
    ).toMatchObject({
      ok: true,
      sec: 0,
    });
    expect(verifyCga(withByte(address, 8, (address[8]! & 0x1f) | (2 << 5)), appendixA.parameters)).toEqual({
      ok: false,
      reason: 'hash2-not-zero',
    });
  });

  it('refuses malformed input without throwing', () => {
    expect(verifyCga(address.subarray(0, 15), appendixA.parameters)).toEqual({
      ok: false,
      reason: 'malformed-address',
    });
    expect(verifyCga(address, appendixA.parameters.subarray(0, 30))).toEqual({
      ok: false,
      reason: 'malformed-parameters',
    });
  });
});

describe('CGA generation with a real RSA-2048 key', () => {
  const publicKey = exportPublicKeyDer(generateRsaKeyPair().publicKey);
  const prefix = parseSubnetPrefix64('2001:db8:1:2::/64');

  it('makes verifiable Sec 0 and Sec 1 addresses, and collision counts 0..2 give different addresses', async () => {
    for (const sec of [0, 1]) {
      const addresses = new Set<string>();
      const first = await generateCga({ publicKey, subnetPrefix: prefix, sec });
      for (const collisionCount of [0, 1, 2]) {
        const cga = generateCgaSync({
          publicKey,
          subnetPrefix: prefix,
          sec,
          modifier: first.parameters.modifier,
          collisionCount,
        });
        expect(verifyCga(cga.address, cga.parametersBytes)).toMatchObject({ ok: true, sec });
        expect(cgaSec(cga.address)).toBe(sec);
        expect(toHex(cga.address.subarray(0, 8))).toBe(toHex(prefix));
        expect(cga.address[8]! & 0x03).toBe(0);
        addresses.add(formatIpv6Address(cga.address));
      }
      expect(addresses.size).toBe(3);
    }
  });

  it('refuses a collision count of 3, a Sec of 8 and a short modifier', () => {
    expect(() => generateCgaSync({ publicKey, subnetPrefix: prefix, sec: 0, collisionCount: 3 })).toThrow(
      expect.objectContaining({ code: 'CGA_INVALID_COLLISION_COUNT' }),
    );
    expect(() => generateCgaSync({ publicKey, subnetPrefix: prefix, sec: 8 })).toThrow(
      expect.objectContaining({ code: 'CGA_INVALID_SEC' }),
    );
    expect(() =>
      generateCgaSync({ publicKey, subnetPrefix: prefix, sec: 1, modifier: new Uint8Array(15) }),
    ).toThrow(expect.objectContaining({ code: 'CGA_INVALID_MODIFIER' }));
  });

  it('gives up at maxIterations, reporting progress on the way', async () => {
    const progress: number[] = [];
    await expect(
      searchCgaModifier({
        publicKey,
        sec: 7,
        maxIterations: 5000,
        progressEveryIterations: 1000,
        onProgress: (report) => progress.push(report.iterations),
      }),
    ).rejects.toMatchObject({ code: 'CGA_SEARCH_EXHAUSTED' });
    expect(progress).toEqual([1000, 2000, 3000, 4000, 5000]);
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    const search = searchCgaModifier({
      publicKey,
      sec: 7,
      progressEveryIterations: 500,
      signal: controller.signal,
      onProgress: (report) => {
        if (report.iterations >= 1500) controller.abort();
      },
    });
    await expect(search).rejects.toMatchObject({ code: 'CGA_SEARCH_ABORTED' });
  });

  it('wraps the modifier around at 2^128 - 1', () => {
    const result = searchCgaModifierSync({
      publicKey: appendixA.publicKey,
      sec: 1,
      initialModifier: new Uint8Array(16).fill(0xff),
      maxIterations: 2 ** 22,
    });
    const parameters = {
      modifier: result.modifier,
      subnetPrefix: prefix,
      collisionCount: 0,
      publicKey: appendixA.publicKey,
      extensionFields: new Uint8Array(0),
    };
    expect(result.modifier[0]).toBe(0); // wrapped past all-ones
    expect(verifyCga(cgaAddress(parameters, 1), cgaParametersToBytes(parameters)).ok).toBe(true);
  });
});

describe('CGA Parameters codec', () => {
  const derKey = fc.uint8Array({ minLength: 0, maxLength: 300 }).map((content) => {
    const header =
      content.length < 0x80
        ? [0x30, content.length]
        : content.length < 0x100
          ? [0x30, 0x81, content.length]
          : [0x30, 0x82, content.length >> 8, content.length & 0xff];
    return new Uint8Array([...header, ...content]);
  });
  const parameters = fc.record({
    modifier: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    subnetPrefix: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    collisionCount: fc.integer({ min: 0, max: 255 }),
    publicKey: derKey,
    extensionFields: fc.uint8Array({ maxLength: 64 }),
  });

  it('round-trips every structure (encode → decode → encode)', () => {
    fc.assert(
      fc.property(parameters, (value) => {
        const bytes = cgaParametersToBytes(value);
        const decoded = decodeCgaParameters(bytes);
        expect(decoded.ok).toBe(true);
        if (!decoded.ok) return;
        expect(toHex(decoded.value.publicKey)).toBe(toHex(value.publicKey));
        expect(toHex(decoded.value.extensionFields)).toBe(toHex(value.extensionFields));
        const again = new Uint8Array(bytes.length + 3);
        expect(encodeCgaParameters(decoded.value, again, 3)).toBe(bytes.length);
        expect(toHex(again.subarray(3))).toBe(toHex(bytes));
      }),
      { seed: testSeed, numRuns: 2000 },
    );
  });

  it('refuses a buffer that is too small', () => {
    expect(() => encodeCgaParameters(decodeOk(appendixA.parameters), new Uint8Array(50))).toThrow(
      expect.objectContaining({ code: 'IDENTITY_BUFFER_TOO_SMALL' }),
    );
  });

  it('decoder and verifier: 100,000 hostile inputs, never a throw', () => {
    const mutated = fc
      .tuple(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat({ max: 140 }),
      )
      .map(([edits, cut]) => {
        const bytes = appendixA.parameters.slice(0, appendixA.parameters.length - (cut % 3 === 0 ? cut : 0));
        for (const [at, value] of edits) if (bytes.length > 0) bytes[at % bytes.length] = value;
        return bytes;
      });
    const input = fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated);
    const address = parseIpv6Address(appendixA.address)!;
    let accepted = 0;
    let runs = 0;
    fc.assert(
      fc.property(input, (bytes) => {
        runs += 1;
        const decoded = decodeCgaParameters(bytes);
        if (decoded.ok) accepted += 1;
        verifyCga(address, bytes);
      }),
      { seed: testSeed, numRuns: 100_000 },
    );
    expect(runs).toBe(100_000);
    expect(accepted).toBeGreaterThan(0);
  });
});

function decodeOk(bytes: Uint8Array) {
  const result = decodeCgaParameters(bytes);
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}
