/**
 * `capsule wire …`: the byte formats made tangible. `capsule wire samples --out DIR` builds one
 * packet of every kind with the real codecs of @capsule/wire and the real keys, CGAs and
 * signatures of @capsule/identity, and writes them as pcap files (LINKTYPE_RAW) that tshark and
 * Wireshark open:
 *
 * - nd.pcap: Router/Neighbor Solicitation and Advertisement, each with SeND CGA, Timestamp, Nonce
 *   and RSA Signature options (RFC 3971) and Capsule's Node Certificate (253) and Key Exchange
 *   (254) options, checksums computed, signatures verifiable.
 * - capsule.pcap: capsule packets of type I, II and III (IPv6, next header 253) with a real flow
 *   authorization and an e2e-sealed application packet.
 * - link.pcap: link frames (HANDSHAKE, DATA with its AEAD tag, keep-alive) in IPv4/UDP port 7447.
 * - samples.pcap: all of the above.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type Cga,
  deriveSessionKeys,
  E2E_KEY_LABEL,
  exportPublicKeyDer,
  exportX25519PublicKeyRaw,
  generateCgaSync,
  generateControllerKey,
  generateRsaKeyPair,
  generateX25519KeyPair,
  NodeType,
  type RsaKeyPair,
  rsaKeyHash,
  sealLinkFrame,
  sealPayload,
  sendKeyHash,
  signFlowAuthorization,
  signNodeCertificate,
  signSendMessage,
  type X25519KeyPair,
} from '@capsule/identity';
import {
  type CapsuleHeader,
  capsuleHeaderLength,
  encodeCapsuleHeader,
  encodeIpv4Header,
  encodeIpv6Header,
  encodeLinkFrame,
  encodeNdMessage,
  encodePcapFile,
  encodeUdpHeader,
  IpProtocol,
  ipv4PseudoHeaderSum,
  LINK_UDP_PORT,
  LinkFrameType,
  LinkFrameView,
  linkFrameLength,
  logicHashOf,
  type NdMessage,
  type NdOption,
  ndMessageLength,
  PacketType,
  type PcapRecord,
  parseIpv4,
  parseIpv6,
  SEALED_PAYLOAD_OVERHEAD,
  sendSignedRange,
  setIcmpv6Checksum,
  timestampFromMs,
  udpChecksum,
} from '@capsule/wire';
import type { Command } from 'commander';
import { CliError } from '../errors';
import type { CliIo } from '../io';

/** One sample packet: a bare IPv4 or IPv6 packet. */
export interface WireSample {
  readonly file: 'nd' | 'capsule' | 'link';
  readonly name: string;
  readonly packet: Uint8Array;
}

/** A node of the samples: RSA key, CGA, X25519 key and its controller-signed certificate. */
interface SampleNode {
  readonly rsa: RsaKeyPair;
  readonly publicKeyDer: Uint8Array;
  readonly cga: Cga;
  readonly x25519: X25519KeyPair;
  readonly certificate: Uint8Array;
  readonly receiverIndex: number;
}

const ZONE_PREFIX = '2001:db8:c5::';

function address(text: string): Uint8Array {
  const parsed = text.includes(':') ? parseIpv6(text) : parseIpv4(text);
  if (!parsed.ok) throw new CliError('WIRE_SAMPLE_ADDRESS', parsed.error.message);
  return parsed.value;
}

function createNode(
  name: string,
  sec: number,
  nowS: number,
  controller: ReturnType<typeof generateControllerKey>,
) {
  const rsa = generateRsaKeyPair();
  const publicKeyDer = exportPublicKeyDer(rsa.publicKey);
  const cga = generateCgaSync({
    publicKey: publicKeyDer,
    sec,
    subnetPrefix: address(ZONE_PREFIX).subarray(0, 8),
  });
  const x25519 = generateX25519KeyPair();
  const certificate = signNodeCertificate(
    {
      nodeType: NodeType.host,
      serial: BigInt(`0x${randomBytes(8).toString('hex')}`),
      notBefore: nowS - 60,
      notAfter: nowS + 86_400,
      zoneId: 1,
      hostId: cga.address,
      x25519PublicKey: exportX25519PublicKeyRaw(x25519.publicKey),
      rsaKeyHash: rsaKeyHash(publicKeyDer),
      name,
    },
    controller,
  );
  return { rsa, publicKeyDer, cga, x25519, certificate, receiverIndex: randomBytes(4).readUInt32BE() };
}

