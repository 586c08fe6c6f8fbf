import { createHash } from 'node:crypto';
import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { programImage } from '../test/arbitraries';
import {
  createProgramImage,
  decodeProgramImage,
  encodeProgramImage,
  initialDataOf,
  isBinaryProgramImage,
  logicHashOf,
  type ProgramImage,
  programImageFromJson,
  programImageLength,
  programImageToJson,
} from './program-image';

/** `li a0, 1; ecall` with one `.data` word, as `capsule asm --image` wrote it before the module moved here. */
const assembled = createProgramImage({
  name: 't.s',
  code: Uint8Array.from([0x05, 0x45, 0x73, 0x00, 0x00, 0x00]),
  entries: [{ name: 'main', offset: 0 }],
  data: [{ name: 'x', region: 'DATA', offset: 0, size: 4, type: 'bytes', initial: '07000000' }],
  regions: { dataBytes: 4, flowBytes: 0, contractBytes: 0, staticsBytes: 0 },
  sourceMap: [
    { offset: 0, line: 3 },
    { offset: 2, line: 4 },
  ],
});
const assembledMeta =
  '{"format":"capsule-program/1","name":"t.s","logicHash":"33003e1c77a780e8d19a794cc51943e5d9417a37bbf0ac6632a61d7b4d392870",' +
  '"entries":[{"name":"main","offset":0}],"data":[{"name":"x","region":"DATA","offset":0,"size":4,"type":"bytes","initial":"07000000"}],' +
  '"regions":{"dataBytes":4,"flowBytes":0,"contractBytes":0,"staticsBytes":0},"sourceMap":[[0,3],[2,4]]}';

const binaryOf = (image: ProgramImage) => {
  const out = new Uint8Array(programImageLength(image));
  expect(encodeProgramImage(image, out)).toBe(out.length);
  return out;
};
const comparable = (image: ProgramImage) => ({ ...image, code: [...image.code] });

describe('the logic hash', () => {
  it('is SHA-256 of the machine code, 32 bytes', () => {
    const code = Uint8Array.from([0x13, 0x05, 0x10, 0x00, 0x73, 0x00, 0x00, 0x00]);
    expect(Buffer.from(logicHashOf(code)).toString('hex')).toBe(
      createHash('sha256').update(code).digest('hex'),
    );
    expect(logicHashOf(code)).toHaveLength(32);
    expect(assembled.logicHash).toBe('33003e1c77a780e8d19a794cc51943e5d9417a37bbf0ac6632a61d7b4d392870');
    expect(assembled.logicHash).toBe(Buffer.from(logicHashOf(assembled.code)).toString('hex'));
  });
});

