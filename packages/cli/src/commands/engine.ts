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
import { dirname, join, resolve } from 'node:path';
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
import {
  createUdpTransportOfKind,
  defaultUdpTransportKind,
  systemClock,
  type UdpTransportKind,
} from '@capsule/overlay';
import { CapsuleError } from '@capsule/wire';
import Table from 'cli-table3';
import type { Command } from 'commander';
import pino from 'pino';
import { parse as parseYaml } from 'yaml';
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
  budgetInstructions: number | undefined;
  tier: 'fast' | 'interpreter' | undefined;
  cgaSec: number;
  /** Link keep-alive interval (ms); a link is dead after 3 silent intervals. */
  linkKeepAliveIntervalMs: number;
  logLevel: string;
}

const topKeys = new Set([
  'controller',
  'hostname',
  'dataDir',
  'listen',
  'receiveBufferBytes',
  'sendBufferBytes',
  'underlayTransport',
  'locator',
  'neighbors',
  'tags',
  'links',
  'metrics',
  'engineId',
  'flowCapacity',
  'flowIdleTimeoutMs',
  'budgetInstructions',
  'tier',
  'cgaSec',
  'linkKeepAliveIntervalMs',
  'logLevel',
]);

/**
 * Default link keep-alive interval: the agent's default too. Both ends of a link should use the
 * same interval: each end declares the link dead after 3 of its own intervals without a frame, so
 * an end with a shorter interval than its peer's keep-alives sees the link flap while it is idle.
 */
export const defaultEngineLinkKeepAliveIntervalMs = 2000;

/** Default SO_RCVBUF / SO_SNDBUF of the overlay socket (the kernel caps at net.core.rmem_max / wmem_max). */
export const defaultEngineSocketBufferBytes = 8 * 1024 * 1024;

function bad(message: string): never {
  throw new CapsuleError('CLI_BAD_CONFIG', message);
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function integer(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    bad(`${name} must be an integer in ${min}..${max}`);
  return value;
}

function tagList(value: unknown, name: string): number[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) bad(`${name} must be a list of tag bits 0..31`);
  return value.map((tag, i) => integer(tag, `${name}[${i}]`, 0, 31)!);
}

function address(value: unknown, name: string) {
  if (typeof value !== 'string') bad(`${name} must be "host:port"`);
  try {
    return parseListen(value);
  } catch {
    bad(`${name} must be "host:port", got '${value}'`);
  }
}

