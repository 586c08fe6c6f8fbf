/**
 * `capsule observe`: a live stream of flow events — new flows, verdicts, drops with their reason,
 * program logs decoded, packet traces — from engines (`--engine`, their HTTP port) and agents
 * (`--agent-socket`, their REST API's Unix socket, the default; or `--agent`, its TCP listener with
 * the token file), merged as they arrive, filtered by host, contract, verdict or kind (the daemons
 * apply the filter, this command checks it again), printed as a table or as NDJSON (`--json`).
 * Stops after `--count` events, after `--duration` seconds, when every stream ends, or on Ctrl-C.
 * A source that fails or goes away while others stream is a warning; all of them failing is the
 * command's failure.
 */
import { defaultRestApiOptions } from '@capsule/agent';
import {
  type FlowEvent,
  type FlowEventFilter,
  flowEventMatches,
  flowEventQuery,
  parseFlowEventFilter,
} from '@capsule/api';
import type { Command } from 'commander';
import { CliError } from '../errors';
import { type EventSource, httpUrlOption, sourceName, streamEvents } from '../event-source';
import type { CliIo } from '../io';
import { registerTraceCommand } from './trace';

interface ObserveOptions {
  engine: string[];
  agent: string[];
  agentSocket: string[];
  tokenFile: string;
  host?: string;
  contract?: string;
  verdict?: string;
  kind?: string;
  json?: boolean;
  count?: string;
  duration?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Registers `observe` and `trace` (both read the daemons' event streams). */
export function registerObserveCommands(program: Command, io: CliIo): void {
  program
    .command('observe')
    .description(
      'stream flow events (new flow, verdict, drop with reason, program log, trace) from engines and agents',
    )
    .option('--engine <url>', "an engine's HTTP port (repeat for more)", collect, [])
    .option(
      '--agent-socket <path>',
      `an agent's API socket (repeat for more; default ${defaultRestApiOptions.socketPath} when no source is named)`,
      collect,
      [],
    )
    .option(
      '--agent <url>',
      "an agent's API over TCP (rest.tcp; repeat for more; needs the token file)",
      collect,
      [],
    )
    .option(
      '--token-file <path>',
      "the agents' TCP API token (with --agent)",
      defaultRestApiOptions.tokenFile,
    )
    .option('--host <address|name>', 'only events whose source or destination (or node) is this')
    .option('--contract <id>', 'only events of this contract id')
    .option('--verdict <verdict>', 'only FORWARD, REPLICATE, DELIVER or DROP')
    .option('--kind <kinds>', 'only these kinds (comma list of flow, verdict, drop, log, trace)')
    .option('--json', 'print one JSON event a line (NDJSON)')
    .option('--count <n>', 'stop after n events')
    .option('--duration <seconds>', 'stop after this long')
    .action(async (options: ObserveOptions) => {
      io.exitCode = await observe(options, io);
    });
  registerTraceCommand(program, io);
}

/** A positive number flag (integer when asked), ≤ 1e9; undefined when absent; CliError when bad. */
export function positiveOption(
  value: string | undefined,
  flag: string,
  integer: boolean,
): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(number > 0) || (integer && !Number.isInteger(number)) || number > 1e9)
    throw new CliError(
      'CLI_BAD_OPTION',
      `${flag} must be a positive ${integer ? 'integer' : 'number'}, got '${value.slice(0, 40)}'`,
    );
  return number;
}

/** Reads the flags into a filter, a source list and limits; CliError on a bad flag. */
function settingsOf(options: ObserveOptions) {
  const query: Record<string, string | undefined> = {
    host: options.host,
    contract: options.contract,
    verdict: options.verdict,
    kind: options.kind,
  };
  const parsed = parseFlowEventFilter(query);
  if ('error' in parsed) throw new CliError('CLI_BAD_OPTION', `--${parsed.error}`);
  const sources: EventSource[] = [
    ...options.engine.map((url) => ({ kind: 'engine' as const, url: httpUrlOption('--engine', url) })),
    ...options.agentSocket.map((socketPath) => {
      if (socketPath.length === 0) throw new CliError('CLI_BAD_OPTION', '--agent-socket: an empty path');
      return { kind: 'agent' as const, socketPath };
    }),
    ...options.agent.map((url) => ({
      kind: 'agent' as const,
      url: httpUrlOption('--agent', url),
      tokenFile: options.tokenFile,
    })),
  ];
  if (sources.length === 0)
    sources.push({
      kind: 'agent',
      socketPath: defaultRestApiOptions.socketPath ?? '/run/capsule/agent.sock',
    });
  return {
    filter: parsed.filter,
    sources,
    count: positiveOption(options.count, '--count', true),
    durationMs: (positiveOption(options.duration, '--duration', false) ?? 0) * 1000 || undefined,
  };
}

