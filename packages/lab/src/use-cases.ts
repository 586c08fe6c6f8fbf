/**
 * Use cases (examples/use-cases/<name>/): `contract.yaml` — the template (with `program:` the
 * microprogram source it is compiled from), contract and service, in `capsule apply` form — and
 * `use-case.yaml` — which host registers which role, and the steps: traffic with its expected
 * outcome, revocations, links cut. `runUseCase` applies the contract on a running in-process lab,
 * registers the endpoints through the agents, drives real packets through the agents' data planes
 * and the engines, and reports what it measured. Nothing is assumed: a step passes only on what
 * the receiving applications actually got.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { roleAddress } from '@capsule/agent';
import type { ApiClient } from '@capsule/api';
import { engineIdOfHostId, formatIpv6, parseIpv6 } from '@capsule/wire';
import YAML from 'yaml';
import { buildUdp6, parseUdp6 } from './app-packets';
import { labNames } from './bootstrap';
import { LabError } from './errors';
import type { MemoryLab } from './memory-lab';
import { compileTemplateImage } from './program-image';

/** One step of a use case. */
export type UseCaseStep =
  | {
      kind: 'send';
      from: string;
      to: readonly string[];
      packets: number;
      /**
       * delivered: every packet to every target; dropped: none; spread: each within ±tolerance of
       * an even share; nearest (with `toRole`): every packet to the one of `to` nearest the sender
       * by the controller's path cost, none to the others.
       */
      expect: 'delivered' | 'dropped' | 'spread' | 'nearest';
      tolerance: number;
      /** Distinct flows (source ports); spread counts flows, not packets. */
      flows: number;
      /** Engines the received packets' TRACE must name, in order (checked at each receiver). */
      via?: readonly string[];
      /**
       * Send to this role's address (the sender's contract; anycast or multicast) instead of to
       * each host of `to`: the packets are sent once and `to` are the hosts watched.
       */
      toRole?: string;
      /** Hosts that must receive none of the packets. */
      notTo: readonly string[];
      /**
       * Netns lab only: after the pings, an iperf3 TCP stream of this many seconds to each target
       * (delivered: data arrives; dropped: iperf3 cannot even connect). The in-process lab has no
       * real applications and ignores it.
       */
      streamSeconds?: number;
    }
  | { kind: 'revoke'; host: string }
  /**
   * A member's application stops: its endpoints of this use case leave its agent (unregistered at
   * the controller). `nearest`: the member the last `expect: nearest` step found.
   */
  | { kind: 'stop'; host: string; probe?: RoleGapProbe }
  | { kind: 'cut'; a: string; z: string; probe?: GapProbe }
  | { kind: 'restore'; a: string; z: string };

/** Traffic sent at a fixed interval across a cut, to measure the delivery gap it causes. */
export interface GapProbe {
  from: string;
  to: string;
  intervalMs: number;
  /** How long the probe runs after the cut. */
  durationMs: number;
  /** The step fails when the longest gap between two received packets is longer. */
  maxGapMs: number;
}

/**
 * Traffic to a role's address at a fixed interval across a member's stop: the gap is the longest
 * time between two datagrams received by any of `to` (the role's members watched).
 */
export interface RoleGapProbe {
  from: string;
  toRole: string;
  to: readonly string[];
  intervalMs: number;
  durationMs: number;
  maxGapMs: number;
}

/** A use case as its directory describes it. */
export interface UseCase {
  readonly name: string;
  readonly title: string;
  readonly dir: string;
  /** The `capsule apply` documents of contract.yaml. */
  readonly documents: readonly Record<string, unknown>[];
  readonly endpoints: readonly { host: string; role: string; contract: string }[];
  readonly steps: readonly UseCaseStep[];
}

/** The outcome of one step / one use case. */
export interface StepResult {
  readonly step: string;
  readonly passed: boolean;
  readonly detail: string;
  /** A cut under traffic: the longest delivery gap measured, in ms. */
  readonly gapMs?: number;
}
export interface UseCaseResult {
  readonly name: string;
  readonly title: string;
  readonly passed: boolean;
  readonly steps: readonly StepResult[];
  /** What went wrong before any step ran (apply, registration), if anything. */
  readonly error?: string;
}

