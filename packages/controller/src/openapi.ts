/**
 * The controller's OpenAPI document (`GET /api/v1/openapi.json`): both listeners' routes as
 * @fastify/swagger describes them from their schemas, plus what the generator does not give:
 *
 * - an `operationId` and a `summary` for every operation (northbound CRUD routes are named from
 *   their collection and action; every other route from `operations` below, which a test keeps
 *   complete);
 * - the request and response bodies that are named schemas of @capsule/api as `$ref`s to
 *   `components.schemas` (one definition each, instead of a copy per route);
 * - the southbound API (`/sb/v1/…`, its own listener: a `servers` entry on each of its paths);
 * - `security: []` on the two calls that take credentials instead of a token (token, login);
 * - nothing of /metrics, the console or the document itself (hidden routes).
 */
import * as api from '@capsule/api';
import type { SwaggerOptions } from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';

// biome-ignore lint/suspicious/noExplicitAny: an OpenAPI document, read and rewritten field by field
type Json = any;

/** operationId and summary of a route that is not a northbound collection's CRUD, by `METHOD url`. */
const operations: Record<string, { operationId: string; summary: string }> = {
  'POST /api/v1/auth/token': {
    operationId: 'issueToken',
    summary: 'Log in: a bearer token for the northbound API',
  },
  'POST /api/v1/authorizations/{id}/revoke': {
    operationId: 'revokeAuthorization',
    summary: 'Revoke a flow authorization (engines and hosts are told)',
  },
  'GET /api/v1/signing-keys': {
    operationId: 'listSigningKeys',
    summary: 'The controller signing keys nodes trust: announced, signing, retiring',
  },
  'POST /api/v1/signing-keys/rotate': {
    operationId: 'rotateSigningKey',
    summary:
      'Rotate the controller signing key (systemAdmin): a new key, the old one trusted for the overlap',
  },
  'GET /api/v1/topology': {
    operationId: 'getTopology',
    summary: 'The nodes and links, with flow counts (what the console draws)',
  },
  'GET /api/v1/endpoints/{id}/trace': {
    operationId: 'traceEndpoint',
    summary: 'An endpoint’s computed paths to its peers, hop by hop',
  },
  'POST /sb/v1/login': { operationId: 'nodeLogin', summary: 'Node login: a token and the node user’s zone' },
  'POST /sb/v1/nonce': { operationId: 'nodeNonce', summary: 'A single-use nonce for a registration' },
  'POST /sb/v1/register': {
    operationId: 'registerNode',
    summary: 'Register an engine or host: CGA, keys, signed nonce → node certificate',
  },
  'POST /sb/v1/links': { operationId: 'registerLink', summary: 'Register (or report the state of) a link' },
  'POST /sb/v1/keepalive': {
    operationId: 'nodeKeepalive',
    summary:
      'Keep-alive with statistics and the command ids taken in since; a 202 answer carries the commands not acknowledged yet',
  },
  'GET /sb/v1/events': { operationId: 'nodeEvents', summary: 'Push channel: commands as server-sent events' },
  'POST /sb/v1/endpoints': {
    operationId: 'registerEndpoint',
    summary: 'Register a service endpoint in a contract role: authorization, program, peers',
  },
  'DELETE /sb/v1/endpoints/{id}': {
    operationId: 'unregisterEndpoint',
    summary: 'Unregister one of the node’s own endpoints (its authorizations are revoked)',
  },
};

/** The calls that take credentials, not a token. */
const unauthenticated = new Set(['POST /api/v1/auth/token', 'POST /sb/v1/login']);

const pascal = (resource: string) =>
  resource.replace(/(^|-)([a-z])/g, (_match, _dash, letter: string) => letter.toUpperCase());

