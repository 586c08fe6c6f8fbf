/**
 * The control-plane contract as TypeBox schemas: every request and response body of the
 * northbound API (`/api/v1`) and the southbound protocol (`/sb/v1`). They are plain JSON Schema,
 * so the controller validates with them, the OpenAPI document is generated from them, and the
 * typed client and the CLI share their static types.
 *
 * Conventions: ids are positive integers; times are ISO 8601 strings (UTC); bytes are base64.
 * Every request body rejects unknown fields (`additionalProperties: false`).
 */
import { type Static, type TSchema, Type } from 'typebox';

const closed = { additionalProperties: false } as const;

/** The largest object id (the stores' 32-bit signed integer keys). */
export const ID_MAX = 2_147_483_647;
/** An object id (positive integer, assigned by the store). */
export const Id = Type.Integer({ minimum: 1, maximum: ID_MAX });
/** A name: letters, digits, `.`, `_`, `-`; starts with a letter or digit; ≤ 60 characters. */
export const Name = Type.String({ minLength: 1, maxLength: 60, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });
/** Free text (descriptions), ≤ 255 characters; stored as given. */
export const Description = Type.String({ maxLength: 255 });
/**
 * A password as sent by a client when it is set (at most 128 characters). Whether it is strong
 * enough is `passwordProblem`'s rule (password-policy.ts), answered as WEAK_PASSWORD.
 */
export const Password = Type.String({ minLength: 1, maxLength: 128 });
/** Base64 bytes (standard alphabet, padded), bounded by `maxLength` characters. */
export const Base64 = (maxLength: number) => Type.String({ maxLength, pattern: '^[A-Za-z0-9+/]*={0,2}$' });
/** An ISO 8601 timestamp. */
export const Timestamp = Type.String({ maxLength: 40 });
/** An IPv6 address in text form (a CGA host address). */
export const Ipv6Address = Type.String({ minLength: 2, maxLength: 45, pattern: '^[0-9A-Fa-f:]+$' });
/** An IPv6 /64 prefix in text form, e.g. `fd00:1:2:3::/64`. */
export const Netprefix = Type.String({ maxLength: 49, pattern: '^[0-9A-Fa-f:]+/64$' });
/** An underlay endpoint `host:port` (IPv4 `a.b.c.d:p` or IPv6 `[x::y]:p`). */
export const Locator = Type.String({
  maxLength: 64,
  pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$',
});

/** The roles a user may hold. */
export const roleNames = ['systemAdmin', 'domainAdmin', 'contractAdmin', 'hostOwner', 'engineOwner'] as const;
/** One of the roles a user may hold. */
export type RoleName = (typeof roleNames)[number];
/** Schema of a role name. */
export const RoleNameSchema = Type.Union([
  Type.Literal('systemAdmin'),
  Type.Literal('domainAdmin'),
  Type.Literal('contractAdmin'),
  Type.Literal('hostOwner'),
  Type.Literal('engineOwner'),
]);

/** The pagination query of every list. */
export const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  },
  closed,
);
/** The pagination query of every list. */
export type ListQuery = Static<typeof ListQuery>;
/** A list response: one page of items and the total count. */
export const ListOf = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), total: Type.Integer() });
/** A list response. */
export interface List<T> {
  items: T[];
  total: number;
}
/** The `:id` path parameter. */
export const IdParams = Type.Object({ id: Id }, closed);
/** How an id is written in a path: decimal, no sign, no leading zero, no exponent, no blank. */
export const idPathPattern = /^[1-9][0-9]{0,9}$/;
/**
 * An id as written in a path (`/users/12`), read strictly: `idPathPattern` and at most `Id`'s
 * maximum, else undefined. `0x1`, `1e0`, `01`, `+1`, ` 1` and `1.0` are not ids (a lenient
 * Number() would have read them all as 1). Never throws.
 */
export function parseIdText(text: string): number | undefined {
  if (!idPathPattern.test(text)) return undefined;
  const id = Number(text);
  return id <= ID_MAX ? id : undefined;
}
/** The body of every error response. */
export const ErrorBody = Type.Object({ code: Type.String(), message: Type.String() });

// ---- authentication ----------------------------------------------------------------------

/** `POST /api/v1/auth/token` and `POST /sb/v1/login` request. */
export const TokenRequest = Type.Object(
  {
    domain: Name,
    username: Type.String({ minLength: 1, maxLength: 60 }),
    password: Type.String({ maxLength: 128 }),
  },
  closed,
);
export type TokenRequest = Static<typeof TokenRequest>;
/** `POST /api/v1/auth/token` response. */
export const TokenResponse = Type.Object({ token: Type.String(), expiresAt: Timestamp });
export type TokenResponse = Static<typeof TokenResponse>;

/** Who made a link (`Link.origin`). */
export const LinkOrigin = Type.Union([Type.Literal('admin'), Type.Literal('node')]);
/** Link admin state. */
export const AdminState = Type.Union([Type.Literal('up'), Type.Literal('down')]);
/** A link label (path selection). */
export const Label = Type.String({ minLength: 1, maxLength: 40, pattern: '^[A-Za-z0-9._-]+$' });

// ---- domains -----------------------------------------------------------------------------

