/**
 * `capsule engine start --config engine.yaml`: runs an engine until SIGTERM/SIGINT — the overlay's
 * UDP socket, keys and CGA (kept in the data dir), and `startEngineNode` (@capsule/engine) for the
 * rest: registration with the controller, the link layer, the engine, its controller hooks, its
 * HTTP port (/metrics, /api/v1/flows) and handshakes with the configured neighbors.
 * `capsule engine flows`: lists the live flows of a running engine (from its HTTP port).
 *
 * The config is read and validated here, once (every key is documented in examples/engine.yaml).
 */
import { createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type EngineIdentity, type FlowSnapshot, startEngineNode } from '@capsule/engine';
import {
  exportPrivateKeyPem,
  exportPublicKeyDer,
  formatIpv6Address,
  generateCgaSync,
  generateRsaKeyPairAsync,
  importRsaPrivateKey,
  parseIpv6Address,
  parseSubnetPrefix64,
} from '@capsule/identity';
import { createUdpTransportOfKind, defaultUdpTransportKind, type UdpTransportKind } from '@capsule/overlay';
import { systemClock } from '@capsule/wire';
import Table from 'cli-table3';
import type { Command } from 'commander';
import pino from 'pino';
import { type Static, Type } from 'typebox';
import { readConfigFile } from '../config-file';
import { CliError } from '../errors';
import type { CliIo } from '../io';
import { parseListen } from './controller';

/** The engine config file, validated. */
export interface EngineConfig {
  controller: { url: string; domain: string; username: string; password: string };
  hostname: string;
  dataDir: string;
  listen: { host: string; port: number };
  /** SO_RCVBUF / SO_SNDBUF of the overlay socket (0: the kernel's default). */
  receiveBufferBytes: number;
  sendBufferBytes: number;
  /** `native` (batched recvmmsg/sendmmsg, the Linux default) or `udp` (node:dgram). */
  underlayTransport: UdpTransportKind;
  locator: string;
  neighbors: { host: string; port: number }[];
  tags: number[];
  links: { peer: string; cost?: number; tags?: number[] }[];
  metrics: { host: string; port: number } | undefined;
  engineId: number | undefined;
  flowCapacity: number | undefined;
  flowIdleTimeoutMs: number | undefined;
  flowsPerSourceHostMax: number | undefined;
  flowsPerAuthorizationMax: number | undefined;
  flowEvictionIdleMs: number | undefined;
  budgetInstructions: number | undefined;
  tier: 'fast' | 'interpreter' | undefined;
  cgaSec: number;
  /** Link keep-alive interval (ms); a link is dead after 3 silent intervals. */
  linkKeepAliveIntervalMs: number;
  logLevel: string;
}

const HostPort = Type.String({
  pattern:
    '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$',
  // port 0..65535
  description: '"host:port"',
});
const TagList = Type.Array(Type.Integer({ minimum: 0, maximum: 31, description: 'a tag bit 0..31' }));
const BufferBytes = Type.Integer({ minimum: 0, maximum: 256 * 1024 * 1024 });

