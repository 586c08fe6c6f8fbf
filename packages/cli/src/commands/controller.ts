/**
 * `capsule controller start`: runs the controller daemon until SIGTERM or SIGINT. The only place
 * that turns argv, environment and files into ControllerOptions.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createController } from '@capsule/controller';
import { createSelfSignedCertificate, exportPrivateKeyPem, generateRsaKeyPairAsync } from '@capsule/identity';
import { CapsuleError } from '@capsule/wire';
import type { Command } from 'commander';
import pino from 'pino';
import type { CliIo } from '../io';

/** Parses `HOST:PORT` (IPv6 hosts in brackets). */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new CapsuleError('CLI_BAD_ADDRESS', `expected HOST:PORT, got '${text}'`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

interface StartOptions {
  dataDir: string;
  store?: string;
  listen: string;
  southboundListen: string;
  tlsSelfSigned?: string;
  tlsCert?: string;
  tlsKey?: string;
  bodyLimit: string;
  logLevel: string;
}

async function southboundTls(options: StartOptions, dataDir: string) {
  if (options.tlsCert || options.tlsKey) {
    if (!options.tlsCert || !options.tlsKey)
      throw new CapsuleError('CLI_BAD_TLS', '--tls-cert and --tls-key go together');
    return { cert: readFileSync(options.tlsCert, 'utf8'), key: readFileSync(options.tlsKey, 'utf8') };
  }
  if (!options.tlsSelfSigned) return undefined;
  const certPath = join(dataDir, 'southbound-cert.pem');
  const keyPath = join(dataDir, 'southbound-key.pem');
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    const keys = await generateRsaKeyPairAsync();
    const cert = await createSelfSignedCertificate(keys, { hostName: options.tlsSelfSigned });
    writeFileSync(keyPath, exportPrivateKeyPem(keys.privateKey), { mode: 0o600 });
    writeFileSync(certPath, cert);
  }
  return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}

/** `capsule controller …`. */
export function registerControllerCommands(program: Command, io: CliIo): void {
  const controller = program.command('controller').description('the Capsule controller');
  controller
    .command('start')
    .description('run the controller (northbound REST, southbound protocol) until SIGTERM/SIGINT')
    .option('--data-dir <dir>', 'where the SQLite store and TLS files live', '.capsule/controller')
    .option('--store <url>', 'sqlite (default: a file in the data dir), a SQLite path, or postgres://…')
    .option('--listen <host:port>', 'northbound listener', '127.0.0.1:8700')
    .option('--southbound-listen <host:port>', 'southbound listener', '127.0.0.1:8701')
    .option('--tls-self-signed <hostname>', 'serve the southbound over TLS with a self-signed certificate')
    .option('--tls-cert <file>', 'southbound TLS certificate (PEM)')
    .option('--tls-key <file>', 'southbound TLS private key (PEM)')
    .option('--body-limit <bytes>', 'largest request body', '1048576')
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (options: StartOptions) => {
      const dataDir = resolve(io.cwd, options.dataDir);
      mkdirSync(dataDir, { recursive: true });
      const store =
        !options.store || options.store === 'sqlite'
          ? join(dataDir, 'controller.db')
          : /^postgres(ql)?:\/\//.test(options.store)
            ? options.store
            : resolve(io.cwd, options.store);
      const bodyLimitBytes = Number(options.bodyLimit);
      if (!Number.isInteger(bodyLimitBytes) || bodyLimitBytes < 1024)
        throw new CapsuleError('CLI_BAD_OPTION', '--body-limit is a byte count ≥ 1024');
      const logger = pino({ level: options.logLevel });
      const instance = await createController(
        {
          store,
          listen: parseListen(options.listen),
          southboundListen: parseListen(options.southboundListen),
          bodyLimitBytes,
          adminPassword: io.env.CAPSULE_ADMIN_PASSWORD || undefined,
          southboundTls: await southboundTls(options, dataDir),
        },
        { logger },
      );
      if (instance.generatedAdminPassword)
        io.out(
          `first start: created domain 'default' and user 'admin' with password ${instance.generatedAdminPassword}\n` +
            '(shown once; set CAPSULE_ADMIN_PASSWORD to choose it)\n',
        );
      const urls = await instance.start();
      io.out(`controller: northbound ${urls.northboundUrl}, southbound ${urls.southboundUrl}\n`);
      io.out(`controller: web console ${urls.consoleUrl}\n`);
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
}