/** Domain kinds (original: application/user, infrastructure/network, administrative). */
export const DomainKind = Type.Union([
  Type.Literal('application'),
  Type.Literal('infrastructure'),
  Type.Literal('administrative'),
]);
export const Domain = Type.Object({
  id: Id,
  name: Name,
  kind: DomainKind,
  authMethod: Type.Literal('local'),
  description: Description,
  /**
   * False: deactivated — its endpoints and those of its nodes are revoked, its users and nodes
   * may not log in, nothing registers in it (docs/controller.md, "Lifecycle").
   */
  active: Type.Boolean(),
  createdAt: Timestamp,
});
export type Domain = Static<typeof Domain>;
export const DomainCreate = Type.Object(
  {
    name: Name,
    kind: DomainKind,
    description: Type.Optional(Description),
    active: Type.Optional(Type.Boolean()),
  },
  closed,
);
export type DomainCreate = Static<typeof DomainCreate>;
export const DomainPatch = Type.Object(
  {
    kind: Type.Optional(DomainKind),
    description: Type.Optional(Description),
    active: Type.Optional(Type.Boolean()),
  },
  closed,
);
export type DomainPatch = Static<typeof DomainPatch>;

// ---- users -------------------------------------------------------------------------------

export const User = Type.Object({
  id: Id,
  login: Name,
  domain: Name,
  domainId: Id,
  roles: Type.Array(RoleNameSchema),
  active: Type.Boolean(),
  zoneId: Type.Union([Id, Type.Null()]),
  createdAt: Timestamp,
});
export type User = Static<typeof User>;
export const UserCreate = Type.Object(
  {
    login: Name,
    /** Domain name; defaults to the caller's domain. */
    domain: Type.Optional(Name),
    password: Password,
    roles: Type.Array(RoleNameSchema, { minItems: 1, maxItems: 5, uniqueItems: true }),
    active: Type.Optional(Type.Boolean()),
    /** The zone a node user registers in (its netprefix is the login scope). */
    zoneId: Type.Optional(Id),
  },
  closed,
);
export type UserCreate = Static<typeof UserCreate>;
export const UserPatch = Type.Object(
  {
    password: Type.Optional(Password),
    roles: Type.Optional(Type.Array(RoleNameSchema, { minItems: 1, maxItems: 5, uniqueItems: true })),
    active: Type.Optional(Type.Boolean()),
    zoneId: Type.Optional(Type.Union([Id, Type.Null()])),
  },
  closed,
);
export type UserPatch = Static<typeof UserPatch>;

// ---- zones -------------------------------------------------------------------------------

export const Zone = Type.Object({
  id: Id,
  name: Name,
  netprefix: Netprefix,
  primaryController: Type.String(),
  secondaryController: Type.String(),
  description: Description,
  /** Zone policy "full mesh": every engine of the zone links to every other (docs/controller.md, "Engine links"). */
  engineMesh: Type.Boolean(),
  createdAt: Timestamp,
});
export type Zone = Static<typeof Zone>;
export const ZoneCreate = Type.Object(
  {
    name: Name,
    netprefix: Netprefix,
    primaryController: Type.Optional(Type.String({ maxLength: 255 })),
    secondaryController: Type.Optional(Type.String({ maxLength: 255 })),
    description: Type.Optional(Description),
    engineMesh: Type.Optional(Type.Boolean()),
  },
  closed,
);
export type ZoneCreate = Static<typeof ZoneCreate>;
export const ZonePatch = Type.Object(
  {
    primaryController: Type.Optional(Type.String({ maxLength: 255 })),
    secondaryController: Type.Optional(Type.String({ maxLength: 255 })),
    description: Type.Optional(Description),
    engineMesh: Type.Optional(Type.Boolean()),
  },
  closed,
);
export type ZonePatch = Static<typeof ZonePatch>;

// ---- nodes -------------------------------------------------------------------------------

export const NodeType = Type.Union([Type.Literal('host'), Type.Literal('engine')]);
export const NodeStatus = Type.Union([
  Type.Literal('provisioned'),
  Type.Literal('registered'),
  Type.Literal('down'),
]);
export const Node = Type.Object({
  id: Id,
  domain: Name,
  domainId: Id,
  type: NodeType,
  hostname: Type.String(),
  zoneId: Id,
  ownerUserId: Type.Union([Id, Type.Null()]),
  hostId: Type.Union([Ipv6Address, Type.Null()]),
  locator: Type.Union([Type.String(), Type.Null()]),
  status: NodeStatus,
  rsaPublicKey: Type.Union([Type.String(), Type.Null()]),
  x25519PublicKey: Type.Union([Type.String(), Type.Null()]),
  certificateSerial: Type.Union([Type.String(), Type.Null()]),
  lastKeepaliveAt: Type.Union([Timestamp, Type.Null()]),
  labels: Type.Array(Type.String()),
  createdAt: Timestamp,
});
export type Node = Static<typeof Node>;
export const Hostname = Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9][A-Za-z0-9.-]*$' });
export const NodeCreate = Type.Object(
  {
    type: NodeType,
    hostname: Hostname,
    zoneId: Id,
    domain: Type.Optional(Name),
    locator: Type.Optional(Locator),
  },
  closed,
);
export type NodeCreate = Static<typeof NodeCreate>;
export const NodePatch = Type.Object(
  {
    hostname: Type.Optional(Hostname),
    locator: Type.Optional(Locator),
    status: Type.Optional(NodeStatus),
    /** Replaces the node's labels (a waypoint engine: `waypoint`); kept across re-registration. */
    labels: Type.Optional(Type.Array(Label, { maxItems: 16, uniqueItems: true })),
  },
  closed,
);
export type NodePatch = Static<typeof NodePatch>;

// ---- links -------------------------------------------------------------------------------

