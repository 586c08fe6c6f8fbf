/**
 * `capsule controller start [--config controller.yaml]`: runs the controller daemon until SIGTERM
 * or SIGINT; `capsule controller check-config FILE` checks a config. The only place that turns argv,
 * environment and files into ControllerOptions: flag, else config file key, else default.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createController, defaultControllerOptions, type SigningKeyStore } from '@capsule/controller';
import {
  certificateSha256,
  createSelfSignedCertificate,
  createTlsCertificate,
  exportPrivateKeyPem,
  formatCertificateSha256,
  generateRsaKeyPairAsync,
} from '@capsule/identity';
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

/** The controller's Ed25519 signing key in its data dir (docs/security.md, "Secrets at rest"). */
export const controllerKeyFileName = 'controller-key.pem';

/** The signing key as a 0600 file; refused when other users may read it (private-files.ts). */
export function createFileSigningKeyStore(path: string): SigningKeyStore {
  // Keys made by `capsule rotate signing-key` sit beside the first: controller-key-<key id>.pem.
  const rotatedPath = (keyId: number) =>
    join(dirname(path), `controller-key-${keyId.toString(16).padStart(4, '0')}.pem`);
  return {
    load: async () => readPrivateFile(path),
    create: async (pem) => createPrivateFileOnce(path, pem),
    loadKey: async (keyId) => readPrivateFile(rotatedPath(keyId)),
    addKey: async (keyId, pem) => {
      if (createPrivateFileOnce(rotatedPath(keyId), pem) !== pem)
        throw new CliError('CLI_BAD_OPTION', `${rotatedPath(keyId)} exists and holds another key`);
    },
  };
}

/** Parses `HOST:PORT` (IPv6 hosts in brackets). */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new CliError('CLI_BAD_ADDRESS', `expected HOST:PORT, got '${text}'`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

const HostPort = Type.String({
  pattern:
    '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$',
  // port 0..65535
  description: '"host:port"',
});
const PemFiles = Type.Object(
  {
    cert: Type.String({ minLength: 1, description: 'a PEM certificate file' }),
    key: Type.String({ minLength: 1, description: 'a PEM private key file' }),
  },
  { additionalProperties: false },
);
const Milliseconds = (minimum: number) =>
  Type.Optional(Type.Integer({ minimum, maximum: 365 * 24 * 3_600_000 }));

/** The controller config file's schema (every key is documented in examples/controller.yaml). */
export const ControllerConfigFile = Type.Object(
  {
    dataDir: Type.Optional(Type.String({ minLength: 1, description: 'a directory path' })),
    store: Type.Optional(
      Type.String({ minLength: 1, description: "'sqlite', a SQLite file path or postgres://…" }),
    ),
    listen: Type.Optional(HostPort),
    southboundListen: Type.Optional(HostPort),
    southboundTls: Type.Optional(
      Type.Union([
        PemFiles,
        Type.Object(
          { selfSigned: Type.String({ minLength: 1, description: 'the host name the certificate names' }) },
          { additionalProperties: false },
        ),
      ]),
    ),
    northboundTls: Type.Optional(PemFiles),
    insecureHttp: Type.Optional(
      Type.Boolean({ description: 'true: both listeners on plain HTTP (a warning is logged); default TLS' }),
    ),
    bodyLimitBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024 })),
    logLevel: Type.Optional(
      Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
    ),
    tokenLifetimeMs: Milliseconds(60_000),
    keepaliveIntervalMs: Milliseconds(1000),
    nonceLifetimeMs: Milliseconds(1000),
    certificateLifetimeMs: Milliseconds(60_000),
    authorizationLifetimeMs: Milliseconds(60_000),
    loginFailuresPerMinute: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    sqliteSynchronous: Type.Optional(Type.Union([Type.Literal('FULL'), Type.Literal('NORMAL')])),
    pushHeartbeatMs: Milliseconds(100),
    authorizationRetentionMs: Milliseconds(0),
    commandRetentionMs: Milliseconds(0),
    auditRetentionMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 * 365 * 24 * 3_600_000 })),
    retentionSweepIntervalMs: Milliseconds(1000),
  },
  { additionalProperties: false },
);
export type ControllerConfigFile = Static<typeof ControllerConfigFile>;

/** `capsule controller start`'s flags (each overrides the config file's key). */
interface StartFlags {
  config?: string;
  dataDir?: string;
  store?: string;
  listen?: string;
  southboundListen?: string;
  tlsSelfSigned?: string;
  insecureHttp?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  bodyLimit?: string;
  logLevel?: string;
}

