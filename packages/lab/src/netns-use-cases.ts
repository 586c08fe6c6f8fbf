/**
 * The use cases (examples/use-cases) on an up netns lab, with real applications inside the hosts'
 * namespaces: `ping -6` for unicast traffic (echo requests and replies through the agents' TUN
 * devices and the engine daemons), a small python3 UDP sender/receiver for role-addressed
 * traffic (anycast spread, multicast) and, after an anycast spread step, curl to python3 HTTP
 * servers on the members through the role address (TCP), iperf3 TCP streams for a unicast step with
 * `stream: SECONDS` (and for a role step with one target member, to the role address), the engines' own flow tables (their HTTP API) for the
 * engines a step's traffic must pass, `ip route blackhole` in two engines' namespaces for a cut,
 * and the controller's API for a revocation. Endpoints are registered through each agent's REST
 * API (python3 urllib inside the namespace). The result has the in-process runner's shape.
 *
 * Differences from the in-process runner, measured rather than hidden: a unicast send step is
 * `ping -c packets` (a step passes on echo replies, i.e. both directions); `via` checks that each
 * named engine's flow table counted the packets and that no other engine did (the order is not
 * visible there); a revoked flow is checked one second after the revocation; the lab's engines
 * and agents send link keep-alives every `labLinkKeepAliveIntervalMs` (a link is dead after 3
 * silent intervals), and the probe runs until traffic is steady again (60 s at most); a role
 * `spread` step is followed by a TCP step of the runner's own (30 curl to the role address), and
 * `stream` runs iperf3: neither exists in the in-process runner.
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { roleAddress } from '@capsule/agent';
import type { ApiClient } from '@capsule/api';
import { formatIpv6, parseIpv6 } from '@capsule/wire';
import { adminClient } from './bootstrap';
import type { LabState } from './lab-state';
import { labStatus } from './lab-status';
import { agentSocketPath, labLinkKeepAliveIntervalMs, labPorts } from './netns-lab';
import type { StepResult, UseCase, UseCaseResult, UseCaseStep } from './use-cases';
import { applyUseCase, nearestMember, roleGapResult, roleSendContract } from './use-cases';

/** What the runner needs of an up netns lab: its state, an admin client, the nodes' host ids. */
export interface NetnsUseCaseLab {
  readonly state: LabState;
  readonly admin: ApiClient;
  readonly hostIds: ReadonlyMap<string, string>;
}

