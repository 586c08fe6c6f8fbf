/**
 * Live policy on the netns lab of real daemons (controller, engine e1, agents a, b, c, d, e, u, x
 * with TUN devices; every daemon from the CLI bundle), with real `ping -6` between hosts:
 *
 * - one lab, set up once: a point-to-point contract per pair of hosts (each with its own service
 *   and token), so every narrowing change has its own victim flow; a control contract a → b is
 *   never touched. Every flow pings every 50 ms (`-D`: each reply with its receive time) for the
 *   whole file;
 * - each narrowing change of issue "Day two" in turn — contract disabled, contract deleted, template
 *   disabled, service disabled, grant dropped, service deleted, service token deleted, service
 *   token disabled (TTL 0), domain deactivated, node user deactivated — stops its victim's ping
 *   within 1 s of the API call's return (the last reply's time minus the return), while the
 *   control ping loses at most a small bound in the same window;
 * - widening: the disabled contract enabled again, its endpoints registered again at once, the
 *   flow answers again;
 * - a node deleted (decommissioned): its ping stops within 1 s, and the engine drops what it still
 *   sends (link-layer drops or handshakes refused as `revoked`, counted);
 * - an agent restarted (SIGKILL, started again): the control ping answers again within 5 s of the
 *   new process's start, and nobody registered again: the agent restored its endpoint itself.
 *
 * Needs root, ip, ping, curl and chrt, and the built CLI (`node scripts/build.mjs`); skipped otherwise
 * (outside CI; in CI a missing prerequisite fails).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiClient } from '@capsule/api';
import {
  adminClient,
  compileTemplateImage,
  labDown,
  labNames,
  labPorts,
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

// Its daemons run the JavaScript data path end to end (both fast paths off), where the other netns
// suites run the default (on): CI keeps both ways on real daemons (docs/performance.md, "Fast path on
// and off"). The environment may still ask for either.
process.env.CAPSULE_ENGINE_FAST_PATH ??= '0';
process.env.CAPSULE_AGENT_FAST_PATH ??= '0';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'packages', 'cli', 'bin', 'capsule.js');
const labName = 'nar';
const dataDir = join(tmpdir(), 'capsule-test-narrowing-netns-lab');
const topology = parseTopology(`
name: ${labName}
underlay: 10.226.0.0/24
controller: { name: ctl }
engines: [{ name: e1 }]
links: []
hosts:
  - { name: a, engines: [e1] }
  - { name: b, engines: [e1] }
  - { name: c, engines: [e1] }
  - { name: d, engines: [e1] }
  - { name: e, engines: [e1] }
  - { name: u, engines: [e1] }
  - { name: x, engines: [e1] }
`);
const address = (node: string) => topology.nodes.find((n) => n.name === node)!.address;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const { inNode, agentRequest, prioritize, deprioritize } = netnsLab(labName, dataDir, cli);

/** The bounds. */
const stopBoundMs = 1000;
const resumeBoundMs = 5000;
/** Control-flow echoes that may go missing around one change (a busy machine drops the odd one). */
const controlLossBound = 2;
/** How long after a change's API call the flows are watched. */
const watchMs = 1500;

/** A second application domain (its own template, contract, service), deactivated by one change. */
const farDomain = 'far';
/** The node user that owns host u (and nothing else), deactivated by one change. */
const uOwner = 'hosts-u';

/**
 * The flows: one contract (client on `from`, server on `to`) each, each pair of hosts used once
 * (a flow is one local endpoint talking to one peer host: two contracts between the same hosts
 * would share the pings). `template` names the template the contract is built on.
 */
