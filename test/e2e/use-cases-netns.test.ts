/**
 * The use cases on the netns lab, with real applications: the real controller, engine and agent
 * daemons (`capsule lab up` from the CLI bundle) in network namespaces, the agents' TUN devices,
 * and ping (ICMPv6 echo) or a small UDP sender/receiver (python3) inside the hosts' namespaces.
 * Needs root, ip, ping, curl and python3 and the built CLI (`npm run build`); skipped otherwise
 * (outside CI; in CI a missing prerequisite fails).
 *
 * All six use cases: micro-segmentation, load balancing, multicast, service chain (the waypoint
 * engine's own flow table shows the flow), failover (ping across a cut; the engine daemons' link
 * keep-alive is not configurable, so the cut is noticed after 3 × 10 s) and revocation. Load
 * balancing and multicast need the role address on the members' TUN, which the agent daemon does
 * not add yet: this test adds it with `ip addr` (see docs/getting-started.md).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { roleAddress } from '@capsule/agent';
import type { ApiClient } from '@capsule/api';
import { adminClient, applyUseCase, type LabState, loadUseCase, readLabState } from '@capsule/lab';
import { canRun } from '@capsule/testkit';
import { formatIpv6, parseIpv6 } from '@capsule/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const cli = join(root, 'packages/cli/bin/capsule.js');
const useCasesDir = join(root, 'examples/use-cases');
const lab = 'uce';
// The default topology under another lab name and segment, so it never meets a developer's lab.
const topology = readFileSync(join(root, 'examples/lab/default.yaml'), 'utf8')
  .replace(/^name: default$/m, `name: ${lab}`)
  .replace(/^underlay: 10\.77\.0\.0\/24$/m, 'underlay: 10.212.0.0/24');

const built = existsSync(join(root, 'packages/cli/dist'));
if (!built) console.warn('use cases on the netns lab: skipped, build the CLI first (npm run build)');
const ready = canRun({ root: true, tools: ['ip', 'ping', 'curl', 'python3'] }) && built;

/** Runs a command inside a node's namespace; returns stdout (throws on a non-zero exit). */
function inNode(node: string, command: readonly string[], timeoutMs = 30_000): string {
  return execFileSync('ip', ['netns', 'exec', `cpl-${lab}-${node}`, ...command], {
    encoding: 'utf8',
    timeout: timeoutMs,
  });
}

/** Received/transmitted of `ping -6 -c count` from one host to an address. */
function ping(from: string, to: string, count = 5): { sent: number; received: number } {
  let output: string;
  try {
    output = inNode(from, ['ping', '-6', '-n', '-c', String(count), '-i', '0.2', '-W', '1', to]);
  } catch (error) {
    output = String((error as { stdout?: string }).stdout ?? '');
  }
  const match = /(\d+) packets transmitted, (\d+) received/.exec(output);
  return { sent: Number(match?.[1] ?? 0), received: Number(match?.[2] ?? 0) };
}

/** A UDP receiver on [::]:9000 in a host's namespace for `seconds`; resolves to datagrams by source port. */
function udpReceiver(node: string, seconds: number): Promise<Record<string, number>> {
  const script = `
import socket, json, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", 9000))
s.settimeout(0.2)
counts = {}
end = time.time() + ${seconds}
while time.time() < end:
    try:
        data, (addr, port, *_rest) = s.recvfrom(2048)
        counts[str(port)] = counts.get(str(port), 0) + 1
    except socket.timeout:
        pass
print(json.dumps(counts))
`;
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', `cpl-${lab}-${node}`, 'python3', '-c', script]);
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('close', () => resolve(JSON.parse(out || '{}') as Record<string, number>));
  });
}

/** Sends `packets` datagrams from each of `ports` source ports in a host's namespace to [to]:9000. */
function udpSend(node: string, to: string, ports: readonly number[], packets: number): void {
  const script = `
import socket, time
for port in [${ports.join(',')}]:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::", port))
    for i in range(${packets}):
        s.sendto(str(i).encode(), ("${to}", 9000))
        time.sleep(0.002)
    s.close()
`;
  inNode(node, ['python3', '-c', script], 60_000);
}

/** The agent REST API of a host (inside its namespace). */
function agentApi(node: string, method: string, path: string, body?: unknown): unknown {
  const args = ['curl', '-s', '-X', method, `http://127.0.0.1:5500${path}`];
  if (body !== undefined) args.push('-H', 'content-type: application/json', '-d', JSON.stringify(body));
  const out = inNode(node, args);
  return out.trim() === '' ? undefined : JSON.parse(out);
}

