/**
 * `capsule observe`: a live stream of flow events — new flows, verdicts, drops with their reason,
 * program logs decoded — from engines (`--engine`, their HTTP port) and agents (`--agent`, their
 * REST API), merged as they arrive, filtered by host, contract, verdict or kind (the daemons apply
 * the filter, this command checks it again), printed as a table or as NDJSON (`--json`). Stops
 * after `--count` events, after `--duration` seconds, when every stream ends, or on Ctrl-C.
 */
import {
  decodeFlowEvent,
  FLOW_EVENT_LINE_MAX,
  type FlowEvent,
  type FlowEventFilter,
  flowEventMatches,
  flowEventQuery,
  parseFlowEventFilter,
} from '@capsule/api';
import type { Command } from 'commander';
import { CliError } from '../errors';
import type { CliIo } from '../io';

/** Where `observe` reads from when no source is named: the agent on this host. */
export const DEFAULT_OBSERVE_SOURCE = 'http://127.0.0.1:5500';

interface ObserveOptions {
  engine: string[];
  agent: string[];
  host?: string;
  contract?: string;
  verdict?: string;
  kind?: string;
  json?: boolean;
  count?: string;
  duration?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerObserveCommands(program: Command, io: CliIo): void {
  program
    .command('observe')
    .description(
      'stream flow events (new flow, verdict, drop with reason, program log) from engines and agents',
    )
    .option('--engine <url>', "an engine's HTTP port (repeat for more)", collect, [])
    .option(
      '--agent <url>',
      `an agent's REST API (repeat for more; default ${DEFAULT_OBSERVE_SOURCE} when no source is named)`,
      collect,
      [],
    )
    .option('--host <address|name>', 'only events whose source or destination (or node) is this')
    .option('--contract <id>', 'only events of this contract id')
    .option('--verdict <verdict>', 'only FORWARD, REPLICATE, DELIVER or DROP')
    .option('--kind <kinds>', 'only these kinds (comma list of flow, verdict, drop, log)')
    .option('--json', 'print one JSON event a line (NDJSON)')
    .option('--count <n>', 'stop after n events')
    .option('--duration <seconds>', 'stop after this long')
    .action(async (options: ObserveOptions) => {
      io.exitCode = await observe(options, io);
    });
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
  const positive = (value: string | undefined, flag: string, integer: boolean) => {
    if (value === undefined) return undefined;
    const number = Number(value);
    if (
      !/^\d+(\.\d+)?$/.test(value) ||
      !(number > 0) ||
      (integer && !Number.isInteger(number)) ||
      number > 1e9
    )
      throw new CliError(
        'CLI_BAD_OPTION',
        `${flag} must be a positive ${integer ? 'integer' : 'number'}, got '${value.slice(0, 40)}'`,
      );
    return number;
  };
  const sources: { kind: 'engine' | 'agent'; url: string }[] = [
    ...options.engine.map((url) => ({ kind: 'engine' as const, url })),
    ...options.agent.map((url) => ({ kind: 'agent' as const, url })),
  ];
  if (sources.length === 0) sources.push({ kind: 'agent', url: DEFAULT_OBSERVE_SOURCE });
  for (const source of sources) {
    let url: URL;
    try {
      url = new URL(source.url);
    } catch {
      throw new CliError('CLI_BAD_OPTION', `--${source.kind}: not a URL: '${source.url.slice(0, 80)}'`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new CliError(
        'CLI_BAD_OPTION',
        `--${source.kind}: an http(s) URL, got '${source.url.slice(0, 80)}'`,
      );
    source.url = source.url.replace(/\/+$/, '');
  }
  return {
    filter: parsed.filter,
    sources,
    count: positive(options.count, '--count', true),
    durationMs: (positive(options.duration, '--duration', false) ?? 0) * 1000 || undefined,
  };
}

/** Runs the stream; resolves to the exit code. */
async function observe(options: ObserveOptions, io: CliIo): Promise<number> {
  const { filter, sources, count, durationMs } = settingsOf(options);
  const abort = new AbortController();
  let printed = 0;
  let unreadable = 0;
  const print = createPrinter(io, options.json === true);
  const stop = () => abort.abort();
  const timer = durationMs ? setTimeout(stop, durationMs) : undefined;
  process.once('SIGINT', stop);
  const onEvent = (event: FlowEvent) => {
    if (abort.signal.aborted || !flowEventMatches(event, filter)) return;
    print(event);
    printed++;
    if (count !== undefined && printed >= count) stop();
  };
  try {
    const results = await Promise.allSettled(
      sources.map((source) =>
        streamFrom(source, filter, abort.signal, onEvent, (reason) => {
          unreadable++;
          if (unreadable <= 10) io.err(`warning: ${source.url}: unreadable event skipped (${reason})\n`);
        }),
      ),
    );
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failures.length > 0) {
      const first = failures[0]!.reason;
      // One source of many failing is a warning; all failing is the command's failure.
      if (failures.length === sources.length) throw first;
      for (const failure of failures) io.err(`warning: ${(failure.reason as Error).message}\n`);
    }
  } finally {
    if (timer) clearTimeout(timer);
    process.removeListener('SIGINT', stop);
    abort.abort();
  }
  return 0;
}

/** Streams one source's events into `onEvent` until it ends or `signal` aborts. */
async function streamFrom(
  source: { kind: 'engine' | 'agent'; url: string },
  filter: FlowEventFilter,
  signal: AbortSignal,
  onEvent: (event: FlowEvent) => void,
  onUnreadable: (reason: string) => void,
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(`${source.url}/api/v1/events${flowEventQuery(filter)}`, { signal });
  } catch (error) {
    if (signal.aborted) return;
    throw new CliError(
      source.kind === 'engine' ? 'CLI_ENGINE_UNREACHABLE' : 'AGENT_UNREACHABLE',
      `cannot observe ${source.url}: ${(error as Error).message}`,
    );
  }
  if (!response.ok || !response.body) {
    const body = (await response.text().catch(() => '')).slice(0, 300);
    let message = body;
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      // not JSON: the text as it came
    }
    throw new CliError(
      source.kind === 'engine' ? 'CLI_ENGINE_UNREACHABLE' : 'AGENT_UNREACHABLE',
      `${source.url} refused the event stream: HTTP ${response.status} ${message}`.trim(),
    );
  }
  const decoder = new TextDecoder();
  let pending = '';
  try {
    for await (const chunk of response.body) {
      pending += decoder.decode(chunk as Uint8Array, { stream: true });
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.length > 0) {
          const decoded = decodeFlowEvent(line);
          if ('event' in decoded) onEvent(decoded.event);
          else onUnreadable(decoded.error);
        }
        newline = pending.indexOf('\n');
      }
      if (pending.length > FLOW_EVENT_LINE_MAX) {
        onUnreadable(`a line longer than ${FLOW_EVENT_LINE_MAX} characters`);
        pending = '';
      }
    }
  } catch (error) {
    if (!signal.aborted)
      throw new CliError(
        'CLI_READ_FAILED',
        `${source.url}: the event stream broke: ${(error as Error).message}`,
      );
  }
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
