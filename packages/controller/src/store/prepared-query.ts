/**
 * Hot queries compiled once per dialect instead of built and compiled by Kysely on every call.
 * Building a query allocates a tree of frozen nodes and compiling it walks that tree: about 11 µs
 * a query on this machine, against about 4 µs to run an already compiled one (SQLite, one row).
 * The query is built once with placeholders (`p(0)`, `p(1)`, …) where its values go; each call
 * substitutes its values for them, wherever the compiler put them (a value may appear twice).
 */
import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';
import type { Database } from './schema';

/** Where the `index`th value of a call goes. */
class Placeholder {
  constructor(readonly index: number) {}
}

/** Builds the query with placeholders: pass `p(i)` wherever the i-th value of a call belongs. */
// biome-ignore lint/suspicious/noExplicitAny: a placeholder stands in for a value of any column type
type Build<Row, DB> = (db: Kysely<DB>, p: (index: number) => any) => Compilable<Row>;

/**
 * A query compiled on first use per dialect; call it with the executor (db or transaction) and its
 * values. `DB` is the controller's `Database` unless the builder's parameter names another.
 */
export function prepareQuery<Row, DB = Database>(
  build: Build<Row, DB>,
): (db: Kysely<DB>, ...values: unknown[]) => Promise<QueryResult<Row>> {
  // Keyed by the dialect's adapter class: a transaction shares its database's dialect.
  const compiledBy = new Map<unknown, { query: CompiledQuery<Row>; slots: unknown[] }>();
  return (db, ...values) => {
    const dialect = db.getExecutor().adapter.constructor;
    let compiled = compiledBy.get(dialect);
    if (!compiled) {
      const query = build(db, (index) => new Placeholder(index)).compile();
      compiled = { query, slots: [...query.parameters] };
      compiledBy.set(dialect, compiled);
    }
    const { query, slots } = compiled;
    const parameters = slots.map((slot) => (slot instanceof Placeholder ? values[slot.index] : slot));
    return db.executeQuery<Row>({ ...query, parameters });
  };
}
