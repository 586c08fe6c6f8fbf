/**
 * The control plane's controller side (seed: "Host and Link Registration/Keep-alive block",
 * "Service Endpoint Registration block", client-side Controller SB interface): login with user,
 * password and domain (profile → netprefix), registration (CGA parameters, keys, RSA signature
 * over a controller nonce → node certificate, controller key, configuration), link registration,
 * keep-alives (200, or 202 with commands), the push channel, and endpoint registration.
 *
 * Recovery: a failed keep-alive marks the session down; the next tick logs in and registers again
 * (same keys, same CGA) and re-registers the endpoints it had, so a controller restart is survived
 * without manual action. A push channel that ends without being closed here (the controller
 * stopped or restarted between two keep-alives) is reopened every `pushRetryMs` until it opens
 * again, so commands arrive within seconds of a restart, not only with the next keep-alive.
 */
import { sign } from 'node:crypto';
import {
  ApiError,
  type ControllerKeyInfo,
  codeChunkOf,
  createSouthboundClient,
  dataChunkOf,
  decodeNodeCommand,
  type GroupKey,
  type NodeCommand,
  type PushEvent,
  registrationSigningInput,
  type SbEndpointResponse,
  type SbLoginResponse,
  type SbRegisterResponse,
  type SouthboundClient,
} from '@capsule/api';
import { parseIpv6Address } from '@capsule/identity';
import { type Clock, systemClock } from '@capsule/wire';
import { AgentError } from './errors';
import type { EndpointSpec, PeerSpec } from './flows';
import type { HostCga, HostKeys } from './host-identity';

/** Decodes the controller's peer list (base64 keys, text host ids); skips unreadable entries. */
export function decodePeers(peers: SbEndpointResponse['peers']): PeerSpec[] {
  const decoded: PeerSpec[] = [];
  for (const peer of peers) {
    const hostId = parseIpv6Address(peer.hostId);
    const x25519PublicKey = new Uint8Array(Buffer.from(peer.x25519PublicKey, 'base64'));
    if (!hostId || x25519PublicKey.length !== 32) continue;
    const path: Uint8Array[] = [];
    for (const hop of peer.path) {
      const bytes = parseIpv6Address(hop);
      if (bytes) path.push(bytes);
    }
    decoded.push({ endpointId: peer.endpointId, role: peer.role, hostId, x25519PublicKey, path });
  }
  return decoded;
}

/** The group keys of an endpoint answer or a path-change, their keys as bytes (32 each). */
export function decodeGroupKeys(
  keys: readonly GroupKey[],
): { role: string; use: 'open' | 'seal'; epoch: number; key: Uint8Array }[] {
  return keys.map((key) => ({
    role: key.role,
    use: key.use,
    epoch: key.epoch,
    key: new Uint8Array(Buffer.from(key.key, 'base64')),
  }));
}

/** Decodes an endpoint registration answer into what the data plane needs. */
export function decodeEndpoint(
  answer: SbEndpointResponse,
  request: { serviceToken: string; contract: string; role: string },
): {
  spec: EndpointSpec;
  peers: PeerSpec[];
  groupKeys: ReturnType<typeof decodeGroupKeys>;
  validity: { notBeforeMs: number; notAfterMs: number };
} {
  const code = codeChunkOf(answer.image, answer.entry);
  if (!code)
    throw new AgentError(
      'AGENT_BAD_PROGRAM',
      `the program has no entry ${answer.entry} for role ${request.role}`,
    );
  return {
    spec: {
      id: answer.endpoint.id,
      domain: answer.endpoint.domain,
      contract: request.contract,
      contractId: answer.endpoint.contractId,
      role: request.role,
      authorization: new Uint8Array(Buffer.from(answer.authorization.signed, 'base64')),
      authorizationSerial: answer.authorization.serial,
      code,
      data: dataChunkOf(answer.image, answer.variables),
      logicHash: answer.logicHash,
      serviceToken: request.serviceToken,
    },
    peers: decodePeers(answer.peers),
    groupKeys: decodeGroupKeys(answer.groupKeys),
    validity: {
      notBeforeMs: Date.parse(answer.authorization.notBefore),
      notAfterMs: Date.parse(answer.authorization.notAfter),
    },
  };
}

