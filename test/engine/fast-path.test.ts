/**
 * The engine's fast path (@capsule/native's createNativeFastPath, docs/engine.md "Fast path") on
 * real sockets: host a ──▶ engine (native UDP socket) ──▶ host b, real link layers (handshakes,
 * sealed frames), a real engine (the lab: fast-path-lab.ts). The uncached flow's program runs in
 * the fast path too (fast-path-program.test.ts tests that part on its own).
 *
 * - Differential: the same scenario — good traffic of cached and uncached flows mixed with
 *   malformed, forged, replayed, truncated, oversized and out-of-order frames and packets the fast
 *   path must hand up (hop limit 1, TRACE, changed headers, unknown flows) — runs with the fast
 *   path off and on; engine counters, drops, link counters, flows and what b receives must be equal,
 *   and with it on the fast path must have taken most of the good packets.
 * - Differential, a tenant's hostile packets: inner packets with bytes, lengths and the hop limit
 *   changed, sealed by the sender's genuine link session, each read by the fast path alone; the
 *   same must hold (what it takes, it takes only as the pipeline would forward it).
 * - Directed: a forged tag and a replayed frame of a flow the fast path carries are not forwarded
 *   and are counted as the link layer counts them.
 */

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createEngine, renderMetrics } from '@capsule/engine';
import {
  exportEd25519PublicKeyRaw,
  generateControllerKey,
  importControllerPublicKey,
  verifyEd25519,
} from '@capsule/identity';
import { createNativeFastPath, isNativeAddonAvailable } from '@capsule/native';
import { createLinkLayer, createMemoryNetwork, createNativeUdpTransport } from '@capsule/overlay';
import { createManualClock, testSeed } from '@capsule/testkit';
import {
  CapsuleFlag,
  type CapsuleHeader,
  ChunkType,
  decodeCapsuleHeader,
  PacketType,
  SIGNATURES_AHEAD_COUNTS,
  systemClock,
  TRACE_RECORD_LENGTH,
} from '@capsule/wire';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPacket } from '../../packages/engine/test/harness';
import {
  deliverCachingTypeI,
  route,
  routeNumberingContract,
  routeStampingType,
  routeUncached,
  routeWithoutData,
} from '../../packages/engine/test/programs';
import { waitFor } from './cluster';
import {
  authorize,
  controllerKeyId,
  controllerPublicKey,
  identities,
  type Setup,
  setUp,
  totalSeen,
} from './fast-path-lab';

const authCached = authorize(route);
/** Flow 2's program: not cached, and it writes the packet type it was shown into DATA (b sees it). */
const authUncached = authorize(routeStampingType);

function pathOf(engineId: number, hopIndex = 0) {
  return { creationTime: 0, hopIndex, defaultEntry: 0, hops: [{ engineId, entryIndex: 0, flags: 0 }] };
}

/** The inner packets of the scenario (deterministic for one engine id and seed). */
function scenarioPackets(engineId: number, seed: number) {
  const packet = (label: number, header: CapsuleHeader, hopLimit = 64, data = new Uint8Array(8)) =>
    buildPacket({
      source: identities.a.hostId,
      destination: identities.b.hostId,
      flowLabel: label,
      hopLimit,
      header: { ...header, data },
      payload: new Uint8Array(64).fill(label & 0xff),
    });
  const typeI = (label: number, program: typeof route, auth: Uint8Array) =>
    packet(label, {
      nextHeader: 59,
      packetType: PacketType.I,
      flags: 0,
      auth,
      path: pathOf(engineId),
      code: program,
    });
  const typeII = (label: number, program: typeof route) =>
    packet(label, {
      nextHeader: 59,
      packetType: PacketType.II,
      flags: 0,
      path: pathOf(engineId),
      code: program,
    });
  const typeIII = (
    label: number,
    extra: Partial<CapsuleHeader> = {},
    hopLimit = 64,
    data?: Uint8Array<ArrayBuffer>,
  ) =>
    packet(
      label,
      { nextHeader: 59, packetType: PacketType.III, flags: 0, path: pathOf(engineId), ...extra },
      hopLimit,
      data,
    );
  const first = [typeI(1, route, authCached), typeI(2, routeStampingType, authUncached)];
  // Bursts of type III: mostly good packets of flow 1 (fast path) and 2 (program per packet), and
  // in the first three the packets the fast path must hand up (after one of them, the rest of its
  // flow in that receive batch goes up too: it stays in order) and type I and II packets of both
  // flows, good (the agents' re-authorizations: the fast path's once the pipeline handled one of
  // each type) and bad; the last three only good ones.
  const random = fc.sample(fc.integer({ min: 0, max: 0xffff }), { seed, numRuns: 4000 });
  let r = 0;
  const next = () => random[r++ % random.length]!;
  const bursts: Uint8Array[][] = [];
  for (let burst = 0; burst < 6; burst++) {
    const packets: Uint8Array[] = [];
    for (let i = 0; i < 60; i++) {
      // The last three bursts: good type III, and good type I and II (choices 20 and 21).
      let choice = next() % (burst < 3 ? 24 : 16);
      if (burst >= 3 && choice >= 14) choice += 6;
      if (choice < 12) packets.push(typeIII(1, {}, 64, new Uint8Array(8).fill(next() & 0xff)));
      else if (choice < 14) packets.push(typeIII(2));
      else if (choice === 14)
        packets.push(typeIII(1, {}, 1)); // hop limit 1: HOP_LIMIT
      else if (choice === 15)
        packets.push(typeIII(1, { flags: CapsuleFlag.TRACE })); // TRACE: JavaScript
      else if (choice === 16)
        packets.push(
          next() % 2 === 0
            ? typeIII(1, {}, 64, new Uint8Array(16)) // other DATA length: the pipeline's cached action
            : withCapsuleVersion(typeIII(1), 2), // a capsule header the pipeline refuses: MALFORMED_CAPSULE
        );
      else if (choice === 17)
        packets.push(typeIII(77)); // unknown flow
      else if (choice === 18)
        packets.push(typeIII(1, { path: pathOf(engineId, 1) })); // hop index past us
      else if (choice === 19)
        packets.push(typeIII(1, { path: pathOf(engineId ^ 1) })); // not our hop
      else if (choice === 20)
        packets.push(
          next() % 2 === 0 ? typeI(1, route, authCached) : typeI(2, routeStampingType, authUncached),
        );
      else if (choice === 21)
        packets.push(next() % 2 === 0 ? typeII(1, route) : typeII(2, routeStampingType));
      else if (choice === 22)
        packets.push(typeI(1, route, authUncached)); // another authorization: the pipeline refuses the code
      else packets.push(typeII(1, routeUncached)); // not the flow's code: CODE_HASH_MISMATCH
    }
    bursts.push(packets);
  }
  return { first, bursts, next };
}

/**
 * A tenant's hostile inner packets: what one host holding a genuine link session to the engine can
 * send (its frames verify; only the engine's own checks stand in the way). The scenario's good
 * packets of flows 1 and 2 (type I, II and III) with one to three bytes set to random values —
 * mostly in the IPv6 and capsule headers, where the engine reads, some in the payload —, with the
 * fields the engine's bounds rest on set (the IPv6 payload length, the capsule header's length, the
 * hop limit), cut short or lengthened (the IPv6 payload length adjusted or not), or left as they
 * are. Sealed by a's link layer as they are (it refuses only a packet whose IPv6 and capsule
 * headers it cannot delimit).
 */
function tenantPackets(engineId: number, seed: number) {
  const { first, bursts: scenario, next } = scenarioPackets(engineId, seed);
  const good = scenario.slice(3).flat(); // the last three bursts: good packets of every type
  const setPayloadLength = (packet: Uint8Array, length: number) => {
    packet[4] = length >> 8;
    packet[5] = length & 0xff;
  };
  const bursts: Uint8Array[][] = [];
  for (let burst = 0; burst < 6; burst++) {
    const packets: Uint8Array[] = [];
    for (let i = 0; i < 60; i++) {
      const original = good[next() % good.length]!;
      const headersEnd = Math.min(original.length, 40 + (original[41]! + 1) * 8);
      const kind = next() % 12;
      let packet = new Uint8Array(original);
      if (kind < 4) {
        for (let change = 1 + (next() % 3); change > 0; change--) {
          const at = next() % 5 === 0 ? next() % packet.length : next() % headersEnd;
          packet[at] = next() & 0xff;
        }
      } else if (kind === 4) setPayloadLength(packet, next() % (packet.length - 40 + 8));
      else if (kind === 5) packet[41] = next() % 2 === 0 ? next() & 0xff : original[41]! + (next() % 3) - 1;
      else if (kind === 6)
        packet[7] = next() % 3; // hop limit 0, 1 or 2
      else if (kind === 7 || kind === 8) {
        packet = packet.slice(0, 40 + (next() % (original.length - 40)));
        if (kind === 8) setPayloadLength(packet, packet.length - 40);
      } else if (kind === 9) {
        packet = new Uint8Array(original.length + 1 + (next() % 64));
        packet.set(original);
        if (next() % 2 === 0) setPayloadLength(packet, packet.length - 40);
      }
      packets.push(packet);
    }
    bursts.push(packets);
  }
  return { first, bursts, next };
}

/** The packet with its capsule header's version field set to `version`. */
function withCapsuleVersion(packet: Uint8Array, version: number): Uint8Array {
  packet[42] = (version << 4) | (packet[42]! & 0x0f);
  return packet;
}

