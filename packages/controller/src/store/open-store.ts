/**
 * Opens the controller's store: SQLite (better-sqlite3, a file in the data dir, the embedded
 * default) or PostgreSQL (pg), behind the same Kysely instance, and brings its schema up to date.
 */
import { ApiError } from '@capsule/api';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrationsFor, type StoreDialect } from './migrations';
import type { Database } from './schema';
import { openSqlite } from './sqlite-database';

/** Where the store lives. */
export interface StoreOptions {
  /** `postgres://…` (or `postgresql://…`), a SQLite file path, or `:memory:`. */
  url: string;
  /**
   * SQLite durability, named after the `synchronous` pragma it replaces: `FULL` (default) — an
   * acknowledged write survives a power loss (the WAL is synced before the reply, one sync shared
   * by concurrent commits: see sqlite-database.ts); `NORMAL` — it survives a process crash only.
   */
  sqliteSynchronous?: 'FULL' | 'NORMAL';
  /** PostgreSQL pool size (default `defaultPostgresPoolSize()`). */
  postgresPoolSize?: number;
  /** SQLite files: told when the checkpoint worker fails (checkpoints go back inside COMMIT). */
  onCheckpointFailure?: (error: Error) => void;
}

/** An open store. */
export interface Store {
  /** The Kysely instance: every query of the controller goes through it. */
  readonly db: Kysely<Database>;
  readonly dialect: StoreDialect;
  /** The PostgreSQL connection string (undefined for SQLite); replicas LISTEN through it. */
  readonly postgresUrl: string | undefined;
  /**
   * Resolves once every write made before the call is on stable storage (SQLite `FULL`: the
   * shared WAL sync; PostgreSQL and SQLite `NORMAL`: at once, the commit did it or is not asked to).
   */
  durable(): Promise<void>;
  /** Closes every connection. */
  close(): Promise<void>;
}

/**
 * PostgreSQL connections per replica. Registrations are bound by commit latency (the server's WAL
 * flush), not by CPU, so the pool must cover the concurrent requests: measured on 2 cores with
 * the server on the same machine and 16 concurrent registrations, a pool of 4 gave 322–351/s,
 * 10 gave 381–403/s and 16 gave 384–406/s. Ten it stays.
 */
export function defaultPostgresPoolSize(): number {
  return 10;
}

/** True when `url` names a PostgreSQL server. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

/** Opens the store and runs pending migrations. */
export async function openStore(options: StoreOptions): Promise<Store> {
  const dialect: StoreDialect = isPostgresUrl(options.url) ? 'postgres' : 'sqlite';
  let db: Kysely<Database>;
  let durable = () => Promise.resolve();
  let closeStore: () => Promise<void>;
  if (dialect === 'postgres') {
    // int8 (count(*)) arrives as a string by default; every count here fits a double.
    pg.types.setTypeParser(20, (value) => Number(value));
    const max = options.postgresPoolSize ?? defaultPostgresPoolSize();
    db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: options.url, max }) }),
    });
    closeStore = () => db.destroy();
  } else {
    const sqlite = openSqlite(
      options.url,
      options.sqliteSynchronous === 'NORMAL' ? 'process-crash' : 'sync-before-reply',
      options.onCheckpointFailure ? { onCheckpointFailure: options.onCheckpointFailure } : {},
    );
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite.database }) });
    durable = sqlite.durable;
    // Writes still waiting for their sync get it; then the connection closes (Kysely's destroy
    // closes it again through the port, which is harmless).
    closeStore = async () => {
      await sqlite.durable().catch(() => {});
      await sqlite.close();
      await db.destroy();
    };
  }
  const migrations = migrationsFor(dialect);
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'capsule_migrations',
    migrationLockTableName: 'capsule_migrations_lock',
  });
  const { error } = await migrator.migrateToLatest();
  if (error) {
    await closeStore();
    throw new ApiError('UNAVAILABLE', `store migration failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return {
    db,
    dialect,
    postgresUrl: dialect === 'postgres' ? options.url : undefined,
    durable,
    close: closeStore,
  };
}

/**
 * Maps a store constraint violation to an API error (unique → CONFLICT, foreign key → IN_USE or
 * REFERENCE_NOT_FOUND); anything else is returned unchanged.
 */
export function mapStoreError(error: unknown, action: 'write' | 'delete' = 'write'): unknown {
  const code = (error as { code?: unknown })?.code;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505')
    return new ApiError('CONFLICT', 'an object with that name or id exists already', { cause: error });
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503')
    return action === 'delete'
      ? new ApiError('IN_USE', 'the object is still referenced by other objects', { cause: error })
      : new ApiError('REFERENCE_NOT_FOUND', 'the body refers to an object that does not exist', {
          cause: error,
        });
  return error;
}
