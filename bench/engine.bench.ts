/**
 * `npm run bench -- engine`: packets per second through one engine on loopback UDP, against a
 * native recvmmsg/sendmmsg forwarder (bench/native/udp-bench.cc) in the same run.
 *
 * Topology: blaster ──udp──▶ [engine, or the native forwarder] ──udp──▶ sink. The blaster and the
 * sink are the same native program in every case (so they are not what is measured): the blaster
 * replays a file of link frames sealed before the clock starts by a real link layer, as fast as
 * sendmmsg goes; the sink counts. The forwarding side is pinned to one CPU (taskset) when it can
 * be. Cases:
 *
 * - type III, cached action: link-frame MAC check and replay window, IPv6 + capsule parse, flow
 *   lookup, the cached FORWARD, reseal, send;
 * - type III, program per packet: the same plus one sandbox run of the route program, which does
 *   not set CACHE (PACKET record, PATH/DATA copy in and out);
 * - type III, cached action, senders batching: the first case with the blaster sending runs of 64
 *   frames as UDP GSO buffers that the engine receives whole (UDP_GRO), as from agents; the sink
 *   and a batched baseline forwarder set UDP_GRO too. Besides packets/s at the sink, the engine's
 *   CPU time per frame forwarded (its process's, over the rounds): the ≥ 1 Mpps target asks both;
 * - type I: every packet a new flow with its own authorization: Ed25519 verification, SHA-256 of
 *   the code, program cache hit, flow insert, run.
 *
 * Options: `--only type-i` runs the type I case alone (its pipeline row and its paired rounds; the
 * figures are printed, docs/performance.md is left as it is); `--profile DIR` runs the engine's
 * process under `node --cpu-prof --cpu-prof-dir DIR` (a .cpuprofile per run, for a profiler).
 *
 * When run as a child (CAPSULE_ENGINE_BENCH_CHILD=engine) this file is the engine's side.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, createPrivateKey } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createEngine } from '@capsule/engine';
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
import { createNativeFastPath } from '@capsule/native';
import {
  createLinkLayer,
  createNativeUdpTransport,
  createUdpTransport,
  type LinkIdentity,
  type LinkLayer,
  type Transport,
  type UnderlayAddress,
} from '@capsule/overlay';
import { type CapsuleHeader, PacketType, systemClock } from '@capsule/wire';
import { buildPacket, createTopology, pathThrough } from '../packages/engine/test/harness';
import { route, routeUncached } from '../packages/engine/test/programs';
import {
  buildUdpBench,
  canPin,
  pinProcess,
  startProcess,
  type Tool,
  writeDatagramFile,
} from './native-tools';
import { markdownTable, writePerformanceSection } from './report';

/** Frames per burst: long enough (≥ 0.3 s at the rates seen) to be past start-up. */
const COUNTS = { cached: 300_000, program: 200_000, typeI: 20_000, batched: 600_000 };
/** Paired rounds (native forwarder, then engine) per case. */
const ROUNDS = 3;
/**
 * Keep-alive and rekey interval of every link layer in the bench, and the engine's flow idle
 * timeout: longer than any run. b's socket becomes the sink after the handshakes and a only seals,
 * so neither could answer a rekey: with the default (120 s) the engine's link to b went down two
 * minutes in on a loaded machine (NO_HOST_LINK drops, the sink counting handshake retries as
 * packets). Flow 2 (program per packet) waits idle through the cached case, which took more than
 * the default 120 s there too: the flow expired and the next case was all UNKNOWN_FLOW drops (and
 * the sink, which reports a burst only once something arrived, waited forever).
 */
const BENCH_LINK_INTERVAL_MS = 3_600_000;
/** The engine's fast path: CAPSULE_BENCH_FAST_PATH=0 measures the JavaScript path alone. */
const FAST_PATH = process.env.CAPSULE_BENCH_FAST_PATH !== '0';

/** `npm run bench -- engine [--only type-i] [--profile DIR]` (see the top of this file). */
export interface EngineBenchOptions {
  /** The type I case alone, figures printed only. */
  typeIOnly: boolean;
  /** Where the engine process writes its CPU profile (node --cpu-prof-dir); undefined: no profile. */
  profileDir: string | undefined;
}