export const Link = Type.Object({
  id: Id,
  domain: Name,
  domainId: Id,
  nodeA: Id,
  nodeZ: Id,
  endpointA: Type.Union([Type.String(), Type.Null()]),
  endpointZ: Type.Union([Type.String(), Type.Null()]),
  cost: Type.Integer(),
  labels: Type.Array(Type.String()),
  adminState: AdminState,
  status: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  /**
   * `admin`: declared (northbound create): its ends are told to have it (the link set). `node`:
   * registered by a node that made it on its own (a zone's full mesh, a host with no declared
   * attachment).
   */
  origin: LinkOrigin,
  createdAt: Timestamp,
});
export type Link = Static<typeof Link>;
/** Most nodes a chain create names between its two ends (`via`). */
export const maxLinkChainVia = 8;
export const LinkCreate = Type.Object(
  {
    nodeA: Id,
    nodeZ: Id,
    /**
     * A chain in one call: nodeA–via[0]–…–via[n-1]–nodeZ, one link between each consecutive pair
     * (not nodeA–nodeZ), all with the same cost, labels and admin state; the answer is the first.
     */
    via: Type.Optional(Type.Array(Id, { maxItems: maxLinkChainVia })),
    endpointA: Type.Optional(Locator),
    endpointZ: Type.Optional(Locator),
    cost: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    labels: Type.Optional(Type.Array(Label, { maxItems: 16, uniqueItems: true })),
    adminState: Type.Optional(AdminState),
    domain: Type.Optional(Name),
  },
  closed,
);
export type LinkCreate = Static<typeof LinkCreate>;
export const LinkPatch = Type.Object(
  {
    cost: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    labels: Type.Optional(Type.Array(Label, { maxItems: 16, uniqueItems: true })),
    adminState: Type.Optional(AdminState),
    status: Type.Optional(Type.Union([Type.Literal('up'), Type.Literal('down')])),
  },
  closed,
);
export type LinkPatch = Static<typeof LinkPatch>;

// ---- peerings ------------------------------------------------------------------------------

/**
 * A peering: domain `domain` trusts the engines of `peerDomain` — all of them, or only engine
 * `engineId` — to link with its nodes and to carry its paths. Only a systemAdmin creates one.
 * Without a peering a node links only to engines of its own domain, and a domain's paths cross only
 * its own engines (docs/controller.md, "Domains and peering").
 */
export const Peering = Type.Object({
  id: Id,
  /** The trusting domain: its nodes may link with the peer's engines, its paths may cross them. */
  domain: Name,
  domainId: Id,
  /** The domain whose engines are trusted. */
  peerDomain: Name,
  peerDomainId: Id,
  /** One engine of the peer domain; null: every engine of it. */
  engineId: Type.Union([Id, Type.Null()]),
  description: Description,
  createdAt: Timestamp,
});
export type Peering = Static<typeof Peering>;
export const PeeringCreate = Type.Object(
  {
    domain: Name,
    peerDomain: Name,
    engineId: Type.Optional(Id),
    description: Type.Optional(Description),
  },
  closed,
);
export type PeeringCreate = Static<typeof PeeringCreate>;
export const PeeringPatch = Type.Object({ description: Type.Optional(Description) }, closed);
export type PeeringPatch = Static<typeof PeeringPatch>;

// ---- templates ---------------------------------------------------------------------------

/** Program images are at most this many bytes of code (a capsule CODE chunk is small). */
export const maxCodeBytes = 16 * 1024;
/** One named field of a program's DATA record (an @Data static, or an assembler `.data` label). */
export const DataField = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    /** Byte offset in the DATA record. */
    offset: Type.Integer({ minimum: 0, maximum: 4095 }),
    size: Type.Integer({ minimum: 0, maximum: 4096 }),
    /** Java type (`int`, `byte[]`, …) or `bytes`. */
    type: Type.String({ maxLength: 40 }),
  },
  closed,
);
export type DataField = Static<typeof DataField>;
/**
 * A program image (@capsule/wire's ProgramImage) in its transfer form, what templates hold and
 * endpoints receive: the machine code (base64), the entry table (name → byte offset into the code),
 * the DATA record's size, initial bytes (base64) and named fields (which template and contract
 * variables set). program-image.ts converts to it and reads it. The logic hash is SHA-256 of the
 * code bytes (wire's `logicHashOf`).
 */
export const ProgramImageTransfer = Type.Object(
  {
    code: Base64(Math.ceil(maxCodeBytes / 3) * 4),
    entries: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.Integer({ minimum: 0 }), {
      maxProperties: 32,
    }),
    dataSize: Type.Integer({ minimum: 0, maximum: 4096 }),
    data: Type.Optional(Base64(6000)),
    layout: Type.Optional(Type.Array(DataField, { maxItems: 256 })),
  },
  closed,
);
export type ProgramImageTransfer = Static<typeof ProgramImageTransfer>;
/** Variables: DATA field name → integer value, written little-endian into the field (1, 2, 4 or 8 bytes). */
export const Variables = Type.Record(
  Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }),
  Type.Integer({ minimum: -2147483648, maximum: 4294967295 }),
  { maxProperties: 64 },
);
export type Variables = Static<typeof Variables>;
export const TemplateRole = Type.Object(
  {
    name: Name,
    /** The entry point (a key of the image's entry table) this role's packets start at. */
    entry: Type.String({ maxLength: 60 }),
    variables: Type.Optional(Variables),
    /**
     * A link tag bit (0..31) the controller computes for this template's programs: on every
     * engine, the links that lead (on the shortest path) toward a member of this role carry it, in
     * the contract's view of the ENGINE record (docs/controller.md, "Role routes").
     */
    linkTag: Type.Optional(Type.Integer({ minimum: 0, maximum: 31 })),
    /**
     * A link tag bit (0..31) for the nearest member only: on every engine, the one link that is
     * the first hop of the cheapest path to the nearest member of this role (lowest total path
     * cost) carries it (docs/controller.md, "Role routes": nearest member).
     */
    nearestTag: Type.Optional(Type.Integer({ minimum: 0, maximum: 31 })),
  },
  closed,
);
export type TemplateRole = Static<typeof TemplateRole>;
/**
 * A label's tag bit for a template's programs: on every engine, bit `bit` is set in the engine's
 * tags when the engine carries the label, and in a link's tags when the link carries it or leads
 * (on the shortest path) toward a node that carries it (docs/controller.md, "Role routes").
 */
