import { type Generated, Kysely, SqliteDialect, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { prepareQuery } from './prepared-query';
import { openSqlite } from './sqlite-database';

interface Tables {
  t: { id: Generated<number>; a: string; b: number };
}

describe('prepareQuery', () => {
  it('compiles once and substitutes each call’s values, also where one appears twice', async () => {
    const store = openSqlite(':memory:', 'process-crash');
    const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: store.database }) });
    await sql`create table t (id integer primary key, a text not null unique, b integer not null)`.execute(
      db,
    );
    let builds = 0;
    const upsert = prepareQuery((from: Kysely<Tables>, p) => {
      builds += 1;
      return from
        .insertInto('t')
        .values({ a: p(0), b: p(1) })
        .onConflict((conflict) => conflict.column('a').doUpdateSet({ b: p(1) }))
        .returningAll();
    });
    const byB = prepareQuery((from: Kysely<Tables>, p) =>
      from.selectFrom('t').select('a').where('b', '>', p(0)).orderBy('a'),
    );
    expect((await upsert(db, 'x', 1)).rows).toEqual([{ id: 1, a: 'x', b: 1 }]);
    expect((await upsert(db, 'y', 2)).rows).toEqual([{ id: 2, a: 'y', b: 2 }]);
    await db.transaction().execute(async (trx) => {
      expect((await upsert(trx, 'x', 5)).rows).toEqual([{ id: 1, a: 'x', b: 5 }]);
    });
    expect(builds).toBe(1);
    expect((await byB(db, 1)).rows).toEqual([{ a: 'x' }, { a: 'y' }]);
    expect((await byB(db, 2)).rows).toEqual([{ a: 'x' }]);
    await store.close();
  });
});