/** Options of the controller session. */
export interface ControlPlaneOptions {
  controllerUrl: string;
  credentials: { domain: string; username: string; password: string };
  hostName: string;
  /** Our underlay locator `host:port` (what engines connect back to). */
  locator: string;
  /** Delay before reopening a push channel that ended on its own (default 1000 ms). */
  pushRetryMs?: number;
}

/** What the session calls back into the agent. */
export interface ControlPlaneHooks {
  /** A command from a keep-alive answer or the push channel. */
  onCommand(command: NodeCommand): void;
  /** The controller keys a keep-alive answer says to trust (how a signing key rotation reaches the agent). */
  onControllerKeys?(keys: readonly ControllerKeyInfo[]): void;
  log(level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
}

/** The controller session. */
export class ControlPlane {
  private client: SouthboundClient;
  registration: SbRegisterResponse | undefined;
  profile: SbLoginResponse['profile'] | undefined;
  isConnected = false;
  keepalivesSent = 0;
  keepaliveFailures = 0;
  registrations = 0;
  /** True while the push channel is open. */
  isPushOpen = false;
  /** How often a push channel that ended on its own was opened again. */
  pushReopens = 0;
  private pushAbort: AbortController | undefined;
  private cancelPushRetry: (() => void) | undefined;
  private readonly seenCommands = new Set<number>();

  constructor(
    private readonly options: ControlPlaneOptions,
    private readonly hooks: ControlPlaneHooks,
    private readonly deps: { fetch?: typeof fetch; clock?: Pick<Clock, 'setTimeout'> } = {},
  ) {
    this.client = this.newClient();
  }

  private newClient(): SouthboundClient {
    return createSouthboundClient({
      baseUrl: this.options.controllerUrl,
      fetch: (input, init) => this.fetchWatchingPush(input, init),
    });
  }

  /** Logs in (seed: identity service with user, password, domain) and returns the profile. */
  async login(): Promise<SbLoginResponse['profile']> {
    this.client = this.newClient();
    const answer = await this.client.login(this.options.credentials);
    this.profile = answer.profile;
    return answer.profile;
  }

  /** Registers this host (nonce, CGA, keys, RSA signature); keeps the node token. */
  async register(keys: HostKeys, cga: HostCga): Promise<SbRegisterResponse> {
    const { nonce } = await this.client.nonce();
    const signed = registrationSigningInput({
      nonce: Buffer.from(nonce, 'base64'),
      hostId: cga.addressText,
      hostname: this.options.hostName,
      locator: this.options.locator,
      x25519PublicKey: keys.x25519PublicKeyRaw,
    });
    this.registration = await this.client.register({
      nonce,
      type: 'host',
      hostname: this.options.hostName,
      locator: this.options.locator,
      hostId: cga.addressText,
      cgaParameters: Buffer.from(cga.parametersBytes).toString('base64'),
      rsaPublicKey: Buffer.from(keys.rsaPublicKeyDer).toString('base64'),
      x25519PublicKey: Buffer.from(keys.x25519PublicKeyRaw).toString('base64'),
      signature: sign('sha256', signed, keys.rsaPrivateKey).toString('base64'),
    });
    this.isConnected = true;
    this.registrations += 1;
    return this.registration;
  }

  /** One keep-alive with statistics; commands go to the hook. Throws when the controller fails. */
  async keepalive(statistics: Record<string, number>): Promise<number> {
    try {
      const { status, commands, controllerKeys } = await this.client.keepalive({ statistics });
      this.keepalivesSent += 1;
      this.isConnected = true;
      for (const command of commands) this.deliver(command);
      if (controllerKeys) this.hooks.onControllerKeys?.(controllerKeys);
      return status;
    } catch (error) {
      this.keepaliveFailures += 1;
      this.isConnected = false;
      throw error;
    }
  }

