/**
 * What a lab's controller holds before any node starts: an application domain for the hosts, an
 * infrastructure domain for the engines with a peering that lets the hosts' domain use them, one
 * zone (its /64 is where every CGA is made) and the two node users (hostOwner, engineOwner) the
 * agents and engines log in as.
 */
import { type ApiClient, createApiClient, type Link } from '@capsule/api';
import { createPinnedFetch } from '@capsule/controller';
import { parseCertificateSha256 } from '@capsule/identity';
import { LabError } from './errors';
import type { Topology } from './topology';

/** The names the lab uses at the controller. */
export const labNames = {
  hostDomain: 'lab',
  engineDomain: 'net',
  zone: 'lab',
  netprefix: 'fd00:ca:1ab::/64',
  hostUser: 'hosts',
  engineUser: 'engines',
} as const;

/**
 * Logs in as admin (domain 'default'). With `caSha256` (the controller certificate's pin, as the
 * controller prints it) the client talks HTTPS to that certificate only.
 */
export async function adminClient(
  northboundUrl: string,
  adminPassword: string,
  caSha256?: string,
): Promise<ApiClient> {
  const client = createApiClient({
    baseUrl: northboundUrl,
    ...(caSha256 && { fetch: pinnedFetch(caSha256) }),
  });
  await client.login({ domain: 'default', username: 'admin', password: adminPassword });
  return client;
}

/** A fetch pinned to the certificate whose SHA-256 is `caSha256` (hex, as the controller prints it). */
export function pinnedFetch(caSha256: string): typeof fetch {
  const pin = parseCertificateSha256(caSha256);
  if (!pin) throw new LabError('LAB_BAD_PIN', `not a certificate SHA-256: '${caSha256.slice(0, 100)}'`);
  return createPinnedFetch(pin);
}

/** Creates the lab's domains, zone and node users (on a fresh controller). */
export async function bootstrapController(client: ApiClient, nodePassword: string): Promise<void> {
  await client.domains.create({ name: labNames.hostDomain, kind: 'application' });
  await client.domains.create({ name: labNames.engineDomain, kind: 'infrastructure' });
  // The hosts' domain trusts the engine domain's engines: links to them and paths through them.
  await client.peerings.create({ domain: labNames.hostDomain, peerDomain: labNames.engineDomain });
  const zoneId = (await client.zones.create({ name: labNames.zone, netprefix: labNames.netprefix })).id;
  await client.users.create({
    login: labNames.hostUser,
    domain: labNames.hostDomain,
    password: nodePassword,
    roles: ['hostOwner'],
    zoneId,
  });
  await client.users.create({
    login: labNames.engineUser,
    domain: labNames.engineDomain,
    password: nodePassword,
    roles: ['engineOwner'],
    zoneId,
  });
}

/** Host names registered (status 'registered') at the controller, by host name → host id. */
export async function registeredNodes(client: ApiClient): Promise<Map<string, string | null>> {
  const registered = new Map<string, string | null>();
  for (let offset = 0; ; offset += 500) {
    const page = await client.nodes.list({ limit: 500, offset });
    for (const node of page.items)
      if (node.status === 'registered') registered.set(node.hostname, node.hostId);
    if (page.items.length === 0 || offset + page.items.length >= page.total) return registered;
  }
}

/** Every link of the controller (all pages). */
async function allLinks(client: ApiClient): Promise<Link[]> {
  const links: Link[] = [];
  for (let offset = 0; ; offset += 500) {
    const page = await client.links.list({ limit: 500, offset });
    links.push(...page.items);
    if (page.items.length === 0 || offset + page.items.length >= page.total) return links;
  }
}

