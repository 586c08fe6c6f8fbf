import { testSeed } from '@capsule/testkit';
import { ChunkLimit, createProgramImage } from '@capsule/wire';
import fc from 'fast-check';
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { codeChunkOf, dataChunkOf, toProgramImageTransfer, variableProblems } from './program-image';
import { ProgramImageTransfer } from './schemas';

const code = Uint8Array.from([0x13, 0x05, 0x10, 0x00, 0x73, 0x00, 0x10, 0x00, 0x13, 0x05, 0x20, 0x00]);
const image = createProgramImage({
  name: 'Two',
  code,
  entries: [
    { name: 'server', offset: 8 },
    { name: 'client', offset: 0 },
    { name: 'relay', offset: 4 },
  ],
  data: [
    { name: 'port', region: 'DATA', offset: 0, size: 4, type: 'int', initial: '50000000' },
    { name: 'tags', region: 'DATA', offset: 4, size: 2, type: 'byte[]', initial: '0102' },
    { name: 'seen', region: 'FLOW', offset: 0, size: 4, type: 'int', initial: '07000000' },
  ],
  regions: { dataBytes: 8, flowBytes: 4, contractBytes: 0, staticsBytes: 0 },
  sourceMap: [],
});

describe('the transfer form of a program image', () => {
  it('carries code, entries and the DATA record, and satisfies its schema', () => {
    const transfer = toProgramImageTransfer(image);
    expect(transfer).toEqual({
      code: Buffer.from(code).toString('base64'),
      entries: { server: 8, client: 0, relay: 4 },
      dataSize: 8,
      data: Buffer.from([0x50, 0, 0, 0, 1, 2, 0, 0]).toString('base64'),
      layout: [
        { name: 'port', offset: 0, size: 4, type: 'int' },
        { name: 'tags', offset: 4, size: 2, type: 'byte[]' },
      ],
    });
    expect(Value.Check(ProgramImageTransfer, transfer)).toBe(true);
    expect(
      toProgramImageTransfer({ ...image, regions: { ...image.regions, dataBytes: 0 } }),
    ).not.toHaveProperty('data');
  });

  it('gives each role its CODE chunk: its entry first, the others by offset', () => {
    const transfer = toProgramImageTransfer(image);
    expect(codeChunkOf(transfer, 'server')?.entryOffsets).toEqual([8, 0, 4]);
    expect(codeChunkOf(transfer, 'relay')?.entryOffsets).toEqual([4, 0, 8]);
    expect([...codeChunkOf(transfer, 'client')!.machineCode]).toEqual([...code]);
    for (const missing of ['nope', '__proto__', 'constructor', 'toString', ''])
      expect(codeChunkOf(transfer, missing)).toBeUndefined();
  });

  it('gives the DATA chunk: dataSize bytes, never more than the chunk limit', () => {
    expect([...dataChunkOf(toProgramImageTransfer(image))]).toEqual([0x50, 0, 0, 0, 1, 2, 0, 0]);
    expect(dataChunkOf({ code: '', entries: {}, dataSize: 16 })).toEqual(new Uint8Array(16));
    const big = dataChunkOf({
      code: '',
      entries: {},
      dataSize: 4096,
      data: Buffer.alloc(600, 7).toString('base64'),
    });
    expect(big).toHaveLength(ChunkLimit.DATA);
    expect(big.every((byte) => byte === 7)).toBe(true);
    // Initial bytes longer than dataSize are cut at dataSize.
    expect([...dataChunkOf({ code: '', entries: {}, dataSize: 2, data: 'AQIDBA==' })]).toEqual([1, 2]);
  });

  it('writes variables into their DATA fields, little-endian, sign-extended for a long', () => {
    const transfer = {
      code: '',
      entries: {},
      dataSize: 24,
      data: Buffer.alloc(24, 0xee).toString('base64'),
      layout: [
        { name: 'port', offset: 0, size: 4, type: 'int' },
        { name: 'mode', offset: 4, size: 1, type: 'byte' },
        { name: 'tag', offset: 6, size: 2, type: 'short' },
        { name: 'wide', offset: 8, size: 8, type: 'long' },
        { name: 'other', offset: 16, size: 8, type: 'long' },
      ],
    };
    const variables = { port: 8080, mode: -2, tag: 0xbeef, wide: -3, other: 0xffff_ffff };
    expect(variableProblems(transfer, variables)).toEqual([]);
    expect(Buffer.from(dataChunkOf(transfer, variables)).toString('hex')).toBe(
      ['901f0000', 'feee', 'efbe', 'fdffffffffffffff', 'ffffffff00000000'].join(''),
    );
    // No variables: the initial bytes.
    expect(dataChunkOf(transfer).every((byte) => byte === 0xee)).toBe(true);
  });

  it('says why variables cannot be written, and leaves those out of the DATA chunk', () => {
    const transfer = {
      code: '',
      entries: {},
      dataSize: 12,
      layout: [
        { name: 'port', offset: 0, size: 4, type: 'int' },
        { name: 'mode', offset: 4, size: 1, type: 'byte' },
        { name: 'list', offset: 5, size: 2, type: 'byte[]' },
        { name: 'blob', offset: 7, size: 3, type: 'bytes' },
        { name: 'far', offset: 10, size: 4, type: 'int' },
      ],
    };
    const bad = { nope: 1, mode: 256, list: 1, blob: 1, far: 1, port: 1.5 };
    expect(variableProblems(transfer, bad)).toEqual([
      'the program has no DATA field nope',
      '256 does not fit DATA field mode (1 bytes)',
      'DATA field list (byte[], 2 bytes) is not a scalar of 1, 2, 4 or 8 bytes',
      'DATA field blob (bytes, 3 bytes) is not a scalar of 1, 2, 4 or 8 bytes',
      'DATA field far lies past the 12-byte DATA chunk',
      '1.5 does not fit DATA field port (4 bytes)',
    ]);
    expect(dataChunkOf(transfer, bad)).toEqual(new Uint8Array(12));
    expect(variableProblems({ code: '', entries: {}, dataSize: 4 }, { port: 80 })).toEqual([
      'the program has no DATA field port',
    ]);
    expect(variableProblems(transfer, { mode: -128, port: -(2 ** 31) })).toEqual([]);
    expect(variableProblems(transfer, { mode: -129 })).toHaveLength(1);
  });

  it('never throws on any transfer form its schema admits (property)', () => {
    const base64 = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('base64'));
    const transfer = fc.record(
      {
        code: base64,
        entries: fc.dictionary(fc.string({ maxLength: 8 }), fc.integer({ min: 0, max: 2 ** 31 }), {
          maxKeys: 8,
        }),
        dataSize: fc.integer({ min: 0, max: 4096 }),
        data: base64,
        layout: fc.array(
          fc.record({
            name: fc.constantFrom('a', 'b', 'c'),
            offset: fc.integer({ min: 0, max: 4095 }),
            size: fc.integer({ min: 0, max: 4096 }),
            type: fc.constantFrom('int', 'long', 'byte[]', 'bytes'),
          }),
          { maxLength: 4 },
        ),
      },
      { requiredKeys: ['code', 'entries', 'dataSize'] },
    );
    const variables = fc.dictionary(
      fc.constantFrom('a', 'b', 'c', 'd'),
      fc.integer({ min: -2147483648, max: 4294967295 }),
    );
    fc.assert(
      fc.property(transfer, fc.string({ maxLength: 8 }), variables, (t, entry, vars) => {
        expect(Value.Check(ProgramImageTransfer, t)).toBe(true);
        const chunk = codeChunkOf(t, entry);
        if (chunk) expect(chunk.entryOffsets[0]).toBe(t.entries[entry]);
        expect(chunk === undefined).toBe(!Object.hasOwn(t.entries, entry));
        expect(dataChunkOf(t, vars).length).toBe(Math.min(ChunkLimit.DATA, t.dataSize));
        expect(variableProblems(t, vars).length).toBeLessThanOrEqual(Object.keys(vars).length);
      }),
      { seed: testSeed, numRuns: 1000 },
    );
  });
});