/** The engine config file's schema (every key is documented in examples/engine.yaml). */
export const EngineConfigFile = Type.Object(
  {
    controller: Type.Object(
      {
        url: Type.String({
          pattern: '^https?://[^/]+',
          description: 'the southbound URL, http(s)://host:port',
        }),
        domain: Type.String({ minLength: 1 }),
        username: Type.String({ minLength: 1 }),
        password: Type.Optional(Type.String({ minLength: 1 })),
      },
      { additionalProperties: false },
    ),
    hostname: Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9.-]*$',
      description: 'a host name (letters, digits, dots, dashes)',
    }),
    dataDir: Type.Optional(Type.String({ minLength: 1, description: 'a directory path' })),
    listen: Type.Optional(HostPort),
    receiveBufferBytes: Type.Optional(BufferBytes),
    sendBufferBytes: Type.Optional(BufferBytes),
    underlayTransport: Type.Optional(Type.Union([Type.Literal('native'), Type.Literal('udp')])),
    locator: Type.Optional(HostPort),
    neighbors: Type.Optional(Type.Array(HostPort)),
    tags: Type.Optional(TagList),
    links: Type.Optional(
      Type.Array(
        Type.Object(
          {
            peer: Type.String({ minLength: 1, description: 'a host name or host id' }),
            cost: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
            tags: Type.Optional(TagList),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    metrics: Type.Optional(HostPort),
    engineId: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    flowCapacity: Type.Optional(Type.Integer({ minimum: 1, maximum: 1 << 24 })),
    flowIdleTimeoutMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 86_400_000 })),
    flowsPerSourceHostMax: Type.Optional(Type.Integer({ minimum: 1, maximum: 1 << 24 })),
    flowsPerAuthorizationMax: Type.Optional(Type.Integer({ minimum: 1, maximum: 1 << 24 })),
    flowEvictionIdleMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
    budgetInstructions: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    tier: Type.Optional(Type.Union([Type.Literal('fast'), Type.Literal('interpreter')])),
    cgaSec: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1,
        description: '0 or 1 (Sec 2 needs about 2^32 SHA-1 hashes at first start: hours)',
      }),
    ),
    linkKeepAliveIntervalMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
    logLevel: Type.Optional(
      Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
    ),
  },
  { additionalProperties: false },
);
export type EngineConfigFile = Static<typeof EngineConfigFile>;

/**
 * Default link keep-alive interval: the agent's default too. Both ends of a link should use the
 * same interval: each end declares the link dead after 3 of its own intervals without a frame, so
 * an end with a shorter interval than its peer's keep-alives sees the link flap while it is idle.
 */
export const defaultEngineLinkKeepAliveIntervalMs = 2000;

/** Default SO_RCVBUF / SO_SNDBUF of the overlay socket (the kernel caps at net.core.rmem_max / wmem_max). */
export const defaultEngineSocketBufferBytes = 8 * 1024 * 1024;

function hostPort(text: string) {
  return parseListen(text); // the schema's pattern matched: it cannot throw
}

/** The password, from the file or CAPSULE_ENGINE_PASSWORD (the file wins). */
function passwordProblem(raw: unknown, env: CliIo['env']) {
  const controller = (raw as { controller?: unknown } | null)?.controller;
  if (typeof controller !== 'object' || controller === null || Array.isArray(controller)) return [];
  if ((controller as { password?: unknown }).password !== undefined || env.CAPSULE_ENGINE_PASSWORD) return [];
  return [
    {
      segments: ['controller', 'password'],
      message: 'is required here or in the CAPSULE_ENGINE_PASSWORD environment variable',
    },
  ];
}

/** EngineConfig from a checked file (`env` supplies CAPSULE_ENGINE_PASSWORD; `baseDir` resolves dataDir). */
export function engineConfigFromFile(
  file: EngineConfigFile,
  env: CliIo['env'],
  baseDir: string,
): EngineConfig {
  const listen = hostPort(file.listen ?? '0.0.0.0:7447');
  return {
    controller: {
      url: file.controller.url,
      domain: file.controller.domain,
      username: file.controller.username,
      password: (file.controller.password ?? env.CAPSULE_ENGINE_PASSWORD)!,
    },
    hostname: file.hostname,
    dataDir: resolve(baseDir, file.dataDir ?? '.capsule/engine'),
    listen,
    receiveBufferBytes: file.receiveBufferBytes ?? defaultEngineSocketBufferBytes,
    sendBufferBytes: file.sendBufferBytes ?? defaultEngineSocketBufferBytes,
    underlayTransport: file.underlayTransport ?? defaultUdpTransportKind(),
    locator: file.locator ?? `${listen.host}:${listen.port}`,
    neighbors: (file.neighbors ?? []).map(hostPort),
    tags: file.tags ?? [],
    links: (file.links ?? []).map((link) => ({ peer: link.peer, cost: link.cost, tags: link.tags ?? [] })),
    metrics: file.metrics === undefined ? undefined : hostPort(file.metrics),
    engineId: file.engineId,
    flowCapacity: file.flowCapacity,
    flowIdleTimeoutMs: file.flowIdleTimeoutMs,
    flowsPerSourceHostMax: file.flowsPerSourceHostMax,
    flowsPerAuthorizationMax: file.flowsPerAuthorizationMax,
    flowEvictionIdleMs: file.flowEvictionIdleMs,
    budgetInstructions: file.budgetInstructions,
    tier: file.tier,
    cgaSec: file.cgaSec ?? 0,
    linkKeepAliveIntervalMs: file.linkKeepAliveIntervalMs ?? defaultEngineLinkKeepAliveIntervalMs,
    logLevel: file.logLevel ?? 'info',
  };
}

