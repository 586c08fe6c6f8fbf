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

/**
 * Sets the topology's labels at the controller, as an administrator would: each engine's node
 * labels, and each link's labels once the engines have registered it (waits up to `timeoutMs`).
 * Labels live at the controller (they survive the nodes registering again); nothing is configured
 * on an engine.
 */
export async function applyLabels(
  client: ApiClient,
  topology: Pick<Topology, 'nodes' | 'links'>,
  timeoutMs: number,
): Promise<void> {
  const labelledNodes = topology.nodes.filter((node) => node.labels.length > 0);
  const labelledLinks = topology.links.filter((link) => link.labels.length > 0);
  if (labelledNodes.length === 0 && labelledLinks.length === 0) return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ids = new Map<string, number>();
    for (let offset = 0; ; offset += 500) {
      const page = await client.nodes.list({ limit: 500, offset });
      for (const node of page.items) if (node.status === 'registered') ids.set(node.hostname, node.id);
      if (page.items.length === 0 || offset + page.items.length >= page.total) break;
    }
    const links: Link[] = [];
    for (let offset = 0; ; offset += 500) {
      const page = await client.links.list({ limit: 500, offset });
      links.push(...page.items);
      if (page.items.length === 0 || offset + page.items.length >= page.total) break;
    }
    const linkOf = (a: string, z: string) =>
      links.find(
        (link) =>
          (link.nodeA === ids.get(a) && link.nodeZ === ids.get(z)) ||
          (link.nodeA === ids.get(z) && link.nodeZ === ids.get(a)),
      );
    const missing = [
      ...labelledNodes.filter((node) => !ids.has(node.name)).map((node) => `${node.name} not registered`),
      ...labelledLinks
        .filter((link) => !linkOf(link.a, link.z))
        .map((link) => `${link.a}–${link.z} not registered`),
    ];
    if (missing.length === 0) {
      for (const node of labelledNodes)
        await client.nodes.update(ids.get(node.name)!, { labels: [...node.labels] });
      for (const link of labelledLinks)
        await client.links.update(linkOf(link.a, link.z)!.id, { labels: [...link.labels] });
      return;
    }
    if (Date.now() > deadline)
      throw new LabError('LAB_TIMEOUT', `cannot set labels after ${timeoutMs} ms: ${missing.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