const flows = [
  { key: 'control', from: 'a', to: 'b', template: 'main' },
  { key: 'contract-disabled', from: 'a', to: 'c', template: 'main' },
  { key: 'contract-deleted', from: 'a', to: 'd', template: 'main' },
  { key: 'template-disabled', from: 'a', to: 'e', template: 'victim' },
  { key: 'service-disabled', from: 'b', to: 'c', template: 'main' },
  { key: 'grant-dropped', from: 'b', to: 'd', template: 'main' },
  { key: 'service-deleted', from: 'b', to: 'e', template: 'main' },
  { key: 'token-deleted', from: 'c', to: 'd', template: 'main' },
  { key: 'token-disabled', from: 'c', to: 'e', template: 'main' },
  { key: 'domain-deactivated', from: 'd', to: 'e', template: 'far' },
  { key: 'user-deactivated', from: 'u', to: 'a', template: 'main' },
  { key: 'node-deleted', from: 'x', to: 'b', template: 'main' },
] as const;
type FlowKey = (typeof flows)[number]['key'];

interface Policy {
  contractId: number;
  contractName: string;
  serviceId: number;
  tokenId: number;
  token: string;
  endpoints: { client: number; server: number };
}

/** One reply of a running `ping -D`: its sequence number and receive time (ms since the epoch). */
interface Reply {
  seq: number;
  atMs: number;
}

/** `ping -6 -D -i 0.05` from `from` to `peer` for the whole file, its replies parsed as they come. */
function startPing(from: string, peer: string): { child: ChildProcess; replies: Reply[] } {
  const replies: Reply[] = [];
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      namespaceName(labName, from),
      'ping',
      '-6',
      '-n',
      '-D',
      '-i',
      '0.05',
      '-w',
      '600',
      peer,
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let pending = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      const match = /^\[(\d+\.\d+)\] .*icmp_seq=(\d+) /.exec(line);
      if (match) replies.push({ seq: Number(match[2]), atMs: Number(match[1]) * 1000 });
    }
  });
  return { child, replies };
}

/** What one change did to its victim flow and to the control flow. */
interface ChangeResult {
  key: FlowKey;
  /** The last victim reply after the API call's return (negative: before it returned). */
  stopMs: number;
  /** Victim replies in the 500 ms before the call (it was flowing). */
  flowingBefore: number;
  /** Control echoes missing between 500 ms before the call and the end of the watch. */
  controlLost: number;
  controlReceived: number;
}

