/**
 * The services both listeners share: credentials and tokens, the audit log, node commands and
 * their delivery (keep-alive answers and push channels), and path recomputation.
 */

import { createHash } from 'node:crypto';
import {
  ApiError,
  type GroupKey,
  linkSetCommand,
  linkTagsCommand,
  type NodeCommandBody,
  type Peer,
  pathChangeCommand,
  type RoleName,
  type TokenRequest,
} from '@capsule/api';
import type { Clock } from '@capsule/wire';
import type { Logger } from 'pino';
import { LoginThrottle, type Principal, type TokenService, unmatchableHash, verifyPassword } from './auth';
import { queueCommands } from './commands';
import { transitNodes } from './domain-trust';
import { type GroupSecretCache, groupKeysOf } from './group-keys';
import { bearerToken } from './http';
import { computeLinkSets } from './link-sets';
import type { Metrics } from './metrics';
import { pathTo, shortestPaths, type TopologyLink } from './paths';
import type { ControllerIdentity, ProgramVerifier } from './ports';
import type { BusEvent, ChangeBus, PushHub } from './push';
import {
  computeLabelRoutes,
  computeNearestRoutes,
  computeRoleRoutes,
  type LabelRule,
  mergeRoleRoutes,
  type TaggedMember,
} from './role-routes';
import type { Db } from './rows';
import { SentCommands } from './sent-commands';
import type { SigningKeyRing, SigningKeyRotationOptions } from './signing-key';
import type { Store } from './store/open-store';
import { prepareQuery } from './store/prepared-query';

/** A change other replicas and connected nodes may need to hear about. */
export interface ChangeEvent {
  /**
   * links: a node registered (its peers may need its new locator; a mesh gains it): link sets only.
   * joined: an endpoint joined `joined.role` of `joined.contractId` (nobody left, the topology is
   * the same): the paths of the endpoints that peer with that role, and the role routes.
   */
  kind: 'topology' | 'revocation' | 'policy' | 'links' | 'joined';
  /**
   * links, topology: the nodes whose own link set the change may alter (a host's set names only
   * its engines, so a host registering or reporting a link changes no other set); every node's
   * when absent.
   */
  linkSetNodes?: number[];
  /** joined: the contract role that gained a member. */
  joined?: { contractId: number; role: string };
  /** Node ids that must be told (revocation: the engines; empty = all interested). */
  nodeIds?: number[];
  /** revocation: `{commandIds}`, the queued revocation commands to announce. */
  payload?: unknown;
}

/** The user behind a token (and whether its domain is active), re-read on every request. */
const tokenUserQuery = prepareQuery((db, p) =>
  db
    .selectFrom('users as u')
    .innerJoin('domains as d', 'd.id', 'u.domain_id')
    .select(['u.roles', 'u.active', 'u.domain_id', 'u.credential_generation', 'd.active as domain_active'])
    .where('u.id', '=', p(0)),
);

/** One audit entry: at, actor, domain id, action, object type, object id, detail. */
const auditQuery = prepareQuery((db, p) =>
  db.insertInto('audit').values({
    at: p(0),
    actor: p(1),
    domain_id: p(2),
    action: p(3),
    object_type: p(4),
    object_id: p(5),
    detail: p(6),
  }),
);

/** Fields never written to the audit log. */
const secretFields = new Set(['password', 'secret', 'token', 'serviceToken']);

