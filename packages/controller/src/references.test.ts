import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeReferences, findReferences, foreignKeysTo } from './references';
import type { Db } from './rows';
import { openStore, type Store } from './store/open-store';

describe('references: what a refused delete names', () => {
  let store: Store;
  let db: Db;
  beforeAll(async () => {
    store = await openStore({ url: ':memory:' });
    db = store.db;
  });
  afterAll(() => store.close());

  it('lists exactly the foreign keys of the migrated store (PRAGMA foreign_key_list)', async () => {
    const tables = await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(
      store.db,
    );
    const actual: string[] = [];
    for (const { name } of tables.rows) {
      const keys = await sql<{ table: string; from: string; to: string }>`
        select * from pragma_foreign_key_list(${name})`.execute(store.db);
      for (const key of keys.rows) actual.push(`${name}.${key.from} -> ${key.table}.${key.to}`);
    }
    const listed = Object.entries(foreignKeysTo).flatMap(([target, keys]) =>
      keys!.map((key) => `${key.table}.${key.column} -> ${target}.id`),
    );
    expect(listed.sort()).toEqual(actual.sort());
  });

  it('names the referring rows, counts a link to a node once, and shows at most five per kind', async () => {
    const now = new Date().toISOString();
    const insert = async (table: string, values: Record<string, unknown>) =>
      Number(
        (
          (await db
            .insertInto(table as never)
            .values(values as never)
            .returning('id' as never)
            .executeTakeFirst()) as {
            id: number;
          }
        ).id,
      );
    const domain = await insert('domains', {
      name: 'd',
      kind: 'application',
      description: '',
      created_at: now,
    });
    const zone = await insert('zones', {
      name: 'z',
      netprefix: 'fd00::/64',
      primary_controller: '',
      secondary_controller: '',
      description: '',
      created_at: now,
    });
    for (let i = 0; i < 7; i += 1)
      await insert('users', {
        domain_id: domain,
        login: `u${i}`,
        password_hash: 'x',
        roles: '[]',
        active: 1,
        zone_id: null,
        created_at: now,
      });
    const node = (hostname: string) =>
      insert('nodes', {
        domain_id: domain,
        zone_id: zone,
        type: 'engine',
        hostname,
        status: 'new',
        created_at: now,
      });
    const a = await node('e1');
    const b = await node('e2');
    await insert('links', {
      domain_id: domain,
      node_a: a,
      node_z: b,
      cost: 1,
      labels: '[]',
      admin_state: 'up',
      status: 'up',
      created_at: now,
    });
    expect(describeReferences(await findReferences(db, 'domains', domain))).toMatch(
      /^7 users \(\d+ 'u0', \d+ 'u1', \d+ 'u2', \d+ 'u3', \d+ 'u4', 2 more\), 2 nodes \(\d+ 'e1', \d+ 'e2'\), 1 link \(\d+\)$/,
    );
    expect(describeReferences(await findReferences(db, 'nodes', a))).toMatch(/^1 link \(\d+\)$/);
    expect(describeReferences(await findReferences(db, 'zones', zone))).toMatch(/^2 nodes /);
    expect(describeReferences(await findReferences(db, 'templates', 12345))).toBe('');
  });
});
