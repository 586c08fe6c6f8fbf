/**
 * Multi-engine tests with the controller running, the overlay's real link layer, on the
 * in-process MemoryNetwork and on real UDP loopback sockets (one shared suite):
 *
 *   a ── e1 ── e2 ── b          (route: controller path → PATH chunk; revocation pushed)
 *         └─── e3 ──┘          (balance: e1 spreads flows over e2/e3 by flow hash)
 *
 * Hosts stand in for agents: they register, register links and endpoints, and send packets built
 * from the controller's answer (the signed flow authorization and the computed path).
 */
import { codeChunkOf, dataChunkOf, type SbEndpointResponse, toProgramImageTransfer } from '@capsule/api';
import { engineIdOfHostId, renderMetrics } from '@capsule/engine';
import { parseIpv6Address } from '@capsule/identity';
import { compile } from '@capsule/sdk';
import {
  type CapsuleHeader,
  CookieBody,
  decodeCapsuleHeader,
  encodeIpv6Header,
  LINK_FRAME_VERSION,
  LinkFrameType,
  PacketType,
} from '@capsule/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPacket } from '../../packages/engine/test/harness';
import { balance, chain, replicate, route } from '../../packages/engine/test/programs';
import { type ClusterNode, randomFlowLabel, startCluster, type Underlay, waitFor } from './cluster';

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const labelOf = (packet: Uint8Array) => ((packet[1]! & 0x0f) << 16) | (packet[2]! << 8) | packet[3]!;

const underlayNames: Record<Underlay, string> = {
  memory: 'the MemoryNetwork',
  udp: 'UDP loopback',
  native: 'native UDP loopback, fast path off',
  'native-fast': 'native UDP loopback, fast path on',
};

