/**
 * `npm run bench -- agent`: the agent's per-packet data path in one process, no TUN, no link layer.
 *
 * Two hosts' data planes (FlowTable + DataPlane) with one flow between them, in steady state (type
 * III packets). An IPv6/UDP application packet of 64 B and 1300 B goes through:
 * - egress: flow lookup, packet type, the capsule header copied, the payload sealed (e2e
 *   AES-256-GCM), the link of the flow's first hop handed the packet (a no-op here);
 * - egress + ingress: the same, and the other host's ingress takes each packet as it is sent:
 *   capsule header parsed, sealed payload opened, replay window, addresses checked, delivered.
 * Each with both PayloadCipher implementations (native, the default, and node:crypto).
 * ns/op is the median of batches of 1,000 packets; Mpps is one core at that cost.
 */

import { loadavg } from 'node:os';
import { createNodePayloadCipher, generateX25519KeyPair, type PayloadCipher } from '@capsule/identity';
import { createNativePayloadCipher } from '@capsule/native';
import { encodeIpv6Header, writeU16 } from '@capsule/wire';
import { Bench } from 'tinybench';
import { DataPlane, type DataPlaneDeps } from '../packages/agent/src/data-plane';
import { EgressResult, processEgress } from '../packages/agent/src/egress';
import { type EndpointSpec, FlowTable } from '../packages/agent/src/flows';
import { IngressResult, processIngress } from '../packages/agent/src/ingress';
import { markdownTable, writePerformanceSection } from './report';

const BATCH = 1000;
const engineHostId = Uint8Array.from([0xfd, 0, 0, 0xaa, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xe1]);

function hostId(last: number): Uint8Array {
  const id = new Uint8Array(16);
  id.set([0xfd, 0, 0, 0xaa, 0, 0, 0, 1]);
  id[15] = last;
  return id;
}

function spec(id: number, role: string): EndpointSpec {
  return {
    id,
    domain: 'acme',
    contract: 'shop',
    contractId: 7,
    role,
    authorization: new Uint8Array(148).fill(1),
    authorizationSerial: '1',
    code: {
      entryOffsets: [0, 4],
      machineCode: Uint8Array.from([0x13, 0x05, 0x10, 0x00, 0x73, 0x00, 0x10, 0x00]),
    },
    data: new Uint8Array(16),
    logicHash: '00',
    serviceToken: '1:x',
  };
}

interface Host {
  id: Uint8Array;
  x25519: ReturnType<typeof generateX25519KeyPair>;
  table: FlowTable;
  plane: DataPlane;
  /** Where the packets egress hands to the link go (replaced per bench task). */
  onSend: (bytes: Uint8Array, offset: number, length: number) => void;
}

function host(last: number, createPayloadCipher: (key: Uint8Array) => PayloadCipher): Host {
  const id = hostId(last);
  const x25519 = generateX25519KeyPair();
  const table = new FlowTable(
    {
      ownHostId: id,
      ownX25519PrivateKey: x25519.privateKey,
      ipv4AliasBase: 0x64_65_00_02,
      ipv4AliasCount: 1000,
      hopLimit: 64,
    },
    { createPayloadCipher },
  );
  table.setLink(engineHostId, 1);
  const self: Host = { id, x25519, table, plane: undefined as unknown as DataPlane, onSend: () => {} };
  const deps: DataPlaneDeps = {
    clock: { nowMs: () => 1_000_000 },
    sendOnLink: (_linkId, bytes, offset, length) => {
      self.onSend(bytes, offset, length);
      return true;
    },
    writeToApp: () => {},
  };
  self.plane = new DataPlane(
    {
      ownHostId: id,
      ownIpv4: 0x64_64_00_01,
      authIntervalMs: 5000,
      authRepeatMs: 250,
      authRepeatForMs: 2000,
      codePackets: 2,
      maxOverlayPacketBytes: 1400,
      mode: 'tun',
      e2eRekeyAfterMs: 120_000,
      e2eRekeyAfterPackets: 2 ** 22,
      e2eRekeyGraceMs: 10_000,
    },
    table,
    deps,
  );
  return self;
}

