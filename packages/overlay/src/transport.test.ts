import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryNetwork } from './memory-network';
import { createNativeUdpTransport } from './native-udp-transport';
import type { Transport, UnderlayAddress } from './transport';
import { createUdpTransport } from './udp-transport';

/** One suite, run against every Transport implementation (style rule 8). */
interface TransportFactory {
  name: string;
  open(): Promise<Transport>;
  settle(): Promise<void>;
  /** A real socket: oversized datagrams and socket-level behaviour apply. */
  isSocket: boolean;
}

const memory = createMemoryNetwork();
let nextMemoryPort = 7000;
const factories: TransportFactory[] = [
  {
    name: 'UDP on loopback',
    open: () => createUdpTransport({ host: '127.0.0.1', port: 0, receiveBufferBytes: 4 << 20 }),
    settle: () => new Promise((resolve) => setTimeout(resolve, 200)),
    isSocket: true,
  },
  {
    name: 'native batched UDP (recvmmsg/sendmmsg) on loopback',
    open: () => createNativeUdpTransport({ host: '127.0.0.1', port: 0, receiveBufferBytes: 4 << 20 }),
    settle: () => new Promise((resolve) => setTimeout(resolve, 50)),
    isSocket: true,
  },
  {
    name: 'native batched UDP on IPv6 loopback',
    open: () => createNativeUdpTransport({ host: '::1', port: 0, receiveBufferBytes: 4 << 20 }),
    settle: () => new Promise((resolve) => setTimeout(resolve, 50)),
    isSocket: true,
  },
  {
    name: 'MemoryNetwork',
    open: async () => memory.attach({ host: '10.0.0.1', port: nextMemoryPort++ }),
    settle: () => memory.settle(),
    isSocket: false,
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

    it('hands out bytes whose .slice() is a copy that later datagrams leave alone', async () => {
      const a = await open();
      const b = await open();
      const kept: Uint8Array[] = [];
      b.onDatagram((bytes) => kept.push(bytes.slice(0, 4)));
      a.send(Buffer.from('first'), 5, b.local);
      await factory.settle();
      for (let index = 0; index < 100; index++) a.send(Buffer.from('later'), 5, b.local);
      await factory.settle();
      expect(Buffer.from(kept[0]!).toString()).toBe('firs');
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

    it('delivers zero-length datagrams and the largest UDP datagram', async () => {
      const a = await open();
      const b = await open();
      const lengths: number[] = [];
      let lastByte = -1;
      b.onDatagram((bytes) => {
        lengths.push(bytes.length);
        if (bytes.length > 0) lastByte = bytes[bytes.length - 1]!;
      });
      const largest = factory.isSocket ? 65_507 : 65_535; // IPv4 UDP payload limit
      const big = Buffer.alloc(largest, 7);
      big[largest - 1] = 9;
      a.send(new Uint8Array(0), 0, b.local);
      a.send(big, largest, b.local);
      await factory.settle();
      expect(lengths).toEqual([0, largest]);
      expect(lastByte).toBe(9);
    });

    it('counts a datagram over the UDP limit as a send error, and goes on', async () => {
      if (!factory.isSocket) return; // the memory network has no size limit
      const a = await open();
      const b = await open();
      const texts: string[] = [];
      b.onDatagram((bytes) => texts.push(Buffer.from(bytes).toString()));
      a.send(Buffer.alloc(70_000), 70_000, b.local);
      a.send(Buffer.from('after'), 5, b.local);
      await factory.settle();
      expect(a.stats.sendErrors).toBe(1);
      expect(texts).toEqual(['after']);
    });

    it('carries a burst larger than any batch or ring, in order', async () => {
      const a = await open();
      const b = await open();
      const seen: number[] = [];
      b.onDatagram((bytes) => seen.push(Buffer.from(bytes).readUInt32BE(0)));
      // > 128 send slots and > 64 receive slots, small enough that the receiving socket holds the
      // whole burst with the kernel's default buffer (net.core.rmem_max is 208 KiB on a fresh host).
      const packet = Buffer.alloc(32);
      const burst = 150;
      for (let index = 0; index < burst; index++) {
        packet.writeUInt32BE(index, 0);
        a.send(packet, packet.length, b.local);
      }
      await factory.settle();
      // Loopback loses nothing that fits the receive buffer; every datagram is accounted for.
      expect(a.stats.datagramsSent).toBe(burst);
      expect(seen.length + a.stats.sendErrors).toBe(burst);
      expect(seen.length).toBe(burst);
      expect(seen).toEqual([...seen].sort((x, y) => x - y));
    });

    it('closes while busy: sends queued and arriving are dropped or counted, nothing throws', async () => {
      const a = await open();
      const b = await open();
      let received = 0;
      b.onDatagram(() => {
        received += 1;
      });
      const packet = Buffer.alloc(500);
      for (let index = 0; index < 300; index++) a.send(packet, packet.length, b.local);
      const closing = b.close();
      for (let index = 0; index < 300; index++) a.send(packet, packet.length, b.local);
      await closing;
      await a.close();
      a.send(packet, packet.length, b.local);
      await factory.settle();
      expect(a.stats.sendErrors).toBeGreaterThanOrEqual(1);
      expect(received).toBeLessThanOrEqual(600);
      await b.close(); // idempotent
    });

    it('counts, rather than throws, sends to an address it cannot reach', async () => {
      if (!factory.isSocket) return;
      const a = await open();
      const sendErrors = a.stats.sendErrors;
      a.send(Buffer.from('x'), 1, { host: 'not an address', port: 9 });
      a.send(Buffer.from('x'), 1, { host: '127.0.0.1', port: 0 });
      await factory.settle();
      expect(a.stats.sendErrors).toBeGreaterThan(sendErrors);
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