export const LabelTag = Type.Object({ label: Label, bit: Type.Integer({ minimum: 0, maximum: 31 }) }, closed);
export type LabelTag = Static<typeof LabelTag>;
export const Orientation = Type.Union([Type.Literal('directed'), Type.Literal('undirected')]);
export const Template = Type.Object({
  id: Id,
  domain: Name,
  domainId: Id,
  name: Name,
  description: Description,
  orientation: Orientation,
  multicast: Type.Boolean(),
  image: ProgramImageTransfer,
  roles: Type.Array(TemplateRole),
  labelTags: Type.Array(LabelTag),
  /** SHA-256 of the image's code, hex: the logic hash its endpoints' flow authorizations carry. */
  logicHash: Type.String(),
  /** False: disabled — the endpoints of every contract on it are revoked, none may register. */
  enabled: Type.Boolean(),
  createdAt: Timestamp,
});
export type Template = Static<typeof Template>;
export const TemplateCreate = Type.Object(
  {
    name: Name,
    domain: Type.Optional(Name),
    description: Type.Optional(Description),
    orientation: Type.Optional(Orientation),
    multicast: Type.Optional(Type.Boolean()),
    image: ProgramImageTransfer,
    roles: Type.Array(TemplateRole, { minItems: 1, maxItems: 16 }),
    labelTags: Type.Optional(Type.Array(LabelTag, { maxItems: 32 })),
    enabled: Type.Optional(Type.Boolean()),
  },
  closed,
);
export type TemplateCreate = Static<typeof TemplateCreate>;
export const TemplatePatch = Type.Object(
  {
    description: Type.Optional(Description),
    multicast: Type.Optional(Type.Boolean()),
    labelTags: Type.Optional(Type.Array(LabelTag, { maxItems: 32 })),
    enabled: Type.Optional(Type.Boolean()),
  },
  closed,
);
export type TemplatePatch = Static<typeof TemplatePatch>;

// ---- contracts ---------------------------------------------------------------------------

export const ContractRole = Type.Object(
  {
    /** A role of the template. */
    name: Name,
    /** The role (of this contract) that this role may talk to. */
    peer: Name,
    /** Variable overrides for this contract. */
    variables: Type.Optional(Variables),
    /** Paths to the peers use only links carrying all these labels. */
    pathLabels: Type.Optional(Type.Array(Label, { maxItems: 8, uniqueItems: true })),
  },
  closed,
);
export type ContractRole = Static<typeof ContractRole>;
export const Contract = Type.Object({
  id: Id,
  domain: Name,
  domainId: Id,
  templateId: Id,
  name: Name,
  description: Description,
  enabled: Type.Boolean(),
  roles: Type.Array(ContractRole),
  /** `<role>.<contract>.<domain>.capsule` for every role. */
  dnsNames: Type.Array(Type.String()),
  createdAt: Timestamp,
});
export type Contract = Static<typeof Contract>;
export const ContractCreate = Type.Object(
  {
    name: Name,
    templateId: Id,
    domain: Type.Optional(Name),
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean()),
    roles: Type.Array(ContractRole, { minItems: 1, maxItems: 16 }),
  },
  closed,
);
export type ContractCreate = Static<typeof ContractCreate>;
export const ContractPatch = Type.Object(
  {
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean()),
    roles: Type.Optional(Type.Array(ContractRole, { minItems: 1, maxItems: 16 })),
  },
  closed,
);
export type ContractPatch = Static<typeof ContractPatch>;

// ---- services and service tokens ---------------------------------------------------------

export const Grant = Type.Object({ contractId: Id, role: Name }, closed);
export type Grant = Static<typeof Grant>;
export const Service = Type.Object({
  id: Id,
  domain: Name,
  domainId: Id,
  name: Name,
  description: Description,
  enabled: Type.Boolean(),
  grants: Type.Array(Grant),
  createdAt: Timestamp,
});
export type Service = Static<typeof Service>;
export const ServiceCreate = Type.Object(
  {
    name: Name,
    domain: Type.Optional(Name),
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean()),
    grants: Type.Optional(Type.Array(Grant, { maxItems: 64 })),
  },
  closed,
);
export type ServiceCreate = Static<typeof ServiceCreate>;
export const ServicePatch = Type.Object(
  {
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean()),
    grants: Type.Optional(Type.Array(Grant, { maxItems: 64 })),
  },
  closed,
);
export type ServicePatch = Static<typeof ServicePatch>;

export const ServiceToken = Type.Object({
  id: Id,
  serviceId: Id,
  domain: Name,
  domainId: Id,
  /** The last 4 hex digits of the secret, to tell tokens apart. */
  ident: Type.String(),
  expiresAt: Timestamp,
  createdAt: Timestamp,
  /** `id:secret` — present only in the response that creates the token. */
  token: Type.Optional(Type.String()),
});
export type ServiceToken = Static<typeof ServiceToken>;
export const ServiceTokenCreate = Type.Object(
  { serviceId: Id, ttlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 10 * 365 * 86400 })) },
  closed,
);
export type ServiceTokenCreate = Static<typeof ServiceTokenCreate>;
export const ServiceTokenPatch = Type.Object(
  { ttlSeconds: Type.Integer({ minimum: 0, maximum: 10 * 365 * 86400 }) },
  closed,
);
export type ServiceTokenPatch = Static<typeof ServiceTokenPatch>;