/**
 * Streams every source into `onEvent` (events that pass `filter`) until each stream ends or
 * `signal` aborts. Resolves when all are done; a source failing while another streams is warned
 * about on stderr, all failing rejects with the first failure.
 */
export async function streamAll(
  io: CliIo,
  sources: readonly EventSource[],
  filter: FlowEventFilter,
  signal: AbortSignal,
  onEvent: (event: FlowEvent) => void,
): Promise<void> {
  let unreadable = 0;
  const path = `/api/v1/events${flowEventQuery(filter)}`;
  const results = await Promise.allSettled(
    sources.map(async (source) => {
      await streamEvents(
        source,
        path,
        signal,
        (event) => {
          if (!signal.aborted && flowEventMatches(event, filter)) onEvent(event);
        },
        (reason) => {
          unreadable++;
          if (unreadable <= 10)
            io.err(`warning: ${sourceName(source)}: unreadable event skipped (${reason})\n`);
        },
      );
      if (!signal.aborted && sources.length > 1)
        io.err(`warning: ${sourceName(source)}: the event stream ended\n`);
    }),
  );
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length === 0) return;
  if (failures.length === sources.length) throw failures[0]!.reason;
  for (const failure of failures) io.err(`warning: ${(failure.reason as Error).message}\n`);
}

/** Runs the stream; resolves to the exit code. */
async function observe(options: ObserveOptions, io: CliIo): Promise<number> {
  const { filter, sources, count, durationMs } = settingsOf(options);
  const abort = new AbortController();
  let printed = 0;
  const print = createPrinter(io, options.json === true);
  const stop = () => abort.abort();
  const timer = durationMs ? setTimeout(stop, durationMs) : undefined;
  process.once('SIGINT', stop);
  try {
    await streamAll(io, sources, filter, abort.signal, (event) => {
      print(event);
      printed++;
      if (count !== undefined && printed >= count) stop();
    });
  } finally {
    if (timer) clearTimeout(timer);
    process.removeListener('SIGINT', stop);
    abort.abort();
  }
  return 0;
}

/** Columns of the table: time, node, event, flow, contract, what happened. */
const widths = [13, 32, 8, 50, 9] as const;
const pad = (text: string, width: number) => (text.length >= width ? `${text} ` : text.padEnd(width));

/** A printer: NDJSON, or a table whose header comes with the first event. */
function createPrinter(io: CliIo, json: boolean): (event: FlowEvent) => void {
  if (json) return (event) => io.out(`${JSON.stringify(event)}\n`);
  let headed = false;
  return (event) => {
    if (!headed) {
      headed = true;
      io.out(
        `${['TIME', 'NODE', 'EVENT', 'FLOW', 'CONTRACT'].map((h, i) => pad(h, widths[i]!)).join('')}WHAT\n`,
      );
    }
    io.out(`${formatEventRow(event)}\n`);
  };
}

/** One table row (exported for tests). */
export function formatEventRow(event: FlowEvent): string {
  const time = new Date(event.timeMs).toISOString().slice(11, 23);
  const flow =
    event.source !== undefined || event.destination !== undefined
      ? `${event.source ?? '?'} → ${event.destination ?? '?'}${event.flowLabel !== undefined ? ` #${event.flowLabel}` : ''}`
      : '-';
  const what =
    event.kind === 'drop'
      ? `DROP ${event.reason ?? ''}${event.programReason !== undefined ? ` ${event.programReason}` : ''}${event.direction ? ` (${event.direction})` : ''}`
      : event.kind === 'verdict'
        ? (event.verdict ?? '')
        : event.kind === 'log'
          ? `log ${event.message ?? ''}`
          : event.kind === 'trace'
            ? event.direction === 'out'
              ? `trace: sent traced at ${event.timeUs ?? '?'} µs`
              : `trace: ${event.verdict === 'DROP' ? `dropped ${event.reason ?? ''}` : 'delivered'} at ${event.timeUs ?? '?'} µs after ${(event.hops ?? []).map((hop) => `engine ${hop.engineId.toString(16).padStart(4, '0')} at ${hop.timeUs}`).join(', ') || 'no engine'}`
            : event.kind === 'flow'
              ? `new flow, serial ${event.serial ?? '?'}, role ${event.roleId ?? '?'}`
              : `${event.count ?? 0} events lost`;
  const cells = [
    time,
    event.node,
    event.kind,
    flow,
    event.contractId !== undefined ? String(event.contractId) : '-',
  ];
  return `${cells.map((cell, i) => pad(cell, widths[i]!)).join('')}${what}`;
}
