/**
 * The web console: three static files (packages/controller/console: one HTML page, one ES module,
 * one stylesheet) and the graph library it draws the topology with (cytoscape's ES module, from
 * node_modules: the `cytoscape` dependency of this package) served on the northbound listener at
 * /console/. They are read once at start-up (and an icon) and sent with a strict
 * Content-Security-Policy (scripts, styles and fetches from this origin only; no inline code, no
 * eval, no frames, no plugins). The console talks to /api/v1 with relative URLs.
 *
 * Cytoscape under this CSP: it evaluates no code, draws on canvas, and sets element styles only
 * through the CSSOM (which style-src does not govern). The one thing it would do that the CSP
 * blocks, appending a `<style>` element that makes its container `position: relative`, it skips
 * when an element with id `__________cytoscape_stylesheet` exists: index.html gives console.css
 * that id, and console.css holds the rule.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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

/** The graph library's browser module, served as /console/cytoscape.mjs. */
export const graphLibraryName = 'cytoscape.mjs';

/**
 * The graph library's ES module in node_modules: beside the package's CommonJS entry (its exports
 * map names no `require` path for the ES module). Found from this file in the workspace, from the
 * CLI bundle (packages/cli/dist) and in the Debian package (/usr/lib/capsule/node_modules).
 */
export function findGraphLibrary(): string {
  let main: string;
  try {
    main = createRequire(import.meta.url).resolve('cytoscape');
  } catch (error) {
    throw new ApiError('INTERNAL', 'the console’s graph library (cytoscape) is not installed', {
      cause: error,
    });
  }
  const file = join(dirname(main), 'cytoscape.esm.min.mjs');
  if (!existsSync(file)) throw new ApiError('INTERNAL', `the console’s graph library is missing (${file})`);
  return file;
}

/**
 * Serves the console from `dir` at /console/ (and redirects /console there), with the graph
 * library read from `graphLibrary`.
 */
export function registerConsole(
  app: FastifyInstance,
  dir: string = findConsoleDir(),
  graphLibrary: string = findGraphLibrary(),
): void {
  const contents = new Map<string, { type: string; body: Buffer }>();
  for (const [name, type] of Object.entries(files))
    contents.set(name, { type, body: readFileSync(join(dir, name)) });
  contents.set(graphLibraryName, {
    type: 'text/javascript; charset=utf-8',
    body: readFileSync(graphLibrary),
  });
  const send = (name: string) => async (_request: unknown, reply: FastifyReply) => {
    const file = contents.get(name)!;
    return reply.headers(consoleHeaders).type(file.type).send(file.body);
  };
  const hide = { schema: { hide: true } };
  app.get('/console', hide, async (_request, reply) => reply.redirect(consolePath, 301));
  app.get(consolePath, hide, send('index.html'));
  for (const name of contents.keys()) app.get(`${consolePath}${name}`, hide, send(name));
}