/** Where the controller keeps its store: SQLite (the default, or a file path) or PostgreSQL. */
export function parseStore(text: string | undefined, dataDir: string, baseDir: string): string {
  if (!text || text === 'sqlite') return join(dataDir, 'controller.db');
  if (/^postgres(ql)?:\/\//.test(text)) return text;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text)?.[1];
  // A drive-less path never has a scheme; 'sqlite:…' and 'file:…' name a SQLite file.
  if (scheme === 'sqlite' || scheme === 'file') return resolve(baseDir, text.slice(scheme.length + 1));
  if (scheme)
    throw new CliError(
      'CLI_BAD_STORE',
      `unknown store '${scheme}:': use sqlite (a file in the data dir), a SQLite file path, or postgres://user:password@host/database`,
    );
  return resolve(baseDir, text);
}

/** An unknown store scheme in a config file, as a problem at `store`. */
function storeProblem(raw: unknown) {
  const store = (raw as { store?: unknown } | null)?.store;
  if (typeof store !== 'string') return [];
  try {
    parseStore(store, '/', '/');
    return [];
  } catch (error) {
    return [{ segments: ['store'], message: (error as Error).message }];
  }
}

/** The controller's settings from a config file (or none) and the flags, flags first; checked. */
export function resolveControllerSettings(flags: StartFlags, io: CliIo) {
  const loaded = flags.config
    ? readConfigFile<ControllerConfigFile>(flags.config, ControllerConfigFile, io.cwd, {
        check: storeProblem,
      })
    : undefined;
  const file = loaded?.value ?? {};
  const fileDir = loaded?.dir ?? io.cwd;
  // A path from a flag is relative to the working directory, one from the file to the file.
  const path = (flag: string | undefined, fromFile: string | undefined, fallback: string) =>
    flag !== undefined ? resolve(io.cwd, flag) : resolve(fileDir, fromFile ?? fallback);
  const dataDir = path(flags.dataDir, file.dataDir, '.capsule/controller');
  const store =
    flags.store !== undefined
      ? parseStore(flags.store, dataDir, io.cwd)
      : parseStore(file.store, dataDir, fileDir);
  let bodyLimitBytes = file.bodyLimitBytes ?? defaultControllerOptions.bodyLimitBytes;
  if (flags.bodyLimit !== undefined) {
    bodyLimitBytes = Number(flags.bodyLimit);
    if (!Number.isInteger(bodyLimitBytes) || bodyLimitBytes < 1024)
      throw new CliError('CLI_BAD_OPTION', '--body-limit is a byte count ≥ 1024');
  }
  let southboundTls: { selfSigned: string } | { cert: string; key: string } | undefined;
  if (flags.tlsCert || flags.tlsKey) {
    if (!flags.tlsCert || !flags.tlsKey)
      throw new CliError('CLI_BAD_TLS', '--tls-cert and --tls-key go together');
    southboundTls = { cert: resolve(io.cwd, flags.tlsCert), key: resolve(io.cwd, flags.tlsKey) };
  } else if (flags.tlsSelfSigned) southboundTls = { selfSigned: flags.tlsSelfSigned };
  else if (file.southboundTls)
    southboundTls =
      'selfSigned' in file.southboundTls
        ? { selfSigned: file.southboundTls.selfSigned }
        : { cert: resolve(fileDir, file.southboundTls.cert), key: resolve(fileDir, file.southboundTls.key) };
  const logLevel = flags.logLevel ?? file.logLevel ?? 'info';
  return {
    dataDir,
    store,
    logLevel,
    southboundTls,
    insecureHttp: flags.insecureHttp ?? file.insecureHttp ?? false,
    northboundTls: file.northboundTls && {
      cert: resolve(fileDir, file.northboundTls.cert),
      key: resolve(fileDir, file.northboundTls.key),
    },
    options: {
      listen: parseListen(flags.listen ?? file.listen ?? '127.0.0.1:8700'),
      southboundListen: parseListen(flags.southboundListen ?? file.southboundListen ?? '127.0.0.1:8701'),
      bodyLimitBytes,
      ...(file.tokenLifetimeMs !== undefined && { tokenLifetimeMs: file.tokenLifetimeMs }),
      ...(file.keepaliveIntervalMs !== undefined && { keepaliveIntervalMs: file.keepaliveIntervalMs }),
      ...(file.nonceLifetimeMs !== undefined && { nonceLifetimeMs: file.nonceLifetimeMs }),
      ...(file.certificateLifetimeMs !== undefined && { certificateLifetimeMs: file.certificateLifetimeMs }),
      ...(file.authorizationLifetimeMs !== undefined && {
        authorizationLifetimeMs: file.authorizationLifetimeMs,
      }),
      ...(file.loginFailuresPerMinute !== undefined && {
        loginFailuresPerMinute: file.loginFailuresPerMinute,
      }),
      ...(file.sqliteSynchronous !== undefined && { sqliteSynchronous: file.sqliteSynchronous }),
      ...(file.pushHeartbeatMs !== undefined && { pushHeartbeatMs: file.pushHeartbeatMs }),
      ...(file.authorizationRetentionMs !== undefined && {
        authorizationRetentionMs: file.authorizationRetentionMs,
      }),
      ...(file.commandRetentionMs !== undefined && { commandRetentionMs: file.commandRetentionMs }),
      ...(file.auditRetentionMs !== undefined && { auditRetentionMs: file.auditRetentionMs }),
      ...(file.retentionSweepIntervalMs !== undefined && {
        retentionSweepIntervalMs: file.retentionSweepIntervalMs,
      }),
    },
  };
}
type ControllerSettings = ReturnType<typeof resolveControllerSettings>;

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError('CLI_BAD_TLS', `cannot read the ${what} ${path}: ${(error as Error).message}`);
  }
}

