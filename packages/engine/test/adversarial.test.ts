/**
 * Adversarial input: each attack is dropped and counted under its own reason while a good flow
 * keeps flowing (checked after every attack). On the in-memory topology A — E1 — E2 — B, with a
 * second host M (the attacker) on E1.
 */
import { generateControllerKey } from '@capsule/identity';
import { testSeed } from '@capsule/testkit';
import { type CapsuleHeader, PacketType } from '@capsule/wire';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { assemble } from './asm';
import { buildPacket, createTopology, pathThrough } from './harness';
import { badService, forwardNowhere, loop, outOfBounds, route } from './programs';

async function setup() {
  const t = createTopology();
  const a = t.addHost('a', 0x0a);
  const b = t.addHost('b', 0x0b);
  const m = t.addHost('m', 0x0e);
  const e1 = t.addEngine('e1', 0x501);
  const e2 = t.addEngine('e2', 0x502);
  await t.connect(a, e1);
  await t.connect(m, e1);
  await t.connect(e1, e2);
  await t.connect(e2, b);
  const path = pathThrough([e1.engineId, e2.engineId]);
  const goodAuth = t.authorize(a.hostId, route.machineCode);
  const typeI = (
    fields: Partial<CapsuleHeader> & { source?: Uint8Array; label: number; hopLimit?: number },
  ) =>
    buildPacket({
      source: fields.source ?? a.hostId,
      destination: b.hostId,
      flowLabel: fields.label,
      hopLimit: fields.hopLimit,
      header: {
        nextHeader: 59,
        packetType: PacketType.I,
        flags: 0,
        auth: goodAuth,
        path,
        code: route,
        data: new Uint8Array(8),
        ...fields,
      },
    });
  const typeIII = (label: number, source = a.hostId) =>
    buildPacket({
      source,
      destination: b.hostId,
      flowLabel: label,
      header: { nextHeader: 59, packetType: PacketType.III, flags: 0, path },
    });
  // The good flow: label 1, established.
  a.send(e1, typeI({ label: 1 }));
  await t.settle();
  expect(b.received).toHaveLength(1);
  const goodArrived = () =>
    b.received.filter((p) => ((p[1]! & 0x0f) << 16) + (p[2]! << 8) + p[3]! === 1).length;
  /** Sends one good type III packet and checks it arrives (the good flow keeps flowing). */
  async function goodFlowFlows() {
    const before = goodArrived();
    a.send(e1, typeIII(1));
    await t.settle();
    expect(goodArrived()).toBe(before + 1);
  }
  /** The drop count of `reason` summed over both engines. */
  const drops = (reason: string) =>
    (e1.engine.counters().drops[reason] ?? 0) + (e2.engine.counters().drops[reason] ?? 0);
  return { t, a, b, m, e1, e2, path, goodAuth, typeI, typeIII, goodFlowFlows, drops };
}

let s: Awaited<ReturnType<typeof setup>>;
beforeEach(async () => {
  s = await setup();
});

