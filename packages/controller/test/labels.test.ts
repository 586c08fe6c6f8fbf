/**
 * Labels through the controller's APIs (SQLite, real listeners): an administrator labels a node
 * and a link, a template maps labels to tag bits, and the engines get the bits in `link-tags`
 * commands (engine bits on the labelled engine, link bits on labelled links and toward the
 * labelled node). Labels and an administrator's cost survive the nodes registering again.
 */
import { decodeNodeCommand, type LinkTagsPayload } from '@capsule/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerNode, startController, tinyProgram } from './harness';

describe('labels (SQLite)', () => {
  let c: Awaited<ReturnType<typeof startController>>;
  const nodePassword = 'node-password-1';
  const engines = { domain: 'net', username: 'engines', password: nodePassword };
  const nodes = {} as Record<'e1' | 'e2' | 'e3', Awaited<ReturnType<typeof registerNode>>>;
  let contractId: number;

  /** The newest link-tags command a node's keep-alive brings, decoded (undefined: none). */
  async function routesOf(
    node: Awaited<ReturnType<typeof registerNode>>,
  ): Promise<LinkTagsPayload | undefined> {
    const answer = await node.sb.keepalive({});
    let last: LinkTagsPayload | undefined;
    for (const command of answer.commands) {
      const decoded = decodeNodeCommand(command);
      expect(decoded.ok).toBe(true);
      if (decoded.ok && decoded.value.kind === 'link-tags') last = decoded.value.payload;
    }
    return last;
  }
  const link = (from: 'e1' | 'e2' | 'e3', to: 'e1' | 'e2' | 'e3', cost: number) =>
    nodes[from].sb.registerLink({
      peerHostId: nodes[to].hostId,
      localEndpoint: '192.0.2.1:7447',
      remoteEndpoint: '192.0.2.2:7447',
      cost,
    });

  beforeAll(async () => {
    c = await startController('sqlite');
    await c.admin.domains.create({ name: 'shop', kind: 'application' });
    await c.admin.domains.create({ name: 'net', kind: 'infrastructure' });
    const zoneId = (await c.admin.zones.create({ name: 'zone-a', netprefix: 'fd00:1:2:3::/64' })).id;
    await c.admin.users.create({
      login: 'engines',
      domain: 'net',
      password: nodePassword,
      roles: ['engineOwner'],
      zoneId,
    });
    for (const name of ['e1', 'e2', 'e3'] as const)
      nodes[name] = await registerNode(c.urls.southboundUrl, engines, { type: 'engine', hostname: name });
    await link('e1', 'e2', 10);
    await link('e1', 'e3', 1);
    await link('e3', 'e2', 1);
    const template = await c.admin.templates.create({
      name: 'chain',
      domain: 'shop',
      image: tinyProgram(),
      roles: [
        { name: 'client', entry: 'client' },
        { name: 'server', entry: 'server' },
      ],
      labelTags: [
        { label: 'waypoint', bit: 1 },
        { label: 'preferred', bit: 4 },
      ],
    });
    contractId = (
      await c.admin.contracts.create({
        name: 'inspected',
        domain: 'shop',
        templateId: template.id,
        roles: [
          { name: 'client', peer: 'server' },
          { name: 'server', peer: 'client' },
        ],
      })
    ).id;
  }, 60_000);
  afterAll(async () => c?.stop());

  it('turns node and link labels into the contract’s tag bits on every engine', async () => {
    for (const name of ['e1', 'e2', 'e3'] as const) await routesOf(nodes[name]); // drain
    const e3 = nodes.e3.registration.node.id;
    const labelled = await c.admin.nodes.update(e3, { labels: ['waypoint'] });
    expect(labelled.labels).toEqual(['waypoint']);
    const links = (await c.admin.links.list()).items;
    for (const l of links.filter((l) => l.nodeA === e3 || l.nodeZ === e3))
      await c.admin.links.update(l.id, { labels: ['preferred'] });
    const waypointAndPreferred = (1 << 1) | (1 << 4);
    expect(await routesOf(nodes.e1)).toEqual({
      contracts: [{ contractId, links: [{ peer: nodes.e3.hostId, tags: waypointAndPreferred }] }],
    });
    expect(await routesOf(nodes.e3)).toEqual({
      contracts: [
        {
          contractId,
          engineTags: 1 << 1,
          links: [
            { peer: nodes.e1.hostId, tags: 1 << 4 },
            { peer: nodes.e2.hostId, tags: 1 << 4 },
          ],
        },
      ],
    });
    // A label the template does not name changes no bit; removing the waypoint label removes its bits.
    await c.admin.nodes.update(e3, { labels: [] });
    expect(await routesOf(nodes.e3)).toEqual({
      contracts: [
        {
          contractId,
          links: [
            { peer: nodes.e1.hostId, tags: 1 << 4 },
            { peer: nodes.e2.hostId, tags: 1 << 4 },
          ],
        },
      ],
    });
    await c.admin.nodes.update(e3, { labels: ['waypoint'] });
  });

  it('keeps labels and an administrator’s cost when the nodes register again', async () => {
    const e3 = nodes.e3.registration.node.id;
    const direct = (await c.admin.links.list()).items.find(
      (l) => l.nodeA === nodes.e1.registration.node.id && l.nodeZ === nodes.e2.registration.node.id,
    )!;
    await c.admin.links.update(direct.id, { cost: 3 });
    // e1 reports its links again (as after a restart), with its own cost.
    await link('e1', 'e2', 10);
    await link('e1', 'e3', 1);
    const after = (await c.admin.links.list()).items;
    expect(after.find((l) => l.id === direct.id)).toMatchObject({ cost: 3 });
    expect(after.filter((l) => l.labels.includes('preferred'))).toHaveLength(2);
    expect((await c.admin.nodes.get(e3)).labels).toEqual(['waypoint']);
    // Malformed labels are refused.
    for (const labels of [
      ['has space'],
      [''],
      ['x'.repeat(41)],
      ['a', 'a'],
      Array.from({ length: 17 }, (_, i) => `l${i}`),
    ])
      await expect(c.admin.nodes.update(e3, { labels })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(
      c.admin.templates.update(1, { labelTags: [{ label: 'waypoint', bit: 32 }] }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});