describe('program image codec', () => {
  it('writes the binary form byte for byte as the diagram says (and as images written before read)', () => {
    const bytes = binaryOf(assembled);
    expect([...bytes.subarray(0, 24)]).toEqual([
      0x43,
      0x50,
      0x49,
      0x4d,
      1,
      0,
      0,
      0, // "CPIM", version 1, reserved
      1,
      0,
      0,
      0,
      6,
      0,
      0,
      0, // CODE, 6 bytes
      0x05,
      0x45,
      0x73,
      0x00,
      0x00,
      0x00,
      0,
      0, // the code, padded to 8
    ]);
    expect([...bytes.subarray(24, 32)]).toEqual([
      2,
      0,
      0,
      0,
      assembledMeta.length & 0xff,
      assembledMeta.length >> 8,
      0,
      0,
    ]);
    expect(assembledMeta.length).toBe(0x164);
    expect(Buffer.from(bytes.subarray(32, 32 + assembledMeta.length)).toString('utf8')).toBe(assembledMeta);
    expect(bytes.length).toBe(32 + Math.ceil(assembledMeta.length / 4) * 4);
    expect(isBinaryProgramImage(bytes)).toBe(true);
    expect(isBinaryProgramImage(new TextEncoder().encode(programImageToJson(assembled)))).toBe(false);
  });

  it('writes the JSON form with a fixed key order and reads it back', () => {
    const text = programImageToJson(assembled);
    expect(Object.keys(JSON.parse(text))).toEqual([
      'format',
      'name',
      'logicHash',
      'code',
      'entries',
      'data',
      'regions',
      'sourceMap',
    ]);
    expect(text.endsWith('}\n')).toBe(true);
    expect(JSON.parse(text).code).toBe('054573000000');
    const back = programImageFromJson(text);
    expect(back.ok && comparable(back.value)).toEqual(comparable(assembled));
  });

  it('round-trips any image through both forms (property)', () => {
    fc.assert(
      fc.property(programImage, (image) => {
        const binary = decodeProgramImage(binaryOf(image));
        expect(binary.ok).toBe(true);
        if (binary.ok) expect(comparable(binary.value)).toEqual(comparable(image));
        const json = programImageFromJson(programImageToJson(image));
        expect(json.ok).toBe(true);
        if (json.ok) expect(comparable(json.value)).toEqual(comparable(image));
      }),
      { seed: testSeed, numRuns: 500 },
    );
  });

  it('writes into the caller buffer at an offset, and refuses a buffer too small', () => {
    const out = new Uint8Array(programImageLength(assembled) + 5).fill(0xee);
    expect(encodeProgramImage(assembled, out, 5)).toBe(out.length - 5);
    expect(out[4]).toBe(0xee);
    expect(decodeProgramImage(out.subarray(5)).ok).toBe(true);
    expect(() => encodeProgramImage(assembled, new Uint8Array(10))).toThrow(/WIRE_BUFFER_TOO_SMALL|needs/);
  });

  it('refuses forged and malformed binary images with a reason', () => {
    const good = binaryOf(assembled);
    const failure = (bytes: Uint8Array) => {
      const result = decodeProgramImage(bytes);
      return result.ok ? 'accepted' : result.error.code;
    };
    const edit = (at: number, value: number) => {
      const bytes = good.slice();
      bytes[at] = value;
      return bytes;
    };
    expect(failure(good.subarray(0, 7))).toBe('TRUNCATED');
    expect(failure(edit(0, 0x44))).toBe('BAD_FIELD'); // magic
    expect(failure(edit(4, 2))).toBe('BAD_VERSION');
    expect(failure(edit(6, 1))).toBe('BAD_FIELD'); // reserved
    expect(failure(edit(9, 1))).toBe('BAD_FIELD'); // chunk reserved
    expect(failure(edit(22, 1))).toBe('BAD_PADDING');
    expect(failure(edit(13, 0xff))).toBe('TRUNCATED'); // CODE length past the end
    expect(failure(good.subarray(0, good.length - 1))).toBe('TRUNCATED');
    expect(failure(good.subarray(0, 24))).toBe('MISSING'); // no META
    // A swapped code byte no longer hashes to the logic hash META states.
    const swapped = edit(16, 0x06);
    const result = decodeProgramImage(swapped);
    expect(!result.ok && result.error.message).toMatch(/logic hash mismatch/);
    // CODE twice.
    const twice = new Uint8Array(good.length + 16);
    twice.set(good.subarray(0, 24));
    twice.set(good.subarray(8, 24), 24);
    twice.set(good.subarray(24), 40);
    expect(failure(twice)).toBe('CHUNK_ORDER');
    // An unknown chunk type is skipped (a later version may add one).
    const extra = new Uint8Array(good.length + 12);
    extra.set(good);
    extra.set([9, 0, 0, 0, 3, 0, 0, 0, 1, 2, 3, 0], good.length);
    expect(failure(extra)).toBe('accepted');
    // META that is not UTF-8, not JSON, not an object.
    const withMeta = (meta: Uint8Array) => {
      const out = new Uint8Array(24 + 8 + Math.ceil(meta.length / 4) * 4);
      out.set(good.subarray(0, 24));
      out.set([2, 0, 0, 0, meta.length, 0, 0, 0], 24);
      out.set(meta, 32);
      return out;
    };
    expect(failure(withMeta(Uint8Array.from([0x7b, 0xff, 0x7d])))).toBe('BAD_FIELD');
    expect(failure(withMeta(new TextEncoder().encode('[1]')))).toBe('BAD_FIELD');
    const array = decodeProgramImage(withMeta(new TextEncoder().encode('[1]')));
    expect(!array.ok && array.error.message).toMatch(/not a JSON object/);
    expect(failure(withMeta(new TextEncoder().encode('{"format":"capsule-program/1"}')))).toBe('accepted');
    // A last chunk whose value is whole but whose padding is cut short.
    const padded = withMeta(new TextEncoder().encode('{"format":"capsule-program/1"} '));
    expect(failure(padded)).toBe('accepted');
    expect(failure(padded.subarray(0, padded.length - 1))).toBe('TRUNCATED');
  });

  it('refuses JSON images whose fields are of the wrong kind or out of bounds', () => {
    const base = JSON.parse(programImageToJson(assembled)) as Record<string, unknown>;
    const refused = (change: Record<string, unknown>) => {
      const result = programImageFromJson(JSON.stringify({ ...base, ...change }));
      return result.ok ? 'accepted' : result.error.message;
    };
    expect(refused({})).toBe('accepted');
    expect(refused({ format: 'capsule-program/2' })).toMatch(/format/);
    expect(refused({ code: 'abc' })).toMatch(/code/);
    expect(refused({ code: 'zz' })).toMatch(/code/);
    expect(refused({ code: 7 })).toMatch(/code/);
    expect(refused({ logicHash: '00' })).toMatch(/logic hash mismatch/);
    expect(refused({ name: 3 })).toMatch(/name/);
    expect(refused({ entries: {} })).toMatch(/entries/);
    expect(refused({ entries: [{ name: 'e', offset: -2 }] })).toMatch(/entries\[0\]/);
    expect(refused({ entries: [{ name: 'e', offset: 1.5 }] })).toMatch(/entries\[0\]/);
    expect(refused({ data: [{ ...(base.data as object[])[0], region: 'HEAP' }] })).toMatch(/data\[0\]/);
    expect(refused({ data: [{ ...(base.data as object[])[0], initial: 'x' }] })).toMatch(/data\[0\]/);
    expect(refused({ data: [{ ...(base.data as object[])[0], size: 0x1_0001 }] })).toMatch(/data\[0\]/);
    expect(
      refused({ regions: { dataBytes: 2 ** 32 - 1, flowBytes: 0, contractBytes: 0, staticsBytes: 0 } }),
    ).toMatch(/regions/);
    expect(refused({ regions: { dataBytes: 4 } })).toMatch(/regions/);
    expect(refused({ sourceMap: [[0]] })).toMatch(/sourceMap\[0\]/);
    expect(programImageFromJson('{').ok).toBe(false);
    expect(programImageFromJson('null').ok).toBe(false);
    expect(programImageFromJson('"x"').ok).toBe(false);
    // What a raw code file becomes: code only, everything else empty.
    const raw = programImageFromJson(JSON.stringify({ format: 'capsule-program/1', code: '0100' }));
    expect(raw.ok && raw.value.entries).toEqual([]);
  });

  it('never throws on 20,000 hostile JSON texts (random and mutated valid images)', () => {
    const valid = fc.sample(programImage, { seed: testSeed, numRuns: 100 }).map(programImageToJson);
    let state = testSeed >>> 0;
    const random = (max: number) => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state % max;
    };
    const alphabet = '{}[]",:0123456789abcdef-.eE truenullfalse\\u';
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      let text: string;
      if (i % 4 === 0)
        text = Array.from({ length: random(64) }, () => alphabet[random(alphabet.length)]).join('');
      else {
        const base = valid[random(valid.length)]!;
        const at = random(base.length);
        text = base.slice(0, at) + alphabet[random(alphabet.length)] + base.slice(at + random(3));
      }
      const result = programImageFromJson(text);
      if (result.ok) {
        accepted++;
        expect(result.value.logicHash).toBe(Buffer.from(logicHashOf(result.value.code)).toString('hex'));
      }
    }
    expect(accepted).toBeGreaterThan(0);
  });
});

describe('initialDataOf', () => {
  it('places each DATA field’s initial bytes; other regions and fields past dataBytes stay out', () => {
    const image = createProgramImage({
      ...assembled,
      data: [
        { name: 'a', region: 'DATA', offset: 0, size: 4, type: 'int', initial: '03000000' },
        { name: 'b', region: 'DATA', offset: 5, size: 2, type: 'byte[]', initial: '0102' },
        { name: 'c', region: 'FLOW', offset: 0, size: 4, type: 'int', initial: 'ffffffff' },
        { name: 'd', region: 'DATA', offset: 6, size: 4, type: 'int', initial: '09090909' },
        { name: 'e', region: 'DATA', offset: 40, size: 4, type: 'int', initial: '09090909' },
      ],
      regions: { dataBytes: 8, flowBytes: 4, contractBytes: 0, staticsBytes: 0 },
    });
    expect([...initialDataOf(image)]).toEqual([3, 0, 0, 0, 0, 1, 9, 9]);
  });
});