// ---- endpoints, authorizations, audit (read) -----------------------------------------------

export const Endpoint = Type.Object({
  id: Id,
  domain: Name,
  domainId: Id,
  serviceId: Id,
  nodeId: Id,
  contractId: Id,
  role: Name,
  hostId: Ipv6Address,
  authorizationSerial: Type.String(),
  createdAt: Timestamp,
});
export type Endpoint = Static<typeof Endpoint>;

export const Authorization = Type.Object({
  id: Id,
  /** The 64-bit serial in decimal. */
  serial: Type.String(),
  domain: Name,
  domainId: Id,
  /** The endpoint it was issued for; null once that endpoint is gone (unregistered, revoked, its node decommissioned). */
  endpointId: Type.Union([Id, Type.Null()]),
  contractId: Id,
  role: Name,
  roleId: Type.Integer(),
  nodeId: Id,
  hostId: Ipv6Address,
  logicHash: Type.String(),
  notBefore: Timestamp,
  notAfter: Timestamp,
  revokedAt: Type.Union([Timestamp, Type.Null()]),
  /** The signed FlowAuthorization (AUTH chunk value), base64. */
  signed: Type.String(),
});
export type Authorization = Static<typeof Authorization>;

export const AuditEntry = Type.Object({
  id: Id,
  at: Timestamp,
  actor: Type.String(),
  domainId: Type.Union([Id, Type.Null()]),
  action: Type.String(),
  objectType: Type.String(),
  objectId: Type.Union([Type.Integer(), Type.Null()]),
  detail: Type.String(),
});
export type AuditEntry = Static<typeof AuditEntry>;

// ---- topology and traces (read: what the console draws) ------------------------------------

/** One node as the topology view draws it. */
export const TopologyNode = Type.Object({
  id: Id,
  hostname: Type.String(),
  type: NodeType,
  status: NodeStatus,
  domain: Name,
  hostId: Type.Union([Ipv6Address, Type.Null()]),
  labels: Type.Array(Type.String()),
  /**
   * Flow authorizations in force on this node (not revoked, not expired): one per endpoint the
   * node's host registered. Null when the caller may not read authorizations.
   */
  flows: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  /**
   * How many of the controller's computed paths (endpoint → peer) pass through or end at this
   * node: an engine's transit load. Null when the caller may not read endpoints.
   */
  paths: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  /**
   * The node's own count of the flows it holds, from its last keep-alive's statistics (an engine's
   * `liveFlows`): null until it reported one.
   */
  liveFlows: Type.Union([Type.Number(), Type.Null()]),
  /** When that keep-alive came (null: none yet). */
  lastKeepaliveAt: Type.Union([Timestamp, Type.Null()]),
});
export type TopologyNode = Static<typeof TopologyNode>;
/** One link as the topology view draws it. */
export const TopologyLinkState = Type.Object({
  id: Id,
  nodeA: Id,
  nodeZ: Id,
  cost: Type.Integer(),
  labels: Type.Array(Type.String()),
  adminState: AdminState,
  status: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  /** Path computation uses it: admin state and status up, both ends registered. */
  usable: Type.Boolean(),
  /**
   * How many of the controller's computed paths (endpoint → peer, what the endpoints' hosts were
   * sent) cross this link. Null when the caller may not read endpoints.
   */
  flows: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
});
export type TopologyLinkState = Static<typeof TopologyLinkState>;
/** `GET /api/v1/topology`: the nodes and links the caller may see, with flow counts. */
export const Topology = Type.Object({
  nodes: Type.Array(TopologyNode),
  links: Type.Array(TopologyLinkState),
  /** When the counts were taken (the controller's clock). */
  at: Timestamp,
});
export type Topology = Static<typeof Topology>;

/** One hop of a traced path: a node, and the link it was reached over (null for the first). */
export const TraceHop = Type.Object({
  nodeId: Id,
  hostname: Type.String(),
  type: NodeType,
  hostId: Type.Union([Ipv6Address, Type.Null()]),
  linkId: Type.Union([Id, Type.Null()]),
});
export type TraceHop = Static<typeof TraceHop>;
/** The path from an endpoint's node to one peer endpoint's node, as the controller computed it. */
export const TracePath = Type.Object({
  peerEndpointId: Id,
  peerRole: Name,
  peerHostId: Type.String(),
  /** The path's total cost; -1 when the peer is unreachable (then `hops` is empty). */
  cost: Type.Integer(),
  hops: Type.Array(TraceHop),
});
export type TracePath = Static<typeof TracePath>;
/** `GET /api/v1/endpoints/{id}/trace`: an endpoint's computed paths to each of its peers. */
export const EndpointTrace = Type.Object({
  endpointId: Id,
  contractId: Id,
  role: Name,
  nodeId: Id,
  paths: Type.Array(TracePath),
});
export type EndpointTrace = Static<typeof EndpointTrace>;

// ---- southbound --------------------------------------------------------------------------

/** `POST /sb/v1/login` response: a node token and the user's profile with its scope. */
export const SbLoginResponse = Type.Object({
  token: Type.String(),
  expiresAt: Timestamp,
  profile: Type.Object({
    userId: Id,
    login: Type.String(),
    domain: Type.String(),
    domainId: Id,
    roles: Type.Array(RoleNameSchema),
    scope: Type.Object({ zoneId: Id, zone: Type.String(), netprefix: Netprefix }),
  }),
});
export type SbLoginResponse = Static<typeof SbLoginResponse>;