describe('adversarial authorizations', () => {
  it('drops a forged authorization (another key; tampered bytes)', async () => {
    const other = generateControllerKey();
    s.a.send(s.e1, s.typeI({ label: 2, auth: s.t.authorize(s.a.hostId, route.machineCode, { key: other }) }));
    const tampered = s.t.authorize(s.a.hostId, route.machineCode);
    tampered[27] = tampered[27]! ^ 1; // contract id
    s.a.send(s.e1, s.typeI({ label: 3, auth: tampered }));
    await s.t.settle();
    expect(s.drops('AUTH_FORGED')).toBe(2);
    expect(s.e1.engine.flows()).toHaveLength(1);
    await s.goodFlowFlows();
  });

  it('drops an expired or not-yet-valid authorization, and a flow whose authorization expires', async () => {
    const now = Math.floor(s.t.clock.nowMs() / 1000);
    s.a.send(
      s.e1,
      s.typeI({
        label: 2,
        auth: s.t.authorize(s.a.hostId, route.machineCode, { notBefore: now - 100, notAfter: now - 10 }),
      }),
    );
    s.a.send(
      s.e1,
      s.typeI({
        label: 3,
        auth: s.t.authorize(s.a.hostId, route.machineCode, { notBefore: now + 100, notAfter: now + 200 }),
      }),
    );
    await s.t.settle();
    expect(s.drops('AUTH_EXPIRED')).toBe(1);
    expect(s.drops('AUTH_NOT_YET_VALID')).toBe(1);
    await s.goodFlowFlows();
    // A short-lived flow: valid now, dropped once its not-after passes, while the good flow goes on.
    const shortLived = s.t.authorize(s.a.hostId, route.machineCode, { notAfter: now + 5 });
    s.a.send(s.e1, s.typeI({ label: 4, auth: shortLived }));
    await s.t.settle();
    s.t.clock.advance(10_000);
    s.a.send(s.e1, s.typeIII(4));
    await s.t.settle();
    expect(s.drops('AUTH_EXPIRED')).toBe(2);
    // The same authorization (verified and cached while valid) for a new flow: refused, no flow.
    s.a.send(s.e1, s.typeI({ label: 5, auth: shortLived }));
    await s.t.settle();
    expect(s.drops('AUTH_EXPIRED')).toBe(3);
    expect(s.e1.engine.flows().some((f) => f.flowLabel === 5)).toBe(false);
    await s.goodFlowFlows();
  });

  it('refuses a cached authorization for a new flow once the clock is back before its start (a clock stepped back)', async () => {
    const now = Math.floor(s.t.clock.nowMs() / 1000);
    const auth = s.t.authorize(s.a.hostId, route.machineCode, { notBefore: now - 2, notAfter: now + 600 });
    s.a.send(s.e1, s.typeI({ label: 2, auth }));
    await s.t.settle();
    const received = s.b.received.length;
    s.t.clock.advance(-10_000);
    s.a.send(s.e1, s.typeI({ label: 3, auth }));
    await s.t.settle();
    expect(s.drops('AUTH_NOT_YET_VALID')).toBe(1);
    expect(s.b.received.length).toBe(received);
    expect(s.e1.engine.flows().some((f) => f.flowLabel === 3)).toBe(false);
  });

  it('stops a revoked flow at its next packet and refuses the serial afterwards', async () => {
    const serial = 0x1234_5678_9abc_def0n;
    const auth = s.t.authorize(s.a.hostId, route.machineCode, { serial });
    s.a.send(s.e1, s.typeI({ label: 2, auth }));
    await s.t.settle();
    const before = s.b.received.length;
    s.e1.engine.revoke([serial]);
    s.a.send(s.e1, s.typeIII(2));
    s.a.send(s.e1, s.typeI({ label: 3, auth }));
    await s.t.settle();
    expect(s.b.received.length).toBe(before);
    expect(s.drops('AUTH_REVOKED')).toBe(2);
    expect(s.e1.engine.flows().find((f) => f.flowLabel === 2)!.revoked).toBe(true);
    // The revoked authorization, verified and cached before, creates no flow.
    expect(s.e1.engine.flows().some((f) => f.flowLabel === 3)).toBe(false);
    await s.goodFlowFlows();
  });

  it('forgets a revoked serial a minute after its authorization ends, and still refuses that authorization', async () => {
    const now = Math.floor(s.t.clock.nowMs() / 1000);
    const serial = 0x0bad_5e41_0000_0001n;
    const auth = s.t.authorize(s.a.hostId, route.machineCode, { serial, notAfter: now + 10 });
    const kept = 0x0bad_5e41_0000_0002n; // no end sent: kept for the engine's life
    s.e1.engine.revoke([serial, kept], [(now + 10) * 1000, undefined]);
    expect(s.e1.engine.counters().revokedSerials).toBe(2);
    s.t.clock.advance(69_000); // 59 s past the end: not yet
    s.e1.engine.expireFlows();
    expect(s.e1.engine.counters().revokedSerials).toBe(2);
    s.t.clock.advance(2_000);
    s.e1.engine.expireFlows();
    expect(s.e1.engine.counters()).toMatchObject({ revokedSerials: 1, revocationsPruned: 1 });
    // Forgotten, but the authorization has expired: it is refused as such.
    s.a.send(s.e1, s.typeI({ label: 6, auth }));
    await s.t.settle();
    expect(s.drops('AUTH_EXPIRED')).toBe(1);
    expect(s.drops('AUTH_REVOKED')).toBe(0);
    await s.goodFlowFlows();
  });

  it("drops another host's authorization (wrong source) and spoofed or replayed packets (wrong link)", async () => {
    // M presents A's authorization for its own packets.
    s.m.send(s.e1, s.typeI({ label: 2, source: s.m.hostId }));
    // M replays A's packets: A's source address arriving on M's link.
    s.m.send(s.e1, s.typeI({ label: 1 }));
    s.m.send(s.e1, s.typeIII(1));
    await s.t.settle();
    expect(s.drops('WRONG_SOURCE')).toBe(1);
    expect(s.drops('WRONG_LINK')).toBe(2);
    // A's authorization replayed with other code: the logic hash does not match.
    s.a.send(s.e1, s.typeI({ label: 5, code: loop }));
    await s.t.settle();
    expect(s.drops('LOGIC_HASH_MISMATCH')).toBe(1);
    await s.goodFlowFlows();
  });
});

