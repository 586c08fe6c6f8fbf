/**
 * A store written by an earlier controller opens: its schema is migrated, and what it holds reads
 * through the API. The store is built with the first migration only, as the first release left it
 * (a signed template whose roles have permissions and endpoint rules), then a current controller
 * starts on it.
 */
import SqliteDatabase from 'better-sqlite3';
import { type Generated, Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migrationsFor } from '../src/store/migrations';
import {
  createTestStore,
  hasPostgres,
  type StoreKind,
  startController,
  storeKinds,
  tinyProgram,
} from './harness';

/** The two tables this test writes, as the first migration made them. */
interface FirstRelease {
  domains: { id: Generated<number>; name: string; kind: string; description: string; created_at: string };
  templates: {
    id: Generated<number>;
    domain_id: number;
    name: string;
    description: string;
    orientation: string;
    multicast: number;
    image: string;
    roles: string;
    logic_hash: string;
    signature: string;
    created_at: string;
  };
}

/** A connection to the store that bypasses the controller (and its migrations). */
const openDirectly = (kind: StoreKind, url: string) =>
  new Kysely<FirstRelease>({
    dialect:
      kind === 'sqlite'
        ? new SqliteDialect({ database: new SqliteDatabase(url) })
        : new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }),
  });

for (const kind of storeKinds) {
  describe.skipIf(kind === 'postgres' && !hasPostgres)(`a ${kind} store of the first release`, () => {
    const drops: (() => Promise<void>)[] = [];
    afterAll(async () => {
      for (const drop of drops) await drop();
    });

    it('opens; its template reads without the signature and the unused role fields', async () => {
      const store = await createTestStore(kind);
      drops.push(store.drop);
      const db = openDirectly(kind, store.url);
      const first = migrationsFor(kind)['0001-initial']!;
      const migrator = new Migrator({
        db,
        provider: { getMigrations: async () => ({ '0001-initial': first }) },
        migrationTableName: 'capsule_migrations',
        migrationLockTableName: 'capsule_migrations_lock',
      });
      expect((await migrator.migrateToLatest()).error).toBeUndefined();
      const now = new Date().toISOString();
      const domain = await db
        .insertInto('domains')
        .values({ name: 'shop', kind: 'application', description: '', created_at: now })
        .returning('id')
        .executeTakeFirstOrThrow();
      const image = tinyProgram();
      const roles = [
        { name: 'client', entry: 'client', variables: { port: 80 } },
        { name: 'server', entry: 'server' },
      ];
      // The first release took two more role fields, which nothing used.
      const storedRoles = [
        { ...roles[0], permissions: 576, endpointRules: { ingress: ['any'], egress: [] } },
        { ...roles[1], permissions: 576 },
      ];
      await db
        .insertInto('templates')
        .values({
          domain_id: domain.id,
          name: 'old',
          description: 'written before',
          orientation: 'directed',
          multicast: 0,
          image: JSON.stringify(image),
          roles: JSON.stringify(storedRoles),
          logic_hash: 'ab'.repeat(32),
          signature: Buffer.alloc(64, 7).toString('base64'),
          created_at: now,
        })
        .execute();
      await db.destroy();

      const c = await startController(kind, { store: store.url });
      try {
        const [template] = (await c.admin.templates.list()).items.filter((t) => t.name === 'old');
        expect(template).toMatchObject({
          name: 'old',
          domain: 'shop',
          image,
          roles,
          logicHash: 'ab'.repeat(32),
        });
        expect(template).not.toHaveProperty('signature');
        // And it still takes new templates.
        const fresh = await c.admin.templates.create({
          name: 'new',
          domain: 'shop',
          image,
          roles: [{ name: 'client', entry: 'client' }],
        });
        expect(fresh.logicHash).toMatch(/^[0-9a-f]{64}$/);
      } finally {
        await c.stop(false);
      }
      // The store itself no longer holds the unused role fields (the API's answer would drop them).
      const after = openDirectly(kind, store.url);
      const row = await after
        .selectFrom('templates')
        .select('roles')
        .where('name', '=', 'old')
        .executeTakeFirstOrThrow();
      await after.destroy();
      expect(JSON.parse(row.roles)).toEqual(roles);
    });
  });
}
