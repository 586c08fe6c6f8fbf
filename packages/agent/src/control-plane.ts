/**
 * The control plane's controller side (seed: "Host and Link Registration/Keep-alive block",
 * "Service Endpoint Registration block", client-side Controller SB interface): login with user,
 * password and domain (profile → netprefix), registration (CGA parameters, keys, RSA signature
 * over a controller nonce → node certificate, controller key, configuration), link registration,
 * keep-alives (200, or 202 with commands), the push channel, and endpoint registration.
 *
 * Recovery: a failed keep-alive marks the session down; the next tick logs in and registers again
 * (same keys, same CGA) and re-registers the endpoints it had, so a controller restart is survived
 * without manual action. With several controller replicas (`controllerUrls`) every call goes to
 * the current one and moves on to the next when it fails (@capsule/api's controller-replicas.ts);
 * the session, signed with the replicas' shared key, stays valid there. The push channel is kept
 * attached by @capsule/api's `createPushAttachment`: one that ends without being closed here (the
 * controller stopped, restarted or died) is reopened every `pushRetryMs`, on a live replica, so
 * commands arrive within seconds, not only with the next keep-alive.
 */
import { sign } from 'node:crypto';
import {
  ApiError,
  type CommandOrder,
  type ControllerKeyInfo,
  type ControllerReplicas,
  codeChunkOf,
  createCommandOrder,
  createControllerReplicas,
  createPushAttachment,
  createSouthboundClient,
  dataChunkOf,
  type GroupKey,
  type NodeCommand,
  type PushAttachment,
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
  /** Every controller replica's southbound URL, in order; given, it replaces `controllerUrl`. */
  controllerUrls?: readonly string[];
  /** A controller call that takes longer fails (and moves on to the next replica); default @capsule/api's. */
  requestTimeoutMs?: number;
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
  private readonly client: SouthboundClient;
  /** The controller replicas and the one in use. */
  readonly replicas: ControllerReplicas;
  registration: SbRegisterResponse | undefined;
  profile: SbLoginResponse['profile'] | undefined;
  isConnected = false;
  keepalivesSent = 0;
  keepaliveFailures = 0;
  registrations = 0;
  private readonly push: PushAttachment;
  /** Which commands apply, in the order they come (a command may come twice, or after a newer one). */
  readonly commandOrder: CommandOrder = createCommandOrder();

  constructor(
    private readonly options: ControlPlaneOptions,
    private readonly hooks: ControlPlaneHooks,
    deps: { fetch?: typeof fetch; clock?: Pick<Clock, 'setTimeout'> } = {},
  ) {
    this.replicas = createControllerReplicas(options.controllerUrls ?? [options.controllerUrl], {
      onFailover: ({ from, to, reason, failovers }) =>
        hooks.log('warn', 'controller failed; moving to the next replica', { from, to, reason, failovers }),
    });
    this.client = createSouthboundClient({
      replicas: this.replicas,
      ...(options.requestTimeoutMs !== undefined && { requestTimeoutMs: options.requestTimeoutMs }),
      ...(deps.fetch && { fetch: deps.fetch }),
    });
    this.push = createPushAttachment(
      { retryMs: options.pushRetryMs ?? 1000 },
      {
        events: (onEvent, signal, onClose) => this.client.events(onEvent, signal, onClose),
        onEvent: (event) => this.deliver(event.payload),
        clock: deps.clock ?? systemClock,
        onChange: ({ kind }) => {
          if (kind === 'ended') hooks.log('warn', 'push channel closed by the controller; reopening');
          else if (kind === 'reopened')
            hooks.log('info', 'push channel reopened', { controller: this.replicas.current });
        },
      },
    );
  }

  /** True while the push channel is open. */
  get isPushOpen(): boolean {
    return this.push.isOpen;
  }

  /** How often a push channel that ended on its own (or could not open) was opened again. */
  get pushReopens(): number {
    return this.push.reopens;
  }

  /** Logs in (seed: identity service with user, password, domain) and returns the profile. */
  async login(): Promise<SbLoginResponse['profile']> {
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
    // The answer is the new baseline: the commands after it count from there.
    this.commandOrder.restart();
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
   * Opens the push channel (server-sent events) on the current replica. From then on a channel that
   * ends on its own, or cannot be opened, is opened again every `pushRetryMs` until `closePush`.
   */
  openPush(): Promise<void> {
    return this.push.open();
  }

  closePush(): void {
    this.push.close();
  }

  /** Registers a link with a neighbor (policy may refuse: LINK_REFUSED). */
  registerLink(body: {
    peerHostId: string;
    localEndpoint: string;
    remoteEndpoint: string;
    status?: 'up' | 'down';
  }) {
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
    // The same command may come on the push channel and with a keep-alive answer; a link set
    // older than the one applied would undo it.
    const taken = this.commandOrder.take(value);
    if (!taken.ok) this.hooks.log('warn', 'controller command refused', { ...taken.error });
    else if (taken.value) this.hooks.onCommand(taken.value);
  }
}
