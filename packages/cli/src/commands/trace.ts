/**
 * `capsule trace FROM TO`: the hops a live flow's packets take from host FROM to host TO, with the
 * time at each. FROM and TO are agents: a lab host's name (`--lab-dir`, the netns lab: its agent's
 * socket), an agent API socket path, or an agent's TCP API URL (with `--token-file`).
 *
 * How (docs/getting-started.md, "Tracing a flow"): subscribed to the trace events of both agents,
 * it asks FROM's agent (`POST /api/v1/trace`) to send its next `--packets` packets to TO with the
 * capsule header's TRACE flag. FROM reports each such packet as it leaves (`trace` out, its clock
 * in µs); each engine on the way appends its TRACE record (engine id, its clock in µs, fuel,
 * verdict, reason: @capsule/wire trace-chunk.ts); TO reports the records the packet arrived with
 * and when it delivered it (`trace` in). An arrival is paired with the latest departure of the same
 * flow label at or before its first record. Per hop: the time since the previous node's stamp (link
 * plus the node's own work). The packets are the flow's own — application traffic must be flowing;
 * nothing is injected. Times are each node's wall clock: exact on one machine (the netns lab),
 * across machines as good as their clock sync.
 */
import { join } from 'node:path';
import { defaultRestApiOptions } from '@capsule/agent';
import type { FlowEvent, FlowEventHop } from '@capsule/api';
import { dropReasonName } from '@capsule/engine';
import { agentSocketPath, labStatus } from '@capsule/lab';
import { Verdict } from '@capsule/vm';
import { formatIpv6, parseIpv6 } from '@capsule/wire';
import type { Command } from 'commander';
import { CliError } from '../errors';
import { type EventSource, httpUrlOption, requestJson, sourceName, streamEvents } from '../event-source';
import type { CliIo } from '../io';
import { labDataDir } from './lab';
import { positiveOption } from './observe';

interface TraceOptions {
  labDir?: string;
  tokenFile: string;
  packets?: string;
  endpoint?: string;
  timeout?: string;
  json?: boolean;
}

/** One traced packet as `trace` reports it. */
export interface TracedPacket {
  flowLabel: number;
  contractId: number | undefined;
  /** FROM's clock (µs mod 2^32) when it sent the packet; undefined when its departure was not seen. */
  sentUs: number | undefined;
  hops: (FlowEventHop & { name: string })[];
  /** TO's clock (µs mod 2^32) when it delivered (or dropped) the packet. */
  receivedUs: number;
  verdict: string;
  reason: string | undefined;
}

const verdictName = (code: number) =>
  Object.entries(Verdict).find(([, value]) => value === code)?.[0] ?? String(code);

/** µs from `a` to `b` on 32-bit wrapping clocks (negative when b is before a). */
const elapsedUs = (a: number, b: number) => ((((b - a) % 2 ** 32) + 2 ** 32 + 2 ** 31) % 2 ** 32) - 2 ** 31;

/** Registers `capsule trace` (with observe: both read the daemons' event streams). */
export function registerTraceCommand(program: Command, io: CliIo): void {
  program
    .command('trace')
    .description("show the hops of a live flow's packets from host FROM to host TO, with the time at each")
    .argument(
      '<from>',
      "the sending host: a lab host's name (with --lab-dir), an agent socket path, or an agent URL",
    )
    .argument('<to>', 'the receiving host, the same ways')
    .option('--lab-dir <dir>', 'name hosts and engines by the netns lab in this data dir ($CAPSULE_LAB_DIR)')
    .option(
      '--token-file <path>',
      "the agents' TCP API token (for agent URLs)",
      defaultRestApiOptions.tokenFile,
    )
    .option('--packets <n>', 'how many of the flow’s next packets to trace (1..100)', '3')
    .option(
      '--endpoint <id>',
      "FROM's endpoint whose flow to TO to trace (when endpoints of several contracts have one; default: the first registered)",
    )
    .option('--timeout <seconds>', 'give up when no traced packet arrived this long', '10')
    .option('--json', 'print one JSON object a traced packet')
    .action(async (from: string, to: string, options: TraceOptions) => {
      io.exitCode = await trace(from, to, options, io);
    });
}

