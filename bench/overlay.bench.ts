/**
 * `npm run bench -- overlay`: the link layer's per-packet cost and its handshake time.
 *
 * - DATA frame seal (frame header + copy of the inner packet + AEAD tag into the layer's
 *   preallocated FrameBuffer) and receive (LinkFrameView parse + replay check + AEAD open + mark),
 *   called directly (no transport, no MemoryNetwork), at 64 B and 1400 B inner packets, for a plain
 *   IPv6 packet (the whole body is authenticated) and for a capsule packet whose e2e-sealed payload
 *   follows the capsule header (only the headers are authenticated per hop). ns/op is the median of
 *   batches of 1,000; Mpps is what one core would sustain at that cost. A third row per case is the
 *   link MAC alone (`computeLinkMac` over that frame's AAD), the part of the seal that is the tag.
 * - Handshake: building (RSA-2048 SeND signature) and verifying (CGA, RSA, Ed25519 certificate) one
 *   message, and a whole NS/NA/confirmation between two layers on a MemoryNetwork (wall time); and
 *   what the layer's handshake guard costs for a frame it drops before any public-key work: a
 *   replayed NS (replay cache) and an NS with a wrong MAC1, handed to a layer's receive path.
 */
import {
  computeLinkMac,
  controllerKeyId,
  deriveSessionKeys,
  exportEd25519PublicKeyRaw,
  exportPublicKeyDer,
  generateCgaSync,
  generateControllerKey,
  generateRsaKeyPair,
  generateX25519KeyPair,
  LINK_MAC_NATIVE_FROM_BYTES,
  NodeType,
  parseSubnetPrefix64,
  rsaKeyHash,
  signNodeCertificate,
} from '@capsule/identity';
import {
  buildHandshakeFrame,
  createHandshakeSigner,
  createLinkLayer,
  createLinkSession,
  createMemoryNetwork,
  FrameBuffer,
  handshakeMac1Key,
  type LinkIdentity,
  type LinkSession,
  openDataFrame,
  sealDataFrame,
  solicitedNodeAddress,
  type Transport,
  verifyHandshakeFrame,
  writeHandshakeMacs,
} from '@capsule/overlay';
import {
  encodeCapsuleHeader,
  encodeIpv6Header,
  IpProtocol,
  LinkFrameView,
  PacketType,
  systemClock,
} from '@capsule/wire';
import { Bench } from 'tinybench';
import { markdownTable, writePerformanceSection } from './report';

const BATCH = 1000;

function sessionPair(): { sender: LinkSession; receiver: () => LinkSession } {
  const a = generateX25519KeyPair();
  const b = generateX25519KeyPair();
  const idA = new Uint8Array(16).fill(1);
  const idB = new Uint8Array(16).fill(2);
  const nonceA = new Uint8Array(14).fill(3);
  const nonceB = new Uint8Array(14).fill(4);
  const send = deriveSessionKeys({
    privateKey: a.privateKey,
    peerPublicKey: b.publicKeyRaw,
    localNonce: nonceA,
    peerNonce: nonceB,
    localHostId: idA,
    peerHostId: idB,
  });
  const receive = deriveSessionKeys({
    privateKey: b.privateKey,
    peerPublicKey: a.publicKeyRaw,
    localNonce: nonceB,
    peerNonce: nonceA,
    localHostId: idB,
    peerHostId: idA,
  });
  return {
    sender: createLinkSession({ localIndex: 1, peerIndex: 2, keys: send }),
    receiver: () => createLinkSession({ localIndex: 2, peerIndex: 1, keys: receive }),
  };
}

/** An inner packet of `length` bytes: plain IPv6 (UDP payload), or IPv6 + capsule header (type III) + sealed payload. */
function innerPacket(length: number, capsule: boolean): Uint8Array {
  const packet = new Uint8Array(length);
  const header = {
    trafficClass: 0,
    flowLabel: 1,
    payloadLength: length - 40,
    nextHeader: capsule ? 253 : IpProtocol.UDP,
    hopLimit: 64,
    source: new Uint8Array(16).fill(1),
    destination: new Uint8Array(16).fill(2),
  };
  encodeIpv6Header(header, packet);
  if (capsule)
    encodeCapsuleHeader(
      {
        nextHeader: IpProtocol.NO_NEXT_HEADER,
        packetType: PacketType.III,
        flags: 0,
        data: new Uint8Array(14),
      },
      packet,
      40,
    );
  return packet;
}

