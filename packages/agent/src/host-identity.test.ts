import { checkHostCertificate, parseIpv6Address, verifyCga } from '@capsule/identity';
import { describe, expect, it } from 'vitest';
import { createMemoryIdentityStore, ensureCga, ensureHostKeys, type IdentityEvent } from './host-identity';

const prefix = 'fd00:aa:bb:cc::/64';

describe('ensureHostKeys and ensureCga (seed: RSA and CGA Management)', () => {
  it('makes keys, certificate and CGA on first start, keeps them on the next, regenerates on a new host name', async () => {
    const store = createMemoryIdentityStore();
    const events: IdentityEvent[] = [];
    const first = await ensureHostKeys(store, 'host-a.example', (e) => events.push(e));
    expect(events).toEqual([
      { kind: 'keys', outcome: 'generated', reason: 'no stored keys' },
      // Not "malformed": there was none (the first start used to log "reason: malformed").
      { kind: 'certificate', outcome: 'generated', reason: 'no stored certificate' },
    ]);
    expect(
      await checkHostCertificate(first.keys.certificatePem, {
        hostName: 'host-a.example',
        publicKey: first.keys.rsaPublicKey,
      }),
    ).toEqual({ ok: true });
    const cga = await ensureCga(store, first.persisted, first.keys, prefix, { sec: 0 }, (e) =>
      events.push(e),
    );
    expect(verifyCga(cga.address, cga.parametersBytes).ok).toBe(true);
    expect(cga.addressText.startsWith('fd00:aa:bb:cc:')).toBe(true);

    // Restart: everything kept, nothing saved.
    const saves = store.saves;
    events.length = 0;
    const second = await ensureHostKeys(store, 'host-a.example', (e) => events.push(e));
    const cga2 = await ensureCga(store, second.persisted, second.keys, prefix, { sec: 0 }, (e) =>
      events.push(e),
    );
    expect(events.map((e) => `${e.kind}:${e.outcome}`)).toEqual([
      'keys:kept',
      'certificate:kept',
      'cga:kept',
    ]);
    expect(store.saves).toBe(saves);
    expect(cga2.addressText).toBe(cga.addressText);
    expect(second.keys.rsaPublicKeyDer).toEqual(first.keys.rsaPublicKeyDer);
    expect(second.keys.x25519PublicKeyRaw).toEqual(first.keys.x25519PublicKeyRaw);

    // Host name changed: new keys, certificate and CGA.
    events.length = 0;
    const third = await ensureHostKeys(store, 'host-b.example', (e) => events.push(e));
    expect(events[0]).toMatchObject({ kind: 'keys', outcome: 'generated' });
    expect(events[0]!.reason).toMatch(/host name changed/);
    expect(third.persisted.cga).toBeUndefined();
    expect(third.keys.rsaPublicKeyDer).not.toEqual(first.keys.rsaPublicKeyDer);
    const cga3 = await ensureCga(store, third.persisted, third.keys, prefix, { sec: 0 });
    expect(cga3.addressText).not.toBe(cga.addressText);
  }, 60_000);

  it('regenerates the CGA when it fails verification, moves to another prefix or another key', async () => {
    const store = createMemoryIdentityStore();
    const { keys, persisted } = await ensureHostKeys(store, 'h.example');
    const cga = await ensureCga(store, persisted, keys, prefix, { sec: 0 });
    const events: IdentityEvent[] = [];
    // Tamper: flip a bit of the interface identifier.
    const tampered = parseIpv6Address(cga.addressText)!;
    tampered[15] = tampered[15]! ^ 0x10;
    persisted.cga!.address = [...tampered].map((b) => b.toString(16)).join(''); // not even valid text
    const again = await ensureCga(store, persisted, keys, prefix, { sec: 0 }, (e) => events.push(e));
    expect(events[0]).toMatchObject({
      kind: 'cga',
      outcome: 'generated',
      reason: 'stored CGA address unreadable',
    });
    expect(verifyCga(again.address, again.parametersBytes).ok).toBe(true);

    events.length = 0;
    const { formatIpv6Address } = await import('@capsule/identity');
    persisted.cga!.address = formatIpv6Address(tampered);
    await ensureCga(store, persisted, keys, prefix, { sec: 0 }, (e) => events.push(e));
    expect(events[0]!.reason).toMatch(/does not verify/);

    events.length = 0;
    const moved = await ensureCga(store, persisted, keys, 'fd00:1:2:3::/64', { sec: 0 }, (e) =>
      events.push(e),
    );
    expect(events[0]!.reason).toMatch(/netprefix changed/);
    expect(moved.addressText.startsWith('fd00:1:2:3:')).toBe(true);
  }, 60_000);

  it('replaces a certificate that no longer matches the key, and unreadable keys', async () => {
    const store = createMemoryIdentityStore();
    const { persisted } = await ensureHostKeys(store, 'c.example');
    const other = createMemoryIdentityStore();
    const { persisted: foreign } = await ensureHostKeys(other, 'c.example');
    store.current!.certificatePem = foreign.certificatePem;
    const events: IdentityEvent[] = [];
    await ensureHostKeys(store, 'c.example', (e) => events.push(e));
    expect(events).toContainEqual({ kind: 'certificate', outcome: 'generated', reason: 'key-mismatch' });
    expect(store.current!.rsaPrivateKeyPem).toBe(persisted.rsaPrivateKeyPem);

    store.current!.certificatePem = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    events.length = 0;
    await ensureHostKeys(store, 'c.example', (e) => events.push(e));
    expect(events).toContainEqual({ kind: 'certificate', outcome: 'generated', reason: 'malformed' });

    store.current!.rsaPrivateKeyPem = 'garbage';
    events.length = 0;
    await ensureHostKeys(store, 'c.example', (e) => events.push(e));
    expect(events[0]).toEqual({ kind: 'keys', outcome: 'generated', reason: 'stored keys unreadable' });
  }, 60_000);
});
