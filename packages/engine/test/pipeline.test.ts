/**
 * The pipeline on an in-memory topology (plain link layer: no crypto, see harness.ts): the library
 * functions route, balance, replicate and chain as designed; DATA and PATH travel; cached actions
 * serve type III packets; TRACE records are appended; flows are listed and expire.
 */

import { IPV6_HEADER_LENGTH, PacketType } from '@capsule/wire';
import { describe, expect, it } from 'vitest';
import { defaultEngineOptions } from '../src/index';
import { buildPacket, capsuleOf, createTopology, pathThrough } from './harness';
import { balance, chain, replicate, route, routeShowingFlow } from './programs';

const dataWord = (data: Uint8Array | undefined, index: number) =>
  new DataView(data!.buffer, data!.byteOffset, data!.byteLength).getUint32(index * 4, true);

async function line() {
  const t = createTopology();
  const a = t.addHost('a', 0x0a);
  const b = t.addHost('b', 0x0b);
  const e1 = t.addEngine('e1', 0x101);
  const e2 = t.addEngine('e2', 0x102);
  const e3 = t.addEngine('e3', 0x103);
  await t.connect(a, e1);
  await t.connect(e1, e2);
  await t.connect(e2, e3);
  await t.connect(e3, b);
  return { t, a, b, e1, e2, e3 };
}

describe('engine pipeline: route', () => {
  it('routes a flow along its PATH: type I verified and run, type III from the cached action', async () => {
    const { t, a, b, e1, e2, e3 } = await line();
    const auth = t.authorize(a.hostId, route.machineCode);
    const path = pathThrough([e1.engineId, e2.engineId, e3.engineId]);
    const common = { source: a.hostId, destination: b.hostId, flowLabel: 0x12345 };
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
          code: route,
          data: new Uint8Array(8),
        },
      }),
    );
    await t.settle();
    expect(b.received).toHaveLength(1);
    const first = capsuleOf(b.received[0]!);
    expect(dataWord(first.data, 0)).toBe(3); // each engine counted itself in DATA
    expect(first.path!.hopIndex).toBe(3); // advanced by each hop
    expect(b.received[0]![7]).toBe(61); // hop limit 64 - 3

    for (let i = 0; i < 10; i++)
      a.send(
        e1,
        buildPacket({ ...common, header: { nextHeader: 59, packetType: PacketType.III, flags: 0, path } }),
      );
    await t.settle();
    expect(b.received).toHaveLength(11);
    for (const node of [e1, e2, e3]) {
      const c = node.engine.counters();
      expect(c.programRuns).toBe(1);
      expect(c.cachedActions).toBe(10);
      expect(c.authorizationsVerified).toBe(1);
      expect(c.verdicts.DROP).toBe(0);
      const flows = node.engine.flows();
      expect(flows).toHaveLength(1);
      expect(flows[0]!.packets).toBe(11);
      expect(flows[0]!.flowLabel).toBe(0x12345);
      expect(flows[0]!.cachedAction).toMatch(/FORWARD|DELIVER/);
    }

    // Type II: the code again (must equal the verified code): the program runs, FLOW memory persists.
    a.send(
      e1,
      buildPacket({
        ...common,
        header: {
          nextHeader: 59,
          packetType: PacketType.II,
          flags: 0,
          path,
          code: route,
          data: new Uint8Array(8),
        },
      }),
    );
    await t.settle();
    expect(b.received).toHaveLength(12);
    expect(e2.engine.counters().programRuns).toBe(2);
    expect(e2.engine.counters().packetsByType).toEqual({ I: 1, II: 1, III: 10 });
  });

  it('appends a TRACE record per engine when the trace flag is set', async () => {
    const { t, a, b, e1, e2, e3 } = await line();
    const auth = t.authorize(a.hostId, route.machineCode);
    const path = pathThrough([e1.engineId, e2.engineId, e3.engineId]);
    a.send(
      e1,
      buildPacket({
        source: a.hostId,
        destination: b.hostId,
        flowLabel: 9,
        header: {
          nextHeader: 59,
          packetType: PacketType.I,
          flags: 1,
          auth,
          path,
          code: route,
          data: new Uint8Array(8),
        },
      }),
    );
    await t.settle();
    expect(b.received).toHaveLength(1);
    const packet = b.received[0]!;
    const header = capsuleOf(packet);
    expect(header.trace!.map((r) => r.engineId)).toEqual([e1.engineId, e2.engineId, e3.engineId]);
    expect(header.trace!.map((r) => r.verdict)).toEqual([1, 1, 3]);
    expect(header.trace![0]!.fuelUsed).toBeGreaterThan(10);
    // The IPv6 payload length covers the grown header and the untouched payload.
    const payloadLength = (packet[4]! << 8) | packet[5]!;
    expect(payloadLength).toBe(packet.length - IPV6_HEADER_LENGTH);
    expect(packet.subarray(packet.length - 32)).toEqual(new Uint8Array(32).fill(0x5a));
  });

  it('expires idle flows', async () => {
    const { t, a, b, e1, e2, e3 } = await line();
    const auth = t.authorize(a.hostId, route.machineCode);
    a.send(
      e1,
      buildPacket({
        source: a.hostId,
        destination: b.hostId,
        flowLabel: 1,
        header: {
          nextHeader: 59,
          packetType: PacketType.I,
          flags: 0,
          auth,
          path: pathThrough([e1.engineId, e2.engineId, e3.engineId]),
          code: route,
          data: new Uint8Array(8),
        },
      }),
    );
    await t.settle();
    expect(e1.engine.flows()).toHaveLength(1);
    // Idle exactly its time-out (the sweeps ran meanwhile): kept; a millisecond more: removed.
    const idleMs = defaultEngineOptions.flowIdleTimeoutMs;
    t.clock.advance(idleMs);
    expect(e1.engine.expireFlows()).toBe(0);
    expect(e1.engine.flows()).toHaveLength(1);
    t.clock.advance(1);
    expect(e1.engine.expireFlows()).toBe(1);
    expect(e1.engine.flows()).toHaveLength(0);
    expect(e1.engine.counters().flowsExpired).toBe(1);
    // A type III packet of the expired flow is now an unknown flow.
    a.send(
      e1,
      buildPacket({
        source: a.hostId,
        destination: b.hostId,
        flowLabel: 1,
        header: { nextHeader: 59, packetType: PacketType.III, flags: 0 },
      }),
    );
    await t.settle();
    expect(e1.engine.counters().drops.UNKNOWN_FLOW).toBe(1);
  });
});

