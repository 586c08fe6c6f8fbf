/**
 * Opens the controller's store: SQLite (better-sqlite3, a file in the data dir, the embedded
 * default) or PostgreSQL (pg), behind the same Kysely instance, and brings its schema up to date.
 */
import { ApiError } from '@capsule/api';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrationsFor, type StoreDialect } from './migrations';
import type { Database } from './schema';

/** Where the store lives. */
export interface StoreOptions {
  /** `postgres://…` (or `postgresql://…`), a SQLite file path, or `:memory:`. */
  url: string;
  /**
   * SQLite `synchronous` pragma: `FULL` (default) syncs the WAL on every commit, so an acknowledged
   * write survives a power loss; `NORMAL` survives a process crash only.
   */
  sqliteSynchronous?: 'FULL' | 'NORMAL';
  /** PostgreSQL pool size (default 10). */
  postgresPoolSize?: number;
}

/** An open store. */
export interface Store {
  /** The Kysely instance: every query of the controller goes through it. */
  readonly db: Kysely<Database>;
  readonly dialect: StoreDialect;
  /** The PostgreSQL connection string (undefined for SQLite); replicas LISTEN through it. */
  readonly postgresUrl: string | undefined;
  /** Closes every connection. */
  close(): Promise<void>;
}

/** True when `url` names a PostgreSQL server. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

/** Opens the store and runs pending migrations. */
export async function openStore(options: StoreOptions): Promise<Store> {
  const dialect: StoreDialect = isPostgresUrl(options.url) ? 'postgres' : 'sqlite';
  let db: Kysely<Database>;
  if (dialect === 'postgres') {
    // int8 (count(*)) arrives as a string by default; every count here fits a double.
    pg.types.setTypeParser(20, (value) => Number(value));
    db = new Kysely<Database>({
      dialect: new PostgresDialect({
        pool: new pg.Pool({ connectionString: options.url, max: options.postgresPoolSize ?? 10 }),
      }),
    });
  } else {
    const sqlite = new SqliteDatabase(options.url);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma(`synchronous = ${options.sqliteSynchronous ?? 'FULL'}`);
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
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
    await db.destroy();
    throw new ApiError('UNAVAILABLE', `store migration failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return {
    db,
    dialect,
    postgresUrl: dialect === 'postgres' ? options.url : undefined,
    close: () => db.destroy(),
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