for (const underlay of ['memory', 'udp', 'native', 'native-fast'] as Underlay[]) {
  describe(`engines with the controller on ${underlayNames[underlay]}`, () => {
    let cluster: Awaited<ReturnType<typeof startCluster>>;
    let a: ClusterNode;
    let b: ClusterNode;
    let e1: ClusterNode;
    let e2: ClusterNode;
    let e3: ClusterNode;
    let serviceToken: string;

    /** A template + contract + service for `program` (roles client → server); returns a's client endpoint. */
    async function enroll(name: string, program: { machineCode: Uint8Array; entryOffsets: number[] }) {
      const admin = cluster.admin;
      const entries = Object.fromEntries(program.entryOffsets.map((offset, i) => [`e${i}`, offset]));
      const template = await admin.templates.create({
        name,
        domain: 'shop',
        image: { code: b64(program.machineCode), entries, dataSize: 8 },
        roles: [
          { name: 'client', entry: 'e0' },
          { name: 'server', entry: 'e0' },
        ],
      });
      const contract = await admin.contracts.create({
        name,
        domain: 'shop',
        templateId: template.id,
        roles: [
          { name: 'client', peer: 'server' },
          { name: 'server', peer: 'client' },
        ],
      });
      const service = await admin.services.create({
        name: `${name}-app`,
        domain: 'shop',
        grants: [
          { contractId: contract.id, role: 'client' },
          { contractId: contract.id, role: 'server' },
        ],
      });
      const token = (await admin.serviceTokens.create({ serviceId: service.id })).token!;
      await b.sb.registerEndpoint({ serviceToken: token, contract: name, role: 'server' });
      return a.sb.registerEndpoint({ serviceToken: token, contract: name, role: 'client' });
    }

    beforeAll(async () => {
      cluster = await startCluster(underlay);
      a = await cluster.addNode('a', 'host');
      b = await cluster.addNode('b', 'host');
      e2 = await cluster.addNode('e2', 'engine');
      e3 = await cluster.addNode('e3', 'engine');
      e1 = await cluster.addNode('e1', 'engine', {
        links: [
          { peer: 'e2', tags: [3, 5] },
          { peer: 'e3', tags: [3, 5] },
        ],
      });
      await cluster.connect(a, e1);
      await cluster.connect(e1, e2);
      await cluster.connect(e2, b);
      await cluster.connect(e1, e3);
      await cluster.connect(e3, b);
      // The engines register their links with the controller themselves (on link up).
      const admin = cluster.admin;
      const template = await admin.templates.create({
        name: 'route',
        domain: 'shop',
        image: { code: b64(route.machineCode), entries: { route: route.entryOffsets[0]! }, dataSize: 8 },
        roles: [
          { name: 'client', entry: 'route' },
          { name: 'server', entry: 'route' },
        ],
      });
      const balanceTemplate = await admin.templates.create({
        name: 'balance',
        domain: 'shop',
        image: {
          code: b64(balance.machineCode),
          entries: { spread: balance.entryOffsets[0]!, last: balance.entryOffsets[1]! },
          dataSize: 4,
        },
        roles: [
          { name: 'client', entry: 'spread' },
          { name: 'server', entry: 'last' },
        ],
      });
      const contract = await admin.contracts.create({
        name: 'web',
        domain: 'shop',
        templateId: template.id,
        roles: [
          { name: 'client', peer: 'server' },
          { name: 'server', peer: 'client' },
        ],
      });
      const spread = await admin.contracts.create({
        name: 'spread',
        domain: 'shop',
        templateId: balanceTemplate.id,
        roles: [
          { name: 'client', peer: 'server' },
          { name: 'server', peer: 'client' },
        ],
      });
      const service = await admin.services.create({
        name: 'app',
        domain: 'shop',
        grants: [
          { contractId: contract.id, role: 'client' },
          { contractId: contract.id, role: 'server' },
          { contractId: spread.id, role: 'client' },
          { contractId: spread.id, role: 'server' },
        ],
      });
      serviceToken = (await admin.serviceTokens.create({ serviceId: service.id })).token!;
    }, 120_000);

    afterAll(async () => {
      await cluster?.stop();
    });

    /** A capsule packet of a flow from a to b (type I carries the authorization and the code). */
    function packetOf(
      endpoint: SbEndpointResponse,
      program: { machineCode: Uint8Array; entryOffsets: number[] },
      type: 1 | 2 | 3,
      flowLabel: number,
      path: CapsuleHeader['path'],
    ) {
      const auth = new Uint8Array(Buffer.from(endpoint.authorization.signed, 'base64'));
      const header: CapsuleHeader =
        type === 1
          ? {
              nextHeader: 59,
              packetType: PacketType.I,
              flags: 0,
              auth,
              path,
              code: program,
              data: new Uint8Array(8),
            }
          : type === 2
            ? {
                nextHeader: 59,
                packetType: PacketType.II,
                flags: 0,
                path,
                code: program,
                data: new Uint8Array(8),
              }
            : { nextHeader: 59, packetType: PacketType.III, flags: 0, path };
      return buildPacket({ source: a.hostId, destination: b.hostId, flowLabel, header });
    }

    /** The PATH chunk of the controller's path: its engines (hosts at both ends left out). */
    function pathOf(endpoint: SbEndpointResponse) {
      const hostIds = endpoint.peers[0]!.path.map((text) => parseIpv6Address(text)!);
      const engines = hostIds.slice(1, -1);
      return {
        creationTime: 0,
        hopIndex: 0,
        defaultEntry: 0,
        hops: engines.map((hostId) => ({ engineId: engineIdOfHostId(hostId), entryIndex: 0, flags: 0 })),
      };
    }

    const sendFromA = (packet: Uint8Array) => {
      const linkId = a.linkIdTo(e1);
      expect(linkId).toBeDefined();
      expect(a.linkLayer.send(linkId!, packet, 0, packet.length)).toBe(true);
    };
    const arrived = (label: number) => b.received.filter((p) => labelOf(p) === label).length;
    /** What every node counted, for a timeout's message. */
    const state = () =>
      Object.fromEntries(
        [a, b, e1, e2, e3].map((node) => [
          node.name,
          {
            linkDrops: node.linkLayer.drops,
            ...(node.engine && { drops: node.engine.counters().drops }),
            received: node.received.length,
          },
        ]),
      );

    it('routes a flow on the path the controller computed, verifying its authorization once', async () => {
      await b.sb.registerEndpoint({ serviceToken, contract: 'web', role: 'server' });
      const client = await a.sb.registerEndpoint({ serviceToken, contract: 'web', role: 'client' });
      const path = pathOf(client);
      expect(path.hops.length).toBeGreaterThanOrEqual(2); // a → e1 → (e2 | e3) → b
      expect(path.hops[0]!.engineId).toBe(e1.engine!.engineId);
      const label = randomFlowLabel();
      sendFromA(packetOf(client, route, 1, label, path));
      await waitFor(() => arrived(label) === 1, 'the type I packet at b');
      const first = decodeCapsuleHeader(b.received.find((p) => labelOf(p) === label)!.subarray(40));
      expect(
        first.ok && new DataView(first.value.data!.buffer, first.value.data!.byteOffset).getUint32(0, true),
      ).toBe(path.hops.length);
      for (let i = 0; i < 20; i++) sendFromA(packetOf(client, route, 3, label, path));
      sendFromA(packetOf(client, route, 2, label, path));
      await waitFor(() => arrived(label) === 22, 'the type III and II packets at b');
      const c1 = e1.engine!.counters();
      expect(c1.authorizationsVerified).toBe(1);
      expect(c1.cachedActions).toBeGreaterThanOrEqual(20);
      expect(e1.engine!.flows().find((f) => f.flowLabel === label)!.serial).toBe(client.authorization.serial);
    });

    it('drops tampered and replayed link frames at the link layer while the flow goes on', async () => {
      const client = await a.sb.registerEndpoint({ serviceToken, contract: 'web', role: 'client' });
      const path = pathOf(client);
      const label = randomFlowLabel();
      sendFromA(packetOf(client, route, 1, label, path));
      await waitFor(() => arrived(label) === 1, 'the flow at b', 10_000, state);
      const toE1 = a.transport.sent.filter((s) => s.to.port === e1.transport.local.port && s.bytes[1] === 2);
      const captured = toE1[toE1.length - 1]!;
      const before = { ...e1.linkLayer.drops };
      // Replay the captured frame verbatim, and a copy with one header byte flipped.
      a.transport.send(captured.bytes, captured.bytes.length, captured.to);
      const tampered = captured.bytes.slice();
      tampered[tampered.length - 20] = tampered[tampered.length - 20]! ^ 0x40;
      tampered[8 + 7] = (tampered[8 + 7]! + 1000) & 0xff; // a fresh counter: it reaches the tag check
      a.transport.send(tampered, tampered.length, captured.to);
      await waitFor(
        () => e1.linkLayer.drops.replayed > before.replayed && e1.linkLayer.drops.badTag > before.badTag,
        'the link layer drops',
      );
      sendFromA(packetOf(client, route, 3, label, path));
      await waitFor(() => arrived(label) === 2, 'the flow after the attack');
      expect(arrived(label)).toBe(2); // neither the replay nor the tampered frame got through
    });

    it('counts the frames its link layer refused in its counters and /metrics (1,225 injected, each counted once)', async () => {
      const received = ['malformed', 'unknownReceiver', 'replayed', 'badTag', 'handshakeRejected'] as const;
      const dropsOf = () => e1.engine!.counters().linkLayer.drops;
      const before = dropsOf();
      const rejectionsBefore = e1.engine!.counters().linkLayer.handshakeRejections;
      const packetsBefore = e1.engine!.counters().packetsIn;
      const frame = (version: number, type: number, receiverIndex: number, bodyLength: number) => {
        const bytes = new Uint8Array(16 + bodyLength);
        bytes[0] = version;
        bytes[1] = type;
        new DataView(bytes.buffer).setUint32(4, receiverIndex);
        return bytes;
      };
      const injected: Uint8Array[] = [];
      for (let i = 0; i < 300; i++) injected.push(frame(1, LinkFrameType.DATA, 1, 40)); // the old version
      for (let i = 0; i < 300; i++) {
        // A DATA frame to no session: an IPv6 body and a tag, addressed to receiver index 0xdead0000 + i.
        const data = frame(LINK_FRAME_VERSION, LinkFrameType.DATA, 0xdead_0000 + i, 40 + 16);
        encodeIpv6Header(
          {
            trafficClass: 0,
            flowLabel: 0,
            payloadLength: 0,
            nextHeader: 59,
            hopLimit: 64,
            source: a.hostId,
            destination: b.hostId,
          },
          data,
          16,
        );
        injected.push(data);
      }
      for (let i = 0; i < 300; i++) injected.push(frame(LINK_FRAME_VERSION, LinkFrameType.HANDSHAKE, 0, 100));
      for (let i = 0; i < 325; i++)
        injected.push(frame(LINK_FRAME_VERSION, LinkFrameType.COOKIE, i, CookieBody.LENGTH));
      expect(injected).toHaveLength(1_225);
      // Paced, so that the kernel's socket buffer on UDP loopback loses none of them.
      for (const [i, bytes] of injected.entries()) {
        a.transport.send(bytes, bytes.length, e1.transport.local);
        if (i % 25 === 24) await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const total = (drops: Record<string, number>) =>
        received.reduce((sum, reason) => sum + drops[reason]!, 0);
      await waitFor(
        () => total(dropsOf()) - total(before) >= 1_225,
        'the link layer drops in the engine counters',
      );
      const after = dropsOf();
      const delta = (reason: (typeof received)[number]) => after[reason]! - before[reason]!;
      expect(total(after) - total(before)).toBe(1_225);
      expect(delta('malformed')).toBe(300);
      expect(delta('unknownReceiver')).toBe(300);
      expect(delta('handshakeRejected')).toBe(625);
      const rejections = e1.engine!.counters().linkLayer.handshakeRejections;
      expect(rejections.malformed! - rejectionsBefore.malformed!).toBe(300);
      expect(rejections['cookie-invalid']! - rejectionsBefore['cookie-invalid']!).toBe(325);
      expect(e1.engine!.counters().packetsIn).toBe(packetsBefore); // none reached the pipeline
      const metrics = renderMetrics(e1.engine!);
      expect(metrics).toContain(
        `capsule_engine_link_layer_drops_total{reason="unknownReceiver"} ${after.unknownReceiver}`,
      );
      expect(metrics).toContain(
        `capsule_engine_link_layer_drops_total{reason="malformed"} ${after.malformed}`,
      );
      expect(metrics).toContain(
        `capsule_engine_handshake_rejections_total{reason="cookie-invalid"} ${rejections['cookie-invalid']}`,
      );
    });

    it('forwards the later type III packets of a flow on the fast path when the engines run one, counted as without', async () => {
      const client = await a.sb.registerEndpoint({ serviceToken, contract: 'web', role: 'client' });
      const path = pathOf(client);
      const label = randomFlowLabel();
      sendFromA(packetOf(client, route, 1, label, path));
      await waitFor(() => arrived(label) === 1, 'the type I packet at b');
      sendFromA(packetOf(client, route, 3, label, path)); // its cached action: the engines register it
      await waitFor(() => arrived(label) === 2, 'the first type III packet at b');
      const taken = cluster.fastPathTaken();
      const cached = e1.engine!.counters().cachedActions;
      for (let i = 0; i < 10; i++) sendFromA(packetOf(client, route, 3, label, path));
      await waitFor(() => arrived(label) === 12, 'the later type III packets at b');
      expect(e1.engine!.counters().cachedActions - cached).toBe(10);
      expect(e1.engine!.flows().find((f) => f.flowLabel === label)!.packets).toBe(12);
      // e1 and the second engine on the path each take the 10 when they run the fast path.
      if (underlay === 'native-fast') expect(cluster.fastPathTaken() - taken).toBeGreaterThanOrEqual(10);
      else expect(cluster.fastPathTaken()).toBe(0);
    });

    it('balances flows over e2 and e3 by flow hash', async () => {
      await b.sb.registerEndpoint({ serviceToken, contract: 'spread', role: 'server' });
      const client = await a.sb.registerEndpoint({ serviceToken, contract: 'spread', role: 'client' });
      // e1 runs entry 0 (spread); the next engine is not on the PATH, so it runs the default entry 1 (last).
      const path = {
        creationTime: 0,
        hopIndex: 0,
        defaultEntry: 1,
        hops: [{ engineId: e1.engine!.engineId, entryIndex: 0, flags: 0 }],
      };
      const before = { e2: e2.engine!.counters().packetsOut, e3: e3.engine!.counters().packetsOut };
      const labels = Array.from({ length: 24 }, () => randomFlowLabel());
      for (const label of labels) {
        sendFromA(packetOf(client, balance, 1, label, path));
        sendFromA(packetOf(client, balance, 3, label, path));
      }
      await waitFor(() => labels.every((label) => arrived(label) === 2), 'every balanced flow at b');
      const via2 = e2.engine!.counters().packetsOut - before.e2;
      const via3 = e3.engine!.counters().packetsOut - before.e3;
      expect(via2 + via3).toBe(48);
      expect(via2).toBeGreaterThan(0);
      expect(via3).toBeGreaterThan(0);
    });

    it('replicates each packet to the group links (e2 and e3), each delivering a copy', async () => {
      const client = await enroll('group', replicate);
      const label = randomFlowLabel();
      const before = e1.engine!.counters().verdicts.REPLICATE ?? 0;
      sendFromA(packetOf(client, replicate, 1, label, undefined));
      for (let i = 0; i < 4; i++) sendFromA(packetOf(client, replicate, 2, label, undefined));
      await waitFor(() => arrived(label) === 10, 'two copies of each of 5 packets at b');
      expect((e1.engine!.counters().verdicts.REPLICATE ?? 0) - before).toBe(5);
    });

    it('chains through a waypoint (e2), and drops the flow whose path bypasses it (e3 egress check)', async () => {
      const client = await enroll('chain', chain);
      const hop = (node: ClusterNode, entryIndex: number) => ({
        engineId: node.engine!.engineId,
        entryIndex,
        flags: 0,
      });
      const through = { creationTime: 0, hopIndex: 0, defaultEntry: 0, hops: [hop(e1, 0), hop(e2, 1)] };
      const bypass = { creationTime: 0, hopIndex: 0, defaultEntry: 0, hops: [hop(e1, 0), hop(e3, 2)] };
      const [good, bad] = [randomFlowLabel(), randomFlowLabel()];
      const drops = e3.engine!.counters().drops.PROGRAM_DROP ?? 0;
      sendFromA(packetOf(client, chain, 1, good, through));
      sendFromA(packetOf(client, chain, 1, bad, bypass));
      await waitFor(
        () => arrived(good) === 1 && (e3.engine!.counters().drops.PROGRAM_DROP ?? 0) === drops + 1,
        'chain',
      );
      const packet = b.received.find((p) => labelOf(p) === good)!;
      const data = decodeCapsuleHeader(packet.subarray(40));
      expect(
        data.ok && new DataView(data.value.data!.buffer, data.value.data!.byteOffset).getUint32(4, true),
      ).toBe(e2.engine!.engineId);
      expect(arrived(bad)).toBe(0);
    });

    it('writes the variables of the template role, or the contract override, into the DATA chunk the program reads', async () => {
      // PointToPoint behind a gate: the program forwards only when its @Data field `open` is 1.
      const gate = compile(`import capsule.*;
class Gate {
  @Data static int open;
  static int linkTo(Engine e, int next) {
    for (int i = 0; i < e.linkCount(); i++)
      if (e.linkNeighbor(i) == next && e.linkUp(i)) return e.linkId(i);
    return -1;
  }
  @Entry
  static void route(Packet p, Path path, Engine e, Action a) {
    if (open != 1) { a.drop(0x102); return; }
    int hop = path.hopIndex() + 1;
    if (hop >= path.hopCount()) { a.deliver(); return; }
    int link = linkTo(e, path.hop(hop));
    if (link < 0) { a.drop(0x101); return; }
    path.setHopIndex(hop);
    a.forward(link);
  }
}`);
      expect(gate.diagnostics).toEqual([]);
      const admin = cluster.admin;
      const template = await admin.templates.create({
        name: 'gate',
        domain: 'shop',
        image: toProgramImageTransfer(gate.image!),
        roles: [
          { name: 'client', entry: 'route', variables: { open: 0 } },
          { name: 'server', entry: 'route' },
        ],
      });
      const contractOf = (name: string, variables?: { open: number }) =>
        admin.contracts.create({
          name,
          domain: 'shop',
          templateId: template.id,
          roles: [
            { name: 'client', peer: 'server', ...(variables && { variables }) },
            { name: 'server', peer: 'client' },
          ],
        });
      const contracts = [await contractOf('gate-open', { open: 1 }), await contractOf('gate-shut')];
      const service = await admin.services.create({
        name: 'gate-app',
        domain: 'shop',
        grants: contracts.flatMap((contract) => [
          { contractId: contract.id, role: 'client' },
          { contractId: contract.id, role: 'server' },
        ]),
      });
      const token = (await admin.serviceTokens.create({ serviceId: service.id })).token!;
      const drops = e1.engine!.counters().drops.PROGRAM_DROP ?? 0;
      const labels: number[] = [];
      for (const contract of ['gate-open', 'gate-shut']) {
        await b.sb.registerEndpoint({ serviceToken: token, contract, role: 'server' });
        const client = await a.sb.registerEndpoint({ serviceToken: token, contract, role: 'client' });
        const data = dataChunkOf(client.image, client.variables);
        expect([...data.subarray(0, 4)]).toEqual(contract === 'gate-open' ? [1, 0, 0, 0] : [0, 0, 0, 0]);
        const label = randomFlowLabel();
        labels.push(label);
        const header: CapsuleHeader = {
          nextHeader: 59,
          packetType: PacketType.I,
          flags: 0,
          auth: new Uint8Array(Buffer.from(client.authorization.signed, 'base64')),
          path: pathOf(client),
          code: codeChunkOf(client.image, client.entry)!,
          data,
        };
        sendFromA(buildPacket({ source: a.hostId, destination: b.hostId, flowLabel: label, header }));
      }
      await waitFor(
        () => arrived(labels[0]!) === 1 && (e1.engine!.counters().drops.PROGRAM_DROP ?? 0) === drops + 1,
        'the open flow at b, the shut one dropped by its program at e1',
      );
      expect(arrived(labels[1]!)).toBe(0);
    });

    it('a revocation pushed by the controller stops the flow at its next packet', async () => {
      const client = await a.sb.registerEndpoint({ serviceToken, contract: 'web', role: 'client' });
      const path = pathOf(client);
      const label = randomFlowLabel();
      sendFromA(packetOf(client, route, 1, label, path));
      await waitFor(() => arrived(label) === 1, 'the flow at b', 10_000, state);
      const revocationsBefore = e1.engine!.counters().revocations;
      await cluster.admin.authorizations.revoke(client.authorization.id);
      await waitFor(
        () => e1.engine!.counters().revocations > revocationsBefore,
        'the pushed revocation at e1',
        5000,
      );
      const dropsBefore = e1.engine!.counters().drops.AUTH_REVOKED ?? 0;
      sendFromA(packetOf(client, route, 3, label, path));
      await waitFor(
        () => (e1.engine!.counters().drops.AUTH_REVOKED ?? 0) === dropsBefore + 1,
        'the revoked drop',
      );
      expect(arrived(label)).toBe(1);
    });
  });
}
