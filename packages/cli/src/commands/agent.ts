/**
 * `capsule agent …`: runs the host agent (`start --config agent.yaml`, keys in examples/agent.yaml),
 * checks a configuration (`check-config`), and talks to a running agent's local REST API
 * (`status`, `endpoints`, `register`). The only place that turns files and environment into
 * AgentOptions: the identity store is a 0600 JSON file in the data dir.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  AgentConfig,
  agentOptionsFromConfig,
  createAgent,
  type IdentityStore,
  type PersistedIdentity,
  parseAclRule,
  parseAgentConfig,
  resolverInstallMode,
  underlayListen,
  underlaySocketBuffers,
  underlayTransportKind,
} from '@capsule/agent';
import { createUdpTransportOfKind } from '@capsule/overlay';
import type { Command } from 'commander';
import pino from 'pino';
import { readConfigFile } from '../config-file';
import { CliError, RemoteError } from '../errors';
import {
  type InstalledHostResolver,
  installHostResolver,
  type RunCommand,
  readHostNameservers,
  recoverResolvConf,
  systemdResolvedRuns,
} from '../host-resolver';
import type { CliIo } from '../io';

/** The host's resolver configuration (only the agent's `resolver.install` writes it). */
const resolvConfPath = '/etc/resolv.conf';

/** Runs a command (resolvectl) with a time limit; never rejects for a failure to run or a non-zero exit. */
const runCommand: RunCommand = (command, args) =>
  new Promise((resolveRun) => {
    execFile(command, [...args], { timeout: 10_000, encoding: 'utf8' }, (error, stdout, stderr) =>
      resolveRun({
        code: error ? (typeof error.code === 'number' ? error.code : 127) : 0,
        output: `${stdout}${stderr}${error && typeof error.code !== 'number' ? error.message : ''}`,
      }),
    );
  });