function identity(name: string, controller: ReturnType<typeof generateControllerKey>): LinkIdentity {
  const keys = generateRsaKeyPair();
  const publicKeyDer = exportPublicKeyDer(keys.publicKey);
  const cga = generateCgaSync({
    publicKey: publicKeyDer,
    subnetPrefix: parseSubnetPrefix64('fd00::/64'),
    sec: 0,
  });
  const nowSeconds = Math.floor(Date.now() / 1000);
  return {
    hostId: cga.address,
    cgaParameters: cga.parametersBytes,
    rsaPrivateKey: keys.privateKey,
    controllerPublicKey: controller.publicKey,
    nodeCertificate: signNodeCertificate(
      {
        nodeType: NodeType.engine,
        serial: 1n,
        notBefore: nowSeconds - 3600,
        notAfter: nowSeconds + 86_400,
        zoneId: 1,
        hostId: cga.address,
        x25519PublicKey: generateX25519KeyPair().publicKeyRaw,
        rsaKeyHash: rsaKeyHash(publicKeyDer),
        name,
      },
      controller,
    ),
  };
}

/** Wall time of one whole handshake between two fresh layers on a MemoryNetwork, in ms. */
async function handshakeOnce(alpha: LinkIdentity, bravo: LinkIdentity): Promise<number> {
  const network = createMemoryNetwork();
  const ta = network.attach({ host: 'a', port: 1 });
  const tb = network.attach({ host: 'b', port: 2 });
  const a = createLinkLayer({ identity: alpha }, { transport: ta, clock: systemClock });
  const b = createLinkLayer({ identity: bravo }, { transport: tb, clock: systemClock });
  const started = performance.now();
  const bothUp = new Promise<void>((resolve) => {
    let up = 0;
    const count = (link: { state: string }) => {
      if (link.state === 'up' && ++up === 2) resolve();
    };
    a.onLinkChange(count);
    b.onLinkChange(count);
  });
  a.connect(tb.local);
  await bothUp;
  const elapsed = performance.now() - started;
  a.stop();
  b.stop();
  return elapsed;
}

/** A Transport whose receive handler the bench calls directly (synchronously), sending nowhere. */
function directTransport(): Transport & { deliver(bytes: Uint8Array): void } {
  let handler: (bytes: Uint8Array, from: { host: string; port: number }) => void = () => {};
  const from = { host: '192.0.2.9', port: 7447 };
  return {
    local: { host: '192.0.2.1', port: 7447 },
    stats: {
      datagramsSent: 0,
      datagramsReceived: 0,
      bytesSent: 0,
      bytesReceived: 0,
      sendErrors: 0,
      handlerErrors: 0,
      receiveDrops: 0,
    },
    send() {},
    onDatagram(next) {
      handler = next;
    },
    close: async () => {},
    deliver: (bytes) => handler(bytes, from),
  };
}

