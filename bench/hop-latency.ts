/**
 * Where a ping's round trip goes, hop by hop (bench/dataplane.bench.ts): tcpdump on the overlay
 * device of hosts a and b and on the underlay interface of every node the packet crosses, then
 * each echo request followed through the captures — its ICMP sequence number on the overlay
 * devices, and on the underlay the first datagram of the right direction and size after the
 * previous step (the ping's frames are sealed; pings 20 ms apart do not overlap). The gaps between
 * steps are what each process (agent, engine, Nebula, wireguard-go), each veth and host b's kernel
 * adds. All captures stamp with one clock (one kernel), so the gaps need no alignment.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePcapFile, formatIpv4, formatIpv6 } from '@capsule/wire';
import { average, percentile } from './dataplane-summary';

/** A node's interface, captured to one file. */
export interface CapturePoint {
  node: string;
  device: string;
}

/** What a step looks for in its capture point. */
export type StepMatch =
  | { kind: 'echo'; reply: boolean }
  | { kind: 'udp'; from?: string; to?: string; minIpLength: number };

/** One step of the journey: where, what, and the name of the gap that ends at it. */
export interface JourneyStep {
  point: CapturePoint;
  match: StepMatch;
  /** The gap from the previous step to this one (omitted for the first step). */
  gap?: string;
  /** The gap is a process crossing (a daemon's receive, work and send). */
  crossing?: boolean;
}

/** A packet's time and the fields the steps match on. */
export interface CapturedPacket {
  timeUs: number;
  source: string;
  destination: string;
  ipLength: number;
  protocol: number;
  /** ICMP or ICMPv6 echo: the sequence number and whether it is a reply. */
  echo?: { sequence: number; reply: boolean };
}

export interface GapFigures {
  gap: string;
  crossing: boolean;
  meanUs: number;
  p50Us: number;
  p90Us: number;
}

export interface HopLatency {
  /** Echo requests followed through every step. */
  samples: number;
  requests: number;
  gaps: GapFigures[];
  /** From the request on a's overlay device to the reply on it. */
  roundTripMeanUs: number;
  roundTripP50Us: number;
}

/** A gap longer than this ends the journey (lost, or matched to a stranger): the sample is left out. */
const maxGapUs = 100_000;

/** The IP packet of a captured frame (Ethernet II, raw IP, or Linux cooked), or undefined. */
function ipOf(linkType: number, frame: Uint8Array): Uint8Array | undefined {
  if (linkType === 1) {
    if (frame.length < 14) return undefined;
    const etherType = (frame[12]! << 8) | frame[13]!;
    return etherType === 0x0800 || etherType === 0x86dd ? frame.subarray(14) : undefined;
  }
  if (linkType === 101 || linkType === 12) return frame;
  if (linkType === 113) return frame.length > 16 ? frame.subarray(16) : undefined;
  return undefined;
}

/** The packets of one microsecond pcap file, as the steps see them (others skipped). */
export function packetsOfPcap(bytes: Uint8Array): CapturedPacket[] {
  const file = decodePcapFile(bytes);
  if (!file.ok) throw new Error(`hop capture: ${file.error.message}`);
  const packets: CapturedPacket[] = [];
  for (const record of file.value.records) {
    const ip = ipOf(file.value.linkType, record.packet);
    if (!ip || ip.length < 20) continue;
    const version = ip[0]! >> 4;
    if (version === 4) {
      const headerLength = (ip[0]! & 0x0f) * 4;
      const protocol = ip[9]!;
      const packet: CapturedPacket = {
        timeUs: record.timestampUs,
        source: formatIpv4(ip, 12),
        destination: formatIpv4(ip, 16),
        ipLength: (ip[2]! << 8) | ip[3]!,
        protocol,
      };
      const type = ip[headerLength];
      if (protocol === 1 && (type === 8 || type === 0) && ip.length >= headerLength + 8)
        packet.echo = { sequence: (ip[headerLength + 6]! << 8) | ip[headerLength + 7]!, reply: type === 0 };
      packets.push(packet);
    } else if (version === 6 && ip.length >= 40) {
      const protocol = ip[6]!;
      const packet: CapturedPacket = {
        timeUs: record.timestampUs,
        source: formatIpv6(ip, 8),
        destination: formatIpv6(ip, 24),
        ipLength: 40 + ((ip[4]! << 8) | ip[5]!),
        protocol,
      };
      const type = ip[40];
      if (protocol === 58 && (type === 128 || type === 129) && ip.length >= 48)
        packet.echo = { sequence: (ip[46]! << 8) | ip[47]!, reply: type === 129 };
      packets.push(packet);
    }
  }
  return packets;
}

const pointKey = (point: CapturePoint) => `${point.node}:${point.device}`;

