import { spawnSync } from 'node:child_process';
import { release } from 'node:os';
import { join } from 'node:path';
import { canRun } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ExchangeResult, exchange, type Plan } from './fixtures/udp-offload-exchange';

const repositoryRoot = join(import.meta.dirname, '..', '..', '..');
const [kernelMajor = 0, kernelMinor = 0] = release().split('.').map(Number);
/** UDP GSO and GRO for unconnected sockets (Linux 5.0). */
const kernelHasOffloads = kernelMajor > 5 || (kernelMajor === 5 && kernelMinor >= 0);

/** What each receiver should get: the datagrams of the plan, in order, whole. */
function expectDelivered(plan: Plan, result: ExchangeResult): void {
  expect(result.notSent).toBe(0);
  for (const which of [0, 1]) {
    const want = plan.lengths.flatMap((length, index) =>
      plan.destinations[index] === which ? [{ index: length >= 4 ? index : -1, length, intact: true }] : [],
    );
    expect(result.received[which]).toEqual(want);
  }
}

describe.skipIf(!kernelHasOffloads)('UDP GSO and GRO in the native socket', () => {
  it('sends a run of equal datagrams as one GSO buffer and hands the receiver the same datagrams', async () => {
    const plan: Plan = { lengths: [...Array(200).fill(1200), 700], destinations: Array(201).fill(0) };
    const result = await exchange(plan);
    expectDelivered(plan, result);
    expect(result.sender.segmentation).toBe(true);
    expect(result.receivers[0]!.coalescing).toBe(true);
    // 128 send slots: runs of 64, 64 and then the next flush's 64 + 9; every datagram in some run.
    expect(result.sender.segmentedDatagrams).toBe(201);
    expect(result.sender.segmentedSends).toBeGreaterThanOrEqual(4);
    expect(result.receivers[0]!.coalescedDatagrams).toBe(201);
  });

  it('keeps runs apart by destination and by size, and sends zero-length datagrams alone', async () => {
    const lengths = [100, 100, 100, 0, 0, 100, 50, 100, 100, 1400, 1400, 1400, 1399, 1400, 65_000, 65_000];
    const destinations = [0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1];
    const plan: Plan = { lengths, destinations };
    const result = await exchange(plan);
    expectDelivered(plan, result);
    // Runs: [100 100]→0 · 100→1 · 0→1 · 0→1 · [100 50]→0 · 100→0 · 100→1 · [1400 1400]→1 ·
    // [1400 1399]→0 · 1400→0 · [65,000 65,000] is over 64 KiB: apart, →1 · →1.
    expect(result.sender.segmentedSends).toBe(4);
    expect(result.sender.segmentedDatagrams).toBe(8);
  });

  it('delivers random mixes of sizes and destinations exactly (fast-check, fixed seed)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(fc.constantFrom(0, 3, 64, 1200, 1201, 1472, 9000, 30_000), fc.integer({ min: 0, max: 1 })),
          {
            minLength: 1,
            maxLength: 300,
          },
        ),
        fc.integer({ min: 1, max: 128 }),
        async (datagrams, flushEvery) => {
          const plan: Plan = {
            lengths: datagrams.map(([length]) => length),
            destinations: datagrams.map(([, to]) => to),
            flushEvery,
          };
          expectDelivered(plan, await exchange(plan));
        },
      ),
      { seed: 20_261_121, numRuns: 40 },
    );
  });

  it.skipIf(!canRun({ tools: ['ip'], root: true }))(
    'falls back to one datagram at a time when the route is too narrow for a segment (IP fragments)',
    () => {
      const namespace = `capgso${process.pid}`;
      const plan: Plan = { lengths: Array(10).fill(1450), destinations: Array(10).fill(0), loMtu: 1400 };
      spawnSync('ip', ['netns', 'add', namespace]);
      try {
        const child = spawnSync(
          'ip',
          [
            'netns',
            'exec',
            namespace,
            process.execPath,
            '--import',
            'tsx',
            join(import.meta.dirname, 'fixtures', 'udp-offload-exchange.ts'),
            JSON.stringify(plan),
          ],
          { cwd: repositoryRoot, encoding: 'utf8', timeout: 30_000 },
        );
        expect(child.stderr).toBe('');
        const result = JSON.parse(child.stdout.trim().split('\n').pop()!) as ExchangeResult;
        expectDelivered(plan, result);
        expect(result.sender.segmentedSends).toBe(0); // refused (EINVAL) and resent one by one
        expect(result.sender.segmentation).toBe(true); // a narrow route does not turn GSO off
      } finally {
        spawnSync('ip', ['netns', 'delete', namespace]);
      }
    },
  );
});