describe.skipIf(!ready)('use cases with real applications (netns lab)', () => {
  let dir: string;
  let state: LabState;
  let admin: ApiClient;
  const hostIds = new Map<string, string>();
  const registered: { node: string; id: number }[] = [];

  /** Applies a use case and registers its endpoints through the agents' REST APIs. */
  async function setUp(name: string): Promise<Map<string, { id: number; serial: string }>> {
    const useCase = loadUseCase(join(useCasesDir, name));
    const token = await applyUseCase(admin, useCase);
    const endpoints = new Map<string, { id: number; serial: string }>();
    for (const endpoint of useCase.endpoints) {
      const answer = agentApi(endpoint.host, 'POST', '/api/v1/endpoints', {
        serviceToken: token,
        contract: endpoint.contract,
        role: endpoint.role,
      }) as { id: number; authorizationSerial: string };
      expect(answer.id, JSON.stringify(answer)).toBeTypeOf('number');
      endpoints.set(endpoint.host, { id: answer.id, serial: answer.authorizationSerial });
      registered.push({ node: endpoint.host, id: answer.id });
    }
    // Endpoints registered first learn their peers from the controller's push: wait until every
    // endpoint knows a peer with a path (the control plane converged) before sending.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const converged = [...endpoints].every(([node, { id }]) => {
        const listed = agentApi(node, 'GET', '/api/v1/endpoints') as {
          items: { id: number; peers: { path: string[] }[] }[];
        };
        const peers = listed.items.find((e) => e.id === id)?.peers ?? [];
        return peers.length > 0 && peers.every((peer) => peer.path.length > 2);
      });
      if (converged) break;
      if (Date.now() > deadline) throw new Error(`${name}: endpoints did not learn their peers in 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return endpoints;
  }

  function tearDown(): void {
    for (const { node, id } of registered.splice(0)) agentApi(node, 'DELETE', `/api/v1/endpoints/${id}`);
    for (const [node, address] of addedAddresses.splice(0))
      inNode(node, ['ip', '-6', 'addr', 'del', `${address}/128`, 'dev', 'capsule0']);
  }

  /**
   * The address of `role` in `contract` (as the sending agent computes it: the hosts' /64, the
   * contract id, the role), put on each member's TUN — the agent daemon does not do that yet.
   */
  async function roleAddressOn(contract: string, role: string, members: readonly string[]): Promise<string> {
    const found = (await admin.contracts.list({ limit: 1000 })).items.find((c) => c.name === contract)!;
    const prefix = parseIpv6(hostIds.get('h1')!);
    if (!prefix.ok) throw new Error('no host id');
    const address = formatIpv6(roleAddress(prefix.value, found.id, role));
    for (const member of members)
      inNode(member, ['ip', '-6', 'addr', 'add', `${address}/128`, 'dev', 'capsule0', 'nodad']);
    addedAddresses.push(...members.map((member) => [member, address] as const));
    return address;
  }
  const addedAddresses: (readonly [string, string])[] = [];

  /** The flows of engine `name` from its HTTP API (/api/v1/flows). */
  function engineFlows(name: string): { source: string; destination: string; packets: number }[] {
    const address = state.topology.nodes.find((n) => n.name === name)!.address;
    return JSON.parse(
      execFileSync('curl', ['-s', `http://${address}:9447/api/v1/flows`], {
        encoding: 'utf8',
        timeout: 10_000,
      }),
    ).items as { source: string; destination: string; packets: number }[];
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'capsule-netns-e2e-'));
    const file = join(dir, 'topology.yaml');
    writeFileSync(file, topology);
    execFileSync('node', [cli, 'lab', 'up', '--topology', file, '--data-dir', join(dir, 'lab')], {
      encoding: 'utf8',
      timeout: 180_000,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    state = readLabState(join(dir, 'lab'))!;
    admin = await adminClient(state.controller!.northboundUrl, state.controller!.adminPassword);
    const status = JSON.parse(
      execFileSync('node', [cli, 'lab', 'status', '--json', '--data-dir', join(dir, 'lab')], {
        encoding: 'utf8',
      }),
    ) as { nodes: { name: string; hostId: string | null }[] };
    for (const node of status.nodes) if (node.hostId) hostIds.set(node.name, node.hostId);
  }, 240_000);

  afterAll(() => {
    if (dir && existsSync(join(dir, 'lab')))
      execFileSync('node', [cli, 'lab', 'down', '--data-dir', join(dir, 'lab')], {
        encoding: 'utf8',
        timeout: 120_000,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 150_000);

  it('micro-segmentation: ping between the allowed role pairs, nothing between any other', async () => {
    await setUp('1-micro-segmentation');
    try {
      expect(ping('h1', hostIds.get('h3')!)).toEqual({ sent: 5, received: 5 }); // web → db
      expect(ping('h3', hostIds.get('h2')!)).toEqual({ sent: 5, received: 5 }); // db → web
      expect(ping('h1', hostIds.get('h2')!, 3).received).toBe(0); // web → web
      expect(ping('h4', hostIds.get('h3')!, 3).received).toBe(0); // no role
    } finally {
      tearDown();
    }
  }, 60_000);

  it('load balancing: 300 UDP connections to the server role spread over h3, h4, h5 within ±20%', async () => {
    await setUp('2-load-balancing');
    try {
      const address = await roleAddressOn('api', 'server', ['h3', 'h4', 'h5']);
      const receivers = ['h3', 'h4', 'h5'].map((node) => udpReceiver(node, 10));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      // Three datagrams per connection: UDP may lose one under load (a CI run saw 278 of 300
      // single-datagram connections arrive), and what is measured is where connections go.
      udpSend(
        'h1',
        address,
        Array.from({ length: 300 }, (_, i) => 30_000 + i),
        3,
      );
      const counts = (await Promise.all(receivers)).map((byPort) => Object.keys(byPort).length);
      console.info(`netns load balancing: connections received by h3, h4, h5: ${counts.join(', ')}`);
      expect(counts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(297);
      for (const count of counts) expect(Math.abs(count - 100)).toBeLessThanOrEqual(20);
    } finally {
      tearDown();
    }
  }, 90_000);

  it('multicast: datagrams to the member role reach h2 and h3, not h4 or h5', async () => {
    await setUp('3-multicast');
    try {
      const address = await roleAddressOn('feed', 'member', ['h2', 'h3']);
      const receivers = ['h2', 'h3', 'h4', 'h5'].map((node) => udpReceiver(node, 8));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      udpSend('h1', address, [31_000], 20);
      const got = (await Promise.all(receivers)).map((byPort) => byPort['31000'] ?? 0);
      expect(got).toEqual([20, 20, 0, 0]);
    } finally {
      tearDown();
    }
  }, 60_000);

  it('service chain: ping h1 → h3 passes the waypoint engine e3 (its flow table has the flow)', async () => {
    const endpoints = await setUp('4-service-chain');
    try {
      // The controller's path does not pass e3: the detour is the program's doing.
      const described = agentApi('h1', 'GET', '/api/v1/endpoints') as {
        items: { id: number; peers: { hostId: string; path: string[] }[] }[];
      };
      const path = described.items
        .find((e) => e.id === endpoints.get('h1')!.id)!
        .peers.find((p) => p.hostId === hostIds.get('h3'))!.path;
      expect(path).not.toContain(hostIds.get('e3'));
      expect(ping('h1', hostIds.get('h3')!)).toEqual({ sent: 5, received: 5 });
      const flows = engineFlows('e3');
      const count = (source: string, destination: string) =>
        flows
          .filter((f) => f.source === source && f.destination === destination)
          .reduce((n, f) => n + f.packets, 0);
      expect(count(hostIds.get('h1')!, hostIds.get('h3')!)).toBeGreaterThanOrEqual(5); // echo requests
      expect(count(hostIds.get('h3')!, hostIds.get('h1')!)).toBeGreaterThanOrEqual(5); // and replies
    } finally {
      tearDown();
    }
  }, 60_000);

  it('failover: ping h1 → h3 across a cut of the underlay e1–e3; the gap is measured', async () => {
    await setUp('5-failover');
    const address = (name: string) => state.topology.nodes.find((n) => n.name === name)!.address;
    const cut = (how: 'add' | 'del') => {
      inNode('e1', ['ip', 'route', how, 'blackhole', `${address('e3')}/32`]);
      inNode('e3', ['ip', 'route', how, 'blackhole', `${address('e1')}/32`]);
    };
    let isCut = false;
    try {
      expect(ping('h1', hostIds.get('h3')!)).toEqual({ sent: 5, received: 5 });
      const intervalS = 0.2;
      const pinger = new Promise<string>((resolve) => {
        const child = spawn('ip', [
          'netns',
          'exec',
          `cpl-${lab}-h1`,
          'ping',
          '-6',
          '-n',
          '-i',
          String(intervalS),
          '-W',
          '1',
          '-w',
          '55',
          hostIds.get('h3')!,
        ]);
        let out = '';
        child.stdout.on('data', (chunk) => {
          out += chunk;
        });
        child.on('close', () => resolve(out));
      });
      await new Promise((resolve) => setTimeout(resolve, 3000));
      cut('add');
      isCut = true;
      const output = await pinger;
      const answered = [...output.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1]));
      const last = answered.at(-1) ?? 0;
      let gap = 0;
      for (let i = 1; i < answered.length; i += 1) gap = Math.max(gap, answered[i]! - answered[i - 1]!);
      const gapS = gap * intervalS;
      console.info(
        `netns failover: ${answered.length} of ~${Math.round(55 / intervalS)} echo replies, longest gap ${gapS.toFixed(1)} s`,
      );
      // Engines notice a dead link after 3 keep-alives (the daemon's default interval is 10 s).
      expect(gapS).toBeGreaterThan(1);
      expect(gapS).toBeLessThan(45);
      expect(answered.filter((seq) => seq > last - 25)).toHaveLength(25); // steady again at the end
    } finally {
      if (isCut) cut('del');
      tearDown();
    }
  }, 120_000);

  it('revocation: ping works, the authorization is revoked, ping stops within one second', async () => {
    const endpoints = await setUp('6-revocation');
    try {
      expect(ping('h1', hostIds.get('h4')!)).toEqual({ sent: 5, received: 5 });
      const serial = endpoints.get('h1')!.serial;
      const authorization = (await admin.authorizations.list({ limit: 1000 })).items.find(
        (a) => a.serial === serial,
      )!;
      await admin.authorizations.revoke(authorization.id);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(ping('h1', hostIds.get('h4')!, 5).received).toBe(0);
    } finally {
      tearDown();
    }
  }, 60_000);
});
