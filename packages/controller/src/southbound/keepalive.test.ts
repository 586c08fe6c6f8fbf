/**
 * Keep-alive as a use case (no HTTP), on both stores: queued commands are taken once, oldest first,
 * at most a page per answer; a stored command that does not decode is dropped (logged), not sent
 * and not left to block the queue. A node that acknowledges (`acked`) gets each of its commands
 * again until it names it — also one the push channel delivered — never another node's, and
 * retention keeps what it has not acknowledged.
 */
import { pathChangeCommand, revocationCommand } from '@capsule/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUseCaseFixture, hasPostgres, registerFixtureNode, storeKinds } from '../../test/harness';
import { maxCommandsPerKeepalive } from '../commands';
import { defaultRetention, sweepRetention } from '../retention';
import { keepalive } from './keepalive';

for (const kind of storeKinds) {
  describe.skipIf(kind === 'postgres' && !hasPostgres)(`keep-alive on ${kind}`, () => {
    let f: Awaited<ReturnType<typeof createUseCaseFixture>>;
    let e1: Awaited<ReturnType<typeof registerFixtureNode>>;
    beforeAll(async () => {
      f = await createUseCaseFixture(kind);
      e1 = await registerFixtureNode(f, { type: 'engine', hostname: 'e1' });
    }, 60_000);
    afterAll(async () => f?.stop());

    const take = () => keepalive(f.db, { principal: e1.principal }, f.context);

    it('records the keep-alive and hands each queued command over once, oldest first', async () => {
      f.clock.advance(5000);
      // The controller keys nodes must trust come with every answer (one key: no rotation yet).
      const controllerKeys = f.context.identity!.trustedKeys();
      expect(controllerKeys).toEqual([
        { keyId: f.context.identity!.keyId, publicKey: expect.any(String), notAfter: null },
      ]);
      // The first answer brings what registration queued: the engine's link set (no links yet).
      const registered = await take();
      expect(registered.commands.map(({ kind, payload }) => ({ kind, payload }))).toEqual([
        { kind: 'link-set', payload: { links: [] } },
      ]);
      expect(registered.controllerKeys).toEqual(controllerKeys);
      expect(await take()).toEqual({ commands: [], controllerKeys });
      const node = await f.db
        .selectFrom('nodes')
        .selectAll()
        .where('id', '=', e1.node.id)
        .executeTakeFirstOrThrow();
      expect(node.last_keepalive_at).toBe(new Date(f.clock.nowMs()).toISOString());
      const revocation = revocationCommand([{ serial: '12', notAfter: '2026-11-22T12:00:00.000Z' }]);
      const change = pathChangeCommand([{ endpointId: 3, peers: [] }]);
      const [first] = await f.context.queueCommands(f.db, [e1.node.id], revocation);
      const [second] = await f.context.queueCommands(f.db, [e1.node.id], change);
      const createdAt = new Date(f.clock.nowMs()).toISOString();
      expect(await take()).toEqual({
        commands: [
          { id: first, ...revocation, createdAt },
          { id: second, ...change, createdAt },
        ],
        controllerKeys,
      });
      expect(await take()).toEqual({ commands: [], controllerKeys });
    });

    it('gives at most a page per answer; the rest come with the next', async () => {
      const body = revocationCommand([{ serial: '1', notAfter: '2026-11-22T12:00:00.000Z' }]);
      const nodeIds = Array.from({ length: maxCommandsPerKeepalive + 5 }, () => e1.node.id);
      await f.db.transaction().execute((trx) => f.context.queueCommands(trx, nodeIds, body));
      expect((await take()).commands).toHaveLength(maxCommandsPerKeepalive);
      expect((await take()).commands).toHaveLength(5);
    });

    it('drops a stored command that does not decode, and still delivers the others', async () => {
      const created_at = new Date(f.clock.nowMs()).toISOString();
      const bad = [
        { kind: 'revocation', payload: 'not json' },
        { kind: 'reboot', payload: '{}' },
        { kind: 'path-change', payload: '{"endpoints":"all"}' },
      ];
      for (const row of bad)
        await f.db
          .insertInto('commands')
          .values({ node_id: e1.node.id, ...row, created_at, delivered_at: null })
          .execute();
      const good = revocationCommand([{ serial: '77', notAfter: '2026-11-22T12:00:00.000Z' }]);
      await f.context.queueCommands(f.db, [e1.node.id], good);
      const { commands } = await take();
      expect(commands).toHaveLength(1);
      expect(commands[0]).toMatchObject(good);
      const pending = await f.db
        .selectFrom('commands')
        .select('id')
        .where('node_id', '=', e1.node.id)
        .where('delivered_at', 'is', null)
        .execute();
      expect(pending).toEqual([]);
    });

    it('gives a node that acknowledges each of its commands again until it names it, and only its own', async () => {
      const e2 = await registerFixtureNode(f, { type: 'engine', hostname: 'e2' });
      const takeAcking = (acked: number[]) => keepalive(f.db, { principal: e2.principal, acked }, f.context);
      const ids = (answer: { commands: { id: number }[] }) => answer.commands.map((c) => c.id);
      const registered = ids(await takeAcking([]));
      expect(registered).toHaveLength(1); // its link set
      // Not acknowledged: given again (an answer that never arrived loses nothing).
      expect(ids(await takeAcking([]))).toEqual(registered);
      expect(ids(await takeAcking(registered))).toEqual([]);
      const body = revocationCommand([{ serial: '5', notAfter: '2026-11-22T12:00:00.000Z' }]);
      const [mine] = await f.context.queueCommands(f.db, [e2.node.id], body);
      const [theirs] = await f.context.queueCommands(f.db, [e1.node.id], body);
      // Naming another node's command, or an id nobody has, acknowledges nothing.
      expect(ids(await takeAcking([theirs!, 2_000_000_000]))).toEqual([mine]);
      expect(ids(await take())).toEqual([theirs]);
      // One the push channel delivered (delivered, not acknowledged) comes with the next answer.
      await f.db
        .updateTable('commands')
        .set({ delivered_at: new Date(f.clock.nowMs()).toISOString() })
        .where('id', '=', mine!)
        .execute();
      expect(ids(await takeAcking([]))).toEqual([mine]);
      // Retention keeps it past the delivered commands' time while it is not acknowledged.
      f.clock.advance(defaultRetention.commandRetentionMs + 60_000);
      await sweepRetention(f.db, f.clock.nowMs(), defaultRetention);
      expect(ids(await takeAcking([]))).toEqual([mine]);
      expect(ids(await takeAcking([mine!]))).toEqual([]);
      const row = await f.db
        .selectFrom('commands')
        .selectAll()
        .where('id', '=', mine!)
        .executeTakeFirstOrThrow();
      expect(row.acked_at).toBe(new Date(f.clock.nowMs()).toISOString());
      f.clock.advance(defaultRetention.commandRetentionMs + 60_000);
      await sweepRetention(f.db, f.clock.nowMs(), defaultRetention);
      expect(
        await f.db.selectFrom('commands').select('id').where('id', 'in', [mine!, theirs!]).execute(),
      ).toEqual([]);
    });

    it('gives a node that acknowledges no stored command that does not decode, and does not let one block its queue', async () => {
      const e3 = await registerFixtureNode(f, { type: 'engine', hostname: 'e3' });
      const takeAcking = (acked: number[]) => keepalive(f.db, { principal: e3.principal, acked }, f.context);
      const first = (await takeAcking([])).commands.map((c) => c.id);
      await takeAcking(first);
      const created_at = new Date(f.clock.nowMs()).toISOString();
      await f.db
        .insertInto('commands')
        .values(
          Array.from({ length: maxCommandsPerKeepalive }, () => ({
            node_id: e3.node.id,
            kind: 'revocation',
            payload: 'not json',
            created_at,
            delivered_at: null,
          })),
        )
        .execute();
      const good = revocationCommand([{ serial: '78', notAfter: '2026-11-22T12:00:00.000Z' }]);
      const [id] = await f.context.queueCommands(f.db, [e3.node.id], good);
      expect((await takeAcking([])).commands).toEqual([]); // a page of them, dropped
      expect((await takeAcking([])).commands.map((c) => c.id)).toEqual([id]);
    });
  });
}