/** A host argument as an event source. */
function agentOf(argument: string, options: TraceOptions, lab: LabNames | undefined): EventSource {
  if (/^https?:\/\//.test(argument))
    return { kind: 'agent', url: httpUrlOption('agent', argument), tokenFile: options.tokenFile };
  if (argument.includes('/')) return { kind: 'agent', socketPath: argument };
  const socketPath = lab?.sockets.get(argument);
  if (socketPath) return { kind: 'agent', socketPath };
  throw new CliError(
    'CLI_BAD_OPTION',
    lab
      ? `no host '${argument.slice(0, 60)}' in the lab (hosts: ${[...lab.sockets.keys()].join(', ')})`
      : `'${argument.slice(0, 60)}' is neither an agent socket path nor a URL (a lab host's name needs --lab-dir or $CAPSULE_LAB_DIR)`,
  );
}

interface LabNames {
  /** Host name → its agent's socket. */
  sockets: Map<string, string>;
  /** Engine id → engine name. */
  engines: Map<number, string>;
}

/** The netns lab's host sockets and engine names (undefined without a lab dir). */
async function labNames(io: CliIo, option: string | undefined): Promise<LabNames | undefined> {
  if (option === undefined && io.env.CAPSULE_LAB_DIR === undefined) return undefined;
  const dataDir = labDataDir(io, option);
  const status = await labStatus(dataDir);
  const sockets = new Map<string, string>();
  const engines = new Map<number, string>();
  for (const node of status.nodes) {
    if (node.kind === 'host') sockets.set(node.name, agentSocketPath(join(dataDir, node.name, 'data')));
    const hostId = node.hostId ? parseIpv6(node.hostId) : undefined;
    if (node.kind === 'engine' && hostId?.ok)
      engines.set((hostId.value[14]! << 8) | hostId.value[15]!, node.name);
  }
  return { sockets, engines };
}

/** An agent's host name and CGA (its status). */
async function identityOf(source: EventSource): Promise<{ name: string; hostId: string }> {
  const status = (await requestJson(source, 'GET', '/api/v1/status')) as {
    hostName?: unknown;
    hostId?: unknown;
  };
  const parsed = typeof status?.hostId === 'string' ? parseIpv6(status.hostId) : undefined;
  if (!parsed?.ok)
    throw new CliError('AGENT_UNREACHABLE', `${sourceName(source)} has no host id yet (not registered?)`);
  return {
    name: typeof status.hostName === 'string' ? status.hostName : '?',
    hostId: formatIpv6(parsed.value),
  };
}

/** The canonical text of an address in an event (undefined when it is not IPv6). */
const canonical = (text: string | undefined) => {
  const parsed = text === undefined ? undefined : parseIpv6(text);
  return parsed?.ok ? formatIpv6(parsed.value) : undefined;
};

async function trace(
  fromArgument: string,
  toArgument: string,
  options: TraceOptions,
  io: CliIo,
): Promise<number> {
  const packets = positiveOption(options.packets, '--packets', true) ?? 3;
  if (packets > 100) throw new CliError('CLI_BAD_OPTION', `--packets is 1..100, got ${packets}`);
  const endpoint = positiveOption(options.endpoint, '--endpoint', true);
  const timeoutMs = (positiveOption(options.timeout, '--timeout', false) ?? 10) * 1000;
  // The lab is read when asked for, or when a host is named (not a socket path or URL).
  const named = [fromArgument, toArgument].some((a) => !/^https?:\/\//.test(a) && !a.includes('/'));
  const lab = options.labDir !== undefined || named ? await labNames(io, options.labDir) : undefined;
  const fromSource = agentOf(fromArgument, options, lab);
  const toSource = agentOf(toArgument, options, lab);
  const [from, to] = await Promise.all([identityOf(fromSource), identityOf(toSource)]);
  if (from.hostId === to.hostId) throw new CliError('CLI_BAD_OPTION', 'FROM and TO are the same host');
  const engineName = (id: number) => lab?.engines.get(id) ?? `engine ${id.toString(16).padStart(4, '0')}`;

  const abort = new AbortController();
  const departures: FlowEvent[] = [];
  const arrivals: FlowEvent[] = [];
  /** Done when `packets` arrivals pair with a departure (the armed packets; a program may trace others). */
  const pairedEnough = () =>
    pairArrivals(arrivals, departures, String).filter((p) => p.sentUs !== undefined).length >= packets;
  let opened = 0;
  let onBothOpen: () => void = () => {};
  const bothOpen = new Promise<void>((resolve) => (onBothOpen = resolve));
  const markOpen = () => {
    opened += 1;
    if (opened === 2) onBothOpen();
  };
  let timer: NodeJS.Timeout | undefined;
  const restartTimer = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => abort.abort(), timeoutMs);
  };
  const warn = (where: EventSource) => (reason: string) =>
    io.err(`warning: ${sourceName(where)}: unreadable event skipped (${reason})\n`);
  const path = '/api/v1/events?kind=trace';
  const streams = [
    streamEvents(
      fromSource,
      path,
      abort.signal,
      (event) => {
        if (
          event.direction !== 'out' ||
          canonical(event.destination) !== to.hostId ||
          event.timeUs === undefined
        )
          return;
        if (departures.push(event) > EVENTS_KEPT_MAX) departures.shift();
        if (pairedEnough()) abort.abort();
      },
      warn(fromSource),
      markOpen,
    ),
    streamEvents(
      toSource,
      path,
      abort.signal,
      (event) => {
        if (event.direction !== 'in' || canonical(event.source) !== from.hostId) return;
        if (arrivals.push(event) > EVENTS_KEPT_MAX) arrivals.shift();
        restartTimer();
        if (pairedEnough()) abort.abort();
      },
      warn(toSource),
      markOpen,
    ),
  ];
  const failed = Promise.race(streams.map((s) => s.then(() => new Promise<never>(() => {}))));
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  try {
    await Promise.race([bothOpen, failed]);
    const answer = (await requestJson(fromSource, 'POST', '/api/v1/trace', {
      peer: to.hostId,
      packets,
      ...(endpoint !== undefined && { endpoint }),
    })) as { packets?: number; endpoint?: number };
    restartTimer();
    if (!options.json)
      io.out(
        `trace ${from.name} (${from.hostId}) → ${to.name} (${to.hostId}): the next ${answer?.packets ?? packets} packets of the flow${
          endpoint === undefined ? '' : ` of endpoint ${answer?.endpoint ?? endpoint}`
        }\n`,
      );
    const settled = await Promise.allSettled(streams);
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure && !abort.signal.aborted) throw failure.reason;
  } finally {
    if (timer) clearTimeout(timer);
    process.removeListener('SIGINT', stop);
    abort.abort();
  }
  const all = pairArrivals(arrivals, departures, engineName);
  const armed = all.filter((packet) => packet.sentUs !== undefined);
  // The armed packets; when none of their departures was seen, what did arrive traced.
  const results = (armed.length > 0 ? armed : all).slice(0, packets);
  for (const packet of results)
    io.out(options.json ? `${JSON.stringify(packet)}\n` : formatTrace(packet, from.name, to.name));
  if (results.length > 0 && results.length < packets)
    io.err(`note: ${results.length} of the ${packets} traced packets arrived in time\n`);
  if (results.length === 0) {
    io.err(
      departures.length > 0
        ? `error: ${departures.length} traced packets left ${from.name}, none reached ${to.name} in ${timeoutMs / 1000} s (dropped on the way? capsule observe --verdict DROP)\n`
        : `error: no packet from ${from.name} to ${to.name} in ${timeoutMs / 1000} s: trace follows the flow's own packets — start traffic (e.g. ping ${to.hostId})\n`,
    );
    return 1;
  }
  return 0;
}

