/**
 * Path recomputation's scope and its diff (docs/controller.md, "Recomputation, one at a time"), on
 * both stores: an endpoint that joins a role recomputes only the endpoints that peer with that
 * role; a node gets a path-change only for its endpoints whose peers, paths or group keys changed;
 * a node that registered again gets its endpoints' views again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addFixturePolicy,
  createUseCaseFixture,
  hasPostgres,
  makeNodeIdentity,
  registerFixtureNode,
  registrationBody,
  storeKinds,
} from '../test/harness';
import { registerEndpoint } from './southbound/endpoint-registration';
import { registerLink } from './southbound/link-registration';
import { issueNonce, registerNode } from './southbound/node-registration';

type Fixture = Awaited<ReturnType<typeof createUseCaseFixture>>;
type Node = Awaited<ReturnType<typeof registerFixtureNode>>;

for (const kind of storeKinds) {
  describe.skipIf(kind === 'postgres' && !hasPostgres)(`path recomputation on ${kind}`, () => {
    let f: Fixture;
    let e1: Node;
    let e2: Node;
    const hosts: (Node & { identity: ReturnType<typeof makeNodeIdentity> })[] = [];
    let token: string;

    /** A host with its own identity (kept, so it can register again), linked to `engine`. */
    async function addHost(name: string, engine: Node) {
      const identity = makeNodeIdentity(f.zone.netprefix);
      const { nonce } = await issueNonce(f.db, f.principal, f.context);
      const answer = await registerNode(
        f.db,
        {
          principal: f.principal,
          request: registrationBody(identity, nonce, { type: 'host', hostname: name }),
        },
        f.context,
      );
      const host = {
        node: answer.node,
        hostId: identity.hostId,
        principal: { ...f.principal, nodeId: answer.node.id },
        identity,
      };
      await registerLink(
        f.db,
        {
          principal: host.principal,
          request: { peerHostId: engine.hostId, localEndpoint: '192.0.2.1:1', remoteEndpoint: '192.0.2.9:9' },
        },
        f.context,
      );
      hosts.push(host);
      return host;
    }

    const register = async (host: Node, role: string) =>
      (
        await registerEndpoint(
          f.db,
          { principal: host.principal, request: { serviceToken: token, contract: 'shop', role } },
          f.context,
        )
      ).endpoint.id;

    const lastCommandId = async () =>
      Number(
        (
          await f.db
            .selectFrom('commands')
            .select((eb) => eb.fn.max('id').as('id'))
            .executeTakeFirstOrThrow()
        ).id ?? 0,
      );

    /** The endpoint ids each node was sent a path-change for after command `after`, by node id. */
    async function toldSince(after: number): Promise<Map<number, number[]>> {
      const rows = await f.db
        .selectFrom('commands')
        .select(['node_id', 'payload'])
        .where('kind', '=', 'path-change')
        .where('id', '>', after)
        .orderBy('id')
        .execute();
      const told = new Map<number, number[]>();
      for (const row of rows)
        for (const update of (JSON.parse(row.payload) as { endpoints: { endpointId: number }[] }).endpoints)
          told.set(row.node_id, [...(told.get(row.node_id) ?? []), update.endpointId]);
      return told;
    }

    beforeAll(async () => {
      f = await createUseCaseFixture(kind);
      e1 = await registerFixtureNode(f, { type: 'engine', hostname: 'e1' });
      e2 = await registerFixtureNode(f, { type: 'engine', hostname: 'e2' });
      await registerLink(
        f.db,
        {
          principal: e1.principal,
          request: { peerHostId: e2.hostId, localEndpoint: '192.0.2.1:1', remoteEndpoint: '192.0.2.2:1' },
        },
        f.context,
      );
      for (const [name, engine] of [
        ['h1', e1],
        ['h2', e1],
        ['h3', e2],
        ['h4', e2],
      ] as const)
        await addHost(name, engine);
      ({ token } = await addFixturePolicy(f));
    }, 60_000);
    afterAll(async () => f?.stop());

    it('tells only the nodes whose endpoints’ views changed, and a node that registered again all of its own', async () => {
      const [h1, h2, h3, h4] = [hosts[0]!, hosts[1]!, hosts[2]!, hosts[3]!];
      const s1 = await register(h1, 'server');
      // A client joins: only the servers' views change (the other clients peer with servers).
      let mark = await lastCommandId();
      const c1 = await register(h2, 'client');
      expect(await toldSince(mark)).toEqual(new Map([[h1.node.id, [s1]]]));
      mark = await lastCommandId();
      const c2 = await register(h3, 'client');
      expect(await toldSince(mark)).toEqual(new Map([[h1.node.id, [s1]]]));
      // A server joins: the clients are told, not the other server.
      mark = await lastCommandId();
      const s2 = await register(h4, 'server');
      expect(await toldSince(mark)).toEqual(
        new Map([
          [h2.node.id, [c1]],
          [h3.node.id, [c2]],
        ]),
      );
      // A renewal changes nobody's view.
      mark = await lastCommandId();
      expect(await register(h2, 'client')).toBe(c1);
      expect(await toldSince(mark)).toEqual(new Map());
      // A recomputation of everything: s2 has never been sent a path-change (its registration
      // answer carried its view), so it is; the others were sent what they would be sent now.
      mark = await lastCommandId();
      await f.context.publishChanges([{ kind: 'topology' }]);
      expect(await toldSince(mark)).toEqual(new Map([[h4.node.id, [s2]]]));
      // Again: nothing changed, nobody is told.
      mark = await lastCommandId();
      await f.context.publishChanges([{ kind: 'topology' }]);
      expect(await toldSince(mark)).toEqual(new Map());
      // h3's link down: c2 loses its paths, the servers their path to c2; c1 keeps its view.
      mark = await lastCommandId();
      await registerLink(
        f.db,
        {
          principal: h3.principal,
          request: {
            peerHostId: e2.hostId,
            localEndpoint: '192.0.2.1:1',
            remoteEndpoint: '192.0.2.9:9',
            status: 'down',
          },
        },
        f.context,
      );
      expect(await toldSince(mark)).toEqual(
        new Map([
          [h1.node.id, [s1]],
          [h3.node.id, [c2]],
          [h4.node.id, [s2]],
        ]),
      );
      // h2 registers again (a restart: a new certificate): it gets its endpoint's view again,
      // unchanged as it is, at the next recomputation.
      const { nonce } = await issueNonce(f.db, f.principal, f.context);
      await registerNode(
        f.db,
        {
          principal: f.principal,
          request: registrationBody(hosts[1]!.identity, nonce, { type: 'host', hostname: 'h2' }),
        },
        f.context,
      );
      mark = await lastCommandId();
      await f.context.publishChanges([{ kind: 'topology' }]);
      expect(await toldSince(mark)).toEqual(new Map([[h2.node.id, [c1]]]));
    });
  });
}
