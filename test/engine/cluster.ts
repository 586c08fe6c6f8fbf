/**
 * A whole Capsule cluster in one process for the engine's multi-node tests: a real controller
 * (SQLite in a temp dir, both listeners on loopback), engines (started with startEngineNode, as
 * the CLI and the lab start them) and test hosts that register through the southbound API with
 * real RSA keys and CGAs, the overlay's real link layer (SeND-style handshake, sealed DATA
 * frames) over either the in-process MemoryNetwork or UDP loopback sockets, and the engines'
 * keep-alive and push channel to the controller.
 *
 * The test hosts stand in for agents: they register, register their links and endpoints, and
 * send capsule packets built from what the controller answers (authorization, path).
 */
import { randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ApiClient,
  createApiClient,
  createSouthboundClient,
  registrationSigningInput,
  type SbRegisterResponse,
  type SouthboundClient,
} from '@capsule/api';
import { createController } from '@capsule/controller';
import { type Engine, type EngineIdentity, startEngineNode } from '@capsule/engine';
import {
  exportPublicKeyDer,
  formatIpv6Address,
  generateCgaSync,
  generateRsaKeyPair,
  generateX25519KeyPair,
  importControllerPublicKey,
  parseSubnetPrefix64,
  type RsaKeyPair,
} from '@capsule/identity';
import { createNativeFastPath, type NativeFastPath } from '@capsule/native';
import {
  createLinkLayer,
  createMemoryNetwork,
  createNativeUdpTransport,
  createUdpTransport,
  type LinkLayer,
  type MemoryNetwork,
  type Transport,
  type UnderlayAddress,
} from '@capsule/overlay';
import { systemClock } from '@capsule/wire';
import pino from 'pino';

/**
 * The underlay: the MemoryNetwork, node:dgram sockets, or the native batched UDP sockets with the
 * engines' fast path off (`native`) or on (`native-fast`; docs/engine.md "Fast path").
 */
export type Underlay = 'memory' | 'udp' | 'native' | 'native-fast';

const password = 'node-password-1';
const adminPassword = 'admin-password-1';
const netprefix = 'fd00:ca:5:1::/64';
let sharedRsa: RsaKeyPair | undefined;

/** A transport that records what it sends (for replay and tamper tests). */
export interface TappedTransport extends Transport {
  readonly sent: { bytes: Uint8Array; to: UnderlayAddress }[];
}

function tap(transport: Transport): TappedTransport {
  const sent: { bytes: Uint8Array; to: UnderlayAddress }[] = [];
  return {
    get local() {
      return transport.local;
    },
    get stats() {
      return transport.stats;
    },
    send(bytes, length, to) {
      if (sent.length < 1000) sent.push({ bytes: new Uint8Array(bytes.subarray(0, length)), to });
      transport.send(bytes, length, to);
    },
    onDatagram: (handler) => transport.onDatagram(handler),
    close: () => transport.close(),
    ...(transport.attachDatagramFilter && {
      attachDatagramFilter: (filter: object | undefined) => transport.attachDatagramFilter!(filter),
    }),
    sent,
  };
}

/** One registered node with its link layer. */
export interface ClusterNode {
  readonly name: string;
  readonly hostId: Uint8Array;
  readonly hostIdText: string;
  readonly sb: SouthboundClient;
  readonly registration: SbRegisterResponse;
  readonly transport: TappedTransport;
  readonly linkLayer: LinkLayer;
  /** Engines only. */
  readonly engine?: Engine;
  /** Inner packets received (hosts). */
  readonly received: Uint8Array[];
  /** The id of the up link to `peer`, or undefined. */
  linkIdTo(peer: ClusterNode): number | undefined;
  /** Stops the node (engine node, or the host's link layer); the transport stays open. */
  stop(): Promise<void> | void;
}

