/**
 * The lab's topology file (YAML): which nodes exist, how engines link with what cost, which engine
 * each host attaches to, and the underlay segment they all sit on. `parseTopology` validates the
 * whole file once and returns a `Topology` with every default filled in and every address
 * assigned; nothing downstream re-checks it.
 *
 * ```yaml
 * name: default              # [a-z0-9-], at most 12 characters (namespace and interface names)
 * underlay: 10.77.0.0/24     # IPv4 segment of the bridge; /8 to /28
 * controller: { name: ctl }
 * engines: [{ name: e1 }, { name: e2, labels: [waypoint], flowCapacity: 16384 }]
 * links:                     # overlay links between engines; cost ≥ 1 (default 1)
 *   - { between: [e1, e2], cost: 10, labels: [fast] }
 * ```
 *
 * Nothing in it is configured on an engine: links, costs and labels are declared at the
 * controller, which computes the tag bits programs read (docs/controller.md, "Role routes").
 * Tag bits of the file's earlier versions (`tags`, `linkTags`) are refused, saying so.
 *
 * ```yaml
 * hosts:
 *   - { name: h1, engines: [e1] }
 * ```
 */
import YAML from 'yaml';
import { LabError } from './errors';

/** The kinds of node a lab runs. */
export type NodeKind = 'controller' | 'engine' | 'host';

/** One node with its underlay address (assigned in file order when not given). */
export interface TopologyNode {
  readonly name: string;
  readonly kind: NodeKind;
  /** Underlay IPv4 address on the lab segment. */
  readonly address: string;
  /** Hosts: the engines the host's agent links to, by name. */
  readonly engines: readonly string[];
  /** Hosts: the IPv4 overlay address of the host's TUN (100.100.0.N). */
  readonly overlayIpv4: string;
  /** Engines: live flows at most (the engine's `flowCapacity`); undefined: the engine's default. */
  readonly flowCapacity?: number;
  /** Engines: labels the lab sets on the engine's node at the controller (as an administrator). */
  readonly labels: readonly string[];
}

/** An overlay link between two engines. */
export interface TopologyLink {
  readonly a: string;
  readonly z: string;
  readonly cost: number;
  /** Labels the lab sets on the link at the controller (as an administrator). */
  readonly labels: readonly string[];
}

/** A validated topology. */
export interface Topology {
  readonly name: string;
  /** The underlay segment, `A.B.C.D/len`. */
  readonly underlay: string;
  readonly prefixLength: number;
  /** Controller first, then engines, then hosts (file order within each kind). */
  readonly nodes: readonly TopologyNode[];
  readonly links: readonly TopologyLink[];
}

const namePattern = /^[a-z][a-z0-9-]{0,11}$/;

