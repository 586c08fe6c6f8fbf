/**
 * The southbound protocol under /sb/v1, for agents and engines: each route authenticates the
 * caller, hands the decoded body to its use case (node-registration.ts, link-registration.ts,
 * keepalive.ts, endpoint-registration.ts) and answers; the error handler maps a use case's
 * ApiError to its status.
 *
 *   login (node user) → nonce → register (CGA + keys + RSA signature over the nonce)
 *     → node certificate, controller key, configuration, node token
 *   links (policy may refuse) · keepalive (200, or 202 with commands) · events (SSE push)
 *   endpoints (service token + contract role → image, variables, peers with paths, authorization;
 *   the same role again renews it) · DELETE endpoints/{id} (unregister: revoked everywhere)
 */
import {
  ErrorBody,
  IdParams,
  Link,
  SbEndpointRequest,
  SbEndpointResponse,
  SbKeepaliveRequest,
  SbKeepaliveResponse,
  SbLinkRequest,
  SbLoginResponse,
  SbNonceResponse,
  SbRegisterRequest,
  SbRegisterResponse,
  TokenRequest,
} from '@capsule/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { deliverCommands, pendingCommandIds } from '../commands';
import type { ControllerContext } from '../context';
import { registerEndpoint, unregisterEndpoint } from './endpoint-registration';
import { keepalive } from './keepalive';
import { registerLink } from './link-registration';
import { issueNonce, nodeLogin, registerNode } from './node-registration';
import { requireNode } from './services';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const tags = ['southbound'];

/** Registers the southbound routes on `app`. */
export function registerSouthbound(app: FastifyInstance, context: ControllerContext): void {
  const { db } = context.store;
  const authenticate = (request: FastifyRequest) =>
    context.authenticate(request.headers.authorization, 'node');

  app.post(
    '/sb/v1/login',
    { schema: { tags, body: TokenRequest, response: { 200: SbLoginResponse, ...errors } } },
    async (request) =>
      nodeLogin(
        db,
        await context.checkCredentials(request.body as TokenRequest, request.ip, 'node'),
        context,
      ),
  );

  app.post(
    '/sb/v1/nonce',
    { schema: { tags, response: { 200: SbNonceResponse, ...errors } } },
    async (request) => issueNonce(db, await authenticate(request), context),
  );

  app.post(
    '/sb/v1/register',
    { schema: { tags, body: SbRegisterRequest, response: { 200: SbRegisterResponse, ...errors } } },
    async (request) =>
      registerNode(
        db,
        { principal: await authenticate(request), request: request.body as SbRegisterRequest },
        context,
      ),
  );

  app.post(
    '/sb/v1/links',
    { schema: { tags, body: SbLinkRequest, response: { 200: Link, ...errors } } },
    async (request) =>
      registerLink(
        db,
        { principal: await authenticate(request), request: request.body as SbLinkRequest },
        context,
      ),
  );

  app.post(
    '/sb/v1/keepalive',
    {
      schema: {
        tags,
        body: SbKeepaliveRequest,
        response: { 200: SbKeepaliveResponse, 202: SbKeepaliveResponse, ...errors },
      },
    },
    async (request, reply) => {
      const { statistics, acked } = (request.body ?? {}) as SbKeepaliveRequest;
      const answer = await keepalive(
        db,
        {
          principal: await authenticate(request),
          ...(statistics && { statistics }),
          ...(acked && { acked }),
        },
        context,
      );
      return reply.status(answer.commands.length > 0 ? 202 : 200).send(answer);
    },
  );

  app.get('/sb/v1/events', { schema: { tags } }, async (request, reply) => {
    const node = await requireNode(db, await authenticate(request));
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    const remove = context.hub.add({
      nodeId: node.id,
      write: (text) => raw.write(text),
      end: () => raw.end(),
    });
    request.raw.on('close', remove);
    // The heartbeat interval tells the node how long a silence means a dead channel.
    const ready = { kind: 'ready', payload: { nodeId: node.id, heartbeatMs: context.pushHeartbeatMs } };
    raw.write(`data: ${JSON.stringify(ready)}\n\n`);
    // Commands queued while the node was away go out now.
    await deliverCommands(context, await pendingCommandIds(db, node.id));
  });

  app.post(
    '/sb/v1/endpoints',
    { schema: { tags, body: SbEndpointRequest, response: { 200: SbEndpointResponse, ...errors } } },
    async (request) =>
      registerEndpoint(
        db,
        { principal: await authenticate(request), request: request.body as SbEndpointRequest },
        context,
      ),
  );
  app.delete(
    '/sb/v1/endpoints/:id',
    { schema: { tags, params: IdParams, response: { 204: Type.Null(), ...errors } } },
    async (request, reply) => {
      const principal = await authenticate(request);
      await unregisterEndpoint(db, { principal, id: (request.params as { id: number }).id }, context);
      return reply.status(204).send();
    },
  );
}
