/**
 * Per-packet programs in the engine's fast path (docs/engine.md, "Fast path"): the flows without
 * a cached action whose program the fast path runs natively (fast-path-program.cc) must end
 * exactly as the JavaScript pipeline ends them. The same packets go through the lab
 * (fast-path-lab.ts: a ──▶ engine ──▶ b, c on loopback) with the fast path off and on:
 *
 * - directed: the SDK library's per-packet programs (PortFilter passing and denying, within one
 *   flow as its packets' TRANSPORT ports change, Multicast,
 *   Nearest, LoadBalancer.leastLoaded) and the test programs (route without CACHE, a fuel
 *   exhaustion loop, an out-of-bounds store, an unknown service, a LOG the fast path leaves to
 *   JavaScript), one flow each, then two contracts' flows interleaved;
 * - property: random packets (fast-check, fixed seed) of those flows — random DATA values (which
 *   PortFilter's decision reads), hop limits, traffic classes, payloads and PATH hop indexes.
 *
 * Engine counters (program runs, fuel, drops by reason, program drop codes), link and flow
 * counters and the bytes b and c receive must be equal; with it on, the fast path must have run
 * every native-capable flow's packets after the first (which registers the flow), and none of the
 * LOG flow's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isNativeAddonAvailable } from '@capsule/native';
import { testSeed } from '@capsule/testkit';
import { type CapsuleHeader, PacketType, type PathChunk, type TransportChunk } from '@capsule/wire';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildPacket, compileProgram } from '../../packages/engine/test/harness';
import {
  badService,
  logThenRouteUncached,
  loop,
  outOfBounds,
  routeUncached,
} from '../../packages/engine/test/programs';
import { waitFor } from './cluster';
import { authorize, identities, type Setup, setUp, totalSeen } from './fast-path-lab';

const programsDir = join(import.meta.dirname, '../../examples/programs');
const library = (name: string) => compileProgram(readFileSync(join(programsDir, `${name}.java`), 'utf8'));
const portFilter = library('PortFilter');
const multicast = library('Multicast');
const nearest = library('Nearest');
const loadBalancer = library('LoadBalancer');

const role = new Uint8Array(16).fill(0x33);
const tcp8080: TransportChunk = { protocol: 6, sourcePort: 40_000, destinationPort: 8080 };
const udp53: TransportChunk = { protocol: 17, sourcePort: 40_001, destinationPort: 53 };
/**
 * The TRANSPORT values of a directed burst of a flow that has one, in turn: its own, then others
 * (PortFilter passes some and denies others, per packet, in the same flow).
 */
const burstTransports = (own: TransportChunk): TransportChunk[] => [
  own,
  own === tcp8080 ? udp53 : tcp8080,
  { protocol: 6, sourcePort: 40_002, destinationPort: 22 },
  { protocol: 6, sourcePort: 50_000, destinationPort: 8080 },
];

/** One flow of the scenario: its program and what its packets carry. */
interface FlowSpec {
  label: number;
  name: string;
  program: { machineCode: Uint8Array; entryOffsets: number[] };
  contractId: number;
  destination: Uint8Array;
  path: (engineId: number, hopIndex?: number) => PathChunk;
  data: Uint8Array;
  transport?: TransportChunk;
  /** False: the fast path hands every packet up (a service only JavaScript gives). */
  native: boolean;
}

const throughEngine =
  (entryIndex = 0) =>
  (engineId: number, hopIndex = 0): PathChunk => ({
    creationTime: 0,
    hopIndex: Math.min(hopIndex, 1), // 1: past this engine
    defaultEntry: 0,
    hops: [{ engineId, entryIndex, flags: 0 }],
  });
const byDefaultEntry =
  (entryIndex: number) =>
  (_engineId: number, _hopIndex = 0): PathChunk => ({
    creationTime: 0,
    hopIndex: 0,
    defaultEntry: entryIndex,
    hops: [],
  });

