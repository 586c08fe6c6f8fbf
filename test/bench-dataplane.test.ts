/**
 * The arithmetic and the arguments of the benchmarks (bench/dataplane-summary.ts, bench/args.ts),
 * without root: `npm run bench:dataplane` itself builds a netns lab and is run by hand.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitBenchArgs } from '../bench/args';
import {
  dataplaneDefaults,
  dataplaneMaxRounds,
  formatSpread,
  parseDataplaneArgs,
  percentile,
  roundRatios,
  spread,
  targetVerdict,
} from '../bench/dataplane-summary';

const known = ['controller', 'dataplane', 'soak'];

describe('splitBenchArgs', () => {
  it('separates benchmark names from options, in both option spellings', () => {
    expect(splitBenchArgs(['dataplane', '--rounds', '3'], known)).toEqual({
      names: ['dataplane'],
      options: ['--rounds', '3'],
    });
    expect(splitBenchArgs(['--rounds=5', 'dataplane', 'soak'], known)).toEqual({
      names: ['dataplane', 'soak'],
      options: ['--rounds=5'],
    });
    expect(splitBenchArgs([], known)).toEqual({ names: [], options: [] });
  });

  it('never takes a benchmark name or another option as an option value', () => {
    expect(splitBenchArgs(['--flag', 'dataplane'], known)).toEqual({
      names: ['dataplane'],
      options: ['--flag'],
    });
    expect(splitBenchArgs(['--a', '--b', 'x'], known)).toEqual({ names: [], options: ['--a', '--b', 'x'] });
  });

  it('refuses a word that is no benchmark (a misspelt name must not run every benchmark)', () => {
    expect(() => splitBenchArgs(['dataplan'], known)).toThrow(/unknown benchmark 'dataplan'/);
    expect(() => splitBenchArgs(['-r', '3'], known)).toThrow(/unknown benchmark '-r'/);
    expect(() => splitBenchArgs(['--'], known)).toThrow(/unknown benchmark/);
  });

  it('on any argv either throws an Error or returns every word once, in order', () => {
    const word = fc.oneof(
      fc.constantFrom(...known, '--rounds', '--x=1', '-', '--'),
      fc.string({ maxLength: 12 }),
    );
    fc.assert(
      fc.property(fc.array(word, { maxLength: 8 }), (argv) => {
        let split: ReturnType<typeof splitBenchArgs>;
        try {
          split = splitBenchArgs(argv, known);
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
          return;
        }
        expect(split.names.length + split.options.length).toBe(argv.length);
        for (const name of split.names) expect(known).toContain(name);
      }),
      { seed: 16, numRuns: 500 },
    );
  });
});

describe('parseDataplaneArgs', () => {
  it('defaults to 3 rounds and reads --rounds N in both spellings', () => {
    expect(dataplaneDefaults.rounds).toBe(3);
    expect(parseDataplaneArgs([])).toEqual({ rounds: 3 });
    expect(parseDataplaneArgs(['--rounds', '1'])).toEqual({ rounds: 1 });
    expect(parseDataplaneArgs(['--rounds=7'])).toEqual({ rounds: 7 });
    expect(parseDataplaneArgs(['--rounds', String(dataplaneMaxRounds)])).toEqual({
      rounds: dataplaneMaxRounds,
    });
  });

  it('refuses malformed, out-of-range and unknown options with a message that names them', () => {
    for (const bad of ['0', '-1', '1.5', 'abc', '', '1e3', String(dataplaneMaxRounds + 1), ' 3', '0x3'])
      expect(() => parseDataplaneArgs(['--rounds', bad]), bad).toThrow(/--rounds/);
    expect(() => parseDataplaneArgs(['--round', '3'])).toThrow(/round/);
    expect(() => parseDataplaneArgs(['--rounds'])).toThrow(/--rounds/);
    expect(() => parseDataplaneArgs(['3'])).toThrow(/bench dataplane/);
  });

  it('on any argv either returns 1..max rounds or throws an Error (never NaN, never a crash)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant('--rounds'), fc.string({ maxLength: 10 })), { maxLength: 4 }),
        (argv) => {
          try {
            const { rounds } = parseDataplaneArgs(argv);
            expect(Number.isInteger(rounds) && rounds >= 1 && rounds <= dataplaneMaxRounds).toBe(true);
          } catch (error) {
            expect(error).toBeInstanceOf(Error);
          }
        },
      ),
      { seed: 16, numRuns: 500 },
    );
  });
});

describe('spread and percentile', () => {
  it('gives min, max and median (mean of the middle two when even), skipping missing and NaN', () => {
    expect(spread([3, 1, 2])).toEqual({ min: 1, max: 3, median: 2, count: 3 });
    expect(spread([4, 1, undefined, Number.NaN, 2, 3])).toEqual({ min: 1, max: 4, median: 2.5, count: 4 });
    expect(spread([undefined, Number.NaN])).toBeUndefined();
    expect(formatSpread(spread([1.234, 1.1, 1.5]), 2)).toBe('1.23 (1.10–1.50)');
    expect(formatSpread(spread([0.5]), 1)).toBe('0.5');
    expect(formatSpread(undefined, 1)).toBe('—');
  });

  it('takes percentiles by nearest rank', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('roundRatios', () => {
  const nebula = { throughputMbps: 500, rttAvgMs: 0.4 };
  const wireguard = { throughputMbps: 800, rttAvgMs: 0.3 };

  it('divides by each peer, by the best throughput and compares with the best RTT', () => {
    const r = roundRatios(
      { throughputMbps: 1600, rttAvgMs: 0.3 },
      { Nebula: nebula, 'wireguard-go': wireguard },
    );
    expect(r.capsuleOver.Nebula).toBeCloseTo(3.2);
    expect(r.capsuleOver['wireguard-go']).toBeCloseTo(2);
    expect(r.bestThroughputPeer).toBe('wireguard-go');
    expect(r.capsuleOverBest).toBeCloseTo(2);
    expect(r.bestRttPeer).toBe('wireguard-go');
    expect(r.bestPeerRttMs).toBe(0.3);
    expect(r.capsuleRttOverBest).toBeCloseTo(1);
    expect(r.throughputMet).toBe(true);
    expect(r.rttMet).toBe(true);
  });

  it('misses the targets just below them', () => {
    const r = roundRatios(
      { throughputMbps: 1599, rttAvgMs: 0.301 },
      { Nebula: nebula, 'wireguard-go': wireguard },
    );
    expect(r.throughputMet).toBe(false);
    expect(r.rttMet).toBe(false);
  });

  it('the best peer for RTT may differ from the best for throughput', () => {
    const r = roundRatios(
      { throughputMbps: 100, rttAvgMs: 1 },
      { Nebula: { throughputMbps: 50, rttAvgMs: 0.2 }, 'wireguard-go': wireguard },
    );
    expect(r.bestThroughputPeer).toBe('wireguard-go');
    expect(r.bestRttPeer).toBe('Nebula');
    expect(r.capsuleRttOverBest).toBeCloseTo(5);
  });

  it('leaves out a peer that did not run or measured nothing, and judges nothing without peers', () => {
    const one = roundRatios({ throughputMbps: 1000, rttAvgMs: 1 }, { Nebula: nebula });
    expect(one.capsuleOver['wireguard-go']).toBeUndefined();
    expect(one.bestThroughputPeer).toBe('Nebula');
    const broken = roundRatios(
      { throughputMbps: 1000, rttAvgMs: 1 },
      {
        Nebula: { throughputMbps: Number.NaN, rttAvgMs: Number.NaN },
        'wireguard-go': { throughputMbps: 0, rttAvgMs: 0 },
      },
    );
    expect(broken.bestThroughputPeer).toBeUndefined();
    expect(broken.throughputMet).toBeUndefined();
    expect(broken.rttMet).toBeUndefined();
    const none = roundRatios({ throughputMbps: 1000, rttAvgMs: 1 }, {});
    expect(none.capsuleOverBest).toBeUndefined();
    expect(targetVerdict([none.throughputMet])).toBe('not measured (no peer ran)');
  });

  it('says in how many rounds a target was met', () => {
    expect(targetVerdict([true, true, true])).toBe('met (3 of 3 rounds)');
    expect(targetVerdict([true, false, undefined])).toBe('met in 1 of 2 rounds only');
    expect(targetVerdict([false])).toBe('not met (0 of 1 round)');
  });
});