/** The identity store of the CLI: `identity.json` (mode 0600) in the data dir, replaced atomically. */
export function createFileIdentityStore(dataDir: string): IdentityStore {
  const path = join(dataDir, 'identity.json');
  return {
    async load() {
      if (!existsSync(path)) return undefined;
      try {
        return JSON.parse(readFileSync(path, 'utf8')) as PersistedIdentity;
      } catch {
        return undefined; // unreadable: the agent makes new keys, as for missing ones
      }
    },
    async save(identity) {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      writeFileSync(`${path}.tmp`, `${JSON.stringify(identity, null, 2)}\n`, { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
    },
  };
}

/**
 * Reads and checks an agent configuration file (YAML) against `AgentConfig`: every problem at once
 * with its line (config-file.ts), ACL rules included. CAPSULE_AGENT_PASSWORD overrides the password.
 */
export function loadAgentConfig(file: string, io: CliIo): AgentConfig {
  const { value } = readConfigFile<AgentConfig>(file, AgentConfig, io.cwd, {
    edit: (parsed) =>
      parsed && typeof parsed === 'object' && !Array.isArray(parsed) && io.env.CAPSULE_AGENT_PASSWORD
        ? { ...parsed, password: io.env.CAPSULE_AGENT_PASSWORD }
        : parsed,
    check: (config) => {
      const problems: { segments: (string | number)[]; message: string }[] = [];
      const acl = (config as { acl?: Record<string, unknown> } | null)?.acl;
      for (const direction of ['in', 'out'] as const) {
        const rules = acl?.[direction];
        if (Array.isArray(rules))
          rules.forEach((rule, i) => {
            if (typeof rule !== 'string') return; // the schema's problem
            try {
              parseAclRule(rule);
            } catch (error) {
              problems.push({ segments: ['acl', direction, i], message: (error as Error).message });
            }
          });
      }
      return problems;
    },
  });
  return parseAgentConfig(value);
}

async function agentRequest(io: CliIo, api: string, method: string, path: string, body?: unknown) {
  let response: Response;
  try {
    response = await fetch(`http://${api}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (cause) {
    throw new CliError('AGENT_UNREACHABLE', `no agent at ${api}: ${(cause as Error).message}`);
  }
  const text = await response.text();
  if (!response.ok) {
    let code = 'AGENT_ERROR';
    let message = text;
    try {
      ({ code, message } = JSON.parse(text) as { code: string; message: string });
    } catch {}
    throw new RemoteError(code, message);
  }
  io.out(`${text ? JSON.stringify(JSON.parse(text), null, 2) : ''}\n`);
}

/** `capsule agent …`. */
export function registerAgentCommands(program: Command, io: CliIo): void {
  const agent = program.command('agent').description('the Capsule host agent');
  agent
    .command('start')
    .description(
      'run the agent (keys, CGA, registration, links, REST API, resolver, TUN) until SIGTERM/SIGINT',
    )
    .requiredOption('--config <file>', 'agent configuration (YAML; see examples/agent.yaml)')
    .action(async (options: { config: string }) => {
      let config = loadAgentConfig(options.config, io);
      const dataDir = resolve(io.cwd, config.dataDir ?? '.capsule/agent');
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const logger = pino({ level: config.logLevel ?? 'info' });
      // The host's resolver: put back what an agent that did not stop changed, then see which
      // way to install (if asked) and read the upstreams the agent forwards other names to.
      const install = resolverInstallMode(config);
      if (install !== 'off' && recoverResolvConf(dataDir))
        logger.warn(
          { path: resolvConfPath },
          'resolv.conf put back as it was before an agent that did not stop',
        );
      const installMode =
        install === 'auto'
          ? (await systemdResolvedRuns(runCommand))
            ? 'systemd-resolved'
            : 'resolv.conf'
          : install;
      const resolverSection = typeof config.resolver === 'object' ? config.resolver : undefined;
      if (installMode === 'systemd-resolved' && resolverSection && !resolverSection.listen) {
        // systemd-resolved owns 127.0.0.53 and asks a link's server over the link: the TUN's address.
        const tunAddress = (typeof config.tun === 'object' && config.tun.ipv4Address) || '100.100.0.1';
        config = { ...config, resolver: { ...resolverSection, listen: `${tunAddress}:53` } };
      }
      const agentOptions = agentOptionsFromConfig(config, readHostNameservers(resolvConfPath));
      const transportKind = underlayTransportKind(config);
      const transport = await createUdpTransportOfKind(transportKind, {
        ...underlayListen(config),
        ...underlaySocketBuffers(config),
        onSocketBuffers: (granted) =>
          logger.info({ ...granted, transport: transportKind }, 'overlay socket buffers'),
      });
      const instance = createAgent(agentOptions, {
        identityStore: createFileIdentityStore(dataDir),
        transport,
        logger,
      });
      let installed: InstalledHostResolver | undefined;
      const uninstall = async () => {
        const current = installed;
        installed = undefined;
        await current?.uninstall();
      };
      const stopped = new Promise<void>((resolveStop) => {
        const stop = () => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          // The host's resolver first (nothing points at a resolver that is going away); this
          // also interrupts a start-up still waiting for the controller.
          void uninstall()
            .then(() => instance.stop())
            .finally(resolveStop);
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
      try {
        await instance.start();
        const rest = instance.restAddress();
        io.out(`agent ${config.hostName}: host id ${instance.hostId}, REST ${rest?.host}:${rest?.port}\n`);
        if (installMode !== 'off' && agentOptions.resolver) {
          installed = await installHostResolver(
            {
              mode: installMode,
              listen: agentOptions.resolver,
              tunName: agentOptions.tun?.name,
              dataDir,
              hostName: config.hostName,
              resolvConfPath,
            },
            runCommand,
          );
          logger.info(
            { mode: installed.mode, resolver: `${agentOptions.resolver.host}:${agentOptions.resolver.port}` },
            'installed as the host resolver for .capsule',
          );
        }
        await stopped;
      } finally {
        await uninstall();
        await instance.stop();
        await transport.close();
      }
      io.out('agent stopped\n');
    });
  agent
    .command('check-config')
    .description('check an agent configuration file and print the options it gives (no password)')
    .argument('[file]', 'agent configuration (YAML)')
    .option('--config <file>', 'the same, as an option')
    .action((file: string | undefined, options: { config?: string }) => {
      const path = file ?? options.config;
      if (!path) throw new CliError('CLI_BAD_OPTION', 'check-config needs a file');
      const config = loadAgentConfig(path, io);
      const resolved = agentOptionsFromConfig(config, readHostNameservers(resolvConfPath));
      io.out(
        `${JSON.stringify({ ...resolved, credentials: { ...resolved.credentials, password: '***' } }, null, 2)}\n`,
      );
    });
  const api = '--api <host:port>';
  const apiDefault = '127.0.0.1:5500';
  agent
    .command('status')
    .description("a running agent's state (its local REST API)")
    .option(api, 'the agent REST API', apiDefault)
    .action((options: { api: string }) => agentRequest(io, options.api, 'GET', '/api/v1/status'));
  agent
    .command('endpoints')
    .description("a running agent's endpoints with their peers and statistics")
    .option(api, 'the agent REST API', apiDefault)
    .action((options: { api: string }) => agentRequest(io, options.api, 'GET', '/api/v1/endpoints'));
  agent
    .command('register')
    .description('register a service endpoint in a contract role (NAME = <role>.<contract>.<domain>.capsule)')
    .argument('<name>', 'the full name <role>.<contract>.<domain>.capsule (the role alone is not enough)')
    .requiredOption('--token <id:secret>', 'the service token (or CAPSULE_SERVICE_TOKEN)')
    .option(api, 'the agent REST API', apiDefault)
    .action((name: string, options: { token?: string; api: string }) =>
      agentRequest(io, options.api, 'POST', '/api/v1/endpoints', {
        serviceToken: options.token ?? io.env.CAPSULE_SERVICE_TOKEN,
        name,
      }),
    );
}