/** An IPv6 packet around `payload`. */
function ipv6Packet(fields: {
  source: Uint8Array;
  destination: Uint8Array;
  nextHeader: number;
  hopLimit: number;
  flowLabel?: number;
  payload: Uint8Array;
}): Uint8Array {
  const packet = new Uint8Array(40 + fields.payload.length);
  encodeIpv6Header(
    {
      trafficClass: 0,
      flowLabel: fields.flowLabel ?? 0,
      payloadLength: fields.payload.length,
      nextHeader: fields.nextHeader,
      hopLimit: fields.hopLimit,
      source: fields.source,
      destination: fields.destination,
    },
    packet,
  );
  packet.set(fields.payload, 40);
  return packet;
}

/**
 * A SeND-protected ND packet: the message is encoded with a zero checksum and a placeholder
 * signature, signed over the range wire reports (identity signs with the checksum as zero, RFC
 * 3971 5.2), the signature written in place, then the checksum computed over the final bytes.
 */
function ndPacket(node: SampleNode, destination: Uint8Array, message: NdMessage, nowMs: number): Uint8Array {
  const options: NdOption[] = [
    ...message.options,
    { kind: 'cga', parameters: node.cga.parametersBytes },
    { kind: 'timestamp', ...timestampFromMs(nowMs) },
    { kind: 'nonce', nonce: new Uint8Array(randomBytes(6)) },
    { kind: 'nodeCertificate', certificate: node.certificate },
    {
      kind: 'keyExchange',
      receiverIndex: node.receiverIndex,
      publicKey: exportX25519PublicKeyRaw(node.x25519.publicKey),
    },
    { kind: 'rsaSignature', keyHash: sendKeyHash(node.publicKeyDer), signature: new Uint8Array(256) },
  ];
  const full = { ...message, options } as NdMessage;
  const icmp = new Uint8Array(ndMessageLength(full));
  encodeNdMessage(full, icmp);
  const range = sendSignedRange(icmp);
  if (!range.ok) throw new CliError('WIRE_SAMPLE_ND', range.error.message);
  const source = node.cga.address;
  const signature = signSendMessage({
    source,
    destination,
    icmpMessage: icmp.subarray(0, range.value.signedEnd),
    privateKey: node.rsa.privateKey,
  });
  icmp.set(signature, range.value.signatureOptionOffset + 20);
  setIcmpv6Checksum(icmp, 0, icmp.length, source, destination);
  return ipv6Packet({ source, destination, nextHeader: IpProtocol.ICMPV6, hopLimit: 255, payload: icmp });
}

/** ff02::1:ffXX:XXXX for `target` (RFC 4291 2.7.1). */
function solicitedNodeAddress(target: Uint8Array): Uint8Array {
  const out = address('ff02::1:ff00:0');
  out.set(target.subarray(13), 13);
  return out;
}

