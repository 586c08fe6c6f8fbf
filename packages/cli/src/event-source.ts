/**
 * Where `capsule observe` and `capsule trace` read flow events from, and how: an engine's HTTP
 * port (a URL), an agent's REST API on its Unix socket (the default: no token, the socket's mode
 * is the access control), or an agent's TCP listener with the bearer token from its token file.
 * `streamEvents` reads one source's NDJSON stream (`GET /api/v1/events`) line by line into a
 * callback, skipping (and reporting) what is not an event; `requestJson` makes one JSON request
 * (the agent's `POST /api/v1/trace`). Node's http client, not fetch: fetch cannot speak a socket.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { decodeFlowEvent, FLOW_EVENT_LINE_MAX, type FlowEvent } from '@capsule/api';
import { CliError, type CliErrorCode } from './errors';

/** One place flow events come from. */
export type EventSource =
  | { readonly kind: 'engine'; readonly url: string }
  | { readonly kind: 'agent'; readonly socketPath: string }
  | { readonly kind: 'agent'; readonly url: string; readonly tokenFile: string };

/** How a source is named in messages (its URL or its socket's path). */
export function sourceName(source: EventSource): string {
  return 'socketPath' in source ? source.socketPath : source.url;
}

/** Checks an http(s) URL flag (`--engine`, `--agent`) and drops its trailing slashes; CliError if bad. */
export function httpUrlOption(flag: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError('CLI_BAD_OPTION', `${flag}: not a URL: '${value.slice(0, 80)}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CliError('CLI_BAD_OPTION', `${flag}: an http(s) URL, got '${value.slice(0, 80)}'`);
  return value.replace(/\/+$/, '');
}

const unreachableCode = (source: EventSource): CliErrorCode =>
  source.kind === 'engine' ? 'CLI_ENGINE_UNREACHABLE' : 'AGENT_UNREACHABLE';

/** The agent API's TCP bearer token (the file the agent wrote, 0600). */
export function readAgentToken(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (cause) {
    throw new CliError(
      'CLI_READ_FAILED',
      `cannot read the agent API token ${file}: ${(cause as Error).message} (it is readable by the agent's user and root only)`,
    );
  }
}

/** Starts a request to `path` on `source`; resolves with the response (any status). */
function open(
  source: EventSource,
  method: string,
  path: string,
  signal: AbortSignal | undefined,
  body?: string,
): Promise<IncomingMessage> {
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  let start: typeof httpRequest = httpRequest;
  let target: { socketPath: string; path: string } | URL;
  if ('socketPath' in source) target = { socketPath: source.socketPath, path };
  else {
    target = new URL(path, `${source.url}/`);
    if (target.protocol === 'https:') start = httpsRequest;
    if (source.kind === 'agent') headers.authorization = `Bearer ${readAgentToken(source.tokenFile)}`;
  }
  return new Promise((resolve, reject) => {
    const options = { method, headers, ...(signal ? { signal } : {}) };
    const outgoing =
      target instanceof URL
        ? start(target, options, resolve)
        : start({ ...options, socketPath: target.socketPath, path: target.path }, resolve);
    outgoing.on('error', (cause) =>
      reject(
        signal?.aborted
          ? cause
          : new CliError(
              unreachableCode(source),
              `cannot ${path.startsWith('/api/v1/events') ? 'observe' : 'reach'} ${sourceName(source)}: ${cause.message}`,
            ),
      ),
    );
    outgoing.end(body);
  });
}

/** Reads a whole (short) response body as text, at most 64 KiB. */
async function readText(response: IncomingMessage): Promise<string> {
  let text = '';
  response.setEncoding('utf8');
  for await (const chunk of response) {
    text += chunk as string;
    if (text.length > 65_536) {
      response.destroy();
      break;
    }
  }
  return text;
}

/** The `message` of a JSON error body, else the text as it came (shortened). */
function messageOf(text: string): string {
  const short = text.slice(0, 300);
  try {
    return (JSON.parse(text) as { message?: string }).message ?? short;
  } catch {
    return short;
  }
}

/**
 * Streams `source`'s events (`path` is `/api/v1/events` with its query) into `onEvent` until the
 * stream ends (resolves) or `signal` aborts (resolves). A line that is not an event goes to
 * `onUnreadable` with the reason, and the stream goes on; `onOpen` is called once the source has
 * accepted the stream (from then on it sends every event). Rejects with CliError when the source
 * cannot be reached, refuses the stream, or the stream breaks.
 */
export async function streamEvents(
  source: EventSource,
  path: string,
  signal: AbortSignal,
  onEvent: (event: FlowEvent) => void,
  onUnreadable: (reason: string) => void,
  onOpen?: () => void,
): Promise<void> {
  let response: IncomingMessage;
  try {
    response = await open(source, 'GET', path, signal);
  } catch (error) {
    if (signal.aborted) return;
    throw error;
  }
  const where = sourceName(source);
  if ((response.statusCode ?? 0) !== 200) {
    const text = await readText(response).catch(() => '');
    throw new CliError(
      unreachableCode(source),
      `${where} refused the event stream: HTTP ${response.statusCode} ${messageOf(text)}`.trim(),
    );
  }
  onOpen?.();
  response.setEncoding('utf8');
  let pending = '';
  try {
    for await (const chunk of response) {
      pending += chunk as string;
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.length > 0) {
          const decoded = decodeFlowEvent(line);
          if ('event' in decoded) onEvent(decoded.event);
          else onUnreadable(decoded.error);
        }
        if (signal.aborted) return;
        newline = pending.indexOf('\n');
      }
      if (pending.length > FLOW_EVENT_LINE_MAX) {
        onUnreadable(`a line longer than ${FLOW_EVENT_LINE_MAX} characters`);
        pending = '';
      }
    }
  } catch (error) {
    if (!signal.aborted)
      throw new CliError('CLI_READ_FAILED', `${where}: the event stream broke: ${(error as Error).message}`);
    return;
  }
  // The server closed a stream it meant to keep open (a daemon that stopped).
  if (!signal.aborted && !response.complete)
    throw new CliError('CLI_READ_FAILED', `${where}: the event stream broke off`);
}

/** One JSON request to `source`; resolves with its answer, rejects with CliError on a non-2xx. */
export async function requestJson(
  source: EventSource,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const response = await open(
    source,
    method,
    path,
    undefined,
    body === undefined ? undefined : JSON.stringify(body),
  );
  const text = await readText(response);
  const status = response.statusCode ?? 0;
  if (status < 200 || status >= 300)
    throw new CliError(
      unreachableCode(source),
      `${sourceName(source)} refused ${method} ${path.split('?')[0]}: HTTP ${status} ${messageOf(text)}`.trim(),
    );
  try {
    return text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    throw new CliError('CLI_READ_FAILED', `${sourceName(source)}: ${method} ${path} answered with no JSON`);
  }
}
