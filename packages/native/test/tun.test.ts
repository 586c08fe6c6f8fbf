import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { canRun } from '@capsule/testkit';
import { describe, expect, it } from 'vitest';
import { openTun, TunError } from '../src/index';

const repositoryRoot = join(import.meta.dirname, '..', '..', '..');

describe('openTun: bad options', () => {
  it('rejects names the kernel would refuse, before touching the device', () => {
    expect(() => openTun({ name: 'a-name-longer-than-15' })).toThrow(TunError);
    expect(() => openTun({ name: '' })).toThrow(/interface name/);
    expect(() => openTun({ name: 'bad name' })).toThrow(/interface name/);
    expect(() => openTun({ name: 'ok0', readBufferBytes: 100 })).toThrow(/readBufferBytes/);
  });
});

describe.skipIf(!canRun({ tools: ['ip'], root: true }))('a real TUN device in a network namespace', () => {
  it('carries ICMP echo both ways (IPv4 and IPv6) and reads what the kernel routes into it', () => {
    const namespace = `captun${process.pid}`;
    execFileSync('ip', ['netns', 'add', namespace]);
    try {
      execFileSync('ip', ['-n', namespace, 'link', 'set', 'lo', 'up']);
      const child = spawnSync(
        'ip',
        [
          'netns',
          'exec',
          namespace,
          process.execPath,
          '--import',
          'tsx',
          join(import.meta.dirname, 'fixtures', 'echo-through-tun.ts'),
        ],
        { cwd: repositoryRoot, encoding: 'utf8', timeout: 30_000 },
      );
      expect(child.stderr).toBe('');
      const seen = JSON.parse(child.stdout.trim().split('\n').pop()!);
      expect(seen).toMatchObject({ icmpv4Reply: true, icmpv6Reply: true, udpFromKernel: true });
    } finally {
      execFileSync('ip', ['netns', 'delete', namespace]);
    }
  });
});

describe.skipIf(!canRun({ tools: ['ip', 'python3'], root: true }))(
  'TUN offloads through the real kernel',
  () => {
    it('a TCP transfer between two namespaces crosses TSO super-packets and coalesced writes intact', async () => {
      const tag = `${process.pid % 100_000}`;
      const [a, b] = [`capofa${tag}`, `capofb${tag}`];
      const ns = (name: string, ...argv: string[]) => execFileSync('ip', ['-n', name, ...argv]);
      execFileSync('ip', ['netns', 'add', a]);
      execFileSync('ip', ['netns', 'add', b]);
      const relays: ReturnType<typeof spawn>[] = [];
      try {
        execFileSync('ip', [
          'link',
          'add',
          `vofa${tag}`,
          'netns',
          a,
          'type',
          'veth',
          'peer',
          'name',
          `vofb${tag}`,
          'netns',
          b,
        ]);
        ns(a, 'address', 'add', '10.78.0.1/24', 'dev', `vofa${tag}`);
        ns(b, 'address', 'add', '10.78.0.2/24', 'dev', `vofb${tag}`);
        for (const [name, link] of [
          [a, `vofa${tag}`],
          [b, `vofb${tag}`],
        ] as const) {
          ns(name, 'link', 'set', 'lo', 'up');
          ns(name, 'link', 'set', link, 'up');
        }
        const outputs: string[] = ['', ''];
        for (const [index, name, address, listen, peer] of [
          [0, a, '10.77.0.1/24', '10.78.0.1', '10.78.0.2'],
          [1, b, '10.77.0.2/24', '10.78.0.2', '10.78.0.1'],
        ] as const) {
          const relay = spawn(
            'ip',
            [
              'netns',
              'exec',
              name,
              process.execPath,
              '--import',
              'tsx',
              join(import.meta.dirname, 'fixtures', 'tun-relay.ts'),
              'capof0',
              address,
              listen,
              peer,
            ],
            { cwd: repositoryRoot, stdio: ['pipe', 'pipe', 'inherit'] },
          );
          relay.stdout!.on('data', (chunk: Buffer) => {
            outputs[index] += chunk.toString();
          });
          relays.push(relay);
        }
        const deadline = Date.now() + 20_000;
        while (!outputs.every((output) => output.includes('ready')) && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 50));
        // 8 MiB of random bytes from a to b over TCP through the relay; b prints their SHA-256.
        const server = spawn(
          'ip',
          [
            'netns',
            'exec',
            b,
            'python3',
            '-c',
            'import socket,hashlib\ns=socket.socket();s.bind(("10.77.0.2",5299));s.listen(1)\nc,_=s.accept();h=hashlib.sha256()\nwhile True:\n d=c.recv(1<<20)\n if not d: break\n h.update(d)\nprint(h.hexdigest())',
          ],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        );
        let received = '';
        server.stdout!.on('data', (chunk: Buffer) => {
          received += chunk.toString();
        });
        await new Promise((resolve) => setTimeout(resolve, 500));
        const sent = execFileSync(
          'ip',
          [
            'netns',
            'exec',
            a,
            'python3',
            '-c',
            'import socket,hashlib,os\nd=os.urandom(8<<20);s=socket.create_connection(("10.77.0.2",5299),timeout=20)\ns.sendall(d);s.close();print(hashlib.sha256(d).hexdigest())',
          ],
          { encoding: 'utf8', timeout: 30_000 },
        ).trim();
        await new Promise<void>((resolve) => server.on('exit', () => resolve()));
        expect(received.trim()).toBe(sent);
        for (const relay of relays) relay.stdin!.end();
        await Promise.all(relays.map((relay) => new Promise((resolve) => relay.on('exit', resolve))));
        const [sender, receiver] = outputs.map((output) => JSON.parse(output.trim().split('\n').pop()!));
        expect(sender).toMatchObject({ vnetHeader: true, enabled: true, readDrops: 0, writeErrors: 0 });
        expect(receiver).toMatchObject({ vnetHeader: true, enabled: true, readDrops: 0, writeErrors: 0 });
        // The sending kernel handed over super-packets; the receiving side wrote coalesced runs.
        expect(sender.superPacketsRead).toBeGreaterThan(0);
        expect(sender.segmentsSplit).toBeGreaterThan(sender.superPacketsRead);
        expect(receiver.coalescedWrites).toBeGreaterThan(0);
        expect(receiver.segmentsCoalesced).toBeGreaterThan(receiver.coalescedWrites);
      } finally {
        for (const relay of relays) if (relay.exitCode === null) relay.kill('SIGKILL');
        execFileSync('ip', ['netns', 'delete', a]);
        execFileSync('ip', ['netns', 'delete', b]);
      }
    }, 60_000);
  },
);