/**
 * Events kept per side, the latest (a flow a program traces throughout sends arrivals before the
 * armed packets; pairing is O(kept²) per event).
 */
const EVENTS_KEPT_MAX = 256;

/**
 * The arrivals as traced packets, in order, each paired with the latest unpaired departure of the
 * same flow label at or before its first stamp (within 10 s), when there is one.
 */
export function pairArrivals(
  arrivals: readonly FlowEvent[],
  departures: readonly FlowEvent[],
  engineName: (id: number) => string,
): TracedPacket[] {
  const used = new Set<number>();
  return arrivals.map((event) => {
    const hops = (event.hops ?? []).map((hop) => ({ ...hop, name: engineName(hop.engineId) }));
    const firstUs = hops[0]?.timeUs ?? event.timeUs ?? 0;
    let best = -1;
    let bestBeforeUs = 0;
    for (let i = 0; i < departures.length; i++) {
      const departure = departures[i]!;
      if (used.has(i) || departure.flowLabel !== event.flowLabel || departure.timeUs === undefined) continue;
      const beforeUs = elapsedUs(departure.timeUs, firstUs);
      if (beforeUs >= 0 && beforeUs < 10_000_000 && (best < 0 || beforeUs < bestBeforeUs)) {
        best = i;
        bestBeforeUs = beforeUs;
      }
    }
    if (best >= 0) used.add(best);
    return arrival(event, hops, best >= 0 ? departures[best]!.timeUs : undefined);
  });
}

