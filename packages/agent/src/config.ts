/**
 * The agent's configuration file (`capsule agent start --config agent.yaml`; every key is in
 * examples/agent.yaml): its schema, and its translation into AgentOptions. The CLI reads the file
 * and the environment; this module only validates plain data (unknown keys are errors).
 */
import { controllerSectionProblems } from '@capsule/api';
import { CERTIFICATE_SHA256_PATTERN, parseCertificateSha256 } from '@capsule/identity';
import { defaultUdpTransportKind, type UdpTransportKind } from '@capsule/overlay';
import { type Static, Type } from 'typebox';
import { Value } from 'typebox/value';
import { compileAcl } from './acl';
import { type AgentOptions, defaultAgentOptions } from './agent';
import { AgentError } from './errors';
import { defaultResolverOptions, type ResolverOptions } from './resolver';

const closed = { additionalProperties: false } as const;
const HostPort = Type.String({
  pattern:
    '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$',
  // port 0..65535
  description: '"host:port"',
});

const AbsolutePath = Type.String({
  pattern: '^/[^\\u0000]*$',
  maxLength: 4096,
  description: 'an absolute path',
});

/** The configuration file's schema. */
export const AgentConfig = Type.Object(
  {
    hostName: Type.String({
      minLength: 1,
      maxLength: 253,
      pattern: '^[A-Za-z0-9][A-Za-z0-9.-]*$',
      description: 'a host name (letters, digits, dots, dashes; at most 253)',
    }),
    controller: Type.Union([
      Type.String({
        pattern: '^https?://',
        description: "the controller's southbound URL, http(s)://…",
      }),
      // One controller (`url`) or its replicas (`urls`, tried in order; @capsule/api's
      // controllerSectionProblems checks the rest: not both, https, no duplicates, at most 16).
      Type.Object(
        {
          url: Type.Optional(
            Type.String({
              pattern: '^https?://',
              maxLength: 2048,
              description: "the controller's southbound URL, https://…",
            }),
          ),
          urls: Type.Optional(
            Type.Array(
              Type.String({
                maxLength: 2048,
                description: "a controller replica's southbound URL, https://…",
              }),
              { description: 'a list of controller URLs' },
            ),
          ),
          caSha256: Type.Optional(
            Type.String({
              pattern: CERTIFICATE_SHA256_PATTERN,
              maxLength: 200,
              description: "the SHA-256 pin of the controller's certificate (64 hex digits, colons allowed)",
            }),
          ),
          insecureHttp: Type.Optional(
            Type.Boolean({
              description: 'true: urls may be plain http:// (tokens cross the network in clear)',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ]),
    user: Type.String({ minLength: 1, maxLength: 60 }),
    password: Type.String({ minLength: 1, maxLength: 128 }),
    domain: Type.String({ minLength: 1, maxLength: 60 }),
    dataDir: Type.Optional(Type.String({ minLength: 1 })),
    listen: Type.Optional(HostPort),
    receiveBufferBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 256 * 1024 * 1024 })),
    sendBufferBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 256 * 1024 * 1024 })),
    underlayTransport: Type.Optional(Type.Union([Type.Literal('native'), Type.Literal('udp')])),
    fastPath: Type.Optional(Type.Boolean()),
    locator: Type.Optional(HostPort),
    rest: Type.Optional(
      Type.Object(
        {
          socket: Type.Optional(
            Type.Union([Type.Literal('off'), AbsolutePath], { description: 'an absolute path, or off' }),
          ),
          group: Type.Optional(
            Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.-]{0,31}$', description: 'a group name' }),
          ),
          tcp: Type.Optional(HostPort),
          tokenFile: Type.Optional(AbsolutePath),
        },
        closed,
      ),
    ),
    restBodyLimitBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024 })),
    resolver: Type.Optional(
      Type.Union([
        HostPort,
        Type.Literal('off'),
        Type.Object(
          {
            listen: Type.Optional(HostPort),
            upstreams: Type.Optional(Type.Array(HostPort, { maxItems: 8 })),
            upstreamTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 30_000 })),
            maxOutstandingQueries: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_536 })),
            install: Type.Optional(
              Type.Union([
                Type.Literal('off'),
                Type.Literal('auto'),
                Type.Literal('systemd-resolved'),
                Type.Literal('resolv.conf'),
              ]),
            ),
          },
          closed,
        ),
      ]),
    ),
    tun: Type.Optional(
      Type.Union([
        Type.Literal('off'),
        Type.Object(
          {
            name: Type.Optional(
              Type.String({
                pattern: '^[A-Za-z0-9_.-]{1,15}$',
                description: 'an interface name (1..15 of A-Z a-z 0-9 _ . -)',
              }),
            ),
            mode: Type.Optional(Type.Union([Type.Literal('tun'), Type.Literal('tap')])),
            mtu: Type.Optional(Type.Integer({ minimum: 1280, maximum: 9000 })),
            txQueueLength: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
            offloads: Type.Optional(Type.Boolean({ description: 'TUN offloads (TSO/GRO): true or false' })),
            ipv4Address: Type.Optional(Type.String({ pattern: '^[0-9.]+$', description: 'an IPv4 address' })),
            ipv4AliasPrefix: Type.Optional(
              Type.String({ pattern: '^[0-9.]+/16$', description: 'an IPv4 /16 prefix (a.b.0.0/16)' }),
            ),
          },
          closed,
        ),
      ]),
    ),
    // RFC 3972 allows Sec 0..7, but Sec 2 means a search of about 2^32 SHA-1 hashes before the
    // first start completes (hours at the ~0.5 M hashes/s measured here; docs/agent.md), so the
    // agent takes 0 or 1, as the engine does.
    cgaSec: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1,
        description: '0 or 1 (Sec 2 needs about 2^32 SHA-1 hashes at first start: hours)',
      }),
    ),
    authIntervalMs: Type.Optional(Type.Integer({ minimum: 100 })),
    authRepeatMs: Type.Optional(Type.Integer({ minimum: 10 })),
    authRepeatForMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
    codePackets: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
    maxOverlayPacketBytes: Type.Optional(Type.Integer({ minimum: 512, maximum: 65_000 })),
    keepaliveIntervalMs: Type.Optional(Type.Integer({ minimum: 100 })),
    linkKeepAliveIntervalMs: Type.Optional(Type.Integer({ minimum: 100 })),
    e2eRekeyAfterMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 86_400_000 })),
    e2eRekeyAfterPackets: Type.Optional(Type.Integer({ minimum: 1000, maximum: 2 ** 32 })),
    e2eRekeyGraceMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
    acl: Type.Optional(
      Type.Object(
        {
          in: Type.Optional(Type.Array(Type.String({ maxLength: 200 }))),
          out: Type.Optional(Type.Array(Type.String({ maxLength: 200 }))),
        },
        closed,
      ),
    ),
    logLevel: Type.Optional(
      Type.Union(['trace', 'debug', 'info', 'warn', 'error'].map((l) => Type.Literal(l))),
    ),
  },
  closed,
);
export type AgentConfig = Static<typeof AgentConfig>;

