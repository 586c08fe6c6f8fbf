/**
 * The engine's small HTTP port: `/metrics` (Prometheus text), `/api/v1/flows`, `/api/v1/links`,
 * `/api/v1/status`, `/api/v1/contracts` and `/api/v1/contracts/<id>/memory` (a contract's
 * CONTRACT memory, where its programs' `@Shared` fields live, as hex) — JSON, read only — and
 * `/api/v1/events` (flow events as NDJSON, until the client goes: `?host=&contract=&verdict=&kind=`,
 * @capsule/api's filter). `capsule engine flows|shared` and `capsule observe` read it.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseFlowEventFilter } from '@capsule/api';
import { PROMETHEUS_TEXT_CONTENT_TYPE } from '@capsule/wire';
import type { Engine } from './engine';
import { EngineError } from './errors';
import { renderMetrics } from './metrics';
import type { ControllerSessionStatus } from './southbound';

/** A running (or stopped) engine HTTP server. */
export interface EngineHttpServer {
  /** Listens; resolves to its base URL (`http://host:port`). */
  start(): Promise<string>;
  stop(): Promise<void>;
}

/** Creates the HTTP port of `deps.engine` on `options.host`:`options.port` (port 0: any free port). */
export function createEngineHttpServer(
  options: { host: string; port: number },
  deps: { engine: Engine; controller?: () => ControllerSessionStatus },
): EngineHttpServer {
  const { engine } = deps;
  const listen = options;
  let server: Server | undefined;
  const json = (body: unknown) => `${JSON.stringify(body, null, 2)}\n`;
  return {
    async start() {
      server = createServer((request, response) => {
        const [path = '/', search = ''] = (request.url ?? '/').split('?', 2);
        if (request.method !== 'GET') {
          response.writeHead(405, { allow: 'GET' }).end();
          return;
        }
        // The body is made before the status is written, so a failure still answers 500.
        let status = 200;
        let type = 'application/json';
        let body: string;
        try {
          switch (path) {
            case '/metrics':
              type = PROMETHEUS_TEXT_CONTENT_TYPE;
              body = renderMetrics(engine, deps.controller?.());
              break;
            case '/api/v1/flows':
            case '/api/v1/links': {
              const items = path === '/api/v1/flows' ? engine.flows() : engine.links();
              body = json({ items, total: items.length });
              break;
            }
            case '/api/v1/status':
              body = json({
                engineId: engine.engineId,
                ...(deps.controller && { controller: deps.controller() }),
                counters: engine.counters(),
                fastPath: engine.fastPathStats(),
              });
              break;
            case '/api/v1/events':
              // A stream, not a body: it answers (200, 400 or 503) and stays open itself.
              streamEvents(engine, search, request, response);
              return;
            case '/api/v1/contracts': {
              const items = engine.contracts();
              body = json({ items, total: items.length });
              break;
            }
            default: {
              const memory = /^\/api\/v1\/contracts\/(\d{1,10})\/memory$/.exec(path);
              const bytes = memory ? engine.contractMemory(Number(memory[1])) : undefined;
              if (memory && bytes) {
                body = json({ contractId: Number(memory[1]), bytes: Buffer.from(bytes).toString('hex') });
                break;
              }
              status = 404;
              body = json({
                code: 'NOT_FOUND',
                message: memory ? `no contract ${memory[1]} here` : `no ${path}`,
              });
            }
          }
        } catch (error) {
          status = 500;
          type = 'application/json';
          body = json({ code: 'INTERNAL', message: String(error) });
        }
        response.writeHead(status, { 'content-type': type }).end(body);
      });
      const listening = server;
      await new Promise<void>((resolve, reject) => {
        listening.once('error', (error) =>
          reject(
            new EngineError(
              'ENGINE_HTTP_BIND_FAILED',
              `cannot listen on ${listen.host}:${listen.port}: ${error.message}`,
            ),
          ),
        );
        listening.listen(listen.port, listen.host, () => resolve());
      });
      const address = listening.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return `http://${host}:${address.port}`;
    },
    async stop() {
      const closing = server;
      server = undefined;
      if (!closing) return;
      const closed = new Promise<void>((resolve) => closing.close(() => resolve()));
      closing.closeAllConnections(); // event streams never end on their own
      await closed;
    },
  };
}

/** Longest query string `/api/v1/events` reads. */
const EVENTS_QUERY_MAX = 1024;

/** `GET /api/v1/events`: subscribes the response to the engine's flow events until the client goes. */
function streamEvents(
  engine: Engine,
  search: string,
  request: IncomingMessage,
  response: ServerResponse,
): void {
  const refuse = (status: number, code: string, message: string) =>
    response
      .writeHead(status, { 'content-type': 'application/json' })
      .end(`${JSON.stringify({ code, message })}\n`);
  if (search.length > EVENTS_QUERY_MAX) return void refuse(400, 'VALIDATION', 'query string too long');
  const query: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(search)) {
    if (key in query) return void refuse(400, 'VALIDATION', `${key.slice(0, 40)} given twice`);
    query[key] = value;
  }
  const parsed = parseFlowEventFilter(query);
  if ('error' in parsed) return void refuse(400, 'VALIDATION', parsed.error);
  const unsubscribe = engine.events.subscribe(parsed.filter, {
    write: (line) => void response.write(line),
    backlogBytes: () => response.writableLength,
  });
  if (!unsubscribe) return void refuse(503, 'UNAVAILABLE', 'too many observers');
  response.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  response.flushHeaders();
  request.socket.setNoDelay(true);
  const end = () => unsubscribe();
  response.once('close', end);
  request.once('close', end);
}