/** `POST /sb/v1/nonce` response: a single-use nonce to sign when registering. */
export const SbNonceResponse = Type.Object({ nonce: Type.String(), expiresAt: Timestamp });
export type SbNonceResponse = Static<typeof SbNonceResponse>;

/** `POST /sb/v1/register` request. */
export const SbRegisterRequest = Type.Object(
  {
    nonce: Base64(64),
    type: NodeType,
    hostname: Hostname,
    locator: Locator,
    /** The CGA address (the host id) the node claims. */
    hostId: Ipv6Address,
    /** The CGA Parameters data structure (RFC 3972 section 3), base64. */
    cgaParameters: Base64(2048),
    /** The RSA public key (DER SubjectPublicKeyInfo), base64 — the key inside the CGA parameters. */
    rsaPublicKey: Base64(1024),
    /** The X25519 public key (32 bytes raw), base64. */
    x25519PublicKey: Base64(44),
    /** RSA signature over `registrationSigningInput(...)`, base64. */
    signature: Base64(1024),
  },
  closed,
);
export type SbRegisterRequest = Static<typeof SbRegisterRequest>;

/** Most peers one link set names. */
export const maxLinkSetLinks = 1024;
/** One link a node must have: the peer, where it is, the link's cost, and whether this end dials. */
export const LinkSetEntry = Type.Object({
  /** The peer's host id (its CGA). */
  peer: Ipv6Address,
  /** The peer's host name (logs). */
  name: Type.String({ maxLength: 253 }),
  /** The peer's underlay locator `host:port`. */
  locator: Locator,
  /** The link's cost at the controller (programs see it in the ENGINE record's link table). */
  cost: Type.Integer({ minimum: 1, maximum: 65535 }),
  /** True: this end starts the handshake (one end per link does; the other answers). */
  dial: Type.Boolean(),
});
export type LinkSetEntry = Static<typeof LinkSetEntry>;
/**
 * `link-set`: every overlay link the node must have, all of them (each command replaces the
 * previous one): the node connects to the peers it dials and closes the links of a previous set
 * that this one no longer names (docs/controller.md, "Engine links").
 */
export const LinkSetPayload = Type.Object({
  links: Type.Array(LinkSetEntry, { maxItems: maxLinkSetLinks }),
});
export type LinkSetPayload = Static<typeof LinkSetPayload>;
export const SbConfiguration = Type.Object({
  keepaliveIntervalMs: Type.Integer(),
  zone: Zone,
  eventsPath: Type.String(),
  links: Type.Array(Link),
  /** The links this node must have now (the first `link-set`; later ones are pushed). */
  linkSet: Type.Optional(LinkSetPayload),
});
export type SbConfiguration = Static<typeof SbConfiguration>;

/** Most controller keys trusted at once (the current one, an announced one, previous ones in their overlap). */
export const CONTROLLER_KEYS_MAX = 8;

/**
 * One controller signing key as nodes learn it (registration and keep-alive answers): nodes
 * verify node certificates and flow authorizations naming its key id until `notAfter`.
 */
export const ControllerKeyInfo = Type.Object(
  {
    /** The 16-bit key id (the first two bytes of SHA-256 over the raw public key). */
    keyId: Type.Integer({ minimum: 0, maximum: 0xffff }),
    /** The raw 32-byte Ed25519 public key, base64. */
    publicKey: Base64(44),
    /** When its signatures stop being accepted (ISO 8601); null for the current or announced key. */
    notAfter: Type.Union([Timestamp, Type.Null()]),
  },
  closed,
);
export type ControllerKeyInfo = Static<typeof ControllerKeyInfo>;
/** The keys nodes trust (`capsule rotate signing-key`; docs/security.md). */
export const ControllerKeyList = Type.Array(ControllerKeyInfo, { maxItems: CONTROLLER_KEYS_MAX });

/** A key of the controller's signing key ring (`GET /api/v1/signing-keys`; docs/security.md). */
export const SigningKey = Type.Object({
  keyId: Type.Integer({ minimum: 0, maximum: 0xffff }),
  /** The raw 32-byte Ed25519 public key, base64. */
  publicKey: Base64(44),
  /** 'announced': trusted by nodes, signs from `activatesAt`; 'signing'; 'retiring': trusted until `retiresAt`. */
  state: Type.Union([Type.Literal('announced'), Type.Literal('signing'), Type.Literal('retiring')]),
  activatesAt: Timestamp,
  retiresAt: Type.Union([Timestamp, Type.Null()]),
});
export type SigningKey = Static<typeof SigningKey>;
/** `GET /api/v1/signing-keys` response: the keys nodes trust now, newest first. */
export const SigningKeyList = Type.Object({ items: Type.Array(SigningKey) });
export type SigningKeyList = Static<typeof SigningKeyList>;
/** `POST /api/v1/signing-keys/rotate` response: the new key and the one it replaces. */
export const SigningKeyRotation = Type.Object({ key: SigningKey, replaced: SigningKey });
export type SigningKeyRotation = Static<typeof SigningKeyRotation>;