/** Connects to the netns lab recorded in `dataDir` (admin login, host ids of the registered nodes). */
export async function connectNetnsLab(dataDir: string, state: LabState): Promise<NetnsUseCaseLab> {
  const admin = await adminClient(
    state.controller!.northboundUrl,
    state.controller!.adminPassword,
    state.controller!.caSha256,
  );
  const hostIds = new Map<string, string>();
  for (const node of (await labStatus(dataDir)).nodes) if (node.hostId) hostIds.set(node.name, node.hostId);
  return { state, admin, hostIds };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs every use case in order; each cleans up after itself (endpoints, role addresses, cuts). */
export async function runNetnsUseCases(
  lab: NetnsUseCaseLab,
  useCases: readonly UseCase[],
  progress: (line: string) => void = () => {},
): Promise<UseCaseResult[]> {
  const results: UseCaseResult[] = [];
  for (const useCase of useCases) results.push(await runNetnsUseCase(lab, useCase, progress));
  return results;
}

/**
 * The address of `role` in the contract named `contractName`, as the agent of the host whose
 * address is `hostId` derives it (agent flows.ts `roleAddress`: that host's /64, the contract's
 * id, the role), or undefined when the controller has no such contract or `hostId` is not an
 * IPv6 address.
 */
export async function contractRoleAddress(
  admin: ApiClient,
  contractName: string,
  role: string,
  hostId: string,
): Promise<string | undefined> {
  const contract = (await admin.contracts.list({ limit: 1000 })).items.find((c) => c.name === contractName);
  const prefix = parseIpv6(hostId);
  if (!contract || !prefix.ok) return undefined;
  return formatIpv6(roleAddress(prefix.value, contract.id, role));
}

/** Applies, registers and drives one use case on a netns lab with real applications. */
export async function runNetnsUseCase(
  lab: NetnsUseCaseLab,
  useCase: UseCase,
  progress: (line: string) => void = () => {},
): Promise<UseCaseResult> {
  const namespace = (node: string) => {
    const found = lab.state.nodes.find((n) => n.name === node)?.namespace;
    if (!found) throw new Error(`${useCase.name}: no node ${node} in the lab`);
    return found;
  };
  const inNode = (node: string, command: readonly string[], timeoutMs = 30_000) =>
    execFileSync('ip', ['netns', 'exec', namespace(node), ...command], {
      encoding: 'utf8',
      timeout: timeoutMs,
    });
  const address = (node: string) => lab.state.topology.nodes.find((n) => n.name === node)!.address;
  const hostId = (node: string) => {
    const id = lab.hostIds.get(node);
    if (!id) throw new Error(`${useCase.name}: ${node} is not registered`);
    return id;
  };
  /** The agent REST API of a host, from inside its namespace, over its Unix socket (python3 http.client). */
  const agentApi = (node: string, method: string, path: string, body?: unknown): unknown => {
    const dir = lab.state.nodes.find((n) => n.name === node)?.dir;
    if (!dir) throw new Error(`${useCase.name}: no node ${node} in the lab`);
    const script = `
import sys, socket, http.client
class UnixConnection(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(sys.argv[1])
data = sys.argv[4].encode() if len(sys.argv) > 4 else None
c = UnixConnection("agent", timeout=10)
c.request(sys.argv[2], sys.argv[3], body=data, headers={"content-type": "application/json"} if data is not None else {})
r = c.getresponse()
sys.stdout.write(str(r.status) + "\\n" + r.read().decode())
`;
    // A content-type without a body (DELETE) is refused with 400: only a request with a body has one.
    const args = ['python3', '-c', script, agentSocketPath(join(dir, 'data')), method, path];
    if (body !== undefined) args.push(JSON.stringify(body));
    const out = inNode(node, args);
    const newline = out.indexOf('\n');
    const status = Number(out.slice(0, newline));
    const text = out.slice(newline + 1).trim();
    const answer = text === '' ? undefined : (JSON.parse(text) as unknown);
    // POST answers carry their refusal (checked by the caller); a DELETE of an endpoint the agent
    // already dropped (a revoked authorization) is a 404 and fine.
    if (status >= 400 && method !== 'POST' && !(method === 'DELETE' && status === 404))
      throw new Error(`${node}: ${method} ${path}: ${status} ${text}`);
    return answer;
  };

  const steps: StepResult[] = [];
  const registered: { node: string; id: number; contract: string }[] = [];
  const serials = new Map<string, string>();
  const cuts: [string, string][] = [];
  const blackhole = (how: 'add' | 'del', a: string, z: string) => {
    for (const [from, to] of [
      [a, z],
      [z, a],
    ] as const) {
      try {
        inNode(from, ['ip', 'route', how, 'blackhole', `${address(to)}/32`]);
      } catch (error) {
        if (how === 'add') throw error;
      }
    }
  };
  const fail = (error: unknown): UseCaseResult => ({
    name: useCase.name,
    title: useCase.title,
    passed: false,
    steps,
    error: (error as Error).message.split('\n')[0],
  });

  try {
    try {
      progress(`${useCase.name}: applying ${useCase.documents.length} objects`);
      const token = await applyUseCase(lab.admin, useCase);
      for (const endpoint of useCase.endpoints) {
        const answer = agentApi(endpoint.host, 'POST', '/api/v1/endpoints', {
          serviceToken: token,
          contract: endpoint.contract,
          role: endpoint.role,
        }) as { id?: unknown; authorizationSerial?: unknown };
        if (typeof answer?.id !== 'number')
          throw new Error(`${endpoint.host}: registration refused: ${JSON.stringify(answer)}`);
        registered.push({ node: endpoint.host, id: answer.id, contract: endpoint.contract });
        serials.set(endpoint.host, String(answer.authorizationSerial));
      }
      await converge();
      progress(`${useCase.name}: ${registered.length} endpoints registered, peers known`);
    } catch (error) {
      return fail(error);
    }
    /** The member the last `expect: nearest` step found (a `stop: nearest` stops it). */
    let nearest: string | undefined;
    for (const listed of useCase.steps) {
      let step = listed;
      try {
        let nearestText = '';
        if (step.kind === 'send' && step.expect === 'nearest') {
          const from = step.from;
          const contract = roleSendContract(useCase, from, step.toRole!);
          const own = registered.find((r) => r.node === from && r.contract === contract);
          const found = own
            ? await nearestMember(
                lab.admin,
                own.id,
                step.toRole!,
                new Map(step.to.map((name) => [name, hostId(name)])),
              )
            : { name: undefined, costs: `${from} has no endpoint` };
          if (found.name === undefined) {
            steps.push({
              step: describe(step),
              passed: false,
              detail: `no single nearest member (${found.costs})`,
            });
            continue;
          }
          nearest = found.name;
          nearestText = `; nearest: ${found.name} (${found.costs})`;
          step = {
            ...step,
            expect: 'delivered',
            to: [found.name],
            notTo: [...step.notTo, ...step.to.filter((name) => name !== found.name)],
          };
        }
        if (step.kind === 'stop' && step.host === 'nearest') {
          if (nearest === undefined) throw new Error('no nearest member found before this stop');
          step = { ...step, host: nearest };
        }
        const result = await runStep(step);
        const shown = { ...result, step: describe(listed), detail: result.detail + nearestText };
        progress(`${useCase.name}: ${shown.passed ? 'ok' : 'FAILED'} ${shown.step} (${shown.detail})`);
        steps.push(shown);
        if (
          step.kind === 'send' &&
          step.toRole !== undefined &&
          (step.expect === 'spread' || nearestText !== '')
        ) {
          // The same role over TCP with a real client and servers: curl to the role address.
          const http = await roleHttp(step);
          progress(`${useCase.name}: ${http.passed ? 'ok' : 'FAILED'} ${http.step} (${http.detail})`);
          steps.push(http);
        }
      } catch (error) {
        steps.push({
          step: describe(listed),
          passed: false,
          detail: (error as Error).message.split('\n')[0]!,
        });
      }
    }
    return {
      name: useCase.name,
      title: useCase.title,
      passed: steps.length > 0 && steps.every((s) => s.passed),
      steps,
    };
  } finally {
    for (const [a, z] of cuts.splice(0)) blackhole('del', a, z);
    // An endpoint left registered keeps its flows: the next use case's traffic from a host's own
    // address to the same host would use the old contract's flow (the first registered endpoint's
    // is the one a packet not from a role address takes), so a failed unregistration is reported.
    for (const { node, id } of registered.splice(0)) {
      try {
        agentApi(node, 'DELETE', `/api/v1/endpoints/${id}`);
      } catch (error) {
        progress(
          `${useCase.name}: could not unregister endpoint ${id} on ${node}: ${(error as Error).message.split('\n')[0]}`,
        );
      }
    }
  }

  /** Waits until every endpoint knows its peers with a path (the controller's push converged). */
  async function converge(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const done = registered.every(({ node, id }) => {
        const listed = agentApi(node, 'GET', '/api/v1/endpoints') as {
          items: { id: number; peers: { path: string[] }[] }[];
        };
        const peers = listed.items.find((e) => e.id === id)?.peers ?? [];
        return peers.length > 0 && peers.every((peer) => peer.path.length > 2);
      });
      if (done) return;
      if (Date.now() > deadline) throw new Error('endpoints did not learn their peers in 10 s');
      await sleep(200);
    }
  }

  function describe(step: UseCaseStep): string {
    if (step.kind === 'revoke') return `revoke ${step.host}`;
    if (step.kind === 'stop')
      return step.probe
        ? `stop ${step.host} under traffic ${step.probe.from} → role ${step.probe.toRole}`
        : `stop ${step.host}`;
    if (step.kind === 'restore') return `restore ${step.a}–${step.z}`;
    if (step.kind === 'cut')
      return step.probe
        ? `cut ${step.a}–${step.z} under traffic ${step.probe.from} → ${step.probe.to}`
        : `cut ${step.a}–${step.z}`;
    const target =
      step.toRole !== undefined ? `role ${step.toRole} (${step.to.join(', ')})` : step.to.join(', ');
    return `${step.from} → ${target}: ${step.expect}`;
  }

  async function runStep(step: UseCaseStep): Promise<StepResult> {
    const name = describe(step);
    if (step.kind === 'revoke') {
      const serial = serials.get(step.host);
      const list = await lab.admin.authorizations.list({ limit: 1000 });
      const authorization = list.items.find((a) => a.serial === serial);
      if (!authorization) return { step: name, passed: false, detail: `no authorization ${serial}` };
      await lab.admin.authorizations.revoke(authorization.id);
      await sleep(1000);
      return { step: name, passed: true, detail: `serial ${serial} revoked (next step 1 s later)` };
    }
    if (step.kind === 'stop') {
      const node = step.host;
      const own = registered.filter((r) => r.node === node);
      if (own.length === 0) return { step: name, passed: false, detail: `${node} has no endpoint` };
      const stopNow = () => {
        for (const r of own) {
          agentApi(node, 'DELETE', `/api/v1/endpoints/${r.id}`);
          registered.splice(registered.indexOf(r), 1);
        }
      };
      if (!step.probe) {
        stopNow();
        return {
          step: name,
          passed: true,
          detail: `${own.length} endpoint(s) unregistered through ${node}'s agent`,
        };
      }
      return await probeStop(name, node, step.probe, stopNow);
    }
    if (step.kind === 'restore') {
      blackhole('del', step.a, step.z);
      const at = cuts.findIndex(([a, z]) => a === step.a && z === step.z);
      if (at >= 0) cuts.splice(at, 1);
      // Done when both engine ends list the link up again (each then registers it up with the
      // controller, whose paths avoided it while it was down).
      const started = Date.now();
      while (!linkUp(step.a, step.z) || !linkUp(step.z, step.a)) {
        if (Date.now() - started > 30_000)
          return {
            step: name,
            passed: false,
            detail: 'blackhole routes removed; the link did not come back in 30 s',
          };
        await sleep(250);
      }
      return {
        step: name,
        passed: true,
        detail: `blackhole routes removed; link up again after ${((Date.now() - started) / 1000).toFixed(1)} s`,
      };
    }
    if (step.kind === 'cut') {
      if (!step.probe) {
        blackhole('add', step.a, step.z);
        cuts.push([step.a, step.z]);
        return { step: name, passed: true, detail: 'underlay blackholed both ways' };
      }
      return await probeCut(name, step);
    }
    if (step.toRole !== undefined) return await roleSend(name, step);
    // Unicast: ping from the sender to each target; the engines' flow tables for `via`.
    const details: string[] = [];
    let passed = true;
    for (const target of step.to) {
      const before = step.via ? engineCounts(step.from, target) : undefined;
      const got = ping(step.from, hostId(target), step.packets);
      const ok = step.expect === 'dropped' ? got.received === 0 : got.received === got.sent && got.sent > 0;
      passed &&= ok;
      details.push(`ping ${target}: ${got.received}/${got.sent} echo replies`);
      if (step.streamSeconds !== undefined) {
        const stream = await iperfStream(step.from, target, step.streamSeconds);
        passed &&= step.expect === 'dropped' ? !stream.connected : stream.mbitPerSecond > 0;
        details.push(stream.detail);
      }
      if (before && step.via) {
        const after = engineCounts(step.from, target);
        const saw = [...after].filter(
          ([engine, flows]) => packetsAdded(before.get(engine), flows) >= step.packets,
        );
        const via = new Set(step.via);
        const seen = saw.map(([engine]) => engine);
        const viaOk = [...via].every((e) => seen.includes(e)) && seen.every((e) => via.has(e));
        passed &&= viaOk;
        details.push(`engines that counted the flow: ${seen.sort().join(', ') || 'none'}`);
      }
    }
    return { step: name, passed, detail: details.join('; ') };
  }

  /** The JSON an engine's HTTP API answers on `path`. */
  function engineApi(node: string, path: string): unknown {
    const out = execFileSync(
      'python3',
      [
        '-c',
        'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())',
        `http://${address(node)}:${labPorts.engineHttp}${path}`,
      ],
      { encoding: 'utf8', timeout: 15_000 },
    );
    return JSON.parse(out);
  }

  /** True when engine `node` lists its link to `peer` as up (true for a node that is not an engine). */
  function linkUp(node: string, peer: string): boolean {
    if (lab.state.topology.nodes.find((n) => n.name === node)?.kind !== 'engine') return true;
    const links = (engineApi(node, '/api/v1/links') as { items: { peerName: string; up: boolean }[] }).items;
    return links.some((link) => link.peerName === peer && link.up);
  }

  /**
   * Packets of each flow source → destination in each engine's flow table (its HTTP API), by flow
   * (id and creation time: an id is reused after its flow is removed).
   */
  function engineCounts(from: string, to: string): Map<string, Map<string, number>> {
    const counts = new Map<string, Map<string, number>>();
    for (const node of lab.state.topology.nodes.filter((n) => n.kind === 'engine')) {
      const out = execFileSync(
        'python3',
        [
          '-c',
          'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())',
          `http://${node.address}:${labPorts.engineHttp}/api/v1/flows`,
        ],
        { encoding: 'utf8', timeout: 15_000 },
      );
      const flows = JSON.parse(out).items as {
        id: number;
        createdAtMs: number;
        source: string;
        destination: string;
        packets: number;
      }[];
      counts.set(
        node.name,
        new Map(
          flows
            .filter((f) => f.source === hostId(from) && f.destination === hostId(to))
            .map((f) => [`${f.id}@${f.createdAtMs}`, f.packets]),
        ),
      );
    }
    return counts;
  }

  /**
   * Packets the flows of `after` counted since `before`. Flows gone from the table meanwhile do not
   * count: an earlier use case's flow that idles out during the step must not cancel this step's packets.
   */
  function packetsAdded(before: Map<string, number> | undefined, after: Map<string, number>): number {
    let added = 0;
    for (const [flow, packets] of after) added += packets - (before?.get(flow) ?? 0);
    return added;
  }

  function ping(from: string, to: string, count: number): { sent: number; received: number } {
    let output: string;
    try {
      output = inNode(from, ['ping', '-6', '-n', '-c', String(count), '-i', '0.05', '-W', '1', to]);
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? '');
    }
    const match = /(\d+) packets transmitted, (\d+) received/.exec(output);
    return { sent: Number(match?.[1] ?? 0), received: Number(match?.[2] ?? 0) };
  }

  /**
   * An iperf3 TCP stream from `from` to `to`'s CGA (or `address`: a role address `to` holds) for
   * `seconds`: a one-off server in `to`'s namespace, the client in `from`'s with a 2 s connect
   * time-out (a dropped pair never connects).
   */
  async function iperfStream(
    from: string,
    to: string,
    seconds: number,
    address = hostId(to),
  ): Promise<{ connected: boolean; mbitPerSecond: number; detail: string }> {
    const port = '5211';
    const server = serverInNode(
      to,
      ['iperf3', '-s', '-1', '-p', port, '--forceflush'],
      'listening',
      'iperf3 server',
    );
    try {
      await server.ready;
      let output: string;
      const client = [
        'iperf3',
        '-6',
        '-c',
        address,
        '-p',
        port,
        '-t',
        String(seconds),
        '-J',
        '--connect-timeout',
        '2000',
      ];
      try {
        output = inNode(from, client, (seconds + 20) * 1000);
      } catch (error) {
        output = String((error as { stdout?: string }).stdout ?? '');
      }
      let report: { error?: string; end?: { sum_received?: { bits_per_second?: number; bytes?: number } } } =
        {};
      try {
        report = JSON.parse(output);
      } catch {
        report = { error: output.trim().slice(0, 200) || 'no output' };
      }
      const received = report.end?.sum_received;
      if (report.error !== undefined || received?.bits_per_second === undefined)
        return {
          connected: false,
          mbitPerSecond: 0,
          detail: `iperf3 to ${to}${address === hostId(to) ? '' : ` at ${address}`}: ${report.error ?? 'no result'}`,
        };
      const mbitPerSecond = received.bits_per_second / 1e6;
      return {
        connected: true,
        mbitPerSecond,
        detail: `iperf3 TCP to ${to}${address === hostId(to) ? '' : ` at ${address}`}: ${mbitPerSecond.toFixed(1)} Mbit/s for ${seconds} s`,
      };
    } finally {
      server.stop();
    }
  }

  /** The address of `step.toRole` in the sender's contract (as its agent derives it), or undefined. */
  async function roleAddressOf(step: Extract<UseCaseStep, { kind: 'send' }>): Promise<string | undefined> {
    const contractName = roleSendContract(useCase, step.from, step.toRole!);
    if (contractName === undefined) return undefined;
    return contractRoleAddress(lab.admin, contractName, step.toRole!, hostId(step.from));
  }

  /** Role-addressed UDP (anycast spread or multicast): receivers on `to` and `notTo`, one sender. */
  async function roleSend(name: string, step: Extract<UseCaseStep, { kind: 'send' }>): Promise<StepResult> {
    // The members' agents put the role address on their TUN when the endpoint registers.
    const role = await roleAddressOf(step);
    if (role === undefined) return { step: name, passed: false, detail: `${step.from} has no contract` };
    const watched = [...step.to, ...step.notTo];
    // Every receiver bound before the first datagram (a datagram to a port nobody has bound yet
    // is lost in the member's kernel, counted by no daemon); they stop once the sender is done
    // and what it sent had time to arrive.
    const receivers = watched.map((node) => udpReceiver(node));
    try {
      await Promise.all(receivers.map((receiver) => receiver.ready));
      udpSend(
        step.from,
        role,
        Array.from({ length: step.flows }, (_, i) => 30_000 + i),
        step.packets,
      );
      await sleep(1500);
    } finally {
      for (const receiver of receivers) receiver.stop();
    }
    const got = await Promise.all(receivers.map((receiver) => receiver.counts));
    const flowsAt = got.map((byPort) => Object.keys(byPort).length);
    const packetsAt = got.map((byPort) => Object.values(byPort).reduce((a, b) => a + b, 0));
    const members = step.to.length;
    const unwanted = packetsAt.slice(members).reduce((a, b) => a + b, 0);
    let passed: boolean;
    let detail: string;
    if (step.expect === 'spread') {
      const share = step.flows / members;
      const total = flowsAt.slice(0, members).reduce((a, b) => a + b, 0);
      passed =
        total === step.flows &&
        flowsAt.slice(0, members).every((n) => Math.abs(n - share) <= share * step.tolerance);
      detail = `connections received by ${step.to.join(', ')}: ${flowsAt.slice(0, members).join(', ')} of ${step.flows}`;
    } else {
      const expected = step.flows * step.packets;
      const each = packetsAt.slice(0, members);
      passed =
        (step.expect === 'dropped' ? each.every((n) => n === 0) : each.every((n) => n === expected)) &&
        unwanted === 0;
      detail = `datagrams received by ${step.to.join(', ')}: ${each.join(', ')} of ${expected}`;
    }
    if (step.notTo.length > 0)
      detail += `; by ${step.notTo.join(', ')}: ${packetsAt.slice(members).join(', ')}`;
    passed &&= unwanted === 0;
    // A stream to the role address when one member is the target (anycast TCP: iperf3's control
    // and data connections must both reach it).
    if (step.streamSeconds !== undefined && members === 1) {
      const stream = await iperfStream(step.from, step.to[0]!, step.streamSeconds, role);
      passed &&= step.expect === 'dropped' ? !stream.connected : stream.mbitPerSecond > 0;
      detail += `; ${stream.detail}`;
    }
    return { step: name, passed, detail };
  }

  /**
   * TCP to a role address with real applications: a tiny python3 HTTP server on [::]:8080 on each
   * member that answers with its node name, and `httpConnections` sequential `curl -6 -g` from the
   * sender to http://[role address]:8080/, each its own connection (own source port, so its own
   * capsule flow label: the engines' program picks a member per connection, and every packet of
   * the connection must reach that member, its replies leaving from the role address). Passes
   * when every request was answered by a member and each member answered at least one.
   */
  async function roleHttp(step: Extract<UseCaseStep, { kind: 'send' }>): Promise<StepResult> {
    const httpConnections = 30;
    const name = `${step.from} → role ${step.toRole} (${step.to.join(', ')}): ${httpConnections} × curl over TCP`;
    const role = await roleAddressOf(step);
    if (role === undefined) return { step: name, passed: false, detail: `${step.from} has no contract` };
    // Servers on the hosts that must not answer too: an answer from one of them fails the step.
    const servers = [...step.to, ...step.notTo].map((node) => httpServer(node));
    try {
      await Promise.all(servers.map((server) => server.ready));
      const script = `for i in $(seq ${httpConnections}); do curl -6 -g -s -m 5 http://[${role}]:8080/; echo; done`;
      let output: string;
      try {
        output = inNode(step.from, ['sh', '-c', script], 180_000);
      } catch (error) {
        output = String((error as { stdout?: string }).stdout ?? '');
      }
      const answers = output.split('\n').map((line) => line.trim());
      const counts = step.to.map((node) => answers.filter((line) => line === node).length);
      const unwanted = step.notTo.map((node) => answers.filter((line) => line === node).length);
      const answered = counts.reduce((a, b) => a + b, 0);
      return {
        step: name,
        passed: answered === httpConnections && counts.every((n) => n > 0),
        detail:
          `HTTP answers from ${step.to.join(', ')}: ${counts.join(', ')} of ${httpConnections} connections to [${role}]:8080` +
          (step.notTo.length > 0 ? `; from ${step.notTo.join(', ')}: ${unwanted.join(', ')}` : ''),
      };
    } finally {
      for (const server of servers) server.stop();
    }
  }

  /** A python3 HTTP server on [::]:8080 in a host's namespace answering its node name; `ready` once bound. */
  function httpServer(node: string): { ready: Promise<void>; stop(): void } {
    const script = `
import http.server, socket, sys
class Server(http.server.HTTPServer):
    address_family = socket.AF_INET6
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"${node}"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = Server(("::", 8080), Handler)
print("ready", flush=True)
server.serve_forever()
`;
    return serverInNode(node, ['python3', '-c', script], 'ready', 'HTTP server');
  }

  /**
   * A long-running `command` in `node`'s namespace; `ready` resolves once its stdout shows
   * `marker` (it rejects after `readyMs`, or if the process fails or exits first); `stop` ends it
   * (SIGTERM); `output`: all it printed, once it exited.
   */
  function serverInNode(
    node: string,
    command: readonly string[],
    marker: string,
    what: string,
    readyMs = 10_000,
  ): { ready: Promise<void>; output: Promise<string>; stop(): void } {
    const child = spawn('ip', ['netns', 'exec', namespace(node), ...command]);
    let printed = '';
    const output = new Promise<string>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', () => resolve(printed));
    });
    output.catch(() => {});
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${node}: ${what} not ready in ${readyMs / 1000} s`)),
        readyMs,
      );
      child.stdout.on('data', (chunk) => {
        printed += chunk;
        if (printed.includes(marker)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on('close', () => {
        clearTimeout(timer);
        reject(new Error(`${node}: ${what} exited`));
      });
    });
    ready.catch(() => {});
    return { ready, output, stop: () => child.kill('SIGTERM') };
  }

  /**
   * A UDP receiver on [::]:9000 in a host's namespace: `ready` once bound (30 s at most: python3
   * starting in a namespace on a loaded machine); `stop` ends it (SIGTERM: it takes what is queued
   * and prints), and `counts` then resolves to the datagrams received by source port.
   */
  function udpReceiver(node: string): {
    ready: Promise<void>;
    counts: Promise<Record<string, number>>;
    stop(): void;
  } {
    const script = `
