import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  installHostResolver,
  parseResolvConf,
  type RunCommand,
  readHostNameservers,
  recoverResolvConf,
  resolvConfBackupName,
  systemdResolvedRuns,
} from './host-resolver';

const seed = Number(process.env.CAPSULE_TEST_SEED ?? 20_260_601);
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const scratch = () => {
  const dir = mkdtempSync(join(tmpdir(), 'capsule-host-resolver-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'data'));
  return dir;
};

const original =
  '# from DHCP\nnameserver 10.9.8.7\nnameserver fd00::53\nsearch corp.example\noptions edns0 timeout:2\n';

describe('resolv.conf', () => {
  it('parses nameservers and keeps search and options lines; never throws on garbage', () => {
    expect(parseResolvConf(original)).toEqual({
      nameservers: [
        { host: '10.9.8.7', port: 53 },
        { host: 'fd00::53', port: 53 },
      ],
      keptLines: ['search corp.example', 'options edns0 timeout:2'],
    });
    expect(parseResolvConf('nameserver evil;rm -rf /\nnameserver fe80::1%eth0 # zone\n').nameservers).toEqual(
      [{ host: 'fe80::1', port: 53 }],
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 2000 }), (text) => {
        const parsed = parseResolvConf(text);
        for (const server of parsed.nameservers) expect(server.host).toMatch(/^[0-9A-Fa-f:.]+$/);
      }),
      { seed, numRuns: 500 },
    );
  });

  it('installs the agent as the nameserver, keeps search and options, and puts the file back at stop', async () => {
    const dir = scratch();
    const path = join(dir, 'resolv.conf');
    writeFileSync(path, original);
    const installed = await installHostResolver(
      {
        mode: 'resolv.conf',
        listen: { host: '127.0.0.53', port: 53 },
        tunName: 'capsule0',
        dataDir: join(dir, 'data'),
        hostName: 'h1',
        resolvConfPath: path,
      },
      async () => ({ code: 1, output: 'must not run' }),
    );
    const written = readFileSync(path, 'utf8');
    expect(parseResolvConf(written)).toEqual({
      nameservers: [{ host: '127.0.0.53', port: 53 }],
      keptLines: ['search corp.example', 'options edns0 timeout:2'],
    });
    expect(written).toContain('Capsule agent of h1');
    await installed.uninstall();
    expect(readFileSync(path, 'utf8')).toBe(original);
    expect(readHostNameservers(path)).toEqual(parseResolvConf(original).nameservers);
  });

  it('puts back the file an agent that did not stop left behind, before anything reads it', async () => {
    const dir = scratch();
    const path = join(dir, 'resolv.conf');
    writeFileSync(path, original);
    await installHostResolver(
      {
        mode: 'resolv.conf',
        listen: { host: '127.0.0.53', port: 53 },
        tunName: undefined,
        dataDir: join(dir, 'data'),
        hostName: 'h1',
        resolvConfPath: path,
      },
      async () => ({ code: 0, output: '' }),
    );
    // SIGKILL: no uninstall. The next start recovers.
    expect(readHostNameservers(path)).toEqual([{ host: '127.0.0.53', port: 53 }]);
    expect(recoverResolvConf(join(dir, 'data'))).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe(original);
    expect(recoverResolvConf(join(dir, 'data'))).toBe(false);
    // A damaged backup is a clear error, not a crash (and nothing is written).
    writeFileSync(join(dir, 'data', resolvConfBackupName), '{"path": 3');
    expect(() => recoverResolvConf(join(dir, 'data'))).toThrow(/backup .* is unreadable/);
    expect(readFileSync(path, 'utf8')).toBe(original);
  });

  it('replaces a symlink (a stub of a resolver that does not run) and puts the link back', async () => {
    const dir = scratch();
    const target = join(dir, 'stub-resolv.conf');
    const path = join(dir, 'resolv.conf');
    writeFileSync(target, 'nameserver 127.0.0.53\n');
    symlinkSync(target, path);
    const installed = await installHostResolver(
      {
        mode: 'resolv.conf',
        listen: { host: '127.0.0.54', port: 53 },
        tunName: undefined,
        dataDir: join(dir, 'data'),
        hostName: 'h',
        resolvConfPath: path,
      },
      async () => ({ code: 0, output: '' }),
    );
    expect(lstatSync(path).isSymbolicLink()).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe('nameserver 127.0.0.53\n'); // the stub is untouched
    await installed.uninstall();
    expect(readlinkSync(path)).toBe(target);
  });

  it('refuses a resolver port other than 53 (resolv.conf cannot name one)', async () => {
    const dir = scratch();
    await expect(
      installHostResolver(
        {
          mode: 'resolv.conf',
          listen: { host: '127.0.0.1', port: 5353 },
          tunName: undefined,
          dataDir: join(dir, 'data'),
          hostName: 'h',
          resolvConfPath: join(dir, 'r'),
        },
        async () => ({ code: 0, output: '' }),
      ),
    ).rejects.toMatchObject({ code: 'CLI_RESOLVER_INSTALL', message: /port 53/ });
    expect(readFileSync.bind(null, join(dir, 'data', resolvConfBackupName))).toThrow();
  });
});

describe('systemd-resolved (resolvectl, recorded: systemd-resolved does not run on this machine)', () => {
  const recorder = (failOn?: string) => {
    const calls: string[] = [];
    const run: RunCommand = async (command, args) => {
      calls.push([command, ...args].join(' '));
      return args[0] === failOn
        ? { code: 1, output: 'Failed to set DNS configuration: Link capsule0 not known' }
        : { code: 0, output: '' };
    };
    return { calls, run };
  };

  it('sets per-link DNS and the ~capsule routing domain on the TUN, and reverts at stop', async () => {
    const { calls, run } = recorder();
    expect(await systemdResolvedRuns(run)).toBe(true);
    const installed = await installHostResolver(
      {
        mode: 'systemd-resolved',
        listen: { host: '100.100.0.1', port: 53 },
        tunName: 'capsule0',
        dataDir: '/nonexistent',
        hostName: 'h',
      },
      run,
    );
    await installed.uninstall();
    expect(calls).toEqual([
      'resolvectl --no-pager status',
      'resolvectl dns capsule0 100.100.0.1:53',
      'resolvectl domain capsule0 ~capsule',
      'resolvectl default-route capsule0 false',
      'resolvectl revert capsule0',
    ]);
  });

  it('refuses a loopback resolver address and no TUN; reverts and says why when resolvectl fails', async () => {
    const { run, calls } = recorder('domain');
    const base = { mode: 'systemd-resolved' as const, dataDir: '/nonexistent', hostName: 'h' };
    await expect(
      installHostResolver({ ...base, listen: { host: '127.0.0.53', port: 53 }, tunName: 'capsule0' }, run),
    ).rejects.toThrow(/must be an address on capsule0/);
    await expect(
      installHostResolver({ ...base, listen: { host: '100.100.0.1', port: 53 }, tunName: undefined }, run),
    ).rejects.toThrow(/needs the agent’s TUN/);
    await expect(
      installHostResolver({ ...base, listen: { host: 'fd00::1', port: 53 }, tunName: 'capsule0' }, run),
    ).rejects.toThrow(/resolvectl domain capsule0 ~capsule: Failed to set DNS configuration/);
    expect(calls).toEqual([
      'resolvectl dns capsule0 [fd00::1]:53',
      'resolvectl domain capsule0 ~capsule',
      'resolvectl revert capsule0',
    ]);
  });
});