function arrival(event: FlowEvent, hops: TracedPacket['hops'], sentUs: number | undefined): TracedPacket {
  return {
    flowLabel: event.flowLabel ?? 0,
    contractId: event.contractId,
    sentUs,
    hops,
    receivedUs: event.timeUs ?? 0,
    verdict: event.verdict ?? '?',
    reason: event.reason,
  };
}

/** A traced packet as a table: each node, its time since the first stamp and since the previous. */
export function formatTrace(packet: TracedPacket, fromName: string, toName: string): string {
  const rows: [string, number, string][] = [];
  if (packet.sentUs !== undefined) rows.push([`${fromName} (agent)`, packet.sentUs, 'sent']);
  for (const hop of packet.hops)
    rows.push([
      `${hop.name} (engine ${hop.engineId.toString(16).padStart(4, '0')})`,
      hop.timeUs,
      `${verdictName(hop.verdict)}${hop.reason !== 0 ? ` ${dropReasonName(hop.reason)}` : ''}, fuel ${hop.fuelUsed}`,
    ]);
  rows.push([
    `${toName} (agent)`,
    packet.receivedUs,
    packet.verdict === 'DROP' ? `dropped ${packet.reason ?? ''}`.trim() : 'delivered',
  ]);
  const startUs = rows[0]![1];
  const lines = [
    `flow #${packet.flowLabel}${packet.contractId !== undefined ? `, contract ${packet.contractId}` : ''}`,
    `  ${'HOP'.padEnd(5)}${'NODE'.padEnd(26)}${'AT (µs)'.padStart(9)}${'+HOP (µs)'.padStart(11)}  WHAT`,
  ];
  rows.forEach(([name, timeUs, what], i) => {
    const at = elapsedUs(startUs, timeUs);
    const hop = i === 0 ? '-' : String(elapsedUs(rows[i - 1]![1], timeUs));
    lines.push(
      `  ${String(i).padEnd(5)}${name.padEnd(26)}${String(at).padStart(9)}${hop.padStart(11)}  ${what}`,
    );
  });
  const total = elapsedUs(startUs, packet.receivedUs);
  lines.push(
    `  ${packet.sentUs !== undefined ? 'total' : 'total from the first engine'} ${total} µs${packet.sentUs === undefined ? ` (the departure from ${fromName} was not seen)` : ''}`,
  );
  return `${lines.join('\n')}\n`;
}