/** `POST /sb/v1/register` response. */
export const SbRegisterResponse = Type.Object({
  node: Node,
  /** A bearer token bound to this node, for links, keep-alives, endpoints and the push channel. */
  token: Type.String(),
  expiresAt: Timestamp,
  /** The controller-signed node certificate, base64. */
  certificate: Type.String(),
  /** The controller's Ed25519 public key (raw 32 bytes), base64: the key it signs with now. */
  controllerPublicKey: Type.String(),
  /**
   * Every key nodes must trust now: the one it signs with, one announced by a rotation that it
   * signs with from its activation, and the ones a rotation replaced, each until its overlap ends.
   * Absent from controllers before rotation existed: then `controllerPublicKey` alone.
   */
  controllerKeys: Type.Optional(ControllerKeyList),
  configuration: SbConfiguration,
});
export type SbRegisterResponse = Static<typeof SbRegisterResponse>;

/** `POST /sb/v1/links` request: a link a node established with a neighbor. */
export const SbLinkRequest = Type.Object(
  {
    peerHostId: Ipv6Address,
    localEndpoint: Locator,
    remoteEndpoint: Locator,
    cost: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    /** The link's state as this end sees it (default up): a node reports a dead link down, then up again. */
    status: Type.Optional(Type.Union([Type.Literal('up'), Type.Literal('down')])),
  },
  closed,
);
export type SbLinkRequest = Static<typeof SbLinkRequest>;

/** Most command ids one keep-alive acknowledges (the rest go with the next). */
export const COMMAND_ACKS_MAX = 1000;

export const SbKeepaliveRequest = Type.Object(
  {
    statistics: Type.Optional(
      Type.Record(Type.String({ maxLength: 60 }), Type.Number(), { maxProperties: 64 }),
    ),
    /**
     * The ids of the commands the node took in since its last keep-alive that went through (from
     * keep-alive answers and the push channel). A node that sends it (even empty) gets every
     * command of its own again, in each keep-alive answer, until it acknowledges it; one that
     * never does gets each once (docs/controller.md, "Commands").
     */
    acked: Type.Optional(Type.Array(Id, { maxItems: COMMAND_ACKS_MAX })),
  },
  closed,
);
export type SbKeepaliveRequest = Static<typeof SbKeepaliveRequest>;
/** `POST /sb/v1/endpoints` request: an application (through its agent) asks for a role. */
export const SbEndpointRequest = Type.Object(
  {
    /** The service's token, `id:secret`. */
    serviceToken: Type.String({ minLength: 3, maxLength: 200 }),
    contract: Name,
    role: Name,
  },
  closed,
);
export type SbEndpointRequest = Static<typeof SbEndpointRequest>;

/**
 * Bounds of a path-change command — endpoints of one node, peers of one endpoint, hops of a path —
 * and of a peer list. Far above what a fabric reaches (a peer list is all endpoints of the peer
 * role, so it is the largest): they exist to refuse absurd input, not to limit deployments.
 */
export const maxPathChangeEndpoints = 4096;
export const maxPeers = 65_536;
export const maxPathHops = 255;

export const Peer = Type.Object({
  endpointId: Id,
  hostId: Ipv6Address,
  role: Type.String({ maxLength: 60 }),
  /** Raw 32 bytes, base64 (empty when the peer's node has no key). */
  x25519PublicKey: Type.String({ maxLength: 64 }),
  /** Host ids from this node to the peer (both ends included); empty when unreachable. */
  path: Type.Array(Ipv6Address, { maxItems: maxPathHops }),
  /** The path's cost; -1 when unreachable. */
  cost: Type.Integer({ minimum: -1 }),
});
export type Peer = Static<typeof Peer>;

/** Most serials one revocation command names. */
export const maxRevocationSerials = 4096;
/** A flow authorization's serial: an unsigned 64-bit number in decimal. */
export const SerialText = Type.String({ minLength: 1, maxLength: 20, pattern: '^[0-9]+$' });

/** Most decommissioned host ids one revocation command names. */
export const maxRevocationHosts = 1024;

/**
 * `revocation`: these authorizations are revoked (engines drop their flows, hosts their
 * endpoints), and these nodes are decommissioned: every certificate of theirs is revoked (a node
 * closes its link to one of them and refuses its handshakes).
 */
export const RevocationPayload = Type.Object({
  serials: Type.Array(SerialText, { maxItems: maxRevocationSerials }),
  /** Each serial's end of validity (same index), after which a node may forget it; null: unknown. */
  notAfter: Type.Optional(
    Type.Array(Type.Union([Timestamp, Type.Null()]), { maxItems: maxRevocationSerials }),
  ),
  /** Host ids (CGAs) of decommissioned nodes. */
  hostIds: Type.Optional(Type.Array(Ipv6Address, { maxItems: maxRevocationHosts })),
  /** Each host id's end (same index): every certificate it was issued has expired by then; null: unknown. */
  hostsNotAfter: Type.Optional(
    Type.Array(Type.Union([Timestamp, Type.Null()]), { maxItems: maxRevocationHosts }),
  ),
});
export type RevocationPayload = Static<typeof RevocationPayload>;
/** `path-change`: the peers (with new paths) of each of the node's endpoints. */
// ---- group keys (role-addressed traffic) ---------------------------------------------------

/** A group key epoch (the sealed payload's 32-bit key epoch); the controller counts from 1. */
export const GroupKeyEpoch = Type.Integer({ minimum: 1, maximum: 0xffff_ffff });
/**
 * One group key an endpoint holds (docs/controller.md, "Group keys"): `open` is the group secret
 * of its own role's current epoch (members only: a member derives each sender's key from it),
 * `seal` its own sender key for its peer role's current epoch (derived by the controller from
 * that role's secret and the endpoint's host id). Neither comes from the service token.
 */
