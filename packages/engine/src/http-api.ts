/**
 * The engine's small HTTP port: `/metrics` (Prometheus text), `/api/v1/flows`, `/api/v1/links`
 * and `/api/v1/status` (JSON, read only). `capsule engine flows` reads it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Engine } from './engine';
import { EngineError } from './errors';
import { renderMetrics } from './metrics';

/** A running (or stopped) engine HTTP server. */
export interface EngineHttpServer {
  /** Listens; resolves to its base URL (`http://host:port`). */
  start(): Promise<string>;
  stop(): Promise<void>;
}

/** Creates the HTTP port of `deps.engine` on `options.host`:`options.port` (port 0: any free port). */
export function createEngineHttpServer(
  options: { host: string; port: number },
  deps: { engine: Engine },
): EngineHttpServer {
  const { engine } = deps;
  const listen = options;
  let server: Server | undefined;
  const json = (body: unknown) => `${JSON.stringify(body, null, 2)}\n`;
  return {
    async start() {
      server = createServer((request, response) => {
        const path = (request.url ?? '/').split('?')[0];
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
              type = 'text/plain; version=0.0.4; charset=utf-8';
              body = renderMetrics(engine);
              break;
            case '/api/v1/flows':
            case '/api/v1/links': {
              const items = path === '/api/v1/flows' ? engine.flows() : engine.links();
              body = json({ items, total: items.length });
              break;
            }
            case '/api/v1/status':
              body = json({ engineId: engine.engineId, counters: engine.counters() });
              break;
            default:
              status = 404;
              body = json({ code: 'NOT_FOUND', message: `no ${path}` });
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
      if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
  };
}
