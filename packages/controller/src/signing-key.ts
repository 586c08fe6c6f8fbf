/**
 * The controller's Ed25519 signing key at rest. It lives in a `SigningKeyStore` (the CLI's: the
 * file `controller-key.pem`, mode 0600, in the 0700 data dir), never in the database: whoever can
 * read the store or a backup of it must not be able to sign tokens, node certificates or flow
 * authorizations. The store holds only the public key (`controller-public-key`, SPKI PEM), so a
 * replica or a restart with another or no key file is refused instead of silently signing with a
 * new key that no node trusts.
 *
 * Upgrade: a store written before the key moved out holds the private key in the `settings` row
 * `controller-key`. The first start moves it into the key store and deletes the row with SQLite's
 * secure_delete on and the WAL checkpointed and truncated, so the key's bytes are gone from the
 * database files (PostgreSQL: the row is deleted and the table vacuumed; old WAL segments and
 * backups taken before still hold it — docs/security.md tells to rotate then).
 */
import {
  type ControllerSigningKey,
  exportControllerPrivateKeyPem,
  exportControllerPublicKeyPem,
  generateControllerKey,
  importControllerPrivateKey,
} from '@capsule/identity';
import { sql } from 'kysely';
import { ControllerError } from './errors';
import type { Store } from './store/open-store';

/** The `settings` row a store written before this module held the private key in (moved out at start). */
export const LEGACY_PRIVATE_KEY_SETTING = 'controller-key';
/** The `settings` row holding the public key (SPKI PEM) every replica of the store must sign with. */
export const PUBLIC_KEY_SETTING = 'controller-public-key';

/** Where the controller's private key lives (a port: the CLI's is a 0600 file). */
export interface SigningKeyStore {
  /** The stored key (PKCS#8 PEM), undefined when there is none yet; throws when it cannot be read safely. */
  load(): Promise<string | undefined>;
  /** Stores `pem` unless a key exists already (the first writer wins); resolves to the stored key. */
  create(pem: string): Promise<string>;
}

/**
 * A key store in memory: the key lives as long as the object (tests, the in-memory lab). Hand the
 * same object to controllers that must share a key (replicas, restarts on one store).
 */
export function createMemorySigningKeyStore(): SigningKeyStore {
  let stored: string | undefined;
  return {
    load: async () => stored,
    create: async (pem) => {
      stored ??= pem;
      return stored;
    },
  };
}

function importKey(pem: string, where: string): ControllerSigningKey {
  try {
    return importControllerPrivateKey(pem);
  } catch (cause) {
    throw new ControllerError(
      'CONTROLLER_SIGNING_KEY_INVALID',
      `the controller signing key in ${where} is not a readable Ed25519 private key`,
      { cause },
    );
  }
}

const publicPemOf = (key: ControllerSigningKey) => exportControllerPublicKeyPem(key).trim();
const keyIdText = (key: ControllerSigningKey) => `key id ${key.keyId.toString(16).padStart(4, '0')}`;

/**
 * The controller's signing key: loaded from `keys`, moved there from a legacy `settings` row, or
 * created on the first start; checked against the public key the store records.
 */
export async function loadOrCreateSigningKey(
  store: Store,
  keys: SigningKeyStore,
): Promise<ControllerSigningKey> {
  const { db } = store;
  const setting = async (name: string) =>
    (await db.selectFrom('settings').select('value').where('name', '=', name).executeTakeFirst())?.value;
  const legacyPem = await setting(LEGACY_PRIVATE_KEY_SETTING);
  let recordedPublic = await setting(PUBLIC_KEY_SETTING);
  if (recordedPublic === undefined && legacyPem !== undefined)
    recordedPublic = publicPemOf(
      importKey(legacyPem, `the store's legacy '${LEGACY_PRIVATE_KEY_SETTING}' row`),
    );

  let pem = await keys.load();
  if (pem === undefined) {
    if (legacyPem !== undefined) pem = await keys.create(legacyPem);
    else if (recordedPublic !== undefined)
      throw new ControllerError(
        'CONTROLLER_SIGNING_KEY_MISSING',
        'this store was written by a controller whose signing key is not in the key store: copy its key ' +
          'file (controller-key.pem) into the data dir, or follow the key replacement steps of docs/security.md',
      );
    else pem = await keys.create(exportControllerPrivateKeyPem(generateControllerKey()));
  }
  const key = importKey(pem, 'the key store');
  const ownPublic = publicPemOf(key);
  if (recordedPublic !== undefined && recordedPublic.trim() !== ownPublic)
    throw new ControllerError(
      'CONTROLLER_SIGNING_KEY_MISMATCH',
      `the key store's signing key (${keyIdText(key)}) is not the one this store was signed with: ` +
        'every replica must use the same controller-key.pem (docs/security.md)',
    );
  // Two replicas starting at once: the first insert wins, and both keys were checked equal above
  // or will be by the loser's next start.
  await db
    .insertInto('settings')
    .values({ name: PUBLIC_KEY_SETTING, value: ownPublic })
    .onConflict((conflict) => conflict.column('name').doNothing())
    .execute();
  if ((await setting(PUBLIC_KEY_SETTING))?.trim() !== ownPublic)
    throw new ControllerError(
      'CONTROLLER_SIGNING_KEY_MISMATCH',
      `another replica recorded a different signing key than this one's (${keyIdText(key)}) at the same time`,
    );
  if (legacyPem !== undefined) await eraseLegacyKey(store);
  return key;
}

/** Deletes the legacy private-key row so that its bytes leave the database files too. */
async function eraseLegacyKey(store: Store): Promise<void> {
  const { db } = store;
  if (store.dialect === 'sqlite') {
    // secure_delete overwrites the freed cell with zeros; the checkpoint writes the zeroed page
    // into the database file and TRUNCATE empties the WAL that still held the old page.
    await sql`PRAGMA secure_delete = ON`.execute(db);
    await db.deleteFrom('settings').where('name', '=', LEGACY_PRIVATE_KEY_SETTING).execute();
    await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db);
    await sql`PRAGMA secure_delete = OFF`.execute(db);
  } else {
    await db.deleteFrom('settings').where('name', '=', LEGACY_PRIVATE_KEY_SETTING).execute();
    await sql`VACUUM settings`.execute(db);
  }
}
