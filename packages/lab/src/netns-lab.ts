/**
 * A lab in network namespaces (root only): the underlay (bridge + veth), then the real daemons
 * from the CLI bundle inside `ip netns exec` — the controller, the engines, the hosts' agents with
 * their TUN devices — each waited for until the controller lists it as registered. Teardown works
 * from the state file alone (see lab-state.ts), from any process, after a crash too.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certificateSha256, formatCertificateSha256 } from '@capsule/identity';
import YAML from 'yaml';
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
import { type LabState, type NodeRecord, readLabState, stateFilePath, writeLabState } from './lab-state';
import {
  bridgeName,
  createBridge,
  createNodeNamespace,
  deleteLink,
  deleteNamespace,
  linkExists,
  listNamespaces,
  namespaceName,
  raiseSocketBufferLimits,
  restoreSysctls,
  vethName,
} from './netns';
import { isRunning, startProcess, stopProcesses, waitUntilReady } from './supervisor';
import { ipv4ToNumber, numberToIpv4, type Topology, type TopologyNode } from './topology';

/** Ports the daemons use inside their namespaces. */
export const labPorts = {
  northbound: 8700,
  southbound: 8701,
  overlay: 7447,
  engineHttp: 9447,
};

/**
 * The agent REST API's Unix socket of a lab agent whose data dir is `agentDataDir` (the namespaces
 * share the file system, so each agent has its own path; no TCP listener in the lab). The lab's
 * agents keep their data in `<node dir>/data`.
 */
export function agentSocketPath(agentDataDir: string): string {
  return join(agentDataDir, 'agent.sock');
}

/**
 * The link keep-alive interval of every engine and agent in the lab (the same on both ends of a
 * link): a link is dead after 3 silent intervals, so a cut underlay is noticed in about 1.5 s.
 */
export const labLinkKeepAliveIntervalMs = 500;

/**
 * Node flags of every daemon the lab starts (as the package's /usr/bin/capsule passes them):
 * V8's memory reducer runs full, compacting collections when a process goes quiet after work —
 * 13–36 ms on this project's machines, and the fast path runs on the same thread, so a ping that
 * comes then waits for them (docs/performance.md, "Where a ping's round trip goes").
 */
export const daemonNodeFlags: readonly string[] = ['--no-memory-reducer'];

/** How to run the daemons, and where the lab keeps its files. */
export interface NetnsLabOptions {
  /** The lab's data dir (state file, per-node dirs, logs). */
  dataDir: string;
  /** The CLI entry (`packages/cli/bin/capsule.js`). */
  cliPath: string;
  /** The node binary (process.execPath). */
  nodePath: string;
  /** The environment daemons inherit (PATH etc.). */
  env: Readonly<Record<string, string | undefined>>;
  /** Progress lines. */
  progress?: (line: string) => void;
  /** How long one daemon may take to become ready. */
  readyTimeoutMs?: number;
}