/** Reads and checks a config file: every problem at once, with its line (config-file.ts). */
export function loadEngineConfig(path: string, io: CliIo): EngineConfig {
  const { value, dir } = readConfigFile<EngineConfigFile>(path, EngineConfigFile, io.cwd, {
    check: (raw) => passwordProblem(raw, io.env),
  });
  return engineConfigFromFile(value, io.env, dir);
}

/** The RSA key (kept in the data dir) and the CGA under `netprefix` (kept while key and prefix hold). */
async function loadIdentity(config: EngineConfig, netprefix: string): Promise<EngineIdentity> {
  mkdirSync(config.dataDir, { recursive: true });
  const keyPath = join(config.dataDir, 'rsa-key.pem');
  let privateKeyPem: string;
  if (existsSync(keyPath)) privateKeyPem = readFileSync(keyPath, 'utf8');
  else {
    const keys = await generateRsaKeyPairAsync();
    privateKeyPem = exportPrivateKeyPem(keys.privateKey);
    writeFileSync(keyPath, privateKeyPem, { mode: 0o600 });
  }
  const rsaPrivateKey = importRsaPrivateKey(privateKeyPem);
  const rsaPublicKeyDer = exportPublicKeyDer(createPublicKey(rsaPrivateKey));
  const cgaPath = join(config.dataDir, 'cga.json');
  const publicKeyHex = Buffer.from(rsaPublicKeyDer).toString('hex');
  const saved = existsSync(cgaPath)
    ? (JSON.parse(readFileSync(cgaPath, 'utf8')) as {
        netprefix: string;
        publicKey: string;
        address: string;
        parameters: string;
      })
    : undefined;
  let hostId: Uint8Array;
  let cgaParameters: Uint8Array;
  if (saved && saved.netprefix === netprefix && saved.publicKey === publicKeyHex) {
    hostId = parseIpv6Address(saved.address)!;
    cgaParameters = Buffer.from(saved.parameters, 'hex');
  } else {
    const cga = generateCgaSync({
      publicKey: rsaPublicKeyDer,
      sec: config.cgaSec,
      subnetPrefix: parseSubnetPrefix64(netprefix),
    });
    hostId = cga.address;
    cgaParameters = cga.parametersBytes;
    writeFileSync(
      cgaPath,
      JSON.stringify({
        netprefix,
        publicKey: publicKeyHex,
        address: formatIpv6Address(hostId),
        parameters: Buffer.from(cgaParameters).toString('hex'),
      }),
    );
  }
  return { rsaPrivateKey, rsaPublicKeyDer, hostId, cgaParameters };
}