export function parseEngineBenchArgs(args: readonly string[]): EngineBenchOptions {
  let values: { only?: string | undefined; profile?: string | undefined };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: { only: { type: 'string' }, profile: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new Error(`bench engine: ${(error as Error).message} (options: --only type-i, --profile DIR)`);
  }
  if (values.only !== undefined && values.only !== 'type-i')
    throw new Error(`bench engine: --only knows one case, type-i, not '${values.only.slice(0, 20)}'`);
  return { typeIOnly: values.only === 'type-i', profileDir: values.profile };
}

interface IdentityMaterial {
  hostId: string;
  cgaParameters: string;
  rsaPrivateKeyPem: string;
  nodeCertificate: string;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const unhex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));

function makeIdentity(name: string, controller: ControllerSigningKey, nodeType: NodeTypeValue) {
  const keys = generateRsaKeyPair();
  const publicKeyDer = exportPublicKeyDer(keys.publicKey);
  const cga = generateCgaSync({
    publicKey: publicKeyDer,
    subnetPrefix: parseSubnetPrefix64('fd00:be:7c::/64'),
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
  const material: IdentityMaterial = {
    hostId: hex(cga.address),
    cgaParameters: hex(cga.parametersBytes),
    rsaPrivateKeyPem: exportPrivateKeyPem(keys.privateKey),
    nodeCertificate: hex(nodeCertificate),
  };
  return material;
}

function linkIdentity(material: IdentityMaterial, controllerPublicKeyRaw: Uint8Array): LinkIdentity {
  return {
    hostId: unhex(material.hostId),
    cgaParameters: unhex(material.cgaParameters),
    rsaPrivateKey: createPrivateKey(material.rsaPrivateKeyPem),
    nodeCertificate: unhex(material.nodeCertificate),
    controllerPublicKey: importControllerPublicKey(controllerPublicKeyRaw).publicKey,
  };
}

/** CPU time this process has used (user + system), µs: the engine's cost, whatever else runs. */
function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

// ---- the forwarding side (child process) ----------------------------------------------------------

interface ChildSetup {
  mode: 'engine';
  identity: IdentityMaterial;
  controllerPublicKey: string;
  fastPath: boolean;
}

async function runChild(): Promise<void> {
  const setup = await new Promise<ChildSetup>((resolve) =>
    process.once('message', (m) => resolve(m as ChildSetup)),
  );
  {
    const raw = unhex(setup.controllerPublicKey!);
    const transport = await createNativeUdpTransport({
      host: '127.0.0.1',
      port: 0,
      receiveBufferBytes: 8 << 20,
      sendBufferBytes: 8 << 20,
    });
    const identity = linkIdentity(setup.identity!, raw);
    // As the engine node wires it (engine-node.ts): socket filter, link layer data path, engine port.
    const fastPath = setup.fastPath ? createNativeFastPath() : undefined;
    const linkLayer = createLinkLayer(
      { identity, keepAliveIntervalMs: BENCH_LINK_INTERVAL_MS, rekeyAfterMs: BENCH_LINK_INTERVAL_MS },
      { transport, clock: systemClock, ...(fastPath && { dataPath: fastPath }) },
    );
    const engine = createEngine(
      {
        hostId: identity.hostId,
        controllerPublicKey: importControllerPublicKey(raw),
        flowCapacity: 1 << 16,
        flowIdleTimeoutMs: BENCH_LINK_INTERVAL_MS,
      },
      { linkLayer, clock: systemClock, ...(fastPath && { fastPath }) },
    );
    if (fastPath) transport.attachDatagramFilter?.(fastPath.filter);
    engine.start();
    linkLayer.start();
    process.on('message', (message) => {
      if ((message as { counters?: boolean }).counters)
        process.send!({
          counters: {
            ...engine.counters(),
            linkDrops: linkLayer.drops,
            fastPath: fastPath?.stats(),
            cpuMicros: cpuMicros(),
            systemCpuMicros: process.cpuUsage().system,
          },
        });
    });
    process.send!({ port: transport.local.port });
  }
  process.on('disconnect', () => process.exit(0));
}

// ---- the measuring side ------------------------------------------------------------------------------

function startChild(
  setup: ChildSetup,
  cpu: number | undefined,
  profileDir: string | undefined,
): Promise<{ child: ChildProcess; port: number }> {
  const profile = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir];
  const node = [process.execPath, ...profile, '--import', 'tsx', new URL(import.meta.url).pathname];
  const [file, ...args] = cpu === undefined ? node : ['taskset', '-c', String(cpu), ...node];
  const child = spawn(file!, args, {
    env: { ...process.env, CAPSULE_ENGINE_BENCH_CHILD: setup.mode },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('message', (message) => resolve({ child, port: (message as { port: number }).port }));
    child.send(setup);
  });
}

/** A transport whose sends can be recorded instead of sent, and whose raw send stays reachable. */
function recordable(transport: Transport) {
  const recorded: Uint8Array[] = [];
  let recording = false;
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
    record(on: boolean) {
      recording = on;
    },
    take() {
      return recorded.splice(0);
    },
    rawSend: (bytes: Uint8Array, to: UnderlayAddress) => transport.send(bytes, bytes.length, to),
  };
}