async function southboundTls(settings: ControllerSettings) {
  const tls = settings.southboundTls;
  if (!tls) return undefined;
  if ('cert' in tls) return { cert: readPem(tls.cert, 'certificate'), key: readPem(tls.key, 'private key') };
  const certPath = join(settings.dataDir, 'southbound-cert.pem');
  const keyPath = join(settings.dataDir, 'southbound-key.pem');
  let cert = readPrivateFile(certPath);
  let key = readPrivateFile(keyPath);
  if (cert === undefined || key === undefined) {
    const keys = await generateRsaKeyPairAsync();
    key = exportPrivateKeyPem(keys.privateKey);
    cert = await createSelfSignedCertificate(keys, { hostName: tls.selfSigned });
    writePrivateFile(keyPath, key);
    writePrivateFile(certPath, cert);
  }
  return { cert, key };
}

/** The controller's own certificate (both listeners, unless files are given): made once, 0600. */
export const controllerTlsFiles = { cert: 'tls-cert.pem', key: 'tls-key.pem' } as const;

/**
 * The certificate both listeners serve by default: ECDSA P-256, self-signed, made on the first
 * start (naming this host, localhost and the listen addresses) and kept in the data dir (0600).
 * Nodes and the CLI pin its SHA-256 (printed at every start). A new one is written by `persist`,
 * called once the controller has accepted its settings (a refused start leaves nothing behind).
 */
async function controllerCertificate(settings: ControllerSettings) {
  const certPath = join(settings.dataDir, controllerTlsFiles.cert);
  const keyPath = join(settings.dataDir, controllerTlsFiles.key);
  const cert = readPrivateFile(certPath);
  const key = readPrivateFile(keyPath);
  if (cert !== undefined && key !== undefined) return { cert, key, persist: () => {} };
  const names = [hostname(), 'localhost', '127.0.0.1', '::1'];
  for (const { host } of [settings.options.listen, settings.options.southboundListen])
    if (host !== '0.0.0.0' && host !== '::') names.push(host);
  const made = await createTlsCertificate({
    names: names.filter((name) => /^[\x21-\x7e]{1,253}$/.test(name)),
  });
  return {
    cert: made.certificatePem,
    key: made.privateKeyPem,
    // The key first: a reader that finds the certificate finds its key too.
    persist: () => {
      writePrivateFile(keyPath, made.privateKeyPem);
      writePrivateFile(certPath, made.certificatePem);
    },
  };
}

const startFlags = (command: Command) =>
  command
    .option(
      '--config <file>',
      'controller configuration (YAML; see examples/controller.yaml); flags override it',
    )
    .option('--data-dir <dir>', 'where the SQLite store and TLS files live (default .capsule/controller)')
    .option('--store <url>', 'sqlite (default: a file in the data dir), a SQLite path, or postgres://…')
    .option('--listen <host:port>', 'northbound listener (default 127.0.0.1:8700)')
    .option('--southbound-listen <host:port>', 'southbound listener (default 127.0.0.1:8701)')
    .option('--tls-self-signed <hostname>', 'serve the southbound over TLS with a self-signed certificate')
    .option('--tls-cert <file>', 'southbound TLS certificate (PEM)')
    .option('--tls-key <file>', 'southbound TLS private key (PEM)')
    .option('--insecure-http', 'serve both listeners on plain HTTP (logs a warning; default: TLS)')
    .option('--body-limit <bytes>', 'largest request body (default 1048576)')
    .option('--log-level <level>', 'pino log level (default info)');