describe('adversarial packets and programs', () => {
  it('drops type II code that differs from the verified code, and type III of unknown flows', async () => {
    s.a.send(
      s.e1,
      buildPacket({
        source: s.a.hostId,
        destination: s.b.hostId,
        flowLabel: 1,
        header: {
          nextHeader: 59,
          packetType: PacketType.II,
          flags: 0,
          path: s.path,
          code: loop,
          data: new Uint8Array(8),
        },
      }),
    );
    s.a.send(s.e1, s.typeIII(99));
    await s.t.settle();
    expect(s.drops('CODE_HASH_MISMATCH')).toBe(1);
    expect(s.drops('UNKNOWN_FLOW')).toBe(1);
    await s.goodFlowFlows();
  });

  it('drops programs that loop, trap, write out of bounds, or fail the verifier', async () => {
    const send = (label: number, program: { machineCode: Uint8Array; entryOffsets: number[] }) =>
      s.a.send(s.e1, s.typeI({ label, auth: s.t.authorize(s.a.hostId, program.machineCode), code: program }));
    const forwarded = s.e1.engine.counters().verdicts.FORWARD;
    send(2, loop);
    send(3, badService);
    send(4, outOfBounds);
    const illegal = { machineCode: new Uint8Array([0, 0, 0, 0]), entryOffsets: [0] };
    send(5, illegal);
    const jumpsOut = {
      machineCode: assemble('entry:\n  jal zero, entry\n  ebreak').code.slice(0),
      entryOffsets: [2],
    };
    send(6, jumpsOut);
    send(7, forwardNowhere);
    // A PATH hop naming an entry the program does not have (route has one).
    s.a.send(s.e1, s.typeI({ label: 8, path: pathThrough([s.e1.engineId, s.e2.engineId], 7) }));
    await s.t.settle();
    expect(s.drops('NO_ROUTE')).toBe(1);
    expect(s.e1.engine.counters().verdicts.FORWARD).toBe(forwarded); // not counted as forwarded
    expect(s.drops('BAD_ENTRY')).toBe(1);
    expect(s.drops('FUEL_EXHAUSTED')).toBe(1);
    expect(s.drops('BAD_SERVICE')).toBe(1);
    expect(s.drops('ACCESS_FAULT')).toBe(1);
    expect(s.drops('PROGRAM_REJECTED')).toBe(2);
    expect(s.e1.engine.counters().programsRejected).toBe(2);
    // Type III packets of the looping flow keep being dropped (the program runs, nothing cached).
    s.a.send(s.e1, s.typeIII(2));
    await s.t.settle();
    expect(s.drops('FUEL_EXHAUSTED')).toBe(2);
    await s.goodFlowFlows();
  });

  it('drops packets at hop limit 1, non-capsule and malformed packets', async () => {
    s.a.send(s.e1, s.typeI({ label: 2, hopLimit: 1 }));
    const notCapsule = s.typeIII(1);
    notCapsule[6] = 17;
    s.a.send(s.e1, notCapsule);
    s.a.send(s.e1, s.typeIII(1).subarray(0, 30));
    const version4 = s.typeIII(1);
    version4[0] = 0x40 | (version4[0]! & 0x0f);
    s.a.send(s.e1, version4);
    const lengthPast = s.typeIII(1);
    lengthPast[5]! += 1; // the IPv6 payload length one byte past the packet
    s.a.send(s.e1, lengthPast);
    const badChunk = s.typeIII(1);
    badChunk[40 + 4] = 0x70; // chunk type 7
    s.a.send(s.e1, badChunk);
    await s.t.settle();
    expect(s.drops('HOP_LIMIT')).toBe(1);
    expect(s.drops('NOT_CAPSULE')).toBe(1);
    expect(s.drops('MALFORMED_PACKET')).toBe(3);
    expect(s.drops('MALFORMED_CAPSULE')).toBe(1);
    await s.goodFlowFlows();
  });

  it('survives 20,000 random mutations of type I, II and III packets: every packet counted, nothing thrown', () => {
    const engine = s.e1.engine;
    const linkId = s.e1.linkTo(s.a);
    const seeds = [s.typeI({ label: 1 }), s.typeI({ label: 7 }), s.typeIII(1), s.typeIII(8)];
    const before = engine.counters();
    let handled = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: seeds.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        (which, flips, cut) => {
          const packet = seeds[which]!.slice();
          for (const [at, value] of flips) packet[8 + 32 + (at % (packet.length - 40))] = value;
          const length = cut % 7 === 0 ? cut % packet.length : packet.length;
          engine.handlePacket(linkId, packet, 0, length);
          handled++;
        },
      ),
      { seed: testSeed, numRuns: 20_000 },
    );
    const after = engine.counters();
    const verdicts = (c: typeof after) => Object.values(c.verdicts).reduce((x, y) => x + y, 0);
    expect(after.packetsIn - before.packetsIn).toBe(handled);
    expect(verdicts(after) - verdicts(before)).toBe(handled);
    expect(after.drops.MALFORMED_CAPSULE ?? 0).toBeGreaterThan(0);
  });
});