/** Stops `tool` and waits until it has exited (its port free again). */
function stopped(tool: Tool): Promise<void> {
  return new Promise((resolve) => {
    tool.child.once('exit', () => resolve());
    tool.stop();
  });
}

/** Datagrams the engine's native fast path took, from its counters (0 without one). */
function fastPathTaken(counters: Record<string, unknown>): number {
  return (counters.fastPath as { taken?: number } | undefined)?.taken ?? 0;
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000) {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * The pipeline alone, in this process: `engine.handlePacket` on an in-memory engine whose link layer
 * send does nothing (no crypto, no socket): ns per packet, median of 5 rounds of 100,000.
 */
async function pipelineOnly(typeIOnly: boolean): Promise<(string | number)[][]> {
  const t = createTopology();
  const a = t.addHost('a', 0x0a);
  const b = t.addHost('b', 0x0b);
  const e1 = t.addEngine('e1', 0x101);
  await t.connect(a, e1);
  await t.connect(e1, b);
  (e1.linkLayer as { send: LinkLayer['send'] }).send = () => true;
  const link = e1.linkTo(a);
  const path = pathThrough([e1.engineId]);
  const rows: (string | number)[][] = [];
  const time = (make: (i: number) => Uint8Array, count: number, roundCount = 5) => {
    const packets = Array.from({ length: Math.min(count, 5000) }, (_, i) => make(i));
    const copy = new Uint8Array(2048);
    const rounds: number[] = [];
    for (let round = 0; round < roundCount; round++) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < count; i++) {
        const packet = packets[i % packets.length]!;
        copy.set(packet);
        e1.engine.handlePacket(link, copy, 0, packet.length);
      }
      rounds.push(Number(process.hrtime.bigint() - start) / count);
    }
    return Math.round(rounds.sort((x, y) => x - y)[Math.floor(rounds.length / 2)]!);
  };
  const flow = (label: number, program: typeof route) => {
    const first = buildPacket({
      source: a.hostId,
      destination: b.hostId,
      flowLabel: label,
      header: {
        nextHeader: 59,
        packetType: PacketType.I,
        flags: 0,
        auth: t.authorize(a.hostId, program.machineCode),
        path,
        code: program,
        data: new Uint8Array(8),
      },
    });
    e1.engine.handlePacket(link, first, 0, first.length);
    return buildPacket({
      source: a.hostId,
      destination: b.hostId,
      flowLabel: label,
      header: { nextHeader: 59, packetType: PacketType.III, flags: 0, path, data: new Uint8Array(8) },
      payload: new Uint8Array(64),
    });
  };
  if (!typeIOnly) {
    const cachedPacket = flow(1, route);
    const programPacket = flow(2, routeUncached);
    rows.push(['type III, cached action', time(() => cachedPacket, 100_000)]);
    rows.push(['type III, program per packet (fast tier)', time(() => programPacket, 100_000)]);
  }
  let label = 10;
  rows.push([
    'type I, new flow and authorization (Ed25519 verify, SHA-256)',
    time(
      () => {
        label++;
        return buildPacket({
          source: a.hostId,
          destination: b.hostId,
          flowLabel: label & 0xfffff,
          header: {
            nextHeader: 59,
            packetType: PacketType.I,
            flags: 0,
            auth: t.authorize(a.hostId, route.machineCode),
            path,
            code: route,
            data: new Uint8Array(8),
          },
        });
      },
      2000,
      1,
    ),
  ]);
  return rows;
}

