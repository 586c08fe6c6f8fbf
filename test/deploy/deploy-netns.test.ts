/**
 * docs/deploy.md, followed as written (root, CI, under the netns lock): every ` ```sh machine=NAME `
 * block of the guide runs, in order, with bash in that machine's network namespace (lab `dep`,
 * underlay 10.219.0.0/24 on a bridge) and its own /etc/capsule, /var/lib/capsule, /run/capsule, /run/postgresql and home (a private
 * mount namespace per command). What a container without systemd or an installed package needs is
 * the only change (the guide's last section lists it): `sudo` dropped, `apt install` not run (the
 * `capsule` command is the repository's bundle, /usr/lib/capsule/examples the repository's
 * examples), `systemctl enable --now|restart capsule-X` runs the unit's ExecStart (from
 * packaging/systemd) in the background with its EnvironmentFile, `capture=NAME` keeps a block's
 * output for later blocks. Blocks that only read or that depend on a node having registered
 * (ping, `capsule login`, `capsule get`, `agent register`) are retried for a while, as a person would.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bridgeName, ip, linkExists, listNamespaces, namespaceName, vethName } from '@capsule/lab';
import { canRun } from '@capsule/testkit';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const lab = 'dep';
const machines: Record<string, string> = {
  ctl: '10.219.0.2',
  e1: '10.219.0.3',
  h1: '10.219.0.4',
  h2: '10.219.0.5',
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The `postgres` user's uid (or gid with 'g'), as Debian's postgresql package creates it. */
function postgresUid(kind: 'u' | 'g' = 'u'): number {
  return Number(execFileSync('id', [`-${kind}`, 'postgres'], { encoding: 'utf8' }).trim());
}

/** Debian's PostgreSQL server programs (initdb, pg_ctl): the newest installed version. */
const postgresBin = (() => {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql') : [];
  const newest = versions.sort((a, b) => Number(a) - Number(b)).at(-1);
  return newest ? `/usr/lib/postgresql/${newest}/bin` : undefined;
})();

/** The guide's blocks, in order. */
export function guideBlocks(markdown: string) {
  const blocks: { machine: string; capture?: string; script: string }[] = [];
  for (const match of markdown.matchAll(/^```sh machine=(\w+)(?: capture=(\w+))?\n([\s\S]*?)^```$/gm))
    blocks.push({ machine: match[1]!, capture: match[2], script: match[3]! });
  return blocks;
}