/** `send.stream`: whole seconds of iperf3, 1–30 (a longer run belongs in a benchmark). */
function streamSecondsOf(value: unknown, where: string): number {
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 30)
    throw new LabError(
      'LAB_BAD_USE_CASE',
      `${where}.send.stream is whole seconds of iperf3, 1 to 30: got ${String(value)}`,
    );
  return seconds;
}

const asList = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : [String(value)]);

/** Reads a use case directory. */
export function loadUseCase(dir: string): UseCase {
  const read = (file: string) => {
    try {
      return readFileSync(join(dir, file), 'utf8');
    } catch (error) {
      throw new LabError('LAB_BAD_USE_CASE', `cannot read ${join(dir, file)}: ${(error as Error).message}`);
    }
  };
  const spec = YAML.parse(read('use-case.yaml')) as Record<string, unknown>;
  const documents = YAML.parseAllDocuments(read('contract.yaml')).map((doc) => {
    if (doc.errors.length > 0)
      throw new LabError('LAB_BAD_USE_CASE', `${dir}/contract.yaml: ${doc.errors[0]!.message}`);
    return doc.toJS() as Record<string, unknown>;
  });
  if (typeof spec.name !== 'string' || !Array.isArray(spec.endpoints) || !Array.isArray(spec.steps))
    throw new LabError('LAB_BAD_USE_CASE', `${dir}/use-case.yaml needs name, endpoints and steps`);
  const steps = (spec.steps as Record<string, Record<string, unknown>>[]).map((step, i): UseCaseStep => {
    if (step.send) {
      const send = step.send;
      const expect = String(step.expect ?? 'delivered');
      if (!['delivered', 'dropped', 'spread', 'nearest'].includes(expect))
        throw new LabError(
          'LAB_BAD_USE_CASE',
          `${dir}: steps[${i}].expect is delivered, dropped, spread or nearest`,
        );
      if (expect === 'nearest' && send.toRole === undefined)
        throw new LabError('LAB_BAD_USE_CASE', `${dir}: steps[${i}]: expect nearest needs send.toRole`);
      return {
        kind: 'send',
        from: String(send.from),
        to: asList(send.to),
        packets: Number(send.packets ?? 10),
        expect: expect as 'delivered',
        tolerance: Number(step.tolerance ?? 0.2),
        flows: Number(send.flows ?? 1),
        ...(step.via !== undefined && { via: asList(step.via) }),
        ...(send.toRole !== undefined && { toRole: String(send.toRole) }),
        notTo: step.notTo === undefined ? [] : asList(step.notTo),
        ...(send.stream !== undefined && {
          streamSeconds: streamSecondsOf(send.stream, `${dir}: steps[${i}]`),
        }),
      };
    }
    if (step.revoke) return { kind: 'revoke', host: String((step.revoke as { host: unknown }).host) };
    if (step.stop !== undefined) {
      const host = typeof step.stop === 'string' ? step.stop : String((step.stop as { host: unknown }).host);
      const probe = step.probe as Record<string, unknown> | undefined;
      if (probe && probe.toRole === undefined)
        throw new LabError(
          'LAB_BAD_USE_CASE',
          `${dir}: steps[${i}]: a stop's probe sends to a role (toRole)`,
        );
      return {
        kind: 'stop',
        host,
        ...(probe && {
          probe: {
            from: String(probe.from),
            toRole: String(probe.toRole),
            to: asList(probe.to),
            intervalMs: Number(probe.intervalMs ?? 10),
            durationMs: Number(probe.durationMs ?? 3000),
            maxGapMs: Number(probe.maxGapMs ?? 1000),
          },
        }),
      };
    }
    if (step.cut || step.restore) {
      const [a, z] = asList(((step.cut ?? step.restore) as { between: unknown }).between);
      if (step.restore) return { kind: 'restore', a: a!, z: z! };
      const probe = step.probe as Record<string, unknown> | undefined;
      return {
        kind: 'cut',
        a: a!,
        z: z!,
        ...(probe && {
          probe: {
            from: String(probe.from),
            to: String(probe.to),
            intervalMs: Number(probe.intervalMs ?? 10),
            durationMs: Number(probe.durationMs ?? 3000),
            maxGapMs: Number(probe.maxGapMs ?? 2000),
          },
        }),
      };
    }
    throw new LabError('LAB_BAD_USE_CASE', `${dir}: steps[${i}] is send, revoke, stop, cut or restore`);
  });
  return {
    name: spec.name,
    title: String(spec.title ?? spec.name),
    dir,
    documents,
    endpoints: (spec.endpoints as Record<string, unknown>[]).map((e) => ({
      host: String(e.host),
      role: String(e.role),
      contract: String(e.contract),
    })),
    steps,
  };
}

