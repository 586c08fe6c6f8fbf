import { AuditEntry, Link, ListOf, Node, SbKeepaliveResponse, User } from '@capsule/api';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createHttpServer, serializationSchema } from './http';
import { createMetrics } from './metrics';

const node: Node = {
  id: 7,
  domain: 'default',
  domainId: 1,
  type: 'host',
  hostname: 'h1',
  zoneId: 2,
  ownerUserId: null,
  hostId: 'fd00::1',
  locator: null,
  status: 'registered',
  rsaPublicKey: null,
  x25519PublicKey: 'AAAA',
  certificateSerial: null,
  lastKeepaliveAt: '2026-11-21T19:00:00.000Z',
  labels: [],
  createdAt: '2026-11-21T18:00:00.000Z',
};

describe('response serialization over flattened schemas', () => {
  it('turns unions of scalars into type lists and leaves everything else as it was', () => {
    const flat = serializationSchema(Node) as { properties: Record<string, Record<string, unknown>> };
    expect(flat.properties.ownerUserId).toMatchObject({ type: ['integer', 'null'] });
    expect(flat.properties.ownerUserId!.anyOf).toBeUndefined();
    expect(flat.properties.status).toEqual({ type: 'string' });
    expect(flat.properties.hostname).toMatchObject({ type: 'string' });
    expect(JSON.stringify(serializationSchema(User))).not.toContain('anyOf');
    // The originals (used for validation and OpenAPI) are untouched.
    expect(JSON.stringify(Node)).toContain('anyOf');
    // A union with an object member is not a scalar union: kept.
    const mixed = { anyOf: [{ type: 'object', properties: { a: { type: 'string' } } }, { type: 'null' }] };
    expect(serializationSchema(mixed)).toEqual(mixed);
    // The tagged NodeCommand union is written as given (no Ajv choosing a branch per command).
    const keepalive = serializationSchema(SbKeepaliveResponse) as {
      properties: { commands: { items: unknown } };
    };
    expect(keepalive.properties.commands.items).toEqual({});
    expect(JSON.stringify(SbKeepaliveResponse)).toContain('anyOf');
  });

  it('writes the same JSON as JSON.stringify, nulls and all, and still drops unknown fields', async () => {
    const app = createHttpServer({
      bodyLimitBytes: 1024,
      logger: pino({ level: 'silent' }),
      metrics: createMetrics(),
      name: 'northbound',
    });
    const rows: Record<string, unknown> = {
      node: node,
      nodes: { items: [node, { ...node, id: 8, ownerUserId: 3, locator: '[fd00::2]:4789' }], total: 2 },
      link: {
        id: 1,
        domain: 'd',
        domainId: 1,
        nodeA: 1,
        nodeZ: 2,
        endpointA: null,
        endpointZ: 'x',
        cost: 5,
        labels: ['a'],
        adminState: 'up',
        status: 'down',
        origin: 'admin',
        createdAt: 't',
      },
      audit: {
        id: 1,
        at: 't',
        actor: 'a@b',
        domainId: null,
        action: 'create',
        objectType: 'nodes',
        objectId: null,
        detail: '{}',
      },
    };
    rows.keepalive = {
      commands: [
        {
          id: 4,
          kind: 'revocation',
          payload: { serials: ['12'], notAfter: ['2026-11-22T12:00:00.000Z'] },
          createdAt: 't',
        },
        {
          id: 5,
          kind: 'path-change',
          payload: {
            endpoints: [
              {
                endpointId: 2,
                peers: [{ endpointId: 3, hostId: '', role: 'r', x25519PublicKey: '', path: [''], cost: -1 }],
              },
            ],
          },
          createdAt: 't',
        },
        { id: 6, kind: 'report-statistics', payload: {}, createdAt: 't' },
      ],
    };
    const schemas: Record<string, unknown> = {
      keepalive: SbKeepaliveResponse,
      node: Node,
      nodes: ListOf(Node),
      link: Link,
      audit: AuditEntry,
    };
    for (const name of Object.keys(rows))
      app.get(`/${name}`, { schema: { response: { 200: schemas[name] as never } } }, async () => rows[name]);
    app.get('/leak', { schema: { response: { 200: Node } } }, async () => ({
      ...node,
      passwordHash: 'secret',
    }));
    for (const name of Object.keys(rows)) {
      const response = await app.inject({ method: 'GET', url: `/${name}` });
      expect(response.statusCode, name).toBe(200);
      expect(response.body, name).toBe(JSON.stringify(rows[name]));
    }
    const leak = await app.inject({ method: 'GET', url: '/leak' });
    expect(leak.body).not.toContain('secret');
  });
});