/** Builds every sample packet. `sec` is the CGA Sec of the two sample nodes. */
export function buildWireSamples(options: { sec?: number; nowMs?: number } = {}): WireSample[] {
  const nowMs = options.nowMs ?? Date.now();
  const nowS = Math.floor(nowMs / 1000);
  const sec = options.sec ?? 1;
  const controller = generateControllerKey();
  const alice = createNode('alice.example', sec, nowS, controller);
  const bob = createNode('bob.example', sec, nowS, controller);
  const samples: WireSample[] = [];
  const lla = (last: number): Uint8Array => Uint8Array.of(0x02, 0x00, 0x5e, 0x00, 0x53, last);

  // Neighbor discovery with SeND and Capsule options.
  const rs = ndPacket(
    alice,
    address('ff02::2'),
    { kind: 'routerSolicitation', options: [{ kind: 'sourceLinkLayerAddress', address: lla(1) }] },
    nowMs,
  );
  const ra = ndPacket(
    bob,
    address('ff02::1'),
    {
      kind: 'routerAdvertisement',
      curHopLimit: 64,
      managed: false,
      other: false,
      routerLifetime: 1800,
      reachableTime: 0,
      retransTimer: 0,
      options: [
        { kind: 'sourceLinkLayerAddress', address: lla(2) },
        { kind: 'mtu', mtu: 1280 },
        {
          kind: 'prefixInformation',
          prefixLength: 64,
          onLink: true,
          autonomous: false,
          validLifetime: 86_400,
          preferredLifetime: 14_400,
          prefix: address(ZONE_PREFIX),
        },
      ],
    },
    nowMs,
  );
  const ns = ndPacket(
    alice,
    solicitedNodeAddress(bob.cga.address),
    {
      kind: 'neighborSolicitation',
      targetAddress: bob.cga.address,
      options: [{ kind: 'sourceLinkLayerAddress', address: lla(1) }],
    },
    nowMs,
  );
  const na = ndPacket(
    bob,
    alice.cga.address,
    {
      kind: 'neighborAdvertisement',
      router: true,
      solicited: true,
      override: true,
      targetAddress: bob.cga.address,
      options: [{ kind: 'targetLinkLayerAddress', address: lla(2) }],
    },
    nowMs,
  );
  samples.push(
    { file: 'nd', name: 'Router Solicitation (SeND + Capsule options)', packet: rs },
    { file: 'nd', name: 'Router Advertisement (SeND + Capsule options)', packet: ra },
    { file: 'nd', name: 'Neighbor Solicitation (SeND + Capsule options)', packet: ns },
    { file: 'nd', name: 'Neighbor Advertisement (SeND + Capsule options)', packet: na },
  );

  // Capsule packets: a small program (addi a0, zero, 1; ecall), a two-hop path, a sealed payload.
  const code = {
    entryOffsets: [0],
    machineCode: Uint8Array.of(0x13, 0x05, 0x10, 0x00, 0x73, 0x00, 0x00, 0x00),
  };
  const flowLabel = 0x5ca1e;
  const auth = signFlowAuthorization(
    {
      serial: 42n,
      notBefore: nowS - 60,
      notAfter: nowS + 3600,
      domainId: 1,
      contractId: 7,
      roleId: 2,
      sourceHostId: alice.cga.address,
      logicHash: logicHashOf(code.machineCode),
    },
    controller,
  );
  const path = {
    creationTime: nowS,
    hopIndex: 0,
    defaultEntry: 0,
    hops: [
      { engineId: 11, entryIndex: 0, flags: 0 },
      { engineId: 12, entryIndex: 0, flags: 0 },
    ],
  };
  const e2e = deriveSessionKeys({
    privateKey: alice.x25519.privateKey,
    peerPublicKey: exportX25519PublicKeyRaw(bob.x25519.publicKey),
    localNonce: new Uint8Array(16).fill(1),
    peerNonce: new Uint8Array(16).fill(2),
    localHostId: alice.cga.address,
    peerHostId: bob.cga.address,
    label: E2E_KEY_LABEL,
  });
  const application = ipv6Packet({
    source: address('fd00::1'),
    destination: address('fd00::2'),
    nextHeader: IpProtocol.NO_NEXT_HEADER,
    hopLimit: 64,
    payload: new TextEncoder().encode('hello from a capsule flow'),
  });
  const capsulePacket = (header: CapsuleHeader, counter: bigint) => {
    const length = capsuleHeaderLength(header);
    const payload = new Uint8Array(length + SEALED_PAYLOAD_OVERHEAD + application.length);
    encodeCapsuleHeader(header, payload);
    const aad = Uint8Array.of(0, flowLabel >>> 16, (flowLabel >>> 8) & 0xff, flowLabel & 0xff);
    sealPayload(e2e.sendKey, e2e.epoch, counter, aad, application, payload, length);
    return ipv6Packet({
      source: alice.cga.address,
      destination: bob.cga.address,
      nextHeader: IpProtocol.EXPERIMENTAL_253,
      hopLimit: 64,
      flowLabel,
      payload,
    });
  };
  const data = Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 0);
  const typeI = capsulePacket(
    { nextHeader: 59, packetType: PacketType.I, flags: 0, auth, path, code, data },
    1n,
  );
  const typeII = capsulePacket(
    { nextHeader: 59, packetType: PacketType.II, flags: 1, path, code, data, trace: [] },
    2n,
  );
  const typeIII = capsulePacket({ nextHeader: 59, packetType: PacketType.III, flags: 0, path, data }, 3n);
  samples.push(
    { file: 'capsule', name: 'capsule type I (AUTH + PATH + CODE + DATA, sealed payload)', packet: typeI },
    { file: 'capsule', name: 'capsule type II (PATH + CODE + DATA + TRACE, sealed payload)', packet: typeII },
    { file: 'capsule', name: 'capsule type III (PATH + DATA, sealed payload)', packet: typeIII },
  );

  // Link frames between two underlay hosts, in IPv4/UDP 7447.
  const link = deriveSessionKeys({
    privateKey: alice.x25519.privateKey,
    peerPublicKey: exportX25519PublicKeyRaw(bob.x25519.publicKey),
    localNonce: new Uint8Array(16).fill(3),
    peerNonce: new Uint8Array(16).fill(4),
    localHostId: alice.cga.address,
    peerHostId: bob.cga.address,
  });
  const underlay = (body: Uint8Array, type: LinkFrameType, counter: bigint, identification: number) => {
    const frameLength = linkFrameLength({ type, body });
    const packet = new Uint8Array(20 + 8 + frameLength);
    const frame = packet.subarray(28);
    encodeLinkFrame({ type, flags: 0, receiverIndex: bob.receiverIndex, counter, body }, frame);
    if (type === LinkFrameType.DATA) {
      const view = new LinkFrameView();
      if (!view.parse(frame)) throw new CliError('WIRE_SAMPLE_LINK', view.errorMessage);
      sealLinkFrame(
        link.sendKey,
        counter,
        frame.subarray(0, view.aadEnd),
        new Uint8Array(0),
        frame,
        view.tagOffset,
      );
    }
    const source = address('192.0.2.1');
    const destination = address('192.0.2.2');
    encodeIpv4Header(
      {
        dscp: 0,
        ecn: 0,
        totalLength: packet.length,
        identification,
        dontFragment: true,
        moreFragments: false,
        fragmentOffset: 0,
        ttl: 64,
        protocol: IpProtocol.UDP,
        source,
        destination,
        options: new Uint8Array(0),
      },
      packet,
    );
    const udpLength = 8 + frameLength;
    encodeUdpHeader(
      { sourcePort: LINK_UDP_PORT, destinationPort: LINK_UDP_PORT, length: udpLength, checksum: 0 },
      packet,
      20,
    );
    const checksum = udpChecksum(
      ipv4PseudoHeaderSum(source, destination, IpProtocol.UDP, udpLength),
      packet,
      20,
      udpLength,
    );
    encodeUdpHeader(
      { sourcePort: LINK_UDP_PORT, destinationPort: LINK_UDP_PORT, length: udpLength, checksum },
      packet,
      20,
    );
    return packet;
  };
  samples.push(
    {
      file: 'link',
      name: 'link HANDSHAKE frame (NS inside) in IPv4/UDP 7447',
      packet: underlay(ns, LinkFrameType.HANDSHAKE, 0n, 1),
    },
    {
      file: 'link',
      name: 'link DATA frame (type II capsule inside, AEAD tag) in IPv4/UDP 7447',
      packet: underlay(typeII, LinkFrameType.DATA, 1n, 2),
    },
    {
      file: 'link',
      name: 'link keep-alive (empty DATA frame) in IPv4/UDP 7447',
      packet: underlay(new Uint8Array(0), LinkFrameType.DATA, 2n, 3),
    },
  );
  return samples;
}

