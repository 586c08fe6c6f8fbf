/**
 * startEngineNode against a real controller (the in-process MemoryNetwork underlay): the daemon's
 * assembly as the CLI and the in-process lab run it — login, identity for the zone's netprefix,
 * registration, link layer, engine, controller hooks, HTTP port, the controller's link set — and its teardown,
 * including when the start fails half-way.
 */
import { createServer } from 'node:net';
import { type EngineIdentity, type EngineNodeOptions, startEngineNode } from '@capsule/engine';
import {
  exportPublicKeyDer,
  generateCgaSync,
  generateRsaKeyPair,
  parseSubnetPrefix64,
  type RsaKeyPair,
} from '@capsule/identity';
import { formatUnderlayAddress, type MemoryNetwork } from '@capsule/overlay';
import { systemClock } from '@capsule/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, waitFor } from './cluster';

/** The system clock, counting the intervals it has running (every stop must cancel its own). */
function countingClock() {
  let running = 0;
  return {
    nowMs: () => systemClock.nowMs(),
    setInterval(callback: () => void, ms: number) {
      const cancel = systemClock.setInterval(callback, ms);
      running++;
      let cancelled = false;
      return () => {
        if (cancelled) return;
        cancelled = true;
        running--;
        cancel();
      };
    },
    get running() {
      return running;
    },
  };
}

describe('startEngineNode', () => {
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  let network: MemoryNetwork;
  let rsa: RsaKeyPair;
  let port = 9000;
  /** The netprefixes the identity port was asked for. */
  const asked: string[] = [];

  const identity = (netprefix: string): EngineIdentity => {
    asked.push(netprefix);
    const rsaPublicKeyDer = exportPublicKeyDer(rsa.publicKey);
    const cga = generateCgaSync({
      publicKey: rsaPublicKeyDer,
      sec: 0,
      subnetPrefix: parseSubnetPrefix64(netprefix),
    });
    return {
      hostId: cga.address,
      cgaParameters: cga.parametersBytes,
      rsaPrivateKey: rsa.privateKey,
      rsaPublicKeyDer,
    };
  };
  const optionsOf = (hostname: string, more: Partial<EngineNodeOptions> = {}): EngineNodeOptions => ({
    controllerUrl: cluster.urls.southboundUrl,
    credentials: { domain: 'net', username: 'engines', password: 'node-password-1' },
    hostname,
    ...more,
  });

  beforeAll(async () => {
    cluster = await startCluster('memory');
    network = cluster.network!;
    rsa = generateRsaKeyPair();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('registers, links to the peers of its link set, reports the links with their cost, serves HTTP; stop() undoes it', async () => {
    asked.length = 0;
    const clock = countingClock();
    const t2 = network.attach({ host: '10.9.0.2', port: port++ });
    const t1 = network.attach({ host: '10.9.0.1', port: port++ });
    const n2 = await startEngineNode(optionsOf('node-2'), { transport: t2, identity, clock });
    const n1 = await startEngineNode(
      optionsOf('node-1', {
        http: { host: '127.0.0.1', port: 0 },
        engine: { tags: [3] },
      }),
      { transport: t1, identity, clock },
    );
    try {
      expect(asked).toEqual(['fd00:ca:5:1::/64', 'fd00:ca:5:1::/64']);
      expect(n1.registration.node.hostname).toBe('node-1');
      expect(n1.locator).toBe(formatUnderlayAddress(t1.local));
      expect(n1.engine.engineId).toBe((n1.hostId[14]! << 8) | n1.hostId[15]!);
      // No peer configured: the link declared at the controller reaches both through their link
      // sets, they handshake, and the link is as the engine and the controller see it.
      await cluster.admin.links.create({
        nodeA: n1.registration.node.id,
        nodeZ: n2.registration.node.id,
        cost: 7,
      });
      await waitFor(
        () => n1.engine.links().some((l) => l.up) && n2.engine.links().some((l) => l.up),
        'the link node-1 – node-2',
      );
      expect(n1.engine.links()).toMatchObject([{ peerName: 'node-2', kind: 'engine', cost: 7, up: true }]);
      const nodeIds = [n1.registration.node.id, n2.registration.node.id];
      let registered: { cost: number; status: string }[] = [];
      for (let i = 0; i < 100 && registered.length === 0; i++) {
        const links = (await cluster.admin.links.list()).items;
        registered = links.filter((l) => nodeIds.includes(l.nodeA) && nodeIds.includes(l.nodeZ));
        if (registered.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(registered.map((l) => l.cost)).toEqual([7]);
      expect(registered.every((l) => l.status === 'up')).toBe(true);
      // The HTTP port.
      const status = (await (await fetch(`${n1.httpUrl}/api/v1/status`)).json()) as { engineId: number };
      expect(status.engineId).toBe(n1.engine.engineId);
      expect(clock.running).toBeGreaterThan(0);
    } finally {
      await n1.stop();
      await n2.stop();
      await n1.stop(); // twice: nothing more to do
    }
    expect(clock.running).toBe(0);
    await expect(fetch(`${n1.httpUrl}/api/v1/status`)).rejects.toThrow();
    // The transports are the caller's: still open.
    expect(() => t1.send(new Uint8Array(8), 8, t2.local)).not.toThrow();
    await t1.close();
    await t2.close();
  });

  it('refuses bad credentials before asking for an identity, and starts nothing', async () => {
    asked.length = 0;
    const clock = countingClock();
    const transport = network.attach({ host: '10.9.0.3', port: port++ });
    await expect(
      startEngineNode(
        optionsOf('node-3', {
          credentials: { domain: 'net', username: 'engines', password: 'wrong-password' },
        }),
        { transport, identity, clock },
      ),
    ).rejects.toMatchObject({ code: 'BAD_CREDENTIALS' });
    expect(asked).toEqual([]);
    expect(clock.running).toBe(0);
    await transport.close();
  });

  it('stops what it started when the HTTP port cannot be bound (ENGINE_HTTP_BIND_FAILED)', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const takenPort = (taken.address() as { port: number }).port;
    const clock = countingClock();
    const transport = network.attach({ host: '10.9.0.4', port: port++ });
    try {
      await expect(
        startEngineNode(optionsOf('node-4', { http: { host: '127.0.0.1', port: takenPort } }), {
          transport,
          identity,
          clock,
        }),
      ).rejects.toMatchObject({ code: 'ENGINE_HTTP_BIND_FAILED' });
      expect(clock.running).toBe(0);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      await transport.close();
    }
  });
});