describe('engine pipeline: FLOW memory', () => {
  it('starts every new flow with zeroed FLOW memory, also in the id of an expired one', async () => {
    const { t, a, b, e1, e2, e3 } = await line();
    const auth = t.authorize(a.hostId, routeShowingFlow.machineCode);
    const path = pathThrough([e1.engineId, e2.engineId, e3.engineId]);
    const send = (flowLabel: number, packetType: PacketType) =>
      a.send(
        e1,
        buildPacket({
          source: a.hostId,
          destination: b.hostId,
          flowLabel,
          header: {
            nextHeader: 59,
            packetType,
            flags: 0,
            ...(packetType === PacketType.I && { auth }),
            path,
            code: routeShowingFlow,
            data: new Uint8Array(8),
          },
        }),
      );
    const flowCounts = () => b.received.map((packet) => dataWord(capsuleOf(packet).data, 1));
    send(1, PacketType.I);
    send(1, PacketType.II);
    send(1, PacketType.II);
    await t.settle();
    expect(flowCounts()).toEqual([1, 2, 3]); // FLOW memory persists within the flow
    t.clock.advance(10 * 60_000);
    expect(e1.engine.flows()).toHaveLength(0);
    // Another flow takes the freed id (the table reuses the last one freed): it must not see the
    // first flow's FLOW memory.
    send(2, PacketType.I);
    send(2, PacketType.II);
    await t.settle();
    expect(flowCounts()).toEqual([1, 2, 3, 1, 2]);
  });
});

