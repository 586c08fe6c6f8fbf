/**
 * The Debian package, end to end (root, CI): `npm run package` builds it; its contents, control
 * fields and conffiles are checked; `dpkg -i` installs it on this machine (the postinst makes the
 * `capsule` user); `systemd-analyze verify` accepts the three units; then the three services run
 * from their units' command lines — ExecStart verbatim, as the unit's User with its capability
 * sets and no-new-privileges (setpriv), its config at /etc/capsule and its StateDirectory at
 * /var/lib/capsule (a per-node file and directory bind-mounted there in the daemon's own mount
 * namespace, and a /dev/net/tun with a Debian host's mode 0666, which this container's lacks) —
 * each in a network namespace: a controller, an engine and two hosts, and a ping
 * crosses the overlay from one host's TUN to the other's. `dpkg --purge` removes it at the end.
 * systemd itself does not run in this container (no PID 1 systemd), so the units are not started
 * by systemd; what systemd would add beyond the command line, user and capabilities (the
 * ProtectSystem=… sandbox) is checked by systemd-analyze only.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  adminClient,
  agentConfig,
  agentSocketPath,
  applyUseCase,
  bootstrapController,
  bridgeName,
  controllerUrls,
  engineConfig,
  ip,
  labNames,
  labPorts,
  linkExists,
  listNamespaces,
  loadUseCase,
  namespaceName,
  parseTopology,
  pinnedFetch,
  registeredNodes,
  vethName,
} from '@capsule/lab';
import { canRun } from '@capsule/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';

const root = join(import.meta.dirname, '..', '..');
const lab = 'pkg';
const topology = parseTopology(`
name: ${lab}
underlay: 10.217.0.0/24
controller: { name: ctl }
engines: [{ name: e1 }]
links: []
hosts:
  - { name: h1, engines: [e1] }
  - { name: h2, engines: [e1] }
`);
const nodeOf = (name: string) => topology.nodes.find((node) => node.name === name)!;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function run(command: string, args: readonly string[], timeoutMs = 60_000) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      command,
      [...args],
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}
const inNode = (node: string, argv: readonly string[], timeoutMs = 20_000) =>
  run('ip', ['netns', 'exec', namespaceName(lab, node), ...argv], timeoutMs);

/** The settings of a unit file that the command line depends on. */
export function unitService(text: string) {
  const values = new Map<string, string>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) section = line;
    else if (section === '[Service]' && /^[A-Za-z]+=/.test(line)) {
      const at = line.indexOf('=');
      values.set(line.slice(0, at), line.slice(at + 1));
    }
  }
  const caps = (key: string) =>
    (values.get(key) ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .map((cap) => cap.replace(/^CAP_/, '').toLowerCase());
  return {
    execStart: values.get('ExecStart')!.split(/\s+/),
    user: values.get('User')!,
    group: values.get('Group')!,
    ambient: caps('AmbientCapabilities'),
    bounding: caps('CapabilityBoundingSet'),
    noNewPrivileges: values.get('NoNewPrivileges') === 'yes',
    stateDirectory: `/var/lib/${values.get('StateDirectory')}`,
    workingDirectory: values.get('WorkingDirectory')!,
  };
}

const needs = {
  root: true,
  tools: ['dpkg', 'dpkg-deb', 'systemd-analyze', 'ip', 'ping', 'setpriv', 'unshare'],
};