const flows: FlowSpec[] = [
  {
    label: 1,
    name: 'route without CACHE',
    program: routeUncached,
    contractId: 1,
    destination: identities.b.hostId,
    path: throughEngine(),
    data: new Uint8Array(8),
    native: true,
  },
  {
    label: 2,
    name: 'PortFilter, TCP 8080 passes',
    program: portFilter,
    contractId: 1,
    destination: identities.b.hostId,
    path: throughEngine(portFilter.entries.toPort!),
    data: portFilter.initialData,
    transport: tcp8080,
    native: true,
  },
  {
    label: 3,
    name: 'PortFilter, UDP 53 denied',
    program: portFilter,
    contractId: 1,
    destination: identities.b.hostId,
    path: throughEngine(portFilter.entries.toPort!),
    data: portFilter.initialData,
    transport: udp53,
    native: true,
  },
  {
    label: 4,
    name: 'Multicast to b and c',
    program: multicast,
    contractId: 1,
    destination: role,
    path: byDefaultEntry(multicast.entries.replicate!),
    data: multicast.initialData,
    native: true,
  },
  {
    label: 5,
    name: 'Nearest',
    program: nearest,
    contractId: 1,
    destination: role,
    path: byDefaultEntry(nearest.entries.nearest!),
    data: nearest.initialData,
    native: true,
  },
  {
    label: 6,
    name: 'LoadBalancer.leastLoaded',
    program: loadBalancer,
    contractId: 1,
    destination: role,
    path: byDefaultEntry(loadBalancer.entries.leastLoaded!),
    data: loadBalancer.initialData,
    native: true,
  },
  {
    label: 7,
    name: 'fuel exhaustion',
    program: loop,
    contractId: 1,
    destination: identities.b.hostId,
    path: throughEngine(),
    data: new Uint8Array(8),
    native: true,
  },
  {
    label: 8,
    name: 'out-of-bounds store',
    program: outOfBounds,
    contractId: 1,
    destination: identities.b.hostId,
    path: throughEngine(),
    data: new Uint8Array(8),
    native: true,
  },
  {
    label: 9,
    name: 'unknown service',
    program: badService,
    contractId: 1,
    destination: identities.b.hostId,
    path: throughEngine(),
    data: new Uint8Array(8),
    native: true,
  },
  {
    label: 10,
    name: 'LOG (JavaScript only)',
    program: logThenRouteUncached,
    contractId: 1,
    destination: identities.b.hostId,
    path: throughEngine(),
    data: new Uint8Array(16),
    native: false,
  },
  {
    label: 11,
    name: 'route without CACHE, contract 2',
    program: routeUncached,
    contractId: 2,
    destination: identities.b.hostId,
    path: throughEngine(),
    data: new Uint8Array(8),
    native: true,
  },
];
const authorizations = new Map(flows.map((flow) => [flow.label, authorize(flow.program, flow.contractId)]));

interface PacketVariation {
  hopLimit?: number;
  trafficClass?: number;
  data?: Uint8Array;
  payload?: Uint8Array;
  hopIndex?: number;
  /** Another TRANSPORT value than the flow's (a flow's packets carry many connections' ports). */
  transport?: TransportChunk;
}

function packetOf(
  flow: FlowSpec,
  engineId: number,
  type: 1 | 3,
  variation: PacketVariation = {},
): Uint8Array {
  const header: CapsuleHeader = {
    nextHeader: 59,
    packetType: type === 1 ? PacketType.I : PacketType.III,
    flags: 0,
    path: flow.path(engineId, variation.hopIndex ?? 0),
    data: variation.data ?? flow.data,
    ...(flow.transport && { transport: variation.transport ?? flow.transport }),
    ...(type === 1 && {
      auth: authorizations.get(flow.label)!,
      code: flow.program,
    }),
  };
  const packet = buildPacket({
    source: identities.a.hostId,
    destination: flow.destination,
    flowLabel: flow.label,
    hopLimit: variation.hopLimit ?? 64,
    header,
    payload: variation.payload ?? new Uint8Array(48).fill(flow.label),
  });
  const trafficClass = variation.trafficClass ?? 0;
  packet[0] = 0x60 | (trafficClass >> 4);
  packet[1] = ((trafficClass & 0x0f) << 4) | (packet[1]! & 0x0f);
  return packet;
}

const BURST = 12;

