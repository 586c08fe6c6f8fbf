import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryNetwork } from './memory-network';
import type { Transport, UnderlayAddress } from './transport';
import { createUdpTransport } from './udp-transport';

/** One suite, run against every Transport implementation (style rule 8). */
interface TransportFactory {
  name: string;
  open(): Promise<Transport>;
  settle(): Promise<void>;
}

const memory = createMemoryNetwork();
let nextMemoryPort = 7000;
const factories: TransportFactory[] = [
  {
    name: 'UDP on loopback',
    open: () => createUdpTransport({ host: '127.0.0.1', port: 0 }),
    settle: () => new Promise((resolve) => setTimeout(resolve, 50)),
  },
  {
    name: 'MemoryNetwork',
    open: async () => memory.attach({ host: '10.0.0.1', port: nextMemoryPort++ }),
    settle: () => memory.settle(),
  },
];

for (const factory of factories) {
  describe(`Transport: ${factory.name}`, () => {
    const opened: Transport[] = [];
    const open = async () => {
      const transport = await factory.open();
      opened.push(transport);
      return transport;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((transport) => transport.close()));
    });

    it('delivers datagrams in order with their sender, copied from the sender buffer', async () => {
      const a = await open();
      const b = await open();
      const received: { text: string; from: UnderlayAddress }[] = [];
      b.onDatagram((bytes, from) => received.push({ text: Buffer.from(bytes).toString(), from }));
      const buffer = Buffer.alloc(16);
      for (const text of ['one', 'two', 'three']) {
        buffer.write(text);
        a.send(buffer, text.length, b.local);
        buffer.fill(0); // the transport must not depend on the buffer after send returns
      }
      await factory.settle();
      expect(received.map((entry) => entry.text)).toEqual(['one', 'two', 'three']);
      expect(received[0]!.from).toEqual(a.local);
      expect(a.stats.datagramsSent).toBe(3);
      expect(b.stats.datagramsReceived).toBe(3);
      expect(b.stats.bytesReceived).toBe(11);
    });

    it('survives a handler that throws, and counts it', async () => {
      const a = await open();
      const b = await open();
      b.onDatagram(() => {
        throw new Error('handler bug');
      });
      a.send(Buffer.from('x'), 1, b.local);
      await factory.settle();
      expect(b.stats.handlerErrors).toBe(1);
    });

    it('counts, rather than throws, sends after close', async () => {
      const a = await open();
      const b = await open();
      await a.close();
      expect(() => a.send(Buffer.from('x'), 1, b.local)).not.toThrow();
      expect(a.stats.sendErrors).toBe(1);
    });
  });
}

describe('MemoryNetwork paths', () => {
  it('drops datagrams on a cut path and delivers again once restored', async () => {
    const network = createMemoryNetwork();
    const a = network.attach({ host: 'a', port: 1 });
    const b = network.attach({ host: 'b', port: 1 });
    let count = 0;
    b.onDatagram(() => {
      count += 1;
    });
    network.setPathUp(a.local, b.local, false);
    a.send(Buffer.from('lost'), 4, b.local);
    await network.settle();
    expect(count).toBe(0);
    expect(network.dropped).toBe(1);
    network.setPathUp(b.local, a.local, true);
    a.send(Buffer.from('kept'), 4, b.local);
    await network.settle();
    expect(count).toBe(1);
  });

  it('refuses a second transport at the same address', () => {
    const network = createMemoryNetwork();
    network.attach({ host: 'a', port: 1 });
    expect(() => network.attach({ host: 'a', port: 1 })).toThrow(/already attached/);
  });
});
