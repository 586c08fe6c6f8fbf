import { execFileSync, spawnSync } from 'node:child_process';
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
