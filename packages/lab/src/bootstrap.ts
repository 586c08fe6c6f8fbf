/**
 * What a lab's controller holds before any node starts: an application domain for the hosts, an
 * infrastructure domain for the engines with a peering that lets the hosts' domain use them, one
 * zone (its /64 is where every CGA is made) and the two node users (hostOwner, engineOwner) the
 * agents and engines log in as.
 */
import { type ApiClient, createApiClient } from '@capsule/api';

/** The names the lab uses at the controller. */
export const labNames = {
  hostDomain: 'lab',
  engineDomain: 'net',
  zone: 'lab',
  netprefix: 'fd00:ca:1ab::/64',
  hostUser: 'hosts',
  engineUser: 'engines',
} as const;

/** Logs in as admin (domain 'default'). */
export async function adminClient(northboundUrl: string, adminPassword: string): Promise<ApiClient> {
  const client = createApiClient({ baseUrl: northboundUrl });
  await client.login({ domain: 'default', username: 'admin', password: adminPassword });
  return client;
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