/** The random packets of the property part (the same for both runs). */
function randomPackets(engineId: number): Uint8Array[] {
  const byLabel = new Map(flows.map((flow) => [flow.label, flow]));
  const arbitrary = fc.record({
    label: fc.constantFrom(...flows.map((flow) => flow.label)),
    hopLimit: fc.integer({ min: 2, max: 255 }),
    trafficClass: fc.integer({ min: 0, max: 255 }),
    payloadLength: fc.integer({ min: 0, max: 300 }),
    hopIndex: fc.integer({ min: 0, max: 1 }),
    dataSeed: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    keepData: fc.boolean(),
    transport: fc.record({
      protocol: fc.constantFrom(6, 17, 1, 58),
      sourcePort: fc.integer({ min: 0, max: 65_535 }),
      destinationPort: fc.constantFrom(8080, 53, 22, 443),
    }),
  });
  return fc.sample(arbitrary, { seed: testSeed, numRuns: 240 }).map((choice) => {
    const flow = byLabel.get(choice.label)!;
    // DATA of the flow's length: its own values, or random ones (PortFilter reads protocol and
    // port from there; route counts in word 0).
    const data = choice.keepData ? flow.data : choice.dataSeed.subarray(0, flow.data.length);
    return packetOf(flow, engineId, 3, {
      hopLimit: choice.hopLimit,
      trafficClass: choice.trafficClass,
      payload: new Uint8Array(choice.payloadLength).fill(choice.hopLimit),
      hopIndex: choice.hopIndex,
      data: new Uint8Array(data),
      transport: choice.transport,
    });
  });
}

interface Outcome {
  counters: Record<string, unknown>;
  engineLinks: unknown[];
  flows: unknown[];
  received: string[];
  receivedCount: number;
  /** Per flow label: datagrams the fast path took during its directed burst. */
  takenByFlow: Map<number, number>;
  takenInterleaved: number;
  takenRandom: number;
  contractMemory: string;
}

/** Sends `packets` from a and waits until the engine has accounted for each. */
async function send(setup: Setup, packets: readonly Uint8Array[]): Promise<void> {
  const before = totalSeen(setup);
  for (const packet of packets) setup.a.send(setup.linkA, packet, 0, packet.length);
  await waitFor(() => totalSeen(setup) - before >= packets.length, 'the packets handled', 20_000);
}

async function runScenario(withFastPath: boolean): Promise<Outcome> {
  const setup = await setUp(withFastPath, {
    withC: true,
    engineLinks: [
      { peer: 'b', tags: [3, 5] },
      { peer: 'c', tags: [5] },
    ],
  });
  const taken = () => setup.fastPath?.stats().taken ?? 0;
  try {
    const engineId = setup.engineId;
    // The type I packets (the pipeline: verification, the flow, the first run).
    for (const flow of flows) await send(setup, [packetOf(flow, engineId, 1)]);
    // Directed: per flow, a first type III packet (the pipeline registers the flow's program
    // with the fast path), then a burst.
    const takenByFlow = new Map<number, number>();
    for (const flow of flows) {
      const before = taken();
      const transports = flow.transport && burstTransports(flow.transport);
      const packets = Array.from({ length: BURST }, (_, i) =>
        packetOf(flow, engineId, 3, {
          hopLimit: 64 - i,
          payload: new Uint8Array(16 + i).fill(i),
          ...(transports && { transport: transports[i % transports.length]! }),
        }),
      );
      await send(setup, packets.slice(0, 1));
      await send(setup, packets.slice(1));
      takenByFlow.set(flow.label, taken() - before);
    }
    // Contracts 1 and 2 interleaved: the ENGINE record shows one contract's link tags at a time.
    let before = taken();
    const interleaved: Uint8Array[] = [];
    for (let i = 0; i < 10; i++)
      interleaved.push(packetOf(flows[0]!, engineId, 3), packetOf(flows[10]!, engineId, 3));
    await send(setup, interleaved);
    const takenInterleaved = taken() - before;
    // Property: random packets of every flow, in bursts.
    before = taken();
    const random = randomPackets(engineId);
    for (let at = 0; at < random.length; at += 40) await send(setup, random.slice(at, at + 40));
    const takenRandom = taken() - before;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const counters = setup.engine.counters() as unknown as Record<string, unknown>;
    const received = [...setup.received, ...setup.receivedC];
    return {
      counters: { ...counters, linkLayer: undefined },
      engineLinks: setup.engine.links().map((link) => ({
        programId: link.programId,
        peerName: link.peerName,
        packetsIn: link.packetsIn,
        bytesIn: link.bytesIn,
        packetsOut: link.packetsOut,
        bytesOut: link.bytesOut,
        drops: link.drops,
      })),
      flows: setup.engine
        .flows()
        .map((flow) => ({
          label: flow.flowLabel,
          packets: flow.packets,
          bytes: flow.bytes,
          drops: flow.drops,
          lastVerdict: flow.lastVerdict,
          cachedAction: flow.cachedAction,
        }))
        .sort((x, y) => x.label - y.label),
      received: received.map((p) => Buffer.from(p).toString('hex')).sort(),
      receivedCount: received.length,
      takenByFlow,
      takenInterleaved,
      takenRandom,
      contractMemory: Buffer.from(setup.engine.contractMemory(1) ?? []).toString('hex'),
    };
  } finally {
    await setup.close();
  }
}