/** Node ids by host name, once every one of `names` is registered (waits up to `timeoutMs`). */
export async function waitForNodeIds(
  client: ApiClient,
  names: readonly string[],
  timeoutMs: number,
): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ids = new Map<string, number>();
    for (let offset = 0; ; offset += 500) {
      const page = await client.nodes.list({ limit: 500, offset });
      for (const node of page.items) if (node.status === 'registered') ids.set(node.hostname, node.id);
      if (page.items.length === 0 || offset + page.items.length >= page.total) break;
    }
    const missing = names.filter((name) => !ids.has(name));
    if (missing.length === 0) return ids;
    if (Date.now() > deadline)
      throw new LabError('LAB_TIMEOUT', `not registered after ${timeoutMs} ms: ${missing.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Declares the topology's engine links at the controller, as an administrator would (`capsule
 * create link --between e1 e2 --cost 10`), with their labels; the controller tells both engines
 * (its link set) and they connect. Nothing about peers is configured on an engine.
 */
export async function declareEngineLinks(
  client: ApiClient,
  topology: Pick<Topology, 'nodes' | 'links'>,
  timeoutMs: number,
): Promise<void> {
  const engines = topology.nodes.filter((node) => node.kind === 'engine').map((node) => node.name);
  const ids = await waitForNodeIds(client, engines, timeoutMs);
  for (const link of topology.links)
    await client.links.create({
      nodeA: ids.get(link.a)!,
      nodeZ: ids.get(link.z)!,
      cost: link.cost,
      ...(link.labels.length > 0 && { labels: [...link.labels] }),
    });
}

/**
 * Declares each host's attachments (the topology's `hosts[].engines`) as links host–engine at
 * the controller, as an administrator would; the controller tells the host's agent (its link
 * set), which attaches to those engines and closes any other.
 */
export async function declareAttachments(
  client: ApiClient,
  topology: Pick<Topology, 'nodes'>,
  hosts: readonly string[],
  timeoutMs: number,
): Promise<void> {
  const nodes = topology.nodes.filter((node) => node.kind === 'host' && hosts.includes(node.name));
  const ids = await waitForNodeIds(
    client,
    [...new Set([...nodes.map((node) => node.name), ...nodes.flatMap((node) => node.engines)])],
    timeoutMs,
  );
  for (const host of nodes)
    for (const engine of host.engines)
      await client.links.create({ nodeA: ids.get(host.name)!, nodeZ: ids.get(engine)!, cost: 1 });
}

/**
 * Waits until every link the topology declares is up at the controller (one of its ends reported
 * its handshake) and no host has a link up that the topology does not give it (an attachment
 * made before its declaration: its agent closes it and reports it down).
 */
export async function waitForDeclaredLinks(
  client: ApiClient,
  topology: Pick<Topology, 'nodes' | 'links'>,
  timeoutMs: number,
): Promise<void> {
  const names = topology.nodes.filter((node) => node.kind !== 'controller').map((node) => node.name);
  const ids = await waitForNodeIds(client, names, timeoutMs);
  const pair = (a: number, z: number) => (a < z ? `${a}-${z}` : `${z}-${a}`);
  const wanted = new Set([
    ...topology.links.map((link) => pair(ids.get(link.a)!, ids.get(link.z)!)),
    ...topology.nodes.flatMap((node) =>
      node.engines.map((engine) => pair(ids.get(node.name)!, ids.get(engine)!)),
    ),
  ]);
  const hostIds = new Set(topology.nodes.filter((n) => n.kind === 'host').map((n) => ids.get(n.name)!));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const links = await allLinks(client);
    const up = new Set(links.filter((link) => link.status === 'up').map((l) => pair(l.nodeA, l.nodeZ)));
    const missing = [...wanted].filter((key) => !up.has(key));
    const extra = links.filter(
      (link) =>
        link.status === 'up' &&
        !wanted.has(pair(link.nodeA, link.nodeZ)) &&
        (hostIds.has(link.nodeA) || hostIds.has(link.nodeZ)),
    );
    if (missing.length === 0 && extra.length === 0) return;
    if (Date.now() > deadline) {
      const nameOf = new Map([...ids].map(([name, id]) => [id, name]));
      const text = (key: string) =>
        key
          .split('-')
          .map((id) => nameOf.get(Number(id)) ?? id)
          .join('–');
      throw new LabError(
        'LAB_TIMEOUT',
        `links not as declared after ${timeoutMs} ms: ${[
          ...missing.map((key) => `${text(key)} not up`),
          ...extra.map((link) => `${text(pair(link.nodeA, link.nodeZ))} up but not declared`),
        ].join(', ')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Sets the topology's engine labels at the controller, as an administrator would (link labels
 * are given when the links are declared: `declareEngineLinks`). Labels live at the controller
 * (they survive the nodes registering again); nothing is configured on an engine.
 */
export async function applyLabels(
  client: ApiClient,
  topology: Pick<Topology, 'nodes' | 'links'>,
  timeoutMs: number,
): Promise<void> {
  const labelledNodes = topology.nodes.filter((node) => node.labels.length > 0);
  if (labelledNodes.length === 0) return;
  const ids = await waitForNodeIds(
    client,
    labelledNodes.map((node) => node.name),
    timeoutMs,
  );
  for (const node of labelledNodes)
    await client.nodes.update(ids.get(node.name)!, { labels: [...node.labels] });
}
