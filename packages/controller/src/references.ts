/**
 * What still refers to a row that a delete could not remove (IN_USE): the store's foreign keys as
 * data — which table and column point at which table, and the column that names a referring row —
 * and one query per referring table. The list mirrors the migrations' `references(…)`;
 * references.test.ts compares it with SQLite's `PRAGMA foreign_key_list`, so it cannot drift.
 */
import type { Db } from './rows';
import type { Database } from './store/schema';

/** A foreign key: `table.column` refers to the id of the table it is listed under. */
export interface ForeignKey {
  table: keyof Database;
  column: string;
  /** The column that names a referring row in a message (its id when absent). */
  nameColumn?: string;
  /** How a message calls a referring row. */
  noun: string;
}

/** Every foreign key of the store, by the table it refers to. */
export const foreignKeysTo: Readonly<Partial<Record<keyof Database, readonly ForeignKey[]>>> = {
  domains: [
    { table: 'users', column: 'domain_id', nameColumn: 'login', noun: 'user' },
    { table: 'nodes', column: 'domain_id', nameColumn: 'hostname', noun: 'node' },
    { table: 'links', column: 'domain_id', noun: 'link' },
    { table: 'templates', column: 'domain_id', nameColumn: 'name', noun: 'template' },
    { table: 'contracts', column: 'domain_id', nameColumn: 'name', noun: 'contract' },
    { table: 'services', column: 'domain_id', nameColumn: 'name', noun: 'service' },
    { table: 'service_tokens', column: 'domain_id', nameColumn: 'ident', noun: 'service token' },
    { table: 'endpoints', column: 'domain_id', nameColumn: 'role', noun: 'endpoint' },
    { table: 'authorizations', column: 'domain_id', nameColumn: 'serial', noun: 'authorization' },
    { table: 'peerings', column: 'domain_id', noun: 'peering' },
    { table: 'peerings', column: 'peer_domain_id', noun: 'peering' },
  ],
  zones: [
    { table: 'users', column: 'zone_id', nameColumn: 'login', noun: 'user' },
    { table: 'nodes', column: 'zone_id', nameColumn: 'hostname', noun: 'node' },
  ],
  users: [{ table: 'nodes', column: 'owner_user_id', nameColumn: 'hostname', noun: 'node' }],
  nodes: [
    { table: 'links', column: 'node_a', noun: 'link' },
    { table: 'links', column: 'node_z', noun: 'link' },
    { table: 'endpoints', column: 'node_id', nameColumn: 'role', noun: 'endpoint' },
    { table: 'authorizations', column: 'node_id', nameColumn: 'serial', noun: 'authorization' },
    { table: 'commands', column: 'node_id', nameColumn: 'kind', noun: 'pending command' },
    { table: 'peerings', column: 'engine_id', noun: 'peering' },
  ],
  templates: [{ table: 'contracts', column: 'template_id', nameColumn: 'name', noun: 'contract' }],
  contracts: [
    { table: 'endpoints', column: 'contract_id', nameColumn: 'role', noun: 'endpoint' },
    { table: 'authorizations', column: 'contract_id', nameColumn: 'serial', noun: 'authorization' },
  ],
  services: [
    { table: 'service_tokens', column: 'service_id', nameColumn: 'ident', noun: 'service token' },
    { table: 'endpoints', column: 'service_id', nameColumn: 'role', noun: 'endpoint' },
  ],
  endpoints: [
    { table: 'authorizations', column: 'endpoint_id', nameColumn: 'serial', noun: 'authorization' },
  ],
};

/** One row that refers to the row a delete was refused for. */
export interface Reference {
  noun: string;
  id: number;
  name: string | undefined;
}

/** Rows listed per referring table at most (the count says how many there are). */
const shownPerTable = 5;

/**
 * The rows that refer to `table` row `id`, at most `shownPerTable` per foreign key, and how many
 * there are per noun. Read outside the failed transaction (the caller's `db`).
 */
/** The table of a northbound resource (service-tokens live in service_tokens). */
export function tableOfResource(resource: string): keyof Database {
  return resource.replaceAll('-', '_') as keyof Database;
}

export async function findReferences(
  db: Db,
  table: keyof Database,
  id: number,
): Promise<{ shown: Reference[]; counts: Map<string, number> }> {
  const shown: Reference[] = [];
  const counts = new Map<string, number>();
  const seen = new Set<string>();
  for (const key of foreignKeysTo[table] ?? []) {
    const columns = key.nameColumn ? ['id', key.nameColumn] : ['id'];
    const rows = (await db
      .selectFrom(key.table)
      .select(columns as never)
      .where(key.column as never, '=', id as never)
      .orderBy('id' as never)
      .execute()) as { id: number; [name: string]: unknown }[];
    let listed = 0;
    for (const row of rows) {
      // A link refers to a node twice (node_a, node_z): count it once.
      const identity = `${key.table}:${row.id}`;
      if (seen.has(identity)) continue;
      seen.add(identity);
      counts.set(key.noun, (counts.get(key.noun) ?? 0) + 1);
      if (listed < shownPerTable) {
        shown.push({
          noun: key.noun,
          id: Number(row.id),
          name: key.nameColumn ? String(row[key.nameColumn]) : undefined,
        });
        listed += 1;
      }
    }
  }
  return { shown, counts };
}

/** `2 users (4 'admin', 5 'hosts'), 1 node (7 'e1')`: what a refused delete's message lists. */
export function describeReferences({ shown, counts }: Awaited<ReturnType<typeof findReferences>>): string {
  const parts: string[] = [];
  for (const [noun, count] of counts) {
    const rows = shown.filter((reference) => reference.noun === noun);
    const listed = rows.map((r) => (r.name === undefined ? `${r.id}` : `${r.id} '${r.name}'`)).join(', ');
    const more = count > rows.length ? `, ${count - rows.length} more` : '';
    parts.push(`${count} ${noun}${count === 1 ? '' : 's'} (${listed}${more})`);
  }
  return parts.join(', ');
}