describe.skipIf(!canRun(needs))('the Debian package: build, contents, install, units, three services', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'capsule-package-'));
  const deb = join(root, 'build', 'capsule_0.1.0_amd64.deb');
  const children: { node: string; child: ChildProcess; output: () => string }[] = [];
  const hadUser = execFileSync('getent', ['passwd'], { encoding: 'utf8' }).includes('\ncapsule:');
  const hadState = existsSync('/var/lib/capsule');
  let contents = '';

  const teardownNetwork = () => {
    for (const node of topology.nodes)
      if (listNamespaces().includes(namespaceName(lab, node.name)))
        ip('netns', 'delete', namespaceName(lab, node.name));
    if (linkExists(bridgeName(lab))) ip('link', 'delete', bridgeName(lab));
  };

  beforeAll(async () => {
    teardownNetwork();
    const built = await run(process.execPath, [join(root, 'scripts/package.mjs')], 240_000);
    expect(built.code, built.stderr).toBe(0);
    contents = (await run('dpkg-deb', ['-c', deb])).stdout;
  }, 300_000);

  afterAll(async () => {
    for (const { child } of children) if (child.exitCode === null) child.kill('SIGKILL');
    teardownNetwork();
    await run('dpkg', ['--purge', 'capsule']);
    if (!hadUser) {
      await run('userdel', ['capsule']);
      await run('groupdel', ['capsule']);
    }
    if (!hadState) rmSync('/var/lib/capsule', { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }, 60_000);

  it('holds the command, Node, the bundle, dependencies with their compiled addons, units, configs', async () => {
    for (const path of [
      './usr/bin/capsule',
      './usr/lib/capsule/node',
      './usr/lib/capsule/packages/cli/bin/capsule.js',
      './usr/lib/capsule/packages/cli/dist/capsule.js',
      './usr/lib/capsule/packages/controller/console/index.html',
      // The console's graph library, served from node_modules (console.ts findGraphLibrary).
      './usr/lib/capsule/node_modules/cytoscape/dist/cytoscape.esm.min.mjs',
      './usr/lib/capsule/node_modules/better-sqlite3/build/Release/better_sqlite3.node',
      './usr/lib/capsule/node_modules/fastify/package.json',
      './lib/systemd/system/capsule-controller.service',
      './lib/systemd/system/capsule-engine.service',
      './lib/systemd/system/capsule-agent.service',
      './etc/capsule/controller.yaml',
      './etc/capsule/engine.yaml',
      './etc/capsule/agent.yaml',
      './usr/share/bash-completion/completions/capsule',
      './usr/share/zsh/vendor-completions/_capsule',
      './usr/share/doc/capsule/install.md',
    ])
      expect(contents, path).toMatch(new RegExp(` ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n`));
    // The native I/O addon of the workspace, whichever package holds it.
    expect(contents).toMatch(
      / \.\/usr\/lib\/capsule\/node_modules\/@capsule\/[a-z]+\/build\/Release\/[a-z_]+\.node\n/,
    );
    // No sources, type declarations or build intermediates of dependencies; no dev dependencies.
    expect(contents).not.toMatch(/node_modules\/[^\n]*\.d\.ts\n|\/obj\.target\/|better-sqlite3\/deps\//);
    expect(contents).not.toMatch(/node_modules\/(vitest|typescript|esbuild|@biomejs)\//);
    const field = async (name: string) => (await run('dpkg-deb', ['-f', deb, name])).stdout.trim();
    expect(await field('Package')).toBe('capsule');
    expect(await field('Depends')).toContain('iproute2');
    // A library an addon links is depended on: libsodium's package when @capsule/native was built with it.
    const nativeAddon = join(import.meta.dirname, '../../packages/native/build/Release/capsule_native.node');
    if (execFileSync('ldd', [nativeAddon], { encoding: 'utf8' }).includes('libsodium.so.23'))
      expect((await field('Depends')).split(', ')).toContain('libsodium23');
    const control = (await run('dpkg-deb', ['-e', deb, join(scratch, 'control')])).code;
    expect(control).toBe(0);
    expect(
      readFileSync(join(scratch, 'control', 'conffiles'), 'utf8')
        .trim()
        .split('\n'),
    ).toEqual(['/etc/capsule/controller.yaml', '/etc/capsule/engine.yaml', '/etc/capsule/agent.yaml']);
  });

  it('installs with dpkg: the capsule user, the configs readable by its group only, the command', async () => {
    const installed = await run('dpkg', ['-i', deb], 120_000);
    expect(installed.code, installed.stderr).toBe(0);
    expect((await run('getent', ['passwd', 'capsule'])).stdout).toMatch(
      /^capsule:x:\d+:\d+:Capsule daemons:\/var\/lib\/capsule:\/usr\/sbin\/nologin/,
    );
    for (const name of ['controller', 'engine', 'agent'])
      expect((await run('stat', ['-c', '%U:%G %a', `/etc/capsule/${name}.yaml`])).stdout.trim()).toBe(
        'root:capsule 640',
      );
    expect((await run('/usr/bin/capsule', ['--version'])).stdout.trim()).toBe('0.1.0');
    // The daemons run without V8's memory reducer (idle-time compaction under the fast path).
    expect((await run('cat', ['/usr/bin/capsule'])).stdout).toContain(
      'exec /usr/lib/capsule/node --no-memory-reducer /usr/lib/capsule/packages/cli/bin/capsule.js',
    );
    // The installed configs check (only the node passwords and addresses are the operator's to set).
    for (const name of ['controller', 'engine', 'agent']) {
      const checked = await run('/usr/bin/capsule', [name, 'check-config', `/etc/capsule/${name}.yaml`]);
      expect(checked.code, `${name}: ${checked.stderr}`).toBe(0);
    }
  }, 180_000);

  it('has units that systemd-analyze verify accepts', async () => {
    const units = ['controller', 'engine', 'agent'].map(
      (name) => `/lib/systemd/system/capsule-${name}.service`,
    );
    const verified = await run('systemd-analyze', ['verify', ...units]);
    expect(verified, verified.stderr).toMatchObject({ code: 0, stderr: '' });
  });

  it('runs controller, engine and two agents from their units’ command lines in namespaces: ping crosses the overlay', async () => {
    // The underlay: a bridge and a namespace per node (as the lab builds it).
    const [network, prefix] = topology.underlay.split('/');
    ip('link', 'add', bridgeName(lab), 'type', 'bridge');
    ip('addr', 'add', `${network!.replace(/\.0$/, '.1')}/${prefix}`, 'dev', bridgeName(lab));
    ip('link', 'set', bridgeName(lab), 'up');
    for (const node of topology.nodes) {
      const ns = namespaceName(lab, node.name);
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('link', 'add', vethName(lab, node.name), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('link', 'set', vethName(lab, node.name), 'master', bridgeName(lab));
      ip('link', 'set', vethName(lab, node.name), 'up');
      ip('-n', ns, 'addr', 'add', `${node.address}/${topology.prefixLength}`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
    }
    const nodePassword = 'package-node-password';
    const adminPassword = 'package-admin-password';

    /** Starts a unit's ExecStart in a node's namespace, as the unit would run it (see the file comment). */
    const startUnit = (
      node: string,
      unit: 'controller' | 'engine' | 'agent',
      config: object,
      env: Record<string, string> = {},
    ) => {
      const service = unitService(readFileSync(`/lib/systemd/system/capsule-${unit}.service`, 'utf8'));
      const dir = join(scratch, node);
      const state = join(dir, 'state');
      mkdirSync(state, { recursive: true });
      execFileSync('chown', [`${service.user}:${service.group}`, state]);
      execFileSync('chmod', ['0700', state]);
      const configFile = join(dir, `${unit}.yaml`);
      writeFileSync(configFile, YAML.stringify(config));
      execFileSync('chown', [`root:${service.group}`, configFile]);
      execFileSync('chmod', ['0640', configFile]);
      execFileSync('install', [
        '-d',
        '-o',
        service.user,
        '-g',
        service.group,
        '-m',
        '0700',
        service.stateDirectory,
      ]);
      const caps = (list: string[]) =>
        list.length === 0 ? '-all' : `-all,${list.map((c) => `+${c}`).join(',')}`;
      const setpriv = [
        'setpriv',
        `--reuid=${service.user}`,
        `--regid=${service.group}`,
        '--init-groups',
        `--bounding-set=${caps(service.bounding)}`,
        `--inh-caps=${caps(service.ambient)}`,
        `--ambient-caps=${caps(service.ambient)}`,
        ...(service.noNewPrivileges ? ['--no-new-privs'] : []),
        '--',
        ...service.execStart,
      ];
      // /dev/net/tun is crw-rw-rw- on a Debian host (udev's rule for the static node); in this
      // container it is crw------- root. The daemon's mount namespace gets a node like the host's.
      const tunNode = join(dir, 'tun');
      if (!existsSync(tunNode)) execFileSync('mknod', ['-m', '0666', tunNode, 'c', '10', '200']);
      const script =
        'mount --bind "$1" "$2" && mount --bind "$3" "$4" && mount --bind "$5" /dev/net/tun && cd "$6" && shift 6 && exec "$@"';
      const child = spawn(
        'ip',
        [
          'netns',
          'exec',
          namespaceName(lab, node),
          'unshare',
          '--mount',
          '--propagation',
          'private',
          '--',
          'sh',
          '-c',
          script,
          'sh',
          configFile,
          `/etc/capsule/${unit}.yaml`,
          state,
          service.stateDirectory,
          tunNode,
          service.workingDirectory,
          ...setpriv,
        ],
        { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout!.on('data', (chunk) => (output += chunk));
      child.stderr!.on('data', (chunk) => (output += chunk));
      const entry = { node, child, output: () => output };
      children.push(entry);
      return entry;
    };

    const urls = controllerUrls(topology);
    const ctl = nodeOf('ctl');
    const controller = startUnit(
      'ctl',
      'controller',
      {
        dataDir: '/var/lib/capsule/controller',
        listen: `${ctl.address}:${labPorts.northbound}`,
        southboundListen: `${ctl.address}:${labPorts.southbound}`,
        sqliteSynchronous: 'NORMAL',
      },
      { CAPSULE_ADMIN_PASSWORD: adminPassword },
    );
    // TLS by default: the controller prints its certificate's pin at start; every client pins it.
    let admin: Awaited<ReturnType<typeof adminClient>> | undefined;
    let caSha256: string | undefined;
    for (let i = 0; i < 100 && !admin; i += 1) {
      caSha256 = /certificate sha256 ([0-9a-f]{64})/.exec(controller.output())?.[1];
      if (caSha256)
        admin = await adminClient(urls.northboundUrl, adminPassword, caSha256).catch(() => undefined);
      if (!admin) await sleep(200);
    }
    expect(admin, controller.output()).toBeDefined();
    // The installed controller serves the console and its graph library (from the package's node_modules).
    const library = await pinnedFetch(caSha256!)(`${urls.northboundUrl}/console/cytoscape.mjs`);
    expect(library.status).toBe(200);
    expect(await library.text()).toMatch(/as default\}/);
    await bootstrapController(admin!, nodePassword);
    startUnit('e1', 'engine', {
      ...engineConfig(topology, nodeOf('e1'), '/var/lib/capsule/engine', nodePassword, caSha256!),
      logLevel: 'warn',
    });
    for (const host of ['h1', 'h2'])
      startUnit(host, 'agent', {
        ...agentConfig(topology, nodeOf(host), '/var/lib/capsule/agent', nodePassword, caSha256!),
        logLevel: 'warn',
      });
    const deadline = Date.now() + 60_000;
    for (;;) {
      const registered = await registeredNodes(admin!);
      if (['e1', 'h1', 'h2'].every((name) => registered.get(name))) break;
      if (Date.now() > deadline)
        throw new Error(
          `not registered: ${[...registered].map(([n, id]) => `${n}=${id}`).join(' ')}\n${children.map((c) => `${c.node}: ${c.output()}`).join('\n')}`,
        );
      await sleep(300);
    }
    // Each daemon runs as the unit's user with only the unit's capabilities (every step of the
    // command line execs, so the child's pid is the daemon's): none, or the agent's two.
    const uid = execFileSync('id', ['-u', 'capsule'], { encoding: 'utf8' }).trim();
    for (const { node, child } of children) {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      expect(status, node).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
      const effective = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(status)![1]}`);
      const expected = node.startsWith('h') ? (1n << 12n) | (1n << 10n) : 0n; // CAP_NET_ADMIN, CAP_NET_BIND_SERVICE
      expect(effective, node).toBe(expected);
      expect(status, node).toMatch(/^NoNewPrivs:\s+1$/m);
    }

    // The micro-segmentation contract; h1 takes web, h2 db through the installed CLI.
    const token = await applyUseCase(
      admin!,
      loadUseCase(join(root, 'examples', 'use-cases', '1-micro-segmentation')),
    );
    const cli = async (node: string, ...args: string[]) => {
      // Over the agent's Unix socket: in its state dir (/var/lib/capsule/agent in the daemon's
      // mount namespace, the node's state dir from here; the lab's agent config puts it there).
      const socket = agentSocketPath(join(scratch, node, 'state'));
      const result = await inNode(node, ['/usr/bin/capsule', 'agent', ...args, '--socket', socket]);
      expect(result.code, `${node} ${args.join(' ')}: ${result.stderr}`).toBe(0);
      return JSON.parse(result.stdout);
    };
    await cli('h1', 'register', `web.shop.${labNames.hostDomain}.capsule`, '--token', token);
    await cli('h2', 'register', `db.shop.${labNames.hostDomain}.capsule`, '--token', token);
    const h2 = (await cli('h2', 'status')).hostId as string;
    let peers = 0;
    for (let i = 0; i < 50 && peers === 0; i += 1) {
      peers = (await cli('h1', 'endpoints')).items[0]?.peers.length ?? 0;
      if (peers === 0) await sleep(200);
    }
    expect(peers).toBe(1);
    let ping = await inNode('h1', ['ping', '-6', '-c', '3', '-i', '0.3', '-W', '2', h2]);
    for (let i = 0; i < 5 && !ping.stdout.includes(' 0% packet loss'); i += 1) {
      await sleep(500);
      ping = await inNode('h1', ['ping', '-6', '-c', '3', '-i', '0.3', '-W', '2', h2]);
    }
    expect(ping.stdout, ping.stderr).toContain('3 received');
    console.info(`package: ping h1 → h2 through e1: ${ping.stdout.trim().split('\n').pop()}`);

    // SIGTERM (systemd's stop): each daemon exits 0.
    for (const { child } of [...children].reverse()) {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 240_000);
});