/**
 * The contract of a role-addressed send from `from` to `role`: the one in which `from` holds a
 * role and an endpoint holds `role` (a host may hold roles of several contracts), or undefined.
 */
export function roleSendContract(useCase: UseCase, from: string, role: string): string | undefined {
  return useCase.endpoints.find(
    (endpoint) =>
      endpoint.role === role &&
      useCase.endpoints.some((own) => own.host === from && own.contract === endpoint.contract),
  )?.contract;
}

/** Creates the use case's template (compiled from its program), contract and service; returns a service token. */
export async function applyUseCase(admin: ApiClient, useCase: UseCase): Promise<string> {
  const ids = new Map<string, number>();
  let serviceId: number | undefined;
  for (const document of useCase.documents) {
    const { kind, ...body } = document;
    const domain = labNames.hostDomain;
    if (kind === 'template') {
      const program = resolve(useCase.dir, String(body.program));
      const image = compileTemplateImage(readFileSync(program, 'utf8'), program);
      delete body.program;
      const template = await admin.templates.create({ ...body, domain, image } as never);
      ids.set(`template:${template.name}`, template.id);
    } else if (kind === 'contract') {
      const templateId = ids.get(`template:${String(body.template)}`);
      if (templateId === undefined)
        throw new LabError(
          'LAB_BAD_USE_CASE',
          `${useCase.name}: contract names unknown template ${String(body.template)}`,
        );
      delete body.template;
      const contract = await admin.contracts.create({ ...body, domain, templateId } as never);
      ids.set(`contract:${contract.name}`, contract.id);
    } else if (kind === 'service') {
      const grants = (body.grants as { contract: string; role: string }[]).map((grant) => ({
        contractId: ids.get(`contract:${grant.contract}`)!,
        role: grant.role,
      }));
      serviceId = (await admin.services.create({ ...body, domain, grants } as never)).id;
    } else throw new LabError('LAB_BAD_USE_CASE', `${useCase.name}: unknown kind ${String(kind)}`);
  }
  if (serviceId === undefined)
    throw new LabError('LAB_BAD_USE_CASE', `${useCase.name}: contract.yaml has no service`);
  const token = (await admin.serviceTokens.create({ serviceId })).token;
  if (!token) throw new LabError('LAB_BAD_USE_CASE', `${useCase.name}: the controller returned no token`);
  return token;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Which of `candidates` (name → host id) is nearest the sender's endpoint by the controller's path
 * cost — the paths it computed for the sender (its trace) — among the members of `role`:
 * `name` undefined when none is reachable or two tie (the step cannot say which is nearest).
 * `costs` lists every candidate's cost for the step's detail.
 */
export async function nearestMember(
  admin: ApiClient,
  senderEndpointId: number,
  role: string,
  candidates: ReadonlyMap<string, string>,
): Promise<{ name: string | undefined; costs: string }> {
  const canonical = (id: string) => {
    const parsed = parseIpv6(id);
    return parsed.ok ? formatIpv6(parsed.value) : id;
  };
  const trace = await admin.endpoints.trace(senderEndpointId);
  const costs = [...candidates].map(([name, hostId]) => {
    const reached = trace.paths
      .filter((path) => path.peerRole === role && path.cost >= 0)
      .filter((path) => canonical(path.peerHostId) === canonical(hostId))
      .map((path) => path.cost);
    return { name, cost: reached.length > 0 ? Math.min(...reached) : undefined };
  });
  const text = costs.map(({ name, cost }) => `${name} ${cost ?? 'no path'}`).join(', ');
  const reachable = costs
    .filter((c): c is { name: string; cost: number } => c.cost !== undefined)
    .sort((a, b) => a.cost - b.cost);
  const tie = reachable.length > 1 && reachable[0]!.cost === reachable[1]!.cost;
  return { name: tie ? undefined : reachable[0]?.name, costs: `path costs from the sender: ${text}` };
}

/** Engine drop reasons summed over the lab's engines (for a failed step's detail). */
function engineDrops(lab: MemoryLab): Record<string, number> {
  const drops: Record<string, number> = {};
  for (const { engine } of lab.engines.values())
    for (const [reason, count] of Object.entries(engine.counters().drops))
      drops[reason] = (drops[reason] ?? 0) + count;
  return drops;
}

/** Applies, registers and drives one use case on an in-process lab. */
export async function runUseCase(
  lab: MemoryLab,
  useCase: UseCase,
  progress: (line: string) => void = () => {},
): Promise<UseCaseResult> {
  const steps: StepResult[] = [];
  const host = (name: string) => {
    const found = lab.hosts.get(name);
    if (!found) throw new LabError('LAB_BAD_USE_CASE', `${useCase.name}: no host ${name} in the lab`);
    return found;
  };
  const serials = new Map<string, string>();
  const registered: { host: string; id: number; contract: string }[] = [];
  const cut = new Set<[string, string]>();
  try {
    return await driveUseCase();
  } finally {
    // The applications of this use case stop: their endpoints leave the agents, so the next use
    // case's endpoints carry the traffic to the same peer hosts (one flow per peer host).
    for (const { host: name, id } of registered) await lab.hosts.get(name)?.agent.unregisterEndpoint(id);
    for (const [a, z] of cut) lab.setPathUp(a, z, true);
  }

  async function driveUseCase(): Promise<UseCaseResult> {
    try {
      progress(`${useCase.name}: applying ${useCase.documents.length} objects`);
      const token = await applyUseCase(lab.admin, useCase);
      for (const endpoint of useCase.endpoints) {
        const answer = await host(endpoint.host).agent.registerEndpoint({
          serviceToken: token,
          contract: endpoint.contract,
          role: endpoint.role,
        });
        const { id, authorizationSerial } = answer as { id?: unknown; authorizationSerial?: unknown };
        serials.set(endpoint.host, String(authorizationSerial));
        if (typeof id === 'number') registered.push({ host: endpoint.host, id, contract: endpoint.contract });
      }
      // Peers registered later reach earlier endpoints by the controller's path-change push.
      await sleep(300);
    } catch (error) {
      return {
        name: useCase.name,
        title: useCase.title,
        passed: false,
        steps,
        error: (error as Error).message,
      };
    }
    let port = 20_000;
    /** The member the last `expect: nearest` step found (a `stop: nearest` stops it). */
    let nearest: string | undefined;
    for (const listed of useCase.steps) {
      let step = listed;
      let nearestText = '';
      if (step.kind === 'send' && step.expect === 'nearest') {
        const from = step.from;
        const contract = roleSendContract(useCase, from, step.toRole!);
        const own = registered.find((r) => r.host === from && r.contract === contract);
        const found = own
          ? await nearestMember(
              lab.admin,
              own.id,
              step.toRole!,
              new Map(step.to.map((name) => [name, host(name).agent.hostId ?? ''])),
            )
          : { name: undefined, costs: `${from} has no endpoint` };
        if (found.name === undefined) {
          steps.push({
            step: `${from} → role ${step.toRole}: expect nearest of ${step.to.join(', ')}`,
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
      if (step.kind === 'stop') {
        const name = step.host === 'nearest' ? nearest : step.host;
        const own = registered.filter((r) => r.host === name);
        if (name === undefined || own.length === 0) {
          steps.push({
            step: `stop ${step.host}`,
            passed: false,
            detail: `${name ?? 'no nearest member yet'} has no endpoint`,
          });
          continue;
        }
        const stopNow = async () => {
          for (const r of own) {
            await host(name).agent.unregisterEndpoint(r.id);
            registered.splice(registered.indexOf(r), 1);
          }
        };
        if (!step.probe) {
          await stopNow();
          steps.push({
            step: `stop ${name}`,
            passed: true,
            detail: `${own.length} endpoint(s) unregistered`,
          });
          continue;
        }
        port += 1;
        const result = await measureRoleGap(lab, step.probe, name, port, stopNow);
        progress(`${useCase.name}: stop ${name}: ${result.passed ? 'ok' : 'FAILED'} (${result.detail})`);
        steps.push({
          step: `stop ${name} under traffic ${step.probe.from} → role ${step.probe.toRole}`,
          ...result,
        });
        continue;
      }
      if (step.kind === 'revoke') {
        const serial = serials.get(step.host);
        const list = await lab.admin.authorizations.list({ limit: 1000 });
        const authorization = list.items.find((a) => a.serial === serial);
        if (!authorization) {
          steps.push({ step: `revoke ${step.host}`, passed: false, detail: `no authorization ${serial}` });
          continue;
        }
        await lab.admin.authorizations.revoke(authorization.id);
        steps.push({ step: `revoke ${step.host}`, passed: true, detail: `serial ${serial} revoked` });
        continue;
      }
      if (step.kind === 'restore') {
        lab.setPathUp(step.a, step.z, true);
        for (const pair of cut) if (pair[0] === step.a && pair[1] === step.z) cut.delete(pair);
        // Done when both engine ends list the link up again (each then registers it up with the
        // controller, whose paths avoided it while it was down).
        const up = (from: string, to: string) => {
          const engine = lab.engines.get(from);
          return !engine || engine.linkLayer.links().some((l) => l.peerName === to && l.state === 'up');
        };
        const started = Date.now();
        while (!(up(step.a, step.z) && up(step.z, step.a)) && Date.now() - started < 30_000)
          await new Promise((resolve) => setTimeout(resolve, 50));
        const back = up(step.a, step.z) && up(step.z, step.a);
        steps.push({
          step: `restore ${step.a}–${step.z}`,
          passed: back,
          detail: back
            ? `underlay path restored; link up again after ${Date.now() - started} ms`
            : 'underlay path restored; the link did not come back in 30 s',
        });
        continue;
      }
      if (step.kind === 'cut') {
        const cutNow = () => {
          lab.setPathUp(step.a, step.z, false);
          cut.add([step.a, step.z]);
        };
        if (!step.probe) {
          cutNow();
          steps.push({ step: `cut ${step.a}–${step.z}`, passed: true, detail: 'underlay path cut' });
          continue;
        }
        port += 1;
        const result = await measureGap(lab, step.probe, port, cutNow);
        progress(
          `${useCase.name}: cut ${step.a}–${step.z}: ${result.passed ? 'ok' : 'FAILED'} (${result.detail})`,
        );
        steps.push({
          step: `cut ${step.a}–${step.z} under traffic ${step.probe.from} → ${step.probe.to}`,
          ...result,
        });
        continue;
      }
      const sender = host(step.from);
      let roleTarget: string | undefined;
      if (step.toRole !== undefined) {
        roleTarget = roleTargetOf(step.from, step.toRole);
        if (roleTarget === undefined) {
          steps.push({
            step: `${step.from} → role ${step.toRole}`,
            passed: false,
            detail: `${step.from} has no endpoint`,
          });
          continue;
        }
      }
      const received = new Map<string, Set<number>>();
      const unwanted = new Map<string, number>(step.notTo.map((name) => [name, 0]));
      const unsubscribeUnwanted = step.notTo.map((name) =>
        host(name).app.onPacket((packet) => {
          if (parseUdp6(packet)?.destinationPort === 9000) unwanted.set(name, unwanted.get(name)! + 1);
        }),
      );
      const unsubscribe = step.to.map((name) => {
        const target = host(name);
        received.set(name, new Set());
        return target.app.onPacket((packet) => {
          const udp = parseUdp6(packet);
          if (udp?.destinationPort === 9000)
            received.get(name)!.add(udp.sourcePort * 100_000 + Number(new TextDecoder().decode(udp.payload)));
        });
      });
      const dropsBefore = engineDrops(lab);
      const started = Date.now();
      let refused = 0;
      for (let flow = 0; flow < step.flows; flow += 1) {
        port += 1;
        for (let i = 0; i < step.packets; i += 1)
          for (const name of roleTarget !== undefined || step.expect === 'spread' ? [step.to[0]!] : step.to) {
            const packet = buildUdp6(
              sender.agent.hostId!,
              roleTarget ?? host(name).agent.hostId!,
              port,
              9000,
              new TextEncoder().encode(String(i)),
            );
            if (sender.app.send(packet) !== 'sent') refused += 1;
          }
        if (flow % 20 === 19) await sleep(5);
      }
      await sleep(500);
      for (const off of [...unsubscribe, ...unsubscribeUnwanted]) off();
      const counts = [...received].map(([name, got]) => [name, got.size] as const);
      const total = counts.reduce((n, [, c]) => n + c, 0);
      const sent =
        step.flows *
        step.packets *
        (step.expect === 'spread' || roleTarget !== undefined ? 1 : step.to.length);
      const drops = Object.entries(engineDrops(lab))
        .map(([reason, n]) => [reason, n - (dropsBefore[reason] ?? 0)] as const)
        .filter(([, n]) => n > 0);
      const dropText =
        drops.length > 0 ? `; engine drops ${drops.map(([r, n]) => `${r}×${n}`).join(', ')}` : '';
      const refusedText = refused > 0 ? `; ${refused} refused by the sending agent` : '';
      const label =
        roleTarget !== undefined
          ? `${step.from} → role ${step.toRole} (${roleTarget}) watched at ${step.to.join(', ')}: ${sent} packets, expect ${step.expect}`
          : `${step.from} → ${step.to.join(', ')}: ${sent} packets, expect ${step.expect}`;
      let passed: boolean;
      let detail: string;
      if (step.expect === 'delivered') {
        passed = counts.every(([, c]) => c === step.flows * step.packets);
        detail = `received ${counts.map(([n, c]) => `${n} ${c}`).join(', ')} in ${Date.now() - started} ms${refusedText}${dropText}`;
      } else if (step.expect === 'dropped') {
        passed = total === 0;
        detail = `received ${total}${refusedText}${dropText}`;
      } else {
        const share = total / counts.length;
        passed = total === sent && counts.every(([, c]) => Math.abs(c - share) <= share * step.tolerance);
        detail = `spread ${counts.map(([n, c]) => `${n} ${c}`).join(', ')} of ${sent} (±${step.tolerance * 100}% of ${share.toFixed(0)})${refusedText}${dropText}`;
      }
      if (unwanted.size > 0) {
        const got = [...unwanted].filter(([, n]) => n > 0);
        passed &&= got.length === 0;
        detail += `; ${[...unwanted].map(([name, n]) => `${name} (not a target) received ${n}`).join(', ')}`;
      }
      if (step.via && step.expect === 'delivered') {
        const trace = checkTrace(lab, step.from, step.to, step.via);
        passed &&= trace.passed;
        detail += `; ${trace.detail}`;
      }
      detail += nearestText;
      const shown =
        listed.kind === 'send' && listed.expect === 'nearest'
          ? label.replace(/expect delivered$/, 'expect nearest')
          : label;
      progress(`${useCase.name}: ${shown}: ${passed ? 'ok' : 'FAILED'} (${detail})`);
      steps.push({ step: shown, passed, detail });
    }
    return { name: useCase.name, title: useCase.title, passed: steps.every((s) => s.passed), steps };
  }

  /** The address of `role` in the contract of `from`'s send to it (as its agent derives it). */
  function roleTargetOf(from: string, role: string): string | undefined {
    const sender = host(from);
    const contract = roleSendContract(useCase, from, role);
    const own = registered.find((r) => r.host === from && r.contract === contract);
    const spec = own && sender.agent.dataPlane?.flows.endpoints.get(own.id)?.spec;
    const senderId = parseIpv6(sender.agent.hostId ?? '');
    if (!spec || !senderId.ok) return undefined;
    return formatIpv6(roleAddress(senderId.value, spec.contractId, role));
  }

  /**
   * Sends probe.from → the role address every intervalMs, stops `stopped` (after 300 ms of
   * traffic), keeps sending for durationMs, and reports the longest time between two datagrams
   * received by any watched member — the outage the stop caused — and who received them.
   */
  async function measureRoleGap(
    lab: MemoryLab,
    probe: RoleGapProbe,
    stopped: string,
    port: number,
    stop: () => Promise<void>,
  ): Promise<{ passed: boolean; detail: string; gapMs?: number }> {
    const target = roleTargetOf(probe.from, probe.toRole);
    const sender = lab.hosts.get(probe.from);
    if (target === undefined || !sender) return { passed: false, detail: `${probe.from} has no endpoint` };
    const arrivals: { at: number; host: string }[] = [];
    const offs = probe.to.map((name) =>
      host(name).app.onPacket((packet) => {
        const udp = parseUdp6(packet);
        if (udp?.destinationPort === 9000 && udp.sourcePort === port)
          arrivals.push({ at: performance.now(), host: name });
      }),
    );
    let sent = 0;
    const timer = setInterval(() => {
      sender.app.send(
        buildUdp6(sender.agent.hostId!, target, port, 9000, new TextEncoder().encode(String(sent))),
      );
      sent += 1;
    }, probe.intervalMs);
    await sleep(300);
    const stopAt = performance.now();
    await stop();
    await sleep(probe.durationMs);
    clearInterval(timer);
    await sleep(200);
    for (const off of offs) off();
    return roleGapResult(arrivals, stopAt, stopped, sent, probe);
  }
}

/**
 * The outcome of a role probe across a member's stop, from the datagrams' arrivals (any clock, ms)
 * and the stop's time: the longest gap between two arrivals from the last one before the stop on;
 * passed when traffic came back at another member, never again at the stopped one after that,
 * within `maxGapMs`.
 */
export function roleGapResult(
  arrivals: readonly { at: number; host: string }[],
  stopAt: number,
  stopped: string,
  sent: number,
  probe: Pick<RoleGapProbe, 'maxGapMs'>,
): { passed: boolean; detail: string; gapMs: number } {
  const sorted = [...arrivals].sort((a, b) => a.at - b.at);
  const before = sorted.filter((a) => a.at <= stopAt);
  const after = sorted.filter((a) => a.at > stopAt);
  let previous = before.at(-1)?.at ?? stopAt;
  let gap = 0;
  for (const { at } of after) {
    gap = Math.max(gap, at - previous);
    previous = at;
  }
  const firstElsewhere = after.findIndex((a) => a.host !== stopped);
  const backAtStopped = firstElsewhere >= 0 && after.slice(firstElsewhere).some((a) => a.host === stopped);
  const count = (list: readonly { host: string }[]) => {
    const by = new Map<string, number>();
    for (const { host } of list) by.set(host, (by.get(host) ?? 0) + 1);
    return [...by].map(([host, n]) => `${host} ${n}`).join(', ') || 'none';
  };
  const movedTo = firstElsewhere >= 0 ? after[firstElsewhere]!.host : undefined;
  // The order of arrivals after the stop, as runs ("h2×12 h3×180"): a clean move is two runs.
  const runs: string[] = [];
  for (let i = 0; i < after.length; ) {
    let j = i;
    while (j < after.length && after[j]!.host === after[i]!.host) j += 1;
    runs.push(`${after[i]!.host}×${j - i}`);
    i = j;
  }
  const order = runs.length > 12 ? `${runs.slice(0, 12).join(' ')} … (${runs.length} runs)` : runs.join(' ');
  return {
    passed: movedTo !== undefined && !backAtStopped && gap <= probe.maxGapMs,
    gapMs: Math.round(gap),
    detail:
      `gap ${gap.toFixed(0)} ms (limit ${probe.maxGapMs} ms); ${sent} datagrams sent; ` +
      `received before the stop: ${count(before)}; after: ${count(after)}` +
      (movedTo ? `; traffic moved to ${movedTo}` : '; traffic never reached another member') +
      (backAtStopped ? `; ${stopped} received some again afterwards (in order: ${order})` : ''),
  };
}

/** The 16-bit engine id of each lab engine (what PATH hops and TRACE records name), by name. */
function engineIds(lab: MemoryLab): Map<number, string> {
  const names = new Map<number, string>();
  for (const [name, engine] of lab.engines) {
    const parsed = parseIpv6(engine.hostId);
    if (parsed.ok) names.set(engineIdOfHostId(parsed.value), name);
  }
  return names;
}

/**
 * The engines named by the TRACE of the last traced packet each receiver got from `from`,
 * compared with `via`; the sender's PATH (the controller's path) is shown next to it.
 */
function checkTrace(
  lab: MemoryLab,
  from: string,
  to: readonly string[],
  via: readonly string[],
): { passed: boolean; detail: string } {
  const names = engineIds(lab);
  const nameOf = (id: number) => names.get(id) ?? `engine ${id.toString(16)}`;
  const sender = lab.hosts.get(from)!;
  const senderId = parseIpv6(sender.agent.hostId ?? '');
  let passed = true;
  const parts: string[] = [];
  for (const name of to) {
    const receiver = lab.hosts.get(name)!;
    const flow = senderId.ok ? receiver.agent.dataPlane?.flows.flowByHostId(senderId.value, 0) : undefined;
    const trace = flow ? [...flow.lastTrace.subarray(0, flow.lastTraceLength)].map(nameOf) : [];
    const ok = trace.join(',') === via.join(',');
    passed &&= ok;
    const receiverId = parseIpv6(receiver.agent.hostId ?? '');
    const path =
      receiverId.ok &&
      sender.agent.dataPlane?.flows
        .flowByHostId(receiverId.value, 0)
        ?.path?.hops.map((h) => nameOf(h.engineId));
    parts.push(
      `${name}'s trace ${trace.length > 0 ? trace.join('→') : '(none)'}${ok ? '' : ` (expected ${via.join('→')})`}` +
        (path ? `, controller path ${path.join('→')}` : ''),
    );
  }
  return { passed, detail: parts.join('; ') };
}

/**
 * Sends `probe.from` → `probe.to` every `intervalMs`, cuts (after 300 ms of traffic), keeps
 * sending for `durationMs`, and reports the longest time between two packets the receiver got
 * (the outage the cut caused) and how many were lost.
 */
async function measureGap(
  lab: MemoryLab,
  probe: GapProbe,
  port: number,
  cut: () => void,
): Promise<{ passed: boolean; detail: string }> {
  const sender = lab.hosts.get(probe.from);
  const receiver = lab.hosts.get(probe.to);
  if (!sender || !receiver) return { passed: false, detail: `no host ${probe.from} or ${probe.to}` };
  const arrivals: number[] = [];
  const off = receiver.app.onPacket((packet) => {
    const udp = parseUdp6(packet);
    if (udp?.destinationPort === 9000 && udp.sourcePort === port) arrivals.push(performance.now());
  });
  let sent = 0;
  let refused = 0;
  const send = () => {
    const packet = buildUdp6(
      sender.agent.hostId!,
      receiver.agent.hostId!,
      port,
      9000,
      new TextEncoder().encode(String(sent)),
    );
    sent += 1;
    if (sender.app.send(packet) !== 'sent') refused += 1;
  };
  const timer = setInterval(send, probe.intervalMs);
  await sleep(300);
  const cutAt = performance.now();
  cut();
  await sleep(probe.durationMs);
  clearInterval(timer);
  await sleep(200);
  off();
  let gap = 0;
  let gapStart = cutAt;
  let previous = arrivals.filter((t) => t <= cutAt).at(-1) ?? cutAt;
  for (const at of arrivals.filter((t) => t > cutAt)) {
    if (at - previous > gap) {
      gap = at - previous;
      gapStart = previous;
    }
    previous = at;
  }
  const after = arrivals.filter((t) => t > cutAt).length;
  const passed = after > 0 && gap <= probe.maxGapMs;
  return {
    passed,
    detail:
      `gap ${gap.toFixed(0)} ms (it began ${Math.abs(gapStart - cutAt).toFixed(0)} ms ${gapStart < cutAt ? 'before' : 'after'} the cut), ` +
      `${arrivals.length} of ${sent} probe packets received (${after} after the cut), ` +
      `${sent - arrivals.length} lost${refused > 0 ? `, ${refused} refused by the sending agent` : ''}; ` +
      `limit ${probe.maxGapMs} ms`,
  };
}

/** The use cases under `root` (examples/use-cases): every directory with a use-case.yaml, by name. */
export function listUseCases(root: string): UseCase[] {
  return readdirSync(root)
    .filter((name) => existsSync(join(root, name, 'use-case.yaml')))
    .sort()
    .map((name) => loadUseCase(join(root, name)));
}