/** Everything the route modules use. */
export interface ControllerContext {
  store: Store;
  tokens: TokenService;
  clock: Pick<Clock, 'nowMs'>;
  logger: Logger;
  metrics: Metrics;
  loginThrottle: LoginThrottle;
  identity: ControllerIdentity | undefined;
  /** The signing key ring (rotation: signing-key.ts), undefined when started without a key. */
  signingKeys: SigningKeyRing | undefined;
  /** When a rotated key activates and how long the replaced one stays trusted. */
  signingKeyRotation: SigningKeyRotationOptions;
  verifier: ProgramVerifier | undefined;
  hub: PushHub;
  bus: ChangeBus;
  replicaId: string;
  keepaliveIntervalMs: number;
  /** The push channels' heartbeat interval, named in each channel's `ready` event. */
  pushHeartbeatMs: number;
  nonceLifetimeMs: number;
  certificateLifetimeMs: number;
  authorizationLifetimeMs: number;
  /** Checks domain, user name and password (throttled per account and address: LoginThrottle). */
  checkCredentials(
    body: TokenRequest,
    clientAddress: string,
    audience: Principal['audience'],
  ): Promise<Principal>;
  /**
   * Verifies a bearer token and re-reads the user: disabled or deleted users, and tokens issued
   * before the user's last password change, lose access at once.
   */
  authenticate(header: string | undefined, audience: Principal['audience']): Promise<Principal>;
  /** Writes one audit entry (inside the caller's transaction). */
  audit(
    db: Db,
    principal: Principal,
    action: string,
    objectType: string,
    objectId: number | null,
    domainId: number | null,
    detail: unknown,
  ): Promise<void>;
  /**
   * Handles change events after a commit: revocation → announce its queued commands; topology →
   * recompute paths and tell the nodes.
   */
  publishChanges(changes: readonly ChangeEvent[]): Promise<void>;
  /** Queues a command for nodes (inside the caller's transaction); returns their ids. */
  queueCommands(db: Db, nodeIds: readonly number[], command: NodeCommandBody): Promise<number[]>;
  /** Announces queued commands on the bus, so the replica holding each node's channel pushes it. */
  announceCommands(kind: BusEvent['kind'], commandIds: readonly number[]): Promise<void>;
  /** The peers an endpoint may reach, with their keys and paths. */
  peersOf(
    db: Db,
    endpoint: { nodeId: number; contractId: number; role: string },
    cache?: PathCache,
  ): Promise<Peer[]>;
}

/**
 * What one path recomputation reads once and uses for every endpoint (the topology, host ids,
 * contracts, each role's members, each domain's transit nodes, each source's shortest-path tree):
 * valid inside one transaction only. Without it, recomputing N endpoints read the whole topology
 * and every node N times and ran N Dijkstras even where sources repeat.
 */
export interface PathCache {
  topology: Map<number, Promise<TopologyLink[]>>;
  hostIds: Map<number, Promise<Map<number, string>>>;
  contracts: Map<number, Promise<{ roles: string; domain_id: number } | undefined>>;
  members: Map<
    string,
    Promise<
      {
        id: number;
        role: string;
        node_id: number;
        host_id: string | null;
        x25519_public_key: string | null;
      }[]
    >
  >;
  trusted: Map<number, Promise<Set<number>>>;
  trees: Map<string, Promise<ReturnType<typeof shortestPaths>>>;
}

/** An empty path cache (one per recomputation or request). */
export function createPathCache(): PathCache {
  return {
    topology: new Map(),
    hostIds: new Map(),
    contracts: new Map(),
    members: new Map(),
    trusted: new Map(),
    trees: new Map(),
  };
}

/**
 * How long a recomputation waits before it starts, so that the changes being committed at that
 * moment (a storm of registrations queued behind the previous run's transaction) share it rather
 * than each getting a run of its own. Every change's call waits that much longer.
 */
export const recomputeCoalesceMs = 20;

/**
 * `work` run one at a time: a call while a run waits to start (`coalesceMs` after the previous
 * run ended, or after the first call) shares that run; a call while one is running gets the next
 * run, which starts after it. Every call's run starts after the call.
 */
export function serialized(work: () => Promise<void>, coalesceMs = 0): () => Promise<void> {
  let tail: Promise<void> = Promise.resolve();
  let waiting: Promise<void> | undefined;
  return () => {
    if (waiting) return waiting;
    const run = tail.then(async () => {
      if (coalesceMs > 0) await new Promise((resolve) => setTimeout(resolve, coalesceMs));
      waiting = undefined;
      return work();
    });
    waiting = run;
    tail = run.catch(() => {});
    return run;
  };
}