/** Frame mutations (by kind): each must leave the fast path as the link layer would. */
function mutate(frame: Uint8Array, kind: number, pick: () => number, earlier: Uint8Array[]): Uint8Array[] {
  const copy = () => new Uint8Array(frame);
  switch (kind) {
    case 0: {
      const forged = copy(); // a tag byte
      forged[forged.length - 1 - (pick() % 16)]! ^= 1 << (pick() % 8);
      return [forged];
    }
    case 1: {
      const forged = copy(); // a header or chunk byte inside the MAC's range
      forged[16 + (pick() % 60)]! ^= 1 << (pick() % 8);
      return [forged];
    }
    case 2:
      return [frame, frame]; // a replay right behind the original
    case 3:
      return [frame.subarray(0, Math.max(0, frame.length - 1 - (pick() % 40)))]; // truncated
    case 4: {
      const longer = new Uint8Array(frame.length + 1 + (pick() % 1400)); // oversized: tag moved
      longer.set(frame);
      return [longer];
    }
    case 5: {
      const unknown = copy(); // unknown receiver index
      unknown[4]! ^= 0x5a;
      return [unknown];
    }
    case 6:
      return earlier.length > 0 ? [frame, earlier[pick() % earlier.length]!] : [frame]; // an old replay
    case 7: {
      const badVersion = copy();
      badVersion[0] = 2;
      return [badVersion];
    }
    default:
      return [frame];
  }
}

interface Outcome {
  counters: Record<string, unknown>;
  linkDrops: Record<string, number>;
  engineLinks: unknown[];
  flows: unknown[];
  received: string[];
  /** What b received of each flow (by flow label), in arrival order. */
  receivedByFlow: [number, string[]][];
  taken: number;
  offered: number;
  /** Handed up only to stay behind an earlier frame of their flow in the batch. */
  held: number;
  /** Handed up, by why (FastPathHandUp). */
  handedUp: Record<string, number>;
  /** Taken during the bursts of good packets only, and the undamaged frames of flow 1 in them. */
  takenClean: number;
  flow1Clean: number;
  /** Type I and II packets the fast path carried (its counters as the engine took them), and their sum of all types. */
  fastTypeIAndII: number;
  typeIAndII: number;
  /** The engine's /metrics text at the end. */
  metrics: string;
}

/**
 * Runs a scenario on a fresh setup; `fastPath` decides the engine's fast path. `frames`: 'damaged'
 * sends each burst's sealed frames with damaged, replayed and repeated ones (mutate) among them, at
 * once; 'one at a time' sends them as a's link layer sealed them, each alone in the engine's receive
 * batch (waited for), so that the fast path reads every one (none held behind another of its flow).
 */
