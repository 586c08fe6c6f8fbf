/** @capsule/api — the control-plane contract: schemas, error codes with their HTTP status, typed clients. Pure. */

export {
  /** The northbound client's type. */
  type ApiClient,
  /** Options of both clients. */
  type ClientOptions,
  /** CRUD over one northbound collection. */
  type Collection,
  /** The northbound collection names as URL segments. */
  collectionNames,
  /** The northbound client (`/api/v1`). */
  createApiClient,
  /** The southbound client (`/sb/v1`) for agents and engines. */
  createSouthboundClient,
  /** How long a call may take by default before it fails (and fails over). */
  DEFAULT_REQUEST_TIMEOUT_MS,
  /** Longest push frame the southbound client reads. */
  PUSH_FRAME_MAX_CHARS,
  /** The southbound client's type. */
  type SouthboundClient,
} from './client';
export {
  /** Which commands a node applies: each once, none older than the newest state of its kind. */
  type CommandOrder,
  /** Command ids a node remembers for de-duplication, at most. */
  commandIdsRemembered,
  createCommandOrder,
} from './command-order';
export {
  /** The keys a node trusts from a registration or keep-alive answer (checked; never throws). */
  type TrustedControllerKeysResult,
  trustedControllerKeysOf,
} from './controller-keys';
export {
  /** Most controller URLs a node is given. */
  CONTROLLER_URLS_MAX,
  /** The replicas a node uses and the one in use. */
  type ControllerReplicas,
  /** What a node's replicas tell when it moves on. */
  type ControllerReplicasDeps,
  /** The problems of a node config's controller section (url or urls, https, pin). */
  controllerSectionProblems,
  /** The problems of a configured controller URL list (empty, too long, not https, duplicates). */
  controllerUrlProblems,
  /** The replicas of a URL list; calls move on to the next one when one fails. */
  createControllerReplicas,
} from './controller-replicas';
export {
  /** An API error; its code decides the HTTP status. */
  ApiError,
  /** The JSON body of every error response. */
  type ApiErrorBody,
  /** One of the API's error codes. */
  type ApiErrorCode,
  /** Error code → HTTP status: the one table. */
  apiErrorStatus,
  /** True when a string is one of the API's error codes. */
  isApiErrorCode,
  /** The HTTP status of an error code (500 for unknown codes). */
  statusOfCode,
} from './errors';
export {
  /** Builds a daemon's flow-event publisher (rate limit, bounded subscribers, slow-reader losses). */
  createFlowEventHub,
  /** Reads one NDJSON flow event; never throws. */
  decodeFlowEvent,
  /** The hub's defaults. */
  defaultFlowEventHubOptions,
  /** Most hops a trace event carries. */
  FLOW_EVENT_HOPS_MAX,
  /** Longest NDJSON line decodeFlowEvent reads. */
  FLOW_EVENT_LINE_MAX,
  /** One flow event (new flow, verdict, drop, program log, trace, lost). */
  type FlowEvent,
  /** What an observer asks for (host, contract, verdict, kinds). */
  type FlowEventFilter,
  /** One engine's record in a trace event. */
  type FlowEventHop,
  /** A daemon's flow-event publisher. */
  type FlowEventHub,
  /** Options of createFlowEventHub. */
  type FlowEventHubOptions,
  /** The kinds of flow event. */
  type FlowEventKind,
  /** Where one subscriber's events go. */
  type FlowEventSink,
  /** The kinds of flow event, as data. */
  flowEventKinds,
  /** True when an event passes a filter. */
  flowEventMatches,
  /** A filter as a query string. */
  flowEventQuery,
  /** The verdict names a filter may name. */
  flowEventVerdicts,
  /** Reads a filter from query parameters; unknown parameters are refused. */
  parseFlowEventFilter,
} from './flow-events';
export {
  /** A node's link reports to the controller, one at a time per peer (the latest waiting sent). */
  createLinkReports,
  type LinkReports,
} from './link-reports';
export {
  /** Decodes a node command (keep-alive answer, push event); never throws on input. */
  decodeNodeCommand,
  /** Decodes the payload of a command of a given kind, by the same rules. */
  decodeNodeCommandPayload,
  /** How long a decommissioned host id without an end is refused. */
  defaultHostRevocationMs,
  /** Builds a link-set command: the overlay links a node must have (the controller). */
  linkSetCommand,
  /** Builds a link-tags command: an engine's role routes (the controller). */
  linkTagsCommand,
  /** A command as the controller queues it: kind and payload. */
  type NodeCommandBody,
  /** Why the decoder refused a command: code, message, JSON pointer. */
  type NodeCommandError,
  /** One kind of node command. */
  type NodeCommandKind,
  /** The node command of one kind. */
  type NodeCommandOf,
  /** A decoded node command, or the reason there is none. */
  type NodeCommandResult,
  /** The kinds of node command. */
  nodeCommandKinds,
  /** Builds a path-change command (the controller). */
  pathChangeCommand,
  /** Builds a revocation command (the controller). */
  revocationCommand,
  /** A revocation's serials as bigints with their ends in ms. */
  revocationsOf,
  /** A revocation's decommissioned host ids with their ends in ms. */
  revokedHostsOf,
} from './node-command';
export {
  /** The fewest different characters a password must have. */
  minDistinctPasswordCharacters,
  /** The shortest password the controller accepts. */
  minPasswordLength,
  /** Why a password is too weak for a user (undefined when it is acceptable). */
  passwordProblem,
} from './password-policy';
export {
  /** The CODE chunk value an endpoint of a role sends (its entry first). */
  codeChunkOf,
  /** The DATA chunk value an endpoint starts with. */
  dataChunkOf,
  /** A ProgramImage in the form templates and endpoint answers carry. */
  toProgramImageTransfer,
  /** Why variables cannot be written into an image's DATA fields (empty when they can). */
  variableProblems,
} from './program-image';
export {
  /** Keeps a node's push channel open, on a live replica. */
  createPushAttachment,
  /** A push channel kept attached. */
  type PushAttachment,
  /** What the attachment acts on. */
  type PushAttachmentDeps,
  /** What the attachment is told. */
  type PushAttachmentOptions,
} from './push-attachment';
/** Every request and response schema (TypeBox) and its static type; see schemas.ts. */
export * from './schemas';
