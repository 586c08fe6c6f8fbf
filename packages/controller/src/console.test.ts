import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { consoleHeaders, findConsoleDir, findGraphLibrary, registerConsole } from './console';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('console static routes', () => {
  const app = Fastify();
  registerConsole(app);

  it('serves the page, the module and the stylesheet with their types and a strict CSP', async () => {
    const dir = findConsoleDir();
    for (const [url, type, file] of [
      ['/console/', 'text/html', 'index.html'],
      ['/console/index.html', 'text/html', 'index.html'],
      ['/console/console.js', 'text/javascript', 'console.js'],
      ['/console/console.css', 'text/css', 'console.css'],
      ['/console/favicon.svg', 'image/svg+xml', 'favicon.svg'],
      ['/console/cytoscape.mjs', 'text/javascript', findGraphLibrary()],
    ] as const) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-type']).toContain(type);
      expect(response.body).toBe(readFileSync(file.startsWith('/') ? file : join(dir, file), 'utf8'));
      const csp = String(response.headers['content-security-policy']);
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['x-frame-options']).toBe('DENY');
      expect(response.headers['referrer-policy']).toBe('no-referrer');
    }
  });

  it('redirects /console to /console/ and serves nothing else from the directory', async () => {
    const redirect = await app.inject({ method: 'GET', url: '/console' });
    expect(redirect.statusCode).toBe(301);
    expect(redirect.headers.location).toBe('/console/');
    for (const url of ['/console/../package.json', '/console/missing.js', '/console/%2e%2e/src/console.ts'])
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(404);
  });

  it('uses only relative URLs and no inline script or style (the CSP would block them)', () => {
    const dir = findConsoleDir();
    const html = readFileSync(join(dir, 'index.html'), 'utf8');
    const js = readFileSync(join(dir, 'console.js'), 'utf8');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // every script has a src
    expect(html).not.toMatch(/\sstyle=|<style/);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(js).not.toMatch(/https?:\/\//);
    expect(js).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    expect(js).toContain("const api = '../api/v1/'");
    // The graph library's container rule is in console.css, and the stylesheet carries the id that
    // stops cytoscape from appending a <style> element (which the CSP would block).
    expect(html).toMatch(
      /<link(?=[^>]*\sid="__________cytoscape_stylesheet")(?=[^>]*\shref="console.css")[^>]*>/,
    );
    expect(readFileSync(join(dir, 'console.css'), 'utf8')).toContain('.__________cytoscape_container');
  });

  it('finds the graph library, an ES module that evaluates no code', () => {
    const library = readFileSync(findGraphLibrary(), 'utf8');
    expect(library).toMatch(/export\s*\{[^}]*as default\s*\}/);
    // Its one Function(…) is lodash's last-resort global lookup, after `globalThis`/`self`, which a
    // browser has: it never runs (and the browser test would see the CSP refuse it).
    const fallback = '||Function("return this")()';
    expect(library.split(fallback)).toHaveLength(2);
    expect(library.replace(fallback, '')).not.toMatch(/\beval\(|\bFunction\(/);
    expect(library).not.toMatch(/\bimport\s*[^(]*from\s*['"]/); // one file: nothing else to serve
  });

  it('serves the files of another directory when given one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capsule-console-'));
    dirs.push(dir);
    for (const name of ['index.html', 'console.js', 'console.css', 'favicon.svg'])
      writeFileSync(join(dir, name), `/*${name}*/`);
    const other = Fastify();
    writeFileSync(join(dir, 'graph.mjs'), '/*graph*/');
    registerConsole(other, dir, join(dir, 'graph.mjs'));
    expect((await other.inject({ method: 'GET', url: '/console/console.js' })).body).toBe('/*console.js*/');
    expect((await other.inject({ method: 'GET', url: '/console/cytoscape.mjs' })).body).toBe('/*graph*/');
    expect(Object.keys(consoleHeaders)).toContain('content-security-policy');
  });
});
