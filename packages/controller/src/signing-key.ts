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
 *
 * Rotation (below): the key ring in the `settings` row `controller-signing-keys` (public parts) and
 * the private keys of rotated keys in the key store by key id; `capsule rotate signing-key`.
 */
import { ApiError, CONTROLLER_KEYS_MAX } from '@capsule/api';
import {
  type ControllerPublicKey,
  type ControllerSigningKey,
  exportControllerPrivateKeyPem,
  exportControllerPublicKeyPem,
  exportEd25519PublicKeyRaw,
  generateControllerKey,
  importControllerPrivateKey,
  importControllerPublicKey,
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
  /** Rotation: the key (PKCS#8 PEM) stored for `keyId` by `addKey`, undefined when there is none. */
  loadKey?(keyId: number): Promise<string | undefined>;
  /** Rotation: stores a key a rotation made (the CLI's: `controller-key-<key id>.pem`, 0600). */
  addKey?(keyId: number, pem: string): Promise<void>;
}

/**
 * A key store in memory: the key lives as long as the object (tests, the in-memory lab). Hand the
 * same object to controllers that must share a key (replicas, restarts on one store).
 */
export function createMemorySigningKeyStore(): SigningKeyStore {
  let stored: string | undefined;
  const byId = new Map<number, string>();
  return {
    load: async () => stored,
    create: async (pem) => {
      stored ??= pem;
      return stored;
    },
    loadKey: async (keyId) => byId.get(keyId),
    addKey: async (keyId, pem) => void byId.set(keyId, pem),
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
          'file (controller-key.pem, and any controller-key-<key id>.pem) into the data dir (docs/security.md)',
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

// ─── Rotation ────────────────────────────────────────────────────────────────────────────────────

/**
 * The `settings` row holding the key ring (JSON `SigningKeyRecord[]`): every key nodes trust now,
 * with when it signs from and when nodes stop trusting it. Written by the first start (one record:
 * the key above) and by every rotation; every replica reads it (again on a 'signing-keys' bus
 * event), so they agree on which key signs and which keys nodes trust.
 */
export const SIGNING_KEYS_SETTING = 'controller-signing-keys';

/** One key of the ring as the store holds it (public parts only). */
export interface SigningKeyRecord {
  keyId: number;
  /** The raw 32-byte Ed25519 public key, base64. */
  publicKey: string;
  /** Signs from then (ms since the epoch): the latest key whose time has come signs. */
  activatesAtMs: number;
  /** Nodes trust it until then (ms); null while no rotation replaced it. */
  retiresAtMs: number | null;
}

/** The rotation's timing (ControllerOptions; defaults there). */
export interface SigningKeyRotationOptions {
  /**
   * How long after `capsule rotate signing-key` the new key starts signing: nodes learn it first
   * (the registration and keep-alive answers carry the ring), so nothing signed by it reaches a
   * node that does not trust it yet. Default: two keep-alive intervals.
   */
  activationDelayMs: number;
  /**
   * How long nodes still trust the replaced key after the new one activates: the longest lifetime
   * of anything it signed (node certificates, flow authorizations, bearer tokens).
   */
  overlapMs: number;
}

/** What a rotation did. */
export interface SigningKeyRotation {
  readonly keyId: number;
  readonly activatesAtMs: number;
  /** The key it replaces and when nodes stop trusting it. */
  readonly replacedKeyId: number;
  readonly replacedRetiresAtMs: number;
}

/** The ring of controller signing keys a controller replica works with. */
export interface SigningKeyRing {
  /**
   * The key that signs at `nowMs`. Throws UNAVAILABLE (503, naming the key file to copy) when
   * this replica lacks its private key: it refuses rather than sign with a key nodes do not know.
   */
  signingKey(nowMs: number): ControllerSigningKey;
  /** The keys nodes must trust at `nowMs` (records not retired yet), newest first. */
  trusted(nowMs: number): readonly SigningKeyRecord[];
  /** The public key of `keyId` while nodes trust it (token verification), else undefined. */
  publicKeyOf(keyId: number, nowMs: number): ControllerPublicKey | undefined;
  /** The oldest key of the ring (tokens issued before key ids were written are checked with it). */
  readonly oldestKeyId: number;
  /** Reads the ring again from the store and loads the private keys of its live keys. */
  reload(): Promise<void>;
  /**
   * Makes a new key: stored in the key store, added to the ring to sign from `nowMs` +
   * activationDelayMs; the key signing now is trusted until that + overlapMs. Refused (CONFLICT)
   * while a previous rotation has not activated yet.
   */
  rotate(nowMs: number, options: SigningKeyRotationOptions): Promise<SigningKeyRotation>;
}

const ringText = (key: { keyId: number }) => `key id ${key.keyId.toString(16).padStart(4, '0')}`;

/** The records of a stored ring, or undefined when the row is absent; throws when it is unreadable. */
function parseRing(value: string | undefined): SigningKeyRecord[] | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (cause) {
    throw new ControllerError(
      'CONTROLLER_SIGNING_KEY_INVALID',
      `the '${SIGNING_KEYS_SETTING}' row is not JSON`,
      {
        cause,
      },
    );
  }
  const isRecord = (item: unknown): item is SigningKeyRecord => {
    const r = item as SigningKeyRecord;
    return (
      typeof r === 'object' &&
      r !== null &&
      Number.isInteger(r.keyId) &&
      typeof r.publicKey === 'string' &&
      Number.isFinite(r.activatesAtMs) &&
      (r.retiresAtMs === null || Number.isFinite(r.retiresAtMs))
    );
  };
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every(isRecord))
    throw new ControllerError(
      'CONTROLLER_SIGNING_KEY_INVALID',
      `the '${SIGNING_KEYS_SETTING}' row is not a list of signing key records`,
    );
  return parsed;
}