/** What the next run of a recomputation covers: everything, or the keys the changes since named. */
class PendingScope<K> {
  #scope: 'all' | Set<K> | undefined;
  /** The next run covers everything. */
  all(): void {
    this.#scope = 'all';
  }
  /** The next run covers `keys` too (it covers them already when it covers everything). */
  add(keys: Iterable<K>): void {
    if (this.#scope === 'all') return;
    this.#scope ??= new Set();
    for (const key of keys) this.#scope.add(key);
  }
  /** The scope gathered, emptied for the run after; undefined when nothing is pending. */
  take(): 'all' | Set<K> | undefined {
    const scope = this.#scope;
    this.#scope = undefined;
    return scope;
  }
}

/** A contract role's key in a path recomputation's scope. */
const roleKey = (contractId: number, role: string) => `${contractId}/${role}`;

/** The value of `key` in `map`, made once by `make`. */
function cached<K, V>(map: Map<K, Promise<V>>, key: K, make: () => Promise<V>): Promise<V> {
  let found = map.get(key);
  if (found === undefined) {
    found = make();
    map.set(key, found);
  }
  return found;
}

/** Builds the shared services. */
export function createContext(
  base: Omit<
    ControllerContext,
    | 'checkCredentials'
    | 'authenticate'
    | 'audit'
    | 'publishChanges'
    | 'queueCommands'
    | 'announceCommands'
    | 'peersOf'
    | 'loginThrottle'
  > & { loginFailuresPerMinute: number },
): ControllerContext {
  const db = base.store.db;
  const loginThrottle = new LoginThrottle({ failuresPerAccountAndAddress: base.loginFailuresPerMinute });
  const iso = () => new Date(base.clock.nowMs()).toISOString();

  const context: ControllerContext = {
    ...base,
    loginThrottle,

    async checkCredentials(body, clientAddress, audience) {
      const now = base.clock.nowMs();
      // Domain and user name as sent (JSON-quoted: neither may hide a separator).
      const account = JSON.stringify([body.domain, body.username]);
      loginThrottle.check(account, clientAddress, now);
      const row = await db
        .selectFrom('users as u')
        .innerJoin('domains as d', 'd.id', 'u.domain_id')
        .select([
          'u.id',
          'u.login',
          'u.password_hash',
          'u.roles',
          'u.active',
          'u.domain_id',
          'u.credential_generation',
          'd.name as domain',
          'd.active as domain_active',
        ])
        .where('d.name', '=', body.domain)
        .where('u.login', '=', body.username)
        .executeTakeFirst();
      const matches = await verifyPassword(body.password, row?.password_hash ?? unmatchableHash);
      // A deactivated user, or any user of a deactivated domain, is refused like a wrong password.
      if (!row || !matches || row.active !== 1 || row.domain_active !== 1) {
        loginThrottle.fail(account, clientAddress, now);
        throw new ApiError('BAD_CREDENTIALS', 'wrong domain, user name or password');
      }
      loginThrottle.succeed(account, clientAddress, now);
      const roles = JSON.parse(row.roles) as RoleName[];
      if (audience === 'node' && !roles.some((role) => role === 'hostOwner' || role === 'engineOwner'))
        throw new ApiError('FORBIDDEN', 'node login needs the hostOwner or engineOwner role');
      return {
        userId: row.id,
        login: row.login,
        domainId: row.domain_id,
        domain: row.domain,
        roles,
        audience,
        credentialGeneration: row.credential_generation,
      };
    },

    async authenticate(header, audience) {
      const principal = await base.tokens.verify(bearerToken(header), audience, base.clock.nowMs());
      const row = (await tokenUserQuery(db, principal.userId)).rows[0];
      if (row?.active !== 1 || row.domain_active !== 1 || row.domain_id !== principal.domainId)
        throw new ApiError(
          'UNAUTHENTICATED',
          'the token’s user (or its domain) no longer exists or is disabled',
        );
      if (row.credential_generation !== principal.credentialGeneration)
        throw new ApiError('UNAUTHENTICATED', 'the user’s password changed after this token was issued');
      return { ...principal, roles: JSON.parse(row.roles) as RoleName[] };
    },

    async audit(trx, principal, action, objectType, objectId, domainId, detail) {
      const redacted =
        detail && typeof detail === 'object'
          ? Object.fromEntries(
              Object.entries(detail as Record<string, unknown>).map(([k, v]) => [
                k,
                secretFields.has(k) ? '***' : v,
              ]),
            )
          : (detail ?? null);
      const text = JSON.stringify(redacted) ?? 'null';
      await auditQuery(
        trx,
        iso(),
        `${principal.login}@${principal.domain}`,
        domainId,
        action,
        objectType,
        objectId,
        text.length > 4000 ? `${text.slice(0, 4000)}…` : text,
      );
    },

    queueCommands: (trx, nodeIds, command) => queueCommands(trx, nodeIds, command, base.clock.nowMs()),

    async announceCommands(kind, commandIds) {
      if (commandIds.length === 0) return;
      // NOTIFY payloads are limited to 8000 bytes: send ids in batches; replicas read the rest.
      for (let i = 0; i < commandIds.length; i += 500)
        await base.bus.publish({
          kind,
          payload: { commandIds: commandIds.slice(i, i + 500) },
          origin: base.replicaId,
        });
    },

    async publishChanges(changes) {
      // Revocations first: they stop flows; new paths only tidy the peers' lists.
      const revocations = changes.flatMap((change) =>
        change.kind === 'revocation' ? ((change.payload as { commandIds?: number[] })?.commandIds ?? []) : [],
      );
      await context.announceCommands('revocation', revocations);
      const linkChanges = changes.filter((change) => change.kind === 'topology' || change.kind === 'links');
      if (linkChanges.length > 0) {
        if (linkChanges.some((change) => change.linkSetNodes === undefined)) pendingLinkSets.all();
        else for (const change of linkChanges) pendingLinkSets.add(change.linkSetNodes!);
        await recomputeLinkSetsSoon();
      }
      // Role routes before paths: engines forward by them; paths only refresh the hosts' peer lists.
      if (
        changes.some(
          (change) => change.kind === 'topology' || change.kind === 'policy' || change.kind === 'joined',
        )
      )
        await recomputeRoleRoutesSoon();
      let paths = false;
      for (const change of changes)
        if (change.kind === 'topology') {
          pendingPaths.all();
          paths = true;
        } else if (change.kind === 'joined' && change.joined) {
          pendingPaths.add([roleKey(change.joined.contractId, change.joined.role)]);
          paths = true;
        }
      if (paths) await recomputePathsSoon();
    },

    async peersOf(trx, endpoint, cache = createPathCache()) {
      const contract = await cached(cache.contracts, endpoint.contractId, () =>
        trx
          .selectFrom('contracts')
          .select(['roles', 'domain_id'])
          .where('id', '=', endpoint.contractId)
          .executeTakeFirst(),
      );
      if (!contract) return [];
      const roles = JSON.parse(contract.roles) as { name: string; peer: string; pathLabels?: string[] }[];
      const mine = roles.find((role) => role.name === endpoint.role);
      if (!mine) return [];
      const peers = await cached(cache.members, `${endpoint.contractId}/${mine.peer}`, () =>
        trx
          .selectFrom('endpoints as e')
          .innerJoin('nodes as n', 'n.id', 'e.node_id')
          .select(['e.id', 'e.role', 'e.node_id', 'n.host_id', 'n.x25519_public_key'])
          .where('e.contract_id', '=', endpoint.contractId)
          .where('e.role', '=', mine.peer)
          .orderBy('e.id')
          .execute(),
      );
      const links = await cached(cache.topology, 0, () => topology(trx));
      // Domain isolation: the contract's domain's paths cross only the nodes it trusts (its own,
      // and engines a peering covers); they may still end at any peer's node.
      const trusted = await cached(cache.trusted, contract.domain_id, () =>
        transitNodes(trx, contract.domain_id),
      );
      const labels = mine.pathLabels ?? [];
      const tree = await cached(
        cache.trees,
        JSON.stringify([endpoint.nodeId, contract.domain_id, labels]),
        async () => {
          base.metrics.pathComputations.inc();
          return shortestPaths(endpoint.nodeId, links, labels, (node) => trusted.has(node));
        },
      );
      const hostIds = await cached(cache.hostIds, 0, async () => {
        const map = new Map<number, string>();
        for (const host of await trx
          .selectFrom('nodes')
          .select(['id', 'host_id'])
          .where('host_id', 'is not', null)
          .execute())
          if (host.host_id !== null) map.set(host.id, host.host_id);
        return map;
      });
      return peers.map((peer) => {
        const path = pathTo(tree, peer.node_id);
        return {
          endpointId: peer.id,
          // Registered nodes have one; a missing one is "" (what the reply serializer writes for
          // null, and what a node skips as unreadable).
          hostId: peer.host_id ?? '',
          role: peer.role,
          x25519PublicKey: peer.x25519_public_key ?? '',
          path: path ? path.nodes.map((node) => hostIds.get(node) ?? '') : [],
          cost: path?.cost ?? -1,
        };
      });
    },
  };

  /**
   * Recomputations, one at a time: a change that arrives while one runs waits for the next run,
   * which starts after the current one and covers every change committed before it started —
   * so a storm of N changes costs a few recomputations, not N, and each caller still returns
   * only once a recomputation that includes its change is queued and announced.
   */
  const recomputePathsSoon = serialized(async () => {
    // The scope of every change made before this run started (a later one adds to the next run's).
    const scope = pendingPaths.take();
    if (scope === undefined) return;
    const end = base.metrics.recomputeSeconds.startTimer({ kind: 'paths' });
    try {
      await recomputePaths(scope);
    } finally {
      end();
    }
  }, recomputeCoalesceMs);
  const recomputeRoleRoutesSoon = serialized(async () => {
    const end = base.metrics.recomputeSeconds.startTimer({ kind: 'role-routes' });
    try {
      await recomputeRoleRoutes();
    } finally {
      end();
    }
  }, recomputeCoalesceMs);

  /** The usable links: admin state and status up, both ends registered. */
  async function topology(trx: Db): Promise<TopologyLink[]> {
    const rows = await trx
      .selectFrom('links as l')
      .innerJoin('nodes as a', 'a.id', 'l.node_a')
      .innerJoin('nodes as z', 'z.id', 'l.node_z')
      .select(['l.node_a', 'l.node_z', 'l.cost', 'l.labels'])
      .where('l.admin_state', '=', 'up')
      .where('l.status', '=', 'up')
      .where('a.status', '=', 'registered')
      .where('z.status', '=', 'registered')
      .execute();
    return rows.map((row) => ({
      nodeA: row.node_a,
      nodeZ: row.node_z,
      cost: row.cost,
      labels: JSON.parse(row.labels) as string[],
    }));
  }

  /**
   * What the next path recomputation covers: every endpoint ('all': the topology changed, or an
   * endpoint left — its role's group key moves to a new epoch), or only the endpoints whose peer
   * role gained a member (`contractId/role` keys). Undefined: nothing pending.
   */
  const pendingPaths = new PendingScope<string>();

  /**
   * What each endpoint was last sent (its node's certificate serial and the SHA-256 of its peers
   * and group keys), by endpoint id: a node gets a path-change only for its endpoints whose view
   * changed, and a node that registered again (a new certificate: it may have lost its memory)
   * gets them all again. Per replica, checked against the store's newest at each run
   * (sent-commands.ts), like the link sets and role routes below.
   */
  const sentPaths = new SentCommands<number>('path-change', base.store.dialect, base.clock);

  /**
   * After a change: the peers, paths and group keys of the endpoints in `scope`, queued (in one
   * transaction) and pushed to each node for its endpoints whose view changed.
   */
  async function recomputePaths(scope: 'all' | Set<string>): Promise<void> {
    const commandIds = await sentPaths.recompute(db, async (trx, run) => {
      const contractIds =
        scope === 'all' ? [] : [...new Set([...scope].map((key) => Number(key.slice(0, key.indexOf('/')))))];
      let query = trx
        .selectFrom('endpoints as e')
        .innerJoin('nodes as n', 'n.id', 'e.node_id')
        .innerJoin('contracts as c', 'c.id', 'e.contract_id')
        .select([
          'e.id',
          'e.node_id',
          'e.contract_id',
          'e.role',
          'n.host_id',
          'n.certificate_serial',
          'c.roles',
        ]);
      if (scope !== 'all') query = query.where('e.contract_id', 'in', contractIds);
      const endpoints = await query.orderBy('e.id').execute();
      const byNode = new Map<number, { endpointId: number; peers: Peer[]; groupKeys: GroupKey[] }[]>();
      const nowMs = base.clock.nowMs();
      const groupSecrets: GroupSecretCache = new Map();
      const pathCache = createPathCache();
      for (const endpoint of endpoints) {
        const roles = JSON.parse(endpoint.roles) as { name: string; peer: string }[];
        const peerRole = roles.find((role) => role.name === endpoint.role)?.peer;
        // A joined member changes only the views of the endpoints that peer with its role.
        if (
          scope !== 'all' &&
          (peerRole === undefined || !scope.has(roleKey(endpoint.contract_id, peerRole)))
        )
          continue;
        const peers = await context.peersOf(
          trx,
          { nodeId: endpoint.node_id, contractId: endpoint.contract_id, role: endpoint.role },
          pathCache,
        );
        // Group keys follow membership: a role whose members changed gets its next epoch here.
        const groupKeys =
          endpoint.host_id === null
            ? []
            : await groupKeysOf(
                trx,
                {
                  id: endpoint.id,
                  contractId: endpoint.contract_id,
                  role: endpoint.role,
                  peerRole,
                  hostId: endpoint.host_id,
                },
                nowMs,
                groupSecrets,
              );
        const digest = createHash('sha256')
          .update(JSON.stringify([peers, groupKeys]))
          .digest('base64');
        if (!run.changed(endpoint.id, endpoint.node_id, endpoint.certificate_serial, digest)) continue;
        const list = byNode.get(endpoint.node_id) ?? [];
        list.push({ endpointId: endpoint.id, peers, groupKeys });
        byNode.set(endpoint.node_id, list);
      }
      // Endpoints gone since (deleted, revoked): forgotten.
      if (scope === 'all') {
        const present = new Set(endpoints.map((endpoint) => endpoint.id));
        sentPaths.retain((id) => present.has(id));
      }
      return [...byNode].map(([nodeId, updates]) => ({ nodeId, command: pathChangeCommand(updates) }));
    });
    await context.announceCommands('path-change', commandIds);
  }

  /**
   * The link set last queued for each node, by node id and certificate serial (a re-registered
   * node gets its set again): a node is told only when its set changes. Per replica, like the
   * role routes below.
   */
  const sentLinkSets = new SentCommands<number>('link-set', base.store.dialect, base.clock);

  /** The nodes whose link sets the next recomputation covers ('all': every node's), if any. */
  const pendingLinkSets = new PendingScope<number>();

  /**
   * Link set recomputations, one at a time, as for paths and role routes: two at once could read
   * the store before and after a change and queue the older set last (on PostgreSQL; SQLite runs
   * one transaction at a time), and a node applies the newest command (docs/agent.md, step 9).
   * Across replicas the kind's lock orders them (sent-commands.ts). A change while one runs gets
   * the next run, which covers every node pending when it starts. No coalescing delay: a closed
   * link reaches its ends at once.
   */
  const recomputeLinkSetsSoon = serialized(async () => {
    const scope = pendingLinkSets.take();
    if (scope !== undefined) await recomputeLinkSets(scope === 'all' ? undefined : [...scope]);
  });

  /**
   * After a topology change or a registration: the link sets of `nodeIds` (every node's when
   * absent), pushed where they changed.
   */
  async function recomputeLinkSets(nodeIds?: readonly number[]): Promise<void> {
    const commandIds = await sentLinkSets.recompute(db, async (trx, run) => {
      const sets = await computeLinkSets(trx, nodeIds);
      if (sets.size === 0) return [];
      const serials = new Map<number, string | null>();
      for (const node of await trx
        .selectFrom('nodes')
        .select(['id', 'certificate_serial'])
        .where('status', '=', 'registered')
        .execute())
        serials.set(node.id, node.certificate_serial);
      const commands: { nodeId: number; command: NodeCommandBody }[] = [];
      for (const [nodeId, links] of sets) {
        const command = linkSetCommand(links);
        const text = JSON.stringify(command.payload);
        const serial = serials.get(nodeId) ?? null;
        if (run.changed(nodeId, nodeId, serial, text)) commands.push({ nodeId, command });
      }
      return commands;
    });
    await context.announceCommands('topology', commandIds);
  }

  /**
   * The role-routes command last queued for each engine, by node id and certificate serial (a
   * re-registered engine starts with none, so it gets its routes again): an engine is told only
   * when its routes change. Per replica; on a replica that has not sent one, the first is sent.
   */
  const sentRoleRoutes = new SentCommands<number>('link-tags', base.store.dialect, base.clock);

  /**
   * After a topology or policy change: every engine's role routes (docs/controller.md, "Role
   * routes"), queued and pushed to the engines whose routes changed.
   */
  async function recomputeRoleRoutes(): Promise<void> {
    const commandIds = await sentRoleRoutes.recompute(db, async (trx, run) => {
      const engines = await trx
        .selectFrom('nodes')
        .select(['id', 'certificate_serial'])
        .where('type', '=', 'engine')
        .where('status', '=', 'registered')
        .orderBy('id')
        .execute();
      if (engines.length === 0) return [];
      const endpoints = await trx
        .selectFrom('endpoints as e')
        .innerJoin('contracts as c', 'c.id', 'e.contract_id')
        .innerJoin('templates as t', 't.id', 'c.template_id')
        .innerJoin('nodes as n', 'n.id', 'e.node_id')
        .innerJoin('authorizations as a', 'a.serial', 'e.authorization_serial')
        .select(['e.node_id', 'e.contract_id', 'e.role', 't.roles'])
        .where('n.status', '=', 'registered')
        .where('c.enabled', '=', 1)
        .where('a.revoked_at', 'is', null)
        .orderBy('e.id')
        .execute();
      const members: TaggedMember[] = [];
      const nearestMembers: TaggedMember[] = [];
      for (const endpoint of endpoints) {
        const roles = JSON.parse(endpoint.roles) as {
          name: string;
          linkTag?: number;
          nearestTag?: number;
        }[];
        const role = roles.find((r) => r.name === endpoint.role);
        if (role?.linkTag !== undefined)
          members.push({ contractId: endpoint.contract_id, tag: role.linkTag, nodeId: endpoint.node_id });
        if (role?.nearestTag !== undefined)
          nearestMembers.push({
            contractId: endpoint.contract_id,
            tag: role.nearestTag,
            nodeId: endpoint.node_id,
          });
      }
      // Label tags: every enabled contract whose template names some, and the labelled nodes.
      const rules: LabelRule[] = [];
      for (const contract of await trx
        .selectFrom('contracts as c')
        .innerJoin('templates as t', 't.id', 'c.template_id')
        .select(['c.id', 't.label_tags'])
        .where('c.enabled', '=', 1)
        .where('t.label_tags', '!=', '[]')
        .execute())
        for (const rule of JSON.parse(contract.label_tags) as { label: string; bit: number }[])
          rules.push({ contractId: contract.id, label: rule.label, bit: rule.bit });
      const nodeLabels = new Map<number, string[]>();
      if (rules.length > 0)
        for (const node of await trx
          .selectFrom('nodes')
          .select(['id', 'labels'])
          .where('status', '=', 'registered')
          .where('labels', '!=', '[]')
          .execute())
          nodeLabels.set(node.id, JSON.parse(node.labels) as string[]);
      const engineIds = engines.map((engine) => engine.id);
      // Nothing tagged anywhere: every engine's routes are empty, no topology to read.
      const links = members.length + nearestMembers.length + rules.length === 0 ? [] : await topology(trx);
      const routes = computeRoleRoutes(engineIds, links, members);
      mergeRoleRoutes(routes, computeNearestRoutes(engineIds, links, nearestMembers));
      const labelled = computeLabelRoutes(engineIds, links, nodeLabels, rules);
      mergeRoleRoutes(routes, labelled.links);
      const hostIds = new Map<number, string>();
      for (const node of await trx
        .selectFrom('nodes')
        .select(['id', 'host_id'])
        .where('host_id', 'is not', null)
        .execute())
        if (node.host_id !== null) hostIds.set(node.id, node.host_id);
      const commands: { nodeId: number; command: NodeCommandBody }[] = [];
      for (const engine of engines) {
        const byContract = routes.get(engine.id) ?? new Map<number, Map<number, number>>();
        const ownTags = labelled.engineTags.get(engine.id) ?? new Map<number, number>();
        for (const contractId of ownTags.keys())
          if (!byContract.has(contractId)) byContract.set(contractId, new Map());
        const command = linkTagsCommand(
          [...byContract]
            .sort(([a], [b]) => a - b)
            .map(([contractId, byNeighbor]) => ({
              contractId,
              engineTags: ownTags.get(contractId) ?? 0,
              links: [...byNeighbor]
                .filter(([neighbor]) => hostIds.has(neighbor))
                .sort(([a], [b]) => a - b)
                .map(([neighbor, tags]) => ({ peer: hostIds.get(neighbor)!, tags })),
            })),
        );
        const text = JSON.stringify(command.payload);
        if (run.changed(engine.id, engine.id, engine.certificate_serial, text))
          commands.push({ nodeId: engine.id, command });
      }
      return commands;
    });
    await context.announceCommands('topology', commandIds);
  }

  return context;
}