export async function run(): Promise<void> {
  const rows: (string | number)[][] = [];
  const bench = new Bench({ time: 400, warmupTime: 100 });
  const labels: string[] = [];
  const checks: (() => void)[] = [];
  for (const capsule of [false, true])
    for (const length of [64, 1400]) {
      const kind = `${capsule ? 'capsule III + sealed payload' : 'plain IPv6'}, ${length} B`;
      const packet = innerPacket(length, capsule);
      const { sender } = sessionPair();
      const out = new FrameBuffer();
      bench.add(`${kind} / seal`, () => {
        for (let i = 0; i < BATCH; i++) sealDataFrame(sender, packet, 0, packet.length, out);
      });
      labels.push(kind, 'seal (header, copy, tag)');
      // Pre-sealed frames with consecutive counters; a fresh receiver session (new replay window) per pass.
      const frames: Uint8Array[] = [];
      const frameSender = sessionPair();
      const frameOut = new FrameBuffer();
      for (let i = 0; i < 8 * BATCH; i++) {
        const frameLength = sealDataFrame(frameSender.sender, packet, 0, packet.length, frameOut);
        frames.push(Buffer.from(frameOut.bytes.subarray(0, frameLength)));
      }
      const view = new LinkFrameView();
      let session = frameSender.receiver();
      let next = 0;
      let failures = 0;
      bench.add(`${kind} / open`, () => {
        if (next === frames.length) {
          next = 0;
          session = frameSender.receiver();
        }
        for (let i = 0; i < BATCH; i++) {
          const frame = frames[next++]!;
          if (!view.parse(frame) || openDataFrame(session, frame, view) !== 'ok') failures += 1;
        }
      });
      labels.push(kind, 'receive (parse, replay, open, mark)');
      // The MAC alone over the same AAD (frame header + what linkFrameAadEnd authenticates).
      const sealedLength = sealDataFrame(sender, packet, 0, packet.length, out);
      view.parse(out.bytes.subarray(0, sealedLength));
      const aadEnd = view.aadEnd;
      const aad = Buffer.from(out.bytes.subarray(0, aadEnd));
      const tag = new Uint8Array(16);
      let macCounter = 0;
      bench.add(`${kind} / mac`, () => {
        for (let i = 0; i < BATCH; i++) computeLinkMac(sender.sendKey, macCounter++, aad, 0, aadEnd, tag, 0);
      });
      labels.push(kind, `link MAC alone (AAD ${aadEnd} B)`);
      checks.push(() => {
        if (failures > 0) throw new Error(`${kind}: ${failures} frames failed to open`);
      });
    }
  await bench.run();
  for (const check of checks) check();
  bench.tasks.forEach((task, index) => {
    const result = task.result;
    if (result.state !== 'completed') throw new Error(`${task.name}: ${result.state}`);
    const nsPerOp = (result.latency.p50 * 1e6) / BATCH;
    rows.push([labels[index * 2]!, labels[index * 2 + 1]!, nsPerOp.toFixed(0), (1e3 / nsPerOp).toFixed(2)]);
  });

  const controller = generateControllerKey();
  const alpha = identity('alpha', controller);
  const bravo = identity('bravo', controller);
  const signer = createHandshakeSigner(alpha);
  const trust = { publicKey: controller.publicKey, keyId: controllerKeyId(controller.publicKey) };
  const build = () =>
    buildHandshakeFrame({
      kind: 'solicitation',
      signer,
      destination: solicitedNodeAddress(bravo.hostId),
      target: bravo.hostId,
      timestampMs: Date.now(),
      nonces: [new Uint8Array(14).fill(7)],
      receiverIndex: 9,
      ephemeralPublicKey: generateX25519KeyPair().publicKeyRaw,
      frameReceiverIndex: 0,
    });
  const frame = build();
  const view = new LinkFrameView();
  view.parse(frame);
  // The guard: bravo's layer verifies one genuine NS, then sees it again (and one with a bad MAC1).
  const transport = directTransport();
  const guarded = createLinkLayer({ identity: bravo }, { transport, clock: systemClock });
  const genuine = build();
  writeHandshakeMacs(
    genuine,
    handshakeMac1Key(exportEd25519PublicKeyRaw(controller.publicKey), bravo.hostId),
  );
  transport.deliver(genuine);
  if (guarded.handshakeStats.verified !== 1) throw new Error('the genuine NS was not verified');
  const forged = build(); // MACs left zero
  const handshakeBench = new Bench({ time: 1000, warmupTime: 100 });
  handshakeBench.add('build + sign NS', () => void build());
  handshakeBench.add('verify NS (CGA, RSA, certificate)', () => {
    if (!verifyHandshakeFrame(frame, view, trust, Date.now()).ok) throw new Error('NS did not verify');
  });
  handshakeBench.add('layer drops a replayed NS (replay cache, before MAC1)', () =>
    transport.deliver(genuine),
  );
  handshakeBench.add('layer drops an NS with a wrong MAC1', () => transport.deliver(forged));
  await handshakeBench.run();
  if (guarded.handshakeStats.verified !== 1 || guarded.handshakeRejections.replayed === 0)
    throw new Error('the guard let a replay through to verification');
  if (guarded.handshakeRejections.mac1 === 0) throw new Error('the wrong MAC1 was not refused');
  guarded.stop();
  const handshakeRows: (string | number)[][] = handshakeBench.tasks.map((task) => {
    const result = task.result;
    if (result.state !== 'completed') throw new Error(`${task.name}: ${result.state}`);
    const microseconds = result.latency.p50 * 1000;
    return [task.name, `${microseconds < 10 ? microseconds.toFixed(1) : microseconds.toFixed(0)} µs`];
  });
  const times: number[] = [];
  for (let i = 0; i < 40; i++) times.push(await handshakeOnce(alpha, bravo));
  times.sort((x, y) => x - y);
  handshakeRows.push([
    'whole handshake, 2 layers on a MemoryNetwork (NS, NA, confirmation; 40 runs)',
    `median ${times[20]!.toFixed(2)} ms, p90 ${times[36]!.toFixed(2)} ms`,
  ]);

  for (const row of rows) process.stdout.write(`${row.join('  ')}\n`);
  for (const row of handshakeRows) process.stdout.write(`${row.join('  ')}\n`);
  writePerformanceSection(
    'overlay',
    'Overlay link layer',
    'npm run bench -- overlay',
    [
      'DATA frames through the layer’s frame functions (`sealDataFrame`, `openDataFrame`), no transport.',
      'Inner packet sizes include the 40-byte inner IPv6 header. For a capsule packet only the headers are',
      'authenticated per hop (the sealed payload is e2e), so its cost hardly grows with size. ns/op is the',
      `median of batches of ${BATCH}; Mpps is one core at that cost. The tag is @capsule/identity's link MAC`,
      `(ChaCha20-Poly1305 tag over the AAD, empty plaintext: TypeScript, no allocation, up to ${LINK_MAC_NATIVE_FROM_BYTES} bytes of`,
      'AAD, node:crypto above; a plain IPv6 packet’s whole body is AAD); the "link MAC alone" rows time',
      '`computeLinkMac` on that frame’s AAD.',
      '',
      markdownTable(['inner packet', 'operation', 'ns/op', 'Mpps'], rows),
      '',
      'Handshake (RSA-2048 SeND signature, Ed25519 node certificate, X25519 + HKDF), and what the',
      'handshake guard costs per frame it drops before any public-key work (docs/overlay.md):',
      '',
      markdownTable(['step', 'time'], handshakeRows),
    ].join('\n'),
  );
}