describe('flow-state fairness', () => {
  it('one authorization holder flooding new flows (3,000, capacity 1,024) cannot keep another host’s new flow out', async () => {
    const { t, a, m, e1, typeI, goodFlowFlows, drops } = s;
    const mAuth = t.authorize(m.hostId, route.machineCode);
    expect(e1.engine.counters().liveFlows).toBe(1); // the good flow
    for (let label = 1000; label < 4000; label++) {
      m.send(e1, typeI({ source: m.hostId, auth: mAuth, label }));
      if (label % 200 === 0) await t.settle();
    }
    await t.settle();
    const c1 = e1.engine.counters();
    // The harness's engines hold 1,024 flows: m holds its authorization's share (1/8), no more.
    expect(c1.liveFlows).toBe(1 + 128);
    expect(drops('FLOW_AUTHORIZATION_QUOTA')).toBe(3000 - 128);
    expect(drops('FLOW_TABLE_FULL')).toBe(0);
    // a's new flows are admitted at once, and its established flow keeps flowing.
    const before = s.b.received.length;
    for (let label = 2; label < 12; label++) a.send(e1, typeI({ label }));
    await t.settle();
    expect(s.b.received.length).toBe(before + 10);
    await goodFlowFlows();
    // A second later m's flows are idle enough to give up: m churns through its own share.
    t.clock.advance(1_500);
    for (let label = 5000; label < 5100; label++) m.send(e1, typeI({ source: m.hostId, auth: mAuth, label }));
    await t.settle();
    expect(e1.engine.counters().flowsEvicted.authorizationQuota).toBe(100);
    expect(e1.engine.counters().liveFlows).toBe(1 + 128 + 10);
    await goodFlowFlows();
  });
});