export const GroupKey = Type.Object(
  {
    role: Name,
    epoch: GroupKeyEpoch,
    use: Type.Union([Type.Literal('open'), Type.Literal('seal')]),
    /** 32 bytes, base64. */
    key: Base64(44),
  },
  closed,
);
export type GroupKey = Static<typeof GroupKey>;
/** Group keys of one endpoint: at most its own role's (open) and its peer role's (seal). */
export const GroupKeys = Type.Array(GroupKey, { maxItems: 2 });

export const PathChangePayload = Type.Object({
  endpoints: Type.Array(
    Type.Object({
      endpointId: Id,
      peers: Type.Array(Peer, { maxItems: maxPeers }),
      /** The endpoint's group keys now (a new epoch when its role's membership changed). */
      groupKeys: Type.Optional(GroupKeys),
    }),
    { maxItems: maxPathChangeEndpoints },
  ),
});
export type PathChangePayload = Static<typeof PathChangePayload>;
/** Most contracts one link-tags command names, and links per contract (the ENGINE record's bound is lower). */
export const maxLinkTagContracts = 4096;
export const maxLinkTagLinks = 255;
/**
 * `link-tags`: the engine's role routes, all of them (each command replaces the previous one):
 * for each contract, the tag bits (a u32 bit set) of each of the engine's links, by the peer's
 * host id, and of the engine itself. A contract's programs see these bits on top of the
 * configured ones.
 */
export const LinkTagsPayload = Type.Object({
  contracts: Type.Array(
    Type.Object({
      contractId: Id,
      /** Bits the engine's own tags get for this contract's programs (a labelled waypoint); absent: none. */
      engineTags: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffff_ffff })),
      links: Type.Array(
        Type.Object({ peer: Ipv6Address, tags: Type.Integer({ minimum: 0, maximum: 0xffff_ffff }) }),
        { maxItems: maxLinkTagLinks },
      ),
    }),
    { maxItems: maxLinkTagContracts },
  ),
});
export type LinkTagsPayload = Static<typeof LinkTagsPayload>;
/** The payload of a command that carries nothing. */
export const EmptyPayload = Type.Object({});

const nodeCommand = <K extends string, P extends TSchema>(kind: K, payload: P) =>
  Type.Object({ id: Id, kind: Type.Literal(kind), payload, createdAt: Timestamp });
export const RevocationCommand = nodeCommand('revocation', RevocationPayload);
export const PathChangeCommand = nodeCommand('path-change', PathChangePayload);
export const LinkTagsCommand = nodeCommand('link-tags', LinkTagsPayload);
export const LinkSetCommand = nodeCommand('link-set', LinkSetPayload);
export const RefreshConfigurationCommand = nodeCommand('refresh-configuration', EmptyPayload);
export const ReportStatisticsCommand = nodeCommand('report-statistics', EmptyPayload);
/**
 * A command the controller gives a node with a keep-alive answer or on the push channel: a
 * union discriminated by `kind`. Nodes read one with `decodeNodeCommand` (node-command.ts).
 */
export const NodeCommand = Type.Union([
  RevocationCommand,
  PathChangeCommand,
  LinkTagsCommand,
  LinkSetCommand,
  RefreshConfigurationCommand,
  ReportStatisticsCommand,
]);
export type NodeCommand = Static<typeof NodeCommand>;

/** Keep-alive answer: 200 `{commands: []}` (nothing to do) or 202 with commands. */
export const SbKeepaliveResponse = Type.Object({
  commands: Type.Array(NodeCommand),
  /** The keys nodes must trust now (as in the registration answer): how a rotation reaches running nodes. */
  controllerKeys: Type.Optional(ControllerKeyList),
});
export type SbKeepaliveResponse = Static<typeof SbKeepaliveResponse>;

/** `POST /sb/v1/endpoints` response. */
export const SbEndpointResponse = Type.Object({
  endpoint: Endpoint,
  image: ProgramImageTransfer,
  entry: Type.String(),
  variables: Variables,
  logicHash: Type.String(),
  peers: Type.Array(Peer),
  authorization: Authorization,
  /** The endpoint's group keys: `open` for its own role (members), `seal` for its peer role. */
  groupKeys: GroupKeys,
});
export type SbEndpointResponse = Static<typeof SbEndpointResponse>;

/** A server-sent event on `GET /sb/v1/events`. */
export const PushEvent = Type.Object({
  kind: Type.String(),
  /** For commands: the NodeCommand itself. */
  payload: Type.Unknown(),
});
export type PushEvent = Static<typeof PushEvent>;

/** The label that starts the registration signing input; its version changes with the input's layout. */
export const registrationSigningLabel = 'capsule-register-v2';

/**
 * The byte string a node signs when registering (domain-separated; binds the nonce, the host id,
 * the name, the locator and the X25519 key):
 *
 *   "capsule-register-v2" 0x00 | nonce | 0x00 | host id (lower case) | 0x00 | hostname | 0x00 |
 *   locator | 0x00 | X25519 public key (32)
 *
 * v1 had no locator, so whoever relayed a registration could point the node's underlay address
 * elsewhere. Host id, hostname and locator cannot hold a 0x00 (their schemas' patterns); the
 * nonce and the key are fixed-size as the controller issues and checks them.
 */
export function registrationSigningInput(fields: {
  nonce: Uint8Array;
  hostId: string;
  hostname: string;
  locator: string;
  x25519PublicKey: Uint8Array;
}): Uint8Array {
  const text = new TextEncoder();
  const parts = [
    text.encode(`${registrationSigningLabel}\0`),
    fields.nonce,
    text.encode(`\0${fields.hostId.toLowerCase()}\0${fields.hostname}\0${fields.locator}\0`),
    fields.x25519PublicKey,
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
