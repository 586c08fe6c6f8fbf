import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Controller, createController } from './controller';
import { operationOf } from './openapi';

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document, read field by field
type Json = any;
const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

describe('the OpenAPI document (GET /api/v1/openapi.json)', () => {
  let dir: string;
  let controller: Controller;
  let urls: Awaited<ReturnType<Controller['start']>>;
  let document: Json;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'capsule-openapi-'));
    controller = await createController(
      {
        store: join(dir, 'c.db'),
        listen: { host: '127.0.0.1', port: 0 },
        southboundListen: { host: '127.0.0.1', port: 0 },
        adminPassword: 'openapi-password',
        sqliteSynchronous: 'NORMAL',
      },
      { logger: pino({ level: 'silent' }) },
    );
    urls = await controller.start();
    const response = await fetch(`${urls.northboundUrl}/api/v1/openapi.json`);
    expect(response.status).toBe(200);
    document = await response.json();
  });
  afterAll(async () => {
    await controller?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const operations = () =>
    Object.entries(document.paths as Record<string, Json>).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => methods.includes(method))
        .map(([method, operation]) => ({ path, method: method.toUpperCase(), operation: operation as Json })),
    );

  it('is a valid OpenAPI 3.0 document (swagger-parser: schema and every $ref)', async () => {
    await expect(SwaggerParser.validate(structuredClone(document))).resolves.toBeTruthy();
    // The validator does refuse: a dangling $ref, an operation without responses.
    const dangling = structuredClone(document);
    dangling.paths['/api/v1/domains'].post.requestBody.content['application/json'].schema = {
      $ref: '#/components/schemas/Nope',
    };
    await expect(SwaggerParser.validate(dangling)).rejects.toThrow(/Nope/);
    const noResponses = structuredClone(document);
    delete noResponses.paths['/sb/v1/login'].post.responses;
    await expect(SwaggerParser.validate(noResponses)).rejects.toThrow();
  });

  it('gives every operation a unique operationId and a summary', () => {
    const ids = operations().map(({ path, method, operation }) => {
      expect(operation.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z]+$/);
      expect(operation.summary, `${method} ${path}`).toMatch(/^[A-Z].{5,}/);
      return operation.operationId;
    });
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBeGreaterThan(50);
    expect(operationOf('GET', '/api/v1/audit/{id}')?.summary).toBe('Get an audit entry');
    expect(operationOf('GET', '/api/v1/service-tokens/{id}')).toEqual({
      operationId: 'getServiceToken',
      summary: 'Get a service token',
    });
  });

  it('includes the southbound API with its own server, and leaves out /metrics and the console', () => {
    const paths = Object.keys(document.paths);
    for (const path of [
      '/sb/v1/login',
      '/sb/v1/nonce',
      '/sb/v1/register',
      '/sb/v1/links',
      '/sb/v1/keepalive',
      '/sb/v1/events',
      '/sb/v1/endpoints',
    ]) {
      expect(paths).toContain(path);
      expect(document.paths[path].servers[0].variables.southbound.default).toBe(urls.southboundUrl);
    }
    expect(paths.filter((path) => /metrics|console|openapi/.test(path))).toEqual([]);
    expect(document.tags.map((tag: Json) => tag.name)).toEqual(
      expect.arrayContaining(['southbound', 'domains', 'auth']),
    );
  });

  it('marks the login calls as taking no token, and every other call as needing one', () => {
    expect(document.security).toEqual([{ bearer: [] }]);
    for (const { path, method, operation } of operations()) {
      const open = (method === 'POST' && path === '/api/v1/auth/token') || path === '/sb/v1/login';
      expect(operation.security, `${method} ${path}`).toEqual(open ? [] : undefined);
    }
  });

  it('refers to named component schemas instead of copying them', () => {
    const schemas = document.components.schemas;
    for (const name of [
      'Domain',
      'DomainCreate',
      'ErrorBody',
      'SbRegisterRequest',
      'SbRegisterResponse',
      'TokenRequest',
    ])
      expect(schemas[name], name).toMatchObject({ type: 'object' });
    const create = document.paths['/api/v1/domains'].post;
    expect(create.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/DomainCreate',
    });
    expect(create.responses['201'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Domain',
    });
    expect(create.responses['409'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/ErrorBody',
    });
    const list = document.paths['/api/v1/domains'].get.responses['200'].content['application/json'].schema;
    expect(list.properties.items.items).toEqual({ $ref: '#/components/schemas/Domain' });
    // The console's read views: their answers are named schemas too.
    expect(
      document.paths['/api/v1/topology'].get.responses['200'].content['application/json'].schema,
    ).toEqual({
      $ref: '#/components/schemas/Topology',
    });
    expect(
      document.paths['/api/v1/endpoints/{id}/trace'].get.responses['200'].content['application/json'].schema,
    ).toEqual({ $ref: '#/components/schemas/EndpointTrace' });
    expect(operationOf('GET', '/api/v1/topology')?.operationId).toBe('getTopology');
    const register = document.paths['/sb/v1/register'].post;
    expect(register.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/SbRegisterRequest',
    });
  });
});
