/**
 * The arithmetic of `npm run bench:dataplane` (bench/dataplane.bench.ts), apart from the netns lab
 * so it can be tested without root: its options, percentiles, each round's ratios against the
 * issue's targets, and the spread of a figure over the rounds.
 */
import { parseArgs } from 'node:util';

/** The bench's options and their defaults (one place). */
export interface DataplaneOptions {
  /** How many times the whole set of legs is measured in the run. */
  rounds: number;
  /** Each leg's RTT pings: how many, and how far apart (ms). */
  pings: number;
  pingIntervalMs: number;
}

export const dataplaneDefaults: DataplaneOptions = { rounds: 3, pings: 100, pingIntervalMs: 20 };

/** The most rounds one run accepts (a round takes about a minute). */
export const dataplaneMaxRounds = 20;

/** Each integer option: its flag and bounds. */
const integerOptions = {
  rounds: { flag: 'rounds', min: 1, max: dataplaneMaxRounds },
  pings: { flag: 'pings', min: 1, max: 1000 },
  pingIntervalMs: { flag: 'ping-interval-ms', min: 10, max: 5000 },
} as const;

/**
 * `--rounds N`, `--pings N` (the RTT pings of each leg), `--ping-interval-ms N` (their interval;
 * 1000 for a ping at its default rate, whose flows are all type I and II packets), each also as
 * `--option=N`: N an integer within its bounds. Anything else (another option, a positional, a
 * malformed or out-of-range N) is an Error that says so.
 */
export function parseDataplaneArgs(args: readonly string[]): DataplaneOptions {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        rounds: { type: 'string' },
        pings: { type: 'string' },
        'ping-interval-ms': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new Error(
      `bench dataplane: ${(error as Error).message} (options: --rounds N, --pings N, --ping-interval-ms N)`,
    );
  }
  const options = { ...dataplaneDefaults };
  for (const [key, { flag, min, max }] of Object.entries(integerOptions)) {
    const given = values[flag];
    if (given === undefined) continue;
    const value = /^\d{1,4}$/.test(given) ? Number(given) : Number.NaN;
    if (!(value >= min && value <= max))
      throw new Error(
        `bench dataplane: --${flag} wants an integer from ${min} to ${max}, not '${given.slice(0, 20)}'`,
      );
    options[key as keyof DataplaneOptions] = value;
  }
  return options;
}

/** The `p`-th percentile (0..100) of ascending `sorted` (nearest rank); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const average = (values: readonly number[]) =>
  values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;

/** Smallest, largest and median (the mean of the middle two for an even count) of the finite values. */
export interface Spread {
  min: number;
  max: number;
  median: number;
  count: number;
}

/** The spread of the finite values among `values`; undefined when there is none. */
export function spread(values: readonly (number | undefined)[]): Spread | undefined {
  const finite = values
    .filter((v): v is number => v !== undefined && Number.isFinite(v))
    .sort((x, y) => x - y);
  if (finite.length === 0) return undefined;
  const middle = finite.length >> 1;
  const median = finite.length % 2 === 1 ? finite[middle]! : (finite[middle - 1]! + finite[middle]!) / 2;
  return { min: finite[0]!, max: finite[finite.length - 1]!, median, count: finite.length };
}

/** "1.23 (1.10–1.40)": the median and the range; "—" when nothing was measured. */
export function formatSpread(value: Spread | undefined, digits: number): string {
  if (!value) return '—';
  if (value.count === 1) return value.median.toFixed(digits);
  return `${value.median.toFixed(digits)} (${value.min.toFixed(digits)}–${value.max.toFixed(digits)})`;
}

/** The overlays Capsule is compared with. */
export const peerNames = ['Nebula', 'wireguard-go'] as const;
export type PeerName = (typeof peerNames)[number];

/** What the ratios need of one leg. */
export interface LegFigures {
  throughputMbps: number;
  rttAvgMs: number;
}

/** The targets: throughput ≥ this × the best peer's; RTT avg ≤ the best peer's. */
export const throughputTargetFactor = 2;

/** One round's ratios; a field is undefined when the peer(s) it needs were not measured. */
export interface RoundRatios {
  /** Capsule's throughput over each peer's. */
  capsuleOver: Record<PeerName, number | undefined>;
  /** The peer with the highest throughput, and Capsule's throughput over it. */
  bestThroughputPeer: PeerName | undefined;
  capsuleOverBest: number | undefined;
  /** The peer with the lowest RTT avg, its RTT, and Capsule's RTT over it (≤ 1 meets the target). */
  bestRttPeer: PeerName | undefined;
  bestPeerRttMs: number | undefined;
  capsuleRttOverBest: number | undefined;
  throughputMet: boolean | undefined;
  rttMet: boolean | undefined;
}

/** Capsule against the peers measured in the same round (a missing or non-finite peer is left out). */
export function roundRatios(capsule: LegFigures, peers: Partial<Record<PeerName, LegFigures>>): RoundRatios {
  const measured = peerNames.filter(
    (name) =>
      peers[name] !== undefined &&
      Number.isFinite(peers[name]!.throughputMbps) &&
      peers[name]!.throughputMbps > 0,
  );
  const capsuleOver = Object.fromEntries(
    peerNames.map((name) => [
      name,
      measured.includes(name) ? capsule.throughputMbps / peers[name]!.throughputMbps : undefined,
    ]),
  ) as Record<PeerName, number | undefined>;
  let bestThroughputPeer: PeerName | undefined;
  for (const name of measured)
    if (!bestThroughputPeer || peers[name]!.throughputMbps > peers[bestThroughputPeer]!.throughputMbps)
      bestThroughputPeer = name;
  let bestRttPeer: PeerName | undefined;
  for (const name of measured.filter((n) => Number.isFinite(peers[n]!.rttAvgMs) && peers[n]!.rttAvgMs > 0))
    if (!bestRttPeer || peers[name]!.rttAvgMs < peers[bestRttPeer]!.rttAvgMs) bestRttPeer = name;
  const capsuleOverBest = bestThroughputPeer && capsuleOver[bestThroughputPeer];
  const bestPeerRttMs = bestRttPeer && peers[bestRttPeer]!.rttAvgMs;
  const capsuleRttOverBest =
    bestPeerRttMs !== undefined && Number.isFinite(capsule.rttAvgMs)
      ? capsule.rttAvgMs / bestPeerRttMs
      : undefined;
  return {
    capsuleOver,
    bestThroughputPeer,
    capsuleOverBest,
    bestRttPeer,
    bestPeerRttMs,
    capsuleRttOverBest,
    throughputMet: capsuleOverBest === undefined ? undefined : capsuleOverBest >= throughputTargetFactor,
    rttMet: capsuleRttOverBest === undefined ? undefined : capsuleRttOverBest <= 1,
  };
}

/** "met in 2 of 3 rounds" / "not met (0 of 3 rounds)" / "not measured (no peer)". */
export function targetVerdict(met: readonly (boolean | undefined)[]): string {
  const judged = met.filter((m): m is boolean => m !== undefined);
  if (judged.length === 0) return 'not measured (no peer ran)';
  const count = judged.filter(Boolean).length;
  const of = `${count} of ${judged.length} round${judged.length === 1 ? '' : 's'}`;
  return count === judged.length ? `met (${of})` : count > 0 ? `met in ${of} only` : `not met (${of})`;
}