import json, signal, socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", 9000))
stopped = False
def stop(*_):
    global stopped
    stopped = True
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
counts = {}
def count(port):
    counts[str(port)] = counts.get(str(port), 0) + 1
s.settimeout(0.1)
while not stopped:
    try:
        data, (addr, port, *_rest) = s.recvfrom(2048)
        count(port)
    except socket.timeout:
        pass
s.setblocking(False)
try:
    while True:
        data, (addr, port, *_rest) = s.recvfrom(2048)
        count(port)
except BlockingIOError:
    pass
print(json.dumps(counts), flush=True)
`;
    const receiver = serverInNode(node, ['python3', '-c', script], 'ready', 'UDP receiver', 30_000);
    return {
      ready: receiver.ready,
      counts: receiver.output.then((out) => JSON.parse(out.slice(out.indexOf('\n') + 1) || '{}')),
      stop: receiver.stop,
    };
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

  /**
   * UDP from probe.from to the role address every probe.intervalMs (python3), each datagram
   * carrying its sequence number, receivers on every watched member printing each one's number as
   * it comes; once 50 datagrams have arrived (steady traffic; 30 s at most) `stop` runs (the
   * member's agent unregisters its endpoint), and traffic goes on for probe.durationMs. Like the
   * failover's echo requests, the gap is counted on the sender's schedule: datagram n is due at
   * n × probe.intervalMs, and the gap is the longest run of datagrams no member received, in ms
   * (a receiver or a sender the loaded machine does not schedule for a while delays datagrams
   * without losing them, so it does not count as a gap; what the route loses does).
   */
  async function probeStop(
    name: string,
    stopped: string,
    probe: NonNullable<Extract<UseCaseStep, { kind: 'stop' }>['probe']>,
    stop: () => void,
  ): Promise<StepResult> {
    const role = await roleAddressOf({ from: probe.from, toRole: probe.toRole } as Extract<
      UseCaseStep,
      { kind: 'send' }
    >);
    if (role === undefined) return { step: name, passed: false, detail: `${probe.from} has no contract` };
    const receivers = probe.to.map((node) => sequenceUdpReceiver(node));
    const script = `
