import { describe, expect, it } from 'vitest';
import { createUdpTransport } from './udp-transport';

describe('createUdpTransport', () => {
  it('sets the socket buffers it is given and reports what the kernel granted', async () => {
    let granted: { receiveBytes: number; sendBytes: number } | undefined;
    const transport = await createUdpTransport({
      host: '127.0.0.1',
      port: 0,
      receiveBufferBytes: 65_536,
      sendBufferBytes: 65_536,
      onSocketBuffers: (sizes) => {
        granted = sizes;
      },
    });
    await transport.close();
    // 64 KiB is under every rmem_max / wmem_max; Linux reports twice the value set.
    const factor = process.platform === 'linux' ? 2 : 1;
    expect(granted).toEqual({ receiveBytes: 65_536 * factor, sendBytes: 65_536 * factor });
  });

  it('carries datagrams between two sockets with large buffers', async () => {
    const a = await createUdpTransport({ host: '127.0.0.1', port: 0, receiveBufferBytes: 8 << 20 });
    const b = await createUdpTransport({ host: '127.0.0.1', port: 0, receiveBufferBytes: 8 << 20 });
    try {
      const received = new Promise<number[]>((resolve) => b.onDatagram((bytes) => resolve([...bytes])));
      a.send(new Uint8Array([1, 2, 3, 4]), 3, b.local);
      expect(await received).toEqual([1, 2, 3]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
