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

/** Creates the HTTP port of `engine` on `listen` (port 0: any free port). */
export function createEngineHttpServer(
  engine: Engine,
  listen: { host: string; port: number },
): EngineHttpServer {
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
        try {
          switch (path) {
            case '/metrics':
              response
                .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
                .end(renderMetrics(engine));
              return;
            case '/api/v1/flows': {
              const items = engine.flows();
              response
                .writeHead(200, { 'content-type': 'application/json' })
                .end(json({ items, total: items.length }));
              return;
            }
            case '/api/v1/links': {
              const items = engine.links();
              response
                .writeHead(200, { 'content-type': 'application/json' })
                .end(json({ items, total: items.length }));
              return;
            }
            case '/api/v1/status':
              response
                .writeHead(200, { 'content-type': 'application/json' })
                .end(json({ engineId: engine.engineId, counters: engine.counters() }));
              return;
            default:
              response
                .writeHead(404, { 'content-type': 'application/json' })
                .end(json({ code: 'NOT_FOUND', message: `no ${path}` }));
          }
        } catch (error) {
          response
            .writeHead(500, { 'content-type': 'application/json' })
            .end(json({ code: 'INTERNAL', message: String(error) }));
        }
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