describe.skipIf(!canRun({ root: true, tools: ['ip', 'ping', 'curl', 'chrt'] }) || !existsSync(cli))(
  'narrowing changes stop flows within 1 s (netns lab of real daemons)',
  () => {
    let admin: ApiClient;
    const hostId: Record<string, string> = {};
    const policies = new Map<FlowKey, Policy>();
    const pings = new Map<FlowKey, ReturnType<typeof startPing>>();
    const templateIds: Record<string, number> = {};
    let farDomainId = 0;
    let uOwnerId = 0;

    /** Registers `role` of `policy` at `node`'s agent (as an application would); the endpoint id. */
    async function register(node: string, policy: Policy, role: 'client' | 'server'): Promise<number> {
      const answer = await agentRequest(node, 'POST', '/api/v1/endpoints', {
        serviceToken: policy.token,
        contract: policy.contractName,
        role,
      });
      if (answer.status !== 201)
        throw new Error(
          `register ${role} of ${policy.contractName} on ${node}: ${JSON.stringify(answer.body)}`,
        );
      return answer.body.id as number;
    }

    /**
     * Restarts `node`'s agent process (same config, same data dir; `realTime`: in the real-time
     * class, see `prioritize`); resolves with the time the new process was started.
     */
    async function restartAgent(node: string, how: 'SIGTERM' | 'SIGKILL', realTime = false): Promise<number> {
      const state = readLabState(dataDir)!;
      const index = state.processes.findIndex((record) => record.node === node);
      const old = state.processes[index]!;
      if (how === 'SIGKILL') process.kill(old.pid, 'SIGKILL');
      await stopProcesses([old]);
      const startedAtMs = Date.now();
      state.processes[index] = startProcess(
        node,
        realTime ? ['chrt', '-r', '10', ...old.argv] : old.argv,
        old.logFile,
        { ...process.env },
        state.nodes.find((n) => n.name === node)!.dir,
      );
      writeLabState(state);
      return startedAtMs;
    }

    /** e1's /metrics samples whose line starts with `prefix`, summed. */
    async function engineMetricSum(prefix: string): Promise<number> {
      const run = await inNode('e1', [
        'curl',
        '-s',
        '-m',
        '5',
        `http://${address('e1')}:${labPorts.engineHttp}/metrics`,
      ]);
      return run.stdout
        .split('\n')
        .filter((line) => line.startsWith(prefix))
        .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
    }

    beforeAll(async () => {
      const stale = await labDown(dataDir);
      if (stale.leftovers.length > 0) throw new Error(`stale lab left: ${stale.leftovers.join(', ')}`);
      const state = await netnsLabUp(topology, {
        dataDir,
        cliPath: cli,
        nodePath: process.execPath,
        env: process.env,
        readyTimeoutMs: 60_000,
      });
      admin = await adminClient(
        state.controller!.northboundUrl,
        state.controller!.adminPassword,
        state.controller!.caSha256,
      );

      // Host u belongs to its own node user: its agent logs in as that user from its restart on.
      const zoneId = (await admin.zones.list()).items.find((zone) => zone.name === labNames.zone)!.id;
      uOwnerId = (
        await admin.users.create({
          login: uOwner,
          domain: labNames.hostDomain,
          password: state.controller!.nodePassword,
          roles: ['hostOwner'],
          zoneId,
        })
      ).id;
      const uConfig = join(state.nodes.find((n) => n.name === 'u')!.dir, 'agent.yaml');
      writeFileSync(uConfig, YAML.stringify({ ...YAML.parse(readFileSync(uConfig, 'utf8')), user: uOwner }), {
        mode: 0o600,
      });
      await restartAgent('u', 'SIGTERM');
      await waitFor(
        'u registered again as its own user',
        async () =>
          (await admin.nodes.list({ limit: 100 })).items.some(
            (node) => node.hostname === 'u' && node.ownerUserId === uOwnerId && node.status === 'registered',
          ) || undefined,
        60_000,
      );

      // The far domain, trusting the lab's engines (paths cross only engines a domain trusts).
      farDomainId = (await admin.domains.create({ name: farDomain, kind: 'application' })).id;
      await admin.peerings.create({ domain: farDomain, peerDomain: labNames.engineDomain });

      const source = join(root, 'examples', 'programs', 'PointToPoint.java');
      const image = compileTemplateImage(readFileSync(source, 'utf8'), source);
      const roles = [
        { name: 'client', entry: 'route' },
        { name: 'server', entry: 'route' },
      ];
      for (const [name, domain] of [
        ['main', labNames.hostDomain],
        ['victim', labNames.hostDomain],
        ['far', farDomain],
      ] as const)
        templateIds[name] = (await admin.templates.create({ name: `p2p-${name}`, domain, image, roles })).id;

      for (const flow of flows) {
        const domain = flow.template === 'far' ? farDomain : labNames.hostDomain;
        const contract = await admin.contracts.create({
          name: flow.key,
          domain,
          templateId: templateIds[flow.template]!,
          roles: [
            { name: 'client', peer: 'server' },
            { name: 'server', peer: 'client' },
          ],
        });
        const service = await admin.services.create({
          name: `s-${flow.key}`,
          domain,
          grants: [
            { contractId: contract.id, role: 'client' },
            { contractId: contract.id, role: 'server' },
          ],
        });
        const token = await admin.serviceTokens.create({ serviceId: service.id });
        policies.set(flow.key, {
          contractId: contract.id,
          contractName: contract.name,
          serviceId: service.id,
          tokenId: token.id,
          token: token.token!,
          endpoints: { client: 0, server: 0 },
        });
      }

      for (const node of ['a', 'b', 'c', 'd', 'e', 'u', 'x'])
        hostId[node] = (await agentRequest(node, 'GET', '/api/v1/status')).body.hostId;
      for (const flow of flows) {
        const policy = policies.get(flow.key)!;
        policy.endpoints.server = await register(flow.to, policy, 'server');
        policy.endpoints.client = await register(flow.from, policy, 'client');
      }
      // Every flow answers a ping before the measured pings start.
      await Promise.all(
        flows.map((flow) =>
          waitFor(
            `${flow.key}: ${flow.from} → ${flow.to} answers`,
            async () =>
              (await inNode(flow.from, ['ping', '-6', '-n', '-c', '1', '-W', '1', hostId[flow.to]!])).code ===
                0 || undefined,
            60_000,
          ),
        ),
      );
      for (const flow of flows) pings.set(flow.key, startPing(flow.from, hostId[flow.to]!));
      await waitFor(
        'every ping answering',
        async () => [...pings.values()].every((ping) => ping.replies.length >= 5) || undefined,
        30_000,
      );
    }, 300_000);

    afterAll(async () => {
      for (const ping of pings.values()) ping.child.kill();
      const report = await labDown(dataDir);
      expect(report.leftovers).toEqual([]);
    }, 60_000);

    /**
     * Makes the change `key` (the API call `change`), watches for `watchMs`, and measures what it did
     * to its victim's ping and to the control ping.
     */
    async function measure(key: FlowKey, change: () => Promise<unknown>): Promise<ChangeResult> {
      const victim = pings.get(key)!;
      const control = pings.get('control')!;
      const calledAtMs = Date.now();
      await change();
      const returnedAtMs = Date.now();
      await sleep(watchMs);
      const endMs = returnedAtMs + watchMs;
      const lastReply = victim.replies.at(-1)!;
      const inWindow = control.replies.filter((r) => r.atMs >= calledAtMs - 500 && r.atMs <= endMs);
      const seqs = new Set(inWindow.map((r) => r.seq));
      const first = Math.min(...seqs);
      const last = Math.max(...seqs);
      let controlLost = 0;
      for (let seq = first; seq <= last; seq++) if (!seqs.has(seq)) controlLost++;
      // Echoes due after the last answered one until the end of the window (minus one RTT's worth).
      controlLost += Math.max(0, Math.floor((endMs - (inWindow.at(-1)?.atMs ?? calledAtMs)) / 50) - 4);
      return {
        key,
        stopMs: Math.round(lastReply.atMs - returnedAtMs),
        flowingBefore: victim.replies.filter((r) => r.atMs >= calledAtMs - 500 && r.atMs < calledAtMs).length,
        controlLost,
        controlReceived: inWindow.length,
      };
    }

    function expectStopped(result: ChangeResult) {
      console.info(
        `${result.key}: stopped ${(result.stopMs / 1000).toFixed(3)} s after the API call returned ` +
          `(${result.flowingBefore} replies in the 0.5 s before); control: ${result.controlReceived} replies, ${result.controlLost} lost`,
      );
      expect(result.flowingBefore, `${result.key} was flowing`).toBeGreaterThanOrEqual(3);
      expect(result.stopMs, `${result.key} stopped within 1 s`).toBeLessThanOrEqual(stopBoundMs);
      expect(result.controlLost, `control flow across ${result.key}`).toBeLessThanOrEqual(controlLossBound);
    }

    it('each narrowing change stops its own flow within 1 s; the control flow keeps flowing; enabled again, a flow is authorized at once', async () => {
      const policy = (key: FlowKey) => policies.get(key)!;
      const results: ChangeResult[] = [];
      const changes: [FlowKey, () => Promise<unknown>][] = [
        [
          'contract-disabled',
          () => admin.contracts.update(policy('contract-disabled').contractId, { enabled: false }),
        ],
        ['contract-deleted', () => admin.contracts.remove(policy('contract-deleted').contractId)],
        ['template-disabled', () => admin.templates.update(templateIds.victim!, { enabled: false })],
        [
          'service-disabled',
          () => admin.services.update(policy('service-disabled').serviceId, { enabled: false }),
        ],
        [
          'grant-dropped',
          () =>
            admin.services.update(policy('grant-dropped').serviceId, {
              grants: [{ contractId: policy('grant-dropped').contractId, role: 'server' }],
            }),
        ],
        ['service-deleted', () => admin.services.remove(policy('service-deleted').serviceId)],
        ['token-deleted', () => admin.serviceTokens.remove(policy('token-deleted').tokenId)],
        [
          'token-disabled',
          () => admin.serviceTokens.update(policy('token-disabled').tokenId, { ttlSeconds: 0 }),
        ],
        ['domain-deactivated', () => admin.domains.update(farDomainId, { active: false })],
        ['user-deactivated', () => admin.users.update(uOwnerId, { active: false })],
      ];
      for (const [key, change] of changes) results.push(await measure(key, change));
      for (const result of results) expectStopped(result);

      // Widening: the contract enabled again, its endpoints registered again, the ping answers.
      const widened = policy('contract-disabled');
      const enabledAtMs = Date.now();
      await admin.contracts.update(widened.contractId, { enabled: true });
      await register('c', widened, 'server');
      await register('a', widened, 'client');
      const registeredAtMs = Date.now();
      const again = await waitFor(
        'contract-disabled answers again',
        async () => pings.get('contract-disabled')!.replies.find((r) => r.atMs > registeredAtMs),
        10_000,
      );
      console.info(
        `contract enabled again: registered ${registeredAtMs - enabledAtMs} ms after the call, ` +
          `first reply ${Math.round(again.atMs - registeredAtMs)} ms after that`,
      );
      expect(again.atMs - registeredAtMs).toBeLessThanOrEqual(stopBoundMs);
    }, 120_000);

    it('a node deleted: its flow stops within 1 s, e1 drops what it still sends (counted)', async () => {
      const xNode = (await admin.nodes.list({ limit: 100 })).items.find((node) => node.hostname === 'x')!;
      const dropsBefore =
        (await engineMetricSum('capsule_engine_link_layer_drops_total')) +
        (await engineMetricSum('capsule_engine_handshake_rejections_total{reason="revoked"}'));
      const result = await measure('node-deleted', () => admin.nodes.remove(xNode.id));
      expectStopped(result);
      // x's agent does not know: it keeps sending on its link (then handshaking again), e1 drops it.
      const dropped = await waitFor(
        'e1 counts what x still sends as dropped',
        async () => {
          const now =
            (await engineMetricSum('capsule_engine_link_layer_drops_total')) +
            (await engineMetricSum('capsule_engine_handshake_rejections_total{reason="revoked"}'));
          return now > dropsBefore ? now - dropsBefore : undefined;
        },
        10_000,
      );
      const stillSending = pings.get('node-deleted')!;
      console.info(
        `node deleted: e1 dropped ${dropped} of x's frames; x's ping has ${stillSending.replies.length} replies`,
      );
      // And b answers none of them any more.
      const count = stillSending.replies.length;
      await sleep(1000);
      expect(stillSending.replies.length).toBe(count);
    }, 60_000);

    it('an agent killed and started again: the control ping answers within 5 s, nobody registered again', async () => {
      const before = (await agentRequest('b', 'GET', '/api/v1/endpoints')).body.items.map(
        (item: { id: number }) => item.id,
      );
      expect(before).toContain(policies.get('control')!.endpoints.server);
      const control = pings.get('control')!;
      // The machine is shared (2 cores, load 11–14 seen): unprioritized, the new agent's Node.js
      // start alone took 7 s before its first log line. The control path's daemons and the new
      // agent run real-time, so the figure is this lab's restart, not the neighbours' load.
      for (const node of ['ctl', 'e1', 'a']) prioritize(node);
      let startedAtMs: number;
      let first: { atMs: number };
      try {
        startedAtMs = await restartAgent('b', 'SIGKILL', true);
        first = await waitFor(
          'the control ping answers again',
          async () => control.replies.find((r) => r.atMs > startedAtMs),
          30_000,
        );
      } finally {
        for (const node of ['ctl', 'e1', 'a']) deprioritize(node);
      }
      const resumedMs = Math.round(first.atMs - startedAtMs);
      console.info(
        `agent b restarted: control ping answered ${(resumedMs / 1000).toFixed(3)} s after its start`,
      );
      expect(resumedMs).toBeLessThanOrEqual(resumeBoundMs);
      // The endpoint was restored by the agent from its store: the same endpoint at the controller.
      const after = (await agentRequest('b', 'GET', '/api/v1/endpoints')).body.items.map(
        (item: { id: number }) => item.id,
      );
      expect(after).toContain(policies.get('control')!.endpoints.server);
    }, 60_000);
  },
);
