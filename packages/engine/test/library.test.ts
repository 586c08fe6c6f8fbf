/**
 * The SDK's network-function library (examples/programs/*.java, compiled by @capsule/sdk) run by
 * engines on the in-memory topology: point to point on a PATH, load balancing by flow hash,
 * multicast to a tagged role, service chaining through a waypoint engine; and the same program,
 * PortFilter, decides the same in the simulator and on an engine for the same packets.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, simulate } from '@capsule/sdk';
import { PacketType, type TransportChunk } from '@capsule/wire';
import { describe, expect, it } from 'vitest';
import {
  buildPacket,
  capsuleOf,
  compileProgram,
  createTopology,
  pathThrough,
  type TestProgram,
} from './harness';

const programsDir = join(import.meta.dirname, '../../../examples/programs');
const library = (name: string): TestProgram =>
  compileProgram(readFileSync(join(programsDir, `${name}.java`), 'utf8'));

describe.skipIf(!existsSync(programsDir))('the SDK library on engines', () => {
  it('PointToPoint follows the PATH; later packets use its cached action', async () => {
    const program = library('PointToPoint');
    const t = createTopology();
    const [a, b] = [t.addHost('a', 0x0a), t.addHost('b', 0x0b)];
    const [e1, e2, e3] = [t.addEngine('e1', 0x701), t.addEngine('e2', 0x702), t.addEngine('e3', 0x703)];
    await t.connect(a, e1);
    await t.connect(e1, e2);
    await t.connect(e2, e3);
    await t.connect(e3, b);
    const auth = t.authorize(a.hostId, program.machineCode);
    const path = pathThrough([e1.engineId, e2.engineId, e3.engineId]);
    const common = { source: a.hostId, destination: b.hostId, flowLabel: 5 };
    a.send(
      e1,
      buildPacket({
        ...common,
        header: {
          nextHeader: 59,
          packetType: PacketType.I,
          flags: 0,
          auth,
          path,
          code: program,
          data: program.initialData,
        },
      }),
    );
    for (let i = 0; i < 5; i++)
      a.send(
        e1,
        buildPacket({ ...common, header: { nextHeader: 59, packetType: PacketType.III, flags: 0, path } }),
      );
    await t.settle();
    expect(b.received).toHaveLength(6);
    expect(capsuleOf(b.received[0]!).path!.hopIndex).toBe(3);
    expect(e2.engine.counters().cachedActions).toBe(5);
  });

  it('LoadBalancer.byFlowHash spreads flows over the role members (links tagged 3), each flow on one', async () => {
    const program = library('LoadBalancer');
    const t = createTopology();
    const a = t.addHost('a', 0x0a);
    const [m1, m2] = [t.addHost('m1', 0x21), t.addHost('m2', 0x22)];
    const e1 = t.addEngine('e1', 0x711, {
      links: [
        { peer: 'm1', tags: [3] },
        { peer: 'm2', tags: [3] },
      ],
    });
    await t.connect(a, e1);
    await t.connect(e1, m1);
    await t.connect(e1, m2);
    e1.engine.refreshLinks();
    const auth = t.authorize(a.hostId, program.machineCode);
    const role = new Uint8Array(16).fill(0x33);
    const path = { creationTime: 0, hopIndex: 0, defaultEntry: program.entries.byFlowHash!, hops: [] };
    for (let label = 1; label <= 30; label++) {
      a.send(
        e1,
        buildPacket({
          source: a.hostId,
          destination: role,
          flowLabel: label,
          header: {
            nextHeader: 59,
            packetType: PacketType.I,
            flags: 0,
            auth,
            path,
            code: program,
            data: program.initialData,
          },
        }),
      );
      a.send(
        e1,
        buildPacket({
          source: a.hostId,
          destination: role,
          flowLabel: label,
          header: { nextHeader: 59, packetType: PacketType.III, flags: 0, path },
        }),
      );
    }
    await t.settle();
    expect(m1.received.length + m2.received.length).toBe(60);
    expect(m1.received.length).toBeGreaterThan(6);
    expect(m2.received.length).toBeGreaterThan(6);
    const labels = (host: typeof m1) => new Set(host.received.map((p) => p[3]));
    for (const label of labels(m1)) expect(labels(m2).has(label)).toBe(false);
  });

  it('Multicast replicates to every member link but the ingress, through two engines', async () => {
    const program = library('Multicast');
    const t = createTopology();
    const a = t.addHost('a', 0x0a);
    const [b, c, d] = [t.addHost('b', 0x0b), t.addHost('c', 0x0c), t.addHost('d', 0x0d)];
    const e1 = t.addEngine('e1', 0x721, {
      links: [
        { peer: 'e2', tags: [5] },
        { peer: 'b', tags: [5] },
        { peer: 'a', tags: [5] },
      ],
    });
    const e2 = t.addEngine('e2', 0x722, {
      links: [
        { peer: 'c', tags: [5] },
        { peer: 'd', tags: [5] },
        { peer: 'e1', tags: [5] },
      ],
    });
    await t.connect(a, e1);
    await t.connect(e1, b);
    await t.connect(e1, e2);
    await t.connect(e2, c);
    await t.connect(e2, d);
    e1.engine.refreshLinks();
    e2.engine.refreshLinks();
    const group = new Uint8Array(16);
    group.set([0xff, 0x3e, 0, 0x30]);
    group[15] = 9;
    const auth = t.authorize(a.hostId, program.machineCode);
    a.send(
      e1,
      buildPacket({
        source: a.hostId,
        destination: group,
        flowLabel: 3,
        header: {
          nextHeader: 59,
          packetType: PacketType.I,
          flags: 0,
          auth,
          code: program,
          data: program.initialData,
        },
      }),
    );
    for (let i = 0; i < 3; i++)
      a.send(
        e1,
        buildPacket({
          source: a.hostId,
          destination: group,
          flowLabel: 3,
          header: {
            nextHeader: 59,
            packetType: PacketType.II,
            flags: 0,
            code: program,
            data: program.initialData,
          },
        }),
      );
    await t.settle();
    expect([b, c, d].map((host) => host.received.length)).toEqual([4, 4, 4]);
    expect(a.received).toHaveLength(0); // never back out of the ingress
  });

  it('ServiceChain goes through the waypoint engine first, marking the packet, then to the destination engine', async () => {
    const program = library('ServiceChain');
    const t = createTopology();
    const [a, b] = [t.addHost('a', 0x0a), t.addHost('b', 0x0b)];
    const e1 = t.addEngine('e1', 0x731, {
      links: [
        { peer: 'w', tags: [1] },
        { peer: 'e3', tags: [2] },
      ],
    });
    const w = t.addEngine('w', 0x732, { tags: [1], links: [{ peer: 'e3', tags: [2] }] });
    const e3 = t.addEngine('e3', 0x733, { links: [{ peer: 'b', tags: [2] }] });
    await t.connect(a, e1);
    await t.connect(e1, w);
    await t.connect(e1, e3);
    await t.connect(w, e3);
    await t.connect(e3, b);
    for (const node of [e1, w, e3]) node.engine.refreshLinks();
    const auth = t.authorize(a.hostId, program.machineCode);
    // The controller's PATH is e1 → e3 (the destination's engine: its last hop); the program
    // makes the detour through the waypoint and e3 delivers.
    a.send(
      e1,
      buildPacket({
        source: a.hostId,
        destination: b.hostId,
        flowLabel: 8,
        header: {
          nextHeader: 59,
          packetType: PacketType.I,
          flags: 0,
          auth,
          path: pathThrough([e1.engineId, e3.engineId]),
          code: program,
          data: program.initialData,
        },
      }),
    );
    await t.settle();
    expect(b.received).toHaveLength(1);
    expect(w.engine.counters().verdicts.FORWARD).toBe(1); // it went through the waypoint
    expect(e3.engine.counters().verdicts.DELIVER).toBe(1);
    const capsule = capsuleOf(b.received[0]!);
    expect(capsule.data![0]).toBe(1); // visited, in DATA
    expect(capsule.trace!.map((record) => record.engineId)).toEqual([e1.engineId, w.engineId, e3.engineId]);
  });

  it('PortFilter: the simulator and an engine give the same verdict for the same transports of one flow', async () => {
    const source = readFileSync(join(programsDir, 'PortFilter.java'), 'utf8');
    const image = compile(source).image!;
    const program = compileProgram(source);
    const t = createTopology();
    const [a, b] = [t.addHost('a', 0x0a), t.addHost('b', 0x0b)];
    const e1 = t.addEngine('e1', 0x741);
    await t.connect(a, e1);
    await t.connect(e1, b);
    const auth = t.authorize(a.hostId, program.machineCode);
    const path = pathThrough([e1.engineId], program.entries.toPort!);
    const transports: TransportChunk[] = [
      { protocol: 6, sourcePort: 40000, destinationPort: 8080 },
      { protocol: 6, sourcePort: 40000, destinationPort: 5201 },
      { protocol: 17, sourcePort: 40000, destinationPort: 8080 },
      { protocol: 58, sourcePort: 0, destinationPort: 0 },
      { protocol: 6, sourcePort: 8080, destinationPort: 40000 },
      { protocol: 6, sourcePort: 1, destinationPort: 8080 },
    ];
    // On the engine: one flow (label 5), type I first, then type III; the program runs for each.
    const engineVerdicts: string[] = [];
    for (const [i, transport] of transports.entries()) {
      const delivered = b.received.length;
      const dropped = e1.engine.counters().programDrops['258'] ?? 0;
      const header =
        i === 0
          ? { packetType: PacketType.I, auth, code: program, data: program.initialData }
          : { packetType: PacketType.III, data: program.initialData };
      a.send(
        e1,
        buildPacket({
          source: a.hostId,
          destination: b.hostId,
          flowLabel: 5,
          header: { nextHeader: 59, flags: 0, path, transport, ...header },
        }),
      );
      await t.settle();
      if (b.received.length === delivered + 1) engineVerdicts.push('DELIVER');
      else if ((e1.engine.counters().programDrops['258'] ?? 0) === dropped + 1) engineVerdicts.push('DROP');
      else engineVerdicts.push('?');
    }
    // In the simulator: the same packets as fixtures (protocol = nextHeader, ports).
    const simulated = simulate(
      image,
      {
        defaults: { engine: { id: e1.engineId }, path: { hopIndex: 0, hops: [{ engineId: e1.engineId }] } },
        packets: transports.map((transport) => ({
          packet: {
            nextHeader: transport.protocol,
            srcPort: transport.sourcePort,
            dstPort: transport.destinationPort,
          },
        })),
      },
      { entry: 'toPort' },
    ).map((outcome) => outcome.verdict);
    expect(engineVerdicts).toEqual(['DELIVER', 'DROP', 'DROP', 'DROP', 'DROP', 'DELIVER']);
    expect(simulated).toEqual(engineVerdicts);
  });
});