/** `capsule controller …`. */
export function registerControllerCommands(program: Command, io: CliIo): void {
  const controller = program.command('controller').description('the Capsule controller');
  startFlags(
    controller
      .command('start')
      .description('run the controller (northbound REST, southbound protocol) until SIGTERM/SIGINT'),
  ).action(async (flags: StartFlags) => {
    const settings = resolveControllerSettings(flags, io);
    // Whatever the controller and its libraries create (SQLite's -wal and -shm files included) is
    // the owner's only; the data dir must be private before a secret goes into it.
    process.umask(DAEMON_UMASK);
    preparePrivateDirectory(settings.dataDir);
    const logger = pino({ level: settings.logLevel });
    const ownCertificate = settings.insecureHttp ? undefined : await controllerCertificate(settings);
    const own = ownCertificate && { cert: ownCertificate.cert, key: ownCertificate.key };
    if (settings.insecureHttp) {
      logger.warn('plain HTTP (--insecure-http): passwords and tokens cross the network in clear');
      io.err(
        'warning: --insecure-http: the controller serves plain HTTP; passwords and tokens cross the network in clear\n',
      );
    }
    const northboundTls = settings.northboundTls
      ? {
          cert: readPem(settings.northboundTls.cert, 'certificate'),
          key: readPem(settings.northboundTls.key, 'private key'),
        }
      : own;
    const southbound = (await southboundTls(settings)) ?? own;
    const instance = await createController(
      {
        ...settings.options,
        store: settings.store,
        adminPassword: io.env.CAPSULE_ADMIN_PASSWORD || undefined,
        ...(southbound && { southboundTls: southbound }),
        ...(northboundTls && { northboundTls }),
      },
      { logger, signingKeys: createFileSigningKeyStore(join(settings.dataDir, controllerKeyFileName)) },
    );
    ownCertificate?.persist();
    if (instance.generatedAdminPassword)
      io.out(
        `first start: created domain 'default' and user 'admin' with password ${instance.generatedAdminPassword}\n` +
          '(shown once; set CAPSULE_ADMIN_PASSWORD to choose it)\n',
      );
    let urls: Awaited<ReturnType<typeof instance.start>>;
    try {
      urls = await instance.start();
    } catch (error) {
      // Port taken (EADDRINUSE) or not allowed: close the store and the bus so the process ends
      // and the error (exit code 1) reaches the supervisor.
      await instance.stop().catch(() => {});
      throw error;
    }
    io.out(`controller: northbound ${urls.northboundUrl}, southbound ${urls.southboundUrl}\n`);
    io.out(`controller: web console ${urls.consoleUrl}\n`);
    if (southbound) {
      const southPin = formatCertificateSha256(certificateSha256(southbound.cert));
      const northPin = northboundTls && formatCertificateSha256(certificateSha256(northboundTls.cert));
      io.out(
        `controller: certificate sha256 ${southPin}${northPin && northPin !== southPin ? ` (northbound ${northPin})` : ''}\n`,
      );
      io.out(
        `controller: join with 'controller: {url: ${urls.southboundUrl}, caSha256: ${southPin}}' in engine.yaml or agent.yaml` +
          (northPin ? `, 'capsule login --url ${urls.northboundUrl} --ca-sha256 ${northPin}'` : '') +
          '\n',
      );
    }
    await new Promise<void>((resolveStop) => {
      const stop = () => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        resolveStop();
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
    await instance.stop();
    io.out('controller stopped\n');
  });
  controller
    .command('check-config')
    .description('check a controller configuration file and print the settings it gives (no secrets)')
    .argument('[file]', 'controller configuration (YAML)')
    .option('--config <file>', 'the same, as an option')
    .option('--env-file <file>', "variables as the unit's EnvironmentFile gives them (KEY=VALUE lines)")
    .action((file: string | undefined, options: { config?: string; envFile?: string }) => {
      const config = file ?? options.config;
      if (!config) throw new CliError('CLI_BAD_OPTION', 'check-config needs a file');
      const settings = resolveControllerSettings({ config }, withEnvironmentFile(io, options.envFile));
      const store = /^postgres/.test(settings.store)
        ? settings.store.replace(/:[^:@/]*@/, ':***@')
        : settings.store;
      io.out(`${JSON.stringify({ ...settings, store }, null, 2)}\n`);
    });
}
