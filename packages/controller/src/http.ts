/**
 * What both HTTP listeners share: a fastify instance whose bodies are validated by TypeBox
 * (strictly: no coercion, unknown fields rejected), whose every error is JSON `{code, message}`
 * with the status from the API's one table, and whose requests are counted in the metrics.
 */
import { ApiError, type ApiErrorBody, statusOfCode } from '@capsule/api';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics } from './metrics';
import { mapStoreError } from './store/open-store';

/** Options of one listener. */
export interface HttpOptions {
  bodyLimitBytes: number;
  logger: Logger;
  metrics: Metrics;
  /** `listener` label of the metrics. */
  name: 'northbound' | 'southbound';
  https?: { key: string; cert: string };
  /** Awaited before every reply leaves (the store's durability barrier: nothing unsynced escapes). */
  beforeReply?: () => Promise<void>;
}

/** Turns any thrown value into the `{code, message}` body and its status. */
export function errorResponse(error: unknown, logger: Logger): { status: number; body: ApiErrorBody } {
  const mapped = mapStoreError(error, 'write');
  if (mapped instanceof ApiError)
    return { status: mapped.status, body: { code: mapped.code, message: mapped.message } };
  const fastifyError = error as FastifyError & { validation?: { message?: string; instancePath?: string }[] };
  if (fastifyError.validation) {
    const first = fastifyError.validation[0];
    const where = fastifyError.validationContext ?? 'body';
    const path = first?.instancePath ? ` at ${first.instancePath}` : '';
    return {
      status: 400,
      body: {
        code: 'VALIDATION_FAILED',
        message: `${where}${path}: ${first?.message ?? 'does not match the schema'}`,
      },
    };
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: { code: 'BODY_TOO_LARGE', message: 'the request body is too large' } };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send application/json' } };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: { code: 'MALFORMED_BODY', message: 'the body is not valid JSON' } };
  }
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    const code = fastifyError.statusCode === 400 ? 'MALFORMED_BODY' : 'VALIDATION_FAILED';
    return { status: statusOfCode(code), body: { code, message: fastifyError.message } };
  }
  logger.error({ err: error }, 'internal error');
  return { status: 500, body: { code: 'INTERNAL', message: 'internal error (logged by the controller)' } };
}

const scalarTypes = new Set(['string', 'integer', 'number', 'boolean', 'null']);
const nestingKeywords = ['anyOf', 'oneOf', 'allOf', 'not', 'properties', 'items', '$ref', 'if'];

/** True for a schema that is one scalar type (possibly a literal), with nothing nested. */
function isScalar(schema: unknown): schema is { type: string } {
  if (!schema || typeof schema !== 'object') return false;
  const record = schema as Record<string, unknown>;
  return (
    typeof record.type === 'string' &&
    scalarTypes.has(record.type) &&
    !nestingKeywords.some((keyword) => keyword in record)
  );
}

/** True for an object schema (a member of a tagged union such as NodeCommand). */
function isObjectSchema(schema: unknown): boolean {
  return Boolean(schema) && typeof schema === 'object' && (schema as { type?: unknown }).type === 'object';
}

/**
 * A copy of a response schema for the serializer, with no `anyOf` left for fast-json-stringify to
 * resolve: it serializes an `anyOf` by running Ajv on the value to pick the branch — Ajv per
 * nullable field on every reply, compiling those validators on a route's first reply (about 10 ms
 * of event-loop time per route, measured on GET /api/v1/nodes/:id) — and throws on a value that
 * matches no branch. So every `anyOf` of scalars (`Type.Union([Id, Type.Null()])`, unions of
 * string literals) becomes one schema with a list of types (the same JSON), and an `anyOf` of
 * objects (the tagged NodeCommand union, built by the controller from decoded values) is written
 * as it is (an empty schema: JSON.stringify). Request validation and the OpenAPI document keep
 * the original schemas.
 */
export function serializationSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(serializationSchema);
  if (!schema || typeof schema !== 'object') return schema;
  const record = schema as Record<string, unknown>;
  const anyOf = record.anyOf;
  if (Array.isArray(anyOf) && anyOf.length > 0 && anyOf.every(isScalar)) {
    const { anyOf: _members, ...siblings } = record;
    const types = [...new Set(anyOf.map((member) => member.type))];
    return { ...siblings, type: types.length === 1 ? types[0] : types };
  }
  if (Array.isArray(anyOf) && anyOf.length > 0 && anyOf.every(isObjectSchema)) return {};
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record))
    copy[key] =
      key === 'properties' || key === 'patternProperties'
        ? Object.fromEntries(
            Object.entries(value as Record<string, unknown>).map(([name, sub]) => [
              name,
              serializationSchema(sub),
            ]),
          )
        : key === 'enum' || key === 'const' || key === 'required' || key === 'default' || key === 'examples'
          ? value
          : serializationSchema(value);
  return copy;
}

/** fastify's default serializer compiler (fast-json-stringify), over flattened schemas. */
function buildSerializer(externalSchemas: unknown, serializerOptions: unknown) {
  const compile = SerializerSelector()(externalSchemas as never, serializerOptions as never);
  return (route: { schema: unknown; method: string; url: string; httpStatus: string }) =>
    compile({ ...route, schema: serializationSchema(route.schema) } as never);
}

/** A fastify instance with the shared validation, errors and metrics. */
export function createHttpServer(options: HttpOptions): FastifyInstance {
  const app = Fastify({
    schemaController: { compilersFactory: { buildSerializer: buildSerializer as never } },
    loggerInstance: options.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    ...(options.https ? { https: options.https } : {}),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  }) as unknown as FastifyInstance;
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  app.setErrorHandler((error, _request, reply) => {
    const { status, body } = errorResponse(error, options.logger);
    const retryAfterSeconds = error instanceof ApiError ? error.retryAfterSeconds : undefined;
    if (retryAfterSeconds !== undefined) void reply.header('retry-after', String(retryAfterSeconds));
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ code: 'NOT_FOUND', message: `no route ${request.method} ${request.url}` });
  });
  const beforeReply = options.beforeReply;
  if (beforeReply) app.addHook('onSend', (_request, _reply, payload) => beforeReply().then(() => payload));
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unknown';
    const labels = {
      listener: options.name,
      method: request.method,
      route,
      status: String(reply.statusCode),
    };
    options.metrics.requests.inc(labels);
    options.metrics.requestSeconds.observe(
      { listener: options.name, method: request.method, route },
      reply.elapsedTime / 1000,
    );
    done();
  });
  return app;
}

/** Reads `Authorization: Bearer <token>`; throws UNAUTHENTICATED when absent. */
export function bearerToken(header: string | undefined): string {
  const match = /^Bearer ([A-Za-z0-9._~+/=-]{1,4096})$/.exec(header ?? '');
  if (!match) throw new ApiError('UNAUTHENTICATED', 'send Authorization: Bearer <token>');
  return match[1]!;
}