/** operationId and summary of a northbound collection route (`GET /api/v1/domains/{id}` → getDomain). */
function crudOperation(method: string, url: string) {
  const match = /^\/api\/v1\/([a-z-]+)(\/\{id\})?$/.exec(url);
  if (!match) return undefined;
  const resource = match[1]!;
  const plural = pascal(resource);
  const singular = plural === 'Audit' ? 'AuditEntry' : plural.replace(/s$/, '');
  const noun = resource === 'audit' ? 'audit entry' : resource.replace(/s$/, '').replace('-', ' ');
  const nouns = resource === 'audit' ? 'audit entries' : resource.replace('-', ' ');
  if (!match[2]) {
    if (method === 'GET') return { operationId: `list${plural}`, summary: `List ${nouns} (paged)` };
    if (method === 'POST')
      return {
        operationId: `create${singular}`,
        summary: `Create ${/^[aeiou]/.test(noun) ? 'an' : 'a'} ${noun}`,
      };
    return undefined;
  }
  const a = /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`;
  const byMethod: Record<string, { operationId: string; summary: string }> = {
    GET: { operationId: `get${singular}`, summary: `Get ${a}` },
    PATCH: { operationId: `update${singular}`, summary: `Update ${a}` },
    DELETE: { operationId: `delete${singular}`, summary: `Delete ${a}` },
  };
  return byMethod[method];
}

/** operationId and summary of `method url` (url in OpenAPI form, `{id}`), or undefined when unnamed. */
export function operationOf(method: string, url: string) {
  return operations[`${method} ${url}`] ?? crudOperation(method, url);
}

/** The named object schemas of @capsule/api (request and response bodies), by name. */
export function namedSchemas(): Record<string, object> {
  const named: Record<string, object> = {};
  for (const [name, value] of Object.entries(api))
    if (
      /^[A-Z]/.test(name) &&
      typeof value === 'object' &&
      value !== null &&
      (value as { type?: unknown }).type === 'object'
    )
      named[name] = value;
  return named;
}

/** Options for @fastify/swagger (both listeners register it; the northbound serves the document). */
export function swaggerOptions(description: string): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Capsule controller', version: '1.0.0', description },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
        schemas: namedSchemas(),
      },
      security: [{ bearer: [] }],
    },
    transform: ({ schema, url, route }) => {
      const method = Array.isArray(route.method) ? route.method[0]! : route.method;
      const openapiUrl = url.replace(/:([A-Za-z]+)/g, '{$1}');
      const named = operationOf(method, openapiUrl);
      const extra: Record<string, unknown> = { ...(named ?? {}) };
      if (unauthenticated.has(`${method} ${openapiUrl}`)) extra.security = [];
      const hidden = (schema as { hide?: boolean } | undefined)?.hide;
      return { schema: hidden ? schema : { ...(schema ?? {}), ...extra }, url };
    },
  };
}

const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, inner) =>
    inner && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );

/**
 * Replaces every schema in `document.paths` that equals a component schema by a `$ref` to it.
 * Both were converted by @fastify/swagger the same way, so equal sources give equal forms.
 */
function referToComponents(document: Record<string, Json>): void {
  const components = (document.components?.schemas ?? {}) as Record<string, unknown>;
  const byForm = new Map(Object.entries(components).map(([name, schema]) => [canonical(schema), name]));
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (!node || typeof node !== 'object') return node;
    const name = byForm.get(canonical(node));
    if (name) return { $ref: `#/components/schemas/${name}` };
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, visit(value)]));
  };
  for (const item of Object.values(document.paths ?? {}) as Record<string, Json>[])
    for (const operation of Object.values(item)) {
      if (!operation || typeof operation !== 'object') continue;
      for (const content of Object.values(operation.requestBody?.content ?? {}) as { schema?: unknown }[])
        content.schema = visit(content.schema);
      for (const response of Object.values(operation.responses ?? {}) as {
        content?: Record<string, { schema?: unknown }>;
      }[])
        for (const content of Object.values(response.content ?? {})) content.schema = visit(content.schema);
    }
}

/**
 * The whole document: the northbound one with the southbound paths added (each with a `servers`
 * entry for the southbound listener) and bodies referring to `components.schemas`.
 */
export function buildOpenapiDocument(
  northbound: FastifyInstance,
  southbound: FastifyInstance,
  southboundUrl: string | undefined,
): Record<string, unknown> {
  const document = structuredClone(northbound.swagger()) as Record<string, Json>;
  const south = southbound.swagger() as Record<string, Json>;
  const servers = [
    {
      url: '{southbound}',
      description: 'the southbound listener (engines and agents)',
      variables: { southbound: { default: southboundUrl ?? 'http://127.0.0.1:8701' } },
    },
  ];
  for (const [path, item] of Object.entries(south.paths ?? {}))
    document.paths[path] = { servers, ...structuredClone(item as object) };
  document.tags = [
    ...new Set(
      Object.values(document.paths).flatMap((item: Json) =>
        Object.values(item).flatMap((operation: Json) => operation?.tags ?? []),
      ),
    ),
  ].map((name) => ({ name }));
  referToComponents(document);
  return document;
}