async function runScenario(
  withFastPath: boolean,
  packets: typeof scenarioPackets = scenarioPackets,
  frames: 'damaged' | 'one at a time' = 'damaged',
): Promise<Outcome> {
  const setup = await setUp(withFastPath);
  let fastTypeIAndII = 0;
  const fastPath = setup.fastPath;
  if (fastPath) {
    const take = fastPath.takeCounters.bind(fastPath);
    fastPath.takeCounters = () => {
      const taken = take();
      fastTypeIAndII += taken.typeI + taken.typeII;
      return taken;
    };
  }
  try {
    const { first, bursts, next } = packets(setup.engineId, testSeed);
    for (const packet of first) setup.a.send(setup.linkA, packet, 0, packet.length);
    await waitFor(() => setup.received.length >= 2, 'the type I packets at b');
    const sentFrames: Uint8Array[] = [];
    let expectedIn = setup.engine.counters().packetsIn;
    let takenBeforeClean = 0;
    let flow1Clean = 0;
    for (const [index, burst] of bursts.entries()) {
      // From the second burst of good packets on (the first one's first packet of flow 1 goes
      // to the pipeline, which caches its action again; the rest of that batch follows it).
      if (index === 4) takenBeforeClean = setup.fastPath?.stats().taken ?? 0;
      const sealed = setup.aTransport.record(() => {
        for (const packet of burst) setup.a.send(setup.linkA, packet, 0, packet.length);
      });
      const datagrams: Uint8Array[] = [];
      for (const [at, frame] of sealed.entries()) {
        const kind = frames === 'damaged' ? next() % 24 : 8; // most frames as sealed; 8 kinds of damage
        datagrams.push(...mutate(frame, kind, next, sentFrames));
        sentFrames.push(frame);
        // Sent as sealed (alone, or before a replay): kinds 2, 6 and the undamaged ones.
        if (index >= 4 && flowLabelOf(burst[at]!) === 1 && (kind === 2 || kind === 6 || kind >= 8))
          flow1Clean += 1;
      }
      // Each datagram is counted once somewhere (a link drop or an engine packet): wait for all.
      const before = totalSeen(setup);
      for (const [at, datagram] of datagrams.entries()) {
        setup.aTransport.raw(datagram, setup.engineAddress);
        if (frames === 'one at a time')
          await waitFor(() => totalSeen(setup) - before > at, 'the datagram handled');
      }
      await waitFor(() => totalSeen(setup) - before >= datagrams.length, 'the burst handled', 10_000);
      expectedIn = setup.engine.counters().packetsIn;
    }
    void expectedIn;
    await new Promise((resolve) => setTimeout(resolve, 100));
    const counters = setup.engine.counters() as unknown as Record<string, unknown>;
    const byType = counters.packetsByType as { I: number; II: number };
    return {
      fastTypeIAndII,
      typeIAndII: byType.I + byType.II,
      counters: { ...counters, linkLayer: undefined },
      linkDrops: { ...setup.engineLayer.drops },
      engineLinks: setup.engine.links().map((link) => ({
        programId: link.programId,
        kind: link.kind,
        packetsIn: link.packetsIn,
        bytesIn: link.bytesIn,
        packetsOut: link.packetsOut,
        bytesOut: link.bytesOut,
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
      received: setup.received.map((p) => Buffer.from(withoutTraceTimes(p)).toString('hex')).sort(),
      receivedByFlow: byFlow(setup.received),
      taken: setup.fastPath?.stats().taken ?? 0,
      offered: setup.fastPath?.stats().offered ?? 0,
      held: setup.fastPath?.stats().held ?? 0,
      handedUp: setup.fastPath?.stats().handedUp ?? {},
      takenClean: (setup.fastPath?.stats().taken ?? 0) - takenBeforeClean,
      flow1Clean,
      metrics: renderMetrics(setup.engine),
    };
  } finally {
    await setup.close();
  }
}

/**
 * The scenario's type I packets sent from a (flows 1 and 2 authorized, at b), and a type III packet
 * of flow 1 (its cached action) to send after them.
 */
async function flowOneTypeIII(setup: Setup): Promise<Uint8Array> {
  const { first } = scenarioPackets(setup.engineId, testSeed);
  for (const packet of first) setup.a.send(setup.linkA, packet, 0, packet.length);
  await waitFor(() => setup.received.length >= 2, 'the type I packets at b');
  return buildPacket({
    source: identities.a.hostId,
    destination: identities.b.hostId,
    flowLabel: 1,
    header: {
      nextHeader: 59,
      packetType: PacketType.III,
      flags: 0,
      path: pathOf(setup.engineId),
      data: new Uint8Array(8),
    },
  });
}

/** An IPv6 packet's flow label. */
const flowLabelOf = (packet: Uint8Array) => ((packet[1]! & 0x0f) << 16) | (packet[2]! << 8) | packet[3]!;

/** Packets by flow label (ascending), each flow's in their order (TRACE times zeroed), as hex. */
function byFlow(packets: readonly Uint8Array[]): [number, string[]][] {
  const flows = new Map<number, string[]>();
  for (const packet of packets) {
    const label = flowLabelOf(packet);
    if (!flows.has(label)) flows.set(label, []);
    flows.get(label)!.push(Buffer.from(withoutTraceTimes(packet)).toString('hex'));
  }
  return [...flows.entries()].sort(([x], [y]) => x - y);
}

/**
 * The packet with the time of every TRACE record zeroed (the engine's clock when it handled the
 * packet, which differs between the two runs); the records' other fields stay compared.
 */
function withoutTraceTimes(packet: Uint8Array): Uint8Array {
  const copy = new Uint8Array(packet);
  if (copy[6] !== 253 || copy.length < 44) return copy;
  const end = Math.min(copy.length, 40 + (copy[41]! + 1) * 8);
  for (let at = 44; at + 2 <= end && copy[at] !== 0; ) {
    const type = copy[at]! >> 4;
    const length = ((copy[at]! & 0x0f) << 8) | copy[at + 1]!;
    if (type === ChunkType.TRACE)
      for (
        let record = at + 2;
        record + TRACE_RECORD_LENGTH <= at + 2 + length;
        record += TRACE_RECORD_LENGTH
      )
        copy.fill(0, record + 2, record + 6);
    at += 2 + length;
  }
  return copy;
}

describe.runIf(isNativeAddonAvailable())('engine fast path (native UDP loopback)', () => {
  let off: Outcome;
  let on: Outcome;
  beforeAll(async () => {
    off = await runScenario(false);
    on = await runScenario(true);
  }, 120_000);

  it('takes every undamaged frame of the cached flow in bursts of good packets when on, none when off', () => {
    expect(off.taken).toBe(0);
    expect(on.flow1Clean).toBeGreaterThan(40);
    // Flow 1's undamaged frames (and flow 2's, whose program runs here), but those behind one it
    // must hand up: an old frame whose first copy was damaged (its first genuine copy, behind a
    // forged one of the same counter in the batch) goes up, and its flow's later frames after it.
    expect(on.takenClean).toBeGreaterThan(0.8 * on.flow1Clean);
    const flow1 = on.flows.find((flow) => (flow as { label: number }).label === 1) as { packets: number };
    expect(on.taken).toBeLessThan(flow1.packets);
  });

  it('takes the type I and II packets of a flow once the pipeline handled one of each type', () => {
    expect(off.fastTypeIAndII).toBe(0);
    expect(on.typeIAndII).toBe(off.typeIAndII);
    expect(on.fastTypeIAndII).toBeGreaterThan(5);
  });

  it('says why it handed up each datagram it did not take', () => {
    const sum = Object.values(on.handedUp).reduce((a, b) => a + b, 0);
    expect(sum).toBe(on.offered - on.taken);
    expect(on.handedUp.HELD).toBe(on.held);
    // The links' handshakes, the forged, replayed and cut frames, the flows' first packets (what
    // else a burst holds varies with how the datagrams fall into receive batches).
    for (const reason of ['CONTROL', 'LINK', 'UNKNOWN_FLOW'])
      expect(on.handedUp[reason], reason).toBeGreaterThan(0);
    expect(off.handedUp).toEqual({});
  });

  it("says in the engine's metrics how much it carried", () => {
    const sampleOf = (text: string, name: string) =>
      Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1]);
    expect(sampleOf(off.metrics, 'capsule_engine_fast_path_enabled')).toBe(0);
    expect(sampleOf(off.metrics, 'capsule_engine_fast_path_datagrams_total{outcome="taken"}')).toBe(0);
    expect(sampleOf(on.metrics, 'capsule_engine_fast_path_enabled')).toBe(1);
    expect(sampleOf(on.metrics, 'capsule_engine_fast_path_datagrams_total{outcome="taken"}')).toBe(on.taken);
    // The hostile bursts hand up frames of flow 1 with more of its frames behind them.
    expect(on.held).toBeGreaterThan(0);
    expect(sampleOf(on.metrics, 'capsule_engine_fast_path_datagrams_total{outcome="held"}')).toBe(on.held);
    for (const [reason, count] of Object.entries(on.handedUp))
      expect(
        sampleOf(on.metrics, `capsule_engine_fast_path_handed_up_total{reason="${reason}"}`),
        reason,
      ).toBe(count);
    expect(sampleOf(on.metrics, 'capsule_engine_fast_path_frames_sent_total')).toBeGreaterThanOrEqual(
      on.taken,
    );
    expect(
      sampleOf(on.metrics, 'capsule_engine_fast_path_datagrams_total{outcome="offered"}'),
    ).toBeGreaterThan(on.taken);
    expect(
      sampleOf(on.metrics, 'capsule_engine_fast_path_datagrams_total{outcome="offered_packet"}'),
    ).toBeGreaterThanOrEqual(on.taken);
  });

  it('counts, drops, links, flows and delivered packets are the same with it on and off', () => {
    // But one exchange: a forged frame ahead, in one receive batch, of the genuine frame with its
    // counter. On, the genuine one is taken at once, and JavaScript then finds the forged one's
    // counter seen (replayed) where off it checks its tag first (badTag). Holding the genuine one
    // back would let one forged datagram per batch push a flow's packets up to JavaScript.
    const merged = (drops: Record<string, number>) => ({
      ...drops,
      badTag: undefined,
      replayed: undefined,
      badTagOrReplayed: drops.badTag! + drops.replayed!,
    });
    expect(merged(on.linkDrops)).toEqual(merged(off.linkDrops));
    expect(on.linkDrops.badTag).toBeLessThanOrEqual(off.linkDrops.badTag!);
    expect(on.counters).toEqual(off.counters);
    expect(on.engineLinks).toEqual(off.engineLinks);
    expect(on.flows).toEqual(off.flows);
    expect(on.received.length).toBe(off.received.length);
    expect(on.received).toEqual(off.received);
  });

  it("keeps each flow's packets in their order (a packet it hands up is not overtaken)", () => {
    expect(on.receivedByFlow.map(([label, packets]) => [label, packets.length])).toEqual(
      off.receivedByFlow.map(([label, packets]) => [label, packets.length]),
    );
    expect(on.receivedByFlow).toEqual(off.receivedByFlow);
  });

  it('saw every kind of hostile input', () => {
    for (const key of ['malformed', 'unknownReceiver', 'replayed', 'badTag'] as const)
      expect(on.linkDrops[key], key).toBeGreaterThan(0);
    const drops = on.counters.drops as Record<string, number>;
    for (const reason of ['HOP_LIMIT', 'UNKNOWN_FLOW', 'MALFORMED_CAPSULE'])
      expect(drops[reason] ?? 0, reason).toBeGreaterThan(0);
  });
});

describe.runIf(isNativeAddonAvailable())(
  "engine fast path: a tenant's hostile packets in genuine frames (bounded fuzz)",
  () => {
    let off: Outcome;
    let on: Outcome;
    beforeAll(async () => {
      off = await runScenario(false, tenantPackets, 'one at a time');
      on = await runScenario(true, tenantPackets, 'one at a time');
    }, 120_000);

    it('forwards, drops and counts them exactly as the pipeline does', () => {
      expect(on.linkDrops).toEqual(off.linkDrops);
      expect(on.counters).toEqual(off.counters);
      expect(on.engineLinks).toEqual(off.engineLinks);
      expect(on.flows).toEqual(off.flows);
      expect(on.receivedByFlow).toEqual(off.receivedByFlow);
    });

    it('took those the pipeline forwards as it would, and handed up the rest', () => {
      const drops = off.counters.drops as Record<string, number>;
      // The pipeline refused many, for what the engine reads (a spoofed source, a malformed packet
      // or capsule header, the hop limit, changed code) and forwarded many (bytes it does not read,
      // or reads and acts on); the fast path read each (none held) and took most of those.
      expect(Object.values(drops).reduce((sum, count) => sum + count, 0)).toBeGreaterThan(100);
      for (const reason of [
        'WRONG_LINK',
        'MALFORMED_PACKET',
        'MALFORMED_CAPSULE',
        'HOP_LIMIT',
        'UNKNOWN_FLOW',
      ])
        expect(drops[reason], reason).toBeGreaterThan(0);
      expect(off.received.length).toBeGreaterThan(100);
      expect(on.taken).toBeGreaterThan(100);
      for (const reason of ['PACKET', 'UNKNOWN_FLOW', 'HEADER_CHANGED'])
        expect(on.handedUp[reason], reason).toBeGreaterThan(0);
      expect(on.handedUp.HELD).toBe(0); // each read alone: none waited behind another
    });
  },
);

describe.runIf(isNativeAddonAvailable())('engine fast path: DELIVER once the host’s link is gone', () => {
  it.each([false, true])(
    'drops each packet as NO_HOST_LINK and forwards none (fast path %s)',
    async (withFastPath) => {
      const setup = await setUp(withFastPath);
      try {
        // A flow to b whose program DELIVERs and caches it: carried (natively when on) ...
        const auth = authorize(deliverCachingTypeI);
        const packet = (packetType: 1 | 3) =>
          buildPacket({
            source: identities.a.hostId,
            destination: identities.b.hostId,
            flowLabel: 11,
            header: {
              nextHeader: 59,
              packetType,
              flags: 0,
              path: pathOf(setup.engineId),
              data: new Uint8Array(8),
              ...(packetType === 1 && { auth, code: deliverCachingTypeI }),
            },
          });
        for (const type of [1, 3, 3] as const) await sendToB(setup, packet(type));
        const taken = setup.fastPath?.stats().taken ?? 0;
        if (withFastPath) expect(taken).toBeGreaterThan(0);
        // ... until the engine drops its link to b (the controller's link set no longer has it).
        setup.engineLayer.disconnect(identities.b.hostId);
        await waitFor(
          () => setup.engineLayer.linkTo(identities.b.hostId)?.state !== 'up',
          'the link to b down',
        );
        await expectDroppedAs(setup, [packet(3), packet(3), packet(3)], 'NO_HOST_LINK');
      } finally {
        await setup.close();
      }
    },
  );
});

describe.runIf(isNativeAddonAvailable())('engine fast path: a link at its rekey limit', () => {
  it('hands a frame that would pass the limit up to JavaScript, which rekeys; nothing is lost and it carries on', async () => {
    const limit = 40;
    const setup = await setUp(true, { engineRekeyAfterPackets: limit });
    try {
      const typeIII = await flowOneTypeIII(setup);
      const toB = () => setup.engineLayer.linkTo(identities.b.hostId)!;
      const handshakes = toB().handshakes;
      const egressUp = setup.fastPath!.stats().handedUp.EGRESS!;
      // Three times the limit, ten at a time.
      for (let sent = 0; sent < 3 * limit; sent += 10) {
        const received = setup.received.length;
        for (let i = 0; i < 10; i++) setup.a.send(setup.linkA, typeIII, 0, typeIII.length);
        await waitFor(() => setup.received.length === received + 10, 'ten packets at b');
      }
      // Up at the limit (JavaScript sends those and starts the rekey), taken again after it.
      expect(setup.fastPath!.stats().handedUp.EGRESS! - egressUp).toBeGreaterThan(0);
      await waitFor(() => toB().handshakes > handshakes, 'the link to b rekeyed');
      // The session now current may itself be at the limit (its count includes the confirmation
      // keep-alive and whatever JavaScript sent on it), its rekey under way: a packet of the next
      // few may go up while it completes; then one is taken. Without the rekey reaching the fast
      // path every one goes up.
      const taken = setup.fastPath!.stats().taken;
      for (let tries = 0; tries < 5 && setup.fastPath!.stats().taken === taken; tries++) {
        await sendToB(setup, typeIII);
      }
      expect(setup.fastPath!.stats().taken).toBe(taken + 1);
    } finally {
      await setup.close();
    }
  });
});

describe.runIf(isNativeAddonAvailable())('engine fast path: a carried flow whose authorization ends', () => {
  it.each([false, true])(
    'stops at its authorization’s end: the next packet dropped as AUTH_EXPIRED, not forwarded (fast path %s)',
    async (withFastPath) => {
      const setup = await setUp(withFastPath);
      try {
        // Flow 60, authorized until the end of the next second.
        const notAfter = Math.floor(Date.now() / 1000) + 1;
        const auth = authorize(route, 1, undefined, notAfter);
        await sendToB(setup, flowPacket(setup, { packetType: PacketType.I, auth, code: route }, 60));
        const typeIII = flowPacket(setup, { packetType: PacketType.III }, 60);
        await sendToB(setup, typeIII);
        await sendToB(setup, typeIII);
        const taken = setup.fastPath?.stats().taken ?? 0;
        if (withFastPath) expect(taken).toBeGreaterThan(0);
        // Past its end (the engine's clock in whole seconds), before any sweep: the flow is still
        // in the table, its authorization over.
        await waitFor(() => Math.floor(Date.now() / 1000) > notAfter, 'the authorization over', 5_000);
        await expectDroppedAs(setup, [typeIII], 'AUTH_EXPIRED');
      } finally {
        await setup.close();
      }
    },
  );
});

describe.runIf(isNativeAddonAvailable())('engine fast path: a carried flow gone idle', () => {
  it.each([false, true])(
    'ends a flow idle past its time-out at its next packet, before any sweep: dropped as UNKNOWN_FLOW, not forwarded (fast path %s)',
    async (withFastPath) => {
      // A 2 s idle time-out, swept every second from the engine's start. The flow's last packets
      // go 300 ms after a sweep: the second sweep after them finds the flow idle 1.7 s (kept), and
      // the late packet comes 2.05 s after them, some 650 ms before the third. (Were a sweep to
      // end the flow first, on a slow machine, the outcome would be the same: this test cannot
      // fail then, only test less.)
      const idleMs = 2_000;
      const sweepMs = 1_000;
      const before = Date.now();
      const setup = await setUp(withFastPath, { flowIdleTimeoutMs: idleMs });
      const started = Date.now();
      try {
        await sendToB(
          setup,
          flowPacket(setup, { packetType: PacketType.I, auth: authorize(route, 1), code: route }, 60),
        );
        const typeIII = flowPacket(setup, { packetType: PacketType.III }, 60);
        // The engine started between `before` and `started`: its sweep number k is at most
        // `started + k s`; the first k that has not passed yet.
        const k = Math.ceil((Date.now() - before) / sweepMs);
        await waitFor(() => Date.now() > started + k * sweepMs + 300, 'a sweep passed', 5_000);
        await sendToB(setup, typeIII);
        await sendToB(setup, typeIII);
        const lastSeen = Date.now();
        const taken = setup.fastPath?.stats().taken ?? 0;
        if (withFastPath) expect(taken).toBeGreaterThan(0);
        const expired = setup.engine.counters().flowsExpired;
        const flowStateUp = setup.fastPath?.stats().handedUp.FLOW_STATE ?? 0;
        await waitFor(() => Date.now() > lastSeen + idleMs + 50, 'the flow idle', 5_000);
        await expectDroppedAs(setup, [typeIII], 'UNKNOWN_FLOW');
        expect(setup.engine.counters().flowsExpired).toBe(expired + 1);
        if (withFastPath) expect(setup.fastPath!.stats().handedUp.FLOW_STATE).toBe(flowStateUp + 1);
      } finally {
        await setup.close();
      }
    },
  );
});

describe.runIf(isNativeAddonAvailable())(
  "engine fast path: a carried flow's packets from another host",
  () => {
    it.each([false, true])(
      'a packet of a’s flow sent on c’s link is not forwarded, and counted as the pipeline counts it (fast path %s)',
      async (withFastPath) => {
        // Host c holds a link of its own to the engine and sends a packet with a's address and flow
        // label: the fast path carries that flow from a's link only.
        const setup = await setUp(withFastPath, { withC: true });
        try {
          const typeIII = await flowOneTypeIII(setup);
          setup.a.send(setup.linkA, typeIII, 0, typeIII.length);
          await waitFor(() => setup.received.length === 3, 'flow 1 carried');
          setup.a.send(setup.linkA, typeIII, 0, typeIII.length);
          await waitFor(() => setup.received.length === 4, 'flow 1 carried again');
          const taken = setup.fastPath?.stats().taken ?? 0;
          if (withFastPath) expect(taken).toBeGreaterThan(0);
          else expect(setup.vouched()).toBe(0); // no filter: the link layer checks every tag
          const drops = { ...(setup.engine.counters().drops as Record<string, number>) };
          const seen = totalSeen(setup);
          setup.c!.send(setup.linkC!, typeIII, 0, typeIII.length);
          await waitFor(() => totalSeen(setup) === seen + 1, 'the spoofed packet counted');
          const after = setup.engine.counters().drops as Record<string, number>;
          expect((after.WRONG_LINK ?? 0) - (drops.WRONG_LINK ?? 0)).toBe(1);
          expect(setup.fastPath?.stats().taken ?? 0).toBe(taken);
          // And a's next packet of the flow still goes (through the fast path when on).
          setup.a.send(setup.linkA, typeIII, 0, typeIII.length);
          await waitFor(() => setup.received.length === 5, 'flow 1 after the spoofed packet');
          expect(setup.received.length).toBe(5);
          if (withFastPath) expect(setup.fastPath!.stats().taken).toBe(taken + 1);
        } finally {
          await setup.close();
        }
      },
    );
  },
);

describe.runIf(isNativeAddonAvailable())(
  'engine fast path: forged and replayed frames of a carried flow',
  () => {
    let setup: Setup;
    let frames: Uint8Array[];
    afterAll(async () => setup?.close());

    beforeAll(async () => {
      setup = await setUp(true);
      const typeIII = await flowOneTypeIII(setup);
      frames = setup.aTransport.record(() => {
        for (let i = 0; i < 4; i++) setup.a.send(setup.linkA, typeIII, 0, typeIII.length);
      });
      // The first frame through the pipeline registers the flow; the second through the fast path.
      setup.aTransport.raw(frames[0]!, setup.engineAddress);
      await waitFor(() => setup.received.length >= 3, 'the first type III at b');
      setup.aTransport.raw(frames[1]!, setup.engineAddress);
      await waitFor(() => setup.received.length >= 4, 'the second type III at b');
    }, 60_000);

    it('the flow is carried by the fast path', () => {
      expect(setup.fastPath!.stats().taken).toBe(1);
    });

    it('hands its authentic frames up flagged, so JavaScript does not compute their tag again', () => {
      // The flow's type I (its AUTH verified in JavaScript, the flow unknown to the fast path), its
      // type II and its first type III went up with their tags verified.
      expect(setup.fastPath!.stats().handedUp.UNKNOWN_FLOW).toBeGreaterThan(0);
      expect(setup.vouched()).toBeGreaterThanOrEqual(3);
    });

    it('a frame with a forged tag is not forwarded and counts as badTag', async () => {
      const forged = new Uint8Array(frames[2]!);
      forged[forged.length - 3]! ^= 0x10;
      const badTag = setup.engineLayer.drops.badTag;
      const vouched = setup.vouched();
      setup.aTransport.raw(forged, setup.engineAddress);
      await waitFor(() => setup.engineLayer.drops.badTag === badTag + 1, 'the forged frame counted');
      expect(setup.vouched()).toBe(vouched);
      expect(setup.received.length).toBe(4);
      expect(setup.fastPath!.stats().taken).toBe(1);
    });

    it('a replayed frame is not forwarded and counts as replayed', async () => {
      const replayed = setup.engineLayer.drops.replayed;
      setup.aTransport.raw(frames[1]!, setup.engineAddress);
      await waitFor(() => setup.engineLayer.drops.replayed === replayed + 1, 'the replay counted');
      expect(setup.received.length).toBe(4);
      // The genuine next frame still goes through the fast path.
      setup.aTransport.raw(frames[3]!, setup.engineAddress);
      await waitFor(() => setup.received.length === 5, 'the next frame at b');
      expect(setup.fastPath!.stats().taken).toBe(2);
    });

    it('counts the DATA frames with a packet among the datagrams offered (not keep-alives or handshakes)', async () => {
      const before = setup.fastPath!.stats();
      const [keepAlive] = setup.aTransport.record(() => setup.a.send(setup.linkA, new Uint8Array(0), 0, 0));
      expect(keepAlive!.length).toBe(32); // header and tag: an empty body
      const handshake = new Uint8Array(148);
      handshake.set([2, 1]); // the frame version, type HANDSHAKE: the link layer's
      const forged = new Uint8Array(frames[2]!);
      forged[forged.length - 3]! ^= 0x10; // counted as offered: before its tag is checked
      for (const datagram of [keepAlive!, handshake, forged])
        setup.aTransport.raw(datagram, setup.engineAddress);
      await waitFor(() => setup.fastPath!.stats().offered === before.offered + 3, 'the three offered');
      const after = setup.fastPath!.stats();
      expect(after.packetsOffered - before.packetsOffered).toBe(1);
      // And why they went up: the link layer's own two, and a frame whose tag fails.
      expect(after.handedUp.CONTROL - before.handedUp.CONTROL).toBe(2);
      expect(after.handedUp.LINK - before.handedUp.LINK).toBe(1);
    });
  },
);

/** A packet of a's flow `label` (default 1) with these chunks (PATH through the engine, 8 bytes of DATA). */
function flowPacket(
  setup: Setup,
  header: Pick<CapsuleHeader, 'packetType' | 'code' | 'auth'>,
  label = 1,
): Uint8Array {
  return buildPacket({
    source: identities.a.hostId,
    destination: identities.b.hostId,
    flowLabel: label,
    header: { nextHeader: 59, flags: 0, path: pathOf(setup.engineId), data: new Uint8Array(8), ...header },
    payload: new Uint8Array(64).fill(label),
  });
}

/**
 * Sends `packets` from a, one at a time (each waited for until the engine counted it): each must
 * be dropped as `reason`, none reach b, and the fast path take none.
 */
async function expectDroppedAs(setup: Setup, packets: readonly Uint8Array[], reason: string): Promise<void> {
  const dropsOf = () => (setup.engine.counters().drops as Record<string, number>)[reason] ?? 0;
  const before = dropsOf();
  const received = setup.received.length;
  const taken = setup.fastPath?.stats().taken ?? 0;
  for (const packet of packets) {
    const seen = totalSeen(setup);
    setup.a.send(setup.linkA, packet, 0, packet.length);
    await waitFor(() => totalSeen(setup) === seen + 1, 'the packet counted');
  }
  expect(dropsOf(), reason).toBe(before + packets.length);
  expect(setup.received.length).toBe(received);
  expect(setup.fastPath?.stats().taken ?? 0).toBe(taken);
}

/** Sends `packet` from a and waits until it reached b (one at a time). */
async function sendToB(setup: Setup, packet: Uint8Array): Promise<void> {
  const before = setup.received.length;
  setup.a.send(setup.linkA, packet, 0, packet.length);
  await waitFor(() => setup.received.length === before + 1, 'the packet at b');
}

describe.runIf(isNativeAddonAvailable())('engine fast path: type I and II packets', () => {
  it('takes them once the pipeline handled one of each type, and hands up another AUTH or CODE', async () => {
    const setup = await setUp(true);
    try {
      const typeIII = await flowOneTypeIII(setup);
      const { first } = scenarioPackets(setup.engineId, testSeed);
      const typeI = first[0]!; // flow 1's type I (route, cached authorization)
      const flowOne = (header: Pick<CapsuleHeader, 'packetType' | 'code' | 'auth'>) =>
        flowPacket(setup, header);
      const typeII = flowOne({ packetType: PacketType.II, code: route });
      const fast = setup.fastPath!;
      const counters = () => setup.engine.counters();
      const send = (packet: Uint8Array) => sendToB(setup, packet);
      await send(typeIII); // the cached action applied: the flow registered
      await send(typeI); // the pipeline's: its header becomes flow 1's type I template
      await send(typeII);
      const { taken } = fast.stats();
      const hits = counters().authorizationCacheHits;
      for (const packet of [typeI, typeII, typeIII, typeI, typeII]) await send(packet);
      expect(fast.stats().taken - taken).toBe(5);
      expect(counters().authorizationCacheHits - hits).toBe(2);
      expect(counters().packetsByType).toEqual({ I: 5, II: 3, III: 2 });
      // Another authorization on flow 1 (flow 2's, for another program), and another program's
      // CODE: both the pipeline's, which refuses them; the fast path took neither.
      const drops = (reason: string) => (counters().drops as Record<string, number>)[reason] ?? 0;
      const foreignAuth = flowOne({ packetType: PacketType.I, auth: authUncached, code: route });
      const wrongCode = flowOne({ packetType: PacketType.II, code: routeUncached });
      const mismatches = drops('CODE_HASH_MISMATCH');
      const logicMismatches = drops('LOGIC_HASH_MISMATCH');
      const seen = totalSeen(setup);
      for (const packet of [foreignAuth, wrongCode]) setup.a.send(setup.linkA, packet, 0, packet.length);
      await waitFor(() => totalSeen(setup) - seen >= 2, 'both handled');
      expect(drops('LOGIC_HASH_MISMATCH') - logicMismatches).toBe(1);
      expect(drops('CODE_HASH_MISMATCH') - mismatches).toBe(1);
      expect(fast.stats().taken - taken).toBe(5);
      // The controller's key leaving the trusted set empties the verified cache: the fast path
      // forgets its flows, and the next type I goes to the pipeline, which verifies it again and
      // refuses it (its signer is no longer trusted).
      const other = generateControllerKey();
      setup.engine.setControllerKeys([{ publicKey: other.publicKey, keyId: other.keyId }]);
      const received = setup.received.length;
      const forged = drops('AUTH_FORGED');
      setup.a.send(setup.linkA, typeI, 0, typeI.length);
      await waitFor(() => totalSeen(setup) - seen >= 3, 'the type I handled');
      expect(fast.stats().taken - taken).toBe(5);
      expect(drops('AUTH_FORGED')).toBe(forged + 1);
      expect(setup.received.length).toBe(received);
    } finally {
      await setup.close();
    }
  });

  it('takes a flow that never sends type III (a ping a second) once the pipeline handled one of each type', async () => {
    const setup = await setUp(true);
    try {
      const typeI = scenarioPackets(setup.engineId, testSeed).first[0]!; // flow 1's first packet
      const typeII = flowPacket(setup, { packetType: PacketType.II, code: route });
      const typeIII = flowPacket(setup, { packetType: PacketType.III });
      const fast = setup.fastPath!;
      // The pipeline's: the first type I (its AUTH verified; a flow's first packet registers
      // nothing), the first type II (registers the flow for type II), the second type I (for type I).
      await sendToB(setup, typeI);
      await sendToB(setup, typeII);
      const { taken } = fast.stats();
      await sendToB(setup, typeI);
      expect(fast.stats().taken).toBe(taken);
      for (const packet of [typeII, typeI, typeII, typeII, typeI]) await sendToB(setup, packet);
      expect(fast.stats().taken - taken).toBe(5);
      expect(setup.engine.counters().packetsByType).toEqual({ I: 4, II: 4, III: 0 });
      // Its first type III is the pipeline's (the fast path has no type III template yet), the next ones not.
      await sendToB(setup, typeIII);
      expect(fast.stats().taken - taken).toBe(5);
      await sendToB(setup, typeIII);
      expect(fast.stats().taken - taken).toBe(6);
    } finally {
      await setup.close();
    }
  });

  it('keeps every template of a flow whose type I and II packets carry an empty DATA and its type III none', async () => {
    // As the agents send them: DATA present with no bytes in type I and II, absent in type III. A
    // program sees the same (DATA_LENGTH 0, nothing copied) either way, so registering one type
    // must not drop the others' templates (it did: every type I, the first type II and the first
    // type III after it went to the pipeline again, every authorization interval).
    const setup = await setUp(true);
    try {
      const packet = (
        header: Pick<CapsuleHeader, 'packetType' | 'code' | 'auth' | 'data'> & { flags?: number },
      ) =>
        buildPacket({
          source: identities.a.hostId,
          destination: identities.b.hostId,
          flowLabel: 7,
          header: { nextHeader: 59, flags: 0, path: pathOf(setup.engineId), ...header },
          payload: new Uint8Array(64).fill(7),
        });
      const empty = new Uint8Array(0);
      const typeI = packet({
        packetType: PacketType.I,
        auth: authorize(routeWithoutData),
        code: routeWithoutData,
        data: empty,
      });
      const typeII = packet({ packetType: PacketType.II, code: routeWithoutData, data: empty });
      const typeIII = packet({ packetType: PacketType.III });
      const fast = setup.fastPath!;
      // The pipeline's: the first of each type (the first type I registers nothing), and the second type I.
      const before = fast.stats().handedUp;
      for (const first of [typeI, typeII, typeIII, typeI]) await sendToB(setup, first);
      // Why each went up: the flow not registered yet (its first packet registers nothing), then
      // the first packet of a type it has no template for.
      const whys = fast.stats().handedUp;
      expect(whys.UNKNOWN_FLOW - before.UNKNOWN_FLOW).toBe(2);
      expect(whys.NO_TEMPLATE - before.NO_TEMPLATE).toBe(2);
      const { taken } = fast.stats();
      for (let round = 0; round < 2; round++)
        for (const next of [typeI, typeII, typeII, typeIII, typeIII]) await sendToB(setup, next);
      expect(fast.stats().taken - taken).toBe(10);
      // A header unlike its type's template (TRACE set) goes up as such.
      await sendToB(setup, packet({ packetType: PacketType.III, flags: CapsuleFlag.TRACE }));
      expect(fast.stats().handedUp.HEADER_CHANGED - whys.HEADER_CHANGED).toBe(1);
      expect(fast.stats().taken - taken).toBe(10);
    } finally {
      await setup.close();
    }
  });
});

describe.runIf(isNativeAddonAvailable())(
  'engine fast path: type I signatures verified ahead on a thread',
  () => {
    /** Flow `label`'s type I packet with `auth` (a new flow, its own authorization: one verification). */
    const newFlow = (setup: Setup, label: number, auth: Uint8Array) =>
      flowPacket(setup, { packetType: PacketType.I, auth, code: route }, label);
    /** Sends the packets at once (one or a few receive batches) and waits until the engine saw them all. */
    async function burst(setup: Setup, packets: readonly Uint8Array[]): Promise<void> {
      const seen = totalSeen(setup);
      for (const packet of packets) setup.a.send(setup.linkA, packet, 0, packet.length);
      await waitFor(() => totalSeen(setup) - seen >= packets.length, 'the burst handled');
    }
    const dropsOf = (setup: Setup, reason: string) =>
      (setup.engine.counters().drops as Record<string, number>)[reason] ?? 0;

    it('queues every authenticated type I and takes its result: good ones admitted, forged ones dropped', async () => {
      const setup = await setUp(true);
      try {
        const fast = setup.fastPath!;
        const forger = generateControllerKey();
        const packets: Uint8Array[] = [];
        // 48 new flows, every third one's authorization signed by another key under the trusted key id.
        for (let i = 0; i < 48; i++) {
          const signer = i % 3 === 2 ? { ...forger, keyId: controllerKeyId } : undefined;
          packets.push(newFlow(setup, 100 + i, signer ? authorize(route, 1, signer) : authorize(route)));
        }
        const before = fast.stats().signatures!;
        const verified = setup.engine.counters().authorizationsVerified;
        const forged = dropsOf(setup, 'AUTH_FORGED');
        const received = setup.received.length;
        await burst(setup, packets);
        expect(setup.engine.counters().authorizationsVerified - verified).toBe(32);
        expect(dropsOf(setup, 'AUTH_FORGED') - forged).toBe(16);
        await waitFor(() => setup.received.length - received === 32, 'the 32 good ones at b');
        // Each queued signature's result was asked for once: by the thread's result, a wait, or here.
        const after = fast.stats().signatures!;
        expect(after.queued - before.queued).toBe(48);
        const asked = after.ahead + after.waited + after.here - (before.ahead + before.waited + before.here);
        expect(asked).toBe(48);
        expect(after.full).toBe(0);
        // The same authorizations again on new flows (an agent's next type I): the engine has them
        // cached, and the thread is not given them again.
        // The verifier remembers recent signatures direct-mapped by their first two bytes (4,096
        // slots), so a later signature in the same slot displaces one: three good ones whose slot
        // no later packet of the burst took (with random keys, one of the first few collides in
        // about one run of fifty).
        const authOf = (i: number) => packets[i]!.subarray(40 + 4 + 2, 40 + 4 + 2 + 148);
        const slotOf = (i: number) => {
          const signature = authOf(i).subarray(84);
          return ((signature[0]! << 8) | signature[1]!) % 4096;
        };
        const kept = packets
          .map((_, i) => i)
          .filter((i) => i % 3 !== 2 && !packets.some((_, j) => j > i && slotOf(j) === slotOf(i)));
        expect(kept.length).toBeGreaterThanOrEqual(3);
        const hits = setup.engine.counters().authorizationCacheHits;
        const again = kept.slice(0, 3).map((i) => newFlow(setup, 200 + i, new Uint8Array(authOf(i))));
        await burst(setup, again);
        await waitFor(() => setup.received.length - received === 35, 'the three at b');
        expect(setup.engine.counters().authorizationCacheHits - hits).toBe(3);
        const last = fast.stats().signatures!;
        expect(last.queued).toBe(after.queued);
        expect(last.repeated - after.repeated).toBe(3);
        // And /metrics says so: every count the stats carry (all but the library's name).
        const metrics = renderMetrics(setup.engine);
        const counts = Object.entries(last).filter(([outcome]) => outcome !== 'library');
        expect(counts).toHaveLength(8);
        for (const [outcome, count] of counts)
          expect(metrics).toContain(
            `capsule_engine_type_i_signatures_total{outcome="${outcome}"} ${count}\n`,
          );
      } finally {
        await setup.close();
      }
    });

    it('takes no forged authorization for a genuine one: a copied signature on another body does not stop the genuine being queued', async () => {
      const setup = await setUp(true);
      try {
        const fast = setup.fastPath!;
        const genuine = authorize(route);
        // The genuine signature on a body with one byte changed (a flow of another serial): forged.
        const forgedAuth = Uint8Array.from(genuine);
        forgedAuth[10]! ^= 0x01;
        const before = fast.stats().signatures!;
        const forged = dropsOf(setup, 'AUTH_FORGED');
        await burst(setup, [newFlow(setup, 300, forgedAuth)]);
        expect(dropsOf(setup, 'AUTH_FORGED') - forged).toBe(1);
        const received = setup.received.length;
        await burst(setup, [newFlow(setup, 301, genuine)]);
        await waitFor(() => setup.received.length - received === 1, 'the genuine one at b');
        const after = fast.stats().signatures!;
        // Both queued (the verifier remembers whole authorizations, not signatures), none repeated.
        expect(after.queued - before.queued).toBe(2);
        expect(after.repeated - before.repeated).toBe(0);
      } finally {
        await setup.close();
      }
    });

    it('verifies with libsodium when built with it, refusing what OpenSSL refuses: a flipped bit, S + L', async () => {
      const setup = await setUp(true);
      try {
        const fast = setup.fastPath!;
        const { library } = fast.stats().signatures!;
        // scripts/setup.sh installs Debian's libsodium-dev, so CI's addon is built with it.
        if (process.env.CI) expect(library).toBe('libsodium');
        else if (library !== 'libsodium')
          console.log('signature thread: OpenSSL (no libsodium-dev when built)');
        const L = (1n << 252n) + 27742317777372353535851937790883648493n;
        /** The same signature with S + L (< 2^256): the equation still holds; both libraries refuse it. */
        const malleated = (auth: Uint8Array) => {
          const out = new Uint8Array(auth);
          let s = 0n;
          for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(out[84 + 32 + i]!);
          s += L;
          for (let i = 0; i < 32; i++, s >>= 8n) out[84 + 32 + i] = Number(s & 0xffn);
          return out;
        };
        const random = fc.sample(fc.integer({ min: 0, max: 64 * 8 - 1 }), { numRuns: 12, seed: testSeed });
        const flipped = (auth: Uint8Array, bit: number) => {
          const out = new Uint8Array(auth);
          out[84 + (bit >> 3)]! ^= 1 << (bit & 7);
          return out;
        };
        // The bad ones are made from other authorizations than the good ones sent (each test of a
        // good one stands alone).
        const good = Array.from({ length: 12 }, () => authorize(route));
        const sources = Array.from({ length: 12 }, () => authorize(route));
        const bad = [
          ...sources.slice(0, 6).map(malleated),
          ...sources.slice(6).map((auth, i) => flipped(auth, random[i]!)),
        ];
        // The oracle: Node's OpenSSL accepts every good one and refuses every bad one.
        const signed = (auth: Uint8Array) =>
          verifyEd25519(controllerPublicKey, auth.subarray(0, 84), auth.subarray(84));
        expect([...good, ...sources].every(signed)).toBe(true);
        expect(bad.some(signed)).toBe(false);
        const verified = setup.engine.counters().authorizationsVerified;
        const forged = dropsOf(setup, 'AUTH_FORGED');
        const before = fast.stats().signatures!;
        await burst(setup, [
          ...bad.map((auth, i) => newFlow(setup, 500 + i, auth)),
          ...good.map((auth, i) => newFlow(setup, 520 + i, auth)),
        ]);
        expect(dropsOf(setup, 'AUTH_FORGED') - forged).toBe(12);
        expect(setup.engine.counters().authorizationsVerified - verified).toBe(12);
        // Every one of the 24 was the thread's to verify (not verified by JavaScript's OpenSSL).
        const after = fast.stats().signatures!;
        expect(after.queued - before.queued).toBe(24);
        expect(after.ahead + after.waited + after.here - (before.ahead + before.waited + before.here)).toBe(
          24,
        );
      } finally {
        await setup.close();
      }
    });

    it("trusts no result for another key: a signature the thread verified with a key not the engine's is checked again", async () => {
      const setup = await setUp(true);
      try {
        const fast = setup.fastPath!;
        // The thread is told a key the engine does not trust, under the trusted key's id.
        const forger = generateControllerKey();
        fast.signatures!.setControllerKeys([
          { keyId: controllerKeyId, publicKeyRaw: exportEd25519PublicKeyRaw(forger.publicKey) },
        ]);
        const packets = Array.from({ length: 24 }, (_, i) =>
          newFlow(setup, 300 + i, authorize(route, 1, { ...forger, keyId: controllerKeyId })),
        );
        const forged = dropsOf(setup, 'AUTH_FORGED');
        const received = setup.received.length;
        const before = fast.stats().signatures!;
        await burst(setup, packets);
        // Queued and verified (valid, by the forger's key) on the thread; never the engine's answer.
        expect(fast.stats().signatures!.queued - before.queued).toBe(24);
        expect(dropsOf(setup, 'AUTH_FORGED') - forged).toBe(24);
        expect(setup.received.length).toBe(received);
      } finally {
        await setup.close();
      }
    });

    it('forgets what nobody asked for at the next batch, and refuses bad arguments with TypeErrors', async () => {
      const setup = await setUp(true);
      try {
        const fast = setup.fastPath!;
        const signatures = fast.signatures!;
        // A type I whose capsule header is malformed after its AUTH chunk (the next chunk's type 15):
        // the fast path queues its signature, the engine refuses the packet before verifying it.
        const broken = newFlow(setup, 400, authorize(route));
        expect(broken[40 + 4 + 2 + 148]! >> 4).toBe(ChunkType.PATH);
        broken[40 + 4 + 2 + 148] = 0xf0 | (broken[40 + 4 + 2 + 148]! & 0x0f);
        const before = signatures.stats();
        // The addon names each count (wire's list) and the library, and nothing else.
        expect(Object.keys(before).sort()).toEqual([...SIGNATURES_AHEAD_COUNTS, 'library'].sort());
        for (const count of SIGNATURES_AHEAD_COUNTS) expect(before[count], count).toBeTypeOf('number');
        const malformed = dropsOf(setup, 'MALFORMED_CAPSULE');
        await burst(setup, [broken]);
        expect(dropsOf(setup, 'MALFORMED_CAPSULE') - malformed).toBe(1);
        await burst(setup, [newFlow(setup, 401, authorize(route))]);
        const after = signatures.stats();
        expect(after.queued - before.queued).toBe(2);
        expect(after.unused - before.unused).toBe(1);
        // A type I frame with a forged tag costs no verification: not queued, a counted link drop.
        // Sent alone, and behind a good one of its flow in the same receive batch (held: it goes up
        // to stay behind it, and is queued only if its tag is good).
        const [alone, first, behind] = setup.aTransport.record(() => {
          for (const label of [402, 403, 403]) {
            const packet = newFlow(setup, label, authorize(route));
            setup.a.send(setup.linkA, packet, 0, packet.length);
          }
        });
        const forge = (frame: Uint8Array) => {
          const forgedTag = new Uint8Array(frame);
          forgedTag[forgedTag.length - 3]! ^= 0x10;
          return forgedTag;
        };
        const badTag = setup.engineLayer.drops.badTag;
        setup.aTransport.raw(forge(alone!), setup.engineAddress);
        await waitFor(() => setup.engineLayer.drops.badTag === badTag + 1, 'the forged frame counted');
        expect(signatures.stats().queued).toBe(after.queued);
        const held = fast.stats().held;
        setup.aTransport.raw(first!, setup.engineAddress);
        setup.aTransport.raw(forge(behind!), setup.engineAddress);
        await waitFor(() => setup.engineLayer.drops.badTag === badTag + 2, 'the forged frame behind counted');
        expect(fast.stats().held - held).toBe(1);
        expect(signatures.stats().queued).toBe(after.queued + 1);
        // Never queued: verified when asked with libsodium (1 good, 0 bad, each counted `direct`:
        // what a flood past the 256 jobs gets), else -1 (the engine verifies it itself).
        const libsodium = signatures.stats().library === 'libsodium';
        const fresh = authorize(route);
        const trusted = exportEd25519PublicKeyRaw(controllerPublicKey);
        const flippedSignature = Uint8Array.from(fresh.subarray(84));
        flippedSignature[40]! ^= 0x04;
        const direct = signatures.stats().direct;
        expect(signatures.result(trusted, fresh.subarray(0, 84), fresh.subarray(84))).toBe(
          libsodium ? 1 : -1,
        );
        expect(signatures.result(trusted, fresh.subarray(0, 84), flippedSignature)).toBe(libsodium ? 0 : -1);
        const key = exportEd25519PublicKeyRaw(generateControllerKey().publicKey);
        expect(signatures.result(key, fresh.subarray(0, 84), fresh.subarray(84))).toBe(libsodium ? 0 : -1);
        expect(signatures.stats().direct - direct).toBe(libsodium ? 3 : 0);
        for (const [k, m, sig] of [
          [key.subarray(0, 31), new Uint8Array(84), new Uint8Array(64)],
          [key, new Uint8Array(85), new Uint8Array(64)],
          [key, new Uint8Array(84), new Uint8Array(63)],
        ] as const)
          expect(() => signatures.result(k, m, sig)).toThrow(TypeError);
        expect(() => signatures.setControllerKeys([{ keyId: 70_000, publicKeyRaw: key }])).toThrow(TypeError);
        expect(() => signatures.setControllerKeys([{ keyId: 1, publicKeyRaw: key.subarray(1) }])).toThrow(
          TypeError,
        );
        expect(() =>
          signatures.setControllerKeys(
            Array.from({ length: 65 }, (_, keyId) => ({ keyId, publicKeyRaw: key })),
          ),
        ).toThrow(TypeError);
      } finally {
        await setup.close();
      }
    });

    it('exits cleanly on process.exit() while the thread verifies (stopped before OpenSSL is torn down)', () => {
      // process.exit() runs no finalizer but runs exit handlers, OpenSSL's cleanup among them: the
      // addon stops and joins the thread first. A child exits from inside the pipeline's third
      // request for a result of a 64-flow burst, the thread's work not done; twice.
      const child = fileURLToPath(new URL('./exit-while-verifying.ts', import.meta.url));
      for (let run = 0; run < 2; run++) {
        const exit = spawnSync(process.execPath, ['--import', 'tsx', child], {
          encoding: 'utf8',
          timeout: 30_000,
        });
        expect({ status: exit.status, signal: exit.signal, stderr: exit.stderr }).toEqual({
          status: 0,
          signal: null,
          stderr: '',
        });
        const stats = JSON.parse(exit.stdout) as Record<string, number>;
        expect(stats.queued).toBe(64);
        expect(stats.ahead! + stats.waited! + stats.here!).toBe(2);
      }
    });
  },
);

describe.runIf(isNativeAddonAvailable())('engine fast path: a flow rebound to another contract', () => {
  it('runs no packet of the new contract ahead of the type I it goes up with (CONTRACT memory in arrival order)', async () => {
    const setup = await setUp(true);
    try {
      // Flows 3 and 4 of a, each its own contract (7 and 8); each contract's runs numbered in its
      // CONTRACT memory, the number written into the packet's DATA (word 1), which b receives.
      const packet = (label: number, header: Pick<CapsuleHeader, 'packetType' | 'code' | 'auth'>) =>
        flowPacket(setup, header, label);
      const code = routeNumberingContract;
      const contract7 = authorize(code, 7);
      const typeIII = (label: number) => packet(label, { packetType: PacketType.III });
      // Flow 3 last: the ENGINE record shows contract 7, so the fast path may run its program.
      for (const [label, auth] of [
        [4, authorize(code, 8)],
        [3, contract7],
      ] as const) {
        await sendToB(setup, packet(label, { packetType: PacketType.I, auth, code }));
        await sendToB(setup, typeIII(label)); // the pipeline's: registered
        await sendToB(setup, typeIII(label)); // the fast path's
      }
      const fast = setup.fastPath!;
      const { taken } = fast.stats();
      // One batch: flow 4 rebound to contract 7 by a type I (the pipeline's, after the batch), then
      // flow 3's type III (a packet of contract 7 the fast path could run itself).
      const rebind = packet(4, { packetType: PacketType.I, auth: contract7, code });
      const received = setup.received.length;
      for (const next of [rebind, typeIII(3)]) setup.a.send(setup.linkA, next, 0, next.length);
      await waitFor(() => setup.received.length === received + 2, 'both at b');
      const numberOf = (bytes: Uint8Array) => {
        const decoded = decodeCapsuleHeader(bytes.subarray(40));
        if (!decoded.ok) throw new Error(decoded.error.message);
        return new DataView(decoded.value.data!.buffer, decoded.value.data!.byteOffset).getUint32(4, true);
      };
      const [first, second] = setup.received.slice(received);
      expect([flowLabelOf(first!), flowLabelOf(second!)]).toEqual([4, 3]);
      // Contract 7 ran flow 3's type I and two type III before: the rebinding packet is its fourth
      // run (3), flow 3's packet its fifth (4), as they came.
      expect([numberOf(first!), numberOf(second!)]).toEqual([3, 4]);
      expect(fast.stats().taken).toBe(taken);
    } finally {
      await setup.close();
    }
  });
});

describe.runIf(isNativeAddonAvailable())('engine fast path: the cached action a program run leaves', () => {
  it('stores the CACHE of a run it makes, and clears the cached action after a run without it', async () => {
    const setup = await setUp(true);
    try {
      const auth = authorize(deliverCachingTypeI);
      const packet = (packetType: 1 | 2 | 3) =>
        buildPacket({
          source: identities.a.hostId,
          destination: identities.b.hostId,
          flowLabel: 9,
          header: {
            nextHeader: 59,
            packetType,
            flags: 0,
            path: pathOf(setup.engineId),
            data: new Uint8Array(8),
            ...(packetType === 1 && { auth }),
            ...(packetType !== 3 && { code: deliverCachingTypeI }),
          },
        });
      const send = async (p: Uint8Array) => {
        const before = setup.received.length;
        setup.a.send(setup.linkA, p, 0, p.length);
        await waitFor(() => setup.received.length === before + 1, 'the packet at b');
      };
      const c = () => setup.engine.counters();
      // The pipeline: a new flow (type I caches DELIVER), its cached action applied (registered),
      // a type I and a type II (their templates; the program registered), which leaves it uncached.
      for (const type of [1, 3, 1, 2] as const) await send(packet(type));
      const { taken } = setup.fastPath!.stats();
      const runs = c().programRuns;
      const cached = c().cachedActions;
      await send(packet(3)); // no cached action: the program runs here, and does not cache
      await send(packet(1)); // runs here and caches DELIVER
      await send(packet(3)); // the cached action, here
      await send(packet(2)); // runs here: the cached action cleared
      await send(packet(3)); // runs here
      expect(setup.fastPath!.stats().taken - taken).toBe(5);
      expect(c().programRuns - runs).toBe(4);
      expect(c().cachedActions - cached).toBe(1);
    } finally {
      await setup.close();
    }
  });
});

describe.runIf(isNativeAddonAvailable())('engine fast path: one peer cannot hold back another’s flow', () => {
  it('keeps taking a flow’s frames after a frame with its addresses under another session goes up', async () => {
    const setup = await setUp(true, { withC: true });
    try {
      const typeIII = await flowOneTypeIII(setup);
      const frames = setup.aTransport.record(() => {
        for (let i = 0; i < 9; i++) setup.a.send(setup.linkA, typeIII, 0, typeIII.length);
      });
      setup.aTransport.raw(frames[0]!, setup.engineAddress); // registers the flow with the fast path
      await waitFor(() => setup.received.length >= 3, 'the first type III at b');
      const { taken, held } = setup.fastPath!.stats();
      const seen = totalSeen(setup);
      // One receive batch (under 64 datagrams): a's frame, then c's with 34 other flows' addresses
      // and with a's flow's (under c's own session: authenticated, so they go up, and fill the
      // batch's list of 32 flows held), then a's next frames.
      setup.aTransport.raw(frames[1]!, setup.engineAddress);
      for (let label = 100; label < 134; label++) {
        const stranger = Uint8Array.from(typeIII);
        stranger[3] = label; // the flow label's low byte
        setup.c!.send(setup.linkC!, stranger, 0, stranger.length);
      }
      setup.c!.send(setup.linkC!, typeIII, 0, typeIII.length);
      for (const frame of frames.slice(2)) setup.aTransport.raw(frame, setup.engineAddress);
      await waitFor(() => totalSeen(setup) - seen >= 43, 'the batch handled');
      await waitFor(() => setup.received.length >= 3 + 8, 'a’s frames at b');
      expect(setup.fastPath!.stats().taken - taken).toBe(8);
      // Held: c’s own last two frames (past 32 flows, the rest of c’s session is held); none
      // of a's.
      expect(setup.fastPath!.stats().held - held).toBe(2);
    } finally {
      await setup.close();
    }
  }, 60_000);
});

describe.runIf(isNativeAddonAvailable())('engine fast path: garbage at the socket', () => {
  let setup: Setup;
  let packet: Uint8Array;
  afterAll(async () => setup?.close());

  beforeAll(async () => {
    setup = await setUp(true);
    packet = await flowOneTypeIII(setup);
  }, 60_000);

  it('random datagrams behind a live session header are counted link drops, never forwarded', async () => {
    // A genuine frame's header (the engine's receiver index of a's session) gets random bodies,
    // counters and tags; the rest are random bytes. Each must end as a link-layer drop.
    const [genuine] = setup.aTransport.record(() => setup.a.send(setup.linkA, packet, 0, packet.length));
    const datagrams = fc.sample(
      fc.oneof(
        fc.uint8Array({ minLength: 0, maxLength: 1500 }),
        fc
          .tuple(
            fc.uint8Array({ minLength: 8, maxLength: 8 }),
            fc.uint8Array({ minLength: 16, maxLength: 1400 }),
          )
          .map(([counter, rest]) => {
            const frame = new Uint8Array(8 + counter.length + rest.length);
            frame.set(genuine!.subarray(0, 8));
            frame.set(counter, 8);
            frame.set(rest, 16);
            return frame;
          }),
        fc.integer({ min: 16, max: 16 + 40 + (genuine![16 + 41]! + 1) * 8 - 1 }).map((at) => {
          // The genuine frame with a bit flipped in what the link tag covers (header, IPv6 and
          // capsule headers; the sealed payload behind is authenticated end to end instead).
          const frame = new Uint8Array(genuine!);
          frame[at]! ^= 0x80;
          return frame;
        }),
      ),
      { seed: testSeed, numRuns: 300 },
    );
    const before = totalSeen(setup);
    const packetsIn = setup.engine.counters().packetsIn;
    const taken = setup.fastPath!.stats().taken;
    // In bursts of 30 (what a socket buffer surely holds), each waited for.
    for (let at = 0; at < datagrams.length; at += 30) {
      const burst = datagrams.slice(at, at + 30);
      const seen = totalSeen(setup);
      for (const datagram of burst) setup.aTransport.raw(datagram, setup.engineAddress);
      await waitFor(() => totalSeen(setup) - seen >= burst.length, 'the burst counted', 10_000);
    }
    expect(totalSeen(setup) - before).toBe(datagrams.length);
    expect(setup.engine.counters().packetsIn).toBe(packetsIn);
    expect(setup.fastPath!.stats().taken).toBe(taken);
    expect(setup.received.length).toBe(2);
    // And the genuine frame still goes through.
    setup.aTransport.raw(genuine!, setup.engineAddress);
    await waitFor(() => setup.received.length === 3, 'the genuine frame at b');
  });
});

describe.runIf(isNativeAddonAvailable())('engine fast path: its JavaScript API refuses bad arguments', () => {
  it('throws TypeErrors for wrong types and lengths, ignores out-of-range registrations', async () => {
    const fastPath = createNativeFastPath();
    const key = new Uint8Array(32);
    expect(() =>
      fastPath.receiving(1, 1, new Uint8Array(31), new Float64Array(2), new Uint32Array(2)),
    ).toThrow(TypeError);
    expect(() => fastPath.receiving(1, 1, key, new Float64Array(1), new Uint32Array(2))).toThrow(TypeError);
    expect(() => fastPath.receiving(1, 1, key, new Float64Array(2), new Uint32Array(1))).toThrow(TypeError);
    expect(() =>
      fastPath.sending(
        1,
        1,
        key,
        new Float32Array(2) as unknown as Float64Array,
        { host: '127.0.0.1', port: 1 },
        10,
      ),
    ).toThrow(TypeError);
    expect(() => fastPath.setLink(1, 1, 1, true, new Uint8Array(15))).toThrow(TypeError);
    const flows = 4;
    const arrays = {
      flowLastSeenMs: new Float64Array(flows),
      flowPackets: new Float64Array(flows),
      flowBytes: new Float64Array(flows),
      flowLastVerdict: new Uint8Array(flows),
      flowLastReason: new Uint16Array(flows),
      cacheVerdict: new Uint8Array(flows),
      cacheCount: new Uint8Array(flows),
      cacheLinks: new Uint32Array(flows * 16 - 1), // one short
    };
    expect(() => fastPath.bindEngine(arrays, 1, 1000)).toThrow(TypeError);
    fastPath.bindEngine({ ...arrays, cacheLinks: new Uint32Array(flows * 16) }, 1, 1000);
    // Not an address literal: nothing registered, no throw. Out-of-range flows and offsets: ignored.
    fastPath.sending(1, 1, key, new Float64Array(2), { host: 'localhost', port: 1 }, 10);
    const packet = new Uint8Array(200);
    packet[42] = 0x13; // a type III capsule header
    fastPath.setFlow(flows, packet, 0, 1, 0, -1, -1, 0, -1); // flow id past the capacity
    fastPath.setFlow(0, packet, 190, 1, 0, -1, -1, 0, -1); // packet cut short
    fastPath.setFlow(0, packet, 0, 1, 0, 300, -1, 0, -1); // PATH outside the capsule header
    fastPath.setFlow(0, packet, 0, 1, 0, -1, 40, 5000, -1); // DATA outside the capsule header
    fastPath.setFlow(0, packet, 0, 1, 0, -1, -1, 0, 46); // TRANSPORT outside the capsule header (8 bytes)
    expect(fastPath.stats().flows).toBe(0);
    fastPath.setFlow(0, packet, 0, 1, 0, -1, -1, 0, -1);
    expect(fastPath.stats().flows).toBe(1);
    // Per-packet programs: with the program arrays bound, a program is registered (its state 1)
    // only when its words cover its code, its CONTRACT memory is the region's size, its budget and
    // lengths fit the flow; anything else leaves the flow's packets to JavaScript (state 0).
    const programState = new Uint8Array(flows);
    fastPath.bindEngine(
      {
        ...arrays,
        cacheLinks: new Uint32Array(flows * 16),
        flowDrops: new Float64Array(flows),
        flowProgramReason: new Uint32Array(flows),
        flowMemory: new Uint8Array(flows * 256),
        engineRecord: new Uint8Array(4096),
        engineState: new Int32Array(2),
        flowProgramState: programState,
        cacheDropReason: new Uint32Array(flows),
      },
      1,
      1000,
    );
    packet[41] = 0; // an 8-byte capsule header, no PATH, no DATA
    fastPath.setFlow(0, packet, 0, 1, 0, -1, -1, 0, -1);
    const words = new Int32Array(8 + 2); // 8 bytes of code: two words per 2-byte slot, then END
    const contract = new DataView(new ArrayBuffer(4096));
    const record = new Uint8Array(256);
    const register = (
      overrides: Partial<Record<'words' | 'length' | 'contract' | 'budget' | 'path' | 'data', unknown>>,
    ) =>
      fastPath.setFlowProgram(
        0,
        (overrides.words ?? words) as Int32Array,
        (overrides.length ?? 8) as number,
        new Int32Array([0]),
        (overrides.contract ?? contract) as DataView,
        1,
        (overrides.budget ?? 10_000) as number,
        record,
        (overrides.path ?? 0) as number,
        (overrides.data ?? 0) as number,
      );
    expect(() => register({ words: new Uint32Array(18) })).toThrow(TypeError);
    expect(() => register({ contract: new Uint8Array(4096) })).toThrow(TypeError);
    for (const refused of [
      { length: 10 }, // words shorter than the code: rv-core would read past them
      { length: 7 }, // odd
      { contract: new DataView(new ArrayBuffer(4095)) },
      { budget: 0 },
      { budget: 1_000_001 },
      { path: 8 }, // the flow has no PATH
      { data: 4 }, // nor DATA
      { data: 300 },
    ]) {
      register(refused);
      expect(programState[0], JSON.stringify(refused)).toBe(0);
    }
    fastPath.setFlowProgram(3, words, 8, new Int32Array([0]), contract, 1, 10_000, record, 0, 0); // no such flow
    expect(programState[3]).toBe(0);
    register({});
    expect(programState[0]).toBe(1);
    // Registered again — with a type I or II header (the template of its type), or type III — with
    // its addresses, flow label and PATH and DATA lengths, the flow keeps its program; otherwise,
    // or from a packet it cannot use, it starts anew (its program gone).
    const typed = (type: number, change: (bytes: Uint8Array) => void = () => {}) => {
      const bytes = packet.slice();
      bytes[42] = 0x10 | type;
      change(bytes);
      return bytes;
    };
    const again = (bytes: Uint8Array, offset = 0, dataOffset = -1, dataLength = 0, pathOffset = -1) =>
      fastPath.setFlow(0, bytes, offset, 1, 0, pathOffset, dataOffset, dataLength, -1);
    expect(() => again(new Uint16Array(100) as never)).toThrow(TypeError);
    expect(() => again(typed(1), '0' as never)).toThrow(TypeError);
    for (const [what, bytes] of [
      ['a type I header', typed(1)],
      ['a type II header', typed(2)],
      ['a type III header', packet],
    ] as const) {
      again(bytes);
      expect(programState[0], what).toBe(1);
    }
    const withData = packet.slice();
    withData[41] = 1; // a 16-byte capsule header: 4 bytes of DATA at 46 (or a PATH there)
    for (const [what, breaks] of [
      ['another source', () => again(typed(1, (b) => (b[8] = 1)))],
      ['another flow label', () => again(typed(2, (b) => (b[3] = 1)))],
      ['a DATA the flow has not', () => again(withData, 0, 46, 4)],
      [
        'a PATH the flow has not',
        () =>
          again(
            typed(1, (b) => (b[41] = 1)),
            0,
            -1,
            0,
            46,
          ),
      ],
      ['a DATA outside the capsule header', () => again(typed(1), 0, 46, 4)],
      ['a packet cut short', () => again(typed(1), 190)],
      ['packet type 4', () => again(typed(4))],
      ['packet type 0', () => again(typed(0))],
    ] as const) {
      breaks();
      expect(programState[0], what).toBe(0);
      again(packet);
      register({});
      expect(programState[0], what).toBe(1);
    }
    fastPath.removeFlow(0);
    expect(programState[0]).toBe(0);
    // A socket refuses a filter that is not a fast path.
    const transport = await createNativeUdpTransport({ host: '127.0.0.1', port: 0 });
    try {
      expect(() => transport.attachDatagramFilter!({})).toThrow(TypeError);
      transport.attachDatagramFilter!(fastPath.filter);
      transport.attachDatagramFilter!(undefined);
    } finally {
      await transport.close();
    }
  });
});

describe.runIf(isNativeAddonAvailable())('engine fast path: the clock it keeps', () => {
  it('is refused beside any clock but the system clock (the native side keeps CLOCK_REALTIME)', () => {
    const fastPath = createNativeFastPath();
    const transport = createMemoryNetwork().attach({ host: '10.0.0.1', port: 1 });
    const controllerPublicKey = importControllerPublicKey(
      exportEd25519PublicKeyRaw(generateControllerKey().publicKey),
    );
    for (const clock of [createManualClock(Date.now()), { ...systemClock }]) {
      expect(() =>
        createLinkLayer({ identity: identities.e }, { transport, clock, dataPath: fastPath }),
      ).toThrow(
        expect.objectContaining({
          code: 'OVERLAY_OPTION_INVALID',
          message: expect.stringContaining('CLOCK_REALTIME'),
        }),
      );
      const linkLayer = createLinkLayer({ identity: identities.e }, { transport, clock: systemClock });
      expect(() =>
        createEngine({ hostId: identities.e.hostId, controllerPublicKey }, { linkLayer, clock, fastPath }),
      ).toThrow(
        expect.objectContaining({
          code: 'ENGINE_BAD_OPTION',
          message: expect.stringContaining('systemClock'),
        }),
      );
      // Without the fast path that clock is fine (the in-process lab's time warp).
      expect(
        createEngine({ hostId: identities.e.hostId, controllerPublicKey }, { linkLayer, clock }),
      ).toBeDefined();
    }
    const linkLayer = createLinkLayer(
      { identity: identities.e },
      { transport, clock: systemClock, dataPath: fastPath },
    );
    expect(
      createEngine(
        { hostId: identities.e.hostId, controllerPublicKey },
        { linkLayer, clock: systemClock, fastPath },
      ),
    ).toBeDefined();
  });
});