function matches(packet: CapturedPacket, match: StepMatch, sequence: number): boolean {
  if (match.kind === 'echo') return packet.echo?.sequence === sequence && packet.echo.reply === match.reply;
  return (
    packet.protocol === 17 &&
    packet.ipLength >= match.minIpLength &&
    (match.from === undefined || packet.source === match.from) &&
    (match.to === undefined || packet.destination === match.to)
  );
}

/**
 * Follows each echo request (by the sequence numbers the first step's capture shows) through the
 * steps: at each, the first matching packet of its point at or after the previous step's time.
 */
export function followJourneys(
  steps: readonly JourneyStep[],
  captures: ReadonlyMap<string, readonly CapturedPacket[]>,
): HopLatency {
  if (steps.length < 2 || steps[0]!.match.kind !== 'echo') throw new Error('a journey starts at an echo');
  const packetsAt = steps.map((step) => {
    const packets = captures.get(pointKey(step.point));
    if (!packets) throw new Error(`no capture at ${pointKey(step.point)}`);
    return packets;
  });
  const first = steps[0]!.match;
  const requests = packetsAt[0]!.filter((packet) => matches(packet, first, packet.echo?.sequence ?? -1));
  const gapTimes: number[][] = steps.slice(1).map(() => []);
  const roundTrips: number[] = [];
  for (const request of requests) {
    const sequence = request.echo!.sequence;
    const times = [request.timeUs];
    for (let s = 1; s < steps.length; s++) {
      const previous = times[s - 1]!;
      const found = packetsAt[s]!.find(
        (packet) => packet.timeUs >= previous && matches(packet, steps[s]!.match, sequence),
      );
      if (!found || found.timeUs - previous > maxGapUs) break;
      times.push(found.timeUs);
    }
    if (times.length !== steps.length) continue;
    for (let s = 1; s < steps.length; s++) gapTimes[s - 1]!.push(times[s]! - times[s - 1]!);
    roundTrips.push(times.at(-1)! - times[0]!);
  }
  const sorted = (values: readonly number[]) => [...values].sort((x, y) => x - y);
  return {
    samples: roundTrips.length,
    requests: requests.length,
    gaps: steps.slice(1).map((step, i) => ({
      gap: step.gap ?? `step ${i + 1}`,
      crossing: step.crossing ?? false,
      meanUs: average(gapTimes[i]!),
      p50Us: percentile(sorted(gapTimes[i]!), 50),
      p90Us: percentile(sorted(gapTimes[i]!), 90),
    })),
    roundTripMeanUs: average(roundTrips),
    roundTripP50Us: percentile(sorted(roundTrips), 50),
  };
}

/** Runs tcpdump at every point of `steps` while `traffic` runs, then follows the journeys. */
export async function measureHopLatency(
  steps: readonly JourneyStep[],
  options: { namespaceOf: (node: string) => string; scratch: string; traffic: () => Promise<unknown> },
): Promise<HopLatency> {
  const points = new Map(steps.map((step) => [pointKey(step.point), step.point]));
  const files = new Map<string, string>();
  const dumps: ChildProcess[] = [];
  try {
    for (const [key, point] of points) {
      const file = join(options.scratch, `hops-${key.replace(/[^a-z0-9]+/gi, '-')}.pcap`);
      files.set(key, file);
      const filter = point.device.startsWith('eth') ? 'udp' : 'icmp or icmp6';
      const capture = spawn(
        'ip',
        [
          'netns',
          'exec',
          options.namespaceOf(point.node),
          'tcpdump',
          '-i',
          point.device,
          '-n',
          '-U',
          '-s',
          '96',
          '-w',
          file,
          filter,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      dumps.push(capture);
      await new Promise<void>((resolve, reject) => {
        let said = '';
        const timer = setTimeout(
          () => reject(new Error(`tcpdump on ${key}: not listening: ${said}`)),
          10_000,
        );
        capture.stderr!.on('data', (chunk: Buffer) => {
          said += chunk.toString();
          if (said.includes('listening on')) {
            clearTimeout(timer);
            resolve();
          }
        });
        capture.on('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`tcpdump on ${key} exited (${code}): ${said}`));
        });
      });
    }
    await options.traffic();
  } finally {
    await Promise.all(
      dumps.map(
        (dump) =>
          new Promise<void>((resolve) => {
            if (dump.exitCode !== null || dump.signalCode !== null) return resolve();
            dump.removeAllListeners('exit');
            dump.once('exit', () => resolve());
            dump.kill('SIGINT');
          }),
      ),
    );
  }
  const captures = new Map([...files].map(([key, file]) => [key, packetsOfPcap(readFileSync(file))]));
  return followJourneys(steps, captures);
}
