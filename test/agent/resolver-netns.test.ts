/**
 * The agent as the host's resolver for `.capsule`, in network namespaces (lab `dnsnet`, underlay
 * 10.224.0.0/24): one controller, one engine, host a (client) and host b (server) of the
 * load-balancing contract (examples/use-cases/2-load-balancing: LoadBalancer, roles client and
 * server). Host a's namespace has its own /etc/resolv.conf (`ip netns exec` bind-mounts
 * /etc/netns/NS/resolv.conf over it) naming a tiny DNS server on a's loopback: the host's "real"
 * resolver, which knows www.example.test and nothing else. Nothing leaves the machine.
 *
 * a's agent, started with `resolver.install: resolv.conf`, makes itself the nameserver of that
 * file; then, with the system's own resolver (glibc: getent, curl):
 * - `role.server.api.<domain>.capsule` is the server role's address, and `curl` by that name
 *   reaches the HTTP server on b through Capsule (the contract's program picks the member);
 * - `server.api.<domain>.capsule` is b's CGA and its IPv4 alias, and `curl` by it reaches b too;
 * - www.example.test (and `www` through the file's `search`) still resolve, forwarded upstream;
 * - stopping the agent puts the file back as it was.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { roleAddress } from '@capsule/agent';
import { formatIpv6Address, parseIpv6Address } from '@capsule/identity';
import {
  adminClient,
  agentSocketPath,
  applyUseCase,
  labDown,
  labNames,
  loadUseCase,
  namespaceName,
  netnsLabUp,
  parseTopology,
  readLabState,
  startProcess,
  stopProcesses,
  writeLabState,
} from '@capsule/lab';
import { canRun } from '@capsule/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { netnsLab, waitFor } from '../netns-lab';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'packages', 'cli', 'bin', 'capsule.js');
const labName = 'dnsnet';
const dataDir = join(tmpdir(), 'capsule-test-resolver-netns-lab');
const topology = parseTopology(`
name: ${labName}
underlay: 10.224.0.0/24
controller: { name: ctl }
engines: [{ name: e1 }]
links: []
hosts:
  - { name: a, engines: [e1] }
  - { name: b, engines: [e1] }
`);
const domain = labNames.hostDomain;
const serverName = `server.api.${domain}.capsule`;
const roleName = `role.server.api.${domain}.capsule`;
const _sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// a's namespace's resolv.conf (bind-mounted by `ip netns exec`): the host's resolver before Capsule.
const netnsDir = `/etc/netns/${namespaceName(labName, 'a')}`;
const resolvConf = join(netnsDir, 'resolv.conf');
const original = 'nameserver 127.0.0.2\nsearch example.test\noptions timeout:1 attempts:2\n';

const { inNode, agentCli } = netnsLab(labName, dataDir, cli);

/** getent ahosts NAME in a: the addresses, one per line as glibc lists them (first column). */
async function ahosts(name: string): Promise<{ code: number; addresses: string[] }> {
  const run = await inNode('a', ['getent', 'ahosts', name]);
  const addresses = [...new Set(run.stdout.split('\n').map((line) => line.split(/\s+/)[0]!))].filter(Boolean);
  return { code: run.code, addresses };
}