describe.skipIf(
  !canRun({
    root: true,
    tools: ['ip', 'ping', 'unshare', 'bash', 'runuser', 'psql', 'createdb', 'pg_ctlcluster'],
  }),
)('docs/deploy.md, followed in network namespaces', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'capsule-deploy-'));
  const bin = join(scratch, 'bin');
  const daemons = new Map<string, { child: ChildProcess; output: () => string }>();
  const variables: Record<string, string> = {};
  const createdMountPoints: string[] = [];

  const teardownNetwork = () => {
    for (const machine of Object.keys(machines))
      if (listNamespaces().includes(namespaceName(lab, machine)))
        ip('netns', 'delete', namespaceName(lab, machine));
    if (linkExists(bridgeName(lab))) ip('link', 'delete', bridgeName(lab));
  };

  afterAll(async () => {
    for (const { child } of daemons.values()) if (child.exitCode === null) child.kill('SIGKILL');
    await stopPostgres();
    await sleep(200);
    teardownNetwork();
    for (const dir of createdMountPoints.reverse()) rmSync(dir, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }, 30_000);

  /** argv that runs `command` in `machine`'s network namespace with its own /etc/capsule, state and home. */
  const inMachine = (machine: string, command: readonly string[]) => {
    const dir = join(scratch, machine);
    return [
      'netns',
      'exec',
      namespaceName(lab, machine),
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      'mount --bind "$1" /etc/capsule && mount --bind "$2" /var/lib/capsule && mount --bind "$3" /run/capsule && mount --bind "$4" /run/postgresql && cd "$5" && shift 5 && exec "$@"',
      'sh',
      join(dir, 'etc'),
      join(dir, 'var'),
      join(dir, 'run'),
      join(dir, 'pgrun'),
      join(dir, 'home'),
      ...command,
    ];
  };
  const environment = (machine: string, extra: Record<string, string> = {}) => ({
    PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: join(scratch, machine, 'home'),
    ...variables,
    ...extra,
  });

  const runScript = (machine: string, script: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        'ip',
        inMachine(machine, ['bash', '-e', '-o', 'pipefail', '-c', script]),
        { encoding: 'utf8', timeout: 120_000, env: environment(machine) },
        (error, stdout, stderr) =>
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
      );
    });

  /**
   * What `apt install postgresql` gives a real machine: a PostgreSQL server of its own in `ctl`
   * (127.0.0.1:5432 and the socket in /run/postgresql, peer authentication for local users,
   * passwords over TCP), run by the `postgres` user from a cluster in the scratch directory.
   */
  const pgData = join(scratch, 'pgdata');
  const startPostgres = async () => {
    const asPostgres = (command: string[]) =>
      new Promise<void>((resolve, reject) =>
        execFile(
          'ip',
          inMachine('ctl', ['runuser', '-u', 'postgres', '--', ...command]),
          { encoding: 'utf8', timeout: 60_000 },
          (error, stdout, stderr) =>
            error ? reject(new Error(`${command[0]}: ${stdout}${stderr}`)) : resolve(),
        ),
      );
    mkdirSync(pgData, { mode: 0o700 });
    chownSync(pgData, postgresUid(), postgresUid('g'));
    chownSync(join(scratch, 'ctl', 'pgrun'), postgresUid(), postgresUid('g'));
    await asPostgres([
      `${postgresBin}/initdb`,
      '-D',
      pgData,
      '--auth-local=peer',
      '--auth-host=scram-sha-256',
      '-U',
      'postgres',
    ]);
    await asPostgres([
      `${postgresBin}/pg_ctl`,
      '-D',
      pgData,
      '-l',
      join(pgData, 'server.log'),
      '-w',
      '-o',
      '-c listen_addresses=127.0.0.1 -c port=5432 -c unix_socket_directories=/run/postgresql',
      'start',
    ]);
  };
  const stopPostgres = async () => {
    const pidFile = join(pgData, 'postmaster.pid');
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    try {
      process.kill(pid, 'SIGQUIT'); // immediate shutdown
    } catch {}
    for (let i = 0; i < 50 && existsSync(pidFile); i++) await sleep(100);
  };

  /** `systemctl enable --now` / `restart` of a unit: its ExecStart in the background, with its EnvironmentFile. */
  const startUnit = async (machine: string, unit: string) => {
    const text = readFileSync(join(root, 'packaging', 'systemd', `${unit}.service`), 'utf8');
    const execStart = /^ExecStart=(.+)$/m.exec(text)![1]!.split(/\s+/);
    const envFile = join(scratch, machine, 'etc', `${unit.replace('capsule-', '')}.env`);
    const env: Record<string, string> = {};
    if (existsSync(envFile))
      for (const line of readFileSync(envFile, 'utf8').split('\n')) {
        const at = line.indexOf('=');
        if (at > 0 && !line.startsWith('#')) env[line.slice(0, at)] = line.slice(at + 1);
      }
    const key = `${machine}/${unit}`;
    const running = daemons.get(key);
    if (running && running.child.exitCode === null) {
      const exited = new Promise((resolve) => running.child.once('exit', resolve));
      running.child.kill('SIGTERM');
      expect(await exited, `${key} exit code at SIGTERM`).toBe(0);
    }
    const child = spawn('ip', inMachine(machine, [join(bin, 'capsule'), ...execStart.slice(1)]), {
      env: environment(machine, env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    daemons.set(key, { child, output: () => output });
    await sleep(1500);
    expect(child.exitCode, `${key}: ${output}`).toBeNull();
  };

  it('runs every block of the guide: four machines from nothing to a ping through the engine, then the upgrade restarts', async () => {
    teardownNetwork();
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'capsule'),
      `#!/bin/sh\nexec ${process.execPath} ${join(root, 'packages/cli/bin/capsule.js')} "$@"\n`,
    );
    chmodSync(join(bin, 'capsule'), 0o755);
    for (const point of ['/etc/capsule', '/var/lib/capsule', '/run/capsule', '/run/postgresql'])
      if (!existsSync(point)) {
        mkdirSync(point, { recursive: true });
        createdMountPoints.push(point);
      }
    ip('link', 'add', bridgeName(lab), 'type', 'bridge');
    ip('addr', 'add', '10.219.0.1/24', 'dev', bridgeName(lab));
    ip('link', 'set', bridgeName(lab), 'up');
    for (const [machine, address] of Object.entries(machines)) {
      for (const sub of ['etc', 'var', 'run', 'pgrun', 'home'])
        mkdirSync(join(scratch, machine, sub), { recursive: true });
      const ns = namespaceName(lab, machine);
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('link', 'add', vethName(lab, machine), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('link', 'set', vethName(lab, machine), 'master', bridgeName(lab));
      ip('link', 'set', vethName(lab, machine), 'up');
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
    }

    chmodSync(scratch, 0o755); // the postgres user reaches its cluster and socket directory below it
    chmodSync(join(scratch, 'ctl'), 0o755);
    await startPostgres();

    const blocks = guideBlocks(readFileSync(join(root, 'docs', 'deploy.md'), 'utf8'));
    expect(blocks.length).toBeGreaterThan(10);
    const log: string[] = [];
    for (const block of blocks) {
      expect(Object.keys(machines), `unknown machine ${block.machine}`).toContain(block.machine);
      // Split at systemctl lines: the shell runs what is between them.
      const parts: ({ shell: string } | { unit: string })[] = [{ shell: '' }];
      for (const raw of block.script.split('\n')) {
        const line = raw
          .replace(/^(\s*)sudo -u postgres /, '$1runuser -u postgres -- ')
          .replace(/^(\s*)sudo /, '$1')
          .replace(/\| sudo /g, '| ')
          .replaceAll('/usr/lib/capsule/', `${root}/`);
        const unit = /^systemctl (?:enable --now|restart) (capsule-\w+)$/.exec(line);
        if (unit) parts.push({ unit: unit[1]! }, { shell: '' });
        else (parts.at(-1) as { shell: string }).shell += `${line}\n`;
      }
      // (The controller's certificate is written once its store is open: read it again until it is there.)
      const retry = /\bping\b|capsule get|capsule login|agent register|tls-cert\.pem/.test(block.script);
      for (const part of parts) {
        if ('unit' in part) {
          await startUnit(block.machine, part.unit);
          continue;
        }
        if (part.shell.trim() === '') continue;
        // What the guide promises of a block (a person runs it again until it holds, for a while).
        const holds = (r: { code: number; stdout: string }) =>
          r.code === 0 &&
          (!/\bping\b/.test(part.shell) || r.stdout.includes('3 received')) &&
          (!/capsule get node/.test(part.shell) || ['e1', 'h1', 'h2'].every((n) => r.stdout.includes(n)));
        let result = await runScript(block.machine, part.shell);
        for (let attempt = 0; retry && !holds(result) && attempt < 30; attempt++) {
          await sleep(1000);
          result = await runScript(block.machine, part.shell);
        }
        log.push(`[${block.machine}] ${part.shell.trim().split('\n')[0]} → ${result.code}`);
        expect(
          result.code,
          `${block.machine}: ${part.shell}\n${result.stdout}\n${result.stderr}\n${[...daemons].map(([k, d]) => `${k}: ${d.output().slice(-2000)}`).join('\n')}`,
        ).toBe(0);
        if (block.capture) variables[block.capture] = result.stdout.trim();
        if (/\bping\b/.test(part.shell)) expect(result.stdout).toContain('3 received');
        if (/capsule get node/.test(part.shell))
          for (const name of ['e1', 'h1', 'h2']) expect(result.stdout).toContain(name);
      }
    }
    expect(variables.TOKEN).toMatch(/^\S{16,}$/);
    // The pin every node and the CLI used: the certificate the controller serves, as openssl prints it.
    expect(variables.CA_SHA256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    console.info(`deploy guide: ${blocks.length} blocks\n${log.join('\n')}`);

    // After the upgrade restarts: the nodes come back with their identities and traffic flows.
    const pingBlock = blocks.find((b) => b.machine === 'h1' && /\bping\b/.test(b.script))!;
    let ping = await runScript('h1', pingBlock.script);
    for (let attempt = 0; ping.code !== 0 && attempt < 40; attempt++) {
      await sleep(1000);
      ping = await runScript('h1', pingBlock.script);
    }
    expect(
      ping.stdout,
      `${ping.stderr}\n${[...daemons].map(([k, d]) => `${k}: ${d.output().slice(-2000)}`).join('\n')}`,
    ).toContain('3 received');

    // The controller's objects are in PostgreSQL (the guide's store), not in a SQLite file.
    const nodes = await runScript(
      'ctl',
      `runuser -u postgres -- psql -d capsule -tAc "select hostname from nodes order by id"`,
    );
    expect(nodes.stdout.trim().split('\n')).toEqual(['e1', 'h1', 'h2']);
    expect(existsSync(join(scratch, 'ctl', 'var', 'controller', 'controller.db'))).toBe(false);

    // Every daemon stops cleanly (systemd's stop is SIGTERM).
    for (const [key, { child }] of [...daemons].reverse()) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited, key).toBe(0);
    }
  }, 420_000);
});