describe('engine pipeline: a flow rebound to another authorization', () => {
  it("runs its program again at the next type III: the cached action was the old authorization's", async () => {
    const { t, a, b, e1, e2, e3 } = await line();
    const send = (packetType: PacketType, auth?: Uint8Array, entryIndex = 0) =>
      a.send(
        e1,
        buildPacket({
          source: a.hostId,
          destination: b.hostId,
          flowLabel: 3,
          header: {
            nextHeader: 59,
            packetType,
            flags: 0,
            ...(auth && { auth }),
            path: pathThrough([e1.engineId, e2.engineId, e3.engineId], entryIndex),
            ...(packetType !== PacketType.III && { code: route }),
            data: new Uint8Array(8),
          },
        }),
      );
    send(PacketType.I, t.authorize(a.hostId, route.machineCode, { contractId: 7 }));
    send(PacketType.III);
    await t.settle();
    const before = e1.engine.counters();
    expect(before.cachedActions).toBe(1); // the type III took the action the type I cached
    // Another contract's authorization of the same program (the program object is shared: one
    // per code), in a type I whose entry the program does not have: the flow is rebound, then the
    // packet dropped before its program runs — nothing caches or clears an action after the bind.
    send(PacketType.I, t.authorize(a.hostId, route.machineCode, { contractId: 8 }), 9);
    await t.settle();
    expect(e1.engine.flows()[0]).toMatchObject({ contractId: 8 });
    expect(e1.engine.counters().drops.BAD_ENTRY).toBe(1);
    send(PacketType.III);
    await t.settle();
    const after = e1.engine.counters();
    expect(after.cachedActions).toBe(before.cachedActions);
    expect(after.programRuns).toBe(before.programRuns + 1);
  });
});