/** `capsule wire …` */
export function registerWireCommands(program: Command, io: CliIo): void {
  const wire = program
    .command('wire')
    .description('Capsule byte formats: build sample packets, inspect them');
  wire
    .command('samples')
    .description('write one packet of every kind (ND/SeND, capsule types I–III, link frames) to pcap files')
    .requiredOption('--out <dir>', 'directory for samples.pcap, nd.pcap, capsule.pcap and link.pcap')
    .option('--sec <n>', 'CGA Sec of the sample nodes (0..2)', '1')
    .action((options: { out: string; sec: string }) => {
      const sec = Number(options.sec);
      if (!Number.isInteger(sec) || sec < 0 || sec > 2)
        throw new CliError(
          'WIRE_SAMPLE_SEC',
          `--sec must be 0, 1 or 2 (a higher Sec takes hours); got ${options.sec}`,
        );
      const nowMs = Date.now();
      const samples = buildWireSamples({ sec, nowMs });
      const directory = resolve(io.cwd, options.out);
      mkdirSync(directory, { recursive: true });
      const records = (file?: WireSample['file']): PcapRecord[] =>
        samples
          .filter((sample) => file === undefined || sample.file === file)
          .map((sample, index) => ({ timestampUs: nowMs * 1000 + index, packet: sample.packet }));
      for (const file of ['nd', 'capsule', 'link'] as const)
        writeFileSync(join(directory, `${file}.pcap`), encodePcapFile(records(file)));
      writeFileSync(join(directory, 'samples.pcap'), encodePcapFile(records()));
      for (const [index, sample] of samples.entries())
        io.out(
          `${String(index + 1).padStart(2)}  ${String(sample.packet.length).padStart(5)} B  ${sample.file.padEnd(8)} ${sample.name}\n`,
        );
      io.out(
        `wrote ${samples.length} packets to ${join(directory, 'samples.pcap')} (and nd.pcap, capsule.pcap, link.pcap)\n`,
      );
    });
}
