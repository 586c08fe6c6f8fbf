/**
 * The signing key at rest: never in the store, moved out of a legacy `settings` row (and its bytes
 * erased from the database files), and a key store holding another key (or none) for a store that
 * recorded one is refused.
 */
import { readFileSync } from 'node:fs';
import {
  exportControllerPrivateKeyPem,
  exportControllerPublicKeyPem,
  generateControllerKey,
} from '@capsule/identity';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestStore, hasPostgres, type StoreKind, storeKinds } from '../test/harness';
import {
  createMemorySigningKeyStore,
  LEGACY_PRIVATE_KEY_SETTING,
  loadOrCreateSigningKey,
  PUBLIC_KEY_SETTING,
  type SigningKeyStore,
} from './signing-key';
import { openStore, type Store } from './store/open-store';

/** The base64 body of a PEM: what a reader of the raw files would look for. */
const pemBody = (pem: string) => pem.replace(/-----[^-]+-----|\s/g, '');

for (const kind of storeKinds) {
  describe.skipIf(kind === 'postgres' && !hasPostgres)(`the signing key at rest (${kind})`, () => {
    const drops: (() => Promise<void>)[] = [];
    afterAll(async () => {
      for (const drop of drops) await drop();
    });
    const freshStore = async () => {
      const test = await createTestStore(kind as StoreKind);
      drops.push(test.drop);
      const store = await openStore({ url: test.url, sqliteSynchronous: 'NORMAL' });
      return { store, url: test.url };
    };
    const settings = async (store: Store) =>
      Object.fromEntries(
        (await store.db.selectFrom('settings').selectAll().execute()).map((row) => [row.name, row.value]),
      );

    it('first start: the key goes to the key store, only the public key to the store', async () => {
      const { store } = await freshStore();
      const keys = createMemorySigningKeyStore();
      try {
        const key = await loadOrCreateSigningKey(store, keys);
        const pem = (await keys.load())!;
        expect(pem).toContain('PRIVATE KEY');
        const rows = await settings(store);
        expect(rows[LEGACY_PRIVATE_KEY_SETTING]).toBeUndefined();
        expect(rows[PUBLIC_KEY_SETTING]).toBe(exportControllerPublicKeyPem(key).trim());
        expect(JSON.stringify(rows)).not.toContain(pemBody(pem));
        // A restart with the same key store signs with the same key.
        expect((await loadOrCreateSigningKey(store, keys)).keyId).toBe(key.keyId);
      } finally {
        await store.close();
      }
    });

    it('upgrade: a legacy key row moves to the key store and its bytes leave the database files', async () => {
      const { store, url } = await freshStore();
      const legacy = exportControllerPrivateKeyPem(generateControllerKey());
      await store.db
        .insertInto('settings')
        .values({ name: LEGACY_PRIVATE_KEY_SETTING, value: legacy })
        .execute();
      const keys = createMemorySigningKeyStore();
      try {
        await loadOrCreateSigningKey(store, keys);
        expect(await keys.load()).toBe(legacy);
        const rows = await settings(store);
        expect(rows[LEGACY_PRIVATE_KEY_SETTING]).toBeUndefined();
        expect(rows[PUBLIC_KEY_SETTING]).toContain('PUBLIC KEY');
      } finally {
        await store.close();
      }
      if (kind === 'sqlite') {
        // What a backup copies: the database file and what is left of its WAL.
        const files = [url, `${url}-wal`].map((file) => {
          try {
            return readFileSync(file).toString('latin1');
          } catch {
            return '';
          }
        });
        for (const content of files) expect(content).not.toContain(pemBody(legacy).slice(0, 40));
      }
    });

    it('refuses a key store without the key a store was signed with, or with another key', async () => {
      const { store } = await freshStore();
      try {
        await loadOrCreateSigningKey(store, createMemorySigningKeyStore());
        await expect(loadOrCreateSigningKey(store, createMemorySigningKeyStore())).rejects.toMatchObject({
          code: 'CONTROLLER_SIGNING_KEY_MISSING',
        });
        const other = createMemorySigningKeyStore();
        await other.create(exportControllerPrivateKeyPem(generateControllerKey()));
        await expect(loadOrCreateSigningKey(store, other)).rejects.toMatchObject({
          code: 'CONTROLLER_SIGNING_KEY_MISMATCH',
        });
      } finally {
        await store.close();
      }
    });

    it('refuses a key file and a legacy row that disagree, and keeps the row', async () => {
      const { store } = await freshStore();
      const legacy = exportControllerPrivateKeyPem(generateControllerKey());
      await store.db
        .insertInto('settings')
        .values({ name: LEGACY_PRIVATE_KEY_SETTING, value: legacy })
        .execute();
      const other = createMemorySigningKeyStore();
      await other.create(exportControllerPrivateKeyPem(generateControllerKey()));
      try {
        await expect(loadOrCreateSigningKey(store, other)).rejects.toMatchObject({
          code: 'CONTROLLER_SIGNING_KEY_MISMATCH',
        });
        expect((await settings(store))[LEGACY_PRIVATE_KEY_SETTING]).toBe(legacy);
      } finally {
        await store.close();
      }
    });

    it('hostile key-store content is a clear CONTROLLER_SIGNING_KEY_INVALID, never a crash', async () => {
      const { store } = await freshStore();
      const rsaPem =
        '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA' +
        'A'.repeat(20) +
        '\n-----END PRIVATE KEY-----\n';
      try {
        const hostile = fc.sample(
          fc.oneof(
            fc.string({ maxLength: 300 }),
            fc.constant(''),
            fc.constant(rsaPem),
            fc.constant(exportControllerPublicKeyPem(generateControllerKey())),
            fc
              .uint8Array({ minLength: 0, maxLength: 200 })
              .map(
                (b) =>
                  `-----BEGIN PRIVATE KEY-----\n${Buffer.from(b).toString('base64')}\n-----END PRIVATE KEY-----\n`,
              ),
          ),
          { numRuns: 60, seed: 1313 },
        );
        for (const text of hostile) {
          const keys: SigningKeyStore = { load: async () => text, create: async (pem) => pem };
          await expect(loadOrCreateSigningKey(store, keys)).rejects.toMatchObject({
            code: 'CONTROLLER_SIGNING_KEY_INVALID',
          });
        }
        // A legacy row that is garbage is refused the same way.
        await store.db
          .insertInto('settings')
          .values({ name: LEGACY_PRIVATE_KEY_SETTING, value: 'garbage' })
          .execute();
        await expect(loadOrCreateSigningKey(store, createMemorySigningKeyStore())).rejects.toMatchObject({
          code: 'CONTROLLER_SIGNING_KEY_INVALID',
        });
      } finally {
        await store.close();
      }
    });
  });
}
