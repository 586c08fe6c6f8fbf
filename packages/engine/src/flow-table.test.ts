import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlowTable } from './flow-table';

function keyBytes(source: number, destination: number): Uint8Array {
  const bytes = new Uint8Array(40);
  bytes[0] = 0xfd;
  bytes[15] = source;
  bytes[14] = source >> 8;
  bytes[16] = 0xfd;
  bytes[31] = destination;
  return bytes;
}

describe('FlowTable', () => {
  it('finds what it inserted, by the bytes of the packet, and forgets what it removed', () => {
    const table = new FlowTable(4);
    const a = keyBytes(1, 2);
    const id = table.insert(a, 0, 16, 0xabcde);
    expect(id).toBeGreaterThanOrEqual(0);
    expect(table.find(keyBytes(1, 2), 0, 16, 0xabcde)).toBe(id);
    expect(table.find(keyBytes(1, 2), 0, 16, 0xabcdf)).toBe(-1);
    expect(table.find(keyBytes(2, 1), 0, 16, 0xabcde)).toBe(-1);
    expect(table.flowLabelOf(id)).toBe(0xabcde);
    expect([...table.sourceOf(id)]).toEqual([...a.subarray(0, 16)]);
    table.remove(id);
    expect(table.find(a, 0, 16, 0xabcde)).toBe(-1);
    expect(table.size).toBe(0);
  });

  it('reports full instead of growing', () => {
    const table = new FlowTable(2);
    expect(table.insert(keyBytes(1, 1), 0, 16, 1)).not.toBe(-1);
    expect(table.insert(keyBytes(2, 1), 0, 16, 1)).not.toBe(-1);
    expect(table.insert(keyBytes(3, 1), 0, 16, 1)).toBe(-1);
  });

  it('behaves like a Map under random inserts and removals (backward-shift deletion keeps every key findable)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 3 })), {
          maxLength: 400,
        }),
        (operations) => {
          const table = new FlowTable(64);
          const model = new Map<string, number>();
          for (const [isInsert, source, label] of operations) {
            const key = `${source}/${label}`;
            const bytes = keyBytes(source, 9);
            if (isInsert && !model.has(key)) {
              const id = table.insert(bytes, 0, 16, label);
              if (model.size < 64) {
                expect(id).toBeGreaterThanOrEqual(0);
                model.set(key, id);
              } else expect(id).toBe(-1);
            } else if (!isInsert && model.has(key)) {
              table.remove(model.get(key)!);
              model.delete(key);
            }
            expect(table.size).toBe(model.size);
          }
          for (const [key, id] of model) {
            const [source, label] = key.split('/').map(Number);
            expect(table.find(keyBytes(source!, 9), 0, 16, label!)).toBe(id);
          }
        },
      ),
      { seed: testSeed, numRuns: 300 },
    );
  });
});
