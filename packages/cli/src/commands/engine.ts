/**
 * `capsule engine start --config engine.yaml`: runs an engine until SIGTERM/SIGINT — the overlay's
 * UDP socket, keys and CGA (kept in the data dir), and `startEngineNode` (@capsule/engine) for the
 * rest: registration with the controller, the link layer, the engine, its controller hooks, its
 * HTTP port (/metrics, /api/v1/flows) and links to the peers of the controller's link set.
 * `capsule engine flows`: lists the live flows of a running engine (from its HTTP port).
 * `capsule engine shared`: reads a contract's CONTRACT memory there (the @Shared fields of an image).
 *
 * The config is read and validated here, once (every key is documented in examples/engine.yaml).
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { controllerSectionProblems } from '@capsule/api';
import { createPinnedFetch } from '@capsule/controller';
import { type EngineIdentity, type FlowSnapshot, startEngineNode } from '@capsule/engine';
import {
  CERTIFICATE_SHA256_PATTERN,
  exportPrivateKeyPem,
  exportPublicKeyDer,
  formatIpv6Address,
  generateCgaSync,
  generateRsaKeyPairAsync,
  importRsaPrivateKey,
  parseCertificateSha256,
  parseIpv6Address,
  parseSubnetPrefix64,
} from '@capsule/identity';
import { createNativeFastPath, isNativeAddonAvailable } from '@capsule/native';
import { createUdpTransportOfKind, defaultUdpTransportKind, type UdpTransportKind } from '@capsule/overlay';
import {
  decodeProgramImage,
  isBinaryProgramImage,
  type ProgramImage,
  programImageFromJson,
  systemClock,
} from '@capsule/wire';
import Table from 'cli-table3';
import type { Command } from 'commander';
import pino from 'pino';
import { type Static, Type } from 'typebox';
import { readConfigFile, withEnvironmentFile } from '../config-file';
import { CliError } from '../errors';
import type { CliIo } from '../io';
import {
  createPrivateFileOnce,
  DAEMON_UMASK,
  preparePrivateDirectory,
  readPrivateFile,
  writePrivateFile,
} from '../private-files';
import { parseListen } from './controller';

/** The engine config file, validated. */
export interface EngineConfig {
  /**
   * `url`: the first of `urls`, every controller replica's southbound URL in order (one pin for
   * all: replicas share one certificate, docs/controller.md "Replicas and failover").
   */
  controller: {
    url: string;
    urls: string[];
    domain: string;
    username: string;
    password: string;
    caSha256?: Uint8Array;
  };
  hostname: string;
  dataDir: string;
  listen: { host: string; port: number };
  /** SO_RCVBUF / SO_SNDBUF of the overlay socket (0: the kernel's default). */
  receiveBufferBytes: number;
  sendBufferBytes: number;
  /** `native` (batched recvmmsg/sendmmsg, the Linux default) or `udp` (node:dgram). */
  underlayTransport: UdpTransportKind;
  /**
   * The fast path for established flows (native underlay with the addon only; docs/engine.md "Fast
   * path"); default `defaultEngineFastPath`. CAPSULE_ENGINE_FAST_PATH=0 or 1 overrides the file.
   */
  fastPath: boolean;
  locator: string;
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
const BufferBytes = Type.Integer({ minimum: 0, maximum: 256 * 1024 * 1024 });

/** The engine config file's schema (every key is documented in examples/engine.yaml). */
export const EngineConfigFile = Type.Object(
  {
    controller: Type.Object(
      {
        url: Type.Optional(
          Type.String({
            pattern: '^https?://[^/]+',
            maxLength: 2048,
            description: 'the southbound URL, http(s)://host:port',
          }),
        ),
        // Replicas, tried in order (@capsule/api's controllerSectionProblems: url or urls, https, no duplicates, at most 16).
        urls: Type.Optional(
          Type.Array(
            Type.String({
              maxLength: 2048,
              description: "a controller replica's southbound URL, https://host:port",
            }),
            { description: 'a list of controller URLs' },
          ),
        ),
        insecureHttp: Type.Optional(
          Type.Boolean({
            description: 'true: urls may be plain http:// (tokens cross the network in clear)',
          }),
        ),
        domain: Type.String({ minLength: 1 }),
        username: Type.String({ minLength: 1 }),
        password: Type.Optional(Type.String({ minLength: 1 })),
        caSha256: Type.Optional(
          Type.String({
            pattern: CERTIFICATE_SHA256_PATTERN,
            maxLength: 200,
            description: "the SHA-256 pin of the controller's certificate (64 hex digits, colons allowed)",
          }),
        ),
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
    fastPath: Type.Optional(Type.Boolean()),
    locator: Type.Optional(HostPort),
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
/** Whether an engine runs the fast path for established flows when its file does not say. */
export const defaultEngineFastPath = true;

function hostPort(text: string) {
  return parseListen(text); // the schema's pattern matched: it cannot throw
}

/**
 * The password, from the file or CAPSULE_ENGINE_PASSWORD (the file wins); the controller URLs
 * (`url` or `urls`, https, no duplicates; a pin needs https: @capsule/api's one check).
 */
function passwordProblem(raw: unknown, env: CliIo['env']) {
  const controller = (raw as { controller?: unknown } | null)?.controller;
  if (typeof controller !== 'object' || controller === null || Array.isArray(controller)) return [];
  const { password } = controller as { password?: unknown };
  const problems: { segments: (string | number)[]; message: string }[] = controllerSectionProblems(
    controller,
  ).map((problem) => ({ segments: ['controller', ...problem.segments], message: problem.message }));
  if (password === undefined && !env.CAPSULE_ENGINE_PASSWORD)
    problems.push({
      segments: ['controller', 'password'],
      message: 'is required here or in the CAPSULE_ENGINE_PASSWORD environment variable',
    });
  return problems;
}

/** EngineConfig from a checked file (`env` supplies CAPSULE_ENGINE_PASSWORD; `baseDir` resolves dataDir). */
export function engineConfigFromFile(
  file: EngineConfigFile,
  env: CliIo['env'],
  baseDir: string,
): EngineConfig {
  const listen = hostPort(file.listen ?? '0.0.0.0:7447');
  const controllerUrls =
    file.controller.urls ?? (file.controller.url === undefined ? [] : [file.controller.url]);
  return {
    controller: {
      url: controllerUrls[0]!,
      urls: controllerUrls,
      domain: file.controller.domain,
      username: file.controller.username,
      password: (file.controller.password ?? env.CAPSULE_ENGINE_PASSWORD)!,
      ...(file.controller.caSha256 !== undefined && {
        caSha256: parseCertificateSha256(file.controller.caSha256)!,
      }),
    },
    hostname: file.hostname,
    dataDir: resolve(baseDir, file.dataDir ?? '.capsule/engine'),
    listen,
    receiveBufferBytes: file.receiveBufferBytes ?? defaultEngineSocketBufferBytes,
    sendBufferBytes: file.sendBufferBytes ?? defaultEngineSocketBufferBytes,
    underlayTransport: file.underlayTransport ?? defaultUdpTransportKind(),
    fastPath:
      env.CAPSULE_ENGINE_FAST_PATH === '0'
        ? false
        : env.CAPSULE_ENGINE_FAST_PATH === '1'
          ? true
          : (file.fastPath ?? defaultEngineFastPath),
    locator: file.locator ?? `${listen.host}:${listen.port}`,
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

/** Keys an engine's config no longer takes, with what replaces them (a config error names both). */
export const removedEngineKeys = {
  neighbors:
    "an engine's links are the controller's: declare them there (capsule create link --between e1 e2, or the zone's engineMesh) and the engine gets its link set from the controller",
  links:
    "an engine's links, their costs and labels are the controller's: capsule create link --between e1 e2 --cost 10 --labels fast (or capsule label link e1 e2 fast)",
  tags: 'an engine\'s tag bits are the controller\'s: it computes them from role members and labels (capsule label node e1 waypoint, named in the contract: docs/controller.md, "Role routes")',
} as const;

/** Reads and checks a config file: every problem at once, with its line (config-file.ts). */
export function loadEngineConfig(path: string, io: CliIo): EngineConfig {
  const { value, dir } = readConfigFile<EngineConfigFile>(path, EngineConfigFile, io.cwd, {
    check: (raw) => passwordProblem(raw, io.env),
    removedKeys: removedEngineKeys,
  });
  return engineConfigFromFile(value, io.env, dir);
}

/**
 * The RSA key (kept in the data dir) and the CGA under `netprefix` (kept while key and prefix
 * hold). The data dir is 0700 and both files 0600; either readable by other users is refused.
 */
async function loadIdentity(config: EngineConfig, netprefix: string): Promise<EngineIdentity> {
  preparePrivateDirectory(config.dataDir);
  const keyPath = join(config.dataDir, 'rsa-key.pem');
  let privateKeyPem = readPrivateFile(keyPath);
  if (privateKeyPem === undefined) {
    const keys = await generateRsaKeyPairAsync();
    privateKeyPem = createPrivateFileOnce(keyPath, exportPrivateKeyPem(keys.privateKey));
  }
  const rsaPrivateKey = importRsaPrivateKey(privateKeyPem);
  const rsaPublicKeyDer = exportPublicKeyDer(createPublicKey(rsaPrivateKey));
  const cgaPath = join(config.dataDir, 'cga.json');
  const publicKeyHex = Buffer.from(rsaPublicKeyDer).toString('hex');
  const savedText = readPrivateFile(cgaPath);
  const saved = savedText
    ? (JSON.parse(savedText) as {
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
    writePrivateFile(
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
  // The fast path runs inside the native socket's poll callback: only there, and only with the addon.
  const fastPath =
    config.fastPath && config.underlayTransport === 'native' && isNativeAddonAvailable()
      ? createNativeFastPath()
      : undefined;
  logger.info({ fastPath: fastPath !== undefined }, 'engine fast path');
  try {
    const node = await startEngineNode(
      {
        controllerUrl: config.controller.url,
        ...(config.controller.urls.length > 1 && { controllerUrls: config.controller.urls }),
        credentials: {
          domain: config.controller.domain,
          username: config.controller.username,
          password: config.controller.password,
        },
        hostname: config.hostname,
        // Port 0: the port the socket got (the node registers the transport's address).
        ...(config.listen.port !== 0 && { locator: config.locator }),
        linkKeepAliveIntervalMs: config.linkKeepAliveIntervalMs,
        http: config.metrics,
        engine: {
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
      {
        transport,
        identity: (netprefix) => loadIdentity(config, netprefix),
        clock: systemClock,
        logger,
        ...(fastPath && { fastPath }),
        ...(config.controller.caSha256 && { fetch: createPinnedFetch(config.controller.caSha256) }),
      },
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
      process.umask(DAEMON_UMASK);
      await runEngine(config, io, untilSignal());
    });
  engine
    .command('check-config')
    .description('check an engine configuration file and print the settings it gives (no password)')
    .argument('[file]', 'engine configuration (YAML)')
    .option('--config <file>', 'the same, as an option')
    .option('--env-file <file>', "variables as the unit's EnvironmentFile gives them (KEY=VALUE lines)")
    .action((file: string | undefined, options: { config?: string; envFile?: string }) => {
      const path = file ?? options.config;
      if (!path) throw new CliError('CLI_BAD_OPTION', 'check-config needs a file');
      const config = loadEngineConfig(path, withEnvironmentFile(io, options.envFile));
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

  engine
    .command('shared')
    .description(
      "read a contract's CONTRACT memory on a running engine: its programs' @Shared fields (with --image), else its non-zero words",
    )
    .option('--url <url>', "the engine's HTTP port", 'http://127.0.0.1:9447')
    .option('--contract <id>', 'the contract id (without it: the contracts the engine holds memory for)')
    .option('--image <file>', 'the program image (.json or binary) whose @Shared fields to print')
    .option('--json', 'print JSON')
    .action(async (options: { url: string; contract?: string; image?: string; json?: boolean }) => {
      const base = options.url.replace(/\/+$/, '');
      const read = async <T>(path: string): Promise<T> => {
        let response: Response;
        try {
          response = await fetch(`${base}${path}`);
        } catch (error) {
          throw new CliError(
            'CLI_ENGINE_UNREACHABLE',
            `cannot read ${base}${path}: ${(error as Error).message}`,
          );
        }
        if (!response.ok) {
          const body = (await response.json().catch(() => ({}))) as { message?: string };
          throw new CliError(
            'CLI_ENGINE_UNREACHABLE',
            `${base}${path}: HTTP ${response.status} ${body.message ?? ''}`.trim(),
          );
        }
        return (await response.json()) as T;
      };
      if (options.contract === undefined) {
        const { items } = await read<{ items: { contractId: number; liveFlows: number }[] }>(
          '/api/v1/contracts',
        );
        if (options.json) return void io.out(`${JSON.stringify(items, null, 2)}\n`);
        if (items.length === 0) return void io.out('no contract has run on this engine\n');
        for (const item of items)
          io.out(
            `contract ${item.contractId}: ${item.liveFlows} live flow${item.liveFlows === 1 ? '' : 's'}\n`,
          );
        return;
      }
      if (!/^\d{1,10}$/.test(options.contract))
        throw new CliError(
          'CLI_BAD_OPTION',
          `--contract must be a contract id, got '${options.contract.slice(0, 40)}'`,
        );
      const image = options.image === undefined ? undefined : readImageFile(options.image, io);
      const { bytes } = await read<{ bytes: string }>(`/api/v1/contracts/${options.contract}/memory`);
      if (typeof bytes !== 'string' || !/^([0-9a-f]{2})*$/.test(bytes))
        throw new CliError('CLI_READ_FAILED', `${base}: the contract memory is not hex`);
      const fields = sharedFields(Buffer.from(bytes, 'hex'), image);
      if (options.json) return void io.out(`${JSON.stringify(fields, null, 2)}\n`);
      if (fields.length === 0) return void io.out(image ? 'the image has no @Shared field\n' : 'all zero\n');
      for (const field of fields)
        io.out(`${field.name} (${field.type}, offset ${field.offset}): ${field.value}\n`);
    });
}

/** Reads a program image file (JSON or binary form); CliError when it is not one. */
function readImageFile(file: string, io: CliIo): ProgramImage {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(resolve(io.cwd, file)));
  } catch (error) {
    throw new CliError('CLI_BAD_FILE', `cannot read ${file}: ${(error as Error).message}`);
  }
  const result = isBinaryProgramImage(bytes)
    ? decodeProgramImage(bytes)
    : programImageFromJson(Buffer.from(bytes).toString('utf8'));
  if (!result.ok) throw new CliError('IMAGE_INVALID', `${file}: ${result.error.message}`);
  return result.value;
}

/** One value read from CONTRACT memory. */
export interface SharedField {
  name: string;
  type: string;
  offset: number;
  /** The value as printed: an int, a list of ints, or hex. */
  value: string;
}

/**
 * The @Shared fields of `image` (its layout's CONTRACT entries) read from `memory`, or without an
 * image every non-zero 32-bit word (`word@<offset>`). Reads never go past the memory.
 */
export function sharedFields(memory: Uint8Array, image: ProgramImage | undefined): SharedField[] {
  const view = new DataView(memory.buffer, memory.byteOffset, memory.byteLength);
  if (!image) {
    const words: SharedField[] = [];
    for (let offset = 0; offset + 4 <= memory.length; offset += 4) {
      const value = view.getInt32(offset, true);
      if (value !== 0) words.push({ name: `word@${offset}`, type: 'int', offset, value: String(value) });
    }
    return words;
  }
  const out: SharedField[] = [];
  for (const entry of image.data) {
    if (entry.region !== 'CONTRACT') continue;
    const end = Math.min(memory.length, entry.offset + entry.size);
    if (entry.offset >= end) {
      out.push({
        name: entry.name,
        type: entry.type,
        offset: entry.offset,
        value: '(outside CONTRACT memory)',
      });
      continue;
    }
    let value: string;
    if (entry.type === 'int' && end - entry.offset >= 4) value = String(view.getInt32(entry.offset, true));
    else if (entry.type === 'long' && end - entry.offset >= 8)
      value = String(view.getBigInt64(entry.offset, true));
    else if (entry.type === 'int[]') {
      const items: number[] = [];
      for (let at = entry.offset; at + 4 <= end; at += 4) items.push(view.getInt32(at, true));
      value = `[${items.join(', ')}]`;
    } else value = `0x${Buffer.from(memory.subarray(entry.offset, end)).toString('hex')}`;
    out.push({ name: entry.name, type: entry.type, offset: entry.offset, value });
  }
  return out;
}