/** Validates a parsed config (`env` supplies CAPSULE_ENGINE_PASSWORD; `baseDir` resolves dataDir). */
export function validateEngineConfig(raw: unknown, env: CliIo['env'], baseDir: string): EngineConfig {
  if (!isRecord(raw)) bad('the config must be a YAML mapping');
  for (const key of Object.keys(raw)) if (!topKeys.has(key)) bad(`unknown key '${key}'`);
  const controller = raw.controller;
  if (!isRecord(controller))
    bad('controller: a mapping with url, domain, username (and password) is required');
  for (const key of Object.keys(controller))
    if (!['url', 'domain', 'username', 'password'].includes(key)) bad(`unknown key 'controller.${key}'`);
  if (typeof controller.url !== 'string' || !/^https?:\/\/[^/]+/.test(controller.url))
    bad('controller.url must be the southbound URL, http(s)://host:port');
  for (const key of ['domain', 'username'] as const)
    if (typeof controller[key] !== 'string' || controller[key] === '') bad(`controller.${key} is required`);
  const password = (controller.password as string | undefined) ?? env.CAPSULE_ENGINE_PASSWORD;
  if (typeof password !== 'string' || password === '')
    bad('controller.password (or the CAPSULE_ENGINE_PASSWORD environment variable) is required');
  if (typeof raw.hostname !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(raw.hostname))
    bad('hostname is required (letters, digits, dots, dashes)');
  const listen = address(raw.listen ?? '0.0.0.0:7447', 'listen');
  const locator = raw.locator ?? `${listen.host}:${listen.port}`;
  if (typeof locator !== 'string') bad('locator must be "host:port"');
  address(locator, 'locator');
  if (raw.neighbors !== undefined && !Array.isArray(raw.neighbors))
    bad('neighbors must be a list of "host:port"');
  const neighbors = ((raw.neighbors as unknown[] | undefined) ?? []).map((n, i) =>
    address(n, `neighbors[${i}]`),
  );
  if (raw.links !== undefined && !Array.isArray(raw.links)) bad('links must be a list of {peer, cost, tags}');
  const links = ((raw.links as unknown[] | undefined) ?? []).map((link, i) => {
    if (!isRecord(link) || typeof link.peer !== 'string')
      bad(`links[${i}] needs a peer (host name or host id)`);
    for (const key of Object.keys(link))
      if (!['peer', 'cost', 'tags'].includes(key)) bad(`unknown key 'links[${i}].${key}'`);
    return {
      peer: link.peer,
      cost: integer(link.cost, `links[${i}].cost`, 1, 65535),
      tags: tagList(link.tags, `links[${i}].tags`),
    };
  });
  if (
    raw.underlayTransport !== undefined &&
    raw.underlayTransport !== 'native' &&
    raw.underlayTransport !== 'udp'
  )
    bad("underlayTransport is 'native' or 'udp'");
  if (raw.tier !== undefined && raw.tier !== 'fast' && raw.tier !== 'interpreter')
    bad("tier is 'fast' or 'interpreter'");
  if (raw.logLevel !== undefined && typeof raw.logLevel !== 'string') bad('logLevel is a pino level');
  if (raw.dataDir !== undefined && typeof raw.dataDir !== 'string') bad('dataDir is a directory path');
  return {
    controller: {
      url: controller.url,
      domain: controller.domain as string,
      username: controller.username as string,
      password,
    },
    hostname: raw.hostname,
    dataDir: resolve(baseDir, (raw.dataDir as string | undefined) ?? '.capsule/engine'),
    listen,
    receiveBufferBytes:
      integer(raw.receiveBufferBytes, 'receiveBufferBytes', 0, 256 * 1024 * 1024) ??
      defaultEngineSocketBufferBytes,
    sendBufferBytes:
      integer(raw.sendBufferBytes, 'sendBufferBytes', 0, 256 * 1024 * 1024) ?? defaultEngineSocketBufferBytes,
    underlayTransport: (raw.underlayTransport as UdpTransportKind | undefined) ?? defaultUdpTransportKind(),
    locator,
    neighbors,
    tags: tagList(raw.tags, 'tags'),
    links,
    metrics: raw.metrics === undefined ? undefined : address(raw.metrics, 'metrics'),
    engineId: integer(raw.engineId, 'engineId', 0, 65535),
    flowCapacity: integer(raw.flowCapacity, 'flowCapacity', 1, 1 << 24),
    flowIdleTimeoutMs: integer(raw.flowIdleTimeoutMs, 'flowIdleTimeoutMs', 1000, 86_400_000),
    budgetInstructions: integer(raw.budgetInstructions, 'budgetInstructions', 1, 1_000_000),
    tier: raw.tier as EngineConfig['tier'],
    cgaSec: integer(raw.cgaSec, 'cgaSec', 0, 1) ?? 0,
    linkKeepAliveIntervalMs:
      integer(raw.linkKeepAliveIntervalMs, 'linkKeepAliveIntervalMs', 100, 600_000) ??
      defaultEngineLinkKeepAliveIntervalMs,
    logLevel: (raw.logLevel as string | undefined) ?? 'info',
  };
}

/** Reads and validates a config file. */
export function loadEngineConfig(path: string, io: CliIo): EngineConfig {
  const file = resolve(io.cwd, path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CapsuleError('CLI_BAD_CONFIG', `cannot read ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new CapsuleError('CLI_BAD_CONFIG', `${file} is not YAML: ${(error as Error).message}`);
  }
  return validateEngineConfig(raw, io.env, dirname(file));
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
        throw new CapsuleError(
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
