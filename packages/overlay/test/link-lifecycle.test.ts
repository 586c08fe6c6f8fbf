/**
 * The link layer over months (MemoryNetwork, manual clock): a renewed node certificate swapped in
 * with `setNodeCertificate` reaches the peers with the next rekey, so a link outlives the old
 * certificate's end (without it the peer drops the link when the old one expires); a
 * decommissioned host (`revokeHost`) loses its link at once, its handshakes are refused until
 * the revocation ends, then it may link again; hostile calls change nothing.
 */
import { decodeNodeCertificate, signNodeCertificate } from '@capsule/identity';
import { afterEach, describe, expect, it } from 'vitest';
import { createLinkLayer, createMemoryNetwork, type LinkLayer, type LinkLayerOptions } from '../src/index';
import {
  createManualClock,
  generateControllerKey,
  makeIdentity,
  type TapTransport,
  tapTransport,
} from './helpers';

const unitMs = 1_000;
const controller = generateControllerKey();

describe('link layer lifecycle: certificate renewal and host revocation', () => {
  const network = createMemoryNetwork();
  const clock = createManualClock();
  let port = 9447;
  const nodes: { layer: LinkLayer; tap: TapTransport }[] = [];
  const wait = (ms: number) => clock.advance(ms, () => network.settle(), 10);

  afterEach(async () => {
    for (const each of nodes.splice(0)) {
      each.layer.stop();
      await each.tap.close();
    }
  });

  async function node(
    name: string,
    key: number,
    notAfterMs?: number,
    overrides: Partial<LinkLayerOptions> = {},
  ) {
    const tap = tapTransport(network.attach({ host: '10.9.0.1', port: port++ }));
    const identity = makeIdentity({ controller, key, name, nowMs: clock.nowMs(), notAfterMs });
    const layer = createLinkLayer(
      {
        identity,
        keepAliveIntervalMs: unitMs,
        handshakeRetransmitMs: unitMs / 4,
        handshakeBackoffMaxMs: unitMs,
        handshakeAttempts: 4,
        reconnectIntervalMs: unitMs,
        previousKeyGraceMs: unitMs,
        rekeyAfterMs: 2 * unitMs,
        ...overrides,
      },
      { transport: tap, clock },
    );
    layer.start();
    const created = { layer, tap, identity };
    nodes.push(created);
    return created;
  }

  /** The same certificate with another end (re-signed by the controller). */
  function renewed(certificate: Uint8Array, notAfterMs: number): Uint8Array {
    const decoded = decodeNodeCertificate(certificate);
    if (!decoded.ok) throw new Error(JSON.stringify(decoded.error));
    const { version: _v, signature: _s, keyId: _k, ...body } = decoded.value;
    return signNodeCertificate({ ...body, notAfter: Math.floor(notAfterMs / 1000) }, controller);
  }

  for (const swap of [true, false])
    it(`a certificate ending in 10 s: the link ${swap ? 'outlives it once the renewal is swapped in' : 'is dropped by the peer when it ends (no swap)'}`, async () => {
      const endMs = clock.nowMs() + 10 * unitMs;
      const a = await node('alpha', 0, endMs);
      const b = await node('bravo', 1);
      a.layer.connect(b.tap.local);
      await wait(2 * unitMs);
      expect(b.layer.linkTo(a.identity.hostId)?.state).toBe('up');
      if (swap)
        expect(a.layer.setNodeCertificate(renewed(a.identity.nodeCertificate, endMs + 86_400_000))).toBe(
          true,
        );
      await wait(14 * unitMs);
      const atB = b.layer
        .links()
        .find((link) => Buffer.from(link.peerHostId).equals(Buffer.from(a.identity.hostId)));
      if (swap) expect(atB?.state).toBe('up');
      else expect(atB).toMatchObject({ state: 'down', downReason: 'rejected' });
    });

  it('the swap itself rekeys every live link: peers hold the new end at once, not at the next scheduled rekey (an hour here)', async () => {
    const endMs = clock.nowMs() + 10 * unitMs;
    const hour = 3_600_000;
    const a = await node('alpha', 0, endMs, { rekeyAfterMs: hour });
    const b = await node('bravo', 1, undefined, { rekeyAfterMs: hour });
    const c = await node('charlie', 2, undefined, { rekeyAfterMs: hour });
    a.layer.connect(b.tap.local);
    a.layer.connect(c.tap.local);
    await wait(2 * unitMs);
    const seenBy = (peer: typeof b) =>
      peer.layer.links().find((link) => Buffer.from(link.peerHostId).equals(Buffer.from(a.identity.hostId)));
    for (const peer of [b, c]) expect(seenBy(peer)?.state).toBe('up');
    const downs: string[] = [];
    for (const peer of [b, c])
      peer.layer.onLinkChange((link) => {
        if (link.state === 'down') downs.push(`${link.peerName}: ${link.downReason}`);
      });
    const newEndMs = endMs + 30 * 86_400_000;
    expect(a.layer.setNodeCertificate(renewed(a.identity.nodeCertificate, newEndMs))).toBe(true);
    await wait(12 * unitMs); // past the old end, long before any scheduled rekey: both links stay up
    for (const peer of [b, c]) expect(seenBy(peer)?.state).toBe('up');
    expect(downs).toEqual([]); // never down, not even for a reconnect
  });

  it('refuses a certificate that does not decode or names another host id: nothing changes', async () => {
    const a = await node('alpha', 0);
    const other = makeIdentity({ controller, key: 1, name: 'bravo', nowMs: clock.nowMs() });
    expect(a.layer.setNodeCertificate(other.nodeCertificate)).toBe(false);
    expect(a.layer.setNodeCertificate(new Uint8Array(10))).toBe(false);
    expect(a.layer.setNodeCertificate(a.identity.nodeCertificate.subarray(0, 50))).toBe(false);
    const b = await node('bravo', 2);
    a.layer.connect(b.tap.local);
    await wait(2 * unitMs);
    expect(a.layer.linkTo(b.identity.hostId)?.state).toBe('up');
  });

  it('a revoked host loses its link at once, its handshakes are refused until the revocation ends, then it links again', async () => {
    const a = await node('alpha', 0);
    const b = await node('bravo', 1);
    b.layer.connect(a.tap.local); // b keeps trying to reach a
    await wait(2 * unitMs);
    expect(a.layer.linkTo(b.identity.hostId)?.state).toBe('up');
    const untilMs = clock.nowMs() + 20 * unitMs;
    a.layer.revokeHost(b.identity.hostId, untilMs);
    expect(a.layer.revokedHosts).toBe(1);
    const link = a.layer
      .links()
      .find((l) => Buffer.from(l.peerHostId).equals(Buffer.from(b.identity.hostId)));
    expect(link).toMatchObject({ state: 'down', downReason: 'revoked' });
    await wait(10 * unitMs);
    expect(a.layer.linkTo(b.identity.hostId)).toBeUndefined();
    expect(a.layer.handshakeRejections.revoked).toBeGreaterThan(0);
    // Hostile calls: a wrong length, an end in the past, NaN — ignored.
    a.layer.revokeHost(new Uint8Array(15), untilMs);
    a.layer.revokeHost(new Uint8Array(16).fill(7), clock.nowMs() - 1);
    a.layer.revokeHost(new Uint8Array(16).fill(8), Number.NaN);
    expect(a.layer.revokedHosts).toBe(1);
    await wait(untilMs - clock.nowMs() + 4 * unitMs);
    expect(a.layer.linkTo(b.identity.hostId)?.state).toBe('up');
  });
});
