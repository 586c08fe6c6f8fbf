/**
 * The web console: three static files (packages/controller/console: one HTML page, one ES module,
 * one stylesheet) served on the northbound listener at /console/. They are read once at start-up
 * (and an icon) and sent with a strict Content-Security-Policy (scripts, styles and fetches from this origin
 * only; no inline code, no frames, no plugins). The console talks to /api/v1 with relative URLs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiError } from '@capsule/api';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** The console's path on the northbound listener. */
export const consolePath = '/console/';

/** The headers every console file is sent with. */
export const consoleHeaders: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const files: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/**
 * Where the console files are: beside src/ when running from source, or found from the CLI
 * bundle (packages/cli/dist) in the workspace.
 */
export function findConsoleDir(): string {
  const candidates = [
    fileURLToPath(new URL('../console/', import.meta.url)),
    fileURLToPath(new URL('../../controller/console/', import.meta.url)),
  ];
  const found = candidates.find((dir) => existsSync(join(dir, 'index.html')));
  if (!found)
    throw new ApiError('INTERNAL', `the console files are missing (looked in ${candidates.join(', ')})`);
  return found;
}

/** Serves the console from `dir` at /console/ (and redirects /console there). */
export function registerConsole(app: FastifyInstance, dir: string = findConsoleDir()): void {
  const contents = new Map<string, Buffer>();
  for (const name of Object.keys(files)) contents.set(name, readFileSync(join(dir, name)));
  const send = (name: string) => async (_request: unknown, reply: FastifyReply) =>
    reply.headers(consoleHeaders).type(files[name]!).send(contents.get(name));
  const hide = { schema: { hide: true } };
  app.get('/console', hide, async (_request, reply) => reply.redirect(consolePath, 301));
  app.get(consolePath, hide, send('index.html'));
  for (const name of Object.keys(files)) app.get(`${consolePath}${name}`, hide, send(name));
}