/**
 * The key ring over `store` and `keys`, started from the key `loadOrCreateSigningKey` returned
 * (`first`): a store without a ring gets one holding `first` alone.
 */
export async function createSigningKeyRing(
  store: Store,
  keys: SigningKeyStore,
  first: ControllerSigningKey,
): Promise<SigningKeyRing> {
  const { db } = store;
  const readRow = async () =>
    (
      await db
        .selectFrom('settings')
        .select('value')
        .where('name', '=', SIGNING_KEYS_SETTING)
        .executeTakeFirst()
    )?.value;
  const rawOf = (key: ControllerPublicKey) =>
    Buffer.from(exportEd25519PublicKeyRaw(key.publicKey)).toString('base64');
  let records: SigningKeyRecord[] = [];
  /** Public keys by key id (of the records), and the private keys this replica holds. */
  const publicKeys = new Map<number, ControllerPublicKey>();
  const privateKeys = new Map<number, ControllerSigningKey>([[first.keyId, first]]);

  async function load(): Promise<void> {
    let ring = parseRing(await readRow());
    if (ring === undefined) {
      const initial: SigningKeyRecord[] = [
        { keyId: first.keyId, publicKey: rawOf(first), activatesAtMs: 0, retiresAtMs: null },
      ];
      await db
        .insertInto('settings')
        .values({ name: SIGNING_KEYS_SETTING, value: JSON.stringify(initial) })
        .onConflict((conflict) => conflict.column('name').doNothing())
        .execute();
      ring = parseRing(await readRow())!;
    }
    const nextPublic = new Map<number, ControllerPublicKey>();
    for (const record of ring) {
      let key: ControllerPublicKey;
      try {
        key = importControllerPublicKey(new Uint8Array(Buffer.from(record.publicKey, 'base64')));
      } catch (cause) {
        throw new ControllerError(
          'CONTROLLER_SIGNING_KEY_INVALID',
          `the ring's ${ringText(record)} is not an Ed25519 public key`,
          { cause },
        );
      }
      if (key.keyId !== record.keyId)
        throw new ControllerError(
          'CONTROLLER_SIGNING_KEY_INVALID',
          `the ring's ${ringText(record)} holds a key whose id is ${key.keyId}`,
        );
      nextPublic.set(record.keyId, key);
      if (!privateKeys.has(record.keyId)) {
        const pem = await keys.loadKey?.(record.keyId);
        if (pem !== undefined) {
          const own = importKey(pem, `the key store (${ringText(record)})`);
          if (!own.publicKey.equals(key.publicKey))
            throw new ControllerError(
              'CONTROLLER_SIGNING_KEY_MISMATCH',
              `the key store's ${ringText(record)} is not the key the ring records`,
            );
          privateKeys.set(record.keyId, own);
        }
      }
    }
    records = ring;
    publicKeys.clear();
    for (const [id, key] of nextPublic) publicKeys.set(id, key);
  }

  const signingRecord = (nowMs: number) => {
    let best: SigningKeyRecord | undefined;
    for (const record of records)
      if (record.activatesAtMs <= nowMs && (best === undefined || record.activatesAtMs > best.activatesAtMs))
        best = record;
    return best ?? records[0]!;
  };

  await load();
  return {
    signingKey(nowMs) {
      const record = signingRecord(nowMs);
      const key = privateKeys.get(record.keyId);
      if (key === undefined)
        throw new ApiError(
          'UNAVAILABLE',
          `the signing key (${ringText(record)}) that a rotation made current is not in this replica's key ` +
            `store: copy controller-key-${record.keyId.toString(16).padStart(4, '0')}.pem from the replica that ` +
            'rotated into this data dir (docs/security.md, "Rotating the controller key")',
        );
      return key;
    },
    trusted(nowMs) {
      return records
        .filter((record) => record.retiresAtMs === null || nowMs <= record.retiresAtMs)
        .sort((a, b) => b.activatesAtMs - a.activatesAtMs);
    },
    publicKeyOf(keyId, nowMs) {
      const record = records.find((r) => r.keyId === keyId);
      if (record === undefined || (record.retiresAtMs !== null && nowMs > record.retiresAtMs))
        return undefined;
      return publicKeys.get(keyId);
    },
    get oldestKeyId() {
      return [...records].sort((a, b) => a.activatesAtMs - b.activatesAtMs)[0]!.keyId;
    },
    reload: load,
    async rotate(nowMs, options) {
      await load();
      const live = records.filter((record) => record.retiresAtMs === null || nowMs <= record.retiresAtMs);
      if (records.some((record) => record.activatesAtMs > nowMs))
        throw new ApiError(
          'CONFLICT',
          'a signing key rotation is already announced and not active yet: rotate again after it activates',
        );
      if (live.length >= CONTROLLER_KEYS_MAX)
        throw new ApiError(
          'CONFLICT',
          `${live.length} signing keys are still trusted (at most ${CONTROLLER_KEYS_MAX}): rotate again after the oldest retires`,
        );
      if (keys.addKey === undefined)
        throw new ApiError('UNAVAILABLE', "this controller's key store cannot hold a second signing key");
      const replaced = signingRecord(nowMs);
      let next = generateControllerKey();
      while (live.some((record) => record.keyId === next.keyId)) next = generateControllerKey();
      // The private key first: a ring naming a key no key store holds would stop every replica signing.
      await keys.addKey(next.keyId, exportControllerPrivateKeyPem(next));
      const activatesAtMs = nowMs + options.activationDelayMs;
      const replacedRetiresAtMs = activatesAtMs + options.overlapMs;
      const ring: SigningKeyRecord[] = [
        { keyId: next.keyId, publicKey: rawOf(next), activatesAtMs, retiresAtMs: null },
        ...live.map((record) =>
          record.retiresAtMs === null ? { ...record, retiresAtMs: replacedRetiresAtMs } : record,
        ),
      ];
      await db
        .updateTable('settings')
        .set({ value: JSON.stringify(ring) })
        .where('name', '=', SIGNING_KEYS_SETTING)
        .execute();
      privateKeys.set(next.keyId, next);
      await load();
      return { keyId: next.keyId, activatesAtMs, replacedKeyId: replaced.keyId, replacedRetiresAtMs };
    },
  };
}
