/**
 * The engine fast path's test lab (test/engine/fast-path*.test.ts): hosts a, b, c ──▶ one engine
 * on a native UDP socket, real link layers (handshakes, sealed frames) on loopback, a real engine
 * with its fast path on or off, and a's sends recordable (sealed frames kept instead of sent, to
 * be sent raw, damaged or replayed).
 */
import { createHash, createPrivateKey } from 'node:crypto';
import { createEngine, type Engine, type EngineOptions } from '@capsule/engine';
import {
  type ControllerSigningKey,
  exportEd25519PublicKeyRaw,
  exportPrivateKeyPem,
  exportPublicKeyDer,
  generateCgaSync,
  generateControllerKey,
  generateRsaKeyPair,
  generateX25519KeyPair,
  importControllerPublicKey,
  NodeType,
  type NodeTypeValue,
  parseSubnetPrefix64,
  rsaKeyHash,
  signFlowAuthorization,
  signNodeCertificate,
} from '@capsule/identity';
import { createNativeFastPath, type NativeFastPath } from '@capsule/native';
import {
  createLinkLayer,
  createNativeUdpTransport,
  createUdpTransport,
  type LinkIdentity,
  type LinkLayer,
  type Transport,
  type UnderlayAddress,
} from '@capsule/overlay';
import { systemClock } from '@capsule/wire';
import { waitFor } from './cluster';

const controller: ControllerSigningKey = generateControllerKey();
const controllerRaw = exportEd25519PublicKeyRaw(controller.publicKey);
const rsa = generateRsaKeyPair();