function hostPort(text: string): { host: string; port: number } {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new AgentError('AGENT_BAD_CONFIG', `expected HOST:PORT, got '${text}'`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/**
 * The controller's URLs (one, or its replicas in order) and, when the config pins it
 * (`controller: {url|urls, caSha256}`), the SHA-256 of its certificate: replicas share one
 * certificate (docs/controller.md, "Replicas and failover"), so one pin serves every URL (the CLI
 * hands the agent a fetch that accepts only that certificate). `url` is the first.
 */
export function controllerOf(config: AgentConfig): { url: string; urls: string[]; caSha256?: Uint8Array } {
  if (typeof config.controller === 'string') return { url: config.controller, urls: [config.controller] };
  const { url, urls, caSha256 } = config.controller;
  const list = urls ?? (url === undefined ? [] : [url]);
  return {
    url: list[0]!,
    urls: list,
    ...(caSha256 !== undefined && { caSha256: parseCertificateSha256(caSha256)! }),
  };
}

/** The problems of the `controller` key beyond its schema (url or urls, https, duplicates), by key path. */
export function agentControllerProblems(
  config: unknown,
): { segments: (string | number)[]; message: string }[] {
  const section = (config as { controller?: unknown } | null)?.controller;
  return controllerSectionProblems(section).map((problem) => ({
    segments: ['controller', ...problem.segments],
    message: problem.message,
  }));
}

/** Validates a parsed configuration file; throws AGENT_BAD_CONFIG naming the first problem. */
export function parseAgentConfig(input: unknown): AgentConfig {
  if (!Value.Check(AgentConfig, input)) {
    const first = [...Value.Errors(AgentConfig, input)][0] as
      | { instancePath?: string; message?: string }
      | undefined;
    throw new AgentError(
      'AGENT_BAD_CONFIG',
      `agent configuration: ${first?.instancePath || '/'} ${first?.message ?? 'is invalid'}`,
    );
  }
  const first = agentControllerProblems(input)[0];
  if (first)
    throw new AgentError(
      'AGENT_BAD_CONFIG',
      `agent configuration: /${first.segments.join('/')} ${first.message}`,
    );
  const config = input as AgentConfig;
  const authIntervalMs = config.authIntervalMs ?? defaultAgentOptions.authIntervalMs;
  if ((config.authRepeatMs ?? defaultAgentOptions.authRepeatMs) > authIntervalMs)
    throw new AgentError(
      'AGENT_BAD_CONFIG',
      `agent configuration: /authRepeatMs must not exceed authIntervalMs (${authIntervalMs})`,
    );
  compileAcl(config.acl ?? {}); // rule syntax errors surface at start-up
  return config;
}

/** How the agent makes itself the host's resolver for `.capsule` (`resolver.install`, default off). */
export type ResolverInstallMode = 'off' | 'auto' | 'systemd-resolved' | 'resolv.conf';

/** The `resolver.install` of a configuration. */
export function resolverInstallMode(config: AgentConfig): ResolverInstallMode {
  return typeof config.resolver === 'object' ? (config.resolver.install ?? 'off') : 'off';
}

/**
 * The resolver's options: `resolver` as `host:port`, `off`, or a mapping (listen, upstreams, …).
 * Upstreams: the configured ones, else `hostNameservers` (the host's resolv.conf as the CLI read
 * it), never the resolver's own address (a loop).
 */
function resolverOptionsOf(
  config: AgentConfig,
  hostNameservers: readonly { host: string; port: number }[],
): ResolverOptions | undefined {
  const value = config.resolver;
  if (value === 'off') return undefined;
  const section = typeof value === 'object' ? value : {};
  const listenText = typeof value === 'string' ? value : section.listen;
  const listen = listenText
    ? hostPort(listenText)
    : { host: defaultResolverOptions.host, port: defaultResolverOptions.port };
  const upstreams = (section.upstreams ? section.upstreams.map(hostPort) : [...hostNameservers]).filter(
    (upstream) => !(upstream.host === listen.host && upstream.port === listen.port),
  );
  return {
    ...defaultResolverOptions,
    ...listen,
    upstreams,
    upstreamTimeoutMs: section.upstreamTimeoutMs ?? defaultResolverOptions.upstreamTimeoutMs,
    maxOutstandingQueries: section.maxOutstandingQueries ?? defaultResolverOptions.maxOutstandingQueries,
  };
}

/**
 * AgentOptions from a validated configuration (defaults filled in). `hostNameservers`: the host's
 * resolvers (its resolv.conf, read by the CLI), the resolver's upstreams unless the config names them.
 */
export function agentOptionsFromConfig(
  config: AgentConfig,
  hostNameservers: readonly { host: string; port: number }[] = [],
): AgentOptions {
  const defaults = defaultAgentOptions;
  const tun = config.tun === 'off' ? undefined : { ...defaults.tun!, ...(config.tun ?? {}) };
  const rest = config.rest ?? {};
  return {
    ...defaults,
    hostName: config.hostName,
    controllerUrl: controllerOf(config).url,
    ...(typeof config.controller === 'object' &&
      config.controller.urls && { controllerUrls: controllerOf(config).urls }),
    credentials: { domain: config.domain, username: config.user, password: config.password },
    ...(config.locator ? { locator: config.locator } : {}),
    rest: {
      socketPath: rest.socket === 'off' ? undefined : (rest.socket ?? defaults.rest.socketPath),
      socketGroup: rest.group ?? defaults.rest.socketGroup,
      tcp: rest.tcp ? hostPort(rest.tcp) : undefined,
      tokenFile: rest.tokenFile ?? defaults.rest.tokenFile,
      bodyLimitBytes: config.restBodyLimitBytes ?? defaults.rest.bodyLimitBytes,
    },
    resolver: resolverOptionsOf(config, hostNameservers),
    tun,
    cgaSec: config.cgaSec ?? defaults.cgaSec,
    authIntervalMs: config.authIntervalMs ?? defaults.authIntervalMs,
    authRepeatMs: config.authRepeatMs ?? defaults.authRepeatMs,
    authRepeatForMs: config.authRepeatForMs ?? defaults.authRepeatForMs,
    codePackets: config.codePackets ?? defaults.codePackets,
    maxOverlayPacketBytes: config.maxOverlayPacketBytes ?? defaults.maxOverlayPacketBytes,
    keepaliveIntervalMs: config.keepaliveIntervalMs ?? defaults.keepaliveIntervalMs,
    linkKeepAliveIntervalMs: config.linkKeepAliveIntervalMs ?? defaults.linkKeepAliveIntervalMs,
    e2eRekeyAfterMs: config.e2eRekeyAfterMs ?? defaults.e2eRekeyAfterMs,
    e2eRekeyAfterPackets: config.e2eRekeyAfterPackets ?? defaults.e2eRekeyAfterPackets,
    e2eRekeyGraceMs: config.e2eRekeyGraceMs ?? defaults.e2eRekeyGraceMs,
    acl: { in: config.acl?.in ?? [], out: config.acl?.out ?? [] },
  };
}

/** The underlay address to bind (`listen`, default 0.0.0.0:7447). */
export function underlayListen(config: AgentConfig): { host: string; port: number } {
  return hostPort(config.listen ?? '0.0.0.0:7447');
}

/** Default SO_RCVBUF / SO_SNDBUF of the overlay socket (8 MiB; the kernel caps at net.core.rmem_max / wmem_max). */
export const defaultUnderlaySocketBufferBytes = 8 * 1024 * 1024;

/**
 * The overlay's UDP transport (`underlayTransport`): `native` (batched recvmmsg/sendmmsg, the
 * default on Linux) or `udp` (node:dgram, the default elsewhere).
 */
export function underlayTransportKind(config: AgentConfig): UdpTransportKind {
  return config.underlayTransport ?? defaultUdpTransportKind();
}

/** Whether an agent runs the native fast path when its file does not say. */
export const defaultAgentFastPath = true;

/**
 * Whether the agent runs the native fast path (`fastPath`, default `defaultAgentFastPath`;
 * CAPSULE_AGENT_FAST_PATH=0 or 1 overrides the file). It needs the native underlay, the addon and
 * a TUN or TAP device: without them the agent runs without it (docs/agent.md, "Fast path").
 */
export function agentFastPathWanted(
  config: AgentConfig,
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  const override = env.CAPSULE_AGENT_FAST_PATH;
  if (override === '0') return false;
  if (override === '1') return true;
  return config.fastPath ?? defaultAgentFastPath;
}

/** The overlay socket's buffer sizes (`receiveBufferBytes`, `sendBufferBytes`; 0: the kernel's default). */
export function underlaySocketBuffers(config: AgentConfig): {
  receiveBufferBytes: number;
  sendBufferBytes: number;
} {
  return {
    receiveBufferBytes: config.receiveBufferBytes ?? defaultUnderlaySocketBufferBytes,
    sendBufferBytes: config.sendBufferBytes ?? defaultUnderlaySocketBufferBytes,
  };
}
