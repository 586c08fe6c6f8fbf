/**
 * The same topology in ONE process, for machines without root: a real controller (SQLite in the
 * data dir, on loopback over TLS with its own certificate, which every client here pins), engines started with startEngineNode and agents with createAgent, all on
 * the in-process MemoryNetwork instead of UDP, each with the overlay's real link layer (SeND-style
 * handshake, sealed DATA frames) and the real southbound registration.
 *
 * Agents run without TUN: their application port (`AgentDeps.app`) is an `AppSocket` here, which
 * hands IP packets to the agent's egress and receives what ingress would have written to the TUN.
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Agent,
  type AgentAppPort,
  createAgent,
  createMemoryIdentityStore,
  defaultAgentOptions,
  EgressResult,
  type IdentityStore,
} from '@capsule/agent';
import type { ApiClient } from '@capsule/api';
import { type Controller, createController, createPinnedFetch } from '@capsule/controller';
import { type Engine, type EngineIdentity, startEngineNode } from '@capsule/engine';
import {
  createTlsCertificate,
  exportPublicKeyDer,
  formatCertificateSha256,
  generateCgaSync,
  generateRsaKeyPairAsync,
  parseSubnetPrefix64,
} from '@capsule/identity';
import { createMemoryNetwork, type LinkLayer, type MemoryNetwork, type Transport } from '@capsule/overlay';
import { type Clock, type Logger, silentLogger, systemClock } from '@capsule/wire';
import pino from 'pino';
import {
  adminClient,
  applyLabels,
  bootstrapController,
  declareAttachments,
  declareEngineLinks,
  labNames,
  registeredNodes,
  waitForDeclaredLinks,
} from './bootstrap';
import { LabError } from './errors';
import { type LabState, readLabState, stateFilePath, writeLabState } from './lab-state';
import type { Topology } from './topology';

const OVERLAY_PORT = 7447;

/** An in-process application's view of its host: send IPv6 packets, receive the ones delivered. */
export interface AppSocket {
  /** Hands one IP packet to the agent's egress; returns what egress did with it. */
  send(packet: Uint8Array): 'sent' | 'dropped' | 'consumed';
  /** Called with every packet the agent delivers to the application (a copy). */
  onPacket(handler: (packet: Uint8Array) => void): () => void;
}

/** One engine of a memory lab. */
export interface MemoryEngine {
  readonly name: string;
  readonly engine: Engine;
  readonly linkLayer: LinkLayer;
  readonly transport: Transport;
  readonly hostId: string;
}

/** One host of a memory lab. */
export interface MemoryHost {
  readonly name: string;
  readonly agent: Agent;
  readonly transport: Transport;
  readonly app: AppSocket;
  /** Where the agent keeps its identity and registrations (kept across `restartHost`). */
  readonly identityStore: IdentityStore;
}

/** A running in-process lab. */
export interface MemoryLab {
  readonly state: LabState;
  readonly controller: Controller;
  readonly network: MemoryNetwork;
  readonly admin: ApiClient;
  readonly engines: ReadonlyMap<string, MemoryEngine>;
  readonly hosts: ReadonlyMap<string, MemoryHost>;
  /** Cuts or restores the underlay between two nodes. */
  setPathUp(a: string, b: string, up: boolean): void;
  /**
   * Stops a host's agent and starts a new one on the same identity store, underlay and
   * application socket (an agent restart); resolves with the host once the new agent started.
   */
  restartHost(name: string): Promise<MemoryHost>;
  /**
   * Resolves once no node's call to the controller is in flight and the underlay has delivered
   * every datagram (what they set off included): with a manual clock, call it after moving the
   * time so that the real I/O a timer started finishes before the next move.
   */
  settle(): Promise<void>;
  /** Calls to the controller made by the engines and agents so far (the push channel's included). */
  readonly controllerCalls: number;
  /** Stops every node and the controller; removes the data dir (and the state file). */
  stop(): Promise<void>;
}

/** Options of the in-process lab. */
export interface MemoryLabOptions {
  dataDir: string;
  progress?: (line: string) => void;
  /** Northbound port on 127.0.0.1 (0: any free one). */
  northboundPort?: number;
  readyTimeoutMs?: number;
  /**
   * Every node's overlay link keep-alive interval: a link with nothing received for 3 intervals
   * goes down, so this bounds how long a cut goes unnoticed (default 250 ms: down within 0.75 s).
   * Both ends of a link must use the same interval.
   */
  linkKeepAliveIntervalMs?: number;
  /** How long the controller's flow authorizations are valid (its default when absent: 24 h). */
  authorizationLifetimeMs?: number;
  /** How long the controller's node certificates are valid (its default when absent: 30 days). */
  certificateLifetimeMs?: number;
  /** How long the controller's bearer tokens are valid (its default when absent: 1 h). */
  tokenLifetimeMs?: number;
  /** The controller's keep-alive interval, told to every node, and the agents' own (default 2 s). */
  keepaliveIntervalMs?: number;
  /** How long every link's session keys are used before it rekeys (default: the link layer's). */
  linkRekeyAfterMs?: number;
}