import socket, time, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", 30999))
start = time.time()
i = 0
while True:
    s.sendto(str(i).encode(), ("${role}", 9000))
    i += 1
    sys.stdout.write(".")
    sys.stdout.flush()
    time.sleep(max(0, start + i * ${probe.intervalMs / 1000} - time.time()))
`;
    let sent = 0;
    let sender: ReturnType<typeof spawn> | undefined;
    let senderDone: Promise<void> = Promise.resolve();
    let stopAt = 0; // on the sender's schedule (ms): the datagram due when `stop` ran
    try {
      await Promise.all(receivers.map((receiver) => receiver.ready));
      const child = spawn('ip', ['netns', 'exec', namespace(probe.from), 'python3', '-u', '-c', script]);
      sender = child;
      child.stdout.on('data', (chunk) => {
        sent += String(chunk).length;
      });
      senderDone = new Promise<void>((resolve) => child.on('close', () => resolve()));
      const arrived = () => receivers.reduce((n, receiver) => n + receiver.sequence.length, 0);
      const waitStart = Date.now();
      while (arrived() < 50 && Date.now() - waitStart < 30_000) await sleep(50);
      if (arrived() < 50)
        return {
          step: name,
          passed: false,
          detail: `the role got ${arrived()} datagrams in 30 s before the stop`,
        };
      stopAt = sent * probe.intervalMs;
      stop();
      await sleep(probe.durationMs);
    } finally {
      sender?.kill('SIGTERM');
      await senderDone;
      await sleep(300); // the receivers' last lines
      for (const receiver of receivers) receiver.stop();
    }
    const arrivals = receivers.flatMap((receiver, i) =>
      receiver.sequence.map((n) => ({ at: n * probe.intervalMs, host: probe.to[i]! })),
    );
    return { step: name, ...roleGapResult(arrivals, stopAt, stopped, sent, probe) };
  }

  /**
   * A UDP receiver on [::]:9000 in a host's namespace: `sequence` fills with the sequence number
   * each datagram from port 30999 carries (its payload, decimal), as they come; `ready` once
   * bound; `stop` ends it.
   */
  function sequenceUdpReceiver(node: string): { ready: Promise<void>; sequence: number[]; stop(): void } {
    const script = `
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", 9000))
print("ready", flush=True)
while True:
    data, (addr, port, *_rest) = s.recvfrom(2048)
    if port == 30999 and data.isdigit():
        print(data.decode(), flush=True)
