/**
 * `npm run bench -- wire`: decode and encode cost of every packet kind in @capsule/wire, in
 * nanoseconds per operation and the packet rate one core sustains at that cost (Mpps). Each task
 * runs its operation 1,000 times per sample so the timer's own cost does not swamp a 50 ns op.
 * "view" rows are the engine's hot path (preallocated views, no allocation per packet); "decode"
 * rows build plain objects (control plane, tools, tests).
 */
import {
  type CapsuleHeader,
  CapsuleHeaderView,
  capsuleHeaderLength,
  decodeCapsuleHeader,
  decodeIpv4Header,
  decodeIpv6Header,
  decodeIpv6Packet,
  decodeLinkFrame,
  decodeNdMessage,
  decodeUdpHeader,
  encodeCapsuleHeader,
  encodeIpv4Header,
  encodeIpv6Header,
  encodeLinkFrameHeader,
  encodeNdMessage,
  encodePcapRecord,
  encodeUdpHeader,
  type Ipv4Header,
  type Ipv6Header,
  icmpv6Checksum,
  internetChecksum,
  LinkFrameView,
  type NdMessage,
  ndMessageLength,
  sendSignedRange,
} from '@capsule/wire';
import { Bench } from 'tinybench';
import { markdownTable, writePerformanceSection } from './report';

const BATCH = 1000;