export async function run(args: readonly string[] = []): Promise<void> {
  const options = parseEngineBenchArgs(args);
  const pipelineRows = await pipelineOnly(options.typeIOnly);
  const tool = buildUdpBench();
  const pinned = canPin();
  /** The forwarding side (native forwarder or engine) on CPU 1; sender and receiver on CPU 0. */
  const forwarderCpu = pinned ? 1 : undefined;
  const toolsCpu = pinned ? 0 : undefined;
  const controller = generateControllerKey();
  const controllerRaw = exportEd25519PublicKeyRaw(controller.publicKey);
  const materials = {
    a: makeIdentity('a', controller, NodeType.host),
    b: makeIdentity('b', controller, NodeType.host),
    e: makeIdentity('e', controller, NodeType.engine),
  };
  const open = () =>
    createUdpTransport({ host: '127.0.0.1', port: 0, receiveBufferBytes: 4 << 20, sendBufferBytes: 4 << 20 });
  const ta = recordable(await open());
  const tb = await open();
  const a = createLinkLayer(
    {
      identity: linkIdentity(materials.a, controllerRaw),
      keepAliveIntervalMs: BENCH_LINK_INTERVAL_MS,
      rekeyAfterMs: BENCH_LINK_INTERVAL_MS,
    },
    { transport: ta.transport, clock: systemClock },
  );
  const b = createLinkLayer(
    {
      identity: linkIdentity(materials.b, controllerRaw),
      keepAliveIntervalMs: BENCH_LINK_INTERVAL_MS,
      rekeyAfterMs: BENCH_LINK_INTERVAL_MS,
    },
    { transport: tb, clock: systemClock },
  );
  let bPackets = 0;
  b.onPacket(() => {
    bPackets++;
  });
  a.start();
  b.start();

  // The engine: links a → e and e → b over real handshakes, then b's socket is handed to the sink.
  const engine = await startChild(
    { mode: 'engine', identity: materials.e, controllerPublicKey: hex(controllerRaw), fastPath: FAST_PATH },
    forwarderCpu,
    options.profileDir,
  );
  const engineAddress = { host: '127.0.0.1', port: engine.port };
  a.connect(engineAddress);
  b.connect(engineAddress);
  const eHostId = unhex(materials.e.hostId);
  await waitFor(
    () => a.linkTo(eHostId)?.state === 'up' && b.linkTo(eHostId)?.state === 'up',
    'links to the engine',
  );
  const linkA = a.linkTo(eHostId)!.id;
  const aHostId = unhex(materials.a.hostId);
  const bHostId = unhex(materials.b.hostId);
  const engineId = (eHostId[14]! << 8) | eHostId[15]!;
  const path = {
    creationTime: 0,
    hopIndex: 0,
    defaultEntry: 0,
    hops: [{ engineId, entryIndex: 0, flags: 0 }],
  };
  const now = Math.floor(Date.now() / 1000);
  let serial = 1n;
  const authorize = (program: { machineCode: Uint8Array }) =>
    signFlowAuthorization(
      {
        serial: serial++,
        notBefore: now - 60,
        notAfter: now + 3600,
        domainId: 1,
        contractId: 1,
        roleId: 1,
        sourceHostId: aHostId,
        logicHash: createHash('sha256').update(program.machineCode).digest(),
      },
      controller,
    );
  const packet = (label: number, header: CapsuleHeader) =>
    buildPacket({
      source: aHostId,
      destination: bHostId,
      flowLabel: label,
      header,
      payload: new Uint8Array(64),
    });
  const typeI = (label: number, program: typeof route, auth: Uint8Array) =>
    packet(label, {
      nextHeader: 59,
      packetType: PacketType.I,
      flags: 0,
      auth,
      path,
      code: program,
      data: new Uint8Array(8),
    });
  const typeIII = (label: number) =>
    packet(label, { nextHeader: 59, packetType: PacketType.III, flags: 0, path, data: new Uint8Array(8) });
  const sendLive = (p: Uint8Array) => a.send(linkA, p, 0, p.length);
  // Flows 1 (cached route) and 2 (route without CACHE) established live, then b's socket goes to the sink.
  sendLive(typeI(1, route, authorize(route)));
  sendLive(typeI(2, routeUncached, authorize(routeUncached)));
  await waitFor(() => bPackets >= 2, 'the first packets at b');
  const sinkPort = tb.local.port;
  b.stop();
  await tb.close();
  let sink = startProcess(tool, ['sink', String(sinkPort)], toolsCpu);
  await sink.next();
  const forwarder = startProcess(tool, ['forward', String(sinkPort)], forwarderCpu);
  const batchedForwarder = startProcess(tool, ['forward', String(sinkPort), 'batched'], forwarderCpu);
  const forwarderPorts = {
    single: (await forwarder.next()).port!,
    batched: (await batchedForwarder.next()).port!,
  };
  let forwarderPort = forwarderPorts.single;

  /** The tools' mode: [] per datagram, ['batched'] for UDP GSO and GRO (bench/native/udp-bench.cc). */
  let batching: string[] = [];
  /** Switches the blaster, the sink (restarted on its port) and the baseline forwarder to `mode`. */
  const useTools = async (mode: 'single' | 'batched') => {
    batching = mode === 'batched' ? ['batched'] : [];
    forwarderPort = forwarderPorts[mode];
    await stopped(sink);
    sink = startProcess(tool, ['sink', String(sinkPort), ...batching], toolsCpu);
    await sink.next();
  };
  /** Seals `packets` through a's link layer without sending them (recorded frames), into a file. */
  let files = 0;
  const seal = (packets: Uint8Array[]) => {
    ta.record(true);
    for (const p of packets) a.send(linkA, p, 0, p.length);
    ta.record(false);
    const frames = ta.take();
    return { path: writeDatagramFile(`frames-${files++}`, frames), count: frames.length };
  };
  /** One burst from the blaster to `port`; packets/s as the sink saw them (first to last). */
  const burst = async (port: number, file: { path: string; count: number }) => {
    const blaster = startProcess(tool, ['blast', String(port), file.path, ...batching], toolsCpu);
    const sent = await blaster.next();
    const got = await sink.next();
    return { pps: got.seconds! > 0 ? got.count! / got.seconds! : 0, delivered: got.count!, sent: sent.sent! };
  };
  const rows: (string | number)[][] = [];
  const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
  const results: Record<string, { pps: number; ratio: number }> = {};
  /**
   * ROUNDS paired rounds: the native forwarder, then the engine, each a burst of the same frames
   * (new counters for the engine each round), so both see the same load. Packets/s are medians,
   * the ratio the median of the rounds' ratios.
   */
  const trials = async (key: string, name: string, make: () => Uint8Array[]) => {
    const base: number[] = [];
    const mine: number[] = [];
    let delivered = 0;
    let sent = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const file = seal(make());
      base.push((await burst(forwarderPort, file)).pps);
      const result = await burst(engine.port, file);
      mine.push(result.pps);
      delivered += result.delivered;
      sent += result.sent;
      unlinkSync(file.path);
    }
    const ratios = mine.map((pps, k) => pps / base[k]!);
    results[key] = { pps: median(mine), ratio: median(ratios) };
    rows.push([
      name,
      Math.round(median(mine)),
      Math.round(median(base)),
      `${Math.round(100 * median(ratios))}% (${ratios.map((r) => Math.round(100 * r)).join(', ')})`,
      `${delivered}/${sent}`,
    ]);
  };
  const engineCounters = () =>
    new Promise<
      Record<string, unknown> & { cpuMicros: number; systemCpuMicros: number; authorizationsVerified: number }
    >((resolve) => {
      engine.child.once('message', (m) =>
        resolve(
          (
            m as {
              counters: Record<string, unknown> & {
                cpuMicros: number;
                systemCpuMicros: number;
                authorizationsVerified: number;
              };
            }
          ).counters,
        ),
      );
      engine.child.send({ counters: true });
    });
  /** Engine CPU µs per frame forwarded in the batched case (undefined: not run). */
  let batchedCpuMicros: number | undefined;
  // Warm-up (JIT), not reported.
  await burst(engine.port, seal(Array.from({ length: 20_000 }, () => typeIII(1))));
  if (!options.typeIOnly) {
    await trials('cached', 'type III, cached action', () =>
      Array.from({ length: COUNTS.cached }, () => typeIII(1)),
    );
    await trials('program', 'type III, program per packet', () =>
      Array.from({ length: COUNTS.program }, () => typeIII(2)),
    );
    // Batched: the blaster sends runs of 64 frames as UDP GSO buffers, as an agent's socket does,
    // and the engine (its socket sets UDP_GRO) receives each run whole; the sink and the baseline
    // forwarder batch too (UDP_GRO in, UDP_SEGMENT out). Before type I, whose 20,000 new flows
    // from one source push flow 1 out of the engine's table (its per-source quota).
    await useTools('batched');
    const before = await engineCounters();
    await trials('batched', 'type III, cached action, senders batching (UDP GSO in, GRO)', () =>
      Array.from({ length: COUNTS.batched }, () => typeIII(1)),
    );
    const after = await engineCounters();
    await useTools('single');
    // Its CPU time per frame it forwarded: what one core does, however short the bursts.
    const forwarded = Math.max(1, fastPathTaken(after) - fastPathTaken(before));
    batchedCpuMicros = (after.cpuMicros - before.cpuMicros) / forwarded;
  }
  let label = 1000;
  // Type I: the engine on both CPUs, where its verifier thread checks signatures beside Node's
  // loop (the blaster, on CPU 0, is done in a fraction of the burst).
  if (forwarderCpu !== undefined) pinProcess(engine.child.pid!, '0,1');
  const beforeTypeI = await engineCounters();
  await trials('typeI', 'type I (new flow and authorization each packet)', () =>
    Array.from({ length: COUNTS.typeI }, () => typeI(label++ & 0xfffff, route, authorize(route))),
  );
  const counters = await engineCounters();
  // The engine's CPU time per type I packet it took in (each one authorization verified): what one
  // core can do, whatever the machine's load did to the wall-clock rate.
  const typeIVerified = Math.max(1, counters.authorizationsVerified - beforeTypeI.authorizationsVerified);
  const typeIFlowMicros = (counters.cpuMicros - beforeTypeI.cpuMicros) / typeIVerified;
  const typeISystemMicros = (counters.systemCpuMicros - beforeTypeI.systemCpuMicros) / typeIVerified;
  const typeICpuLine = `engine CPU per type I flow: ${typeIFlowMicros.toFixed(1)} µs, ${typeISystemMicros.toFixed(
    1,
  )} of it in the kernel, all its threads (a core's worth of CPU time: ${Math.round(1e6 / typeIFlowMicros)} flows/s)`;
  engine.child.disconnect();
  sink.stop();
  forwarder.stop();
  batchedForwarder.stop();
  a.stop();
  await ta.transport.close();

  process.stdout.write(`${rows.map((r) => r.join('  ')).join('\n')}\n${typeICpuLine}\n`);
  const load = loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');
  if (options.typeIOnly) {
    process.stdout.write(
      `${pipelineRows.map((r) => r.join('  ')).join('\n')}\nload average ${load}; engine counters ${JSON.stringify(
        {
          authorizationsVerified: counters.authorizationsVerified,
          drops: counters.drops,
          linkDrops: counters.linkDrops,
          signatures: (counters.fastPath as { signatures?: unknown } | undefined)?.signatures,
        },
      )}\n`,
    );
    return; // a partial run: not the section's figures
  }
  const verdict = (ok: boolean) => (ok ? 'met' : 'not met');
  // ≥ 1 Mpps on one core: the sink's rate and the engine's own CPU time per frame (the sink's
  // first-to-last window can leave out the engine's work before the first frame and after the
  // last; the CPU time leaves out nothing the engine did).
  const megaPacket = results.batched!.pps >= 1e6 && batchedCpuMicros !== undefined && batchedCpuMicros <= 1;
  const cached = results.cached!;
  const batched = results.batched!;
  const program = results.program!;
  const typeIFlows = results.typeI!;
  writePerformanceSection(
    'engine',
    'Engine: packets per second on loopback UDP',
    'npm run bench -- engine',
    [
      `Load average while measuring: ${load}. Fast path: ${FAST_PATH ? 'on' : 'off'}; ${
        pinned
          ? 'the forwarding process pinned to CPU 1, sender and receiver to CPU 0 (taskset); for the type I case the engine process is let onto both CPUs, where its signature thread verifies a receive batch\'s type I signatures beside Node\'s loop (docs/engine.md, "Type I signatures verified ahead")'
          : 'no pinning'
      }.`,
      '',
      'One engine in its own process (native batched UDP transport) between a sender and a receiver on',
      '127.0.0.1. The baseline is a native forwarder written for the bench (bench/native/udp-bench.cc:',
      '`recvmmsg` of up to 64 datagrams, `sendmmsg` of them unchanged, nothing else) in the same',
      'position, in the same run. Sender and receiver are the same program: the sender replays a file',
      'of link frames sealed beforehand by a real link layer as fast as `sendmmsg` goes (64 per call),',
      'the receiver counts, and packets/s are what arrived over the time from the first to the last;',
      'what the forwarding side could not take is lost in its socket buffer, so the rate is its',
      'capacity. Inner packets: IPv6 + capsule header (PATH, DATA 8 B) + 64 B sealed payload.',
      "In the last case all three batch as an agent's socket does: the sender sends each run of 64",
      'frames as one UDP GSO buffer, which loopback hands whole to the engine (its socket sets',
      'UDP_GRO); the sink and the forwarder set UDP_GRO too, and the forwarder sends each run on as',
      "it came (one `UDP_SEGMENT` buffer): its work is per run, the engine's still per frame (tag",
      'check, flow, reseal). The engine stays on one CPU.',
      '',
      `Each case runs ${ROUNDS} paired rounds (native forwarder, then engine, on the same frames; new`,
      "counters each round), packets/s are medians, the ratio is the median of the rounds' ratios",
      '(each in brackets); delivered = datagrams the receiver counted of those the sender sent to the engine.',
      '',
      markdownTable(
        ['case', 'engine packets/s', 'native forwarder packets/s', 'of the forwarder', 'delivered'],
        rows,
      ),
      '',
      `Targets: type III cached ≥ 70% of the forwarder: ${Math.round(100 * cached.ratio)}% (${verdict(
        cached.ratio >= 0.7,
      )}); ≥ 1 Mpps on one core: ${Math.round(cached.pps)} packets/s per datagram, ${Math.round(
        batched.pps,
      )} with the senders batching, and by the engine's CPU time per frame forwarded then ${
        batchedCpuMicros === undefined
          ? 'not measured'
          : `${batchedCpuMicros.toFixed(2)} µs, a core's worth ${Math.round(1e6 / batchedCpuMicros)} packets/s`
      } (${verdict(megaPacket)}: both ≥ 1 Mpps); program per packet ≥ 50%: ${Math.round(
        100 * program.ratio,
      )}% (${verdict(program.ratio >= 0.5)}); type I ≥ 20,000 flows/s: ${Math.round(typeIFlows.pps)} (${verdict(
        typeIFlows.pps >= 20_000,
      )}).`,
      `Type I, ${typeICpuLine} (its process's user + system CPU time over the type I rounds, divided by`,
      'the authorizations it verified: packets lost in the socket buffer cost it nothing).',
      `Engine counters after the run: ${JSON.stringify({
        programRuns: counters.programRuns,
        cachedActions: counters.cachedActions,
        authorizationsVerified: counters.authorizationsVerified,
        drops: counters.drops,
        linkDrops: counters.linkDrops,
        fastPath: counters.fastPath,
      })}.`,
      '',
      "The pipeline alone (`engine.handlePacket` in this process, the link layer's send replaced by a",
      'no-op: no MAC, no socket), ns per packet, median of 5 rounds of 100,000 (type I: one round of',
      '2,000 new flows):',
      '',
      markdownTable(['packet', 'ns/packet'], pipelineRows),
    ].join('\n'),
  );
}

if (process.env.CAPSULE_ENGINE_BENCH_CHILD) await runChild();
