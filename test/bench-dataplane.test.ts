/**
 * The arithmetic and the arguments of the benchmarks (bench/dataplane-summary.ts, bench/args.ts,
 * bench/hop-latency.ts: following a ping through captures),
 * without root: `npm run bench:dataplane` itself builds a netns lab and is run by hand.
 */
import { encodePcapFile } from '@capsule/wire';
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
import { followJourneys, type JourneyStep, packetsOfPcap } from '../bench/hop-latency';

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
    const pings = { pings: 100, pingIntervalMs: 20 };
    expect(parseDataplaneArgs([])).toEqual({ rounds: 3, ...pings });
    expect(parseDataplaneArgs(['--rounds', '1'])).toEqual({ rounds: 1, ...pings });
    expect(parseDataplaneArgs(['--rounds=7'])).toEqual({ rounds: 7, ...pings });
    expect(parseDataplaneArgs(['--rounds', String(dataplaneMaxRounds)])).toEqual({
      rounds: dataplaneMaxRounds,
      ...pings,
    });
  });

  it('reads --pings N and --ping-interval-ms N within their bounds', () => {
    expect(parseDataplaneArgs(['--pings', '20', '--ping-interval-ms=1000', '--rounds', '1'])).toEqual({
      rounds: 1,
      pings: 20,
      pingIntervalMs: 1000,
    });
    for (const [flag, bad] of [
      ['--pings', '0'],
      ['--pings', '1001'],
      ['--ping-interval-ms', '9'],
      ['--ping-interval-ms', '5001'],
      ['--ping-interval-ms', '0.5'],
      ['--pings', ''],
    ] as const)
      expect(() => parseDataplaneArgs([flag, bad]), `${flag} ${bad}`).toThrow(new RegExp(flag));
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

describe('hop latency: following a ping through captures', () => {
  const v6 = (last: number) => Uint8Array.from([0xfd, 0, ...new Array<number>(13).fill(0), last]);
  /** An ICMPv6 echo (request or reply) from `source` to `destination`. */
  const echo = (source: number, destination: number, sequence: number, reply: boolean) => {
    const packet = new Uint8Array(104);
    packet[0] = 0x60;
    packet[5] = 64; // payload length
    packet[6] = 58;
    packet.set(v6(source), 8);
    packet.set(v6(destination), 24);
    packet[40] = reply ? 129 : 128;
    packet[46] = sequence >> 8;
    packet[47] = sequence & 0xff;
    return packet;
  };
  /** An Ethernet frame carrying an IPv4 UDP datagram of `ipLength` bytes from 10.0.0.`from` to 10.0.0.`to`. */
  const datagram = (from: number, to: number, ipLength: number) => {
    const frame = new Uint8Array(14 + ipLength);
    frame[12] = 0x08;
    frame[14] = 0x45;
    frame[16] = ipLength >> 8;
    frame[17] = ipLength & 0xff;
    frame[23] = 17;
    frame.set([10, 0, 0, from, 10, 0, 0, to], 26);
    return frame;
  };
  const tunA = { node: 'a', device: 'tun' };
  const tunB = { node: 'b', device: 'tun' };
  const ethA = { node: 'a', device: 'eth0' };
  const ethB = { node: 'b', device: 'eth0' };
  const udp = (from: number, to: number) => ({
    kind: 'udp' as const,
    from: `10.0.0.${from}`,
    to: `10.0.0.${to}`,
    minIpLength: 200,
  });
  const steps: JourneyStep[] = [
    { point: tunA, match: { kind: 'echo', reply: false } },
    { point: ethA, match: udp(1, 2), gap: 'a out', crossing: true },
    { point: ethB, match: udp(1, 2), gap: 'veth' },
    { point: tunB, match: { kind: 'echo', reply: false }, gap: 'b in', crossing: true },
    { point: tunB, match: { kind: 'echo', reply: true }, gap: 'kernel' },
    { point: ethB, match: udp(2, 1), gap: 'b out', crossing: true },
    { point: ethA, match: udp(2, 1), gap: 'veth back' },
    { point: tunA, match: { kind: 'echo', reply: true }, gap: 'a in', crossing: true },
  ];
  /** Captures of `count` pings 20 ms apart, each gap `gapUs` long; ping 2 loses its reply. */
  const captures = (count: number, gapUs: readonly number[]) => {
    const records: Record<string, { timestampUs: number; packet: Uint8Array }[]> = {
      'a:tun': [],
      'a:eth0': [],
      'b:tun': [],
      'b:eth0': [],
    };
    for (let sequence = 1; sequence <= count; sequence++) {
      let t = 1_000_000 + sequence * 20_000;
      const at = (key: string, packet: Uint8Array) => records[key]!.push({ timestampUs: t, packet });
      at('a:tun', echo(1, 2, sequence, false));
      // A keep-alive (too short) and a datagram the other way at the same time: not the ping's.
      records['a:eth0']!.push({ timestampUs: t, packet: datagram(1, 2, 60) });
      records['a:eth0']!.push({ timestampUs: t, packet: datagram(2, 1, 300) });
      // Another host's datagram to b, and a's to another host.
      records['a:eth0']!.push({ timestampUs: t, packet: datagram(3, 2, 300) });
      records['a:eth0']!.push({ timestampUs: t, packet: datagram(1, 3, 300) });
      t += gapUs[0]!;
      at('a:eth0', datagram(1, 2, 300));
      t += gapUs[1]!;
      at('b:eth0', datagram(1, 2, 300));
      t += gapUs[2]!;
      at('b:tun', echo(1, 2, sequence, false));
      if (sequence === 2) continue; // b never answers this one
      t += gapUs[3]!;
      at('b:tun', echo(2, 1, sequence, true));
      t += gapUs[4]!;
      at('b:eth0', datagram(2, 1, 300));
      t += gapUs[5]!;
      at('a:eth0', datagram(2, 1, 300));
      t += gapUs[6]!;
      at('a:tun', echo(2, 1, sequence, true));
    }
    return new Map(
      Object.entries(records).map(([key, list]) => {
        const linkType = key.endsWith('eth0') ? 1 : 101;
        const sorted = [...list].sort((x, y) => x.timestampUs - y.timestampUs);
        return [key, packetsOfPcap(encodePcapFile(sorted, { linkType }))];
      }),
    );
  };

  it('measures every gap of every ping followed through, and leaves out one that got lost', () => {
    const gaps = [70, 8, 150, 30, 60, 9, 100];
    const result = followJourneys(steps, captures(10, gaps));
    expect(result.requests).toBe(10);
    expect(result.samples).toBe(9);
    expect(result.gaps.map((gap) => [gap.gap, gap.crossing, gap.meanUs, gap.p50Us, gap.p90Us])).toEqual(
      steps.slice(1).map((step, i) => [step.gap, step.crossing ?? false, gaps[i], gaps[i], gaps[i]]),
    );
    expect(result.roundTripMeanUs).toBe(gaps.reduce((sum, gap) => sum + gap, 0));
  });

  it('refuses a journey that does not start at an echo, a missing capture and a broken pcap', () => {
    expect(() => followJourneys(steps.slice(1), captures(1, [1, 1, 1, 1, 1, 1, 1]))).toThrow(/echo/);
    expect(() => followJourneys(steps, new Map())).toThrow(/no capture at a:tun/);
    expect(() => packetsOfPcap(new Uint8Array(10))).toThrow(/hop capture: .*cut short/);
    // Frames of other link types and non-IP Ethernet frames are skipped, not misread.
    expect(
      packetsOfPcap(encodePcapFile([{ timestampUs: 1, packet: echo(1, 2, 1, false) }], { linkType: 147 })),
    ).toEqual([]);
    const arp = datagram(1, 2, 300);
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(packetsOfPcap(encodePcapFile([{ timestampUs: 1, packet: arp }], { linkType: 1 }))).toEqual([]);
  });

  it('never throws on random capture bytes behind a valid pcap header', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 120 }), { maxLength: 20 }), (packets) => {
        const file = encodePcapFile(
          packets.map((packet, i) => ({ timestampUs: i, packet })),
          { linkType: 1 },
        );
        expect(Array.isArray(packetsOfPcap(file))).toBe(true);
      }),
      { seed: 1, numRuns: 300 },
    );
  });
});