describe('engine pipeline: balance, replicate, chain', () => {
  it('balances flows across the tagged links by flow hash, each flow sticking to one', async () => {
    const t = createTopology();
    const a = t.addHost('a', 0x0a);
    const b = t.addHost('b', 0x0b);
    const e1 = t.addEngine('e1', 0x201, {
      links: [
        { peer: 'e2', tags: [3] },
        { peer: 'e3', tags: [3] },
      ],
    });
    const e2 = t.addEngine('e2', 0x202);
    const e3 = t.addEngine('e3', 0x203);
    await t.connect(a, e1);
    await t.connect(e1, e2);
    await t.connect(e1, e3);
    await t.connect(e2, b);
    await t.connect(e3, b);
    e1.engine.refreshLinks();
    const auth = t.authorize(a.hostId, balance.machineCode);
    const path = {
      creationTime: 0,
      hopIndex: 0,
      defaultEntry: 1,
      hops: [{ engineId: e1.engineId, entryIndex: 0, flags: 0 }],
    };
    const flowCount = 40;
    for (let label = 1; label <= flowCount; label++) {
      const common = { source: a.hostId, destination: b.hostId, flowLabel: label };
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
            code: balance,
            data: new Uint8Array(4),
          },
        }),
      );
      for (let i = 0; i < 3; i++)
        a.send(
          e1,
          buildPacket({ ...common, header: { nextHeader: 59, packetType: PacketType.III, flags: 0, path } }),
        );
    }
    await t.settle();
    expect(b.received).toHaveLength(flowCount * 4);
    const via2 = e2.engine.counters().packetsOut;
    const via3 = e3.engine.counters().packetsOut;
    expect(via2 + via3).toBe(flowCount * 4);
    expect(via2).toBeGreaterThan(flowCount * 4 * 0.2);
    expect(via3).toBeGreaterThan(flowCount * 4 * 0.2);
    // Each flow went one way only: its packet count at e2 or e3 is 0 or 4.
    for (const flow of [...e2.engine.flows(), ...e3.engine.flows()]) expect(flow.packets).toBe(4);
    expect(e2.engine.flows().length + e3.engine.flows().length).toBe(flowCount);
  });

  it('replicates to a group (multicast) through two levels of engines', async () => {
    const t = createTopology();
    const a = t.addHost('a', 0x0a);
    const [b, c, d] = [t.addHost('b', 0x0b), t.addHost('c', 0x0c), t.addHost('d', 0x0d)];
    const e1 = t.addEngine('e1', 0x301, {
      links: [
        { peer: 'e2', tags: [5] },
        { peer: 'd', tags: [5] },
      ],
    });
    const e2 = t.addEngine('e2', 0x302, {
      links: [
        { peer: 'b', tags: [5] },
        { peer: 'c', tags: [5] },
      ],
    });
    await t.connect(a, e1);
    await t.connect(e1, e2);
    await t.connect(e1, d);
    await t.connect(e2, b);
    await t.connect(e2, c);
    e1.engine.refreshLinks();
    e2.engine.refreshLinks();
    const group = new Uint8Array(16);
    group.set([0xff, 0x3e, 0, 0x30], 0);
    group[15] = 1;
    const auth = t.authorize(a.hostId, replicate.machineCode);
    for (let i = 0; i < 5; i++)
      a.send(
        e1,
        buildPacket({
          source: a.hostId,
          destination: group,
          flowLabel: 77,
          header: {
            nextHeader: 59,
            packetType: i === 0 ? PacketType.I : PacketType.II,
            flags: 0,
            ...(i === 0 ? { auth } : {}),
            code: replicate,
            data: new Uint8Array(4),
          },
        }),
      );
    await t.settle();
    expect(b.received).toHaveLength(5);
    expect(c.received).toHaveLength(5);
    expect(d.received).toHaveLength(5);
    expect(e1.engine.counters().verdicts.REPLICATE).toBe(5);
    expect(e2.engine.counters().verdicts.REPLICATE).toBe(5);
  });

  it('chains through a waypoint, and drops packets whose path bypasses it', async () => {
    const t = createTopology();
    const a = t.addHost('a', 0x0a);
    const b = t.addHost('b', 0x0b);
    const e1 = t.addEngine('e1', 0x401);
    const w = t.addEngine('w', 0x402);
    const e3 = t.addEngine('e3', 0x403);
    await t.connect(a, e1);
    await t.connect(e1, w);
    await t.connect(w, e3);
    await t.connect(e1, e3);
    await t.connect(e3, b);
    const auth = t.authorize(a.hostId, chain.machineCode);
    const hop = (engineId: number, entryIndex: number) => ({ engineId, entryIndex, flags: 0 });
    const through = {
      creationTime: 0,
      hopIndex: 0,
      defaultEntry: 0,
      hops: [hop(e1.engineId, 0), hop(w.engineId, 1), hop(e3.engineId, 2)],
    };
    const bypass = {
      creationTime: 0,
      hopIndex: 0,
      defaultEntry: 0,
      hops: [hop(e1.engineId, 0), hop(e3.engineId, 2)],
    };
    const send = (label: number, path: typeof through) =>
      a.send(
        e1,
        buildPacket({
          source: a.hostId,
          destination: b.hostId,
          flowLabel: label,
          header: {
            nextHeader: 59,
            packetType: PacketType.I,
            flags: 0,
            auth,
            path,
            code: chain,
            data: new Uint8Array(8),
          },
        }),
      );
    send(1, through);
    send(2, bypass);
    await t.settle();
    expect(b.received).toHaveLength(1);
    expect(dataWord(capsuleOf(b.received[0]!).data, 1)).toBe(w.engineId);
    expect(e3.engine.counters().drops.PROGRAM_DROP).toBe(1);
    const dropped = e3.engine.flows().find((f) => f.flowLabel === 2)!;
    expect(dropped.lastVerdict).toBe('DROP PROGRAM_DROP 259');
  });
});

describe('engine pipeline: buffers', () => {
  it('keeps copies of what it caches: a reused receive Buffer does not change a verified authorization', async () => {
    const { t, a, b, e1 } = await line();
    const linkId = e1.linkTo(a);
    const reused = Buffer.alloc(2048);
    const packetOf = (label: number) =>
      buildPacket({
        source: a.hostId,
        destination: b.hostId,
        flowLabel: label,
        header: {
          nextHeader: 59,
          packetType: PacketType.I,
          flags: 0,
          auth: t.authorize(a.hostId, route.machineCode),
          path: pathThrough([e1.engineId]),
          code: route,
          data: new Uint8Array(8),
        },
      });
    const first = packetOf(1);
    const second = packetOf(2);
    const deliver = (packet: Uint8Array) => {
      reused.set(packet);
      e1.engine.handlePacket(linkId, reused, 0, packet.length);
    };
    deliver(first);
    deliver(second); // overwrites the bytes the first packet was read from
    deliver(first);
    const c = e1.engine.counters();
    expect(c.authorizationsVerified).toBe(2);
    expect(c.authorizationCacheHits).toBe(1);
    expect(c.programsVerified).toBe(1);
  });
});