describe.skipIf(!canRun({ root: true, tools: ['ip', 'curl', 'getent'] }))(
  'the agent as the host resolver for .capsule (resolv.conf, network namespaces)',
  () => {
    const children: ChildProcess[] = [];
    let token = '';
    let contractId = 0;
    const hostId: Record<string, string> = {};
    let madeDir = false;

    function background(node: string, argv: readonly string[]): void {
      const child = spawn('ip', ['netns', 'exec', namespaceName(labName, node), ...argv], {
        stdio: 'ignore',
      });
      children.push(child);
    }

    /** Stops a's agent; resolves to the function that starts it again with the same argv. */
    async function stopAgentA(): Promise<() => void> {
      const state = readLabState(dataDir)!;
      const index = state.processes.findIndex((record) => record.node === 'a');
      const old = state.processes[index]!;
      await stopProcesses([old]);
      return () => {
        const dir = state.nodes.find((n) => n.name === 'a')!.dir;
        state.processes[index] = startProcess('a', old.argv, old.logFile, { ...process.env }, dir);
        writeLabState(state);
      };
    }

    const bAsPeerOfA = async () => {
      const { items } = await agentCli('a', 'endpoints');
      return items[0]?.peers.find((peer: { hostId: string }) => peer.hostId === hostId.b) as
        | { hostId: string; ipv4Alias: string }
        | undefined;
    };

    beforeAll(async () => {
      const stale = await labDown(dataDir);
      if (stale.leftovers.length > 0) throw new Error(`stale lab left: ${stale.leftovers.join(', ')}`);
      madeDir = !existsSync(netnsDir);
      mkdirSync(netnsDir, { recursive: true });
      writeFileSync(resolvConf, original);
      const state = await netnsLabUp(topology, {
        dataDir,
        cliPath: cli,
        nodePath: process.execPath,
        env: process.env,
        readyTimeoutMs: 30_000,
      });
      const admin = await adminClient(
        state.controller!.northboundUrl,
        state.controller!.adminPassword,
        state.controller!.caSha256,
      );
      token = await applyUseCase(admin, loadUseCase(join(root, 'examples', 'use-cases', '2-load-balancing')));
      contractId = (await admin.contracts.list({ limit: 1000 })).items.find((c) => c.name === 'api')!.id;
      for (const node of ['a', 'b']) hostId[node] = (await agentCli(node, 'status')).hostId;
      await agentCli('b', 'register', serverName, '--token', token);
      // The HTTP server on b (every address, the role address too): answers with the body's length.
      background('b', [
        process.execPath,
        '-e',
        `require('node:http').createServer((q, r) => { let n = 0; q.on('data', (d) => (n += d.length));
         q.on('end', () => r.end('capsule-http-ok ' + n)); }).listen(8080, '::')`,
      ]);
      // The host's own resolver on a's loopback: A 192.0.2.80 for www.example.test, else NXDOMAIN.
      background('a', [
        process.execPath,
        '-e',
        `const s = require('node:dgram').createSocket('udp4');
         s.on('message', (q, from) => {
           let i = 12; const labels = [];
           while (q[i]) { labels.push(q.subarray(i + 1, i + 1 + q[i]).toString()); i += q[i] + 1; }
           const type = q.readUInt16BE(i + 1); const end = i + 5;
           const known = labels.join('.').toLowerCase() === 'www.example.test';
           const head = Buffer.from(q.subarray(0, end)); head[2] = 0x81; head[3] = known ? 0x80 : 0x83;
           head.writeUInt16BE(0, 6); head.writeUInt16BE(0, 8); head.writeUInt16BE(0, 10);
           if (!known || type !== 1) return s.send(head, from.port, from.address);
           head.writeUInt16BE(1, 6);
           s.send(Buffer.concat([head, Buffer.from('c00c000100010000003c0004c0000250', 'hex')]), from.port, from.address);
         }).bind(53, '127.0.0.2');`,
      ]);
      // a's agent again, told to install itself (its upstreams: the file's nameserver, read at start).
      const startAgain = await stopAgentA();
      const configFile = readLabState(dataDir)!
        .processes.find((p) => p.node === 'a')!
        .argv.at(-1)!;
      const config = YAML.parse(readFileSync(configFile, 'utf8'));
      writeFileSync(
        configFile,
        YAML.stringify({ ...config, resolver: { listen: '127.0.0.53:53', install: 'resolv.conf' } }),
      );
      startAgain();
      await waitFor(
        'agent a up',
        async () => ((await agentCli('a', 'status')).controller.connected ? true : undefined),
        20_000,
      );
      await agentCli('a', 'register', `client.api.${domain}.capsule`, '--token', token);
      await waitFor('a knows b as a server', bAsPeerOfA, 10_000);
    }, 120_000);

    afterAll(async () => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      const report = await labDown(dataDir);
      rmSync(resolvConf, { force: true });
      if (madeDir) rmSync(netnsDir, { recursive: true, force: true });
      expect(report.leftovers).toEqual([]);
    }, 60_000);

    it('is the nameserver of resolv.conf, keeping its search and options lines', async () => {
      const installed = (await inNode('a', ['cat', '/etc/resolv.conf'])).stdout;
      expect(installed).toMatch(/^nameserver 127\.0\.0\.53$/m);
      expect(installed).not.toMatch(/127\.0\.0\.2/);
      expect(installed).toMatch(/^search example\.test$/m);
      expect(installed).toMatch(/^options timeout:1 attempts:2$/m);
    });

    it('answers the role name with the role address: getent, then curl by name through Capsule', async () => {
      const expected = formatIpv6Address(roleAddress(parseIpv6Address(hostId.a!)!, contractId, 'server'));
      expect(await ahosts(roleName)).toEqual({ code: 0, addresses: [expected] });
      // To b's HTTP server: a's agent sends to the role, the engine's LoadBalancer picks b.
      const curl = await inNode('a', [
        'curl',
        '-s',
        '-m',
        '5',
        '--data-binary',
        'role',
        `http://${roleName}:8080/`,
      ]);
      expect(curl.stdout).toBe('capsule-http-ok 4');
    });

    it('answers the member name with b’s CGA and IPv4 alias; curl by it reaches b', async () => {
      const peer = (await bAsPeerOfA())!;
      const { code, addresses } = await ahosts(serverName);
      expect(code).toBe(0);
      expect(addresses.sort()).toEqual([hostId.b!, peer.ipv4Alias].sort());
      for (const family of ['-6', '-4']) {
        const curl = await inNode('a', [
          'curl',
          family,
          '-s',
          '-m',
          '5',
          '--data-binary',
          'member',
          `http://${serverName}:8080/`,
        ]);
        expect(curl.stdout, family).toBe('capsule-http-ok 6');
      }
      // An unknown .capsule name: NXDOMAIN from the agent (getent: 2, not found), never forwarded.
      expect((await ahosts(`nobody.api.${domain}.capsule`)).code).toBe(2);
    });

    it('still resolves every other name: forwarded to the host’s resolver from resolv.conf', async () => {
      const before = await resolverState();
      expect(await ahosts('www.example.test')).toEqual({ code: 0, addresses: ['192.0.2.80'] });
      expect(await ahosts('www')).toEqual({ code: 0, addresses: ['192.0.2.80'] }); // through `search`
      expect((await ahosts('nowhere.invalid')).code).toBe(2); // the upstream's NXDOMAIN
      const after = await resolverState();
      expect(after.statistics.forwarded - before.statistics.forwarded).toBeGreaterThanOrEqual(3);
      expect(after.statistics.upstreamAnswers - before.statistics.upstreamAnswers).toBeGreaterThanOrEqual(3);
      expect(after.statistics.upstreamFailures).toBe(0);
    });

    it('puts resolv.conf back when the agent stops', async () => {
      await stopAgentA();
      expect(readFileSync(resolvConf, 'utf8')).toBe(original);
      expect((await inNode('a', ['cat', '/etc/resolv.conf'])).stdout).toBe(original);
      // The host's own resolver again: other names resolve, .capsule names no more.
      expect(await ahosts('www.example.test')).toEqual({ code: 0, addresses: ['192.0.2.80'] });
      expect((await ahosts(roleName)).code).toBe(2);
    });

    async function resolverState() {
      const run = await inNode('a', [
        'curl',
        '-s',
        '--unix-socket',
        agentSocketPath(join(dataDir, 'a', 'data')),
        'http://agent/api/v1/resolver',
      ]);
      return JSON.parse(run.stdout) as {
        statistics: { forwarded: number; upstreamAnswers: number; upstreamFailures: number };
      };
    }
  },
);