/** True when this process may build namespaces. */
export function canBuildNamespaces(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function gatewayCidr(topology: Topology): string {
  const base = ipv4ToNumber(topology.underlay.split('/')[0]!)!;
  const mask = (0xffffffff << (32 - topology.prefixLength)) >>> 0;
  return `${numberToIpv4(((base & mask) >>> 0) + 1)}/${topology.prefixLength}`;
}

/**
 * The URLs of the controller of a topology (its underlay address): HTTPS, the controller's
 * default; every client in the lab pins the controller's certificate (`caSha256`).
 */
export function controllerUrls(topology: Topology) {
  const controller = topology.nodes.find((node) => node.kind === 'controller')!;
  return {
    northboundUrl: `https://${controller.address}:${labPorts.northbound}`,
    southboundUrl: `https://${controller.address}:${labPorts.southbound}`,
  };
}

/**
 * The pin of the certificate a controller made in its data dir at its first start
 * (`tls-cert.pem`, see `capsule controller start`), as hex; undefined while it is not written yet.
 */
export function controllerCertificatePin(controllerDataDir: string): string | undefined {
  let pem: string;
  try {
    pem = readFileSync(join(controllerDataDir, 'tls-cert.pem'), 'utf8');
  } catch {
    return undefined;
  }
  if (!pem.includes('-----END CERTIFICATE-----')) return undefined;
  return formatCertificateSha256(certificateSha256(pem));
}

/**
 * The engine config (`capsule engine start --config`) of a node; see examples/engine.yaml.
 * `caSha256` pins the controller's certificate.
 */
export function engineConfig(
  topology: Topology,
  node: TopologyNode,
  dir: string,
  nodePassword: string,
  caSha256: string,
) {
  return {
    controller: {
      url: controllerUrls(topology).southboundUrl,
      domain: labNames.engineDomain,
      username: labNames.engineUser,
      password: nodePassword,
      caSha256,
    },
    hostname: node.name,
    dataDir: dir,
    listen: `${node.address}:${labPorts.overlay}`,
    // No peers, costs or tags: the lab declares the links at the controller, which tells each
    // engine its link set and computes the tag bits programs read.
    metrics: `${node.address}:${labPorts.engineHttp}`,
    ...(node.flowCapacity !== undefined && { flowCapacity: node.flowCapacity }),
    linkKeepAliveIntervalMs: labLinkKeepAliveIntervalMs,
    cgaSec: 0,
    logLevel: 'info',
  };
}

/**
 * The agent config (`capsule agent start --config`) of a host; see examples/agent.yaml.
 * `caSha256` pins the controller's certificate.
 */
export function agentConfig(
  topology: Topology,
  node: TopologyNode,
  dir: string,
  nodePassword: string,
  caSha256: string,
) {
  return {
    hostName: node.name,
    controller: { url: controllerUrls(topology).southboundUrl, caSha256 },
    user: labNames.hostUser,
    password: nodePassword,
    domain: labNames.hostDomain,
    dataDir: dir,
    listen: `${node.address}:${labPorts.overlay}`,
    // The engines to attach to come from the controller's link set (the lab declares the attachments).
    rest: { socket: agentSocketPath(dir) },
    // No upstreams: a lab host's resolver answers .capsule names only (other names REFUSED), so
    // nothing is forwarded to the machine's own nameservers from inside the lab.
    resolver: { listen: '127.0.0.53:53', upstreams: [] },
    tun: {
      name: 'capsule0',
      mode: 'tun',
      mtu: 1280,
      ipv4Address: node.overlayIpv4,
      ipv4AliasPrefix: '100.101.0.0/16',
    },
    linkKeepAliveIntervalMs: labLinkKeepAliveIntervalMs,
    cgaSec: 0,
    logLevel: 'info',
  };
}

/** Builds the lab and starts every daemon; resolves when every node is registered. */
export async function netnsLabUp(topology: Topology, options: NetnsLabOptions): Promise<LabState> {
  const progress = options.progress ?? (() => {});
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  if (!canBuildNamespaces())
    throw new LabError('LAB_NEEDS_ROOT', 'network namespaces need root (without it, use the in-process lab)');
  if (readLabState(options.dataDir))
    throw new LabError(
      'LAB_ALREADY_UP',
      `a lab is recorded in ${stateFilePath(options.dataDir)}: run 'capsule lab down' first`,
    );
  const bridge = bridgeName(topology.name);
  const taken = listNamespaces().filter((ns) => ns.startsWith(`cpl-${topology.name}-`));
  if (taken.length > 0 || linkExists(bridge))
    throw new LabError(
      'LAB_ALREADY_UP',
      `lab '${topology.name}' already has ${[...taken, ...(linkExists(bridge) ? [bridge] : [])].join(', ')} ` +
        `(another data dir?): run 'capsule lab down' there first`,
    );
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const state: LabState = {
    version: 1,
    name: topology.name,
    mode: 'netns',
    createdAt: new Date().toISOString(),
    dataDir: options.dataDir,
    topology,
    namespaces: [],
    rootLinks: [],
    processes: [],
    nodes: [],
  };
  try {
    // 1. Underlay. Recorded before it is made, so a crash in between still gets cleaned up.
    progress(`underlay: bridge ${bridge} ${gatewayCidr(topology)}`);
    state.rootLinks.push(bridge);
    writeLabState(state);
    createBridge(bridge, gatewayCidr(topology));
    for (const node of topology.nodes) {
      const namespace = namespaceName(topology.name, node.name);
      const veth = vethName(topology.name, node.name);
      const dir = join(options.dataDir, node.name);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      state.namespaces.push(namespace);
      state.rootLinks.push(veth);
      state.nodes.push({ name: node.name, kind: node.kind, address: node.address, namespace, dir });
      writeLabState(state);
      createNodeNamespace(namespace, veth, bridge, `${node.address}/${topology.prefixLength}`);
    }
    progress(`underlay: ${topology.nodes.length} namespaces on ${topology.underlay}`);
    // The daemons ask for 8 MiB overlay socket buffers; the kernel caps them at these (global) limits.
    state.sysctls = [];
    for (const change of raiseSocketBufferLimits(undefined, (raised) => {
      state.sysctls!.push(raised);
      writeLabState(state);
    }))
      progress(`sysctl: ${change}`);

    // 2. The controller, then the lab's domains, zone and node users.
    const adminPassword = randomBytes(12).toString('base64url');
    const nodePassword = randomBytes(12).toString('base64url');
    const urls = controllerUrls(topology);
    state.controller = { ...urls, adminPassword, nodePassword };
    const controllerNode = state.nodes.find((node) => node.kind === 'controller')!;
    const controllerAddress = controllerNode.address;
    const controllerProcess = spawnDaemon(
      state,
      options,
      controllerNode,
      [
        'controller',
        'start',
        '--data-dir',
        controllerNode.dir,
        '--listen',
        `${controllerAddress}:${labPorts.northbound}`,
        '--southbound-listen',
        `${controllerAddress}:${labPorts.southbound}`,
      ],
      { CAPSULE_ADMIN_PASSWORD: adminPassword },
    );
    // TLS, the default: the controller makes its certificate at its first start; the lab pins it
    // (the admin client here, and every engine's and agent's config).
    let caSha256: string | undefined;
    await waitUntilReady(
      controllerProcess,
      'northbound API over TLS',
      async () => {
        caSha256 = controllerCertificatePin(controllerNode.dir);
        return (
          caSha256 !== undefined && Boolean(await adminClient(urls.northboundUrl, adminPassword, caSha256))
        );
      },
      readyTimeoutMs,
    );
    state.controller.caSha256 = caSha256!;
    writeLabState(state);
    const admin = await adminClient(urls.northboundUrl, adminPassword, caSha256);
    await bootstrapController(admin, nodePassword);
    progress(`controller ${controllerNode.name}: ${urls.northboundUrl} (certificate sha256 ${caSha256})`);

    // 3. Engines, then hosts; each is ready once the controller lists it as registered.
    for (const kind of ['engine', 'host'] as const) {
      const started = [];
      for (const node of state.nodes.filter((n) => n.kind === kind)) {
        const spec = topology.nodes.find((n) => n.name === node.name)!;
        const configFile = join(node.dir, `${kind === 'engine' ? 'engine' : 'agent'}.yaml`);
        const config =
          kind === 'engine'
            ? engineConfig(topology, spec, join(node.dir, 'data'), nodePassword, caSha256!)
            : agentConfig(topology, spec, join(node.dir, 'data'), nodePassword, caSha256!);
        writeFileSync(configFile, YAML.stringify(config), { mode: 0o600 });
        started.push({
          node,
          record: spawnDaemon(state, options, node, [
            kind === 'engine' ? 'engine' : 'agent',
            'start',
            '--config',
            configFile,
          ]),
        });
      }
      for (const { node, record } of started) {
        await waitUntilReady(
          record,
          'registration with the controller',
          async () => (await registeredNodes(admin)).has(node.name),
          readyTimeoutMs,
        );
        progress(`${kind} ${node.name} (${node.address}): registered`);
      }
      // The topology, declared at the controller as an administrator would: engine links (with
      // their costs and labels) once the engines run, each host's attachments once it runs.
      if (kind === 'engine') {
        await applyLabels(admin, topology, readyTimeoutMs);
        await declareEngineLinks(admin, topology, readyTimeoutMs);
        progress(`links declared at the controller: ${topology.links.length} between engines`);
      } else {
        await declareAttachments(
          admin,
          topology,
          started.map(({ node }) => node.name),
          readyTimeoutMs,
        );
        progress('host attachments declared at the controller');
      }
    }
    await waitForDeclaredLinks(admin, topology, readyTimeoutMs);
    progress('every declared link up');
    return state;
  } catch (error) {
    progress(
      `lab up failed: ${(error as Error).message.split('\n')[0]}; tearing down (daemon logs kept: ${join(options.dataDir, '*.log')})`,
    );
    await labDown(options.dataDir, { keepLogs: true });
    throw error;
  }
}

/**
 * Adds an engine to a running netns lab: its namespace on the lab's bridge (the next free address
 * of the segment), its config — the controller, the node credentials and its locator, nothing
 * about peers — and the daemon, recorded in the state file (so `labDown` removes it); resolves
 * once the controller lists it as registered. Linking it is the administrator's part (one
 * `POST /api/v1/links`, or none in a zone with a full mesh).
 */
export async function netnsLabAddEngine(
  dataDir: string,
  name: string,
  options: Pick<NetnsLabOptions, 'cliPath' | 'nodePath' | 'env' | 'readyTimeoutMs'>,
): Promise<NodeRecord> {
  const state = readLabState(dataDir);
  if (state?.mode !== 'netns' || !state.controller?.caSha256)
    throw new LabError('LAB_NOT_UP', `no netns lab recorded in ${stateFilePath(dataDir)}`);
  if (state.nodes.some((node) => node.name === name))
    throw new LabError('LAB_BAD_TOPOLOGY', `the lab has a node named ${name} already`);
  const { topology } = state;
  const [base, length] = topology.underlay.split('/') as [string, string];
  const network = ipv4ToNumber(base)! & ((0xffffffff << (32 - Number(length))) >>> 0);
  const used = new Set(state.nodes.map((node) => ipv4ToNumber(node.address)));
  let next = (network + 2) >>> 0;
  while (used.has(next)) next += 1;
  if (next >= network + 2 ** (32 - Number(length)) - 1)
    throw new LabError('LAB_BAD_TOPOLOGY', `${topology.underlay} has no free address for ${name}`);
  const spec: TopologyNode = {
    name,
    kind: 'engine',
    address: numberToIpv4(next),
    engines: [],
    overlayIpv4: '',
    labels: [],
  };
  const namespace = namespaceName(topology.name, name);
  const veth = vethName(topology.name, name);
  const dir = join(dataDir, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const node: NodeRecord = { name, kind: 'engine', address: spec.address, namespace, dir };
  state.namespaces.push(namespace);
  state.rootLinks.push(veth);
  state.nodes.push(node);
  const grown = { ...state, topology: { ...topology, nodes: [...topology.nodes, spec] } };
  writeLabState(grown);
  createNodeNamespace(namespace, veth, bridgeName(topology.name), `${spec.address}/${topology.prefixLength}`);
  const configFile = join(dir, 'engine.yaml');
  const config = engineConfig(
    grown.topology,
    spec,
    join(dir, 'data'),
    state.controller.nodePassword,
    state.controller.caSha256,
  );
  writeFileSync(configFile, YAML.stringify(config), { mode: 0o600 });
  const record = spawnDaemon(grown, { ...options, dataDir }, node, [
    'engine',
    'start',
    '--config',
    configFile,
  ]);
  const admin = await adminClient(
    state.controller.northboundUrl,
    state.controller.adminPassword,
    state.controller.caSha256,
  );
  await waitUntilReady(
    record,
    'registration with the controller',
    async () => (await registeredNodes(admin)).has(name),
    options.readyTimeoutMs ?? 60_000,
  );
  return node;
}

function spawnDaemon(
  state: LabState,
  options: NetnsLabOptions,
  node: NodeRecord,
  args: string[],
  extraEnv: Record<string, string> = {},
) {
  const argv = [
    'ip',
    'netns',
    'exec',
    node.namespace!,
    options.nodePath,
    ...daemonNodeFlags,
    options.cliPath,
    ...args,
  ];
  const record = startProcess(
    node.name,
    argv,
    join(state.dataDir, `${node.name}.log`),
    { ...options.env, ...extraEnv },
    node.dir,
  );
  state.processes.push(record);
  writeLabState(state);
  return record;
}

/** What `labDown` removed, and anything it could not. */
export interface TeardownReport {
  processesStopped: number;
  namespacesDeleted: number;
  linksDeleted: number;
  /** Machine-wide sysctls put back (`net.core.rmem_max 8388608 -> 212992`). */
  sysctlsRestored: string[];
  leftovers: string[];
}

/**
 * Tears down the lab recorded in `dataDir`: stops its processes (SIGTERM, then SIGKILL), deletes
 * its namespaces and root links, removes the data dir (or keeps the logs), and checks nothing is
 * left. Without a state file it is a no-op.
 */
export async function labDown(
  dataDir: string,
  options: { keepLogs?: boolean } = {},
): Promise<TeardownReport> {
  const state = readLabState(dataDir);
  const report: TeardownReport = {
    processesStopped: 0,
    namespacesDeleted: 0,
    linksDeleted: 0,
    sysctlsRestored: [],
    leftovers: [],
  };
  if (!state) return report;
  // Never this process (an in-process lab records its own pid; its owner stops it).
  const processes = state.processes.filter((record) => record.pid !== process.pid);
  report.processesStopped = processes.filter(isRunning).length;
  await stopProcesses(processes);
  for (const namespace of state.namespaces) {
    const existed = listNamespaces().includes(namespace);
    deleteNamespace(namespace);
    if (existed) report.namespacesDeleted += 1;
  }
  for (const link of [...state.rootLinks].reverse()) {
    const existed = linkExists(link);
    deleteLink(link);
    if (existed) report.linksDeleted += 1;
  }
  report.sysctlsRestored = restoreSysctls(state.sysctls ?? []);
  report.leftovers = leftoversOf(state);
  if (report.leftovers.length === 0) {
    if (options.keepLogs) {
      for (const node of state.nodes) rmSync(node.dir, { recursive: true, force: true });
      rmSync(stateFilePath(dataDir), { force: true });
    } else rmSync(dataDir, { recursive: true, force: true });
  }
  return report;
}

/** What of a lab still exists: live processes, namespaces, root links. */
export function leftoversOf(state: LabState): string[] {
  const leftovers: string[] = [];
  for (const record of state.processes)
    if (record.pid !== process.pid && isRunning(record))
      leftovers.push(`process ${record.pid} (${record.node})`);
  if (state.mode === 'netns') {
    const namespaces = listNamespaces();
    for (const namespace of namespaces)
      if (state.namespaces.includes(namespace) || namespace.startsWith(`cpl-${state.name}-`))
        leftovers.push(`namespace ${namespace}`);
    for (const link of state.rootLinks) if (linkExists(link)) leftovers.push(`link ${link}`);
  }
  return leftovers;
}

/** Runs `argv` in a node's namespace with the caller's stdio; resolves to its exit code. */
export function labExec(dataDir: string, nodeName: string, argv: readonly string[]): number {
  const state = readLabState(dataDir);
  if (!state) throw new LabError('LAB_NOT_UP', `no lab recorded in ${dataDir}: run 'capsule lab up'`);
  const node = state.nodes.find((n) => n.name === nodeName);
  if (!node)
    throw new LabError(
      'LAB_NO_SUCH_NODE',
      `no node '${nodeName}' (nodes: ${state.nodes.map((n) => n.name).join(', ')})`,
    );
  if (!node.namespace)
    throw new LabError(
      'LAB_NO_SUCH_NODE',
      `the ${state.mode} lab has no namespaces: exec needs the netns lab (root)`,
    );
  if (!existsSync(`/run/netns/${node.namespace}`))
    throw new LabError('LAB_NOT_UP', `namespace ${node.namespace} is gone: run 'capsule lab down', then up`);
  const result = spawnSync('ip', ['netns', 'exec', node.namespace, ...argv], { stdio: 'inherit' });
  if (result.error) throw new LabError('LAB_COMMAND_FAILED', result.error.message);
  return result.status ?? 128 + 1;
}