export async function startCluster(underlay: Underlay) {
  const dir = mkdtempSync(join(tmpdir(), 'capsule-engine-cluster-'));
  const logger = pino({ level: process.env.CAPSULE_TEST_LOG ?? 'silent' });
  const controller = await createController(
    {
      store: join(dir, 'controller.db'),
      listen: { host: '127.0.0.1', port: 0 },
      southboundListen: { host: '127.0.0.1', port: 0 },
      adminPassword,
      sqliteSynchronous: 'NORMAL',
      keepaliveIntervalMs: 500,
    },
    { logger },
  );
  const urls = await controller.start();
  const admin: ApiClient = createApiClient({ baseUrl: urls.northboundUrl });
  await admin.login({ domain: 'default', username: 'admin', password: adminPassword });
  await admin.domains.create({ name: 'shop', kind: 'application' });
  await admin.domains.create({ name: 'net', kind: 'infrastructure' });
  await admin.peerings.create({ domain: 'shop', peerDomain: 'net' });
  const zoneId = (await admin.zones.create({ name: 'zone-a', netprefix })).id;
  await admin.users.create({ login: 'hosts', domain: 'shop', password, roles: ['hostOwner'], zoneId });
  await admin.users.create({ login: 'engines', domain: 'net', password, roles: ['engineOwner'], zoneId });
  const network: MemoryNetwork | undefined = underlay === 'memory' ? createMemoryNetwork() : undefined;
  const nodes: ClusterNode[] = [];
  const transports: Transport[] = [];
  let memoryPort = 7447;

  async function openTransport(name: string): Promise<Transport> {
    const transport = network
      ? network.attach({ host: `10.0.0.${nodes.length + 1}`, port: memoryPort++ })
      : underlay === 'udp'
        ? await createUdpTransport({ host: '127.0.0.1', port: 0 })
        : await createNativeUdpTransport({ host: '127.0.0.1', port: 0 });
    transports.push(transport);
    void name;
    return transport;
  }

  async function addNode(
    name: string,
    type: 'engine' | 'host',
    engineOptions: { links?: { peer: string; tags?: number[] }[] } = {},
  ) {
    sharedRsa ??= generateRsaKeyPair();
    const rsa = sharedRsa;
    const publicKeyDer = exportPublicKeyDer(rsa.publicKey);
    const identityUnder = (prefix: string): EngineIdentity => {
      const cga = generateCgaSync({
        publicKey: publicKeyDer,
        sec: 0,
        subnetPrefix: parseSubnetPrefix64(prefix),
      });
      return {
        hostId: cga.address,
        cgaParameters: cga.parametersBytes,
        rsaPrivateKey: rsa.privateKey,
        rsaPublicKeyDer: publicKeyDer,
      };
    };
    const transport = tap(await openTransport(name));
    const locator = `${transport.local.host}:${transport.local.port}`;
    const credentials = { domain: type === 'engine' ? 'net' : 'shop', username: `${type}s`, password };
    const received: Uint8Array[] = [];
    let parts: {
      hostId: Uint8Array;
      sb: SouthboundClient;
      registration: SbRegisterResponse;
      linkLayer: LinkLayer;
      engine?: Engine;
      stop(): Promise<void> | void;
    };
    if (type === 'engine') {
      // The engine daemon as the CLI and the lab start it.
      const node = await startEngineNode(
        {
          controllerUrl: urls.southboundUrl,
          credentials,
          hostname: name,
          engine: { links: engineOptions.links },
        },
        {
          transport,
          identity: identityUnder,
          clock: systemClock,
          logger,
          ...(underlay === 'native-fast' && { fastPath: newFastPath() }),
        },
      );
      parts = { ...node, sb: node.controller };
    } else {
      // A test host: registration and a link layer, packets recorded.
      const identity = identityUnder(netprefix);
      const sb = createSouthboundClient({ baseUrl: urls.southboundUrl });
      const x25519 = generateX25519KeyPair();
      const registration = await registerHost(
        sb,
        credentials,
        name,
        locator,
        identity,
        rsa,
        publicKeyDer,
        x25519.publicKeyRaw,
      );
      const controllerPublicKey = importControllerPublicKey(
        Buffer.from(registration.controllerPublicKey, 'base64'),
      );
      const linkLayer = createLinkLayer(
        {
          identity: {
            hostId: identity.hostId,
            cgaParameters: identity.cgaParameters,
            rsaPrivateKey: rsa.privateKey,
            nodeCertificate: Buffer.from(registration.certificate, 'base64'),
            controllerPublicKey: controllerPublicKey.publicKey,
          },
        },
        { transport, clock: systemClock },
      );
      linkLayer.onPacket((_link, bytes, offset, length) =>
        received.push(new Uint8Array(bytes.subarray(offset, offset + length))),
      );
      linkLayer.start();
      parts = { hostId: identity.hostId, sb, registration, linkLayer, stop: () => linkLayer.stop() };
    }
    const { linkLayer } = parts;
    const node: ClusterNode = {
      name,
      hostId: parts.hostId,
      hostIdText: formatIpv6Address(parts.hostId),
      sb: parts.sb,
      registration: parts.registration,
      transport,
      linkLayer,
      engine: parts.engine,
      received,
      linkIdTo: (peer) =>
        linkLayer
          .links()
          .find((l) => l.state === 'up' && Buffer.from(l.peerHostId).equals(Buffer.from(peer.hostId)))?.id,
      stop: parts.stop,
    };
    nodes.push(node);
    return node;
  }

  /** Handshakes a → b and waits until both sides have the link up; hosts register their link. */
  async function connect(a: ClusterNode, b: ClusterNode) {
    a.linkLayer.connect(b.transport.local, b.hostId);
    await waitFor(
      () => a.linkIdTo(b) !== undefined && b.linkIdTo(a) !== undefined,
      `link ${a.name}–${b.name}`,
    );
    for (const [host, peer] of [
      [a, b],
      [b, a],
    ] as const)
      if (!host.engine)
        await host.sb.registerLink({
          peerHostId: peer.hostIdText,
          localEndpoint: `${host.transport.local.host}:${host.transport.local.port}`,
          remoteEndpoint: `${peer.transport.local.host}:${peer.transport.local.port}`,
        });
  }

  /** The engines' fast paths (native-fast only). */
  const fastPaths: NativeFastPath[] = [];
  function newFastPath(): NativeFastPath {
    const fastPath = createNativeFastPath();
    fastPaths.push(fastPath);
    return fastPath;
  }
  /** Datagrams the engines' fast paths took, all engines together (0 without one). */
  const fastPathTaken = () => fastPaths.reduce((sum, fastPath) => sum + fastPath.stats().taken, 0);

  async function stop() {
    for (const node of nodes) await node.stop();
    for (const transport of transports) await transport.close();
    await controller.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  return { controller, urls, admin, addNode, connect, stop, network, zoneId, fastPathTaken };
}

async function registerHost(
  sb: SouthboundClient,
  credentials: { domain: string; username: string; password: string },
  hostname: string,
  locator: string,
  identity: { hostId: Uint8Array; cgaParameters: Uint8Array },
  rsa: RsaKeyPair,
  publicKeyDer: Uint8Array,
  x25519PublicKey: Uint8Array,
): Promise<SbRegisterResponse> {
  await sb.login(credentials);
  const { nonce } = await sb.nonce();
  const hostId = formatIpv6Address(identity.hostId);
  const data = registrationSigningInput({
    nonce: Buffer.from(nonce, 'base64'),
    hostId,
    hostname,
    locator,
    x25519PublicKey,
  });
  return sb.register({
    nonce,
    type: 'host',
    hostname,
    locator,
    hostId,
    cgaParameters: Buffer.from(identity.cgaParameters).toString('base64'),
    rsaPublicKey: Buffer.from(publicKeyDer).toString('base64'),
    x25519PublicKey: Buffer.from(x25519PublicKey).toString('base64'),
    signature: sign('sha256', data, rsa.privateKey).toString('base64'),
  });
}

/**
 * Polls `condition` every 10 ms until true (fails after `timeoutMs`); `state`, when given, is
 * appended to the timeout's message (what the nodes counted, for a failure seen once in CI).
 */
export async function waitFor(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
  state?: () => unknown,
): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) {
      const detail = state ? `; state: ${JSON.stringify(state())}` : '';
      throw new Error(`timed out waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A random 20-bit flow label. */
export const randomFlowLabel = () => randomBytes(3).readUIntBE(0, 3) & 0xfffff;