/** The lab's ports. */
export interface MemoryLabDeps {
  /**
   * The time and timers of the controller, every engine and every agent (their link layers
   * included); default: systemClock. A manual clock drives the whole lab (time-warped soaks).
   * The lab's own start-up wait and the controller's transport timers (push heartbeats, the SQLite
   * checkpointer) stay on real time: they wait for real sockets and files.
   */
  clock?: Clock;
  /** Where the engines and agents log, each line with its node's name (default: nowhere). */
  logger?: Logger;
}

interface Stoppable {
  stop(): Promise<void> | void;
}

/** Starts the topology in this process; resolves when every node is registered and linked. */
export async function startMemoryLab(
  topology: Topology,
  options: MemoryLabOptions,
  deps: MemoryLabDeps = {},
): Promise<MemoryLab> {
  const clock = deps.clock ?? systemClock;
  const progress = options.progress ?? (() => {});
  const keepaliveIntervalMs = options.keepaliveIntervalMs ?? 2000;
  const logger = deps.logger ?? silentLogger;
  const nodeLogger = (node: string): Logger => ({
    debug: (fields, message) => logger.debug({ node, ...fields }, message),
    info: (fields, message) => logger.info({ node, ...fields }, message),
    warn: (fields, message) => logger.warn({ node, ...fields }, message),
    error: (fields, message) => logger.error({ node, ...fields }, message),
  });
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const linkKeepAliveIntervalMs = options.linkKeepAliveIntervalMs ?? 250;
  if (readLabState(options.dataDir))
    throw new LabError(
      'LAB_ALREADY_UP',
      `a lab is recorded in ${stateFilePath(options.dataDir)}: run 'capsule lab down' first`,
    );
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const adminPassword = randomBytes(12).toString('base64url');
  const nodePassword = randomBytes(12).toString('base64url');
  const stoppables: Stoppable[] = [];
  const network = createMemoryNetwork();
  const underlayOf = (name: string) => ({
    host: topology.nodes.find((node) => node.name === name)!.address,
    port: OVERLAY_PORT,
  });
  const state: LabState = {
    version: 1,
    name: topology.name,
    mode: 'memory',
    createdAt: new Date(clock.nowMs()).toISOString(),
    dataDir: options.dataDir,
    topology,
    namespaces: [],
    rootLinks: [],
    processes: [{ node: '*', pid: process.pid, argv: process.argv, logFile: '' }],
    nodes: topology.nodes.map((node) => ({
      name: node.name,
      kind: node.kind,
      address: node.address,
      dir: options.dataDir,
    })),
  };

  async function stopAll(): Promise<void> {
    for (const item of stoppables.reverse()) {
      try {
        await item.stop();
      } catch {
        // Keep stopping the rest.
      }
    }
    rmSync(options.dataDir, { recursive: true, force: true });
  }

  try {
    // Controller, on TLS with a certificate of its own (as `capsule controller start` makes one);
    // the admin client, the engines and the agents pin it.
    const tls = await createTlsCertificate({ names: ['localhost', '127.0.0.1'] });
    const caSha256 = formatCertificateSha256(tls.sha256);
    const pinned = countCalls(createPinnedFetch(tls.sha256));
    const controller = await createController(
      {
        store: join(options.dataDir, 'controller.db'),
        listen: { host: '127.0.0.1', port: options.northboundPort ?? 0 },
        southboundListen: { host: '127.0.0.1', port: 0 },
        adminPassword,
        sqliteSynchronous: 'NORMAL',
        keepaliveIntervalMs,
        northboundTls: { cert: tls.certificatePem, key: tls.privateKeyPem },
        southboundTls: { cert: tls.certificatePem, key: tls.privateKeyPem },
        ...(options.authorizationLifetimeMs
          ? { authorizationLifetimeMs: options.authorizationLifetimeMs }
          : {}),
        ...(options.certificateLifetimeMs ? { certificateLifetimeMs: options.certificateLifetimeMs } : {}),
        ...(options.tokenLifetimeMs ? { tokenLifetimeMs: options.tokenLifetimeMs } : {}),
      },
      { logger: pino({ level: 'silent' }), clock },
    );
    const urls = await controller.start();
    stoppables.push(controller);
    state.controller = {
      northboundUrl: urls.northboundUrl,
      southboundUrl: urls.southboundUrl,
      adminPassword,
      nodePassword,
      caSha256,
    };
    writeLabState(state);
    const admin = await adminClient(urls.northboundUrl, adminPassword, caSha256);
    await bootstrapController(admin, nodePassword);
    progress(`controller: ${urls.northboundUrl}`);

    // Engines.
    const engines = new Map<string, MemoryEngine>();
    for (const node of topology.nodes.filter((n) => n.kind === 'engine')) {
      const transport = network.attach(underlayOf(node.name));
      stoppables.push({ stop: () => transport.close() });
      const engineNode = await startEngineNode(
        {
          controllerUrl: urls.southboundUrl,
          credentials: {
            domain: labNames.engineDomain,
            username: labNames.engineUser,
            password: nodePassword,
          },
          hostname: node.name,
          linkKeepAliveIntervalMs,
          ...(options.linkRekeyAfterMs !== undefined && { linkRekeyAfterMs: options.linkRekeyAfterMs }),
          // Peers, costs and tag bits are the controller's (its link set, its role routes).
          engine: {
            ...(node.flowCapacity !== undefined && { flowCapacity: node.flowCapacity }),
          },
        },
        { transport, identity: memoryIdentity, clock, fetch: pinned, logger: nodeLogger(node.name) },
      );
      stoppables.push(engineNode);
      engines.set(node.name, {
        name: node.name,
        engine: engineNode.engine,
        linkLayer: engineNode.linkLayer,
        transport,
        hostId: engineNode.registration.node.hostId ?? '',
      });
      progress(`engine ${node.name} (${node.address}): registered`);
    }
    // The engines' links, declared at the controller as an administrator would: it tells the
    // engines (their link sets) and they connect.
    await applyLabels(admin, topology, readyTimeoutMs);
    await declareEngineLinks(admin, topology, readyTimeoutMs);

    // Hosts.
    const hosts = new Map<string, MemoryHost>();
    const hostParts = new Map<
      string,
      { transport: Transport; app: ReturnType<typeof createAppSocket>; identityStore: IdentityStore }
    >();
    const startHost = async (node: Topology['nodes'][number]) => {
      const { transport, app, identityStore } = hostParts.get(node.name)!;
      const agent = createAgent(
        {
          ...defaultAgentOptions,
          hostName: node.name,
          controllerUrl: urls.southboundUrl,
          credentials: { domain: labNames.hostDomain, username: labNames.hostUser, password: nodePassword },
          // The in-process lab drives its agents directly: no REST API (no socket, no TCP).
          rest: { ...defaultAgentOptions.rest, socketPath: undefined, tcp: undefined },
          resolver: undefined,
          tun: undefined,
          cgaSec: 0,
          keepaliveIntervalMs,
          linkKeepAliveIntervalMs,
          ...(options.linkRekeyAfterMs !== undefined && { linkRekeyAfterMs: options.linkRekeyAfterMs }),
        },
        { identityStore, transport, app: app.port, fetch: pinned, clock, logger: nodeLogger(node.name) },
      );
      await agent.start();
      stoppables.push(agent);
      const host = { name: node.name, agent, transport, app: app.socket, identityStore };
      hosts.set(node.name, host);
      return host;
    };
    for (const node of topology.nodes.filter((n) => n.kind === 'host')) {
      const transport = network.attach(underlayOf(node.name));
      stoppables.push({ stop: () => transport.close() });
      hostParts.set(node.name, {
        transport,
        app: createAppSocket(),
        identityStore: createMemoryIdentityStore(),
      });
      const { agent } = await startHost(node);
      progress(`host ${node.name} (${node.address}): registered, host id ${agent.hostId}`);
    }
    // Each host's attachments, declared at the controller (until then a host attaches to every
    // engine of its zone, and closes those links when told its declared ones).
    await declareAttachments(
      admin,
      topology,
      topology.nodes.filter((n) => n.kind === 'host').map((n) => n.name),
      readyTimeoutMs,
    );
    const restartHost = async (name: string) => {
      const node = topology.nodes.find((n) => n.kind === 'host' && n.name === name);
      const running = hosts.get(name);
      if (!node || !running) throw new LabError('LAB_NO_SUCH_NODE', `no host ${name} in the lab`);
      await running.agent.stop();
      stoppables.splice(stoppables.indexOf(running.agent), 1);
      return startHost(node);
    };

    // Ready: every node registered, every link up.
    const deadline = Date.now() + readyTimeoutMs;
    const expectedLinks = (name: string) =>
      topology.links.filter((l) => l.a === name || l.z === name).length +
      topology.nodes.filter((n) => n.engines.includes(name)).length;
    for (;;) {
      const registered = await registeredNodes(admin);
      const missing = topology.nodes.filter((n) => n.kind !== 'controller' && !registered.has(n.name));
      const linksDown = [...engines.values()].filter(
        (e) => e.linkLayer.links().filter((l) => l.state === 'up').length < expectedLinks(e.name),
      );
      if (missing.length === 0 && linksDown.length === 0) break;
      if (Date.now() > deadline)
        throw new LabError(
          'LAB_TIMEOUT',
          `not ready after ${readyTimeoutMs} ms: ${[
            ...missing.map((n) => `${n.name} not registered`),
            ...linksDown.map((e) => `${e.name} has links down`),
          ].join(', ')}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await waitForDeclaredLinks(admin, topology, Math.max(1000, deadline - Date.now()));
    progress('every node registered, every link up');
    writeLabState(state);
    return {
      state,
      controller,
      network,
      admin,
      engines,
      hosts,
      setPathUp: (a, b, up) => network.setPathUp(underlayOf(a), underlayOf(b), up),
      restartHost,
      async settle() {
        // A call's answer sets off the next (login, then register): settled only when two turns
        // in a row found no call in flight (each turn first lets the underlay deliver).
        for (let quiet = 0; quiet < 2; ) {
          await network.settle();
          await pinned.idle();
          await new Promise((resolve) => setImmediate(resolve));
          quiet = pinned.inFlight === 0 ? quiet + 1 : 0;
        }
      },
      get controllerCalls() {
        return pinned.calls;
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** A fetch that counts its calls and the ones in flight (until their answer's headers came). */
function countCalls(inner: typeof fetch): typeof fetch & {
  readonly calls: number;
  readonly inFlight: number;
  idle(): Promise<void>;
} {
  let calls = 0;
  let inFlight = 0;
  let waiters: (() => void)[] = [];
  const counted = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    calls += 1;
    inFlight += 1;
    try {
      return await inner(input, init);
    } finally {
      inFlight -= 1;
      if (inFlight === 0) {
        const ready = waiters;
        waiters = [];
        for (const resolve of ready) resolve();
      }
    }
  };
  return Object.defineProperties(counted, {
    calls: { get: () => calls },
    inFlight: { get: () => inFlight },
    idle: {
      value: () =>
        inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve)),
    },
  }) as never;
}

/** A fresh engine identity (RSA key, CGA with Sec 0 under `netprefix`), kept in memory only. */
async function memoryIdentity(netprefix: string): Promise<EngineIdentity> {
  const rsa = await generateRsaKeyPairAsync();
  const rsaPublicKeyDer = exportPublicKeyDer(createPublicKey(rsa.privateKey));
  const cga = generateCgaSync({
    publicKey: rsaPublicKeyDer,
    sec: 0,
    subnetPrefix: parseSubnetPrefix64(netprefix),
  });
  return {
    hostId: cga.address,
    cgaParameters: cga.parametersBytes,
    rsaPrivateKey: rsa.privateKey,
    rsaPublicKeyDer,
  };
}

/** An in-process application: the agent's application port on one side, an AppSocket on the other. */
function createAppSocket(): { port: AgentAppPort; socket: AppSocket } {
  const handlers = new Set<(packet: Uint8Array) => void>();
  let send: ((bytes: Uint8Array, offset: number, length: number) => EgressResult) | undefined;
  return {
    port: {
      start: (egress) => {
        send = egress;
      },
      write: (bytes, offset, length) => {
        const packet = bytes.slice(offset, offset + length);
        for (const handler of handlers) handler(packet);
      },
    },
    socket: {
      send: (packet) => {
        if (!send) throw new LabError('LAB_COMMAND_FAILED', 'the agent has not started its data plane');
        const result = send(packet, 0, packet.length);
        return result === EgressResult.SENT
          ? 'sent'
          : result === EgressResult.DROPPED
            ? 'dropped'
            : 'consumed';
      },
      onPacket(handler) {
        handlers.add(handler);
        return () => handlers.delete(handler);
      },
    },
  };
}