/** Runs an engine from `config` until `untilStopped` resolves. */
export async function runEngine(config: EngineConfig, io: CliIo, untilStopped: Promise<void>): Promise<void> {
  const logger = pino({ level: config.logLevel });
  const transport = await createUdpTransportOfKind(config.underlayTransport, {
    ...config.listen,
    receiveBufferBytes: config.receiveBufferBytes,
    sendBufferBytes: config.sendBufferBytes,
    onSocketBuffers: (granted) =>
      logger.info({ ...granted, transport: config.underlayTransport }, 'overlay socket buffers'),
  });
  try {
    const node = await startEngineNode(
      {
        controllerUrl: config.controller.url,
        credentials: {
          domain: config.controller.domain,
          username: config.controller.username,
          password: config.controller.password,
        },
        hostname: config.hostname,
        // Port 0: the port the socket got (the node registers the transport's address).
        ...(config.listen.port !== 0 && { locator: config.locator }),
        neighbors: config.neighbors,
        linkKeepAliveIntervalMs: config.linkKeepAliveIntervalMs,
        http: config.metrics,
        engine: {
          tags: config.tags,
          links: config.links,
          ...(config.engineId !== undefined && { engineId: config.engineId }),
          ...(config.flowCapacity !== undefined && { flowCapacity: config.flowCapacity }),
          ...(config.flowIdleTimeoutMs !== undefined && { flowIdleTimeoutMs: config.flowIdleTimeoutMs }),
          ...(config.flowsPerSourceHostMax !== undefined && {
            flowsPerSourceHostMax: config.flowsPerSourceHostMax,
          }),
          ...(config.flowsPerAuthorizationMax !== undefined && {
            flowsPerAuthorizationMax: config.flowsPerAuthorizationMax,
          }),
          ...(config.flowEvictionIdleMs !== undefined && { flowEvictionIdleMs: config.flowEvictionIdleMs }),
          ...(config.budgetInstructions !== undefined && { budgetInstructions: config.budgetInstructions }),
          ...(config.tier !== undefined && { tier: config.tier }),
        },
      },
      { transport, identity: (netprefix) => loadIdentity(config, netprefix), clock: systemClock, logger },
    );
    try {
      io.out(
        `engine ${config.hostname}: engine id ${node.engine.engineId}, host id ${node.registration.node.hostId}, ` +
          `overlay udp ${transport.local.host}:${transport.local.port}` +
          (node.httpUrl ? `, http ${node.httpUrl} (/metrics, /api/v1/flows)` : '') +
          '\n',
      );
      await untilStopped;
    } finally {
      await node.stop();
      io.out('engine stopped\n');
    }
  } finally {
    await transport.close();
  }
}

function untilSignal(): Promise<void> {
  return new Promise<void>((resolveStop) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolveStop();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

/** `capsule engine …`. */
export function registerEngineCommands(program: Command, io: CliIo): void {
  const engine = program.command('engine').description('the network microservice engine');
  engine
    .command('start')
    .description('run an engine (registration, overlay links, pipeline, /metrics) until SIGTERM/SIGINT')
    .requiredOption('--config <file>', 'engine config (YAML; see examples/engine.yaml)')
    .action(async (options: { config: string }) => {
      const config = loadEngineConfig(options.config, io);
      await runEngine(config, io, untilSignal());
    });
  engine
    .command('check-config')
    .description('check an engine configuration file and print the settings it gives (no password)')
    .argument('[file]', 'engine configuration (YAML)')
    .option('--config <file>', 'the same, as an option')
    .action((file: string | undefined, options: { config?: string }) => {
      const path = file ?? options.config;
      if (!path) throw new CliError('CLI_BAD_OPTION', 'check-config needs a file');
      const config = loadEngineConfig(path, io);
      io.out(
        `${JSON.stringify({ ...config, controller: { ...config.controller, password: '***' } }, null, 2)}\n`,
      );
    });
  engine
    .command('flows')
    .description("list a running engine's live flows (from its HTTP port)")
    .option('--url <url>', "the engine's HTTP port", 'http://127.0.0.1:9447')
    .option('--json', 'print JSON')
    .action(async (options: { url: string; json?: boolean }) => {
      let body: { items: FlowSnapshot[]; total: number };
      try {
        const response = await fetch(`${options.url.replace(/\/$/, '')}/api/v1/flows`);
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        body = (await response.json()) as typeof body;
      } catch (error) {
        throw new CliError(
          'CLI_ENGINE_UNREACHABLE',
          `cannot read flows from ${options.url}: ${(error as Error).message}`,
        );
      }
      if (options.json) {
        io.out(`${JSON.stringify(body.items, null, 2)}\n`);
        return;
      }
      if (body.items.length === 0) {
        io.out('no live flows\n');
        return;
      }
      const table = new Table({
        head: [
          'id',
          'source',
          'destination',
          'label',
          'serial',
          'packets',
          'drops',
          'last verdict',
          'cached action',
        ],
        style: { head: [], border: [] },
      });
      for (const flow of body.items)
        table.push([
          flow.id,
          flow.source,
          flow.destination,
          flow.flowLabel,
          flow.serial,
          flow.packets,
          flow.drops,
          flow.lastVerdict,
          flow.cachedAction ?? '-',
        ]);
      io.out(`${table.toString()}\n${body.total} flow${body.total === 1 ? '' : 's'}\n`);
    });
}