function pair(createPayloadCipher: (key: Uint8Array) => PayloadCipher): { a: Host; b: Host } {
  const a = host(0xa, createPayloadCipher);
  const b = host(0xb, createPayloadCipher);
  a.table.setEndpoint(spec(1, 'client'), [
    {
      endpointId: 2,
      role: 'server',
      hostId: b.id,
      x25519PublicKey: b.x25519.publicKeyRaw,
      path: [a.id, engineHostId, b.id],
    },
  ]);
  b.table.setEndpoint(spec(2, 'server'), [
    {
      endpointId: 1,
      role: 'client',
      hostId: a.id,
      x25519PublicKey: a.x25519.publicKeyRaw,
      path: [b.id, engineHostId, a.id],
    },
  ]);
  return { a, b };
}

/** An IPv6/UDP packet of `length` bytes from `source` to `destination`. */
function udp6(source: Uint8Array, destination: Uint8Array, length: number): Uint8Array {
  const packet = new Uint8Array(length);
  encodeIpv6Header(
    {
      trafficClass: 0,
      flowLabel: 0,
      payloadLength: length - 40,
      nextHeader: 17,
      hopLimit: 64,
      source,
      destination,
    },
    packet,
  );
  writeU16(packet, 40, 4000);
  writeU16(packet, 42, 5000);
  writeU16(packet, 44, length - 40);
  packet.fill(0x5a, 48);
  return packet;
}

export async function run(): Promise<void> {
  const load = loadavg()[0]!.toFixed(2);
  const bench = new Bench({ time: 600, warmupTime: 150 });
  const labels: [string, string, string][] = [];
  const checks: (() => void)[] = [];
  for (const [cipherName, createPayloadCipher] of [
    ['native', createNativePayloadCipher],
    ['node:crypto', createNodePayloadCipher],
  ] as const)
    for (const length of [64, 1300]) {
      const { a, b } = pair(createPayloadCipher);
      const packet = udp6(a.id, b.id, length);
      // Past type I and II: the steady state is type III.
      for (let i = 0; i < 4; i += 1) processEgress(a.plane, packet, 0, length);
      let refused = 0;
      bench.add(`${cipherName} ${length} B egress`, () => {
        a.onSend = () => {};
        for (let i = 0; i < BATCH; i += 1)
          if (processEgress(a.plane, packet, 0, length) !== EgressResult.SENT) refused += 1;
      });
      labels.push([cipherName, `${length} B`, 'egress (seal, headers, hand to the link)']);
      let undelivered = 0;
      bench.add(`${cipherName} ${length} B egress + ingress`, () => {
        a.onSend = (bytes, offset, sentLength) => {
          if (processIngress(b.plane, bytes, offset, sentLength) !== IngressResult.DELIVERED)
            undelivered += 1;
        };
        for (let i = 0; i < BATCH; i += 1)
          if (processEgress(a.plane, packet, 0, length) !== EgressResult.SENT) refused += 1;
      });
      labels.push([cipherName, `${length} B`, 'egress + the peer’s ingress (parse, open, replay, deliver)']);
      checks.push(() => {
        if (refused > 0 || undelivered > 0)
          throw new Error(`${length} B: ${refused} refused at egress, ${undelivered} not delivered`);
      });
    }
  await bench.run();
  for (const check of checks) check();
  const rows = bench.tasks.map((task, index) => {
    const result = task.result;
    if (result.state !== 'completed') throw new Error(`${task.name}: ${result.state}`);
    const nsPerOp = (result.latency.p50 * 1e6) / BATCH;
    const [cipherName, size, operation] = labels[index]!;
    return [cipherName, size, operation, nsPerOp.toFixed(0), (1e3 / nsPerOp).toFixed(2)];
  });
  for (const row of rows) process.stdout.write(`${row.join('  ')}\n`);
  writePerformanceSection(
    'agent',
    'Agent data path (in process)',
    'npm run bench -- agent',
    [
      'Two hosts’ data planes with one flow, steady state (type III packets), IPv6/UDP application',
      'packets; egress hands each packet to the link of the flow’s first hop (a no-op here), and in the',
      'second row the peer’s ingress takes it at once. The e2e seal is AES-256-GCM through each implementation',
      'of the PayloadCipher port: the native addon’s reused contexts (the default) and node:crypto.',
      `ns/op is the median of batches of ${BATCH} packets; Mpps is one core at that cost. 1-minute load`,
      `average ${load} when the run started (the machine is shared: figures move with the load).`,
      '',
      markdownTable(['PayloadCipher', 'application packet', 'path', 'ns/op', 'Mpps'], rows),
    ].join('\n'),
  );
}