  /**
   * Opens the push channel (server-sent events). Once opened, a channel that ends on its own is
   * reopened every `pushRetryMs` until it opens again or `closePush` is called.
   */
  async openPush(): Promise<void> {
    this.pushAbort?.abort();
    const abort = new AbortController();
    this.pushAbort = abort;
    await this.client.events((event: PushEvent) => this.deliver(event.payload), abort.signal);
    this.isPushOpen = true;
  }

  closePush(): void {
    this.cancelPushRetry?.();
    this.cancelPushRetry = undefined;
    this.pushAbort?.abort();
    this.pushAbort = undefined;
    this.isPushOpen = false;
  }

  /**
   * The client's fetch: the push channel's body is passed through a stream that notices its end
   * (the API client reads it in the background and does not report that).
   */
  private async fetchWatchingPush(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const response = await (this.deps.fetch ?? fetch)(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.endsWith('/sb/v1/events') || !response.ok || !response.body) return response;
    const signal = init?.signal ?? undefined;
    const source = response.body.getReader();
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.pushEnded(signal);
    };
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { value, done } = await source.read();
          if (done) {
            controller.close();
            end();
          } else controller.enqueue(value);
        } catch (error) {
          controller.error(error);
          end();
        }
      },
      cancel(reason) {
        end();
        return source.cancel(reason);
      },
    });
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  }

  private pushEnded(signal: AbortSignal | undefined): void {
    // Closed on purpose, or replaced by a newer channel: nothing to do.
    if (!signal || signal.aborted || this.pushAbort?.signal !== signal) return;
    this.isPushOpen = false;
    this.hooks.log('warn', 'push channel closed by the controller; reopening');
    this.schedulePushReopen();
  }

  private schedulePushReopen(): void {
    this.cancelPushRetry?.();
    this.cancelPushRetry = (this.deps.clock ?? systemClock).setTimeout(() => {
      this.cancelPushRetry = undefined;
      if (!this.pushAbort) return;
      this.openPush().then(
        () => {
          this.pushReopens += 1;
          this.hooks.log('info', 'push channel reopened');
        },
        (error) => {
          // Unreachable: try again. Refused (token no longer valid after a controller restart
          // that lost its sessions): the keep-alive fails too and the agent logs in again.
          if ((error as { code?: string }).code === 'UNAVAILABLE') this.schedulePushReopen();
        },
      );
    }, this.options.pushRetryMs ?? 1000);
  }

  /** Registers a link with a neighbor (policy may refuse: LINK_REFUSED). */
  registerLink(body: { peerHostId: string; localEndpoint: string; remoteEndpoint: string }) {
    return this.client.registerLink(body);
  }

  /** Registers a service endpoint in a contract role. */
  async registerEndpoint(request: { serviceToken: string; contract: string; role: string }) {
    if (!this.registration) throw new ApiError('NODE_NOT_REGISTERED', 'the agent is not registered yet');
    const answer = await this.client.registerEndpoint(request);
    return decodeEndpoint(answer, request);
  }

  /** Unregisters one of this host's endpoints at the controller (its authorizations revoked). */
  async unregisterEndpoint(id: number): Promise<void> {
    if (!this.registration) throw new ApiError('NODE_NOT_REGISTERED', 'the agent is not registered yet');
    await this.client.unregisterEndpoint(id);
  }

  /** Decodes a command (keep-alive answer or push event) and hands it on once. */
  private deliver(value: unknown): void {
    const decoded = decodeNodeCommand(value);
    if (!decoded.ok) {
      this.hooks.log('warn', 'controller command refused', { ...decoded.error });
      return;
    }
    const command = decoded.value;
    // The same command may come on the push channel and with a keep-alive answer.
    if (this.seenCommands.has(command.id)) return;
    this.seenCommands.add(command.id);
    if (this.seenCommands.size > 10_000) this.seenCommands.clear();
    this.hooks.onCommand(command);
  }
}