describe.runIf(isNativeAddonAvailable())('engine fast path: programs run per packet', () => {
  let off: Outcome;
  let on: Outcome;
  beforeAll(async () => {
    off = await runScenario(false);
    on = await runScenario(true);
  }, 120_000);

  it('ends every packet as the JavaScript pipeline does: counters, drops, links, flows, bytes out', () => {
    expect(on.counters).toEqual(off.counters);
    expect(on.engineLinks).toEqual(off.engineLinks);
    expect(on.flows).toEqual(off.flows);
    expect(on.receivedCount).toBe(off.receivedCount);
    expect(on.received).toEqual(off.received);
    expect(on.contractMemory).toEqual(off.contractMemory);
  });

  it('ran each native-capable flow in the fast path after its first type III packet, never the LOG flow', () => {
    for (const flow of flows) {
      expect(off.takenByFlow.get(flow.label), flow.name).toBe(0);
      expect(on.takenByFlow.get(flow.label), flow.name).toBe(flow.native ? BURST - 1 : 0);
    }
  });

  it('drops with the reasons JavaScript counts (traps, program drops), programs run per packet', () => {
    const counters = on.counters as {
      drops: Record<string, number>;
      programRuns: number;
      programDrops: Record<string, number>;
    };
    // Every packet of the trap flows is dropped with its trap reason, whoever ran it.
    for (const reason of ['FUEL_EXHAUSTED', 'ACCESS_FAULT', 'BAD_SERVICE'])
      expect(counters.drops[reason], reason).toBeGreaterThanOrEqual(1 + BURST);
    expect(counters.drops.PROGRAM_DROP).toBeGreaterThanOrEqual(1 + BURST);
    // The directed bursts end the trap flows' last verdicts (the random part ends them too).
    const lastVerdict = (label: number) =>
      (on.flows as { label: number; lastVerdict: string }[]).find((flow) => flow.label === label)!
        .lastVerdict;
    expect(lastVerdict(7)).toContain('FUEL_EXHAUSTED');
    expect(lastVerdict(9)).toMatch(/BAD_SERVICE|SERVICE_FAULT/);
    expect(JSON.stringify(counters.programDrops)).toContain('258'); // PortFilter's DENIED
    expect(counters.programRuns).toBeGreaterThan(flows.length * (1 + BURST));
  });

  it('runs a contract only while the ENGINE record shows it, and most random packets', () => {
    // A contract's packet after the other's goes up while the ENGINE record shows the other's
    // link tags (how many of the second contract's run here depends on the receive batches).
    expect(on.takenInterleaved).toBeLessThan(20);
    expect(on.takenRandom).toBeGreaterThan(60);
    expect(off.takenRandom).toBe(0);
  });
});

describe.runIf(isNativeAddonAvailable())('engine fast path: programs and flow events', () => {
  it('leaves program runs to JavaScript while someone observes flow events, and takes them again after', async () => {
    const setup = await setUp(true);
    try {
      const trap = flows.find((flow) => flow.label === 7)!; // FUEL_EXHAUSTED: a drop event per packet
      const taken = () => setup.fastPath!.stats().taken;
      await send(setup, [packetOf(trap, setup.engineId, 1)]);
      await send(setup, [packetOf(trap, setup.engineId, 3)]); // registers the flow's program
      const lines: string[] = [];
      const unsubscribe = setup.engine.events.subscribe(
        { kinds: ['drop'] },
        { write: (line) => void lines.push(line), backlogBytes: () => 0 },
      )!;
      let before = taken();
      await send(
        setup,
        Array.from({ length: 5 }, () => packetOf(trap, setup.engineId, 3)),
      );
      expect(taken() - before).toBe(0);
      expect(lines.filter((line) => line.includes('FUEL_EXHAUSTED'))).toHaveLength(5);
      unsubscribe();
      before = taken();
      await send(
        setup,
        Array.from({ length: 5 }, () => packetOf(trap, setup.engineId, 3)),
      );
      expect(taken() - before).toBe(5);
      expect(lines).toHaveLength(5);
      expect(setup.engine.counters().drops.FUEL_EXHAUSTED).toBe(1 + 1 + 5 + 5);
    } finally {
      await setup.close();
    }
  }, 60_000);
});