`;
    const sequence: number[] = [];
    const child = spawn('ip', ['netns', 'exec', namespace(node), 'python3', '-u', '-c', script]);
    let buffer = '';
    const ready = new Promise<void>((resolve, reject) => {
      // Generous: python3 starting in a namespace on a loaded machine.
      const timer = setTimeout(() => reject(new Error(`${node}: UDP receiver not ready in 30 s`)), 30_000);
      child.stdout.on('data', (chunk) => {
        buffer += chunk;
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          if (line === 'ready') {
            clearTimeout(timer);
            resolve();
          } else if (/^\d+$/.test(line)) sequence.push(Number(line));
        }
      });
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on('close', () => {
        clearTimeout(timer);
        reject(new Error(`${node}: UDP receiver exited`));
      });
    });
    ready.catch(() => {});
    return { ready, sequence, stop: () => child.kill('SIGTERM') };
  }

  /**
   * Pings probe.from → probe.to every probe.intervalMs, cuts the underlay a → z, and keeps pinging
   * for probe.durationMs and then until the replies have been steady for 2 s (60 s at most);
   * the gap is the longest run of unanswered echo requests.
   */
  async function probeCut(name: string, step: Extract<UseCaseStep, { kind: 'cut' }>): Promise<StepResult> {
    const probe = step.probe!;
    const intervalS = Math.max(probe.intervalMs, 10) / 1000;
    const maxS = 60;
    const child = spawn('ip', [
      'netns',
      'exec',
      namespace(probe.from),
      'ping',
      '-6',
      '-n',
      '-i',
      String(intervalS),
      '-w',
      String(maxS + 5),
      hostId(probe.to),
    ]);
    const answered: number[] = [];
    let buffer = '';
    child.stdout.on('data', (chunk) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const match = /icmp_seq=(\d+)/.exec(line);
        if (match) answered.push(Number(match[1]));
      }
    });
    const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
    try {
      await sleep(1000);
      blackhole('add', step.a, step.z);
      cuts.push([step.a, step.z]);
      const cutAt = Date.now();
      const steadyRun = Math.ceil(2 / intervalS);
      const steady = () => {
        const n = answered.length;
        return n > steadyRun && answered[n - 1]! - answered[n - 1 - steadyRun]! === steadyRun;
      };
      while (Date.now() - cutAt < maxS * 1000) {
        await sleep(250);
        if (Date.now() - cutAt >= probe.durationMs && steady()) break;
      }
    } finally {
      child.kill('SIGINT');
      await closed;
    }
    let gap = 0;
    for (let i = 1; i < answered.length; i += 1) gap = Math.max(gap, answered[i]! - answered[i - 1]!);
    const gapMs = Math.round(gap * intervalS * 1000);
    const recovered = answered.length > 0;
    return {
      step: name,
      passed: recovered && gapMs <= probe.maxGapMs,
      detail:
        `${answered.length} echo replies every ${probe.intervalMs} ms, longest gap ${(gapMs / 1000).toFixed(1)} s ` +
        `(at most ${(probe.maxGapMs / 1000).toFixed(1)} s; a dead link is noticed after 3 × ${labLinkKeepAliveIntervalMs} ms link keep-alives)`,
      gapMs,
    };
  }
}