function fail(where: string, message: string): never {
  throw new LabError('LAB_BAD_TOPOLOGY', `${where}: ${message}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(where: string, value: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(value))
    if (!allowed.includes(key)) fail(where, `unknown key '${key}' (allowed: ${allowed.join(', ')})`);
}

function nameOf(where: string, value: unknown): string {
  if (typeof value !== 'string' || !namePattern.test(value))
    fail(where, `a name is [a-z][a-z0-9-]*, at most 12 characters, not ${JSON.stringify(value)}`);
  return value;
}

/** Tag bits are the controller's now: a topology naming them is refused, saying what replaces them. */
function refuseTags(where: string, value: Record<string, unknown>): void {
  for (const key of ['tags', 'linkTags'])
    if (key in value)
      fail(
        `${where}.${key}`,
        'tag bits are no longer configured: the controller computes them from role members and labels (give the node or link `labels` and name them in the contract: docs/controller.md, "Role routes")',
      );
}

/** A controller label: the API's pattern (`Label` in @capsule/api). */
const labelPattern = /^[A-Za-z0-9._-]{1,40}$/;

function labelsOf(where: string, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 16) fail(where, 'labels is a list of at most 16 labels');
  const labels = value.map((label, i) => {
    if (typeof label !== 'string' || !labelPattern.test(label))
      fail(`${where}[${i}]`, 'a label is 1..40 of [A-Za-z0-9._-]');
    return label;
  });
  if (new Set(labels).size !== labels.length) fail(where, 'a label is given twice');
  return labels;
}

/** Parses dotted IPv4 text into a 32-bit number, or undefined. */
export function ipv4ToNumber(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

/** Formats a 32-bit number as dotted IPv4 text. */
export function numberToIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** Validates a topology given as data (the parsed YAML). */
export function validateTopology(input: unknown): Topology {
  if (!isRecord(input)) fail('topology', 'expected a mapping with name, controller, engines, hosts');
  onlyKeys('topology', input, ['name', 'underlay', 'controller', 'engines', 'links', 'hosts']);
  const name = nameOf('name', input.name ?? 'lab');
  const underlayText = input.underlay ?? '10.77.0.0/24';
  const underlayMatch = typeof underlayText === 'string' ? /^([\d.]+)\/(\d{1,2})$/.exec(underlayText) : null;
  const base = underlayMatch ? ipv4ToNumber(underlayMatch[1]!) : undefined;
  const prefixLength = Number(underlayMatch?.[2]);
  if (base === undefined || !(prefixLength >= 8 && prefixLength <= 28))
    fail('underlay', `expected an IPv4 prefix A.B.C.D/8..28, not ${JSON.stringify(underlayText)}`);
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  const network = (base & mask) >>> 0;
  const size = 2 ** (32 - prefixLength);

  const seen = new Set<string>();
  const used = new Set<number>();
  interface Draft {
    name: string;
    kind: NodeKind;
    engines: string[];
    address?: number;
    flowCapacity?: number;
    labels: string[];
  }
  const drafts: Draft[] = [];
  const addNode = (where: string, value: unknown, kind: NodeKind, extra: readonly string[]) => {
    if (!isRecord(value)) fail(where, 'expected a mapping with a name');
    refuseTags(where, value);
    onlyKeys(where, value, ['name', 'address', ...extra]);
    const nodeName = nameOf(`${where}.name`, value.name);
    if (seen.has(nodeName)) fail(`${where}.name`, `'${nodeName}' is used twice`);
    seen.add(nodeName);
    let address: number | undefined;
    if (value.address !== undefined) {
      address = typeof value.address === 'string' ? ipv4ToNumber(value.address) : undefined;
      if (address === undefined || (address & mask) >>> 0 !== network)
        fail(`${where}.address`, `expected an IPv4 address inside ${underlayText}`);
      if (address === network || address === network + size - 1)
        fail(`${where}.address`, 'the network and broadcast addresses are not host addresses');
      if (used.has(address)) fail(`${where}.address`, 'used twice');
      used.add(address);
    }
    const draft: Draft = {
      name: nodeName,
      kind,
      engines: [],
      labels: kind === 'engine' ? labelsOf(`${where}.labels`, value.labels) : [],
      ...(address === undefined ? {} : { address }),
    };
    drafts.push(draft);
    return { draft, value };
  };

  if (input.controller === undefined) fail('controller', 'a lab has one controller');
  addNode('controller', input.controller, 'controller', []);
  if (!Array.isArray(input.engines) || input.engines.length === 0)
    fail('engines', 'expected a list of at least one engine');
  input.engines.forEach((engine, i) => {
    const { draft, value } = addNode(`engines[${i}]`, engine, 'engine', ['labels', 'flowCapacity']);
    if (value.flowCapacity !== undefined) {
      const capacity = value.flowCapacity;
      if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 24)
        fail(`engines[${i}].flowCapacity`, 'a flow capacity is an integer 1..16777216');
      draft.flowCapacity = capacity;
    }
  });
  const engineNames = new Set(drafts.filter((d) => d.kind === 'engine').map((d) => d.name));
  if (!Array.isArray(input.hosts)) fail('hosts', 'expected a list of hosts');
  input.hosts.forEach((host, i) => {
    const { draft, value } = addNode(`hosts[${i}]`, host, 'host', ['engines']);
    const engines = value.engines;
    if (!Array.isArray(engines) || engines.length === 0)
      fail(`hosts[${i}].engines`, 'expected the names of one or more engines the host links to');
    draft.engines = engines.map((engine, k) => {
      const engineName = nameOf(`hosts[${i}].engines[${k}]`, engine);
      if (!engineNames.has(engineName)) fail(`hosts[${i}].engines[${k}]`, `no engine named '${engineName}'`);
      return engineName;
    });
  });

  const links: TopologyLink[] = [];
  const linkKeys = new Set<string>();
  const linksInput = input.links ?? [];
  if (!Array.isArray(linksInput)) fail('links', 'expected a list of { between: [a, z], cost }');
  linksInput.forEach((link, i) => {
    const where = `links[${i}]`;
    if (!isRecord(link)) fail(where, 'expected { between: [a, z], cost }');
    refuseTags(where, link);
    onlyKeys(where, link, ['between', 'cost', 'labels']);
    if (!Array.isArray(link.between) || link.between.length !== 2)
      fail(`${where}.between`, 'expected two engine names');
    const [a, z] = link.between.map((end, k) => {
      const endName = nameOf(`${where}.between[${k}]`, end);
      if (!engineNames.has(endName)) fail(`${where}.between[${k}]`, `no engine named '${endName}'`);
      return endName;
    }) as [string, string];
    if (a === z) fail(`${where}.between`, 'a link joins two different engines');
    const key = [a, z].sort().join('|');
    if (linkKeys.has(key)) fail(`${where}.between`, `${a}–${z} is linked twice`);
    linkKeys.add(key);
    const cost = link.cost ?? 1;
    if (!Number.isInteger(cost) || (cost as number) < 1 || (cost as number) > 65535)
      fail(`${where}.cost`, 'a cost is an integer 1..65535');
    links.push({
      a,
      z,
      cost: cost as number,
      labels: labelsOf(`${where}.labels`, link.labels),
    });
  });

  // Addresses: given ones stay; the rest take the next free host address from .2 up (.1 is left
  // for a gateway, should anyone add one).
  let next = network + 2;
  const nodes: TopologyNode[] = drafts.map((draft, index) => {
    let address = draft.address;
    if (address === undefined) {
      while (used.has(next)) next += 1;
      address = next;
      used.add(next);
    }
    if (address >= network + size - 1)
      fail('underlay', `${underlayText} has no room for ${drafts.length} nodes`);
    const hostIndex = drafts.filter((d, k) => d.kind === 'host' && k <= index).length;
    return {
      name: draft.name,
      kind: draft.kind,
      address: numberToIpv4(address),
      engines: draft.engines,
      labels: draft.labels,
      overlayIpv4: draft.kind === 'host' ? `100.100.0.${hostIndex}` : '',
      ...(draft.flowCapacity !== undefined && { flowCapacity: draft.flowCapacity }),
    };
  });
  if (nodes.filter((n) => n.kind === 'host').length > 250) fail('hosts', 'at most 250 hosts');
  return { name, underlay: String(underlayText), prefixLength, nodes, links };
}

/**
 * An engine's links as the topology declares them (the lab declares them at the controller):
 * every linked engine and attached host by name, with the link's cost (1 for hosts).
 */
export function engineLinks(topology: Topology, engine: string): { peer: string; cost: number }[] {
  return [
    ...topology.links
      .filter((link) => link.a === engine || link.z === engine)
      .map((link) => ({ peer: link.a === engine ? link.z : link.a, cost: link.cost })),
    ...topology.nodes
      .filter((n) => n.kind === 'host' && n.engines.includes(engine))
      .map((host) => ({ peer: host.name, cost: 1 })),
  ];
}

/** Parses and validates a topology file's text (YAML or JSON). */
export function parseTopology(text: string): Topology {
  const document = YAML.parseDocument(text);
  if (document.errors.length > 0)
    throw new LabError('LAB_BAD_TOPOLOGY', `not valid YAML: ${document.errors[0]!.message}`);
  return validateTopology(document.toJS());
}

/** The topology of `examples/lab/default.yaml`, embedded so the demo runs without the file. */
export const defaultTopologyYaml = `name: default
underlay: 10.77.0.0/24
controller: { name: ctl }
engines:
  - { name: e1 }
  - { name: e2 }
  - { name: e3, labels: [waypoint] }
links:
  - { between: [e1, e2], cost: 10 }
  - { between: [e1, e3], cost: 1, labels: [preferred] }
  - { between: [e3, e2], cost: 1, labels: [preferred] }
hosts:
  - { name: h1, engines: [e1] }
  - { name: h2, engines: [e1] }
  - { name: h3, engines: [e2] }
  - { name: h4, engines: [e2] }
  - { name: h5, engines: [e2] }
`;