function fill(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

const address = (seed: number) => fill(16, seed);
const ipv6: Ipv6Header = {
  trafficClass: 0,
  flowLabel: 0x5ca1e,
  payloadLength: 0,
  nextHeader: 253,
  hopLimit: 64,
  source: address(1),
  destination: address(2),
};
const code = { entryOffsets: [0, 64], machineCode: fill(256, 3) };
const path = {
  creationTime: 1_700_000_000,
  hopIndex: 1,
  defaultEntry: 0,
  hops: [1, 2, 3, 4].map((engineId) => ({ engineId, entryIndex: 0, flags: 0 })),
};
const capsules: Record<string, CapsuleHeader> = {
  'capsule type I': {
    nextHeader: 59,
    packetType: 1,
    flags: 0,
    auth: fill(148, 4),
    path,
    code,
    data: fill(32, 5),
  },
  'capsule type II': { nextHeader: 59, packetType: 2, flags: 0, path, code, data: fill(32, 5) },
  'capsule type III': { nextHeader: 59, packetType: 3, flags: 0, path, data: fill(32, 5) },
};

/** An inner IPv6 packet: header, capsule header and a 1,000-byte sealed payload. */
function innerPacket(header: CapsuleHeader): Uint8Array {
  const capsuleLength = capsuleHeaderLength(header);
  const packet = new Uint8Array(40 + capsuleLength + 1000);
  encodeIpv6Header({ ...ipv6, payloadLength: capsuleLength + 1000 }, packet);
  encodeCapsuleHeader(header, packet, 40);
  return packet;
}

function linkFrame(body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(16 + body.length + 16);
  encodeLinkFrameHeader({ type: 2, flags: 0, receiverIndex: 7, counter: 1n }, frame);
  frame.set(body, 16);
  return frame;
}

const ns: NdMessage = {
  kind: 'neighborSolicitation',
  targetAddress: address(9),
  options: [
    { kind: 'sourceLinkLayerAddress', address: fill(6, 1) },
    { kind: 'cga', parameters: fill(25 + 294, 2) },
    { kind: 'timestamp', seconds: 1_700_000_000, fraction: 0 },
    { kind: 'nonce', nonce: fill(6, 3) },
    { kind: 'nodeCertificate', certificate: fill(180, 4) },
    { kind: 'keyExchange', receiverIndex: 1, publicKey: fill(32, 5) },
    { kind: 'rsaSignature', keyHash: fill(16, 6), signature: fill(256, 7) },
  ],
};

interface Row {
  kind: string;
  operation: string;
  nsPerOp: number;
}

export async function run(): Promise<void> {
  const tasks: { kind: string; operation: string; fn: () => void }[] = [];
  const add = (kind: string, operation: string, op: () => unknown) =>
    tasks.push({
      kind,
      operation,
      fn: () => {
        for (let i = 0; i < BATCH; i++) op();
      },
    });

  const scratch = new Uint8Array(4096);
  const ipv6Packet = innerPacket(capsules['capsule type III']!);
  add('IPv6 header', 'decode', () => decodeIpv6Header(ipv6Packet));
  add('IPv6 header', 'encode', () => encodeIpv6Header(ipv6, scratch));
  add('IPv6 + extension walk', 'decode', () => decodeIpv6Packet(ipv6Packet));

  const ipv4: Ipv4Header = {
    dscp: 0,
    ecn: 0,
    totalLength: 1400,
    identification: 1,
    dontFragment: true,
    moreFragments: false,
    fragmentOffset: 0,
    ttl: 64,
    protocol: 17,
    source: fill(4, 1),
    destination: fill(4, 2),
    options: new Uint8Array(0),
  };
  const underlay = new Uint8Array(1400);
  encodeIpv4Header(ipv4, underlay);
  encodeUdpHeader({ sourcePort: 7447, destinationPort: 7447, length: 1380, checksum: 0 }, underlay, 20);
  add('IPv4 + UDP headers', 'decode', () => {
    const ip = decodeIpv4Header(underlay);
    if (ip.ok) decodeUdpHeader(ip.value.payload);
  });
  add('IPv4 + UDP headers', 'encode', () => {
    encodeIpv4Header(ipv4, scratch);
    encodeUdpHeader({ sourcePort: 7447, destinationPort: 7447, length: 1380, checksum: 0 }, scratch, 20);
  });

  const frame = linkFrame(innerPacket(capsules['capsule type II']!));
  const frameView = new LinkFrameView();
  add('link frame (DATA, 1.3 KB)', 'view (hot path)', () => frameView.parse(frame));
  add('link frame (DATA, 1.3 KB)', 'decode', () => decodeLinkFrame(frame));
  add('link frame (DATA, 1.3 KB)', 'encode header', () =>
    encodeLinkFrameHeader({ type: 2, flags: 0, receiverIndex: 7, counter: 1n }, scratch),
  );

  const capsuleView = new CapsuleHeaderView();
  for (const [kind, header] of Object.entries(capsules)) {
    const bytes = new Uint8Array(capsuleHeaderLength(header));
    encodeCapsuleHeader(header, bytes);
    const label = `${kind} (${bytes.length} B)`;
    add(label, 'view (hot path)', () => capsuleView.parse(bytes));
    add(label, 'decode', () => decodeCapsuleHeader(bytes));
    add(label, 'encode', () => encodeCapsuleHeader(header, scratch));
  }

  const nsBytes = new Uint8Array(ndMessageLength(ns));
  encodeNdMessage(ns, nsBytes);
  const label = `NS + SeND options (${nsBytes.length} B)`;
  add(label, 'decode', () => decodeNdMessage(nsBytes));
  add(label, 'encode (+ checksum)', () =>
    encodeNdMessage(ns, scratch, 0, { source: ipv6.source, destination: ipv6.destination }),
  );
  add(label, 'SeND signed range', () => sendSignedRange(nsBytes));
  add('checksum', 'Internet checksum, 1400 B', () => internetChecksum(underlay));
  add('checksum', `ICMPv6 checksum, ${nsBytes.length} B`, () =>
    icmpv6Checksum(nsBytes, 0, nsBytes.length, ipv6.source, ipv6.destination),
  );
  add('pcap record', 'encode (1400 B packet)', () =>
    encodePcapRecord({ timestampUs: 1, packet: underlay }, scratch),
  );

  const bench = new Bench({ time: 300, warmupTime: 50 });
  for (const task of tasks) bench.add(`${task.kind} / ${task.operation}`, task.fn);
  await bench.run();
  const rows: Row[] = bench.tasks.map((task, index) => {
    const result = task.result;
    if (result.state !== 'completed') throw new Error(`${task.name}: ${result.state}`);
    return {
      kind: tasks[index]!.kind,
      operation: tasks[index]!.operation,
      nsPerOp: (result.latency.p50 * 1e6) / BATCH,
    };
  });
  for (const row of rows)
    process.stdout.write(
      `${row.kind.padEnd(34)} ${row.operation.padEnd(26)} ${row.nsPerOp.toFixed(0).padStart(7)} ns\n`,
    );
  writePerformanceSection(
    'wire',
    'Wire codecs (@capsule/wire)',
    'npm run bench -- wire',
    [
      'Median cost per operation (batches of 1,000) and the packet rate one core would sustain doing only that',
      '(Mpps = 1,000 / ns). "view" is the engine’s receive path: preallocated `LinkFrameView` /',
      '`CapsuleHeaderView`, fully validating, no allocation per packet; "decode" builds plain objects.',
      '',
      markdownTable(
        ['packet kind', 'operation', 'ns/op', 'Mpps'],
        rows.map((row) => [row.kind, row.operation, row.nsPerOp.toFixed(0), (1000 / row.nsPerOp).toFixed(2)]),
      ),
    ].join('\n'),
  );
}