function identityOf(name: string, nodeType: NodeTypeValue): LinkIdentity {
  const publicKeyDer = exportPublicKeyDer(rsa.publicKey);
  const cga = generateCgaSync({
    publicKey: publicKeyDer,
    subnetPrefix: parseSubnetPrefix64('fd00:fa:57::/64'),
    sec: 0,
  });
  const nowSeconds = Math.floor(Date.now() / 1000);
  const nodeCertificate = signNodeCertificate(
    {
      nodeType,
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
  );
  return {
    hostId: cga.address,
    cgaParameters: cga.parametersBytes,
    rsaPrivateKey: createPrivateKey(exportPrivateKeyPem(rsa.privateKey)),
    nodeCertificate,
    controllerPublicKey: importControllerPublicKey(controllerRaw).publicKey,
  };
}

export const identities = {
  a: identityOf('a', NodeType.host),
  b: identityOf('b', NodeType.host),
  c: identityOf('c', NodeType.host),
  e: identityOf('e', NodeType.engine),
};

/** A transport whose sends can be recorded instead of sent. */
function recordable(transport: Transport) {
  let recording = false;
  const recorded: Uint8Array[] = [];
  const wrapped: Transport = {
    get local() {
      return transport.local;
    },
    get stats() {
      return transport.stats;
    },
    send(bytes, length, to) {
      if (recording) recorded.push(new Uint8Array(bytes.subarray(0, length)));
      else transport.send(bytes, length, to);
    },
    onDatagram: (handler) => transport.onDatagram(handler),
    close: () => transport.close(),
  };
  return {
    transport: wrapped,
    /** Seals through `seal` without sending; returns the frames. */
    record(seal: () => void): Uint8Array[] {
      recording = true;
      seal();
      recording = false;
      return recorded.splice(0);
    },
    raw: (bytes: Uint8Array, to: UnderlayAddress) => transport.send(bytes, bytes.length, to),
  };
}

export interface Setup {
  engine: Engine;
  engineLayer: LinkLayer;
  fastPath: NativeFastPath | undefined;
  a: LinkLayer;
  aTransport: ReturnType<typeof recordable>;
  engineAddress: UnderlayAddress;
  /** What b received (inner packets), and c when it is in the lab. */
  received: Uint8Array[];
  receivedC: Uint8Array[];
  linkA: number;
  /** Host c's link layer and its link to the engine (with `withC`). */
  c: LinkLayer | undefined;
  linkC: number | undefined;
  engineId: number;
  /**
   * Datagrams the engine's socket handed to its link layer flagged `authenticated` (the fast path
   * verified their link tag, so JavaScript does not compute it again).
   */
  vouched(): number;
  close(): Promise<void>;
}

export interface SetUpOptions {
  /** Host c too (another receiver). */
  withC?: boolean;
  /** The engine's link configuration (tags by peer name: 'b', 'c'). */
  engineLinks?: EngineOptions['links'];
  /** The engine's link layer rekeys a session after this many frames sent (its default otherwise). */
  engineRekeyAfterPackets?: number;
  /** The engine's flow idle time-out (its default otherwise); it sweeps every max(1 s, a quarter of it). */
  flowIdleTimeoutMs?: number;
}

/** a ──▶ engine ──▶ b (and c) on loopback, links up, the engine's fast path on or off. */
export async function setUp(withFastPath: boolean, options: SetUpOptions = {}): Promise<Setup> {
  const engineTransport = await createNativeUdpTransport({ host: '127.0.0.1', port: 0 });
  let vouched = 0;
  const onDatagram = engineTransport.onDatagram.bind(engineTransport);
  engineTransport.onDatagram = (handler) =>
    onDatagram((bytes, from, authenticated) => {
      if (authenticated) vouched += 1;
      handler(bytes, from, authenticated);
    });
  const fastPath = withFastPath ? createNativeFastPath() : undefined;
  const engineLayer = createLinkLayer(
    {
      identity: identities.e,
      keepAliveIntervalMs: 600_000,
      ...(options.engineRekeyAfterPackets && { rekeyAfterPackets: options.engineRekeyAfterPackets }),
    },
    { transport: engineTransport, clock: systemClock, ...(fastPath && { dataPath: fastPath }) },
  );
  const engine = createEngine(
    {
      hostId: identities.e.hostId,
      controllerPublicKey: importControllerPublicKey(controllerRaw),
      ...(options.engineLinks && { links: options.engineLinks }),
      ...(options.flowIdleTimeoutMs && { flowIdleTimeoutMs: options.flowIdleTimeoutMs }),
    },
    { linkLayer: engineLayer, clock: systemClock, ...(fastPath && { fastPath }) },
  );
  if (fastPath) engineTransport.attachDatagramFilter?.(fastPath.filter);
  engine.start();
  engineLayer.start();
  const aTransport = recordable(await createUdpTransport({ host: '127.0.0.1', port: 0 }));
  const receivers = [identities.b, ...(options.withC ? [identities.c] : [])];
  const receiverTransports = await Promise.all(
    receivers.map(() => createUdpTransport({ host: '127.0.0.1', port: 0 })),
  );
  const a = createLinkLayer(
    { identity: identities.a, keepAliveIntervalMs: 600_000 },
    { transport: aTransport.transport, clock: systemClock },
  );
  const inboxes: Uint8Array[][] = [[], []];
  const receiverLayers = receivers.map((identity, i) => {
    const layer = createLinkLayer(
      { identity, keepAliveIntervalMs: 600_000 },
      { transport: receiverTransports[i]!, clock: systemClock },
    );
    layer.onPacket((_link, bytes, offset, length) =>
      inboxes[i]!.push(new Uint8Array(bytes.subarray(offset, offset + length))),
    );
    return layer;
  });
  const engineAddress = engineTransport.local;
  // One link after the other: the engine's program link ids (1 a, 2 b, 3 c) are the same every run.
  for (const [count, layer] of [a, ...receiverLayers].entries()) {
    layer.start();
    layer.connect(engineAddress);
    await waitFor(() => layer.linkTo(identities.e.hostId)?.state === 'up', 'a link to the engine');
    await waitFor(() => engine.links().filter((link) => link.up).length === count + 1, 'engine links');
  }
  return {
    engine,
    engineLayer,
    fastPath,
    a,
    aTransport,
    engineAddress,
    received: inboxes[0]!,
    receivedC: inboxes[1]!,
    linkA: a.linkTo(identities.e.hostId)!.id,
    c: options.withC ? receiverLayers[1] : undefined,
    linkC: options.withC ? receiverLayers[1]!.linkTo(identities.e.hostId)!.id : undefined,
    engineId: engine.engineId,
    vouched: () => vouched,
    async close() {
      engine.stop();
      engineLayer.stop();
      a.stop();
      for (const layer of receiverLayers) layer.stop();
      await engineTransport.close();
      await aTransport.transport.close();
      for (const transport of receiverTransports) await transport.close();
    },
  };
}

const now = Math.floor(Date.now() / 1000);
let serial = 1n;
/**
 * A flow authorization for a's flows running `program` (contract 1 unless told), signed by the
 * engine's controller key unless another `signer` is given, valid for an hour unless `notAfter`
 * (seconds since the epoch) ends it sooner.
 */
export const authorize = (
  program: { machineCode: Uint8Array },
  contractId = 1,
  signer = controller,
  notAfter = now + 3600,
) =>
  signFlowAuthorization(
    {
      serial: serial++,
      notBefore: now - 60,
      notAfter,
      domainId: 1,
      contractId,
      roleId: 1,
      sourceHostId: identities.a.hostId,
      logicHash: createHash('sha256').update(program.machineCode).digest(),
    },
    signer,
  );

/** The key id of the controller key the lab's engine trusts, and its public key. */
export const controllerKeyId = controller.keyId;
export const controllerPublicKey = controller.publicKey;

/** Datagrams the engine side has accounted for: link-layer drops plus packets the engine saw. */
export function totalSeen(setup: Setup): number {
  const d = setup.engineLayer.drops;
  return d.malformed + d.unknownReceiver + d.replayed + d.badTag + setup.engine.counters().packetsIn;
}
